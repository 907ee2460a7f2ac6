//! SCIM provisioning: switch it on, hand the identity provider a URL and a credential, follow
//! the setup guide for Okta or Entra ID, and watch the traffic.
//!
//! The switch, *Generate*, *Rotate* and *Revoke* are real forms (see `api::forms`): they work
//! before the page is hydrated and without JavaScript.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use roster_shared::dto::{CredentialKind, CredentialView, NewSecret, ScimHealth, ScimSetup};

use crate::api::forms::{take_new_secret, CredentialCreate, CredentialRevoke, CredentialRotate, ScimSwitch};
use crate::api::scim_setup::load_scim_setup;
use crate::components::action_form::ActionForm;
use crate::components::copy::CopyField;
use crate::components::format::{count, datetime, health_badge};
use crate::components::notice::ErrorNotice;
use crate::error::UiError;
use crate::resource;

/// The page's forms; the page reloads its data after each.
#[derive(Clone, Copy)]
struct Forms {
    switch: ServerAction<ScimSwitch>,
    create: ServerAction<CredentialCreate>,
    revoke: ServerAction<CredentialRevoke>,
    rotate: ServerAction<CredentialRotate>,
}

/// The page.
#[component]
pub fn ScimPage() -> impl IntoView {
    let forms = Forms {
        switch: ServerAction::new(),
        create: ServerAction::new(),
        revoke: ServerAction::new(),
        rotate: ServerAction::new(),
    };
    let setup = resource::load(
        move || {
            (
                forms.switch.version().get(),
                forms.create.version().get(),
                forms.revoke.version().get(),
                forms.rotate.version().get(),
            )
        },
        |_| load_scim_setup(),
    );
    // A secret made by a form posted without JavaScript waits in the session for this page.
    let waiting = resource::load(|| (), |_| take_new_secret());
    // The secret just made, shown until the admin dismisses it.
    let new_secret: RwSignal<Option<NewSecret>> = RwSignal::new(None);
    Effect::new(move |_| {
        let made = forms.create.value().get().and_then(Result::ok);
        let rotated = forms.rotate.value().get().and_then(Result::ok);
        if let Some(s) = made.or(rotated) {
            new_secret.set(Some(s));
        }
    });

    view! {
        <Title text="SCIM provisioning"/>
        <div class="page-header">
            <div>
                <h1>"SCIM provisioning"</h1>
                <p class="muted">
                    "Your identity provider creates, updates and deactivates users and groups in Roster over SCIM 2.0."
                </p>
            </div>
        </div>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || resource::suspend(async move {
                let waiting = waiting.await.ok().flatten();
                match setup.await {
                    Ok(s) => view! { <Setup setup=s forms new_secret waiting/> }.into_any(),
                    Err(e) => view! { <ErrorNotice message=e.to_string()/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn Setup(
    setup: ScimSetup,
    forms: Forms,
    new_secret: RwSignal<Option<NewSecret>>,
    waiting: Option<NewSecret>,
) -> impl IntoView {
    let enabled = setup.enabled;
    let switch = forms.switch;
    let switch_error = move || switch.value().get().and_then(Result::err).map(|e| e.to_string());
    // While the switch's request runs, it already shows where it is going.
    let shown_on = move || if switch.pending().get() { !enabled } else { enabled };
    let active = setup.credentials.iter().filter(|c| c.revoked_at_ms.is_none()).count();
    let base_url = setup.scim_base_url.clone();
    let dismissed = RwSignal::new(false);
    let secret = Signal::derive(move || new_secret.get().or_else(|| waiting.clone().filter(|_| !dismissed.get())));

    view! {
        <section class="card section" aria-labelledby="scim-status">
            <div class="row-between">
                <div>
                    <h2 id="scim-status">
                        "Status "
                        {if enabled {
                            view! { <span class="badge badge-ok" data-testid="scim-status">"On"</span> }.into_any()
                        } else {
                            view! { <span class="badge badge-muted" data-testid="scim-status">"Off"</span> }.into_any()
                        }}
                    </h2>
                    <p class="muted small">
                        {if enabled {
                            "Roster accepts SCIM requests that carry one of the active credentials below."
                        } else {
                            "Roster refuses every SCIM request (401) until you activate SCIM."
                        }}
                    </p>
                </div>
                <ActionForm action=switch>
                    <input type="hidden" name="enabled" value=(!enabled).to_string()/>
                    <button
                        type="submit"
                        class="switch"
                        role="switch"
                        data-testid="scim-switch"
                        aria-checked=move || shown_on().to_string()
                        disabled=move || switch.pending().get()
                    >
                        <span class="switch-track" aria-hidden="true"></span>
                        <span>"Activate SCIM"</span>
                    </button>
                </ActionForm>
            </div>
            <Show when=move || switch_error().is_some()>
                <ErrorNotice message=switch_error().unwrap_or_default()/>
            </Show>
            <dl class="facts">
                <dt>"SCIM base URL"</dt>
                <dd><CopyField value=base_url.clone() label="SCIM base URL" testid="scim-base-url"/></dd>
                <dt>"Active credentials"</dt>
                <dd>{active}</dd>
            </dl>
        </section>

        <NewCredential create=forms.create enabled/>

        <Show when=move || secret.get().is_some()>
            {move || secret.get().map(|s| view! {
                <SecretPanel secret=s on_close=move || { new_secret.set(None); dismissed.set(true); }/>
            })}
        </Show>

        <Credentials credentials=setup.credentials.clone() forms/>
        <Health health=setup.health.clone()/>
        <crate::components::diagnostics::DiagnosticsCard d=setup.diagnostics.clone() base_url=setup.scim_base_url.clone() activity="/activity".to_string()/>
        <Guides base_url=setup.scim_base_url.clone()/>
    }
}

#[component]
fn NewCredential(create: ServerAction<CredentialCreate>, enabled: bool) -> impl IntoView {
    let kind = RwSignal::new(String::from("bearer"));
    let error = move || create.value().get().and_then(Result::err).map(|e| e.to_string());
    view! {
        <section class="card section" aria-labelledby="generate">
            <h2 id="generate">"Generate SCIM URL and token"</h2>
            <p class="muted small">
                "Make one credential per identity provider connection. You can rotate it later: the old one keeps working until you revoke it."
                {(!enabled).then_some(" SCIM is off: the credential will work once you activate SCIM.")}
            </p>
            <ActionForm action=create attr:class="form form-inline">
                <div class="field">
                    <label for="cred-name">"Name"</label>
                    <input id="cred-name" name="name" type="text" required=true maxlength="100" value="Okta"/>
                </div>
                <div class="field">
                    <label for="cred-kind">"Authentication"</label>
                    <select id="cred-kind" name="kind" on:change=move |ev| kind.set(event_target_value(&ev))>
                        <option value="bearer" selected=true>"Bearer token (Okta, Entra ID)"</option>
                        <option value="oauth_client">"OAuth 2.0 client credentials"</option>
                        <option value="basic">"HTTP Basic"</option>
                    </select>
                </div>
                <div class="field">
                    <label for="cred-expiry">"Expires"</label>
                    // OAuth clients do not expire (their access tokens do): the server ignores
                    // this for them.
                    <select id="cred-expiry" name="expires" disabled=move || kind.get() == "oauth_client">
                        <option value="30">"In 30 days"</option>
                        <option value="90">"In 90 days"</option>
                        <option value="365" selected=true>"In 1 year"</option>
                        <option value="never">"Never"</option>
                    </select>
                </div>
                <button type="submit" class="btn btn-primary" data-testid="generate-token" disabled=move || create.pending().get()>
                    {move || if create.pending().get() { "Generating…" } else { "Generate" }}
                </button>
            </ActionForm>
            <Show when=move || error().is_some()>
                <ErrorNotice message=error().unwrap_or_default()/>
            </Show>
        </section>
    }
}

#[component]
fn SecretPanel(secret: NewSecret, on_close: impl Fn() + Send + Sync + 'static) -> impl IntoView {
    let (secret_label, id_label) = match secret.credential.kind {
        CredentialKind::OauthClient => ("Client secret", Some("Client ID")),
        CredentialKind::Basic => ("Password", Some("User name")),
        CredentialKind::Bearer => ("Token", None),
    };
    view! {
        <section class="card section secret-panel" role="status" data-testid="new-secret">
            <h2>"Your new credential “" {secret.credential.name.clone()} "”"</h2>
            <div class="notice notice-warning">
                <span class="notice-icon" aria-hidden="true">"!"</span>
                <span>
                    <strong>"Copy it now: it will not be shown again."</strong>
                    " Roster keeps only a fingerprint of it. If it is lost, generate a new one."
                </span>
            </div>
            <dl class="facts">
                <dt>"SCIM base URL"</dt>
                <dd><CopyField value=secret.scim_base_url.clone() label="SCIM base URL" testid="secret-base-url"/></dd>
                {id_label.map(|l| view! {
                    <dt>{l}</dt>
                    <dd><CopyField value=secret.credential.id.clone() label=l testid="secret-id"/></dd>
                })}
                {secret.token_endpoint.clone().map(|t| view! {
                    <dt>"Token endpoint"</dt>
                    <dd><CopyField value=t label="Token endpoint"/></dd>
                })}
                <dt>{secret_label}</dt>
                <dd><CopyField value=secret.secret.clone() label=secret_label testid="secret-value"/></dd>
            </dl>
            // A link, so that it also works without JavaScript (the page comes back without
            // the secret, which was shown once).
            <a href="/scim" class="btn btn-ghost" data-testid="secret-stored"
                on:click=move |ev| { ev.prevent_default(); on_close(); }>"I have stored it"</a>
        </section>
    }
}

#[component]
fn Credentials(credentials: Vec<CredentialView>, forms: Forms) -> impl IntoView {
    let (revoke, rotate) = (forms.revoke, forms.rotate);
    let error = move || {
        revoke
            .value()
            .get()
            .and_then(Result::err)
            .or_else(|| rotate.value().get().and_then(Result::err))
            .map(|e: UiError| e.to_string())
    };
    let empty = credentials.is_empty();
    view! {
        <section class="card section" aria-labelledby="credentials">
            <h2 id="credentials">"Credentials"</h2>
            <Show when=move || error().is_some()>
                <ErrorNotice message=error().unwrap_or_default()/>
            </Show>
            {if empty {
                view! {
                    <p class="empty">"No credentials yet. Generate one above and paste it into your identity provider."</p>
                }
                    .into_any()
            } else {
                view! {
                    <div class="table-wrap">
                        <table class="table" data-testid="credentials">
                            <thead>
                                <tr>
                                    <th>"Name"</th>
                                    <th>"Kind"</th>
                                    <th>"Prefix"</th>
                                    <th>"Created by"</th>
                                    <th>"Created"</th>
                                    <th>"Last used"</th>
                                    <th>"Expires"</th>
                                    <th>"Status"</th>
                                    <th><span class="sr-only">"Actions"</span></th>
                                </tr>
                            </thead>
                            <tbody>
                                {credentials
                                    .into_iter()
                                    .map(|c| {
                                        let revoked = c.revoked_at_ms.is_some();
                                        let expired = c.expired;
                                        let replaced = c.replaced_by.is_some();
                                        let id = c.id.clone();
                                        view! {
                                            <tr data-testid="credential-row" class:row-muted=revoked || expired>
                                                <td>
                                                    {c.name.clone()}
                                                    {(!revoked).then(|| c.replaced_by.clone()).flatten().map(|new| view! {
                                                        <span class="muted small replaced-note">
                                                            "Replaced by “" {new} "”: revoke this one once your identity provider uses the new one."
                                                        </span>
                                                    })}
                                                </td>
                                                <td>{c.kind.title()}</td>
                                                <td><code>{c.prefix.clone()} "…"</code></td>
                                                <td>{c.created_by.clone()}</td>
                                                <td>{datetime(c.created_at_ms)}</td>
                                                <td>{c.last_used_at_ms.map(datetime).unwrap_or_else(|| "Never".into())}</td>
                                                <td>{c.expires_at_ms.map(datetime).unwrap_or_else(|| "Never".into())}</td>
                                                <td>
                                                    {if revoked {
                                                        view! { <span class="badge badge-danger">"Revoked"</span> }.into_any()
                                                    } else if expired {
                                                        view! { <span class="badge badge-muted">"Expired"</span> }.into_any()
                                                    } else if c.replaced_by.is_some() {
                                                        view! { <span class="badge badge-warning" data-testid="replaced">"Replaced"</span> }.into_any()
                                                    } else {
                                                        view! { <span class="badge badge-ok">"Active"</span> }.into_any()
                                                    }}
                                                </td>
                                                <td class="actions">
                                                    {(!revoked).then(|| {
                                                        let id2 = id.clone();
                                                        view! {
                                                            {(!expired && !replaced).then(|| view! {
                                                                <ActionForm action=rotate attr:class="cell-form">
                                                                    <input type="hidden" name="id" value=id2.clone()/>
                                                                    <button type="submit" class="btn btn-ghost btn-small" data-testid="rotate"
                                                                        disabled=move || rotate.pending().get()>"Rotate"</button>
                                                                </ActionForm>
                                                            })}
                                                            // The confirmation opens without JavaScript too.
                                                            <details class="confirm-details">
                                                                <summary class="btn btn-ghost btn-small" data-testid="revoke">
                                                                    <span class="when-closed btn-danger-text">"Revoke"</span>
                                                                    <span class="when-open">"Cancel"</span>
                                                                </summary>
                                                                <span class="confirm">
                                                                    "Requests with it will be refused. "
                                                                    <ActionForm action=revoke attr:class="cell-form">
                                                                        <input type="hidden" name="id" value=id.clone()/>
                                                                        <button type="submit" class="btn btn-danger btn-small" data-testid="confirm-revoke"
                                                                            disabled=move || revoke.pending().get()>"Revoke"</button>
                                                                    </ActionForm>
                                                                </span>
                                                            </details>
                                                        }
                                                    })}
                                                </td>
                                            </tr>
                                        }
                                    })
                                    .collect_view()}
                            </tbody>
                        </table>
                    </div>
                }
                    .into_any()
            }}
        </section>
    }
}

#[component]
fn Health(health: ScimHealth) -> impl IntoView {
    let state = health.state();
    let state = (health_badge(state), state.label());
    view! {
        <section class="card section" aria-labelledby="health">
            <h2 id="health">"Health " <span class=format!("badge {}", state.0) data-testid="health-state">{state.1}</span></h2>
            <div class="stats">
                <div class="stat">
                    <span class="stat-label">"Last request from your IdP"</span>
                    <span class="stat-value" data-testid="last-request">
                        {health.last_request_at_ms.map(datetime).unwrap_or_else(|| "Never".into())}
                    </span>
                </div>
                <div class="stat">
                    <span class="stat-label">"Requests, last 24 h"</span>
                    <span class="stat-value" data-testid="requests-24h">{count(health.requests_24h)}</span>
                </div>
                <div class="stat">
                    <span class="stat-label">"Errors, last 24 h"</span>
                    <span class="stat-value" data-testid="errors-24h">{count(health.errors_24h)}</span>
                </div>
            </div>
            {if health.recent_errors.is_empty() {
                view! { <p class="muted small">"No failed requests recently."</p> }.into_any()
            } else {
                view! {
                    <h3 class="subheading">"Latest errors"</h3>
                    <ul class="error-list">
                        {health
                            .recent_errors
                            .into_iter()
                            .map(|e| view! {
                                <li>
                                    <A href=format!("/activity/{}", e.id)>
                                        <span class="badge badge-danger">{e.status.unwrap_or_default()}</span>
                                        " " {e.method.clone().unwrap_or_default()} " " {e.path.clone().unwrap_or_default()}
                                    </A>
                                    <span class="muted small">" " {datetime(e.at_ms)}</span>
                                    <div class="small">{e.detail.clone().unwrap_or_else(|| e.summary.clone())}</div>
                                </li>
                            })
                            .collect_view()}
                    </ul>
                }
                    .into_any()
            }}
        </section>
    }
}

#[component]
fn Guides(base_url: String) -> impl IntoView {
    let token_endpoint = format!("{}/oauth/token", base_url.trim_end_matches('/'));
    // Disclosures, not tabs: each opens without JavaScript, and several can be read side by side.
    view! {
        <section class="card section" aria-labelledby="guides">
            <h2 id="guides">"Setup guides"</h2>
            <p class="muted small">"Roster speaks standard SCIM 2.0: any identity provider that provisions over SCIM works. Step by step for the common ones:"</p>
            <details class="guide" open=true data-testid="guide-okta">
                <summary>"Okta"</summary>
                <ol class="steps">
                    <li>"Activate SCIM above and generate a " <strong>"Bearer token"</strong> " named “Okta”."</li>
                    <li>"In the Okta Admin Console open your Roster app integration → " <strong>"General"</strong> " → App Settings → " <strong>"Edit"</strong> ", tick " <strong>"Enable SCIM provisioning"</strong> ", save."</li>
                    <li>"Open the " <strong>"Provisioning"</strong> " tab → Integration → Edit and enter:"
                        <dl class="facts">
                            <dt>"SCIM connector base URL"</dt><dd><CopyField value=base_url.clone() label="SCIM connector base URL"/></dd>
                            <dt>"Unique identifier field for users"</dt><dd><CopyField value="userName" label="Unique identifier field"/></dd>
                            <dt>"Supported provisioning actions"</dt><dd>"Push New Users, Push Profile Updates, Push Groups"</dd>
                            <dt>"Authentication Mode"</dt><dd>"HTTP Header"</dd>
                            <dt>"Authorization"</dt><dd>"Bearer, then paste the token"</dd>
                        </dl>
                    </li>
                    <li>"Click " <strong>"Test Connector Configuration"</strong> " (Okta reads the SCIM base URL and looks up a user), then " <strong>"Save"</strong> "."</li>
                    <li>"Under Provisioning → " <strong>"To App"</strong> ", enable " <strong>"Create Users"</strong> ", " <strong>"Update User Attributes"</strong> " and " <strong>"Deactivate Users"</strong> "."</li>
                    <li>"Assign people or groups to the app, and push groups under " <strong>"Push Groups"</strong> ". They appear under " <A href="/users">"Users"</A> " within seconds."</li>
                </ol>
            </details>
            <details class="guide" data-testid="guide-entra">
                <summary>"Microsoft Entra ID"</summary>
                <ol class="steps">
                    <li>"Activate SCIM above and generate a " <strong>"Bearer token"</strong> " named “Entra ID”."</li>
                    <li>"In the Microsoft Entra admin center: Enterprise applications → your Roster application (or " <strong>"New application → Create your own application"</strong> ", non-gallery) → " <strong>"Provisioning"</strong> "."</li>
                    <li>"Set " <strong>"Provisioning Mode"</strong> " to " <strong>"Automatic"</strong> " and under Admin Credentials enter:"
                        <dl class="facts">
                            <dt>"Tenant URL"</dt><dd><CopyField value=format!("{base_url}?aadOptscim062020") label="Tenant URL"/></dd>
                            <dt>"Secret Token"</dt><dd>"the token you generated"</dd>
                        </dl>
                        <p class="muted small">"The " <code>"?aadOptscim062020"</code> " flag makes Entra ID's PATCH requests follow the SCIM standard (Microsoft's recommended behaviour). Roster also accepts Entra ID without it; the diagnostics above say which one your job runs."</p>
                    </li>
                    <li>"Click " <strong>"Test Connection"</strong> " and wait for “The supplied credentials are authorized”; then " <strong>"Save"</strong> "."</li>
                    <li>"Under " <strong>"Mappings"</strong> " keep userPrincipalName → userName (the matching attribute), or match on externalId."</li>
                    <li>"Use " <strong>"Provision on demand"</strong> " to push one user now and check the result here; then set " <strong>"Provisioning Status"</strong> " to On. Entra ID syncs every 40 minutes after the first cycle."</li>
                </ol>
            </details>
            <details class="guide" data-testid="guide-onelogin">
                <summary>"OneLogin"</summary>
                <ol class="steps">
                    <li>"Activate SCIM above and generate a " <strong>"Bearer token"</strong> " named “OneLogin”."</li>
                    <li>"In OneLogin: " <strong>"Applications → Add App"</strong> ", choose " <strong>"SCIM Provisioner with SAML (SCIM v2 Enterprise)"</strong> " and save it as “Roster”."</li>
                    <li>"On the app's " <strong>"Configuration"</strong> " tab enter:"
                        <dl class="facts">
                            <dt>"SCIM Base URL"</dt><dd><CopyField value=base_url.clone() label="SCIM Base URL"/></dd>
                            <dt>"SCIM Bearer Token"</dt><dd>"the token you generated"</dd>
                        </dl>
                        "Keep the default SCIM JSON template (userName is the email). Save, then click " <strong>"Enable"</strong> " under API Connection."</li>
                    <li>"On the " <strong>"Provisioning"</strong> " tab tick " <strong>"Enable provisioning"</strong> " and Create user, Delete user and Update user. Choose what happens on deletion: " <strong>"Suspend"</strong> " keeps the user in Roster, deactivated."</li>
                    <li>"To send groups: " <strong>"Parameters → Groups"</strong> ", tick " <strong>"Include in User Provisioning"</strong> ", and set the group rules under " <strong>"Rules"</strong> "."</li>
                    <li>"Assign users (Users → Applications, or by role). Each appears under " <A href="/users">"Users"</A> "; OneLogin shows the state per user under the app's " <strong>"Users"</strong> " tab."</li>
                </ol>
            </details>
            <details class="guide" data-testid="guide-pingone">
                <summary>"PingOne"</summary>
                <ol class="steps">
                    <li>"Activate SCIM above and generate a " <strong>"Bearer token"</strong> " named “PingOne”."</li>
                    <li>"In the PingOne admin console: " <strong>"Integrations → Provisioning"</strong> ", click " <strong>"+"</strong> " → " <strong>"New Connection"</strong> " → Identity Store → " <strong>"SCIM Outbound"</strong> "."</li>
                    <li>"Under Configure Authentication enter:"
                        <dl class="facts">
                            <dt>"SCIM Base URL"</dt><dd><CopyField value=base_url.clone() label="SCIM Base URL"/></dd>
                            <dt>"SCIM Version"</dt><dd>"2.0"</dd>
                            <dt>"Users Resource / Groups Resource"</dt><dd><code>"/Users"</code> " and " <code>"/Groups"</code></dd>
                            <dt>"Authentication Method"</dt><dd>"OAuth 2 Bearer Token: paste the token"</dd>
                        </dl>
                        "Click " <strong>"Test Connection"</strong> ", then set the actions (create, update, disable) and save."</li>
                    <li>"Enable the connection, then " <strong>"Rules → + New Rule"</strong> ": pick the Roster connection, the users to provision (a population or a filter) and the attribute mapping — " <code>"username"</code> " or " <code>"email"</code> " → " <code>"userName"</code> "."</li>
                    <li>"Turn the rule on. PingOne provisions the users in scope; group memberships follow if you add the groups to the rule."</li>
                </ol>
            </details>
            <details class="guide" data-testid="guide-jumpcloud">
                <summary>"JumpCloud"</summary>
                <ol class="steps">
                    <li>"Activate SCIM above and generate a " <strong>"Bearer token"</strong> " named “JumpCloud”."</li>
                    <li>"In the JumpCloud Admin Portal: " <strong>"SSO Applications"</strong> " → your Roster application (or " <strong>"+ Add New Application → Custom Application"</strong> " with " <strong>"Manage Single Sign-On"</strong> " and " <strong>"Export users to this app (Identity Management)"</strong> ")."</li>
                    <li>"On the " <strong>"Identity Management"</strong> " tab choose SCIM API type " <strong>"SCIM 2.0"</strong> " and enter:"
                        <dl class="facts">
                            <dt>"Base URL"</dt><dd><CopyField value=base_url.clone() label="Base URL"/></dd>
                            <dt>"Token Key"</dt><dd>"the token you generated (sent as a Bearer header)"</dd>
                            <dt>"Test User Email"</dt><dd>"any address: JumpCloud creates and deletes a test user"</dd>
                        </dl>
                        "Click " <strong>"Test Connection"</strong> ", then " <strong>"Activate"</strong> "; turn on " <strong>"Group Management"</strong> " to send groups."</li>
                    <li>"Bind user groups to the application on its " <strong>"User Groups"</strong> " tab: their members are provisioned, and removing them deactivates the user here."</li>
                </ol>
            </details>
            <details class="guide" data-testid="guide-generic">
                <summary>"Any other SCIM 2.0 client"</summary>
                <dl class="facts">
                    <dt>"Base URL"</dt><dd><CopyField value=base_url.clone() label="SCIM base URL"/></dd>
                    <dt>"Resources"</dt><dd><code>"/Users"</code> ", " <code>"/Groups"</code> ", " <code>"/Bulk"</code> "; discovery at " <code>"/ServiceProviderConfig"</code> ", " <code>"/Schemas"</code> ", " <code>"/ResourceTypes"</code></dd>
                    <dt>"Authentication"</dt><dd>
                        <code>"Authorization: Bearer rst_…"</code> " (Bearer token), HTTP Basic (user name = the credential's ID), or OAuth 2.0 client credentials against "
                        <CopyField value=token_endpoint.clone() label="Token endpoint"/>
                    </dd>
                    <dt>"Content type"</dt><dd><code>"application/scim+json"</code> " (plain " <code>"application/json"</code> " is accepted too)"</dd>
                    <dt>"Matching"</dt><dd>"userName is unique per organization (case-insensitive); externalId is kept as the IdP's key. Filters ("<code>"eq"</code>", "<code>"co"</code>", "<code>"sw"</code>", "<code>"and"</code>"/"<code>"or"</code>"…), PATCH, ETags, sorting and paging are supported."</dd>
                    <dt>"Deprovisioning"</dt><dd>"Set " <code>"active"</code> " to false to deactivate (kept, shown as deactivated); DELETE removes the user."</dd>
                </dl>
            </details>
        </section>
    }
}
