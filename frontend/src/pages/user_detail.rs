//! One user: attributes, IdP groups, user groups with the reason for each, and the timeline.
//! Manual users are edited and removed here; SCIM users only get their user groups changed.
//! Its *Single sign-on* card lists the identities that sign in as the user and links another
//! (how a manual user gets SSO: a sign-in never links one by itself).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::{use_navigate, use_params_map};
use roster_shared::dto::{ActivityView, ManualUserInput, UserDetail, UserGroupView, UserSource, UserSso};

use crate::api::sso::{SsoLinkIdentity, SsoUnlinkIdentity};
use crate::api::user_groups::{assign_users, list_user_groups, unassign_users};
use crate::api::users::{create_manual_user, delete_manual_user, get_user, update_manual_user};
use crate::components::action_form::ActionForm;
use crate::components::format::{attribute_label, datetime, encode};
use crate::components::layout::NavRefresh;
use crate::components::notice::{ErrorNotice, SuccessNotice, UiErrorNotice};
use crate::pages::users::source_note;
use crate::resource;

/// `/users/:id`.
#[component]
pub fn UserDetailPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id").unwrap_or_default());
    let refresh = RwSignal::new(0u32);
    // Every resource of the page is made here, before anything waits (see
    // `components::layout::SignedIn` for why nothing is created inside an async block).
    let user = resource::load(move || (id(), refresh.get()), |(id, _)| get_user(id));
    let groups = resource::load(|| (), |_| list_user_groups());
    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || resource::suspend(async move {
                let groups = groups.await.unwrap_or_default();
                match user.await {
                    Ok(u) => view! { <Detail detail=u groups refresh/> }.into_any(),
                    Err(e) => view! {
                        <Title text="User"/>
                        <p><A href="/users">"← Users"</A></p>
                        <ErrorNotice message=e.to_string()/>
                    }.into_any(),
                }
            })}
        </Transition>
    }
}

pub(crate) fn reason_text(reason: &roster_shared::dto::MembershipReason) -> String {
    use roster_shared::dto::MembershipKind;
    match reason.reason {
        MembershipKind::Admin => format!(
            "Assigned by {} on {}",
            reason.added_by.clone().unwrap_or_else(|| "an admin".into()),
            datetime(reason.added_at_ms)
        ),
        MembershipKind::Rule => format!(
            "Placed by the mapping rule “{}”",
            reason.rule_description.clone().or_else(|| reason.rule_id.clone()).unwrap_or_default()
        ),
        MembershipKind::Default => "Placed in the default user group (no mapping rule matched)".to_string(),
    }
}

