//! The SSO endpoints a browser and an IdP reach (the SSO page and *My access* are dashboard
//! pages):
//!
//! - `GET /sso/saml/{id}/metadata` — Roster's SP metadata for the connection (`?download=1` as a
//!   file);
//! - `GET /sso/{saml|oidc}/{id}/login` — starts an SP-initiated sign-in (`?test=1`: an admin's
//!   test sign-in, whose result goes to the SSO page and signs nobody in);
//! - `POST /sso/saml/{id}/acs` — the SAML Response (HTTP-POST binding; exempt from the CSRF
//!   origin check, as the IdP's page posts it: it authenticates by its signature and by the
//!   flow cookie of the browser that started the sign-in);
//! - `GET /sso/oidc/{id}/callback` — the OIDC redirect URI;
//! - `GET /sso/t/{tenant}` — the organization's sign-in: straight to its only connection, or a
//!   page to pick one.
//!
//! A flow is bound to the browser by the `roster_sso_flow` cookie (a random value; the flow
//! stores its hash). On https it is `SameSite=None; Secure`, since the IdP's POST to the ACS is
//! a cross-site request; on plain http (local use) it is `SameSite=Lax`.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Form, Path, Query};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use roster_frontend::api::session;
use roster_shared::dto::{ConsoleRole, SsoProtocol};
use roster_shared::error::DomainError;
use roster_shared::service::sso::{oidc, saml, sign_in, FLOW_TTL_MS};
use roster_shared::service::Services;
use roster_shared::store::ConnectionRecord;
use serde::Deserialize;
use tower_sessions::Session;

/// The flow cookie's name.
pub const FLOW_COOKIE: &str = "roster_sso_flow";

fn flow_cookie_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == FLOW_COOKIE)
        .map(|(_, v)| v.to_string())
        .filter(|v| v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn set_flow_cookie(services: &Services, value: &str) -> String {
    let secure = services.public_url.starts_with("https://");
    format!(
        "{FLOW_COOKIE}={value}; Path=/sso/; Max-Age={}; HttpOnly; {}",
        FLOW_TTL_MS / 1000,
        if secure { "SameSite=None; Secure" } else { "SameSite=Lax" }
    )
}

fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!("sso: {e}");
    (StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong on our side. Try again in a moment.").into_response()
}

/// The sign-in page with a message for the person (escaped by the page).
fn to_sign_in_with(message: &str) -> Response {
    let q: String = url::form_urlencoded::Serializer::new(String::new()).append_pair("sso_error", message).finish();
    Redirect::to(&format!("/sign-in?{q}")).into_response()
}

async fn connection(services: &Services, id: &str, protocol: SsoProtocol) -> Result<ConnectionRecord, Response> {
    let not_found = || (StatusCode::NOT_FOUND, "There is no such SSO connection.").into_response();
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(not_found());
    }
    match services.store.sso_connection(id).await {
        Ok(Some(c)) if c.protocol == protocol => {
            tracing::Span::current().record("tenant", c.tenant_id.as_str());
            Ok(c)
        }
        Ok(_) => Err(not_found()),
        Err(e) => Err(internal(e)),
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct MetadataParams {
    #[serde(default)]
    download: Option<String>,
}

/// `GET /sso/saml/{id}/metadata`.
pub async fn metadata(services: Services, Path(id): Path<String>, Query(p): Query<MetadataParams>) -> Response {
    let c = match connection(&services, &id, SsoProtocol::Saml).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let xml = saml::sp_metadata(&services.public_url, &c.id);
    let mut headers = vec![(header::CONTENT_TYPE, "application/samlmetadata+xml; charset=utf-8".to_string())];
    if p.download.is_some() {
        headers.push((header::CONTENT_DISPOSITION, "attachment; filename=\"roster-sp-metadata.xml\"".to_string()));
    }
    let mut response = xml.into_response();
    for (name, value) in headers {
        if let Ok(v) = axum::http::HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, v);
        }
    }
    response
}

#[derive(Debug, Default, Deserialize)]
pub struct LoginParams {
    #[serde(default)]
    test: Option<String>,
}

