//! One organization in the support console: a header with its state and tabs, the SCIM setup
//! and health (overview), its SCIM groups and user groups, and its mapping rules. Users and the
//! activity log are in [`super::users`] and the admin's activity pages (which read through the
//! support functions when [`SupportScope`] is provided).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::{Outlet, A};
use leptos_router::hooks::use_params_map;
use roster_shared::dto::{CredentialView, TenantInspection};

use super::tenant_href;
use crate::api::support::{support_groups, support_mappings, support_tenant};
use crate::components::format::{count, date, datetime, health_badge};
use crate::components::held::HeldSince;
use crate::components::notice::ErrorNotice;
use crate::error::UiError;
use crate::resource;

/// Set by [`TenantFrame`] for the pages inside it: the tenant being looked at.
#[derive(Clone, Copy)]
pub struct SupportScope(pub Signal<String>);

impl SupportScope {
    /// The link to a page of this tenant in the console.
    pub fn href(&self, rest: &str) -> String {
        tenant_href(&self.0.get_untracked(), rest)
    }
}

#[derive(Clone, Copy)]
struct Inspection(resource::Loaded<Result<TenantInspection, UiError>>);

/// `/support/t/:tenant`: the organization's header and tabs.
#[component]
pub fn TenantFrame() -> impl IntoView {
    let params = use_params_map();
    let tenant = Signal::derive(move || params.with(|p| p.get("tenant").unwrap_or_default()));
    let scope = SupportScope(tenant);
    provide_context(scope);
    let inspection = resource::load(move || tenant.get(), support_tenant);
    provide_context(Inspection(inspection));
    // The overview tab is current on its own page only; the others also on the pages below them.
    let tab = move |label: &'static str, rest: &'static str| {
        view! { <A href=move || tenant_href(&tenant.get(), rest) exact=rest.is_empty() attr:class="tab">{label}</A> }
    };
    view! {
        <p><A href="/support">"← Organizations"</A></p>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || resource::suspend(async move {
                match inspection.await {
                    Err(e) => view! { <ErrorNotice message=e.to_string()/> }.into_any(),
                    Ok(i) => {
                        let state = i.scim.health.state();
                        view! {
                            <Title text=i.tenant.name.clone()/>
                            <div class="page-header">
                                <div>
                                    <h1 data-testid="tenant-name">{i.tenant.name.clone()}</h1>
                                    <p class="muted">
                                        <code>{i.tenant.id.clone()}</code> " · created " {date(i.tenant.created_at_ms)}
                                        " · " {i.tenant.admin_count} " admin(s) · SCIM "
                                        {if i.scim.enabled { "on" } else { "off" }} " · "
                                        <span class=format!("badge {}", health_badge(state))>{state.label()}</span>
                                    </p>
                                </div>
                            </div>
                        }.into_any()
                    }
                }
            })}
        </Transition>
        <nav class="tabs" aria-label="Organization">
            {tab("Overview", "")}
            {tab("Users", "/users")}
            {tab("Unassigned", "/unassigned")}
            {tab("Groups", "/groups")}
            {tab("Mappings", "/mappings")}
            {tab("Sign-ins", "/sso")}
            {tab("Activity", "/activity")}
        </nav>
        <Outlet/>
    }
}