#[component]
fn Detail(detail: UserDetail, groups: Vec<UserGroupView>, refresh: RwSignal<u32>) -> impl IntoView {
    let user = detail.user.clone();
    let user_id = user.id.clone();
    let manual = user.source == UserSource::Manual;
    let nav = use_context::<NavRefresh>();
    let bump = move || {
        refresh.update(|r| *r += 1);
        if let Some(NavRefresh(n)) = nav {
            n.update(|v| *v += 1);
        }
    };

    let target = RwSignal::new(String::new());
    let uid = user_id.clone();
    let assign = Action::new(move |group: &String| {
        let (group, uid) = (group.clone(), uid.clone());
        async move { assign_users(group, vec![uid]).await }
    });
    let uid = user_id.clone();
    let unassign = Action::new(move |group: &String| {
        let (group, uid) = (group.clone(), uid.clone());
        async move { unassign_users(group, vec![uid]).await }
    });
    Effect::new(move |_| {
        if let Some(Ok(_)) = assign.value().get() {
            bump();
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(_)) = unassign.value().get() {
            bump();
        }
    });
    let error = move || {
        assign
            .value()
            .get()
            .and_then(Result::err)
            .or_else(|| unassign.value().get().and_then(Result::err))
            .map(|e| e.to_string())
    };
    let editing = RwSignal::new(false);
    let form_user = detail.user.clone();
    let form_attributes = detail.attributes.clone();
    let title = user.display_name.clone().unwrap_or_else(|| user.user_name.clone());

    view! {
        <Title text=title.clone()/>
        <p><A href="/users">"← Users"</A></p>
        <div class="page-header">
            <div>
                <h1 data-testid="user-title">{title}</h1>
                <p class="muted">
                    {user.user_name.clone()} " · "
                    <span class=format!("badge badge-source-{}", user.source.as_str())>{user.source.label()}</span> " "
                    {if user.active {
                        view! { <span class="badge badge-ok">"Active"</span> }.into_any()
                    } else {
                        view! { <span class="badge badge-muted">"Deactivated"</span> }.into_any()
                    }}
                    " · Role: " <strong data-testid="effective-role">{detail.effective_role.map(|r| r.label()).unwrap_or("none (unassigned)")}</strong>
                </p>
            </div>
            {manual.then(|| view! {
                <button type="button" class="btn btn-ghost" on:click=move |_| editing.update(|e| *e = !*e)>
                    {move || if editing.get() { "Close editor" } else { "Edit user" }}
                </button>
            })}
        </div>
        <div class="notice notice-info" data-testid="source-note">
            <span class="notice-icon notice-icon-info" aria-hidden="true">"i"</span>
            <span>{source_note(user.source)}</span>
        </div>
        {detail.held.clone().map(|h| view! {
            <div class="notice notice-warning banner-held" role="status" data-testid="user-held">
                <span>
                    <strong>{format!("{} held. ", h.kind.label())}</strong>
                    {held_note(&h)}
                </span>
                <A href="/safety" attr:class="btn btn-small btn-ghost">"Review held changes"</A>
            </div>
        })}
        {(!detail.refused.is_empty()).then(|| { let refused = detail.refused.clone(); view! {
            <div class="notice notice-warning" role="status" data-testid="user-refused">
                <span class="notice-icon" aria-hidden="true">"!"</span>
                <span>
                    "Not placed in every user group it should be in: "
                    {refused.into_iter().map(|(id, name, why, at)| view! {
                        <A href=format!("/user-groups/{id}")>{name}</A>
                        {format!(" — {why} (since {}). ", crate::components::format::datetime(at))}
                    }).collect_view()}
                </span>
            </div>
        }})}
        {manual.then(|| view! { <AdoptionCard user_id=user_id.clone() adopt=detail.adopt.clone() on_change=bump/> })}

        <Show when=move || editing.get()>
            <ManualUserForm existing=Some(form_user.clone()) attributes=form_attributes.clone() on_saved=move |_| { editing.set(false); bump(); }/>
        </Show>

        <div class="grid-2">
            <section class="card section" aria-labelledby="ug">
                <h2 id="ug">"User groups"</h2>
                <Show when=move || error().is_some()>
                    <ErrorNotice message=error().unwrap_or_default()/>
                </Show>
                {if detail.user_groups.is_empty() {
                    view! { <p class="empty">"In no user group: this user has no role yet."</p> }.into_any()
                } else {
                    view! {
                        <ul class="membership-list" data-testid="user-groups">
                            {detail.user_groups.clone().into_iter().map(|g| {
                                let gid = g.group_id.clone();
                                let admin_made = g.reasons.iter().any(|r| r.reason == roster_shared::dto::MembershipKind::Admin);
                                view! {
                                    <li>
                                        <div class="row-between">
                                            <span><A href=format!("/user-groups/{}", g.group_id)>{g.group_name.clone()}</A>
                                            " " <span class="badge badge-muted">{g.role.label()}</span></span>
                                            {admin_made.then(|| view! {
                                                <button type="button" class="btn btn-ghost btn-small" on:click=move |_| { unassign.dispatch(gid.clone()); }>"Remove"</button>
                                            })}
                                        </div>
                                        <ul class="reasons">
                                            {g.reasons.iter().map(|r| view! { <li class="muted small">{reason_text(r)}</li> }).collect_view()}
                                        </ul>
                                    </li>
                                }
                            }).collect_view()}
                        </ul>
                    }.into_any()
                }}
                <div class="inline-form">
                    <label for="add-group" class="sr-only">"User group"</label>
                    <select id="add-group" bind:value=target>
                        <option value="">"Add to a user group…"</option>
                        {groups.into_iter().map(|g| view! { <option value=g.id>{g.name}</option> }).collect_view()}
                    </select>
                    <button type="button" class="btn btn-primary btn-small" disabled=move || target.get().is_empty() || assign.pending().get()
                        on:click=move |_| { assign.dispatch(target.get()); }>"Add"</button>
                </div>
            </section>
            <IdpGroups groups=detail.idp_groups.clone() link=true/>
        </div>

        <SsoIdentities sso=detail.sso.clone() user_id=user_id.clone() manual on_change=bump/>
        <Attributes detail=detail.clone()/>
        <Timeline timeline=detail.timeline.clone() prefix=String::new()/>

        {manual.then(|| view! { <DeleteManual id=user_id.clone()/> })}
    }
}

