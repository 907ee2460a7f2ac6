//! `/safety`: provisioning safety. The changes the deprovisioning brake held (apply or discard
//! them), the brake's settings and the delete policy, and the users a soft delete keeps
//! (restore them).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use roster_shared::dto::{AdoptBy, AdoptionPreview, AdoptionStatus, DeletePolicy, HeldChanges, SafetySettings};

use crate::api::safety::{
    load_adoption, load_deleted, load_held, load_safety, AdoptMark, DeletedRestore, HeldDecide, SafetySave,
};
use crate::components::action_form::ActionForm;
use crate::components::format::{count, datetime};
use crate::components::held::HeldSince;
use crate::components::layout::NavRefresh;
use crate::components::notice::{ErrorNotice, SuccessNotice};
use crate::resource;

/// `/safety`.
#[component]
pub fn SafetyPage() -> impl IntoView {
    let decide = ServerAction::<HeldDecide>::new();
    let save = ServerAction::<SafetySave>::new();
    let restore = ServerAction::<DeletedRestore>::new();
    let held = resource::load(move || (decide.version().get(), save.version().get()), |_| load_held());
    let settings = resource::load(move || save.version().get(), |_| load_safety());
    let deleted = resource::load(move || restore.version().get(), |_| load_deleted());
    let mark = ServerAction::<AdoptMark>::new();
    let query = leptos_router::hooks::use_query_map();
    let adoption = resource::load(
        move || (query.with(|q| q.get("adopt_by").unwrap_or_default()), mark.version().get()),
        |(by, _)| load_adoption(by),
    );
    // The navigation's count of held changes follows a decision.
    if let Some(NavRefresh(refresh)) = use_context::<NavRefresh>() {
        Effect::new(move |_| {
            if decide.version().get() > 0 {
                refresh.update(|r| *r += 1);
            }
        });
    }
    view! {
        <Title text="Provisioning safety"/>
        <div class="page-header">
            <div>
                <h1>"Provisioning safety"</h1>
                <p class="muted">"Rails against a misconfigured identity provider: a brake on mass deprovisioning, and what a delete from the identity provider does."</p>
            </div>
        </div>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || resource::suspend(async move {
                match held.await {
                    Err(e) => view! { <ErrorNotice message=e.to_string()/> }.into_any(),
                    Ok(h) => view! { <Held held=h decide/> }.into_any(),
                }
            })}
        </Transition>
        <Transition fallback=|| ()>
            {move || resource::suspend(async move {
                match settings.await {
                    Err(e) => view! { <ErrorNotice message=e.to_string()/> }.into_any(),
                    Ok(s) => view! { <Settings settings=s save/> }.into_any(),
                }
            })}
        </Transition>
        <Transition fallback=|| ()>
            {move || resource::suspend(async move {
                match deleted.await {
                    Err(e) => view! { <ErrorNotice message=e.to_string()/> }.into_any(),
                    Ok(users) => view! { <Deleted users restore/> }.into_any(),
                }
            })}
        </Transition>
        <Transition fallback=|| ()>
            {move || resource::suspend(async move {
                match adoption.await {
                    Err(e) => view! { <ErrorNotice message=e.to_string()/> }.into_any(),
                    Ok(preview) => view! { <Adoption preview mark/> }.into_any(),
                }
            })}
        </Transition>
    }
}

fn adoption_status(status: &AdoptionStatus, by: AdoptBy) -> (String, &'static str) {
    match status {
        AdoptionStatus::Ready => ("Ready".into(), "badge-muted"),
        AdoptionStatus::Marked => ("Adoptable".into(), "badge-ok"),
        AdoptionStatus::NoKey => (format!("No {}", by.label()), "badge-muted"),
        AdoptionStatus::Duplicate(other) => (format!("Same {} as {other}", by.label()), "badge-warning"),
        AdoptionStatus::Provisioned(as_user) => (format!("Already provisioned as {as_user}"), "badge-warning"),
    }
}

