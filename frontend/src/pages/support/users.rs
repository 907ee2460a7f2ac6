//! A tenant's users in the support console (read-only): the table with search, filters and
//! pages, and one user with the reason for each user group and the provisioning timeline.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;
use roster_shared::dto::{UserDetail, UserFilter, UserQuery, UserSource};

use super::tenant::SupportScope;
use crate::api::support::{support_user, support_users};
use crate::components::format::{count, date};
use crate::components::notice::ErrorNotice;
use crate::pages::user_detail::{reason_text, Attributes, IdpGroups, Timeline};
use crate::resource;

const PAGE_SIZE: u32 = 50;

/// `/support/t/:tenant/users`.
#[component]
pub fn AllUsersTab() -> impl IntoView {
    view! { <UsersTab unassigned=false/> }
}

/// The users table of `/support/t/:tenant/users` and `/support/t/:tenant/unassigned`.
#[component]
fn UsersTab(unassigned: bool) -> impl IntoView {
    let scope = expect_context::<SupportScope>();
    let SupportScope(tenant) = scope;
    let search = RwSignal::new(String::new());
    let applied = RwSignal::new(String::new());
    let filter = RwSignal::new(if unassigned { UserFilter::Unassigned } else { UserFilter::All });
    let page = RwSignal::new(1u32);
    let users = resource::load(
        move || {
            (
                tenant.get(),
                UserQuery {
                    search: applied.get(),
                    filter: filter.get(),
                    page: page.get(),
                    page_size: PAGE_SIZE,
                    descending: unassigned,
                    sort: if unassigned { roster_shared::dto::UserSort::Created } else { Default::default() },
                    ..Default::default()
                },
            )
        },
        |(t, q)| support_users(t, q),
    );
    let choices = [UserFilter::All, UserFilter::Unassigned, UserFilter::Deactivated];
    view! {
        <div class="toolbar">
            <form class="search" role="search" on:submit=move |ev| { ev.prevent_default(); page.set(1); applied.set(search.get()); }>
                <label for="support-user-search" class="sr-only">"Search users"</label>
                <input id="support-user-search" type="search" placeholder="userName, name, email or externalId" bind:value=search/>
                <button type="submit" class="btn btn-ghost">"Search"</button>
            </form>
            {(!unassigned).then(|| view! {
                <div class="segmented" role="group" aria-label="Show">
                    {choices.into_iter().map(|f| view! {
                        <button type="button" class="segment" aria-pressed=move || (filter.get() == f).to_string()
                            on:click=move |_| { page.set(1); filter.set(f); }>{f.label()}</button>
                    }).collect_view()}
                </div>
            })}
        </div>
        <Transition fallback=|| view! { <p class="muted">"Loading users…"</p> }>
            {move || resource::suspend(async move {
                match users.await {
                    Err(e) => view! { <ErrorNotice message=e.to_string()/> }.into_any(),
                    Ok(p) if p.rows.is_empty() => view! {
                        <div class="card empty-state"><p>{if unassigned { "Every user is in a user group." } else { "No user matches." }}</p></div>
                    }.into_any(),
                    Ok(p) => {
                        let first = (i64::from(p.page) - 1) * i64::from(p.page_size) + 1;
                        let last = first + p.rows.len() as i64 - 1;
                        let more = p.total_capped || last < p.total;
                        let of = if p.total_capped { format!("{}+", count(p.total)) } else { count(p.total) };
                        view! {
                            <div class="card table-card">
                                <div class="table-wrap">
                                    <table class="table" data-testid="support-users">
                                        <thead><tr><th>"User"</th><th>"Email"</th><th>"Source"</th><th>"Status"</th><th>"User groups"</th><th>"Created"</th></tr></thead>
                                        <tbody>{p.rows.into_iter().map(|u| view! {
                                            <tr>
                                                <td><A href=scope.href(&format!("/users/{}", u.id))>{u.user_name.clone()}</A>
                                                    <div class="muted small">{u.display_name.clone().unwrap_or_default()}</div></td>
                                                <td>{u.email.clone().unwrap_or_default()}</td>
                                                <td><span class=format!("badge badge-source-{}", u.source.as_str())>{u.source.label()}</span></td>
                                                <td>{if u.active { "Active" } else { "Deactivated" }}</td>
                                                <td>{if u.user_groups.is_empty() {
                                                    view! { <span class="badge badge-warning">"Unassigned"</span> }.into_any()
                                                } else {
                                                    u.user_groups.iter().map(|(_, n)| n.clone()).collect::<Vec<_>>().join(", ").into_any()
                                                }}</td>
                                                <td class="nowrap">{date(u.created_at_ms)}</td>
                                            </tr>
                                        }).collect_view()}</tbody>
                                    </table>
                                </div>
                                <div class="pager">
                                    <span class="muted small">{count(first)} "–" {count(last)} " of " {of}</span>
                                    <button type="button" class="btn btn-ghost btn-small" disabled=p.page <= 1
                                        on:click=move |_| page.update(|n| *n = n.saturating_sub(1).max(1))>"Previous"</button>
                                    <button type="button" class="btn btn-ghost btn-small" disabled=!more
                                        on:click=move |_| page.update(|n| *n += 1)>"Next"</button>
                                </div>
                            </div>
                        }.into_any()
                    }
                }
            })}
        </Transition>
    }
}