/// A user's SCIM groups (direct, or through a nested group).
#[component]
pub(crate) fn IdpGroups(
    groups: Vec<(String, String, bool)>,
    /// Whether each group links to the users table showing its members (the admin's pages).
    #[prop(optional)]
    link: bool,
) -> impl IntoView {
    view! {
        <section class="card section" aria-labelledby="idp">
            <h2 id="idp">"Identity provider groups"</h2>
            {if groups.is_empty() {
                view! { <p class="empty">"Not in any group pushed by the identity provider."</p> }.into_any()
            } else {
                view! {
                    <ul class="plain-list">
                        {groups.into_iter().map(|(id, name, direct)| view! {
                            <li>
                                {if link {
                                    view! { <A href=format!("/users?idp_group={}", encode(&id))>{name}</A> }.into_any()
                                } else {
                                    view! { <span>{name}</span> }.into_any()
                                }}
                                {(!direct).then(|| view! { <span class="muted small">" (through a nested group)"</span> })}
                            </li>
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
        </section>
    }
}

/// Every attribute of a user, by path, and its SCIM resource.
#[component]
pub(crate) fn Attributes(detail: UserDetail) -> impl IntoView {
    view! {
        <section class="card section" aria-labelledby="attrs">
            <h2 id="attrs">"Attributes"</h2>
            <dl class="facts attributes" data-testid="attributes">
                {detail.attributes.into_iter().map(|(k, v)| view! {
                    // The readable label; the SCIM path stays at hand for whoever needs it.
                    <dt title=k.clone()>{attribute_label(&k)}</dt><dd>{v}</dd>
                }).collect_view()}
            </dl>
            <details>
                <summary>"SCIM resource (JSON)"</summary>
                <pre class="json">{detail.resource_json}</pre>
            </details>
        </section>
    }
}

/// A user's activity, newest first, each record linking to its page (under `prefix`: empty in
/// the dashboard, the tenant's path in the support console), failures with their reason.
#[component]
pub(crate) fn Timeline(timeline: Vec<ActivityView>, prefix: String) -> impl IntoView {
    view! {
        <section class="card section" aria-labelledby="timeline">
            <h2 id="timeline">"Provisioning timeline"</h2>
            {if timeline.is_empty() {
                view! { <p class="empty">"No recorded activity for this user yet."</p> }.into_any()
            } else {
                view! {
                    <ol class="timeline" data-testid="timeline">
                        {timeline.into_iter().map(|a| { let failed = a.is_error(); view! {
                            <li class:timeline-error=failed>
                                <span class="muted small">{datetime(a.at_ms)}</span>
                                " "
                                <A href=format!("{prefix}/activity/{}", a.id)>{a.summary.clone()}</A>
                                <span class="muted small">
                                    " · " {a.actor_name.clone().unwrap_or_else(|| a.actor.clone())}
                                    {a.status.map(|s| format!(" · {s}"))}
                                </span>
                                {a.detail.clone().map(|x| view! { <div class="small error-text">{x}</div> })}
                            </li>
                        }}).collect_view()}
                    </ol>
                }.into_any()
            }}
        </section>
    }
}

#[component]
fn DeleteManual(id: String) -> impl IntoView {
    let confirming = RwSignal::new(false);
    let navigate = use_navigate();
    let remove = Action::new(move |id: &String| {
        let id = id.clone();
        async move { delete_manual_user(id).await }
    });
    Effect::new(move |_| {
        if let Some(Ok(())) = remove.value().get() {
            navigate("/users", Default::default());
        }
    });
    let error = move || remove.value().get().and_then(Result::err).map(|e| e.to_string());
    view! {
        <section class="card section danger-zone">
            <h2>"Remove user"</h2>
            <p class="muted small">"The user leaves every user group and loses access. This cannot be undone."</p>
            <Show when=move || error().is_some()>
                <ErrorNotice message=error().unwrap_or_default()/>
            </Show>
            <Show when=move || confirming.get() fallback=move || view! {
                <button type="button" class="btn btn-danger" on:click=move |_| confirming.set(true)>"Remove user…"</button>
            }>
                {
                    let id = id.clone();
                    view! {
                        <span class="confirm">
                            "Remove this user for good? "
                            <button type="button" class="btn btn-danger" disabled=move || remove.pending().get()
                                on:click=move |_| { remove.dispatch(id.clone()); }>"Remove"</button>
                            <button type="button" class="btn btn-ghost" on:click=move |_| confirming.set(false)>"Cancel"</button>
                        </span>
                    }
                }
            </Show>
        </section>
    }
}

/// `/users/new`: add a manual user.
#[component]
pub fn NewUserPage() -> impl IntoView {
    let navigate = use_navigate();
    // A new user's own page comes next: that is where they are put into user groups.
    let open_new = move |id: Option<String>| {
        navigate(&id.map(|id| format!("/users/{id}")).unwrap_or_else(|| "/users".into()), Default::default())
    };
    view! {
        <Title text="Add user"/>
        <p><A href="/users">"← Users"</A></p>
        <div class="page-header">
            <div>
                <h1>"Add user"</h1>
                <p class="muted">"For people your identity provider does not manage (contractors, service accounts). Users from your identity provider arrive by themselves."</p>
            </div>
        </div>
        <ManualUserForm existing=None attributes=Vec::new() on_saved=open_new/>
    }
}

fn attr(attributes: &[(String, String)], key: &str) -> String {
    attributes.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()).unwrap_or_default()
}

#[component]
fn ManualUserForm(
    existing: Option<roster_shared::dto::UserListItem>,
    attributes: Vec<(String, String)>,
    on_saved: impl Fn(Option<String>) + Send + Sync + 'static,
) -> impl IntoView {
    let id = existing.as_ref().map(|u| u.id.clone());
    let user_name = RwSignal::new(existing.as_ref().map(|u| u.user_name.clone()).unwrap_or_default());
    let given = RwSignal::new(attr(&attributes, "name.givenName"));
    let family = RwSignal::new(attr(&attributes, "name.familyName"));
    let email = RwSignal::new(existing.as_ref().and_then(|u| u.email.clone()).unwrap_or_default());
    let external = RwSignal::new(existing.as_ref().and_then(|u| u.external_id.clone()).unwrap_or_default());
    let active = RwSignal::new(existing.as_ref().map(|u| u.active).unwrap_or(true));
    let save = Action::new(move |(id, input): &(Option<String>, ManualUserInput)| {
        let (id, input) = (id.clone(), input.clone());
        async move {
            match id {
                Some(id) => update_manual_user(id, input).await.map(|()| None),
                None => create_manual_user(input).await.map(Some),
            }
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(created)) = save.value().get() {
            on_saved(created);
        }
    });
    let error = move || save.value().get().and_then(Result::err);
    let editing = id.is_some();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        save.dispatch((
            id.clone(),
            ManualUserInput {
                user_name: user_name.get(),
                given_name: given.get(),
                family_name: family.get(),
                email: email.get(),
                external_id: external.get(),
                active: active.get(),
            },
        ));
    };
    view! {
        <section class="card section">
            <form class="form form-grid" on:submit=submit>
                {move || error().map(|e| view! { <div class="span-2"><UiErrorNotice error=e/></div> })}
                <div class="field">
                    <label for="mu-username">"User name"</label>
                    <input id="mu-username" type="text" required=true maxlength="512" bind:value=user_name autocomplete="off"/>
                    <p class="hint">"Usually the work email. Unique in your organization."</p>
                </div>
                <div class="field">
                    <label for="mu-email">"Email"</label>
                    <input id="mu-email" type="email" maxlength="254" bind:value=email/>
                </div>
                <div class="field">
                    <label for="mu-given">"First name"</label>
                    <input id="mu-given" type="text" maxlength="200" bind:value=given/>
                </div>
                <div class="field">
                    <label for="mu-family">"Last name"</label>
                    <input id="mu-family" type="text" maxlength="200" bind:value=family/>
                </div>
                <div class="field">
                    <label for="mu-external">"External ID (optional)"</label>
                    <input id="mu-external" type="text" maxlength="200" bind:value=external/>
                </div>
                <div class="field field-check">
                    <label><input type="checkbox" checked=active.get_untracked() bind:checked=active/> " Active"</label>
                </div>
                <div class="span-2">
                    <button type="submit" class="btn btn-primary" disabled=move || save.pending().get()>
                        {move || if save.pending().get() { "Saving…" } else if editing { "Save changes" } else { "Add user" }}
                    </button>
                </div>
            </form>
        </section>
        <Show when=move || matches!(save.value().get(), Some(Ok(_)))>
            <SuccessNotice message="Saved."/>
        </Show>
    }
}

/// The user's single sign-on: the identities that sign in as them (an admin unlinks one, or
/// links another — how a manual user gets SSO), and their latest sign-in attempts.
#[component]
fn SsoIdentities(sso: UserSso, user_id: String, manual: bool, on_change: impl Fn() + Copy + 'static) -> impl IntoView {
    let link = ServerAction::<SsoLinkIdentity>::new();
    let unlink = ServerAction::<SsoUnlinkIdentity>::new();
    Effect::new(move |_| {
        if matches!(link.value().get(), Some(Ok(()))) || matches!(unlink.value().get(), Some(Ok(()))) {
            on_change();
        }
    });
    let error = move || {
        link.value()
            .get()
            .and_then(Result::err)
            .or_else(|| unlink.value().get().and_then(Result::err))
            .map(|e| e.to_string())
    };
    // A refused sign-in of this user (a manual user's) offers its identity to link.
    let suggested = sso
        .sign_ins
        .iter()
        .find(|s| s.reason.as_deref() == Some("manual_user") && s.subject.is_some() && s.connection_id.is_some())
        .cloned();
    let no_connections = sso.connections.is_empty();
    let uid = user_id.clone();
    view! {
        <section class="card section" aria-labelledby="sso-identities" data-testid="sso-identities">
            <h2 id="sso-identities">"Single sign-on"</h2>
            <Show when=move || error().is_some()>
                <ErrorNotice message=error().unwrap_or_default()/>
            </Show>
            {if sso.identities.is_empty() {
                view! { <p class="muted small">"No SSO identity signs in as this user yet."</p> }.into_any()
            } else {
                view! {
                    <ul class="plain-list">
                        {sso.identities.clone().into_iter().map(|i| {
                            let uid = uid.clone();
                            view! {
                                <li data-testid="linked-identity">
                                    <code>{i.subject.clone()}</code> " through " <strong>{i.connection_name.clone()}</strong>
                                    <span class="muted small">" · linked " {datetime(i.linked_at_ms)} " · last sign-in " {datetime(i.last_sign_in_ms)}</span>
                                    <ActionForm action=unlink attr:class="cell-form">
                                        <input type="hidden" name="user_id" value=uid/>
                                        <input type="hidden" name="connection_id" value=i.connection_id/>
                                        <input type="hidden" name="subject" value=i.subject/>
                                        <button type="submit" class="btn btn-ghost btn-small">"Unlink"</button>
                                    </ActionForm>
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
            {suggested.clone().map(|s| {
                let uid = user_id.clone();
                view! {
                    <div class="notice notice-info" data-testid="link-suggestion">
                        <span>
                            "A sign-in as " <code>{s.subject.clone().unwrap_or_default()}</code> " through " {s.connection_name.clone()}
                            " was refused on " {datetime(s.at_ms)} ": a manual user is never linked automatically."
                        </span>
                        <ActionForm action=link attr:class="cell-form">
                            <input type="hidden" name="user_id" value=uid/>
                            <input type="hidden" name="connection_id" value=s.connection_id.clone().unwrap_or_default()/>
                            <input type="hidden" name="subject" value=s.subject.clone().unwrap_or_default()/>
                            <button type="submit" class="btn btn-primary btn-small" data-testid="link-suggested">"Link this identity"</button>
                        </ActionForm>
                    </div>
                }
            })}
            {(manual && !no_connections).then(|| {
                let uid = user_id.clone();
                view! {
                    <details>
                        <summary>"Link an SSO identity…"</summary>
                        <ActionForm action=link attr:class="form form-inline">
                            <input type="hidden" name="user_id" value=uid/>
                            <label for="link-connection">"Connection"</label>
                            <select id="link-connection" name="connection_id">
                                {sso.connections.clone().into_iter().map(|(id, name)| view! { <option value=id>{name}</option> }).collect_view()}
                            </select>
                            <label for="link-subject">"Subject (NameID or sub)"</label>
                            <input id="link-subject" name="subject" type="text" required=true maxlength="512"/>
                            <button type="submit" class="btn btn-ghost btn-small">"Link"</button>
                        </ActionForm>
                    </details>
                }
            })}
        </section>
    }
}

/// A manual user's adoption by the identity provider: mark it (matched one way) or clear the
/// mark.
#[component]
fn AdoptionCard(
    user_id: String,
    adopt: Option<(roster_shared::dto::AdoptBy, String)>,
    on_change: impl Fn() + Copy + 'static,
) -> impl IntoView {
    use roster_shared::dto::AdoptBy;
    let set = ServerAction::<crate::api::safety::AdoptSet>::new();
    Effect::new(move |_| {
        if matches!(set.value().get(), Some(Ok(()))) {
            on_change();
        }
    });
    let error = move || set.value().get().and_then(Result::err).map(|e| e.to_string());
    view! {
        <section class="card section" aria-labelledby="adopt" data-testid="adoption-card">
            <h2 id="adopt">"Adoption by the identity provider"</h2>
            {match adopt {
                Some((by, value)) => view! {
                    <p data-testid="adoptable">
                        "Adoptable: the identity provider's next create of a user whose " {by.label()} " is "
                        <strong>{value}</strong>
                        " takes this user over (id and user groups kept)."
                    </p>
                    <ActionForm action=set>
                        <input type="hidden" name="user_id" value=user_id.clone()/>
                        <input type="hidden" name="by" value=""/>
                        <button type="submit" class="btn btn-ghost btn-small" data-testid="adopt-clear">"Clear the mark"</button>
                    </ActionForm>
                }.into_any(),
                None => view! {
                    <p class="muted small">"This user was added in Roster: your identity provider cannot see it, and its create of a user with the same userName is refused. Mark it adoptable to let the identity provider take it over."</p>
                    <ActionForm action=set attr:class="form form-inline">
                        <input type="hidden" name="user_id" value=user_id.clone()/>
                        <div class="field">
                            <label for="adopt-set-by">"Match on"</label>
                            <select id="adopt-set-by" name="by">
                                {AdoptBy::ALL.into_iter().map(|a| view! { <option value=a.as_str()>{a.label()}</option> }).collect_view()}
                            </select>
                        </div>
                        <button type="submit" class="btn btn-ghost" data-testid="adopt-set">"Mark adoptable"</button>
                    </ActionForm>
                }.into_any(),
            }}
            <Show when=move || error().is_some()>
                <ErrorNotice message=error().unwrap_or_default()/>
            </Show>
        </section>
    }
}

/// What the user page says about the user's held change: when the identity provider asked for
/// it, and again if it did.
fn held_note(h: &roster_shared::dto::HeldChange) -> String {
    use crate::components::format::datetime;
    let again = h.asked_again_at_ms().map(|at| format!(" (and again at {})", datetime(at))).unwrap_or_default();
    format!(
        "The identity provider asked for it at {}{again}; the deprovisioning brake holds it until an admin decides. The user keeps their access meanwhile.",
        datetime(h.created_at_ms)
    )
}
