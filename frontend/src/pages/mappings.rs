//! Mappings: rules that place users in user groups from their IdP groups or attributes.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use roster_shared::dto::AttributeSuggestion;
use roster_shared::rules::{Condition, RuleDef};

use crate::api::forms::MappingRuleCreate;
use crate::api::mappings::{
    create_mapping_rule, delete_mapping_rule, latest_mapping_run, list_idp_groups, list_mapping_rules,
    preview_mapping_rule, reevaluate_mappings, reorder_mapping_rules, rule_attributes, update_mapping_rule,
};
use crate::api::user_groups::list_user_groups;
use crate::components::action_form::ActionForm;
use crate::components::format::{count, datetime};
use crate::components::layout::NavRefresh;
use crate::components::notice::{ErrorNotice, SuccessNotice};
use crate::resource;

/// The lookups the page needs, loaded together.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Data {
    rules: Vec<RuleDef>,
    user_groups: Vec<(String, String)>,
    idp_groups: Vec<(String, String)>,
    attributes: Vec<AttributeSuggestion>,
}

async fn load() -> Result<Data, crate::error::UiError> {
    let rules = list_mapping_rules().await?;
    let user_groups = list_user_groups().await?.into_iter().map(|g| (g.id, g.name)).collect();
    let idp_groups = list_idp_groups().await?;
    let attributes = rule_attributes().await?;
    Ok(Data { rules, user_groups, idp_groups, attributes })
}

fn name_of(list: &[(String, String)], id: &str) -> String {
    list.iter().find(|(i, _)| i == id).map(|(_, n)| n.clone()).unwrap_or_else(|| format!("(deleted {id})"))
}

/// `/mappings`.
#[component]
pub fn MappingsPage() -> impl IntoView {
    let refresh = RwSignal::new(0u32);
    let data = resource::load(move || refresh.get(), |_| load());
    let editing: RwSignal<Option<RuleDef>> = RwSignal::new(None);
    let nav = use_context::<NavRefresh>();
    let bump = move || {
        refresh.update(|r| *r += 1);
        if let Some(NavRefresh(n)) = nav {
            n.update(|v| *v += 1);
        }
    };
    view! {
        <Title text="Mappings"/>
        <div class="page-header">
            <div>
                <h1>"Mappings"</h1>
                <p class="muted">
                    "Rules put users into user groups automatically: from the groups your identity provider pushes, or from user attributes such as country or department. A user is placed again whenever the identity provider changes them; what an admin assigned by hand is never taken away. Users no rule places go to the "
                    <A href="/user-groups">"default user group"</A> ", if you set one."
                </p>
            </div>
        </div>
        <RunStatus refresh/>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || resource::suspend(async move {
                match data.await {
                    Err(e) => view! { <ErrorNotice message=e.to_string()/> }.into_any(),
                    Ok(d) => {
                        let form_data = d.clone();
                        view! {
                            // Re-created when "Edit" picks a rule, so the form starts from it.
                            {move || {
                                let existing = editing.get();
                                view! { <NewRule data=form_data.clone() existing on_saved=move || { editing.set(None); bump(); } on_cancel=move || editing.set(None)/> }
                            }}
                            <Rules data=d on_changed=bump editing/>
                        }
                        .into_any()
                    }
                }
            })}
        </Transition>
    }
}

