//! User groups: the platform's own groups, each giving its members a role.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::{use_navigate, use_params_map};
use roster_shared::dto::{GroupRole, UserFilter, UserGroupInput, UserGroupView, UserPage, UserQuery, UserSort};

use crate::api::forms::UserGroupCreate;
use crate::api::user_groups::{
    assign_users, create_user_group, delete_user_group, get_user_group, list_user_groups, load_default_role,
    set_default_user_group, unassign_users, update_user_group, SetDefaultRole,
};
use crate::api::users::list_users;
use crate::components::action_form::ActionForm;
use crate::components::format::date;
use crate::components::layout::NavRefresh;
use crate::components::notice::{ErrorNotice, SuccessNotice};
use crate::components::pager::{page_count, PageButtons};
use crate::error::UiError;
use crate::resource;

/// `/user-groups`.
#[component]
pub fn UserGroupsPage() -> impl IntoView {
    let refresh = RwSignal::new(0u32);
    // A real form: it works before hydration and without JavaScript (see `api::forms`).
    let create = ServerAction::<UserGroupCreate>::new();
    let groups = resource::load(move || (refresh.get(), create.version().get()), |_| list_user_groups());
    let set_default = Action::new(move |id: &Option<String>| {
        let id = id.clone();
        async move { set_default_user_group(id).await }
    });
    Effect::new(move |_| {
        if let Some(Ok(())) = set_default.value().get() {
            refresh.update(|r| *r += 1);
        }
    });
    let default_error = move || set_default.value().get().and_then(Result::err).map(|e| e.to_string());
    let set_role = ServerAction::<SetDefaultRole>::new();
    let default_role = resource::load(move || set_role.version().get(), |_| load_default_role());
    view! {
        <Title text="User groups"/>
        <div class="page-header">
            <div>
                <h1>"User groups"</h1>
                <p class="muted">"Each user group gives its members a role in the application. A user with several groups has the highest of their roles."</p>
            </div>
        </div>
        <NewGroup create/>
        <RolesHelp/>
        <Show when=move || default_error().is_some()>
            <ErrorNotice message=default_error().unwrap_or_default()/>
        </Show>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || resource::suspend(async move {
                match groups.await {
                    Err(e) => view! { <ErrorNotice message=e.to_string()/> }.into_any(),
                    Ok(gs) if gs.is_empty() => view! {
                        <div class="card empty-state" data-testid="groups-empty">
                            <p>"No user groups yet. Create one per role or team (for example “Engineering — Member”), then assign users to it."</p>
                        </div>
                    }.into_any(),
                    Ok(gs) => view! {
                        <div class="card table-card">
                            <div class="table-wrap">
                                <table class="table" data-testid="groups-table">
                                    <thead><tr><th>"Name"</th><th>"Role"</th><th>"Members"</th><th>"Default"</th><th>"Created"</th></tr></thead>
                                    <tbody>
                                        {gs.into_iter().map(|g| {
                                            let id = g.id.clone();
                                            let is_default = g.is_default;
                                            let radio_label = format!("Make {} the default user group", g.name);
                                            view! {
                                                <tr data-testid="group-row">
                                                    <td>
                                                        <A href=format!("/user-groups/{}", g.id)>{g.name.clone()}</A>
                                                        <div class="muted small">{g.description.clone()}</div>
                                                    </td>
                                                    <td><span class="badge badge-muted">{g.role.label()}</span></td>
                                                    <td data-testid="group-members">{seats_text(g.member_count, g.seat_limit)}</td>
                                                    <td>
                                                        <input type="radio" name="default-group" aria-label=radio_label
                                                            checked=is_default prop:checked=is_default
                                                            on:change=move |_| { set_default.dispatch(Some(id.clone())); }/>
                                                    </td>
                                                    <td>{date(g.created_at_ms)}</td>
                                                </tr>
                                            }
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            </div>
                            <p class="muted small pad">
                                "The default user group is where new users go when nothing else places them (used by just-in-time sign-up and mappings). "
                                <button type="button" class="linklike" on:click=move |_| { set_default.dispatch(None); }>"Clear the default"</button>
                            </p>
                        </div>
                    }.into_any(),
                }
            })}
        </Transition>
        <Transition fallback=|| ()>
            {move || resource::suspend(async move {
                default_role.await.ok().map(|role| view! { <DefaultRole role set_role/> })
            })}
        </Transition>
    }
}

/// The role of users in no user group (a real form).
#[component]
fn DefaultRole(role: Option<GroupRole>, set_role: ServerAction<SetDefaultRole>) -> impl IntoView {
    let error = move || set_role.value().get().and_then(Result::err).map(|e| e.to_string());
    let current = role.map_or("", GroupRole::as_str);
    view! {
        <section class="card section" aria-labelledby="default-role">
            <h2 id="default-role">"Users in no user group"</h2>
            <p class="muted small">
                "A user's role is the highest among their user groups. Users in none (no mapping rule and no default user group placed them) get this role — from SCIM and from just-in-time sign-in alike."
            </p>
            <Show when=move || error().is_some()>
                <ErrorNotice message=error().unwrap_or_default()/>
            </Show>
            <ActionForm action=set_role attr:class="form form-inline">
                <label for="default-role-select">"Default role"</label>
                <select id="default-role-select" name="role" data-testid="default-role">
                    <option value="" selected=current.is_empty()>"No access"</option>
                    {GroupRole::ALL.into_iter().map(|r| view! {
                        <option value=r.as_str() selected=current == r.as_str()>{r.label()}</option>
                    }).collect_view()}
                </select>
                <button type="submit" class="btn btn-ghost btn-small" data-testid="save-default-role">"Save"</button>
            </ActionForm>
        </section>
    }
}

/// "New user group": a disclosure (it opens without JavaScript) with the form.
#[component]
fn NewGroup(create: ServerAction<UserGroupCreate>) -> impl IntoView {
    let open = RwSignal::new(false);
    let form = NodeRef::<leptos::html::Form>::new();
    Effect::new(move |_| {
        if let Some(Ok(_)) = create.value().get() {
            open.set(false);
            if let Some(f) = form.get_untracked() {
                f.reset();
            }
        }
    });
    let error = move || create.value().get().and_then(Result::err).map(|e| e.to_string());
    view! {
        <details class="new-group" prop:open=move || open.get()
            on:toggle=move |ev| open.set(event_target::<leptos::web_sys::Element>(&ev).has_attribute("open"))>
            <summary class="btn btn-primary" data-testid="new-group">"New user group"</summary>
            <section class="card section">
                <h2>"New user group"</h2>
                <ActionForm action=create node_ref=form attr:class="form form-grid">
                    <Show when=move || error().is_some()>
                        <div class="span-2"><ErrorNotice message=error().unwrap_or_default()/></div>
                    </Show>
                    <div class="field">
                        <label for="ng-name">"Name"</label>
                        <input id="ng-name" name="name" type="text" required=true maxlength="100" data-testid="group-name"/>
                    </div>
                    <div class="field">
                        <label for="ng-role">"Role"</label>
                        <select id="ng-role" name="role" data-testid="group-role">
                            {GroupRole::ALL.into_iter().map(|r| view! {
                                <option value=r.as_str() selected=r == GroupRole::Member>{r.label()} " — " {r.description()}</option>
                            }).collect_view()}
                        </select>
                    </div>
                    <div class="field span-2">
                        <label for="ng-desc">"Description (optional)"</label>
                        <input id="ng-desc" name="description" type="text" maxlength="500"/>
                    </div>
                    <div class="span-2">
                        <button type="submit" class="btn btn-primary" data-testid="save-group" disabled=move || create.pending().get()>
                            {move || if create.pending().get() { "Saving…" } else { "Create user group" }}
                        </button>
                    </div>
                </ActionForm>
            </section>
        </details>
    }
}

#[component]
fn RolesHelp() -> impl IntoView {
    view! {
        <details class="card section roles-help">
            <summary>"What the roles allow"</summary>
            <dl class="facts">
                {GroupRole::ALL.into_iter().map(|r| view! { <dt>{r.label()}</dt><dd>{r.description()}</dd> }).collect_view()}
            </dl>
        </details>
    }
}

#[component]
fn GroupForm(
    existing: Option<UserGroupView>,
    on_saved: impl Fn(UserGroupView) + Send + Sync + 'static,
) -> impl IntoView {
    let id = existing.as_ref().map(|g| g.id.clone());
    let name = RwSignal::new(existing.as_ref().map(|g| g.name.clone()).unwrap_or_default());
    let description = RwSignal::new(existing.as_ref().map(|g| g.description.clone()).unwrap_or_default());
    let role = RwSignal::new(existing.as_ref().map(|g| g.role.as_str().to_string()).unwrap_or_else(|| "member".into()));
    let save = Action::new(move |(id, input): &(Option<String>, UserGroupInput)| {
        let (id, input) = (id.clone(), input.clone());
        async move {
            match id {
                Some(id) => update_user_group(id, input).await,
                None => create_user_group(input).await,
            }
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(g)) = save.value().get() {
            on_saved(g);
        }
    });
    let error = move || save.value().get().and_then(Result::err).map(|e| e.to_string());
    let editing = id.is_some();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let role = GroupRole::parse(&role.get()).unwrap_or(GroupRole::Member);
        save.dispatch((id.clone(), UserGroupInput { name: name.get(), description: description.get(), role }));
    };
    view! {
        <form class="form form-grid" on:submit=submit>
            <Show when=move || error().is_some()>
                <div class="span-2"><ErrorNotice message=error().unwrap_or_default()/></div>
            </Show>
            <div class="field">
                <label for="g-name">"Name"</label>
                <input id="g-name" type="text" required=true maxlength="100" bind:value=name data-testid="group-name"/>
            </div>
            <div class="field">
                <label for="g-role">"Role"</label>
                <select id="g-role" bind:value=role data-testid="group-role">
                    {GroupRole::ALL.into_iter().map(|r| view! { <option value=r.as_str()>{r.label()} " — " {r.description()}</option> }).collect_view()}
                </select>
            </div>
            <div class="field span-2">
                <label for="g-desc">"Description (optional)"</label>
                <input id="g-desc" type="text" maxlength="500" bind:value=description/>
            </div>
            <div class="span-2">
                <button type="submit" class="btn btn-primary" data-testid="save-group" disabled=move || save.pending().get()>
                    {move || if save.pending().get() { "Saving…" } else if editing { "Save changes" } else { "Create user group" }}
                </button>
            </div>
        </form>
    }
}

/// `/user-groups/:id`: the group, its members, edit and delete.
///
/// Every resource of the page is made here, before anything waits (see
/// `components::layout::SignedIn` for why nothing is created inside an async block); the
/// sections below read them in `Transition`s of their own.
#[component]
pub fn UserGroupPage() -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| params.with(|p| p.get("id").unwrap_or_default()));
    let refresh = RwSignal::new(0u32);
    let member_page = RwSignal::new(1u32);
    let group = resource::load(move || (id.get(), refresh.get()), |(id, _)| get_user_group(id));
    let members = resource::load(
        move || (id.get(), refresh.get(), member_page.get()),
        move |(gid, _, page)| {
            list_users(UserQuery {
                filter: UserFilter::All,
                sort: UserSort::UserName,
                page_size: 100,
                page,
                user_group: Some(gid),
                role: None,
                idp_group: None,
                ..Default::default()
            })
        },
    );
    view! {
        <p><A href="/user-groups">"← User groups"</A></p>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || resource::suspend(async move {
                match group.await {
                    Ok(g) => view! { <GroupHeader group=g refresh/> }.into_any(),
                    Err(e) => view! { <Title text="User group"/><ErrorNotice message=e.to_string()/> }.into_any(),
                }
            })}
        </Transition>
        <section class="card section" aria-labelledby="members">
            <h2 id="members">"Members"</h2>
            <AddMembers group_id=id refresh/>
            <p class="muted small">"To add many at once, select them under " <A href="/users">"Users"</A> " or " <A href="/unassigned">"Unassigned"</A> " and choose this group."</p>
            <Members group_id=id members member_page refresh/>
        </section>
        <Transition fallback=|| ()>
            {move || resource::suspend(async move { group.await.ok().map(|g| view! { <DeleteGroup group=g/> }) })}
        </Transition>
    }
}