/// `GET /sso/{protocol}/{id}/login`.
pub async fn login(
    services: Services,
    protocol: SsoProtocol,
    session: Session,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(p): Query<LoginParams>,
) -> Response {
    let c = match connection(&services, &id, protocol).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    // A test sign-in is an admin's of this organization; it works on a disabled connection.
    let test_by = if p.test.is_some() {
        match session::viewer_of(&services, &session).await {
            Ok(Some(v))
                if v.role == ConsoleRole::OrgAdmin
                    && v.tenant.as_ref().is_some_and(|t| t.id == c.tenant_id.as_str()) =>
            {
                Some(v.email)
            }
            Ok(_) => {
                return (StatusCode::FORBIDDEN, "Only an admin of this organization can test its connection.")
                    .into_response()
            }
            Err(e) => return internal(e),
        }
    } else {
        if !c.enabled {
            return to_sign_in_with(&format!("Sign-in through \"{}\" is switched off by your organization.", c.name));
        }
        None
    };
    let cookie = flow_cookie_of(&headers);
    let started = match protocol {
        SsoProtocol::Saml => saml::begin(&services.store, &services.public_url, &c, cookie, test_by).await,
        SsoProtocol::Oidc => {
            oidc::begin(&services.store, &services.sso, &services.public_url, &c, cookie, test_by).await
        }
    };
    match started {
        Ok(s) => (
            StatusCode::SEE_OTHER,
            [
                (header::LOCATION, s.redirect_to),
                (header::SET_COOKIE, set_flow_cookie(&services, &s.browser_secret)),
                (header::CACHE_CONTROL, "no-store".to_string()),
            ],
        )
            .into_response(),
        Err(DomainError::Invalid(m)) => to_sign_in_with(&format!("The identity provider cannot be reached: {m}")),
        Err(e) => internal(e),
    }
}

