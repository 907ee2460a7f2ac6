//! Single sign-on: the organization's SAML and OpenID Connect connections, Roster's values to
//! paste into the IdP, setup guides, a *Test sign-in* per connection, and the sign-in log that
//! answers "why can't Ada sign in?".
//!
//! Every action is a real form (see `api::sso`), so it works before hydration and without
//! JavaScript; *Test sign-in* is a link (the IdP round trip is a navigation).

use leptos::prelude::*;
use leptos_meta::Title;
use roster_shared::dto::{
    ClaimPreset, ConnectionView, DomainView, JitSettings, JitUpdate, LinkKey, SignInOutcome, SignInRecord, SsoProtocol,
    SsoSetup, JIT_ATTRIBUTES,
};

use crate::api::sso::{
    load_sso_setup, SsoConnectionDelete, SsoConnectionFlags, SsoConnectionJit, SsoDomainAdd, SsoDomainRemove,
    SsoDomainVerify, SsoOidcCreate, SsoSamlCreate,
};
use crate::components::action_form::ActionForm;
use crate::components::copy::CopyField;
use crate::components::format::{date, datetime};
use crate::components::notice::ErrorNotice;
use crate::resource;

#[derive(Clone, Copy)]
struct Forms {
    saml: ServerAction<SsoSamlCreate>,
    oidc: ServerAction<SsoOidcCreate>,
    flags: ServerAction<SsoConnectionFlags>,
    jit: ServerAction<SsoConnectionJit>,
    delete: ServerAction<SsoConnectionDelete>,
    domain_add: ServerAction<SsoDomainAdd>,
    domain_verify: ServerAction<SsoDomainVerify>,
    domain_remove: ServerAction<SsoDomainRemove>,
}

/// The page.
#[component]
pub fn SsoPage() -> impl IntoView {
    let forms = Forms {
        saml: ServerAction::new(),
        oidc: ServerAction::new(),
        flags: ServerAction::new(),
        jit: ServerAction::new(),
        delete: ServerAction::new(),
        domain_add: ServerAction::new(),
        domain_verify: ServerAction::new(),
        domain_remove: ServerAction::new(),
    };
    let setup = resource::load(
        move || {
            (
                forms.saml.version().get(),
                forms.oidc.version().get(),
                forms.flags.version().get(),
                forms.jit.version().get(),
                forms.delete.version().get(),
                forms.domain_verify.version().get(),
            )
        },
        |_| load_sso_setup(),
    );
    let query = leptos_router::hooks::use_query_map();
    let tested = move || query.with(|q| q.get("tested"));
    view! {
        <Title text="Single sign-on"/>
        <div class="page-header">
            <div>
                <h1>"Single sign-on"</h1>
                <p class="muted">
                    "Your people sign in through your identity provider, over SAML 2.0 or OpenID Connect. Each signs in as the user your IdP provisioned (or one created just in time), with the role of their user groups."
                </p>
            </div>
        </div>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || resource::suspend(async move {
                match setup.await {
                    Ok(s) => view! { <Setup setup=s forms tested=tested()/> }.into_any(),
                    Err(e) => view! { <ErrorNotice message=e.to_string()/> }.into_any(),
                }
            })}
        </Transition>
        // The forms and guides do not depend on the data: outside the Transition, they are not
        // rebuilt when it reloads (an open form keeps what was typed).
        <NewConnection forms/>
        <AddDomain forms/>
        <Transition fallback=|| ()>
            {move || resource::suspend(async move {
                setup.await.ok().map(|s| view! { <SignInLog records=s.sign_ins/> })
            })}
        </Transition>
    }
}