#[component]
fn GroupHeader(group: UserGroupView, refresh: RwSignal<u32>) -> impl IntoView {
    let editing = RwSignal::new(false);
    let g2 = group.clone();
    view! {
        <Title text=group.name.clone()/>
        <div class="page-header">
            <div>
                <h1 data-testid="group-title">{group.name.clone()}</h1>
                <p class="muted">
                    <span class="badge badge-muted">{group.role.label()}</span> " " {group.role.description()}
                    {group.is_default.then(|| view! { " · " <span class="badge badge-ok">"Default"</span> })}
                    " · " <span data-testid="member-count">{group.member_count}</span>
                    {if group.member_count == 1 { " member" } else { " members" }}
                    {group.seat_limit.map(|l| view! { " · " <span data-testid="seats">{format!("{} of {l} seats used", group.member_count)}</span> })}
                </p>
                <p>{group.description.clone()}</p>
            </div>
            <button type="button" class="btn btn-ghost" on:click=move |_| editing.update(|e| *e = !*e)>
                {move || if editing.get() { "Close editor" } else { "Edit" }}
            </button>
        </div>
        <Show when=move || editing.get()>
            <section class="card section">
                <GroupForm existing=Some(g2.clone()) on_saved=move |_| { editing.set(false); refresh.update(|r| *r += 1); }/>
            </section>
        </Show>
        <Seats group=group.clone() refresh/>
    }
}