#[component]
fn NewRule(
    data: Data,
    existing: Option<RuleDef>,
    on_saved: impl Fn() + Copy + Send + Sync + 'static,
    on_cancel: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let (kind0, idp0, filter0) = match existing.as_ref().map(|r| &r.condition) {
        Some(Condition::IdpGroup { group_id }) => ("idp_group", group_id.clone(), String::new()),
        Some(Condition::Attribute { filter }) => ("attribute", String::new(), filter.clone()),
        None if data.idp_groups.is_empty() => ("attribute", String::new(), String::new()),
        None => ("idp_group", String::new(), String::new()),
    };
    let kind = RwSignal::new(kind0.to_string());
    let idp_group = RwSignal::new(idp0.clone());
    let target0 = existing.as_ref().map(|r| r.user_group_id.clone()).unwrap_or_default();
    let filter = RwSignal::new(filter0);
    let target = RwSignal::new(existing.as_ref().map(|r| r.user_group_id.clone()).unwrap_or_default());
    let rule_id = StoredValue::new(existing.as_ref().map(|r| r.id.clone()).unwrap_or_default());
    let enabled = existing.as_ref().map(|r| r.enabled).unwrap_or(true);
    let is_edit = existing.is_some();
    let save = Action::new(move |rule: &RuleDef| {
        let rule = rule.clone();
        async move {
            if is_edit {
                update_mapping_rule(rule).await
            } else {
                create_mapping_rule(rule).await.map(|_| ())
            }
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(_)) = save.value().get() {
            on_saved();
        }
    });
    let add = ServerAction::<MappingRuleCreate>::new();
    Effect::new(move |_| {
        if let Some(Ok(_)) = add.value().get() {
            on_saved();
        }
    });
    let current = move || {
        let condition = if kind.get() == "idp_group" {
            Condition::IdpGroup { group_id: idp_group.get() }
        } else {
            Condition::Attribute { filter: filter.get() }
        };
        RuleDef { id: rule_id.get_value(), condition, user_group_id: target.get(), enabled }
    };
    let preview = Action::new(move |rule: &RuleDef| {
        let rule = rule.clone();
        async move { preview_mapping_rule(rule, false).await }
    });
    let error = move || {
        save.value()
            .get()
            .and_then(Result::err)
            .or_else(|| add.value().get().and_then(Result::err))
            .or_else(|| preview.value().get().and_then(Result::err))
            .map(|e| e.to_string())
    };
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        save.dispatch(current());
    };
    let group_names = data.user_groups.clone();
    let no_groups = data.user_groups.is_empty();
    let pending = move || save.pending().get() || add.pending().get();
    // The fields; which of "IdP group" and "SCIM filter" shows follows the "When" choice in CSS
    // (`.rule-form:has(…)`), so that it works without JavaScript too.
    let fields = move || {
        view! {
            <div class="field">
                <label for="rule-kind">"When"</label>
                <select id="rule-kind" name="kind" bind:value=kind data-testid="rule-kind">
                    <option value="idp_group" selected=kind0 == "idp_group">"the user is in an IdP group"</option>
                    <option value="attribute" selected=kind0 == "attribute">"the user's attributes match a SCIM filter"</option>
                </select>
            </div>
            <div class="field">
                <label for="rule-target">"Put them in user group"</label>
                <select id="rule-target" name="user_group_id" bind:value=target required=true data-testid="rule-target">
                    <option value="">"Choose…"</option>
                    {data.user_groups.iter().map(|(id, name)| view! { <option value=id.clone() selected=*id == target0>{name.clone()}</option> }).collect_view()}
                </select>
            </div>
            <div class="field span-2 when-idp-group">
                <label for="rule-idp">"IdP group"</label>
                <select id="rule-idp" name="idp_group" bind:value=idp_group data-testid="rule-idp-group">
                    <option value="">"Choose…"</option>
                    {data.idp_groups.iter().map(|(id, name)| view! { <option value=id.clone() selected=*id == idp0>{name.clone()}</option> }).collect_view()}
                </select>
                {data.idp_groups.is_empty().then(|| view! { <p class="hint">"Your identity provider has pushed no groups yet (Okta: Push Groups; Entra ID: assign groups to the app)."</p> })}
            </div>
            <div class="field span-2 when-attribute">
                <label for="rule-filter">"SCIM filter"</label>
                <input id="rule-filter" name="filter" type="text" maxlength="2000" bind:value=filter data-testid="rule-filter"
                    list="rule-suggestions" autocomplete="off" placeholder="department eq \"Sales\""/>
                // The browser offers these as the admin types (no JavaScript needed).
                <datalist id="rule-suggestions">
                    {data.attributes.iter().flat_map(|a| {
                        a.values.iter().map(|v| format!("{} eq \"{}\"", a.name, v.replace('\\', "\\\\").replace('"', "\\\""))).collect::<Vec<_>>()
                    }).map(|s| view! { <option value=s/> }).collect_view()}
                </datalist>
                <p class="hint">
                    "Write attributes by name — " <code>"department"</code> ", " <code>"country"</code> ", " <code>"employeeNumber"</code> ", " <code>"title"</code>
                    " — and combine with " <code>"and"</code> ", " <code>"or"</code> ", " <code>"not"</code> ". Operators: "
                    <code>"eq"</code> " equals, " <code>"co"</code> " contains, " <code>"sw"</code> " starts with, " <code>"pr"</code> " is present. Examples: "
                    <code>"department eq \"Sales\""</code> " · " <code>"country eq \"US\" and title co \"Engineer\""</code>
                </p>
                {(!data.attributes.is_empty()).then(|| {
                    let attributes = data.attributes.clone();
                    view! {
                        <details class="attribute-picker" data-testid="attribute-picker">
                            <summary>"Attributes your users have"</summary>
                            <table class="table">
                                <thead><tr><th>"Attribute"</th><th>"Users"</th><th>"Common values (click to use)"</th></tr></thead>
                                <tbody>
                                    {attributes.into_iter().map(|a| {
                                        let name = a.name.clone();
                                        view! {
                                            <tr>
                                                <td><code>{a.name.clone()}</code> <div class="muted small">{a.label.clone()}</div></td>
                                                <td>{a.users}</td>
                                                <td>
                                                    {a.values.into_iter().map(|v| {
                                                        let condition = format!("{} eq \"{}\"", name, v.replace('\\', "\\\\").replace('"', "\\\""));
                                                        view! {
                                                            <button type="button" class="chip chip-button" title=condition.clone()
                                                                on:click=move |_| filter.set(condition.clone())>{v}</button>
                                                        }
                                                    }).collect_view()}
                                                </td>
                                            </tr>
                                        }
                                    }).collect_view()}
                                </tbody>
                            </table>
                        </details>
                    }
                })}
            </div>
            <Show when=move || error().is_some()>
                <div class="span-2"><ErrorNotice message=error().unwrap_or_default()/></div>
            </Show>
            <div class="span-2 row-start">
                <button type="button" class="btn btn-ghost" data-testid="preview-rule" disabled=move || preview.pending().get() || no_groups
                    on:click=move |_| { preview.dispatch(current()); }>
                    {move || if preview.pending().get() { "Previewing…" } else { "Preview" }}
                </button>
                <button type="submit" class="btn btn-primary" data-testid="save-rule" disabled=move || pending() || no_groups>
                    {move || if pending() { "Saving…" } else if is_edit { "Save rule" } else { "Add rule" }}
                </button>
                {is_edit.then(|| view! { <button type="button" class="btn btn-ghost" on:click=move |_| on_cancel()>"Cancel"</button> })}
            </div>
        }
    };
    view! {
        <section class="card section" aria-labelledby="new-rule">
            <h2 id="new-rule">{if is_edit { "Edit rule" } else { "New rule" }}</h2>
            {no_groups.then(|| view! {
                <p class="empty">"Create a user group first: rules place users into user groups. " <A href="/user-groups">"User groups"</A></p>
            })}
            {if is_edit {
                view! { <form class="form form-grid rule-form" on:submit=submit>{fields()}</form> }.into_any()
            } else {
                // Adding is a real form (see `api::forms`): it works without JavaScript.
                view! { <ActionForm action=add attr:class="form form-grid rule-form">{fields()}</ActionForm> }.into_any()
            }}
            {move || preview.value().get().and_then(Result::ok).map(|rows| {
                if rows.is_empty() {
                    view! { <p class="empty" data-testid="preview">"Saving this rule would change nobody's user groups."</p> }.into_any()
                } else {
                    view! {
                        <table class="table preview" data-testid="preview">
                            <thead><tr><th>"User group"</th><th>"Would gain"</th><th>"Would lose"</th></tr></thead>
                            <tbody>
                                {rows.into_iter().map(|r| view! {
                                    <tr>
                                        <td>{name_of(&group_names, &r.user_group_id)}</td>
                                        <td>"+" {r.gain} <div class="muted small">{r.gain_sample.join(", ")}</div></td>
                                        <td>"−" {r.lose} <div class="muted small">{r.lose_sample.join(", ")}</div></td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any()
                }
            })}
        </section>
    }
}

#[component]
fn Rules(
    data: Data,
    on_changed: impl Fn() + Copy + Send + Sync + 'static,
    editing: RwSignal<Option<RuleDef>>,
) -> impl IntoView {
    let update = Action::new(move |rule: &RuleDef| {
        let rule = rule.clone();
        async move { update_mapping_rule(rule).await }
    });
    let remove = Action::new(move |id: &String| {
        let id = id.clone();
        async move { delete_mapping_rule(id).await }
    });
    let reorder = Action::new(move |ids: &Vec<String>| {
        let ids = ids.clone();
        async move { reorder_mapping_rules(ids).await }
    });
    Effect::new(move |_| {
        if matches!(update.value().get(), Some(Ok(())))
            || matches!(remove.value().get(), Some(Ok(())))
            || matches!(reorder.value().get(), Some(Ok(())))
        {
            on_changed();
        }
    });
    let error = move || {
        update
            .value()
            .get()
            .and_then(Result::err)
            .or_else(|| remove.value().get().and_then(Result::err))
            .or_else(|| reorder.value().get().and_then(Result::err))
            .map(|e| e.to_string())
    };
    let busy = move || update.pending().get() || remove.pending().get() || reorder.pending().get();
    if data.rules.is_empty() {
        return view! {
            <div class="card empty-state" data-testid="rules-empty">
                <p>"No rules yet. Add one above; users already in Roster are placed at once."</p>
            </div>
        }
        .into_any();
    }
    let ids: Vec<String> = data.rules.iter().map(|r| r.id.clone()).collect();
    let n = data.rules.len();
    view! {
        <Show when=move || error().is_some()>
            <ErrorNotice message=error().unwrap_or_default()/>
        </Show>
        <Show when=move || busy()>
            <SuccessNotice message="Placing users…"/>
        </Show>
        <div class="card table-card">
            <div class="table-wrap">
                <table class="table" data-testid="rules-table">
                    <thead><tr><th>"#"</th><th>"When"</th><th>"User group"</th><th>"On"</th><th><span class="sr-only">"Actions"</span></th></tr></thead>
                    <tbody>
                        {data.rules.iter().enumerate().map(|(i, r)| {
                            let when = r.condition.describe(&data.idp_groups);
                            let toggled = RuleDef { enabled: !r.enabled, ..r.clone() };
                            let to_edit = r.clone();
                            let id = r.id.clone();
                            let (up, down) = {
                                let mut up = ids.clone();
                                let mut down = ids.clone();
                                if i > 0 { up.swap(i, i - 1); }
                                if i + 1 < n { down.swap(i, i + 1); }
                                (up, down)
                            };
                            view! {
                                <tr data-testid="rule-row" class:row-muted=!r.enabled>
                                    <td>{i + 1}</td>
                                    <td>{when}</td>
                                    <td>{name_of(&data.user_groups, &r.user_group_id)}</td>
                                    <td>
                                        <input type="checkbox" role="switch" aria-label="Rule on" checked=r.enabled prop:checked=r.enabled disabled=busy
                                            on:change=move |_| { update.dispatch(toggled.clone()); }/>
                                    </td>
                                    <td class="actions">
                                        <button type="button" class="btn btn-ghost btn-small" aria-label="Move up" disabled=move || i == 0 || busy()
                                            on:click=move |_| { reorder.dispatch(up.clone()); }>"↑"</button>
                                        <button type="button" class="btn btn-ghost btn-small" aria-label="Move down" disabled=move || i + 1 == n || busy()
                                            on:click=move |_| { reorder.dispatch(down.clone()); }>"↓"</button>
                                        <button type="button" class="btn btn-ghost btn-small" data-testid="edit-rule" disabled=busy
                                            on:click=move |_| editing.set(Some(to_edit.clone()))>"Edit"</button>
                                        <button type="button" class="btn btn-ghost btn-small btn-danger-text" disabled=busy
                                            on:click=move |_| { remove.dispatch(id.clone()); }>"Delete"</button>
                                    </td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
            <p class="muted small pad">"Deleting or switching off a rule takes away only the memberships it made."</p>
        </div>
    }
    .into_any()
}

/// The latest whole-tenant evaluation: progress while it runs (polled every second), when it
/// finished, and "Re-evaluate now".
#[component]
fn RunStatus(refresh: RwSignal<u32>) -> impl IntoView {
    let tick = RwSignal::new(0u32);
    let run = resource::load(move || (refresh.get(), tick.get()), |_| latest_mapping_run());
    let again = Action::new(|_: &()| reevaluate_mappings());
    Effect::new(move |_| {
        if let Some(Ok(_)) = again.value().get() {
            tick.update(|t| *t += 1);
        }
    });
    view! {
        <Transition fallback=|| ()>
            {move || resource::suspend(async move {
                let run = run.await.ok().flatten();
                let running = run.as_ref().is_some_and(|r| r.finished_at_ms.is_none());
                if running {
                    // Poll while the evaluation runs (in the browser only).
                    #[cfg(feature = "hydrate")]
                    set_timeout(move || tick.update(|t| *t += 1), std::time::Duration::from_millis(1000));
                }
                let text = match &run {
                    None => "Users are placed as soon as a rule is saved.".to_string(),
                    Some(r) if r.finished_at_ms.is_none() => match &r.job {
                        Some(j) if j.next_attempt_ms.is_some() => format!(
                            "Placing users after “{}”: {} of {} so far. Try {} failed ({}); it is tried again automatically at {}.",
                            r.reason,
                            count(r.done),
                            count(r.total),
                            j.attempts,
                            j.last_error.clone().unwrap_or_default(),
                            j.next_attempt_ms.map(datetime).unwrap_or_default()
                        ),
                        Some(j) if j.state == "queued" && r.done > 0 => format!(
                            "Placing users after “{}”: {} of {}; paused while an instance restarts, it resumes where it stopped…",
                            r.reason,
                            count(r.done),
                            count(r.total)
                        ),
                        Some(j) if j.state == "queued" => format!("Placing users after “{}”: waiting to start…", r.reason),
                        _ => format!("Placing users after “{}”: {} of {}…", r.reason, count(r.done), count(r.total)),
                    },
                    Some(r) if r.error.is_some() => format!("The last evaluation ({}) failed: {}", r.reason, r.error.clone().unwrap_or_default()),
                    Some(r) if r.done == 0 => format!(
                        "Rules saved (“{}” at {}); there are no users to place yet.",
                        r.reason,
                        r.finished_at_ms.map(datetime).unwrap_or_default()
                    ),
                    Some(r) => format!(
                        "{} user{} evaluated after “{}” at {}: {}.",
                        count(r.done),
                        if r.done == 1 { "" } else { "s" },
                        r.reason,
                        r.finished_at_ms.map(datetime).unwrap_or_default(),
                        match r.changed {
                            0 => "nobody changed user groups".to_string(),
                            1 => "1 user changed user groups".to_string(),
                            n => format!("{} users changed user groups", count(n)),
                        }
                    ),
                };
                view! {
                    <div class="notice notice-info row-between" data-testid="mapping-run">
                        <span>{text}</span>
                        <button type="button" class="btn btn-ghost btn-small" disabled=move || running || again.pending().get()
                            on:click=move |_| { again.dispatch(()); }>"Re-evaluate now"</button>
                    </div>
                }
            })}
        </Transition>
    }
}