#[component]
fn Setup(setup: SsoSetup, forms: Forms, tested: Option<String>) -> impl IntoView {
    let tested = tested.and_then(|id| setup.sign_ins.iter().find(|s| s.id == id).cloned());
    // The guides name this organization's values: its first SAML and OIDC connections'.
    let saml_sp = setup.connections.iter().find(|c| c.protocol == SsoProtocol::Saml).map(|c| c.sp.clone());
    let oidc_sp = setup.connections.iter().find(|c| c.protocol == SsoProtocol::Oidc).map(|c| c.sp.clone());
    let empty = setup.connections.is_empty();
    view! {
        {tested.map(|t| {
            let ok = t.outcome == SignInOutcome::SignedIn;
            view! {
                <div class=if ok { "notice notice-success" } else { "notice notice-error" } role="status" data-testid="test-result">
                    <span class=if ok { "notice-icon notice-icon-ok" } else { "notice-icon" } aria-hidden="true">{if ok { "✓" } else { "!" }}</span>
                    <span><strong>{t.connection_name.clone()} ": "</strong> {t.message.clone()}</span>
                </div>
            }
        })}
        <section class="card section" aria-labelledby="sso-link">
            <h2 id="sso-link">"Your organization's sign-in link"</h2>
            <p class="muted small">"Give this link to your people (or add it as a bookmark app in your IdP): it sends them to your connection."</p>
            <CopyField value=setup.tenant_sign_in_url.clone() label="Sign-in link" testid="tenant-sign-in-url"/>
        </section>
        <Domains domains=setup.domains.clone() forms/>
        <section class="card section" aria-labelledby="connections">
            <h2 id="connections">"Connections"</h2>
            {if empty {
                view! { <p class="empty">"No connection yet. Add your identity provider below."</p> }.into_any()
            } else {
                view! {
                    <div class="connection-list">
                        {setup.connections.into_iter().map(|c| view! { <Connection c forms/> }).collect_view()}
                    </div>
                }.into_any()
            }}
        </section>
        <Guides saml=saml_sp oidc=oidc_sp/>
    }
}