/// "12 / 20" for a group with a seat limit, else the member count.
fn seats_text(members: i64, limit: Option<i64>) -> String {
    match limit {
        Some(l) => format!("{members} / {l}"),
        None => members.to_string(),
    }
}

/// The group's seat limit (a license group): used of the limit, and the form to change it.
#[component]
fn Seats(group: UserGroupView, refresh: RwSignal<u32>) -> impl IntoView {
    let save = ServerAction::<crate::api::forms::UserGroupSeats>::new();
    Effect::new(move |_| {
        if matches!(save.value().get(), Some(Ok(()))) {
            refresh.update(|r| *r += 1);
        }
    });
    let error = move || save.value().get().and_then(Result::err).map(|e| e.to_string());
    let full = group.seat_limit.is_some_and(|l| group.member_count >= l);
    view! {
        <section class="card section" aria-labelledby="seats" data-testid="seats-card">
            <h2 id="seats">"Seats"</h2>
            <p class="muted small">
                {match group.seat_limit {
                    Some(l) => format!("{} of {l} seats used.", group.member_count),
                    None => "No seat limit: any number of users can be in this group.".to_string(),
                }}
                " With a limit, a placement beyond it (by an admin, a mapping rule, the default group or a sign-in) is refused for this group; the user stays where they were, and their page says why."
            </p>
            {full.then(|| view! {
                <div class="notice notice-warning" role="status" data-testid="seats-full">
                    <span class="notice-icon" aria-hidden="true">"!"</span>
                    <span>"Every seat is taken: nobody new can be placed in this group until a seat is free or the limit is raised."</span>
                </div>
            })}
            <ActionForm action=save attr:class="form form-inline">
                <input type="hidden" name="group_id" value=group.id.clone()/>
                <div class="field">
                    <label for="seat-limit">"Seat limit"</label>
                    <input id="seat-limit" name="seat_limit" type="number" min="1" placeholder="No limit"
                        value=group.seat_limit.map(|l| l.to_string()).unwrap_or_default() data-testid="seat-limit"/>
                </div>
                <button type="submit" class="btn btn-ghost" data-testid="save-seats">"Save"</button>
            </ActionForm>
            <Show when=move || error().is_some()>
                <ErrorNotice message=error().unwrap_or_default()/>
            </Show>
        </section>
    }
}

