//! Authentication of SCIM requests and their activity record.
//!
//! The credential is checked against the tenant named in the URL; a wrong, revoked or expired
//! credential, another tenant's credential, an unknown tenant and a tenant with SCIM off all get
//! the same 401, so the API never tells whether a tenant exists. After the handler, the request
//! is recorded in the tenant's activity (only for authenticated requests: a stranger cannot fill
//! a tenant's log).

use std::time::Instant;

use axum::body::Body;
use axum::extract::{OriginalUri, Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use roster_shared::clock::now_ms;
use roster_shared::ids::TenantId;
use roster_shared::scim::ScimError;
use roster_shared::service::credentials;
use roster_shared::store::NewActivity;

use super::response::{ActivityNote, ScimErrorResponse};
use super::{ScimState, MAX_BODY_BYTES};

/// Who is calling, put in the request's extensions for the handlers.
#[derive(Clone, Debug)]
pub struct ScimCaller {
    /// The tenant of the URL (and of the credential).
    pub tenant: TenantId,
    /// The tenant's SCIM base URL.
    pub base_url: String,
}

/// When the middleware abandons the request (its handler's future is dropped, and with it any
/// transaction in progress). A handler that commits several times (Bulk) stops starting new
/// work before then, so that what it answers is what happened.
#[derive(Clone, Copy, Debug)]
pub struct Deadline(pub Instant);

/// How long to wait if this credential is over its rate.
fn rate_limited(state: &ScimState, key: &str) -> Option<std::time::Duration> {
    use governor::clock::{Clock, DefaultClock};
    let limiter = state.limiter.as_ref()?;
    limiter.check_key(&key.to_string()).err().map(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
}

fn unauthorized() -> Response {
    ScimErrorResponse(ScimError::status(
        401,
        "Authentication failed: send a valid credential for this SCIM URL (Authorization: Bearer rst_…, or Basic).",
    ))
    .into_response()
}

/// The middleware.
pub(crate) async fn authenticate(State(state): State<ScimState>, mut req: Request, next: Next) -> Response {
    let services = &state.services;
    let started = Instant::now();
    // The full path (the nested router sees it without its prefix): /scim/v2/{tenant}/…
    let path = req
        .extensions()
        .get::<OriginalUri>()
        .map(|u| u.0.path().to_string())
        .unwrap_or_else(|| req.uri().path().to_string());
    let operation = operation(req.method(), &path);
    let Some(tenant) = path.split('/').nth(3).and_then(TenantId::parse) else {
        roster_shared::metrics::scim_request(operation, 401);
        return unauthorized();
    };
    tracing::Span::current().record("tenant", tenant.as_str());
    let authorization = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_string);
    let Some((scheme, value)) = authorization.as_deref().and_then(|v| v.split_once(' ')) else {
        return unauthorized();
    };
    let checked = if scheme.eq_ignore_ascii_case("bearer") {
        credentials::authenticate_bearer(&services.store, &tenant, value.trim()).await
    } else if scheme.eq_ignore_ascii_case("basic") {
        use base64::Engine;
        let decoded =
            base64::engine::general_purpose::STANDARD.decode(value.trim()).ok().and_then(|b| String::from_utf8(b).ok());
        match decoded.as_deref().and_then(|d| d.split_once(':')) {
            Some((user, password)) => credentials::authenticate_basic(&services.store, &tenant, user, password).await,
            None => Ok(None),
        }
    } else {
        Ok(None)
    };
    let credential = match checked {
        Ok(Some(c)) => c,
        Ok(None) => {
            roster_shared::metrics::scim_request(operation, 401);
            return unauthorized();
        }
        Err(e) => {
            let res = ScimErrorResponse(roster_shared::service::provisioning::scim_error(e)).into_response();
            roster_shared::metrics::scim_request(operation, res.status().as_u16());
            return res;
        }
    };
    let method = req.method().to_string();
    let user_agent =
        req.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(|s| s.chars().take(300).collect());
    let base_url = roster_shared::service::scim_setup::base_url(&services.public_url, &tenant);
    req.extensions_mut().insert(ScimCaller { tenant: tenant.clone(), base_url });
    req.extensions_mut().insert(Deadline(started + state.request_timeout));

    // Writes: the body is read here (at most MAX_BODY_BYTES, as the handlers would) so that
    // the activity record can keep it, secrets removed, for support and admins.
    let mut request_body = None;
    let mut unreadable = None;
    if matches!(req.method(), &Method::POST | &Method::PUT | &Method::PATCH) {
        let (parts, body) = req.into_parts();
        let bytes = match crate::http::body::read(body, MAX_BODY_BYTES, state.request_timeout).await {
            Ok(b) => b,
            Err(e) => {
                unreadable = Some(e);
                Default::default()
            }
        };
        request_body = roster_shared::service::activity::redacted_body(&bytes);
        req = Request::from_parts(parts, Body::from(bytes));
    }

    let res = if let Some(e) = unreadable {
        ScimErrorResponse(ScimError::status(e.status().as_u16(), e.to_string())).into_response()
    } else if crate::http::nul::encoded_nul(path.as_bytes()) {
        // A NUL character in the path names nothing (no id holds one; PostgreSQL's text cannot,
        // and its driver failed the lookup with a 500).
        ScimErrorResponse(ScimError::status(404, "no such resource")).into_response()
    } else if let Some(wait) = rate_limited(&state, &credential.id.to_string()) {
        let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
        let mut res = ScimErrorResponse(ScimError::status(
            429,
            format!("Too many requests with this credential; retry after {secs} s."),
        ))
        .into_response();
        if let Ok(v) = secs.to_string().parse() {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
        res
    } else {
        let request_id =
            req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        // The events its writes emit name this request as their cause.
        let handled = roster_shared::service::events::in_scim_request(request_id, next.run(req));
        match tokio::time::timeout(state.request_timeout, handled).await {
            Ok(res) => res,
            Err(_) => {
                // Every handler but Bulk writes in one transaction, which the dropped future
                // rolled back; Bulk answers before the deadline itself (see `bulk`).
                tracing::warn!("SCIM request abandoned after {:?}", state.request_timeout);
                let secs = state.request_timeout.as_secs();
                let detail = if path.ends_with("/Bulk") {
                    format!(
                        "The Bulk request took longer than {secs} s and was abandoned while one operation was \
                         running: the operations before it were applied, that one was rolled back, and the \
                         rest were not run. Read the resources to see where it stopped."
                    )
                } else {
                    format!("The request took longer than {secs} s and was abandoned; its change was rolled back. Retry it.")
                };
                ScimErrorResponse(ScimError::status(503, detail)).into_response()
            }
        }
    };

    let note = res.extensions().get::<ActivityNote>().cloned().unwrap_or_default();
    let error = res.extensions().get::<ScimError>().cloned();
    let record = NewActivity {
        at: now_ms(),
        actor: "scim".into(),
        credential_id: Some(credential.id.to_string()),
        method: Some(method),
        path: Some(path),
        status: Some(i32::from(res.status().as_u16())),
        latency_ms: Some(started.elapsed().as_millis().min(i32::MAX as u128) as i32),
        resource_type: note.resource_type,
        resource_id: note.resource_id,
        summary: if note.summary.is_empty() {
            error.as_ref().map(|e| format!("error {}", e.status)).unwrap_or_default()
        } else {
            note.summary
        },
        scim_type: error
            .as_ref()
            .and_then(|e| e.scim_type)
            .map(|t| serde_json::to_value(t).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()),
        detail: error.map(|e| e.detail.chars().take(1000).collect()),
        user_agent,
        actor_name: Some(credential.name.clone()),
        request_body,
    };
    services.activity.record(tenant, record).await;
    roster_shared::metrics::scim_request(operation, res.status().as_u16());
    res
}

/// The SCIM operation a request is, for metrics: a small fixed set of names.
fn operation(method: &Method, path: &str) -> &'static str {
    // /scim/v2/{tenant}/{resource}/{id}
    let mut parts = path.split('/').skip(4);
    let resource = parts.next().unwrap_or_default();
    let id = parts.next().filter(|s| !s.is_empty());
    match (resource, id, method.as_str()) {
        ("Users", Some(".search"), _) | ("Groups", Some(".search"), _) | (".search", _, _) => "search",
        ("Users", None, "GET") => "list_users",
        ("Users", None, "POST") => "create_user",
        ("Users", Some(_), "GET") => "get_user",
        ("Users", Some(_), "PUT") => "replace_user",
        ("Users", Some(_), "PATCH") => "patch_user",
        ("Users", Some(_), "DELETE") => "delete_user",
        ("Groups", None, "GET") => "list_groups",
        ("Groups", None, "POST") => "create_group",
        ("Groups", Some(_), "GET") => "get_group",
        ("Groups", Some(_), "PUT") => "replace_group",
        ("Groups", Some(_), "PATCH") => "patch_group",
        ("Groups", Some(_), "DELETE") => "delete_group",
        ("Bulk", _, _) => "bulk",
        ("ServiceProviderConfig" | "Schemas" | "ResourceTypes", _, _) => "discovery",
        ("Me", _, _) => "me",
        _ => "other",
    }
}
