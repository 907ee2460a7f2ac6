//! The signed-in home page: where the organization stands and what to do next.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use roster_shared::dto::OrgOverview;

use crate::api::users::load_overview;
use crate::components::format::{count, date, datetime, health_badge};
use crate::components::layout::ViewerResource;
use crate::components::notice::ErrorNotice;
use crate::resource;

/// One step of the setup checklist.
struct Step {
    label: &'static str,
    done: bool,
    href: &'static str,
    action: &'static str,
}

/// The setup checklist, in the order an admin goes through it.
fn steps(o: &OrgOverview) -> [Step; 4] {
    let scim = &o.state.scim;
    [
        Step { label: "Activate SCIM", done: scim.enabled, href: "/scim", action: "Activate it on the SCIM page" },
        Step {
            label: "Generate a SCIM URL and token for your identity provider",
            done: scim.unrevoked_credentials > 0,
            href: "/scim",
            action: "Generate one and paste it into your identity provider",
        },
        Step {
            label: "Receive the first request from your identity provider",
            done: scim.health.last_request_at_ms.is_some(),
            href: "/scim",
            action: "Follow the setup guide, then run your identity provider's connection test",
        },
        Step {
            label: "Put users into user groups",
            done: o.any_assigned,
            href: "/unassigned",
            action: "Assign the unassigned users, or add a mapping rule",
        },
    ]
}

/// Overview of the organization.
#[component]
pub fn HomePage() -> impl IntoView {
    let ViewerResource(viewer) = expect_context::<ViewerResource>();
    let overview = resource::load(|| (), |_| load_overview());
    view! {
        <Title text="Overview"/>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || resource::suspend(async move {
                let viewer = viewer.await.ok().flatten();
                match overview.await {
                    Err(e) => view! { <ErrorNotice message=e.to_string()/> }.into_any(),
                    Ok(o) => {
                        let first_name = viewer
                            .as_ref()
                            .and_then(|v| v.name.split_whitespace().next().map(str::to_string))
                            .unwrap_or_default();
                        view! { <Overview overview=o first_name/> }.into_any()
                    }
                }
            })}
        </Transition>
    }
}

#[component]
fn Overview(overview: OrgOverview, first_name: String) -> impl IntoView {
    let steps = steps(&overview);
    let done = steps.iter().filter(|s| s.done).count();
    let total = steps.len();
    let next = steps.iter().position(|s| !s.done);
    let t = overview.state.tenant.clone();
    let scim = overview.state.scim.clone();
    let health = scim.health.state();
    view! {
        <div class="page-header">
            <div>
                <h1>{t.name.clone()}</h1>
                <p class="muted">"Welcome back, " {first_name} "."</p>
            </div>
        </div>

        <div class="stats" data-testid="overview-stats">
            <div class="stat">
                <span class="stat-label">"SCIM"</span>
                <span class="stat-value">
                    {if scim.enabled {
                        view! { <span class="badge badge-ok" data-testid="overview-scim">"On"</span> }.into_any()
                    } else {
                        view! { <span class="badge badge-muted" data-testid="overview-scim">"Off"</span> }.into_any()
                    }}
                    " "
                    <span class=format!("badge {}", health_badge(health)) data-testid="overview-health">{health.label()}</span>
                </span>
                <span class="muted small">
                    "Last request from your identity provider: "
                    {scim.health.last_request_at_ms.map(datetime).unwrap_or_else(|| "none yet".into())}
                </span>
            </div>
            <div class="stat">
                <span class="stat-label">"Users"</span>
                <span class="stat-value" data-testid="overview-users">{count(overview.state.users)}</span>
                <A href="/users" attr:class="small">"All users"</A>
            </div>
            <div class="stat">
                <span class="stat-label">"Unassigned"</span>
                <span class="stat-value" data-testid="overview-unassigned">{count(overview.state.unassigned)}</span>
                <A href="/unassigned" attr:class="small">"Assign them"</A>
            </div>
            <div class="stat">
                <span class="stat-label">"Mapping rules"</span>
                <span class="stat-value" data-testid="overview-rules">{overview.rules}</span>
                <span class="muted small">
                    {overview.user_groups} {if overview.user_groups == 1 { " user group · " } else { " user groups · " }}
                    <A href="/mappings">"Rules"</A>
                </span>
            </div>
        </div>

        <section class="card section" aria-labelledby="setup">
            <h2 id="setup">"Setup " <span class="muted small">{done} " of " {total} " done"</span></h2>
            <ol class="checklist" data-testid="checklist">
                {steps
                    .into_iter()
                    .enumerate()
                    .map(|(i, s)| {
                        let is_next = next == Some(i);
                        view! {
                            <li class:done=s.done class:next=is_next data-done=s.done.to_string()>
                                <span class="check-mark" aria-hidden="true">{if s.done { "✓" } else { "" }}</span>
                                <span>
                                    {s.label}
                                    {s.done.then(|| view! { <span class="sr-only">" (done)"</span> })}
                                    {is_next.then(|| view! {
                                        <span class="next-step">" — next: " <A href=s.href>{s.action}</A></span>
                                    })}
                                </span>
                            </li>
                        }
                    })
                    .collect_view()}
            </ol>
            {next.is_none().then(|| view! {
                <p class="muted small">"All set: your identity provider keeps users in sync, and rules or admins give them their roles."</p>
            })}
        </section>

        <section class="card section" aria-labelledby="org">
            <h2 id="org">"Organization"</h2>
            <dl class="facts">
                <dt>"Organization ID"</dt>
                <dd><code data-testid="tenant-id">{t.id.clone()}</code></dd>
                <dt>"Created"</dt>
                <dd>{date(t.created_at_ms)}</dd>
                <dt>"Administrators"</dt>
                <dd>{t.admin_count}</dd>
                <dt>"SCIM base URL"</dt>
                <dd><code>{scim.scim_base_url.clone()}</code></dd>
            </dl>
        </section>
    }
}