/// The group's members, a page at a time, each with *Remove*.
#[component]
fn Members(
    group_id: Memo<String>,
    members: resource::Loaded<Result<UserPage, UiError>>,
    member_page: RwSignal<u32>,
    refresh: RwSignal<u32>,
) -> impl IntoView {
    let nav = use_context::<NavRefresh>();
    let remove = Action::new(move |(g, u): &(String, String)| {
        let (g, u) = (g.clone(), u.clone());
        async move { unassign_users(g, vec![u]).await }
    });
    Effect::new(move |_| {
        if let Some(Ok(_)) = remove.value().get() {
            refresh.update(|r| *r += 1);
            if let Some(NavRefresh(n)) = nav {
                n.update(|v| *v += 1);
            }
        }
    });
    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || resource::suspend(async move {
                let gid = group_id.get_untracked();
                let page = match members.await {
                    Ok(p) => p,
                    Err(e) => return view! { <ErrorNotice message=e.to_string()/> }.into_any(),
                };
                let (total, current, size) = (page.total, page.page, page.page_size);
                let rows = page.rows;
                let pages = page_count(total, size);
                if rows.is_empty() {
                    view! { <p class="empty">"No members yet."</p> }.into_any()
                } else {
                    view! {
                        <ul class="plain-list" data-testid="group-members">
                            {rows.into_iter().map(|u| {
                                let (g, uid) = (gid.clone(), u.id.clone());
                                view! {
                                    <li class="row-between">
                                        <A href=format!("/users/{}", u.id)>{u.display_name.clone().unwrap_or_else(|| u.user_name.clone())} " · " {u.user_name.clone()}</A>
                                        <button type="button" class="btn btn-ghost btn-small" on:click=move |_| { remove.dispatch((g.clone(), uid.clone())); }>"Remove"</button>
                                    </li>
                                }
                            }).collect_view()}
                        </ul>
                        {(pages > 1).then(|| view! {
                            <div class="pager"><PageButtons current pages page=member_page/></div>
                        })}
                    }.into_any()
                }
            })}
        </Transition>
    }
}

