//! The support console: every organization at a glance, a user search across organizations,
//! and read-only views into one organization (see [`tenant`]). Everything here is read-only;
//! the server records each look into an organization in that organization's activity log.

pub mod tenant;
pub mod users;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use roster_shared::dto::{TenantOverview, TenantQuery, TenantSort};

use crate::api::support::{support_find_users, support_tenants};
use crate::components::format::{datetime, health_badge};
use crate::components::notice::ErrorNotice;
use crate::resource;

/// The link to a page of a tenant in the console.
pub fn tenant_href(tenant: &str, rest: &str) -> String {
    format!("/support/t/{tenant}{rest}")
}

/// `/support`: the organizations overview and the user search.
#[component]
pub fn SupportHome() -> impl IntoView {
    let search = RwSignal::new(String::new());
    let applied = RwSignal::new(String::new());
    let sort = RwSignal::new(TenantSort::Health);
    let reverse = RwSignal::new(false);
    let tenants = resource::load(
        move || TenantQuery { search: applied.get(), sort: sort.get(), reverse: reverse.get() },
        support_tenants,
    );
    let header = move |label: &'static str, key: TenantSort| {
        view! {
            <th aria-sort=move || if sort.get() == key { if reverse.get() { "ascending" } else { "descending" } } else { "none" }>
                <button type="button" class="th-sort" on:click=move |_| {
                    if sort.get_untracked() == key { reverse.update(|r| *r = !*r) } else { sort.set(key); reverse.set(false) }
                }>{label}{move || if sort.get() == key { if reverse.get() { " ↑" } else { " ↓" } } else { "" }}</button>
            </th>
        }
    };

    view! {
        <Title text="Support console"/>
        <div class="page-header">
            <div>
                <h1>"Organizations"</h1>
                <p class="muted">"Every organization's SCIM integration at a glance. Failing ones come first."</p>
            </div>
        </div>
        <UserSearch/>
        <div class="toolbar">
            <form class="search" role="search" on:submit=move |ev| { ev.prevent_default(); applied.set(search.get()); }>
                <label for="tenant-search" class="sr-only">"Organization"</label>
                <input id="tenant-search" type="search" placeholder="Organization name or tenant key" bind:value=search/>
                <button type="submit" class="btn btn-ghost">"Search"</button>
            </form>
        </div>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || resource::suspend(async move {
                match tenants.await {
                    Err(e) => view! { <ErrorNotice message=e.to_string()/> }.into_any(),
                    Ok(list) if list.is_empty() => view! {
                        <div class="card empty-state"><p>"No organization matches."</p></div>
                    }.into_any(),
                    Ok(list) => view! {
                        <div class="card table-card">
                            <div class="table-wrap">
                                <table class="table" data-testid="tenants-table">
                                    <thead><tr>
                                        {header("Organization", TenantSort::Name)}
                                        {header("Health", TenantSort::Health)}
                                        <th>"SCIM"</th>
                                        <th>"Credentials"</th>
                                        {header("Users", TenantSort::Users)}
                                        {header("Unassigned", TenantSort::Unassigned)}
                                        {header("Last IdP request", TenantSort::LastRequest)}
                                        {header("Errors (24 h)", TenantSort::ErrorRate)}
                                    </tr></thead>
                                    <tbody>{list.into_iter().map(|t| view! { <TenantRow t/> }).collect_view()}</tbody>
                                </table>
                            </div>
                        </div>
                    }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn TenantRow(t: TenantOverview) -> impl IntoView {
    let rate = if t.requests_24h > 0 {
        format!("{:.0} %", t.errors_24h as f64 * 100.0 / t.requests_24h as f64)
    } else {
        "—".into()
    };
    view! {
        <tr data-testid="tenant-row">
            <td>
                <A href=tenant_href(&t.id, "")>{t.name.clone()}</A>
                {t.disabled_at_ms.map(|ms| view! {
                    <span class="badge badge-muted" data-testid="tenant-disabled" title=format!("disabled {}", datetime(ms))>"Disabled"</span>
                })}
                <div class="muted small"><code>{t.id.clone()}</code></div>
            </td>
            <td><span class=format!("badge {}", health_badge(t.health)) data-testid="tenant-health">{t.health.label()}</span></td>
            <td>{if t.scim_enabled { view! { <span class="badge badge-ok">"On"</span> }.into_any() } else { view! { <span class="badge badge-muted">"Off"</span> }.into_any() }}</td>
            <td>
                {t.active_credentials} " active"
                <div class="muted small">{t.credential_last_used_ms.map(|ms| format!("used {}", datetime(ms))).unwrap_or_else(|| "never used".into())}</div>
            </td>
            <td class="num">{t.users}</td>
            <td class="num">{t.unassigned}</td>
            <td class="nowrap">{t.last_request_ms.map(datetime).unwrap_or_else(|| "never".into())}</td>
            <td class="nowrap">{t.errors_24h} " of " {t.requests_24h} <div class="muted small">{rate}</div></td>
        </tr>
    }
}

/// The search across organizations, for tickets that do not say which one.
#[component]
fn UserSearch() -> impl IntoView {
    let text = RwSignal::new(String::new());
    let search = Action::new(move |t: &String| {
        let t = t.clone();
        async move { support_find_users(t).await }
    });
    view! {
        <section class="card section" aria-labelledby="find-user">
            <h2 id="find-user">"Find a user in any organization"</h2>
            <form class="search" role="search" on:submit=move |ev| { ev.prevent_default(); search.dispatch(text.get()); }>
                <label for="user-search" class="sr-only">"userName, email or externalId"</label>
                <input id="user-search" type="search" placeholder="Exact userName, email address or externalId" bind:value=text/>
                <button type="submit" class="btn btn-primary" disabled=move || search.pending().get()>"Find"</button>
            </form>
            {move || search.value().get().map(|r| match r {
                Err(e) => view! { <ErrorNotice message=e.to_string()/> }.into_any(),
                Ok(hits) if hits.is_empty() => view! {
                    <p class="muted" data-testid="user-hits-empty">"No user has this userName, primary email or externalId in any organization."</p>
                }.into_any(),
                Ok(hits) => view! {
                    <div class="table-wrap">
                        <table class="table" data-testid="user-hits">
                            <thead><tr><th>"User"</th><th>"Organization"</th><th>"Matched"</th><th>"Status"</th><th>"User groups"</th></tr></thead>
                            <tbody>
                                {hits.into_iter().map(|h| view! {
                                    <tr>
                                        <td>
                                            <A href=tenant_href(&h.tenant_id, &format!("/users/{}", h.user.id))>{h.user.user_name.clone()}</A>
                                            <div class="muted small">{h.user.display_name.clone().unwrap_or_default()} " " {h.user.email.clone().unwrap_or_default()}</div>
                                        </td>
                                        <td><A href=tenant_href(&h.tenant_id, "")>{h.tenant_name.clone()}</A></td>
                                        <td>{h.matched.clone()}</td>
                                        <td>{if h.user.active { "Active" } else { "Deactivated" }} " · " {h.user.source.label()}</td>
                                        <td>{if h.user.user_groups.is_empty() {
                                            view! { <span class="badge badge-warning">"Unassigned"</span> }.into_any()
                                        } else {
                                            h.user.user_groups.iter().map(|(_, n)| n.clone()).collect::<Vec<_>>().join(", ").into_any()
                                        }}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                    <p class="muted small">"Each organization shown here has a record of this search in its activity log."</p>
                }.into_any(),
            })}
        </section>
    }
}