#[component]
fn Connection(c: ConnectionView, forms: Forms) -> impl IntoView {
    let (flags, delete) = (forms.flags, forms.delete);
    let error = move || {
        flags
            .value()
            .get()
            .and_then(Result::err)
            .or_else(|| delete.value().get().and_then(Result::err))
            .map(|e| e.to_string())
    };
    let saml = c.protocol == SsoProtocol::Saml;
    let test_url = format!("{}?test=1", c.sp.sign_in_url);
    let id = c.id.clone();
    let id2 = c.id.clone();
    view! {
        <article class="connection" data-testid="connection">
            <div class="row-between">
                <h3>
                    <span data-testid="connection-name">{c.name.clone()}</span> " "
                    <span class="badge badge-muted">{c.protocol.label()}</span> " "
                    {if c.enabled {
                        view! { <span class="badge badge-ok" data-testid="connection-state">"Enabled"</span> }.into_any()
                    } else {
                        view! { <span class="badge badge-muted" data-testid="connection-state">"Disabled"</span> }.into_any()
                    }}
                </h3>
                <a class="btn btn-ghost" href=test_url rel="external" data-testid="test-sign-in">"Test sign-in"</a>
            </div>
            <Show when=move || error().is_some()>
                <ErrorNotice message=error().unwrap_or_default()/>
            </Show>
            <dl class="facts">
                <dt>{if saml { "IdP entity ID" } else { "Issuer" }}</dt>
                <dd><code>{c.idp_id.clone()}</code></dd>
                {c.sso_url.clone().map(|u| view! { <dt>"IdP sign-in URL"</dt><dd><code>{u}</code></dd> })}
                {(!c.certificates.is_empty()).then(|| view! {
                    <dt>"Signing certificates"</dt>
                    <dd>
                        <ul class="plain-list">
                            {c.certificates.iter().map(|cert| view! {
                                <li>
                                    {cert.subject.clone()} " · valid until " {date(cert.not_after_ms)}
                                    <br/><code class="small">"SHA-256 " {cert.sha256.clone()}</code>
                                </li>
                            }).collect_view()}
                        </ul>
                    </dd>
                })}
                {c.client_id.clone().map(|id| view! { <dt>"Client ID"</dt><dd><code>{id}</code></dd> })}
                {c.scopes.clone().map(|s| view! { <dt>"Scopes"</dt><dd><code>{s}</code></dd> })}
            </dl>
            <h4>"Paste into your identity provider"</h4>
            <dl class="facts">
                {if saml {
                    view! {
                        <dt>"Audience URI (SP entity ID)"</dt>
                        <dd><CopyField value=c.sp.entity_id.clone() label="SP entity ID" testid="sp-entity-id"/></dd>
                        <dt>"Single sign-on URL (ACS URL)"</dt>
                        <dd><CopyField value=c.sp.acs_url.clone() label="ACS URL" testid="sp-acs-url"/></dd>
                        <dt>"SP metadata"</dt>
                        <dd>
                            <CopyField value=c.sp.metadata_url.clone() label="SP metadata URL"/>
                            <a href=format!("{}?download=1", c.sp.metadata_url) rel="external" download="roster-sp-metadata.xml">"Download SP metadata XML"</a>
                        </dd>
                    }.into_any()
                } else {
                    view! {
                        <dt>"Redirect URI"</dt>
                        <dd><CopyField value=c.sp.redirect_uri.clone() label="Redirect URI" testid="sp-redirect-uri"/></dd>
                    }.into_any()
                }}
                <dt>"Sign-in URL (SP-initiated)"</dt>
                <dd><CopyField value=c.sp.sign_in_url.clone() label="Sign-in URL"/></dd>
            </dl>
            <div class="row-between">
                <ActionForm action=flags attr:class="form form-inline">
                    <input type="hidden" name="id" value=id.clone()/>
                    <label class="check"><input type="checkbox" name="enabled" checked=c.enabled data-testid="enabled-box"/> " Enabled"</label>
                    {saml.then(|| view! {
                        <label class="check"><input type="checkbox" name="allow_idp_initiated" checked=c.allow_idp_initiated/> " Allow IdP-initiated sign-in"</label>
                    })}
                    <button type="submit" class="btn btn-ghost btn-small" data-testid="save-flags">"Save"</button>
                </ActionForm>
                <ActionForm action=delete attr:class="cell-form">
                    <input type="hidden" name="id" value=id2/>
                    <button type="submit" class="btn btn-danger btn-small" data-testid="delete-connection">"Delete"</button>
                </ActionForm>
            </div>
            <JitForm id=c.id.clone() jit=c.jit.clone() action=forms.jit/>
        </article>
    }
}