/// Search users by name or email and add them one by one.
#[component]
fn AddMembers(group_id: Memo<String>, refresh: RwSignal<u32>) -> impl IntoView {
    let typed = RwSignal::new(String::new());
    let search = RwSignal::new(String::new());
    let found = resource::load(
        move || search.get(),
        |q| async move {
            if q.trim().is_empty() {
                return Ok(None);
            }
            list_users(UserQuery { search: q, page: 1, page_size: 8, ..Default::default() }).await.map(Some)
        },
    );
    let nav = use_context::<NavRefresh>();
    let add = Action::new(move |user: &String| {
        let (g, u) = (group_id.get_untracked(), user.clone());
        async move { assign_users(g, vec![u]).await }
    });
    Effect::new(move |_| {
        if let Some(Ok(_)) = add.value().get() {
            refresh.update(|r| *r += 1);
            if let Some(NavRefresh(n)) = nav {
                n.update(|v| *v += 1);
            }
        }
    });
    let error = move || add.value().get().and_then(Result::err).map(|e| e.to_string());
    view! {
        <form class="search add-members" role="search" on:submit=move |ev| { ev.prevent_default(); search.set(typed.get_untracked()); }>
            <label for="member-search" class="sr-only">"Find a user to add"</label>
            <input id="member-search" type="search" placeholder="Find a user to add: name, user name or email" bind:value=typed data-testid="member-search"/>
            <button type="submit" class="btn btn-ghost">"Find"</button>
        </form>
        <Show when=move || error().is_some()>
            <ErrorNotice message=error().unwrap_or_default()/>
        </Show>
        <Transition fallback=|| ()>
            {move || {
                let group = group_id.get_untracked();
                resource::suspend(async move {
                    match found.await {
                        Ok(Some(page)) if page.rows.is_empty() => view! { <p class="empty">"No user matches."</p> }.into_any(),
                        Ok(Some(page)) => view! {
                            <ul class="plain-list candidates" data-testid="member-candidates">
                                {page.rows.into_iter().map(|u| {
                                    let already = u.user_groups.iter().any(|(g, _)| *g == group);
                                    let id = u.id.clone();
                                    view! {
                                        <li class="row-between">
                                            <span>{u.display_name.clone().unwrap_or_else(|| u.user_name.clone())} " · " <span class="muted">{u.user_name.clone()}</span></span>
                                            {if already {
                                                view! { <span class="badge badge-ok">"Member"</span> }.into_any()
                                            } else {
                                                view! { <button type="button" class="btn btn-primary btn-small" disabled=move || add.pending().get()
                                                    on:click=move |_| { add.dispatch(id.clone()); }>"Add"</button> }.into_any()
                                            }}
                                        </li>
                                    }
                                }).collect_view()}
                            </ul>
                        }.into_any(),
                        Ok(None) => ().into_any(),
                        Err(e) => view! { <ErrorNotice message=e.to_string()/> }.into_any(),
                    }
                })
            }}
        </Transition>
    }
}