/// Manual users the identity provider may take over: matched one way, with conflicts listed
/// before anything changes.
#[component]
fn Adoption(preview: AdoptionPreview, mark: ServerAction<AdoptMark>) -> impl IntoView {
    let error = move || mark.value().get().and_then(Result::err).map(|e| e.to_string());
    let marked = move || mark.value().get().and_then(Result::ok);
    let by = preview.by;
    let ready = preview.candidates.iter().filter(|c| c.status == AdoptionStatus::Ready).count();
    view! {
        <section class="card section" aria-labelledby="adoption" data-testid="adoption">
            <h2 id="adoption">"Adopt existing users"</h2>
            <p class="muted small">
                "Users added in Roster are invisible to your identity provider, and its create of a user with the same userName is refused (409). "
                "Mark them adoptable, and the identity provider's next create of a matching user takes them over: they keep their id and user groups, and from then on the identity provider manages them."
            </p>
            <form method="get" action="/safety" class="form form-inline">
                <div class="field">
                    <label for="adopt-by">"Match on"</label>
                    <select id="adopt-by" name="adopt_by" data-testid="adopt-by">
                        {AdoptBy::ALL.into_iter().map(|a| view! {
                            <option value=a.as_str() selected=a == by>{a.label()}</option>
                        }).collect_view()}
                    </select>
                </div>
                <button type="submit" class="btn btn-ghost">"Show matches"</button>
            </form>
            {if preview.candidates.is_empty() {
                view! { <p class="muted" data-testid="adoption-none">"No users were added in Roster: there is nothing to adopt."</p> }.into_any()
            } else {
                view! {
                    <ActionForm action=mark attr:class="form">
                        <input type="hidden" name="by" value=by.as_str()/>
                        <div class="table-wrap">
                            <table class="table" data-testid="adoption-table">
                                <thead>
                                    <tr>
                                        <th scope="col"><span class="sr-only">"Select"</span></th>
                                        <th scope="col">"User"</th>
                                        <th scope="col">{by.label()}</th>
                                        <th scope="col">"Status"</th>
                                        <th scope="col">"Identity provider"</th>
                                    </tr>
                                </thead>
                                <tbody>
                                    {preview.candidates.into_iter().map(|c| {
                                        let (status, badge) = adoption_status(&c.status, by);
                                        let ready = c.status == AdoptionStatus::Ready;
                                        let label = format!("Select {}", c.user_name);
                                        view! {
                                            <tr data-testid="adoption-row">
                                                <td>{ready.then(|| view! { <input type="checkbox" name="ids[]" value=c.user_id.clone() checked=true aria-label=label/> })}</td>
                                                <td><A href=format!("/users/{}", c.user_id)>{c.user_name.clone()}</A></td>
                                                <td>{c.value.clone().unwrap_or_else(|| "—".into())}</td>
                                                <td><span class=format!("badge {badge}")>{status}</span></td>
                                                <td class="small">{c.idp_tried_at_ms.map(|at| format!("tried to create it {} (refused)", datetime(at))).unwrap_or_default()}</td>
                                            </tr>
                                        }
                                    }).collect_view()}
                                </tbody>
                            </table>
                        </div>
                        <div class="row-actions">
                            <button type="submit" class="btn btn-primary" data-testid="adopt-mark" disabled=ready == 0>
                                {format!("Mark the selected users adoptable by {}", by.label())}
                            </button>
                        </div>
                    </ActionForm>
                }.into_any()
            }}
            <Show when=move || error().is_some()>
                <ErrorNotice message=error().unwrap_or_default()/>
            </Show>
            <Show when=move || marked().is_some()>
                <SuccessNotice message=format!("Marked {} user(s) adoptable.", marked().unwrap_or_default())/>
            </Show>
        </section>
    }
}

