//! The tenant's activity log: every SCIM request and every admin action, filterable, with one
//! record's detail. The support console shows the same pages for the tenant it looks at
//! (a [`SupportScope`] in context): then they read through the support functions and link
//! inside the console.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::{use_params_map, use_query_map};
use roster_shared::dto::{ActivityQuery, ActivityView};

use crate::api::activity::{activity_record, list_activity};
use crate::api::support::{support_activity, support_activity_record};
use crate::components::format::{datetime, encode};
use crate::components::notice::ErrorNotice;
use crate::pages::support::tenant::SupportScope;
use crate::resource;

const HOUR_MS: i64 = 3_600_000;

/// `/activity`.
#[component]
pub fn ActivityPage() -> impl IntoView {
    let scope = use_context::<SupportScope>();
    let prefix = scope.map(|s| s.href("")).unwrap_or_default();
    let query = use_query_map();
    let outcome = RwSignal::new(query.with_untracked(|q| q.get("outcome").unwrap_or_default()));
    let resource_type = RwSignal::new(String::new());
    let actor = RwSignal::new(String::new());
    let resource_id = RwSignal::new(query.with_untracked(|q| q.get("resource").unwrap_or_default()));
    let credential_id = RwSignal::new(query.with_untracked(|q| q.get("credential").unwrap_or_default()));
    let period = RwSignal::new(String::from("all"));
    let search = RwSignal::new(query.with_untracked(|q| q.get("search").unwrap_or_default()));
    let typed = RwSignal::new(search.get_untracked());
    let before: RwSignal<Vec<i64>> = RwSignal::new(Vec::new());
    let refresh = RwSignal::new(0u32);

    let records = resource::load(
        move || {
            (
                ActivityQuery {
                    outcome: outcome.get(),
                    resource_type: resource_type.get(),
                    resource_id: resource_id.get().trim().to_string(),
                    credential_id: credential_id.get().trim().to_string(),
                    actor: actor.get(),
                    // The browser and the server agree on "now" closely enough for these ranges.
                    since_ms: None,
                    until_ms: None,
                    before_id: before.get().last().copied(),
                    changes_only: false,
                    search: search.get().trim().to_string(),
                },
                period.get(),
                refresh.get(),
                scope.map(|SupportScope(t)| t.get()),
            )
        },
        |(mut q, period, _, support_tenant)| async move {
            let hours = match period.as_str() {
                "1h" => Some(1),
                "24h" => Some(24),
                "7d" => Some(24 * 7),
                _ => None,
            };
            q.since_ms = hours.map(|h: i64| -h * HOUR_MS);
            match support_tenant {
                Some(t) => support_activity(t, q).await,
                None => list_activity(q).await,
            }
        },
    );
    let reset = move || before.set(Vec::new());

    view! {
        <Title text="Activity"/>
        <div class="page-header">
            <div>
                <h1>"Activity"</h1>
                <p class="muted">"Every request from the identity provider, every change an admin made, and every look by Roster support, newest first."</p>
            </div>
            <button type="button" class="btn btn-ghost" on:click=move |_| { reset(); refresh.update(|r| *r += 1); }>"Refresh"</button>
        </div>
        <div class="toolbar">
            <form class="search" role="search" on:submit=move |ev: leptos::ev::SubmitEvent| {
                ev.prevent_default();
                reset();
                search.set(typed.get_untracked());
            }>
                <label for="activity-search" class="sr-only">"Search activity"</label>
                <input id="activity-search" name="search" type="search" placeholder="User name, email or text"
                    bind:value=typed data-testid="activity-search"/>
                <button type="submit" class="btn btn-ghost">"Search"</button>
            </form>
            {scope.is_none().then(|| view! {
                <a class="btn btn-ghost" data-testid="activity-export" rel="external" download="activity.csv"
                    href=move || format!(
                        "/export/activity.csv?search={}&outcome={}&resource_type={}&actor={}&period={}&resource={}&credential={}",
                        encode(&search.get()), encode(&outcome.get()), encode(&resource_type.get()), encode(&actor.get()),
                        encode(&period.get()), encode(resource_id.get().trim()), encode(credential_id.get().trim()),
                    )>"Export CSV"</a>
            })}
        </div>
        <div class="toolbar filters">
            <div class="field">
                <label for="f-outcome">"Outcome"</label>
                <select id="f-outcome" bind:value=outcome on:change=move |_| reset() data-testid="filter-outcome">
                    <option value="">"All"</option>
                    <option value="success">"Success"</option>
                    <option value="error">"Error"</option>
                </select>
            </div>
            <div class="field">
                <label for="f-resource">"Resource"</label>
                <select id="f-resource" bind:value=resource_type on:change=move |_| reset()>
                    <option value="">"All"</option>
                    <option value="User">"Users"</option>
                    <option value="Group">"IdP groups"</option>
                    <option value="UserGroup">"User groups"</option>
                    <option value="Credential">"Credentials"</option>
                    <option value="Tenant">"Settings"</option>
                </select>
            </div>
            <div class="field">
                <label for="f-actor">"Actor"</label>
                <select id="f-actor" bind:value=actor on:change=move |_| reset()>
                    <option value="">"All"</option>
                    <option value="scim">"Identity provider (SCIM)"</option>
                    <option value="admin">"Admins"</option>
                    <option value="support">"Roster support"</option>
                </select>
            </div>
            <div class="field">
                <label for="f-period">"Time"</label>
                <select id="f-period" bind:value=period on:change=move |_| reset()>
                    <option value="all">"Any time"</option>
                    <option value="1h">"Last hour"</option>
                    <option value="24h">"Last 24 hours"</option>
                    <option value="7d">"Last 7 days"</option>
                </select>
            </div>
            <div class="field">
                <label for="f-user">"User ID"</label>
                <input id="f-user" type="text" placeholder="Any" bind:value=resource_id on:change=move |_| reset()/>
            </div>
            <div class="field">
                <label for="f-cred">"Credential ID"</label>
                <input id="f-cred" type="text" placeholder="Any" bind:value=credential_id on:change=move |_| reset()/>
            </div>
        </div>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || { let prefix = prefix.clone(); resource::suspend(async move {
                match records.await {
                    Err(e) => view! { <ErrorNotice message=e.to_string()/> }.into_any(),
                    Ok(page) if page.records.is_empty() => view! {
                        <div class="card empty-state" data-testid="activity-empty">
                            <p>"No activity matches. Requests from your identity provider appear here as soon as it connects."</p>
                        </div>
                    }.into_any(),
                    Ok(page) => {
                        let next = page.next_before_id;
                        view! {
                            <div class="card table-card">
                                <div class="table-wrap">
                                    <table class="table" data-testid="activity-table">
                                        <thead><tr><th>"Time"</th><th>"Who"</th><th>"What"</th><th>"Status"</th><th>"Latency"</th></tr></thead>
                                        <tbody>
                                            {page.records.into_iter().map(|a| view! { <Row a prefix=prefix.clone()/> }).collect_view()}
                                        </tbody>
                                    </table>
                                </div>
                                <div class="pager">
                                    <button type="button" class="btn btn-ghost btn-small" disabled=move || before.get().is_empty()
                                        on:click=move |_| before.update(|b| { b.pop(); })>"Newer"</button>
                                    <button type="button" class="btn btn-ghost btn-small" disabled=next.is_none()
                                        on:click=move |_| if let Some(n) = next { before.update(|b| b.push(n)) }>"Older"</button>
                                </div>
                            </div>
                        }.into_any()
                    }
                }
            })}}
        </Transition>
    }
}

