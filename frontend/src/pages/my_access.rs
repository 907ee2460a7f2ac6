//! *My access*: what a person signed in through their organization's SSO sees when their role
//! is Member (or they have no user group yet): who they are, their user groups and role.
//! Also the sign-in chooser of an organization with several connections.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Redirect;
use leptos_router::hooks::use_params_map;
use roster_shared::dto::MyAccess;

use crate::api::auth::SignOut;
use crate::api::sso::{load_my_access, sso_choices};
use crate::components::action_form::ActionForm;
use crate::components::layout::AuthBrand;
use crate::components::notice::ErrorNotice;
use crate::error::UiError;
use crate::resource;

/// `/me`.
#[component]
pub fn MyAccessPage() -> impl IntoView {
    let access = resource::load_blocking(|| (), |_| load_my_access());
    let sign_out = ServerAction::<SignOut>::new();
    view! {
        <Title text="My access"/>
        <main class="auth">
            <AuthBrand/>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || resource::suspend(async move {
                    match access.await {
                        Ok(a) => view! { <Access access=a/> }.into_any(),
                        Err(UiError::Unauthenticated) => view! { <Redirect path="/sign-in"/> }.into_any(),
                        Err(e) => view! { <ErrorNotice message=e.to_string()/> }.into_any(),
                    }
                })}
            </Suspense>
            <ActionForm action=sign_out attr:class="auth-switch">
                <button type="submit" class="btn btn-ghost">"Sign out"</button>
            </ActionForm>
        </main>
    }
}

#[component]
fn Access(access: MyAccess) -> impl IntoView {
    let MyAccess { name, user_name, email, organization, connection, role, groups } = access;
    view! {
        <div class="card auth-card my-access" data-testid="my-access">
            <h1>{name}</h1>
            <p class="muted">{organization.clone()}</p>
            {match role {
                Some(role) => view! {
                    <p>
                        "Your role: " <span class="badge badge-ok" data-testid="my-role">{role.label()}</span>
                    </p>
                    <p class="muted small">{role.description()}</p>
                }.into_any(),
                None => view! {
                    <div class="notice notice-warning" data-testid="no-access">
                        <span class="notice-icon" aria-hidden="true">"!"</span>
                        <span>
                            <strong>{format!("{organization} has not given you access yet.")}</strong>
                            " You signed in, but you are in no user group. Ask your organization's admin to add you to one."
                        </span>
                    </div>
                }.into_any(),
            }}
            <dl class="facts">
                <dt>"User name"</dt>
                <dd data-testid="my-user-name">{user_name}</dd>
                <dt>"Email"</dt>
                <dd>{email.unwrap_or_else(|| "—".into())}</dd>
                <dt>"Signed in through"</dt>
                <dd>{connection}</dd>
                <dt>"User groups"</dt>
                <dd data-testid="my-groups">
                    {if groups.is_empty() {
                        view! { <span class="muted">"None"</span> }.into_any()
                    } else {
                        view! {
                            <ul class="plain-list">
                                {groups.into_iter().map(|(g, r)| view! { <li>{g} " " <span class="muted small">"(" {r.label()} ")"</span></li> }).collect_view()}
                            </ul>
                        }.into_any()
                    }}
                </dd>
            </dl>
        </div>
    }
}

/// `/sign-in/sso/:tenant`: an organization's connections to pick from.
#[component]
pub fn SsoChooserPage() -> impl IntoView {
    let params = use_params_map();
    let choices = resource::load_blocking(move || params.with(|p| p.get("tenant").unwrap_or_default()), sso_choices);
    view! {
        <Title text="Sign in with SSO"/>
        <main class="auth">
            <AuthBrand/>
            <div class="card auth-card">
                <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                    {move || resource::suspend(async move {
                        match choices.await {
                            Ok((org, list)) if list.is_empty() => view! {
                                <h1>{org}</h1>
                                <p class="muted">"Single sign-on is not set up for this organization yet. Ask its admin."</p>
                            }.into_any(),
                            Ok((org, list)) => view! {
                                <h1>"Sign in to " {org}</h1>
                                <p class="muted">"Choose how your organization signs you in."</p>
                                <ul class="plain-list choice-list">
                                    {list.into_iter().map(|(name, url)| view! {
                                        <li><a class="btn btn-primary btn-block" href=url rel="external">{format!("Sign in with {name}")}</a></li>
                                    }).collect_view()}
                                </ul>
                            }.into_any(),
                            Err(e) => view! { <ErrorNotice message=e.to_string()/> }.into_any(),
                        }
                    })}
                </Suspense>
            </div>
        </main>
    }
}
