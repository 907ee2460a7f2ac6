//! The users table (and its "unassigned" view): search, filters, sorting, server-side pages,
//! multi-select and "Assign to user group".

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_query_map;
use roster_shared::dto::{Assigned, GroupRole, UserFilter, UserListItem, UserPage, UserQuery, UserSort, UserSource};

use crate::api::forms::UserGroupAssign;
use crate::api::user_groups::list_user_groups;
use crate::api::users::list_users;
use crate::components::action_form::ActionForm;
use crate::components::format::{count, date, datetime, encode};
use crate::components::layout::NavRefresh;
use crate::components::notice::{ErrorNotice, SuccessNotice};
use crate::components::pager::{page_count, PageButtons};
use crate::resource;

/// All users.
#[component]
pub fn UsersPage() -> impl IntoView {
    let query = use_query_map();
    let initial = query.with_untracked(|q| q.get("filter").map(|f| UserFilter::parse(&f)).unwrap_or_default());
    // `?idp_group=`: the members of one IdP group (linked from a user's page).
    let idp_group = query.with_untracked(|q| q.get("idp_group")).filter(|g| !g.is_empty());
    view! {
        <Title text="Users"/>
        <div class="page-header">
            <div>
                <h1>"Users"</h1>
                <p class="muted">"Everyone in your organization: pushed by your identity provider, created at sign-in, or added here."</p>
            </div>
            <div class="header-actions">
                <A href="/users/import" attr:class="btn btn-ghost">"Import CSV"</A>
                <A href="/users/new" attr:class="btn btn-primary">"Add user"</A>
            </div>
        </div>
        {idp_group.clone().map(|id| view! { <IdpGroupNotice id/> })}
        <UsersTable initial_filter=initial show_filters=true idp_group/>
    }
}

/// Users in no user group, newest first.
#[component]
pub fn UnassignedPage() -> impl IntoView {
    view! {
        <Title text="Unassigned users"/>
        <div class="page-header">
            <div>
                <h1>"Unassigned users"</h1>
                <p class="muted">"These users are in no user group, so they have no role in the application yet. Select them and assign them to a user group."</p>
            </div>
        </div>
        <UsersTable initial_filter=UserFilter::Unassigned show_filters=false idp_group=None/>
    }
}

fn sort_header(
    label: &'static str,
    key: UserSort,
    sort: RwSignal<UserSort>,
    descending: RwSignal<bool>,
    page: RwSignal<u32>,
) -> impl IntoView {
    let indicator = move || {
        if sort.get() == key {
            if descending.get() {
                " ↓"
            } else {
                " ↑"
            }
        } else {
            ""
        }
    };
    let aria = move || {
        if sort.get() == key {
            if descending.get() {
                "descending"
            } else {
                "ascending"
            }
        } else {
            "none"
        }
    };
    view! {
        <th aria-sort=aria>
            <button type="button" class="th-sort" on:click=move |_| {
                if sort.get_untracked() == key {
                    descending.update(|d| *d = !*d);
                } else {
                    sort.set(key);
                    descending.set(matches!(key, UserSort::Created | UserSort::Updated));
                }
                page.set(1);
            }>{label}{indicator}</button>
        </th>
    }
}

/// Says whose members the table shows, with the way back to everyone.
#[component]
fn IdpGroupNotice(id: String) -> impl IntoView {
    let groups = resource::load(|| (), |_| crate::api::mappings::list_idp_groups());
    view! {
        <div class="notice notice-info" data-testid="idp-group-filter">
            <span class="notice-icon notice-icon-info" aria-hidden="true">"i"</span>
            <span>
                "Direct members of the identity provider group "
                // The name in an element of its own: a bare text next to the sentence's text
                // merges with it in the served HTML, and hydration then finds one text node
                // where it expects two.
                <Suspense fallback=|| ()>
                    {move || {
                        let id = id.clone();
                        resource::suspend(async move {
                            let name = groups.await.ok().and_then(|gs| gs.into_iter().find(|(g, _)| *g == id)).map(|(_, n)| n).unwrap_or(id);
                            view! { <strong>"“" {name} "”"</strong> }
                        })
                    }}
                </Suspense>
                ". " <a href="/users">"Show everyone"</a>
            </span>
        </div>
    }
}