#[component]
fn Held(held: HeldChanges, decide: ServerAction<HeldDecide>) -> impl IntoView {
    let error = move || decide.value().get().and_then(Result::err).map(|e| e.to_string());
    let done = move || decide.value().get().and_then(Result::ok);
    let window = held.settings.as_ref().map_or(60, |s| s.brake_window_minutes);
    if held.total == 0 {
        return view! {
            <section class="card section" aria-labelledby="held" data-testid="held-none">
                <h2 id="held">"Held deprovisioning"</h2>
                <p class="muted">
                    {format!(
                        "Nothing is held. In the last {window} minutes {} of at most {} users lost access through the identity provider.",
                        held.deprovisioned_in_window, held.limit
                    )}
                </p>
                <Show when=move || done().is_some()>
                    <SuccessNotice message=done().unwrap_or_default()/>
                </Show>
            </section>
        }
        .into_any();
    }
    let shown = held.changes.len() as u64;
    view! {
        <section class="card section held" aria-labelledby="held" data-testid="held-changes">
            <h2 id="held">"Held deprovisioning"</h2>
            <div class="notice notice-warning" role="alert">
                <span class="notice-icon" aria-hidden="true">"!"</span>
                <span>
                    <strong>{format!("{} deprovisioning change{} held. ", count(held.total as i64), if held.total == 1 { " is" } else { "s are" })}</strong>
                    {format!(
                        "Your identity provider asked to deactivate or delete more users than the brake allows ({} within {window} minutes). \
                         These users keep their access until you decide. If assignments or groups changed by mistake in the identity provider, \
                         fix them there and discard these changes; if the removals are intended, apply them.",
                        held.limit
                    )}
                </span>
            </div>
            <ActionForm action=decide attr:class="form" attr:data-testid="held-form">
                <div class="table-wrap">
                    <table class="table" data-testid="held-table">
                        <thead>
                            <tr>
                                <th scope="col"><span class="sr-only">"Select"</span></th>
                                <th scope="col">"User"</th>
                                <th scope="col">"Change"</th>
                                <th scope="col">"Request"</th>
                                <th scope="col">"Held since"</th>
                            </tr>
                        </thead>
                        <tbody>
                            {held.changes.into_iter().map(|c| {
                                let label = format!("Select {}", c.user_name);
                                let again = c.asked_again_at_ms();
                                view! {
                                    <tr data-testid="held-row">
                                        <td><input type="checkbox" name="ids[]" value=c.id.clone() aria-label=label/></td>
                                        <td><A href=format!("/users/{}", c.user_id)>{c.user_name.clone()}</A></td>
                                        <td>{c.kind.label()}</td>
                                        <td><code>{c.method.clone()}</code></td>
                                        <td><HeldSince first_ms=c.created_at_ms again_ms=again/></td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                </div>
                {(held.total > shown).then(|| view! {
                    <p class="muted small">{format!("The oldest {shown} of {} are shown; Apply all and Discard all take every one.", count(held.total as i64))}</p>
                })}
                <div class="row-actions">
                    <button type="submit" name="decision" value="apply" class="btn btn-primary" data-testid="held-apply" disabled=move || decide.pending().get()>"Apply selected"</button>
                    <button type="submit" name="decision" value="discard" class="btn btn-ghost" data-testid="held-discard" disabled=move || decide.pending().get()>"Discard selected"</button>
                    <button type="submit" name="decision" value="apply_all" class="btn btn-ghost" data-testid="held-apply-all" disabled=move || decide.pending().get()>"Apply all"</button>
                    <button type="submit" name="decision" value="discard_all" class="btn btn-ghost" data-testid="held-discard-all" disabled=move || decide.pending().get()>"Discard all"</button>
                </div>
            </ActionForm>
            <p class="muted small">
                "Discarded users stay active in Roster, while your identity provider still considers them removed. To bring the two back in line, assign them in the identity provider again; if they should go after all, restart provisioning in the identity provider so that it sends the removal again."
            </p>
            <Show when=move || error().is_some()>
                <ErrorNotice message=error().unwrap_or_default()/>
            </Show>
            <Show when=move || done().is_some()>
                <SuccessNotice message=done().unwrap_or_default()/>
            </Show>
        </section>
    }
    .into_any()
}

#[component]
fn Settings(settings: SafetySettings, save: ServerAction<SafetySave>) -> impl IntoView {
    let error = move || save.value().get().and_then(Result::err).map(|e| e.to_string());
    let saved = move || matches!(save.value().get(), Some(Ok(())));
    let soft = settings.delete_policy == DeletePolicy::Soft;
    view! {
        <section class="card section" aria-labelledby="safety-settings">
            <h2 id="safety-settings">"Settings"</h2>
            <ActionForm action=save attr:class="form" attr:data-testid="safety-form">
                <h3>"Mass-deprovisioning brake"</h3>
                <label class="check">
                    <input type="checkbox" name="brake_enabled" value="on" checked=settings.brake_enabled data-testid="brake-enabled"/>
                    " Hold deprovisioning when too many users lose access at once"
                </label>
                <div class="form-grid">
                    <div class="field">
                        <label for="brake-percent">"Share of active users (%)"</label>
                        <input id="brake-percent" name="brake_percent" type="number" min="1" max="100" required=true value=settings.brake_percent.to_string()/>
                    </div>
                    <div class="field">
                        <label for="brake-min">"…but at least (users)"</label>
                        <input id="brake-min" name="brake_min_users" type="number" min="1" max="1000000" required=true value=settings.brake_min_users.to_string()/>
                    </div>
                    <div class="field">
                        <label for="brake-window">"Within (minutes)"</label>
                        <input id="brake-window" name="brake_window_minutes" type="number" min="5" max="10080" required=true value=settings.brake_window_minutes.to_string()/>
                    </div>
                </div>
                <p class="muted small">"Deactivations and deletions of active users by the identity provider count. Beyond the limit, further ones are held here for an admin (answered to the identity provider as done, so its job is not quarantined)."</p>
                <h3>"When the identity provider deletes a user"</h3>
                <div class="field">
                    <label for="delete-policy">"A SCIM DELETE"</label>
                    <select id="delete-policy" name="delete_policy" data-testid="delete-policy">
                        <option value="delete" selected=!soft>"Deletes the user"</option>
                        <option value="soft" selected=soft>"Soft-deletes: keep the user, restorable"</option>
                    </select>
                </div>
                <div class="field">
                    <label for="soft-days">"Keep soft-deleted users for (days)"</label>
                    <input id="soft-days" name="soft_delete_days" type="number" min="1" max="365" required=true value=settings.soft_delete_days.to_string()/>
                </div>
                <p class="muted small">"Either way the user is gone for the identity provider (its userName is free again) and loses access at once. A soft-deleted user keeps their id, user groups and SCIM groups until restored or purged."</p>
                <div>
                    <button type="submit" class="btn btn-primary" data-testid="save-safety" disabled=move || save.pending().get()>"Save"</button>
                </div>
            </ActionForm>
            <Show when=move || error().is_some()>
                <ErrorNotice message=error().unwrap_or_default()/>
            </Show>
            <Show when=saved>
                <SuccessNotice message="Saved."/>
            </Show>
        </section>
    }
}

#[component]
fn Deleted(users: Vec<roster_shared::dto::DeletedUser>, restore: ServerAction<DeletedRestore>) -> impl IntoView {
    let error = move || restore.value().get().and_then(Result::err).map(|e| e.to_string());
    view! {
        <section class="card section" aria-labelledby="deleted">
            <h2 id="deleted">"Soft-deleted users"</h2>
            <Show when=move || error().is_some()>
                <ErrorNotice message=error().unwrap_or_default()/>
            </Show>
            {if users.is_empty() {
                view! { <p class="muted" data-testid="deleted-none">"None. With the soft-delete policy, users your identity provider deletes are kept here."</p> }.into_any()
            } else {
                view! {
                    <div class="table-wrap">
                        <table class="table" data-testid="deleted-table">
                            <thead>
                                <tr>
                                    <th scope="col">"User"</th>
                                    <th scope="col">"Deleted"</th>
                                    <th scope="col">"Purged"</th>
                                    <th scope="col"><span class="sr-only">"Actions"</span></th>
                                </tr>
                            </thead>
                            <tbody>
                                {users.into_iter().map(|u| view! {
                                    <tr data-testid="deleted-row">
                                        <td>
                                            <div>{u.display_name.clone().unwrap_or_else(|| u.user_name.clone())}</div>
                                            <div class="muted small">{u.user_name.clone()}</div>
                                        </td>
                                        <td>{datetime(u.deleted_at_ms)}</td>
                                        <td>{datetime(u.purge_at_ms)}</td>
                                        <td class="actions">
                                            <ActionForm action=restore>
                                                <input type="hidden" name="id" value=u.id.clone()/>
                                                <button type="submit" class="btn btn-ghost btn-small" data-testid="restore">"Restore"</button>
                                            </ActionForm>
                                        </td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }.into_any()
            }}
        </section>
    }
}
