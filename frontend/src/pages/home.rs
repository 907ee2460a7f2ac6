//! The signed-in home page: the organization at a glance.

use leptos::prelude::*;
use leptos_meta::Title;
use roster_shared::dto::Viewer;

use crate::components::format::{date, datetime};
use crate::components::layout::ViewerResource;

/// Overview of the organization.
#[component]
pub fn HomePage() -> impl IntoView {
    let ViewerResource(viewer) = expect_context::<ViewerResource>();
    view! {
        <Title text="Overview"/>
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                viewer.await.ok().flatten().map(|v| view! { <Overview viewer=v/> })
            })}
        </Suspense>
    }
}

#[component]
fn Overview(viewer: Viewer) -> impl IntoView {
    let first_name = viewer.name.split_whitespace().next().unwrap_or_default().to_string();
    let tenant = viewer.tenant.clone();
    view! {
        <div class="page-header">
            <div>
                <h1>{tenant.as_ref().map(|t| t.name.clone()).unwrap_or_default()}</h1>
                <p class="muted">"Welcome back, " {first_name} "."</p>
            </div>
        </div>
        {tenant.map(|t| {
            view! {
                <div class="grid">
                    <section class="card">
                        <h2>"Organization"</h2>
                        <dl class="facts">
                            <dt>"Name"</dt>
                            <dd>{t.name.clone()}</dd>
                            <dt>"Organization ID"</dt>
                            <dd><code data-testid="tenant-id">{t.id.clone()}</code></dd>
                            <dt>"Created"</dt>
                            <dd>{date(t.created_at_ms)}</dd>
                            <dt>"Administrators"</dt>
                            <dd>{t.admin_count}</dd>
                        </dl>
                    </section>
                    <section class="card">
                        <h2>"SCIM provisioning"</h2>
                        <p>
                            {if t.scim_enabled {
                                view! { <span class="badge badge-ok">"On"</span> }.into_any()
                            } else {
                                view! { <span class="badge badge-muted">"Off"</span> }.into_any()
                            }}
                        </p>
                        <p class="muted">
                            "Your identity provider (Okta, Microsoft Entra ID, OneLogin, PingOne, …) will push users and groups to Roster over SCIM 2.0. Setting up the connection from this dashboard is not available yet."
                        </p>
                    </section>
                    <section class="card">
                        <h2>"Your account"</h2>
                        <dl class="facts">
                            <dt>"Name"</dt>
                            <dd>{viewer.name.clone()}</dd>
                            <dt>"Email"</dt>
                            <dd>{viewer.email.clone()}</dd>
                            <dt>"Role"</dt>
                            <dd>{viewer.role.label()}</dd>
                        </dl>
                    </section>
                </div>
                <p class="muted small">"Organization created " {datetime(t.created_at_ms)} "."</p>
            }
        })}
    }
}