/// The table with its toolbar.
#[component]
fn UsersTable(
    initial_filter: UserFilter,
    show_filters: bool,
    /// Only the direct members of this IdP group.
    idp_group: Option<String>,
) -> impl IntoView {
    let search = RwSignal::new(String::new());
    let typed = RwSignal::new(String::new());
    let filter = RwSignal::new(initial_filter);
    let sort = RwSignal::new(UserSort::Created);
    let descending = RwSignal::new(true);
    let page = RwSignal::new(1u32);
    let refresh = RwSignal::new(0u32);
    let selected: RwSignal<Vec<String>> = RwSignal::new(Vec::new());
    let group_filter = RwSignal::new(String::new());
    let role_filter = RwSignal::new(String::new());
    let nav = use_context::<NavRefresh>();

    let users = resource::load(
        move || {
            (
                UserQuery {
                    search: search.get(),
                    filter: filter.get(),
                    sort: sort.get(),
                    descending: descending.get(),
                    page: page.get(),
                    page_size: 50,
                    user_group: Some(group_filter.get()).filter(|g| !g.is_empty()),
                    role: GroupRole::parse(&role_filter.get()),
                    idp_group: idp_group.clone(),
                },
                refresh.get(),
            )
        },
        |(q, _)| list_users(q),
    );
    let groups = resource::load(move || refresh.get(), |_| list_user_groups());

    let target = RwSignal::new(String::new());
    // The answer names the group, so the effect below reads no resource (a resource read there
    // would tie it to the layout's Suspense, which then showed "Loading…" for good).
    // A real form: the ticked boxes and the chosen group are its fields, so it works before
    // hydration and without JavaScript (see `api::forms`).
    let assign = ServerAction::<UserGroupAssign>::new();
    let message = RwSignal::new(None::<String>);
    Effect::new(move |_| {
        if let Some(Ok(Assigned { added: n, group_name: name })) = assign.value().get() {
            message.set(Some(format!("Assigned {n} user{} to “{name}”.", if n == 1 { "" } else { "s" })));
            selected.set(Vec::new());
            refresh.update(|r| *r += 1);
            if let Some(NavRefresh(n)) = nav {
                n.update(|v| *v += 1);
            }
        }
    });
    let assign_error = move || assign.value().get().and_then(Result::err).map(|e| e.to_string());

    let on_search = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        search.set(typed.get_untracked());
        page.set(1);
    };

    view! {
        <div class="toolbar">
            <form class="search" role="search" on:submit=on_search>
                <label for="user-search" class="sr-only">"Search users"</label>
                <input id="user-search" type="search" placeholder="Search user name, name, email or external ID" bind:value=typed data-testid="user-search"/>
                <button type="submit" class="btn btn-ghost">"Search"</button>
            </form>
            <a class="btn btn-ghost" data-testid="export" rel="external" download="users.csv"
                href=move || format!(
                    "/export/users.csv?search={}&filter={}&sort={}&descending={}&user_group={}&role={}",
                    encode(&search.get()), filter.get().as_str(), sort.get().as_str(), descending.get(),
                    encode(&group_filter.get()), encode(&role_filter.get())
                )>"Export CSV"</a>
            {show_filters.then(|| view! {
                <div class="segmented" role="group" aria-label="Show">
                    {UserFilter::ALL
                        .into_iter()
                        .map(|f| view! {
                            <button type="button" class="segment" aria-pressed=move || (filter.get() == f).to_string()
                                data-testid=format!("filter-{}", f.as_str())
                                on:click=move |_| { filter.set(f); page.set(1); selected.set(Vec::new()); }>{f.label()}</button>
                        })
                        .collect_view()}
                </div>
                <div class="filter-selects">
                <label for="filter-group" class="sr-only">"User group"</label>
                <select id="filter-group" data-testid="filter-group" bind:value=group_filter
                    on:change=move |_| { page.set(1); selected.set(Vec::new()); }>
                    <option value="">"Any user group"</option>
                    <Transition fallback=|| ()>
                        {move || resource::suspend(async move {
                            groups.await.unwrap_or_default().into_iter().map(|g| view! {
                                <option value=g.id.clone()>{g.name.clone()}</option>
                            }).collect_view()
                        })}
                    </Transition>
                </select>
                <label for="filter-role" class="sr-only">"Role"</label>
                <select id="filter-role" data-testid="filter-role" bind:value=role_filter
                    on:change=move |_| { page.set(1); selected.set(Vec::new()); }>
                    <option value="">"Any role"</option>
                    {GroupRole::ALL.into_iter().map(|r| view! { <option value=r.as_str()>{r.label()}</option> }).collect_view()}
                </select>
                </div>
            })}
        </div>

        <ActionForm action=assign attr:class="assign-form">
        <div class="bulkbar" class:bulkbar-active=move || !selected.get().is_empty()>
            <span data-testid="selected-count">
                {move || {
                    let n = selected.get().len();
                    if n == 0 { "Select users to assign them to a user group.".to_string() } else { format!("{n} selected") }
                }}
            </span>
            <label for="assign-target" class="sr-only">"User group"</label>
            <select id="assign-target" name="group_id" bind:value=target data-testid="assign-target">
                <option value="">"Choose a user group…"</option>
                <Transition fallback=|| ()>
                    {move || resource::suspend(async move {
                        groups.await.unwrap_or_default().into_iter().map(|g| view! {
                            <option value=g.id.clone()>{g.name.clone()} " (" {g.role.label()} ")"</option>
                        }).collect_view()
                    })}
                </Transition>
            </select>
            <button type="submit" class="btn btn-primary btn-small" data-testid="assign"
                disabled=move || assign.pending().get()
                on:click=move |_| message.set(None)>
                {move || if assign.pending().get() { "Assigning…" } else { "Assign to user group" }}
            </button>
        </div>
        // Nothing to assign to yet: say where user groups are made.
        <Transition fallback=|| ()>
            {move || resource::suspend(async move {
                groups.await.ok().filter(|g| g.is_empty()).map(|_| view! {
                    <div class="notice notice-info" data-testid="no-user-groups">
                        <span class="notice-icon notice-icon-info" aria-hidden="true">"i"</span>
                        <span>"There is no user group yet, so there is nothing to assign users to. "
                            <A href="/user-groups">"Create a user group"</A> " (each gives its members a role)."</span>
                    </div>
                })
            })}
        </Transition>
        <Show when=move || message.get().is_some()>
            <SuccessNotice message=message.get().unwrap_or_default()/>
        </Show>
        <Show when=move || assign_error().is_some()>
            <ErrorNotice message=assign_error().unwrap_or_default()/>
        </Show>

        <Transition fallback=|| view! { <p class="muted">"Loading users…"</p> }>
            {move || resource::suspend(async move {
                match users.await {
                    Err(e) => view! { <ErrorNotice message=e.to_string()/> }.into_any(),
                    Ok(p) => view! { <Table page=p filter sort descending selected page_signal=page search/> }.into_any(),
                }
            })}
        </Transition>
        </ActionForm>
    }
}