#[component]
fn DeleteGroup(group: UserGroupView) -> impl IntoView {
    let confirming = RwSignal::new(false);
    let navigate = use_navigate();
    let remove = Action::new(move |id: &String| {
        let id = id.clone();
        async move { delete_user_group(id).await }
    });
    Effect::new(move |_| {
        if let Some(Ok(_)) = remove.value().get() {
            navigate("/user-groups", Default::default());
        }
    });
    let error = move || remove.value().get().and_then(Result::err).map(|e| e.to_string());
    let n = group.member_count;
    let id = group.id.clone();
    view! {
        <section class="card section danger-zone">
            <h2>"Delete user group"</h2>
            <Show when=move || error().is_some()>
                <ErrorNotice message=error().unwrap_or_default()/>
            </Show>
            <Show when=move || confirming.get() fallback=move || view! {
                <button type="button" class="btn btn-danger" data-testid="delete-group" on:click=move |_| confirming.set(true)>"Delete user group…"</button>
            }>
                {
                    let id = id.clone();
                    view! {
                        <div class="confirm-box" data-testid="delete-confirm">
                            <p>
                                {if n == 0 {
                                    "Nobody is in this group. Delete it?".to_string()
                                } else {
                                    format!("{n} member{} will lose the access this group gives. Delete it?", if n == 1 { "" } else { "s" })
                                }}
                            </p>
                            <button type="button" class="btn btn-danger" data-testid="confirm-delete" disabled=move || remove.pending().get()
                                on:click=move |_| { remove.dispatch(id.clone()); }>"Delete"</button>
                            " "
                            <button type="button" class="btn btn-ghost" on:click=move |_| confirming.set(false)>"Cancel"</button>
                        </div>
                    }
                }
            </Show>
        </section>
        <Show when=move || matches!(remove.value().get(), Some(Ok(_)))>
            <SuccessNotice message="Deleted."/>
        </Show>
    }
}