/// A connection's just-in-time provisioning: a disclosure with a real form.
#[component]
fn JitForm(id: String, jit: JitSettings, action: ServerAction<SsoConnectionJit>) -> impl IntoView {
    let error = move || action.value().get().and_then(Result::err).map(|e| e.to_string());
    let m = jit.claims.clone();
    let join = |v: &[String]| v.join(", ");
    let attributes =
        m.attributes.iter().map(|a| format!("{} = {}", a.claim, a.attribute)).collect::<Vec<_>>().join("\n");
    let field = |fid: String, name: &'static str, label: &'static str, value: String, hint: &'static str| {
        view! {
            <div class="field">
                <label for=fid.clone()>{label}</label>
                <input id=fid name=name type="text" value=value maxlength="2000" data-testid=format!("jit-{name}")/>
                <p class="muted small">{hint}</p>
            </div>
        }
    };
    let pid = {
        let id = id.clone();
        move |n: &str| format!("jit-{n}-{id}")
    };
    let (uid, email, first, last, groups) =
        (join(&m.unique_user_id), join(&m.email), join(&m.first_name), join(&m.last_name), join(&m.groups));
    view! {
        <details class="jit" data-testid="jit">
            <summary>
                "Just-in-time provisioning: "
                {if jit.enabled {
                    view! { <span class="badge badge-ok" data-testid="jit-state">"On"</span> }.into_any()
                } else {
                    view! { <span class="badge badge-muted" data-testid="jit-state">"Off"</span> }.into_any()
                }}
            </summary>
            <p class="muted small">
                "With it on, a person whose sign-in matches no user gets one at their first sign-in (source “just in time”), placed by your mapping rules and default user group like a SCIM user. Only emails in your verified domains are created or linked. Users your IdP provisions over SCIM are never changed by claims, and a SCIM create with the same userName or externalId takes a just-in-time user over."
            </p>
            <Show when=move || error().is_some()>
                <ErrorNotice message=error().unwrap_or_default()/>
            </Show>
            <ActionForm action=action attr:class="form form-grid">
                <input type="hidden" name="id" value=id.clone()/>
                <div class="field-check span-2">
                    <label><input type="checkbox" name="enabled" checked=jit.enabled data-testid="jit-enabled"/> " Create users at their first sign-in"</label>
                </div>
                <div class="field">
                    <label for=pid("update")>"Attributes"</label>
                    <select id=pid("update") name="update" data-testid="jit-update">
                        <option value="every_sign_in" selected=jit.update == JitUpdate::EverySignIn>"Updated from the claims at every sign-in"</option>
                        <option value="create_only" selected=jit.update == JitUpdate::CreateOnly>"Written at the first sign-in only"</option>
                    </select>
                </div>
                <div class="field">
                    <label for=pid("link")>"Link to existing users by"</label>
                    <select id=pid("link") name="link_key" data-testid="jit-link-key">
                        <option value="user_name" selected=jit.link_key == LinkKey::UserName>"userName or email = the email"</option>
                        <option value="external_id" selected=jit.link_key == LinkKey::ExternalId>"externalId = the unique user id"</option>
                    </select>
                </div>
                <div class="field span-2">
                    <label for=pid("preset")>"Claim names"</label>
                    <select id=pid("preset") name="preset" data-testid="jit-preset">
                        {ClaimPreset::ALL.into_iter().map(|p| view! {
                            <option value=p.as_str() selected=jit.preset == p>{p.label()}</option>
                        }).collect_view()}
                    </select>
                    <p class="muted small">"Choosing another preset fills in its claim names when you save; edit them below for anything else (the preset becomes Custom). Several names, separated by commas, are tried in order."</p>
                </div>
                {field(pid("uid"), "unique_user_id", "Unique user id (required)", uid, "Becomes the user's externalId.")}
                {field(pid("email"), "email", "Email (required)", email, "Becomes the userName and primary email.")}
                {field(pid("first"), "first_name", "First name", first, "")}
                {field(pid("last"), "last_name", "Last name", last, "")}
                {field(pid("groups"), "groups", "Groups", groups, "Group names, matched by name against the IdP groups of your IdP group rules.")}
                <div class="field span-2">
                    <label for=pid("attrs")>"Further attributes"</label>
                    <textarea id=pid("attrs") name="attributes" rows="3" placeholder="department = department" data-testid="jit-attributes">{attributes}</textarea>
                    <p class="muted small">
                        "One per line: " <code>"claim = attribute"</code> ". Attributes: "
                        {JIT_ATTRIBUTES.iter().map(|(a, _)| *a).collect::<Vec<_>>().join(", ")}
                        ". Attribute rules on the Mappings page match them as they match SCIM users."
                    </p>
                </div>
                <div class="span-2">
                    <button type="submit" class="btn btn-primary btn-small" data-testid="jit-save">"Save just-in-time settings"</button>
                </div>
            </ActionForm>
        </details>
    }
}