#[component]
fn Table(
    page: UserPage,
    filter: RwSignal<UserFilter>,
    sort: RwSignal<UserSort>,
    descending: RwSignal<bool>,
    selected: RwSignal<Vec<String>>,
    page_signal: RwSignal<u32>,
    search: RwSignal<String>,
) -> impl IntoView {
    if page.rows.is_empty() {
        let text = if !search.get_untracked().is_empty() {
            "No user matches this search."
        } else {
            match filter.get_untracked() {
                UserFilter::Unassigned => "Everyone is in a user group. New users from your identity provider will show up here until they are assigned.",
                UserFilter::Deactivated => "No deactivated users.",
                UserFilter::All | UserFilter::Scim => "No users yet. Set up SCIM provisioning so that your identity provider pushes them, or add one by hand.",
                UserFilter::Jit => "No users signed in just in time yet.",
                UserFilter::Manual => "No manual users. Use “Add user” for people outside your identity provider.",
            }
        };
        return view! {
            <div class="card empty-state" data-testid="users-empty">
                <p>{text}</p>
                {(filter.get_untracked() == UserFilter::All && search.get_untracked().is_empty()).then(|| view! {
                    <A href="/scim" attr:class="btn btn-primary">"Set up SCIM provisioning"</A>
                })}
            </div>
        }
        .into_any();
    }
    let ids: Vec<String> = page.rows.iter().map(|r| r.id.clone()).collect();
    let all_ids = ids.clone();
    let all_selected = move || {
        let sel = selected.get();
        !all_ids.is_empty() && all_ids.iter().all(|id| sel.contains(id))
    };
    // Users ticked on other pages are part of the selection too.
    let elsewhere = {
        let ids = ids.clone();
        move || {
            selected
                .get()
                .into_iter()
                .filter(|id| !ids.contains(id))
                .map(|id| view! { <input type="hidden" name="user_ids[]" value=id/> })
                .collect_view()
        }
    };
    let (total, more) = (page.total, page.total_capped);
    let of = if more { format!("{}+", count(total)) } else { count(total) };
    let first = i64::from(page.page - 1) * i64::from(page.page_size) + 1;
    let last = first + page.rows.len() as i64 - 1;
    let pages = page_count(total, page.page_size);
    let current = page.page;
    view! {
        <div class="card table-card">
            {elsewhere}
            <div class="table-wrap">
                <table class="table" data-testid="users-table">
                    <thead>
                        <tr>
                            <th class="check">
                                <input type="checkbox" aria-label="Select all on this page" prop:checked=all_selected
                                    data-testid="select-all"
                                    on:change=move |ev| {
                                        let on = event_target_checked(&ev);
                                        selected.update(|s| {
                                            s.retain(|id| !ids.contains(id));
                                            if on { s.extend(ids.iter().cloned()); }
                                        });
                                    }/>
                            </th>
                            {sort_header("User name", UserSort::UserName, sort, descending, page_signal)}
                            {sort_header("Name", UserSort::Name, sort, descending, page_signal)}
                            <th>"Email"</th>
                            <th>"Source"</th>
                            <th>"Status"</th>
                            <th>"User groups"</th>
                            <th>"Role"</th>
                            {sort_header("Created", UserSort::Created, sort, descending, page_signal)}
                        </tr>
                    </thead>
                    <tbody>
                        {page.rows.into_iter().map(|u| view! { <Row user=u selected/> }).collect_view()}
                    </tbody>
                </table>
            </div>
            <div class="pager">
                <span class="muted small" data-testid="users-range">{format!("{}–{} of {of}", count(first), count(last))}</span>
                <div><PageButtons current pages page=page_signal more/></div>
            </div>
        </div>
    }
    .into_any()
}