fn who(a: &ActivityView) -> String {
    match a.actor.as_str() {
        "scim" => format!("IdP · {}", a.actor_name.clone().unwrap_or_else(|| "SCIM".into())),
        "support" => format!("Roster support · {}", a.actor_name.clone().unwrap_or_default()),
        "sso" => format!("Sign-in · {}", a.actor_name.clone().unwrap_or_default()),
        _ => a.actor_name.clone().unwrap_or_else(|| a.actor.clone()),
    }
}

#[component]
fn Row(a: ActivityView, prefix: String) -> impl IntoView {
    let what = match (&a.method, &a.path) {
        (Some(m), Some(p)) => format!("{m} {}", short_path(p)),
        _ => a.summary.clone(),
    };
    let summary = if a.method.is_some() && !a.summary.is_empty() { Some(a.summary.clone()) } else { None };
    let user_link = (a.resource_type.as_deref() == Some("User")).then(|| a.resource_id.clone()).flatten();
    view! {
        <tr class:row-error=a.is_error() data-testid="activity-row">
            <td class="nowrap"><A href=format!("{prefix}/activity/{}", a.id)>{datetime(a.at_ms)}</A></td>
            <td>{who(&a)}</td>
            <td>
                {what}
                {summary.map(|s| view! { <div class="muted small">{s}</div> })}
                {user_link.map(|id| view! { <div class="small"><A href=format!("{prefix}/users/{id}")>"View user"</A></div> })}
                {a.detail.clone().map(|d| view! { <div class="small error-text">{d}</div> })}
            </td>
            <td>
                {a.status.map(|s| view! {
                    <span class={if s >= 400 { "badge badge-danger" } else { "badge badge-ok" }}>{s}</span>
                })}
            </td>
            <td class="nowrap">{a.latency_ms.map(|l| format!("{l} ms"))}</td>
        </tr>
    }
}