#[component]
fn NewConnection(forms: Forms) -> impl IntoView {
    let (saml, oidc) = (forms.saml, forms.oidc);
    // The metadata XML: pasted, or read from a file the admin picks (in the browser).
    let metadata = RwSignal::new(String::new());
    let file_error = RwSignal::new(None::<String>);
    let on_file = move |ev: leptos::ev::Event| {
        file_error.set(None);
        #[cfg(feature = "hydrate")]
        {
            use wasm_bindgen::JsCast;
            let Some(input) = ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok()) else {
                return;
            };
            let Some(file) = input.files().and_then(|f| f.get(0)) else {
                return;
            };
            if file.size() > 512.0 * 1024.0 {
                file_error.set(Some("The metadata file is larger than 512 KB.".into()));
                return;
            }
            leptos::task::spawn_local(async move {
                match wasm_bindgen_futures::JsFuture::from(file.text()).await {
                    Ok(v) => metadata.set(v.as_string().unwrap_or_default()),
                    Err(_) => file_error.set(Some("The file could not be read.".into())),
                }
            });
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = ev;
    };
    let saml_error = move || saml.value().get().and_then(Result::err).map(|e| e.to_string());
    let oidc_error = move || oidc.value().get().and_then(Result::err).map(|e| e.to_string());
    view! {
        <section class="card section" aria-labelledby="add-connection">
            <h2 id="add-connection">"Add a connection"</h2>
            <details class="guide" data-testid="add-saml">
                <summary>"SAML 2.0 (Okta, Entra ID, PingOne, OneLogin, …)"</summary>
                <ActionForm action=saml attr:class="form">
                    <Show when=move || saml_error().is_some()>
                        <ErrorNotice message=saml_error().unwrap_or_default()/>
                    </Show>
                    <div class="field">
                        <label for="saml-name">"Name"</label>
                        <input id="saml-name" name="name" type="text" required=true maxlength="100" placeholder="Okta"/>
                    </div>
                    <div class="field">
                        <label for="saml-metadata">"IdP metadata XML"</label>
                        <textarea id="saml-metadata" name="metadata_xml" rows="6" class="mono"
                            placeholder="<md:EntityDescriptor … (paste the IdP's metadata)"
                            prop:value=move || metadata.get()
                            on:input=move |ev| metadata.set(event_target_value(&ev))></textarea>
                        <label class="muted small" for="saml-metadata-file">"Or upload the metadata file: "</label>
                        <input id="saml-metadata-file" type="file" accept=".xml,application/xml,text/xml,application/samlmetadata+xml"
                            data-testid="metadata-file" on:change=on_file/>
                        {move || file_error.get().map(|m| view! { <ErrorNotice message=m/> })}
                        <p class="muted small">"Paste the metadata or upload its file, or give its URL, or type the three values below."</p>
                    </div>
                    <div class="field">
                        <label for="saml-metadata-url">"IdP metadata URL"</label>
                        <input id="saml-metadata-url" name="metadata_url" type="url" placeholder="https://…/metadata"/>
                    </div>
                    <details>
                        <summary>"Type the values instead"</summary>
                        <div class="field">
                            <label for="saml-entity">"IdP entity ID (issuer)"</label>
                            <input id="saml-entity" name="entity_id" type="text"/>
                        </div>
                        <div class="field">
                            <label for="saml-sso">"IdP single sign-on URL"</label>
                            <input id="saml-sso" name="sso_url" type="url"/>
                        </div>
                        <div class="field">
                            <label for="saml-certs">"Signing certificate(s), PEM"</label>
                            <textarea id="saml-certs" name="certificates" rows="5" class="mono" placeholder="-----BEGIN CERTIFICATE-----"></textarea>
                        </div>
                    </details>
                    <button type="submit" class="btn btn-primary" data-testid="create-saml" disabled=move || saml.pending().get()>
                        "Add SAML connection"
                    </button>
                </ActionForm>
            </details>
            <details class="guide" data-testid="add-oidc">
                <summary>"OpenID Connect"</summary>
                <ActionForm action=oidc attr:class="form">
                    <Show when=move || oidc_error().is_some()>
                        <ErrorNotice message=oidc_error().unwrap_or_default()/>
                    </Show>
                    <div class="field">
                        <label for="oidc-name">"Name"</label>
                        <input id="oidc-name" name="name" type="text" required=true maxlength="100" placeholder="Entra ID"/>
                    </div>
                    <div class="field">
                        <label for="oidc-issuer">"Issuer"</label>
                        <input id="oidc-issuer" name="issuer" type="url" required=true placeholder="https://login.example.com"/>
                        <p class="muted small">"Roster reads " <code>"{issuer}/.well-known/openid-configuration"</code> " now, to check it."</p>
                    </div>
                    <div class="field">
                        <label for="oidc-client-id">"Client ID"</label>
                        <input id="oidc-client-id" name="client_id" type="text" required=true/>
                    </div>
                    <div class="field">
                        <label for="oidc-client-secret">"Client secret"</label>
                        <input id="oidc-client-secret" name="client_secret" type="password" required=true autocomplete="off"/>
                        <p class="muted small">"Stored encrypted with the server's key; never shown again."</p>
                    </div>
                    <div class="field">
                        <label for="oidc-scopes">"Scopes"</label>
                        <input id="oidc-scopes" name="scopes" type="text" value="openid email profile"/>
                    </div>
                    <button type="submit" class="btn btn-primary" data-testid="create-oidc" disabled=move || oidc.pending().get()>
                        "Add OpenID Connect connection"
                    </button>
                </ActionForm>
            </details>
        </section>
    }
}