#[component]
fn Row(user: UserListItem, selected: RwSignal<Vec<String>>) -> impl IntoView {
    let id = user.id.clone();
    let id2 = user.id.clone();
    let checked = move || selected.get().contains(&id);
    view! {
        <tr data-testid="user-row">
            <td class="check">
                <input type="checkbox" name="user_ids[]" value=user.id.clone() aria-label=format!("Select {}", user.user_name) prop:checked=checked
                    on:change=move |ev| {
                        let on = event_target_checked(&ev);
                        selected.update(|s| {
                            s.retain(|x| *x != id2);
                            if on { s.push(id2.clone()); }
                        });
                    }/>
            </td>
            <td><A href=format!("/users/{}", user.id)>{user.user_name.clone()}</A></td>
            <td>{user.display_name.clone().unwrap_or_default()}</td>
            <td>{user.email.clone().unwrap_or_default()}</td>
            <td><span class=format!("badge badge-source-{}", user.source.as_str())>{user.source.label()}</span></td>
            <td>
                {if user.active {
                    view! { <span class="badge badge-ok">"Active"</span> }.into_any()
                } else {
                    view! { <span class="badge badge-muted">"Deactivated"</span> }.into_any()
                }}
            </td>
            <td>
                {if user.user_groups.is_empty() {
                    view! { <span class="badge badge-warning">"Unassigned"</span> }.into_any()
                } else {
                    user.user_groups.clone().into_iter().map(|(gid, name)| view! {
                        <A href=format!("/user-groups/{gid}") attr:class="chip">{name}</A>
                    }).collect_view().into_any()
                }}
            </td>
            <td data-testid="user-role">
                {match user.role {
                    Some(r) => view! { <span class="badge badge-muted">{r.label()}</span> }.into_any(),
                    None => view! { <span class="muted">"—"</span> }.into_any(),
                }}
            </td>
            <td title=datetime(user.created_at_ms)>{date(user.created_at_ms)}</td>
        </tr>
    }
}

/// The label of a source, for pages that show one user.
pub fn source_note(source: UserSource) -> &'static str {
    match source {
        UserSource::Scim => "Managed by your identity provider: its attributes change there and arrive here over SCIM; deactivate or remove the user there. Here you can only choose their user groups.",
        UserSource::Jit => "Created at their first single sign-on. Their attributes come from the identity provider at each sign-in.",
        UserSource::Manual => "Added by an admin in this dashboard. Your identity provider does not know this user.",
    }
}