/// `/support/t/:tenant`: SCIM setup (no secrets), traffic and the latest errors.
#[component]
pub fn TenantOverviewTab() -> impl IntoView {
    let Inspection(inspection) = expect_context::<Inspection>();
    let scope = expect_context::<SupportScope>();
    view! {
        <Transition fallback=|| ()>
            {move || resource::suspend(async move {
                inspection.await.ok().map(|i| {
                    let h = i.scim.health.clone();
                    view! {
                        <div class="stats">
                            <div class="stat"><span class="stat-label">"Users"</span><span class="stat-value">{count(i.users)}</span></div>
                            <div class="stat"><span class="stat-label">"Unassigned"</span><span class="stat-value">{count(i.unassigned)}</span></div>
                            <div class="stat"><span class="stat-label">"SCIM requests (24 h)"</span>
                                <span class="stat-value">{count(h.requests_24h)} <span class="muted small">" · " {count(h.errors_24h)} " failed"</span></span></div>
                        </div>
                        <HeldSection held=i.held.clone()/>
                        <WebhooksSection endpoints=i.webhooks.clone()/>
                        <crate::components::diagnostics::DiagnosticsCard d=i.scim.diagnostics.clone() base_url=i.scim.scim_base_url.clone() activity=scope.href("/activity")/>
                        <section class="card section" aria-labelledby="errors">
                            <h2 id="errors">"Latest SCIM errors"</h2>
                            <p class="muted small">"Last IdP request: " {h.last_request_at_ms.map(datetime).unwrap_or_else(|| "never".into())}</p>
                            {if h.recent_errors.is_empty() {
                                view! { <p class="empty">"No failed SCIM request on record."</p> }.into_any()
                            } else {
                                view! {
                                    <ul class="plain-list" data-testid="recent-errors">
                                        {h.recent_errors.into_iter().map(|a| view! {
                                            <li>
                                                <A href=scope.href(&format!("/activity/{}", a.id))>
                                                    {datetime(a.at_ms)} " · " {a.method.clone().unwrap_or_default()} " "
                                                    {a.status.map(|s| s.to_string()).unwrap_or_default()}
                                                </A>
                                                " " <span class="error-text small">{a.detail.clone().unwrap_or_else(|| a.summary.clone())}</span>
                                            </li>
                                        }).collect_view()}
                                    </ul>
                                }.into_any()
                            }}
                        </section>
                        <section class="card section" aria-labelledby="creds">
                            <h2 id="creds">"SCIM credentials"</h2>
                            <p class="muted small">"Base URL " <code>{i.scim.scim_base_url.clone()}</code> ". Secrets are never shown, here or anywhere."</p>
                            {if i.scim.credentials.is_empty() {
                                view! { <p class="empty">"No credential was ever created: the IdP cannot connect yet."</p> }.into_any()
                            } else {
                                view! {
                                    <div class="table-wrap">
                                        <table class="table" data-testid="credentials">
                                            <thead><tr><th>"Name"</th><th>"Kind"</th><th>"Prefix"</th><th>"Created"</th><th>"Last used"</th><th>"State"</th></tr></thead>
                                            <tbody>{i.scim.credentials.into_iter().map(|c| view! { <CredentialRow c/> }).collect_view()}</tbody>
                                        </table>
                                    </div>
                                }.into_any()
                            }}
                        </section>
                    }
                })
            })}
        </Transition>
    }
}