#[component]
fn Domains(domains: Vec<DomainView>, forms: Forms) -> impl IntoView {
    let (verify, remove) = (forms.domain_verify, forms.domain_remove);
    let error = move || {
        verify
            .value()
            .get()
            .and_then(Result::err)
            .or_else(|| remove.value().get().and_then(Result::err))
            .map(|e| e.to_string())
    };
    let empty = domains.is_empty();
    view! {
        <section class="card section" aria-labelledby="domains">
            <h2 id="domains">"Email domains"</h2>
            <p class="muted small">
                "People who type an address at a verified domain on the sign-in page are sent to your connections. Prove a domain is yours with a DNS TXT record."
            </p>
            <Show when=move || error().is_some()>
                <ErrorNotice message=error().unwrap_or_default()/>
            </Show>
            {if empty {
                view! { <p class="empty">"No domain yet: add one below."</p> }.into_any()
            } else {
                view! {
                    <ul class="plain-list" data-testid="domains">
                        {domains.into_iter().map(|d| {
                            let (d1, d2) = (d.domain.clone(), d.domain.clone());
                            let verified = d.verified_at_ms.is_some();
                            view! {
                                <li data-testid="domain">
                                    <div class="row-between">
                                        <strong data-testid="domain-name">{d.domain.clone()}</strong>
                                        <span>
                                            {if verified {
                                                view! { <span class="badge badge-ok" data-testid="domain-state">"Verified"</span> }.into_any()
                                            } else {
                                                view! { <span class="badge badge-warning" data-testid="domain-state">"Pending"</span> }.into_any()
                                            }}
                                        </span>
                                    </div>
                                    {(!verified).then(|| view! {
                                        <dl class="facts">
                                            <dt>"TXT record name"</dt>
                                            <dd><CopyField value=d.txt_name.clone() label="TXT record name"/></dd>
                                            <dt>"TXT record value"</dt>
                                            <dd><CopyField value=d.txt_value.clone() label="TXT record value" testid="txt-value"/></dd>
                                        </dl>
                                    })}
                                    <div class="form-inline">
                                        {(!verified).then(|| view! {
                                            <ActionForm action=verify attr:class="cell-form">
                                                <input type="hidden" name="domain" value=d1.clone()/>
                                                <button type="submit" class="btn btn-primary btn-small" data-testid="verify-domain">"Verify"</button>
                                            </ActionForm>
                                        })}
                                        <ActionForm action=remove attr:class="cell-form">
                                            <input type="hidden" name="domain" value=d2/>
                                            <button type="submit" class="btn btn-ghost btn-small">"Remove"</button>
                                        </ActionForm>
                                    </div>
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
        </section>
    }
}

#[component]
fn AddDomain(forms: Forms) -> impl IntoView {
    let add = forms.domain_add;
    let error = move || add.value().get().and_then(Result::err).map(|e| e.to_string());
    view! {
        <section class="card section" aria-labelledby="add-domain">
            <h2 id="add-domain">"Add an email domain"</h2>
            <ActionForm action=add attr:class="form form-inline">
                <div class="field">
                    <label for="domain-name">"Domain"</label>
                    <input id="domain-name" name="domain" type="text" required=true maxlength="253" placeholder="acme.com"/>
                </div>
                <button type="submit" class="btn btn-primary" data-testid="add-domain" disabled=move || add.pending().get()>"Add"</button>
            </ActionForm>
            <Show when=move || error().is_some()>
                <ErrorNotice message=error().unwrap_or_default()/>
            </Show>
        </section>
    }
}

#[component]
fn Guides(saml: Option<roster_shared::dto::SpValues>, oidc: Option<roster_shared::dto::SpValues>) -> impl IntoView {
    let later = "(add a connection above first)";
    let value = |v: Option<String>, label: &'static str| match v {
        Some(v) => view! { <CopyField value=v label=label/> }.into_any(),
        None => view! { <span class="muted">{later}</span> }.into_any(),
    };
    let acs = || value(saml.as_ref().map(|s| s.acs_url.clone()), "ACS URL");
    let entity = || value(saml.as_ref().map(|s| s.entity_id.clone()), "SP entity ID");
    let redirect = || value(oidc.as_ref().map(|s| s.redirect_uri.clone()), "Redirect URI");
    view! {
        <section class="card section" aria-labelledby="sso-guides">
            <h2 id="sso-guides">"Setup guides"</h2>
            <p class="muted small">"The values each IdP asks for, for your first SAML and OpenID Connect connections (every connection's card has its own)."</p>
            <details class="guide" data-testid="sso-guide-okta">
                <summary>"Okta (SAML)"</summary>
                <dl class="facts">
                    <dt>"Single sign-on URL"</dt><dd>{acs()}</dd>
                    <dt>"Audience URI (SP Entity ID)"</dt><dd>{entity()}</dd>
                </dl>
                <ol class="steps">
                    <li>"Okta Admin Console → " <strong>"Applications → Create App Integration → SAML 2.0"</strong> ", name it “Roster”."</li>
                    <li><strong>"Single sign-on URL"</strong> ": the connection's ACS URL (tick “Use this for Recipient URL and Destination URL”). " <strong>"Audience URI (SP Entity ID)"</strong> ": its SP entity ID. " <strong>"Name ID format"</strong> ": EmailAddress; " <strong>"Application username"</strong> ": the same value your SCIM integration sends as userName (usually Okta username)."</li>
                    <li>"Attribute statements (optional): " <code>"email"</code> " → user.email, " <code>"firstName"</code> " → user.firstName, " <code>"lastName"</code> " → user.lastName."</li>
                    <li>"Finish, then on the " <strong>"Sign On"</strong> " tab copy the " <strong>"Metadata URL"</strong> " (or download the metadata) and paste it above."</li>
                    <li>"Assign the app to the same people as the SCIM integration, then use " <strong>"Test sign-in"</strong> " here."</li>
                </ol>
            </details>
            <details class="guide" data-testid="sso-guide-entra">
                <summary>"Microsoft Entra ID (SAML or OpenID Connect)"</summary>
                <dl class="facts">
                    <dt>"Identifier (Entity ID)"</dt><dd>{entity()}</dd>
                    <dt>"Reply URL (ACS URL)"</dt><dd>{acs()}</dd>
                    <dt>"Redirect URI (OIDC)"</dt><dd>{redirect()}</dd>
                </dl>
                <ol class="steps">
                    <li>"SAML: Enterprise applications → your Roster app → " <strong>"Single sign-on → SAML"</strong> ". Basic SAML Configuration: " <strong>"Identifier (Entity ID)"</strong> " = SP entity ID, " <strong>"Reply URL (ACS URL)"</strong> " = ACS URL (or upload Roster's SP metadata XML)."</li>
                    <li>"Keep " <strong>"Unique User Identifier"</strong> " = user.userprincipalname, the userName your SCIM provisioning sends. Entra signs the assertion with RSA-SHA256 by default, which Roster requires."</li>
                    <li>"Copy the " <strong>"App Federation Metadata Url"</strong> " from “SAML Certificates” and paste it above as the metadata URL."</li>
                    <li>"OpenID Connect instead: App registrations → New registration, redirect URI (Web) = the connection's redirect URI; Certificates & secrets → new client secret. Issuer: " <code>"https://login.microsoftonline.com/{tenant id}/v2.0"</code> "."</li>
                </ol>
            </details>
            <details class="guide" data-testid="sso-guide-pingone">
                <summary>"PingOne (SAML or OpenID Connect)"</summary>
                <dl class="facts">
                    <dt>"ACS URL"</dt><dd>{acs()}</dd>
                    <dt>"Entity ID"</dt><dd>{entity()}</dd>
                    <dt>"Redirect URI (OIDC)"</dt><dd>{redirect()}</dd>
                </dl>
                <ol class="steps">
                    <li>"PingOne admin console → " <strong>"Applications → Add Application → SAML Application"</strong> ", name it “Roster”."</li>
                    <li>"SAML Configuration → " <strong>"Manually enter"</strong> ": ACS URLs = ACS URL, Entity ID = SP entity ID; or " <strong>"Import from URL"</strong> " with Roster's SP metadata URL. Signing: " <strong>"Sign Assertion"</strong> ", algorithm RSA_SHA256."</li>
                    <li>"Attribute mapping: " <code>"saml_subject"</code> " → the attribute your SCIM provisioning sends as userName (Email Address or Username)."</li>
                    <li>"On the application's " <strong>"Configuration"</strong> " tab copy the " <strong>"IDP Metadata URL"</strong> " and paste it above; enable the application."</li>
                    <li>"OpenID Connect instead: add an " <strong>"OIDC Web App"</strong> ", redirect URI = the connection's redirect URI, issuer " <code>"https://auth.pingone.com/{environment id}/as"</code> "."</li>
                </ol>
            </details>
        </section>
    }
}

/// The sign-in log's table (the SSO page, and the support console's *Sign-ins* tab).
#[component]
pub fn SignInLog(records: Vec<SignInRecord>) -> impl IntoView {
    let empty = records.is_empty();
    view! {
        <section class="card section" aria-labelledby="sign-in-log">
            <h2 id="sign-in-log">"Sign-in log"</h2>
            <p class="muted small">"Every SSO sign-in, the latest 50: who, through which connection, and for a refusal, why."</p>
            {if empty {
                view! { <p class="empty">"No sign-in yet."</p> }.into_any()
            } else {
                view! {
                    <div class="table-wrap">
                        <table class="table" data-testid="sign-in-log">
                            <thead>
                                <tr><th>"When"</th><th>"Connection"</th><th>"Who"</th><th>"Outcome"</th><th>"What happened"</th></tr>
                            </thead>
                            <tbody>
                                {records.into_iter().map(|r| {
                                    let ok = r.outcome == SignInOutcome::SignedIn;
                                    view! {
                                        <tr data-testid="sign-in-row">
                                            <td>{datetime(r.at_ms)}</td>
                                            <td>{r.connection_name.clone()}</td>
                                            <td>{r.email.clone().or(r.subject.clone()).unwrap_or_else(|| "—".into())}</td>
                                            <td>
                                                {if ok {
                                                    view! { <span class="badge badge-ok">"Signed in"</span> }.into_any()
                                                } else {
                                                    view! { <span class="badge badge-danger" data-testid="refusal-reason">{r.reason.clone().unwrap_or_default()}</span> }.into_any()
                                                }}
                                                {r.test_by.as_ref().map(|_| view! { " " <span class="badge badge-muted">"Test"</span> })}
                                            </td>
                                            <td>
                                                {r.message.clone()}
                                                {r.detail.clone().map(|d| view! {
                                                    <details class="log-detail">
                                                        <summary>"Assertion / claims"</summary>
                                                        <pre class="code-block">{d}</pre>
                                                    </details>
                                                })}
                                            </td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }.into_any()
            }}
        </section>
    }
}