/// Where a sign-in's browser goes next.
async fn after(services: &Services, session: &Session, c: &ConnectionRecord, outcome: sign_in::Outcome) -> Response {
    match outcome {
        sign_in::Outcome::SignedIn { user_id, .. } => {
            if let Err(e) = session::start_sso(session, &c.tenant_id, &user_id, &c.id).await {
                return internal(e);
            }
            let home = match sign_in::viewer(&services.store, &c.tenant_id, &user_id).await {
                Ok(Some(v)) if matches!(v.role, ConsoleRole::OrgAdmin | ConsoleRole::OrgViewer) => "/",
                Ok(_) => "/me",
                Err(e) => return internal(e),
            };
            Redirect::to(home).into_response()
        }
        sign_in::Outcome::Tested { sign_in_id } | sign_in::Outcome::Refused { sign_in_id, test: true, .. } => {
            Redirect::to(&format!("/sso?tested={sign_in_id}")).into_response()
        }
        sign_in::Outcome::Refused { message, .. } => to_sign_in_with(&format!(
            "Your sign-in through \"{}\" was refused: {message} Your organization's admin sees the details in the sign-in log.",
            c.name
        )),
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct AcsForm {
    #[serde(rename = "SAMLResponse", default)]
    saml_response: String,
}

/// `POST /sso/saml/{id}/acs`.
pub async fn acs(
    services: Services,
    session: Session,
    parts: axum::http::request::Parts,
    Path(id): Path<String>,
    Form(form): Form<AcsForm>,
) -> Response {
    let (headers, peer) = (&parts.headers, parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0));
    let c = match connection(&services, &id, SsoProtocol::Saml).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let ip = session::client_ip(services.trust_forwarded_for, headers, peer);
    let cookie = flow_cookie_of(headers);
    let consumed =
        match saml::consume(&services.store, &services.public_url, &c, &form.saml_response, cookie.as_deref()).await {
            Ok(r) => r,
            Err(e) => return internal(e),
        };
    let (result, test_by) = match consumed {
        Ok((identity, flow)) => (Ok(identity), flow.and_then(|f| f.test_by)),
        Err(refusal) => (Err(refusal), None),
    };
    match sign_in::finish(&services.store, &c, test_by, ip, result).await {
        Ok(outcome) => after(&services, &session, &c, outcome).await,
        Err(e) => internal(e),
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct CallbackParams {
    state: Option<String>,
    code: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// `GET /sso/oidc/{id}/callback`.
pub async fn callback(
    services: Services,
    session: Session,
    parts: axum::http::request::Parts,
    Path(id): Path<String>,
    Query(p): Query<CallbackParams>,
) -> Response {
    let (headers, peer) = (&parts.headers, parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0));
    let c = match connection(&services, &id, SsoProtocol::Oidc).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let ip = session::client_ip(services.trust_forwarded_for, headers, peer);
    let cookie = flow_cookie_of(headers);
    let cb = oidc::Callback { state: p.state, code: p.code, error: p.error, error_description: p.error_description };
    let (result, flow) =
        match oidc::complete(&services.store, &services.sso, &services.public_url, &c, &cb, cookie.as_deref()).await {
            Ok(r) => r,
            Err(e) => return internal(e),
        };
    let test_by = flow.and_then(|f| f.test_by);
    match sign_in::finish(&services.store, &c, test_by, ip, result).await {
        Ok(outcome) => after(&services, &session, &c, outcome).await,
        Err(e) => internal(e),
    }
}

/// `GET /sso/t/{tenant}`: the organization's only enabled connection, or the page to pick one.
pub async fn tenant(services: Services, Path(tenant): Path<String>) -> Response {
    let Some(id) = roster_shared::ids::TenantId::parse(&tenant) else {
        return to_sign_in_with("There is no organization with this sign-in link.");
    };
    let connections = match services.store.tenant(&id).sso_connections().await {
        Ok(c) => c.into_iter().filter(|c| c.enabled).collect::<Vec<_>>(),
        Err(e) => return internal(e),
    };
    match connections.as_slice() {
        [only] => Redirect::to(&roster_shared::service::sso::sp_values("", only.protocol, &only.id).sign_in_url)
            .into_response(),
        _ => Redirect::to(&format!("/sign-in/sso/{id}")).into_response(),
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct StartParams {
    #[serde(default)]
    email: String,
}

/// `GET /sso/start?email=…` (the sign-in page's *Sign in with SSO*): the organization that
/// verified the address's domain, to pick its connection. (A page of ours, not the IdP: a form's
/// redirect may only stay on this site, `form-action 'self'`.)
pub async fn start(services: Services, Query(p): Query<StartParams>) -> Response {
    match roster_shared::service::sso::domains::tenant_for_email(&services.store, &p.email).await {
        Ok(Some(tenant)) => Redirect::to(&format!("/sign-in/sso/{tenant}")).into_response(),
        Ok(None) => {
            let domain = p.email.rsplit_once('@').map(|(_, d)| d.trim().to_string()).unwrap_or_default();
            to_sign_in_with(&if domain.is_empty() {
                "Type your work email address to sign in with your organization's SSO.".to_string()
            } else {
                format!("No organization signs in with SSO for {domain}. Use the sign-in link your admin gave you, or sign in with a password.")
            })
        }
        Err(e) => internal(e),
    }
}

/// The routes above, for the dashboard router (they use its session layer).
pub fn routes(services: Services) -> axum::Router<leptos::config::LeptosOptions> {
    use axum::routing::{get, post};
    let s = services;
    let (s1, s2, s3, s4, s5, s6, s7) = (s.clone(), s.clone(), s.clone(), s.clone(), s.clone(), s.clone(), s.clone());
    axum::Router::new()
        .route("/sso/saml/{id}/metadata", get(move |path, query| metadata(s1.clone(), path, query)))
        .route(
            "/sso/saml/{id}/login",
            get(move |session, headers, path, query| {
                login(s2.clone(), SsoProtocol::Saml, session, headers, path, query)
            }),
        )
        .route(
            "/sso/oidc/{id}/login",
            get(move |session, headers, path, query| {
                login(s3.clone(), SsoProtocol::Oidc, session, headers, path, query)
            }),
        )
        .route(
            "/sso/saml/{id}/acs",
            post(move |session, parts, path, form| acs(s4.clone(), session, parts, path, form)),
        )
        .route(
            "/sso/oidc/{id}/callback",
            get(move |session, parts, path, query| callback(s5.clone(), session, parts, path, query)),
        )
        .route("/sso/t/{tenant}", get(move |path| tenant(s6.clone(), path)))
        .route("/sso/start", get(move |query| start(s7.clone(), query)))
}