/// `/support/t/:tenant/unassigned`.
#[component]
pub fn UnassignedTab() -> impl IntoView {
    view! { <UsersTab unassigned=true/> }
}

/// `/support/t/:tenant/users/:id`.
#[component]
pub fn UserTab() -> impl IntoView {
    let scope = expect_context::<SupportScope>();
    let SupportScope(tenant) = scope;
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id").unwrap_or_default());
    let user = resource::load(move || (tenant.get(), id()), |(t, id)| support_user(t, id));
    view! {
        <p><A href=move || scope.href("/users")>"← Users"</A></p>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || resource::suspend(async move {
                match user.await {
                    Err(e) => view! { <ErrorNotice message=e.to_string()/> }.into_any(),
                    Ok(d) => view! { <Detail d scope/> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// Where the user comes from, said to support (who change nothing).
fn support_note(source: UserSource) -> &'static str {
    match source {
        UserSource::Scim => "Provisioned by the organization's identity provider over SCIM: its attributes, deactivation and removal come from there. Admins choose user groups; mapping rules place users automatically.",
        UserSource::Jit => "Created at their first single sign-on; attributes come from the identity provider at each sign-in.",
        UserSource::Manual => "Added by an admin in the dashboard; the identity provider does not know this user.",
    }
}

#[component]
fn Detail(d: UserDetail, scope: SupportScope) -> impl IntoView {
    let u = d.user.clone();
    let title = u.display_name.clone().unwrap_or_else(|| u.user_name.clone());
    view! {
        <Title text=title.clone()/>
        <div class="page-header">
            <div>
                <h2 data-testid="user-title">{title}</h2>
                <p class="muted">
                    {u.user_name.clone()} " · "
                    <span class=format!("badge badge-source-{}", u.source.as_str())>{u.source.label()}</span> " "
                    {if u.active { "Active" } else { "Deactivated" }}
                    " · Role: " <strong data-testid="effective-role">{d.effective_role.map(|r| r.label()).unwrap_or("none (unassigned)")}</strong>
                </p>
            </div>
        </div>
        <div class="notice notice-info">
            <span class="notice-icon notice-icon-info" aria-hidden="true">"i"</span>
            <span>{support_note(u.source)}</span>
        </div>
        <div class="grid-2">
            <section class="card section" aria-labelledby="ug">
                <h2 id="ug">"User groups, and why"</h2>
                {if d.user_groups.is_empty() {
                    view! { <p class="empty">"In no user group: no role in the app. No mapping rule matched and no admin assigned them."</p> }.into_any()
                } else {
                    view! {
                        <ul class="membership-list" data-testid="user-groups">
                            {d.user_groups.clone().into_iter().map(|g| view! {
                                <li>
                                    {g.group_name.clone()} " " <span class="badge badge-muted">{g.role.label()}</span>
                                    <ul class="reasons">{g.reasons.iter().map(|r| view! { <li class="muted small">{reason_text(r)}</li> }).collect_view()}</ul>
                                </li>
                            }).collect_view()}
                        </ul>
                    }.into_any()
                }}
            </section>
            <IdpGroups groups=d.idp_groups.clone()/>
        </div>
        <Timeline timeline=d.timeline.clone() prefix=scope.href("")/>
        <Attributes detail=d.clone()/>
    }
}