/// `/scim/v2/{tenant}/Users/…` → `/Users/…` (the tenant is always this one).
fn short_path(p: &str) -> String {
    let parts: Vec<&str> = p.splitn(5, '/').collect();
    if parts.len() == 5 && parts[1] == "scim" {
        format!("/{}", parts[4])
    } else if parts.len() == 4 && parts[1] == "scim" {
        "/".to_string()
    } else {
        p.to_string()
    }
}

/// `/activity/:id`.
#[component]
pub fn ActivityRecordPage() -> impl IntoView {
    let scope = use_context::<SupportScope>();
    let prefix = scope.map(|s| s.href("")).unwrap_or_default();
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id").and_then(|s| s.parse::<i64>().ok()).unwrap_or(-1));
    let record = resource::load(
        move || (id(), scope.map(|SupportScope(t)| t.get())),
        |(id, support_tenant)| async move {
            match support_tenant {
                Some(t) => support_activity_record(t, id).await,
                None => activity_record(id).await,
            }
        },
    );
    let back = format!("{prefix}/activity");
    view! {
        <Title text="Activity record"/>
        <p><A href=back>"← Activity"</A></p>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || { let prefix = prefix.clone(); resource::suspend(async move {
                match record.await {
                    Err(e) => view! { <ErrorNotice message=e.to_string()/> }.into_any(),
                    Ok(a) => view! {
                        <div class="page-header">
                            <div>
                                <h1>{match (&a.method, &a.path, a.status) {
                                    (Some(m), Some(p), Some(s)) => format!("{m} {} → {s}", short_path(p)),
                                    _ => a.summary.clone(),
                                }}</h1>
                                <p class="muted">{datetime(a.at_ms)} " · " {who(&a)}
                                    {a.method.is_some().then(|| format!(" · {}", a.summary))}</p>
                            </div>
                        </div>
                        <section class="card section" data-testid="activity-detail">
                            <dl class="facts">
                                <dt>"Outcome"</dt>
                                <dd>{if a.is_error() { view! { <span class="badge badge-danger">"Error"</span> }.into_any() } else { view! { <span class="badge badge-ok">"Success"</span> }.into_any() }}</dd>
                                {a.method.clone().map(|m| view! { <dt>"Request"</dt><dd><code>{m} " " {a.path.clone().unwrap_or_default()}</code></dd> })}
                                {a.status.map(|s| view! { <dt>"Status"</dt><dd>{s}</dd> })}
                                {a.latency_ms.map(|l| view! { <dt>"Latency"</dt><dd>{l} " ms"</dd> })}
                                {a.scim_type.clone().map(|t| view! { <dt>"scimType"</dt><dd><code>{t}</code></dd> })}
                                {a.detail.clone().map(|d| view! { <dt>"Detail"</dt><dd data-testid="activity-error-detail">{d}</dd> })}
                                {a.resource_type.clone().map(|t| view! { <dt>"Resource"</dt><dd>{t}</dd> })}
                                {a.resource_id.clone().map(|r| {
                                    let link = (a.resource_type.as_deref() == Some("User")).then(|| format!("{prefix}/users/{r}"));
                                    view! { <dt>"Resource ID"</dt><dd>{match link {
                                        Some(l) => view! { <A href=l><code>{r.clone()}</code></A> }.into_any(),
                                        None => view! { <code>{r.clone()}</code> }.into_any(),
                                    }}</dd> }
                                })}
                                {a.credential_id.clone().map(|c| view! { <dt>"Credential"</dt><dd>{a.actor_name.clone().unwrap_or_default()} " " <code>{c}</code></dd> })}
                                {a.user_agent.clone().map(|u| view! { <dt>"User agent"</dt><dd>{u}</dd> })}
                            </dl>
                        </section>
                        {a.request_body.clone().map(|b| view! {
                            <section class="card section" aria-labelledby="body">
                                <h2 id="body">"Request body"</h2>
                                <p class="muted small">"As the identity provider sent it, with passwords and other secrets removed."</p>
                                <pre class="json" data-testid="request-body">{b}</pre>
                            </section>
                        })}
                    }.into_any(),
                }
            })}}
        </Transition>
    }
}