/// The organization's webhook endpoints and how their deliveries go (read-only).
#[component]
fn WebhooksSection(endpoints: Vec<roster_shared::dto::EndpointView>) -> impl IntoView {
    view! {
        <section class="card section" aria-labelledby="support-webhooks" data-testid="support-webhooks">
            <h2 id="support-webhooks">"Webhooks"</h2>
            {if endpoints.is_empty() {
                view! { <p class="empty">"No webhook endpoints: the organization's applications read the API, or nothing."</p> }.into_any()
            } else {
                view! {
                    <div class="table-wrap">
                        <table class="table">
                            <thead><tr><th>"Endpoint"</th><th>"Status"</th><th>"Waiting"</th><th>"Last delivery"</th></tr></thead>
                            <tbody>
                                {endpoints.into_iter().map(|e| {
                                    let status = if !e.enabled {
                                        "Off".to_string()
                                    } else if e.failing {
                                        format!("Failing: {}", e.last_error.clone().unwrap_or_default())
                                    } else if e.attempts > 0 {
                                        format!("Retrying ({} failed): {}", e.attempts, e.last_error.clone().unwrap_or_default())
                                    } else {
                                        "Active".to_string()
                                    };
                                    let last = e.deliveries.first().map(|d| format!(
                                        "{} {} → {}",
                                        datetime(d.at),
                                        d.event_type,
                                        d.status_code.map_or_else(|| d.error.clone().unwrap_or_default(), |c| c.to_string())
                                    ));
                                    view! {
                                        <tr>
                                            <td class="wrap"><code>{e.url}</code></td>
                                            <td class="wrap">{status}</td>
                                            <td>{e.backlog}</td>
                                            <td class="small wrap">{last.unwrap_or_else(|| "none yet".into())}</td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }.into_any()
            }}
        </section>
    }
}

/// What the deprovisioning brake holds (read-only: the organization's admins decide).
#[component]
fn HeldSection(held: roster_shared::dto::HeldChanges) -> impl IntoView {
    let settings = held.settings.as_ref().map(roster_shared::dto::SafetySettings::describe).unwrap_or_default();
    view! {
        <section class="card section" aria-labelledby="held" data-testid="support-held">
            <h2 id="held">"Held deprovisioning"</h2>
            <p class="muted small">{settings}</p>
            {if held.total == 0 {
                view! { <p class="empty">{format!("Nothing is held ({} of at most {} users lost access in the current window).", held.deprovisioned_in_window, held.limit)}</p> }.into_any()
            } else {
                view! {
                    <div class="notice notice-warning" role="status">
                        <span class="notice-icon" aria-hidden="true">"!"</span>
                        <span>{format!("{} deprovisioning changes are held for the organization's admins (limit {} per window). The users keep their access until an admin applies or discards them.", count(held.total as i64), held.limit)}</span>
                    </div>
                    <div class="table-wrap">
                        <table class="table" data-testid="support-held-table">
                            <thead><tr><th>"User"</th><th>"Change"</th><th>"Request"</th><th>"Held since"</th></tr></thead>
                            <tbody>
                                {held.changes.into_iter().map(|c| {
                                    let again = c.asked_again_at_ms();
                                    view! {
                                        <tr>
                                            <td>{c.user_name}</td>
                                            <td>{c.kind.label()}</td>
                                            <td><code>{c.method}</code></td>
                                            <td><HeldSince first_ms=c.created_at_ms again_ms=again/></td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }.into_any()
            }}
        </section>
    }
}

#[component]
fn CredentialRow(c: CredentialView) -> impl IntoView {
    let (badge, state) = if c.revoked_at_ms.is_some() {
        ("badge-muted", "Revoked")
    } else if c.expired {
        ("badge-warning", "Expired")
    } else {
        ("badge-ok", "Active")
    };
    view! {
        <tr>
            <td>{c.name.clone()}</td>
            <td>{c.kind.title()}</td>
            <td><code>{c.prefix.clone()}</code></td>
            <td>{date(c.created_at_ms)} <div class="muted small">{c.created_by.clone()}</div></td>
            <td>{c.last_used_at_ms.map(datetime).unwrap_or_else(|| "never".into())}</td>
            <td><span class=format!("badge {badge}")>{state}</span>
                {c.expires_at_ms.map(|e| view! { <div class="muted small">"expires " {date(e)}</div> })}</td>
        </tr>
    }
}

/// `/support/t/:tenant/groups`: SCIM groups (from the IdP) and user groups (the platform's).
#[component]
pub fn GroupsTab() -> impl IntoView {
    let SupportScope(tenant) = expect_context::<SupportScope>();
    let groups = resource::load(move || tenant.get(), support_groups);
    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || resource::suspend(async move {
                match groups.await {
                    Err(e) => view! { <ErrorNotice message=e.to_string()/> }.into_any(),
                    Ok((scim, user_groups)) => view! {
                        <div class="grid-2">
                            <section class="card section" aria-labelledby="scim-groups">
                                <h2 id="scim-groups">"SCIM groups (pushed by the IdP)"</h2>
                                {if scim.is_empty() {
                                    view! { <p class="empty">"The IdP has pushed no group."</p> }.into_any()
                                } else {
                                    view! {
                                        <div class="table-wrap"><table class="table" data-testid="scim-groups">
                                            <thead><tr><th>"Name"</th><th>"Members"</th><th>"Updated"</th></tr></thead>
                                            <tbody>{scim.into_iter().map(|g| view! {
                                                <tr>
                                                    <td>{g.display_name.clone()}
                                                        <div class="muted small"><code>{g.id.clone()}</code>
                                                        {g.external_id.clone().map(|e| format!(" · externalId {e}"))}</div></td>
                                                    <td class="num">{g.members}</td>
                                                    <td class="nowrap">{datetime(g.updated_at_ms)}</td>
                                                </tr>
                                            }).collect_view()}</tbody>
                                        </table></div>
                                    }.into_any()
                                }}
                            </section>
                            <section class="card section" aria-labelledby="user-groups">
                                <h2 id="user-groups">"User groups"</h2>
                                {if user_groups.is_empty() {
                                    view! { <p class="empty">"No user group: every user is unassigned."</p> }.into_any()
                                } else {
                                    view! {
                                        <div class="table-wrap"><table class="table" data-testid="support-user-groups">
                                            <thead><tr><th>"Name"</th><th>"Role"</th><th>"Members"</th></tr></thead>
                                            <tbody>{user_groups.into_iter().map(|g| view! {
                                                <tr>
                                                    <td>{g.name.clone()} {g.is_default.then(|| view! { " " <span class="badge badge-muted">"Default"</span> })}
                                                        <div class="muted small">{g.description.clone()}</div></td>
                                                    <td>{g.role.label()}</td>
                                                    <td class="num">{g.member_count}</td>
                                                </tr>
                                            }).collect_view()}</tbody>
                                        </table></div>
                                    }.into_any()
                                }}
                            </section>
                        </div>
                    }.into_any(),
                }
            })}
        </Transition>
    }
}

/// `/support/t/:tenant/mappings`: the rules in order, the default group, the last evaluation.
#[component]
pub fn MappingsTab() -> impl IntoView {
    let SupportScope(tenant) = expect_context::<SupportScope>();
    let mappings = resource::load(move || tenant.get(), support_mappings);
    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || resource::suspend(async move {
                match mappings.await {
                    Err(e) => view! { <ErrorNotice message=e.to_string()/> }.into_any(),
                    Ok(m) => view! {
                        <section class="card section" aria-labelledby="last-run">
                            <h2 id="last-run">"Last evaluation"</h2>
                            {match m.latest_run {
                                None => view! { <p class="empty">"The rules were never evaluated over the whole organization."</p> }.into_any(),
                                Some(r) => view! {
                                    <p data-testid="last-run">
                                        "After “" {r.reason.clone()} "”, started " {datetime(r.started_at_ms)} ": "
                                        {count(r.done)} " of " {count(r.total)} " users placed"
                                        {match (r.finished_at_ms, r.error.clone()) {
                                            (_, Some(e)) => format!(" — failed: {e}"),
                                            (Some(f), None) => format!(", finished {}", datetime(f)),
                                            (None, None) => " — still running".to_string(),
                                        }}
                                    </p>
                                }.into_any(),
                            }}
                            <p class="muted small">"Default user group (for users no rule matches): "
                                {m.default_group.clone().unwrap_or_else(|| "none".into())}</p>
                        </section>
                        <section class="card section" aria-labelledby="rules">
                            <h2 id="rules">"Rules, in order"</h2>
                            {if m.rules.is_empty() {
                                view! { <p class="empty">"No mapping rule: users are placed only by admins (and the default group)."</p> }.into_any()
                            } else {
                                view! {
                                    <div class="table-wrap"><table class="table" data-testid="support-rules">
                                        <thead><tr><th>"#"</th><th>"When a user is…"</th><th>"User group"</th><th>"State"</th></tr></thead>
                                        <tbody>{m.rules.into_iter().enumerate().map(|(i, r)| view! {
                                            <tr>
                                                <td>{i + 1}</td>
                                                <td>{r.condition.clone()}</td>
                                                <td>{r.user_group.clone()}</td>
                                                <td>{if r.enabled { view! { <span class="badge badge-ok">"On"</span> }.into_any() } else { view! { <span class="badge badge-muted">"Off"</span> }.into_any() }}</td>
                                            </tr>
                                        }).collect_view()}</tbody>
                                    </table></div>
                                }.into_any()
                            }}
                        </section>
                    }.into_any(),
                }
            })}
        </Transition>
    }
}

/// `/support/t/:tenant/sso`: the organization's SSO connections and its sign-in log, read-only:
/// "why can't Ada sign in?" answered from the reason of her last attempt.
#[component]
pub fn SsoTab() -> impl IntoView {
    let SupportScope(tenant) = expect_context::<SupportScope>();
    let sso = resource::load(move || tenant.get(), crate::api::support::support_sso);
    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || resource::suspend(async move {
                match sso.await {
                    Err(e) => view! { <ErrorNotice message=e.to_string()/> }.into_any(),
                    Ok(s) => view! {
                        <section class="card section" aria-labelledby="connections">
                            <h2 id="connections">"Connections"</h2>
                            {if s.connections.is_empty() {
                                view! { <p class="empty">"No SSO connection: nobody of this organization signs in through SSO."</p> }.into_any()
                            } else {
                                view! {
                                    <div class="table-wrap">
                                        <table class="table" data-testid="support-connections">
                                            <thead><tr><th>"Name"</th><th>"Protocol"</th><th>"State"</th><th>"Just in time"</th><th>"IdP"</th><th>"Created"</th></tr></thead>
                                            <tbody>
                                                {s.connections.into_iter().map(|c| view! {
                                                    <tr>
                                                        <td>{c.name}</td>
                                                        <td>{c.protocol.label()}</td>
                                                        <td>{if c.enabled { "Enabled" } else { "Disabled" }}
                                                            {c.allow_idp_initiated.then_some(" · IdP-initiated allowed")}</td>
                                                        <td data-testid="support-jit">{jit_summary(&c.jit)}</td>
                                                        <td><code>{c.idp_id}</code></td>
                                                        <td>{date(c.created_at_ms)}</td>
                                                    </tr>
                                                }).collect_view()}
                                            </tbody>
                                        </table>
                                    </div>
                                }.into_any()
                            }}
                        </section>
                        <crate::pages::sso::SignInLog records=s.sign_ins/>
                    }.into_any(),
                }
            })}
        </Transition>
    }
}

/// A connection's just-in-time provisioning in a few words, for support.
fn jit_summary(j: &roster_shared::dto::JitSettings) -> String {
    use roster_shared::dto::{JitUpdate, LinkKey};
    let link = match j.link_key {
        LinkKey::UserName => "links by userName/email",
        LinkKey::ExternalId => "links by externalId",
    };
    if !j.enabled {
        return format!("Off · {link}");
    }
    let update = match j.update {
        JitUpdate::EverySignIn => "updates at every sign-in",
        JitUpdate::CreateOnly => "writes at first sign-in only",
    };
    format!(
        "On · {update} · {link} · claims: {} (id {}, email {})",
        j.preset.as_str(),
        j.claims.unique_user_id.join("/"),
        j.claims.email.join("/")
    )
}
