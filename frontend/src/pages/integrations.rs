//! `/integrations`: how the platform's applications learn the organization's changes — API
//! keys for the read API (events, users, groups) and webhook endpoints, each with its latest
//! deliveries, *Send test event*, *Resend*, *Retry*.

use leptos::prelude::*;
use leptos_meta::Title;
use roster_shared::dto::{ApiKeyView, DeliveryView, EndpointView, Integrations, NewIntegrationSecret, EVENT_TYPES};

use crate::api::integrations::{
    load_integrations, take_integration_secret, ApiKeyCreate, ApiKeyRevoke, WebhookAction, WebhookCreate, WebhookResend,
};
use crate::components::action_form::ActionForm;
use crate::components::copy::CopyField;
use crate::components::format::datetime;
use crate::components::notice::{ErrorNotice, SuccessNotice};
use crate::resource;

/// The page's forms, shared by its sections.
#[derive(Clone, Copy)]
struct Forms {
    key_create: ServerAction<ApiKeyCreate>,
    key_revoke: ServerAction<ApiKeyRevoke>,
    hook_create: ServerAction<WebhookCreate>,
    hook_action: ServerAction<WebhookAction>,
    resend: ServerAction<WebhookResend>,
}

/// `/integrations`.
#[component]
pub fn IntegrationsPage() -> impl IntoView {
    let forms = Forms {
        key_create: ServerAction::new(),
        key_revoke: ServerAction::new(),
        hook_create: ServerAction::new(),
        hook_action: ServerAction::new(),
        resend: ServerAction::new(),
    };
    let data = resource::load(
        move || {
            (
                forms.key_create.version().get(),
                forms.key_revoke.version().get(),
                forms.hook_create.version().get(),
                forms.hook_action.version().get(),
                forms.resend.version().get(),
            )
        },
        |_| load_integrations(),
    );
    let waiting = resource::load(|| (), |_| take_integration_secret());
    let new_secret: RwSignal<Option<NewIntegrationSecret>> = RwSignal::new(None);
    // The secret just made (by either form), shown until dismissed.
    Effect::new(move |_| {
        if let Some(s) = forms.key_create.value().get().and_then(Result::ok) {
            new_secret.set(Some(s));
        }
    });
    Effect::new(move |_| {
        if let Some(s) = forms.hook_create.value().get().and_then(Result::ok) {
            new_secret.set(Some(s));
        }
    });
    view! {
        <Title text="Integrations"/>
        <div class="page-header">
            <div>
                <h1>"Integrations"</h1>
                <p class="muted">
                    "Your applications learn every provisioning change: webhooks push each event as it happens, "
                    "and the API serves the events and the directory to read."
                </p>
            </div>
        </div>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || resource::suspend(async move {
                let waiting = waiting.await.ok().flatten();
                match data.await {
                    Err(e) => view! { <ErrorNotice message=e.to_string()/> }.into_any(),
                    Ok(d) => view! { <Page data=d forms new_secret waiting/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn Page(
    data: Integrations,
    forms: Forms,
    new_secret: RwSignal<Option<NewIntegrationSecret>>,
    waiting: Option<NewIntegrationSecret>,
) -> impl IntoView {
    let dismissed = RwSignal::new(false);
    let secret = Signal::derive(move || new_secret.get().or_else(|| waiting.clone().filter(|_| !dismissed.get())));
    let close = move || {
        new_secret.set(None);
        dismissed.set(true);
    };
    view! {
        {move || secret.get().map(|s| view! { <SecretPanel secret=s on_close=close/> })}
        <Webhooks endpoints=data.endpoints.clone() forms last_seq=data.last_seq/>
        <Keys keys=data.keys.clone() api_url=data.api_url.clone() retention_days=data.retention_days forms/>
    }
}

#[component]
fn SecretPanel(secret: NewIntegrationSecret, on_close: impl Fn() + Send + Sync + 'static) -> impl IntoView {
    let (title, label, what) = if secret.kind == "api_key" {
        ("Your new API key “", "API key", "Send it as Authorization: Bearer … to the API.")
    } else {
        (
            "The signing secret of ",
            "Signing secret",
            "Your endpoint checks each delivery's Roster-Signature header with it.",
        )
    };
    view! {
        <section class="card section secret-panel" role="status" data-testid="new-integration-secret">
            <h2>{title} {secret.name.clone()} {if secret.kind == "api_key" { "”" } else { "" }}</h2>
            <div class="notice notice-warning">
                <span class="notice-icon" aria-hidden="true">"!"</span>
                <span><strong>"Copy it now: it will not be shown again."</strong> " " {what}</span>
            </div>
            <dl class="facts">
                <dt>{label}</dt>
                <dd><CopyField value=secret.secret.clone() label=label testid="integration-secret"/></dd>
            </dl>
            <a href="/integrations" class="btn btn-ghost" data-testid="integration-secret-stored"
                on:click=move |ev| { ev.prevent_default(); on_close(); }>"I have stored it"</a>
        </section>
    }
}

#[component]
fn Keys(keys: Vec<ApiKeyView>, api_url: String, retention_days: i64, forms: Forms) -> impl IntoView {
    let (create, revoke) = (forms.key_create, forms.key_revoke);
    let error = move || {
        create
            .value()
            .get()
            .and_then(Result::err)
            .or_else(|| revoke.value().get().and_then(Result::err))
            .map(|e| e.to_string())
    };
    let openapi = format!("{api_url}/openapi.json");
    let empty = keys.is_empty();
    view! {
        <section class="card section" aria-labelledby="api-keys" data-testid="api-keys">
            <h2 id="api-keys">"API keys"</h2>
            <p class="muted small">
                "A key reads this organization's events (kept " {retention_days} " days), users, groups and user groups. "
                "It cannot change anything. "
                <a href=openapi.clone() data-testid="openapi-link">"OpenAPI document"</a>
            </p>
            <dl class="facts">
                <dt>"API base URL"</dt>
                <dd><CopyField value=api_url.clone() label="API base URL" testid="api-url"/></dd>
            </dl>
            {if empty {
                view! { <p class="muted" data-testid="no-keys">"No API keys yet."</p> }.into_any()
            } else {
                view! {
                    <div class="table-wrap">
                        <table class="table" data-testid="keys-table">
                            <thead>
                                <tr>
                                    <th scope="col">"Name"</th>
                                    <th scope="col">"Key"</th>
                                    <th scope="col">"Created"</th>
                                    <th scope="col">"Last used"</th>
                                    <th scope="col"><span class="sr-only">"Actions"</span></th>
                                </tr>
                            </thead>
                            <tbody>
                                {keys.into_iter().map(|k| {
                                    let revoked = k.revoked_at.is_some();
                                    view! {
                                        <tr data-testid="key-row">
                                            <td class="wrap">{k.name.clone()}</td>
                                            <td class="nowrap"><code>{k.prefix.clone()} "…"</code></td>
                                            <td class="small">{datetime(k.created_at)} <br/><span class="muted">{k.created_by.clone()}</span></td>
                                            <td class="small">{k.last_used_at.map_or_else(|| "Never".to_string(), datetime)}</td>
                                            <td class="actions">
                                                {if revoked {
                                                    view! { <span class="badge badge-muted">"Revoked"</span> }.into_any()
                                                } else {
                                                    view! {
                                                        // The confirmation opens without JavaScript too.
                                                        <details class="confirm-details">
                                                            <summary class="btn btn-ghost btn-small" data-testid="revoke-key">
                                                                <span class="when-closed btn-danger-text">"Revoke"</span>
                                                                <span class="when-open">"Cancel"</span>
                                                            </summary>
                                                            <span class="confirm">
                                                                "Requests with it will be refused. "
                                                                <ActionForm action=revoke attr:class="cell-form">
                                                                    <input type="hidden" name="id" value=k.id.clone()/>
                                                                    <button type="submit" class="btn btn-danger btn-small" data-testid="confirm-revoke-key"
                                                                        disabled=move || revoke.pending().get()>"Revoke"</button>
                                                                </ActionForm>
                                                            </span>
                                                        </details>
                                                    }.into_any()
                                                }}
                                            </td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }.into_any()
            }}
            <ActionForm action=create attr:class="form form-inline">
                <div class="field">
                    <label for="key-name">"Name"</label>
                    <input id="key-name" name="name" type="text" required maxlength="100" placeholder="e.g. Billing service" data-testid="key-name"/>
                </div>
                <button type="submit" class="btn btn-primary" data-testid="create-key" disabled=move || create.pending().get()>"Create API key"</button>
            </ActionForm>
            <Show when=move || error().is_some()>
                <ErrorNotice message=error().unwrap_or_default()/>
            </Show>
        </section>
    }
}

fn status(e: &EndpointView) -> (String, &'static str) {
    if !e.enabled {
        ("Off".into(), "badge-muted")
    } else if e.failing {
        ("Failing".into(), "badge-danger")
    } else if e.attempts > 0 {
        (format!("Retrying ({} failed)", e.attempts), "badge-warning")
    } else {
        ("Active".into(), "badge-ok")
    }
}

#[component]
fn Webhooks(endpoints: Vec<EndpointView>, forms: Forms, last_seq: i64) -> impl IntoView {
    let create = forms.hook_create;
    let action = forms.hook_action;
    let resend = forms.resend;
    let create_error = move || create.value().get().and_then(Result::err).map(|e| e.to_string());
    let outcome = move || action.value().get().or_else(|| resend.value().get()).map(|r| r.map_err(|e| e.to_string()));
    let empty = endpoints.is_empty();
    view! {
        <section class="card section" aria-labelledby="webhooks" data-testid="webhooks">
            <h2 id="webhooks">"Webhooks"</h2>
            <p class="muted small">
                "Roster sends each event to your endpoints as an HTTPS POST, signed (Roster-Signature), in order, and retries for a day when an endpoint fails. "
                {if last_seq == 0 { "No events yet.".to_string() } else { format!("Events so far: {last_seq}.") }}
            </p>
            {move || outcome().map(|r| match r {
                Ok(m) => view! { <SuccessNotice message=m/> }.into_any(),
                Err(m) => view! { <ErrorNotice message=m/> }.into_any(),
            })}
            {if empty {
                view! { <p class="muted" data-testid="no-endpoints">"No endpoints yet."</p> }.into_any()
            } else {
                endpoints.into_iter().map(|e| view! { <Endpoint endpoint=e forms/> }).collect_view().into_any()
            }}
            <details class="guide" data-testid="add-endpoint" open=empty>
                <summary>"Add an endpoint"</summary>
                <ActionForm action=create attr:class="form">
                    <div class="field">
                        <label for="hook-url">"URL"</label>
                        <input id="hook-url" name="url" type="url" required maxlength="2000" placeholder="https://app.example.com/roster/events" data-testid="hook-url"/>
                    </div>
                    <div class="field">
                        <label for="hook-description">"Description (optional)"</label>
                        <input id="hook-description" name="description" type="text" maxlength="200" data-testid="hook-description"/>
                    </div>
                    <fieldset class="field">
                        <legend>"Events (none ticked: all)"</legend>
                        <div class="checks">
                            {EVENT_TYPES.iter().map(|t| view! {
                                <label class="check"><input type="checkbox" name="types[]" value=*t/> <code>{*t}</code></label>
                            }).collect_view()}
                        </div>
                    </fieldset>
                    <button type="submit" class="btn btn-primary" data-testid="create-endpoint" disabled=move || create.pending().get()>"Add endpoint"</button>
                </ActionForm>
                <Show when=move || create_error().is_some()>
                    <ErrorNotice message=create_error().unwrap_or_default()/>
                </Show>
            </details>
        </section>
    }
}

#[component]
fn Endpoint(endpoint: EndpointView, forms: Forms) -> impl IntoView {
    let (label, badge) = status(&endpoint);
    let action = forms.hook_action;
    let id = endpoint.id.clone();
    let button = move |name: &'static str, text: &'static str, class: &'static str| {
        let id = id.clone();
        view! {
            <ActionForm action=action>
                <input type="hidden" name="id" value=id/>
                <input type="hidden" name="action" value=name/>
                <button type="submit" class=format!("btn btn-small {class}") data-testid=if name == "delete" { "endpoint-delete-confirm".to_string() } else { format!("endpoint-{name}") }>{text}</button>
            </ActionForm>
        }
    };
    let types = if endpoint.types.is_empty() { "All events".to_string() } else { endpoint.types.join(", ") };
    let retrying = endpoint.failing || endpoint.attempts > 0;
    view! {
        <article class="endpoint" data-testid="endpoint">
            <div class="row-between">
                <div class="endpoint-title">
                    <code class="wrap" data-testid="endpoint-url">{endpoint.url.clone()}</code>
                    " "
                    <span class=format!("badge {badge}") data-testid="endpoint-status">{label}</span>
                    {(!endpoint.description.is_empty()).then(|| view! { <p class="muted small">{endpoint.description.clone()}</p> })}
                    <p class="muted small">
                        {types} " · "
                        <span data-testid="endpoint-backlog">{match endpoint.backlog {
                            0 => "up to date".to_string(),
                            1 => "1 event waiting".to_string(),
                            n => format!("{n} events waiting"),
                        }}</span>
                        {endpoint.next_attempt_at.map(|at| format!(" · next attempt {}", datetime(at)))}
                    </p>
                    {endpoint.last_error.clone().filter(|_| retrying).map(|e| view! { <p class="small text-danger">{e}</p> })}
                </div>
                <div class="actions">
                    {button("test", "Send test event", "btn-ghost")}
                    {retrying.then(|| button("retry", "Retry now", "btn-primary"))}
                    {if endpoint.enabled { button("disable", "Turn off", "btn-ghost") } else { button("enable", "Turn on", "btn-ghost") }}
                    <details class="confirm-details">
                        <summary class="btn btn-ghost btn-small" data-testid="endpoint-delete">
                            <span class="when-closed btn-danger-text">"Delete"</span>
                            <span class="when-open">"Cancel"</span>
                        </summary>
                        <span class="confirm">
                            "Its deliveries stop and its log is deleted. "
                            {button("delete", "Delete endpoint", "btn-danger")}
                        </span>
                    </details>
                </div>
            </div>
            <Deliveries deliveries=endpoint.deliveries.clone() forms/>
        </article>
    }
}

#[component]
fn Deliveries(deliveries: Vec<DeliveryView>, forms: Forms) -> impl IntoView {
    let resend = forms.resend;
    if deliveries.is_empty() {
        return view! { <p class="muted small" data-testid="no-deliveries">"No deliveries yet."</p> }.into_any();
    }
    view! {
        <div class="table-wrap">
            <table class="table" data-testid="deliveries">
                <thead>
                    <tr>
                        <th scope="col">"When"</th>
                        <th scope="col">"Event"</th>
                        <th scope="col">"Result"</th>
                        <th scope="col">"Time"</th>
                        <th scope="col">"Answer"</th>
                        <th scope="col"><span class="sr-only">"Actions"</span></th>
                    </tr>
                </thead>
                <tbody>
                    {deliveries.into_iter().map(|d| {
                        let result = match (d.ok, d.status_code) {
                            (true, Some(c)) => (format!("{c}"), "badge-ok"),
                            (true, None) => ("OK".to_string(), "badge-ok"),
                            (false, Some(c)) => (format!("{c}"), "badge-danger"),
                            (false, None) => ("Failed".to_string(), "badge-danger"),
                        };
                        let kind = match d.kind.as_str() {
                            "test" => " (test)".to_string(),
                            "resend" => " (resent)".to_string(),
                            _ if d.attempt > 1 => format!(" (attempt {})", d.attempt),
                            _ => String::new(),
                        };
                        let answer = d.response.clone().or(d.error.clone()).unwrap_or_default();
                        view! {
                            <tr data-testid="delivery">
                                <td class="small">{datetime(d.at)}</td>
                                <td><code>{d.event_type.clone()}</code><span class="muted small">{kind}</span></td>
                                <td><span class=format!("badge {}", result.1) data-testid="delivery-status">{result.0}</span></td>
                                <td class="small">{d.latency_ms} " ms"</td>
                                <td class="small wrap excerpt">{answer}</td>
                                <td class="actions">
                                    {(d.kind != "test").then(|| view! {
                                        <ActionForm action=resend>
                                            <input type="hidden" name="delivery" value=d.id.clone()/>
                                            <button type="submit" class="btn btn-small btn-ghost" data-testid="resend">"Resend"</button>
                                        </ActionForm>
                                    })}
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}
