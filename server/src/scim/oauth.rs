//! The per-tenant OAuth 2.0 token endpoint (client credentials grant, RFC 6749 section 4.4):
//! `POST /scim/v2/{tenant}/oauth/token` with `grant_type=client_credentials` and the client's
//! id and secret (HTTP Basic, or `client_id`/`client_secret` form fields). Errors use OAuth's
//! shape (RFC 6749 section 5.2), not SCIM's: this is an OAuth endpoint.
//!
//! Each client may ask for [`GRANTS_PER_MINUTE`] tokens a minute (an IdP asks once an hour), on
//! each instance, counted before its secret is checked: so the endpoint is no oracle for
//! guessing a secret, and no way to fill the database with tokens. Every grant leaves a record
//! in the tenant's activity; expired tokens are purged hourly (`Store::purge_expired`).

use std::num::NonZeroU32;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{OriginalUri, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use roster_shared::ids::TenantId;
use roster_shared::service::credentials;
use roster_shared::service::Services;
use serde_json::json;

/// Token requests per client and minute (per instance).
pub const GRANTS_PER_MINUTE: u32 = 20;
/// The largest token request body read (a form of a few fields).
const MAX_FORM_BYTES: usize = 16 * 1024;

/// The per-client limit of token requests.
#[derive(Clone)]
pub struct GrantLimiter(Arc<governor::DefaultKeyedRateLimiter<String>>);

impl GrantLimiter {
    /// A limiter of [`GRANTS_PER_MINUTE`].
    pub fn new() -> GrantLimiter {
        let quota = governor::Quota::per_minute(NonZeroU32::new(GRANTS_PER_MINUTE).unwrap_or(NonZeroU32::MIN));
        GrantLimiter(Arc::new(governor::RateLimiter::dashmap(quota)))
    }

    /// How long this client must wait, if it is over its rate.
    fn check(&self, tenant: &TenantId, client_id: &str) -> Option<u64> {
        use governor::clock::{Clock, DefaultClock};
        // Client ids are whatever a caller sends: keep the map from growing without bound.
        if self.0.len() > 10_000 {
            self.0.retain_recent();
        }
        let key = format!("{tenant}/{}", client_id.chars().take(64).collect::<String>());
        self.0.check_key(&key).err().map(|n| n.wait_time_from(DefaultClock::default().now()).as_secs().max(1))
    }
}

impl Default for GrantLimiter {
    fn default() -> Self {
        GrantLimiter::new()
    }
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut res = (status, Json(json!({"error": error, "error_description": description}))).into_response();
    res.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    if status == StatusCode::UNAUTHORIZED {
        res.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Basic realm=\"SCIM\""));
    }
    res
}

/// POST /oauth/token.
pub async fn token(
    State(s): State<Services>,
    axum::Extension(limiter): axum::Extension<GrantLimiter>,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(tenant) = uri.0.path().split('/').nth(3).and_then(TenantId::parse) else {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "unknown client");
    };
    let body = match crate::http::body::read(body, MAX_FORM_BYTES, crate::http::body::READ_TIMEOUT).await {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) => return oauth_error(e.status(), "invalid_request", &e.to_string()),
    };
    let form: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes()).into_owned().collect();
    let field = |k: &str| form.iter().find(|(name, _)| name == k).map(|(_, v)| v.clone());
    if field("grant_type").as_deref() != Some("client_credentials") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "only grant_type=client_credentials is supported",
        );
    }
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .and_then(|(_, v)| {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.decode(v.trim()).ok()
        })
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|d| d.split_once(':').map(|(u, p)| (u.to_string(), p.to_string())));
    let Some((client_id, client_secret)) = basic.or_else(|| Some((field("client_id")?, field("client_secret")?)))
    else {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "send the client id and secret");
    };
    if let Some(secs) = limiter.check(&tenant, &client_id) {
        let mut res = oauth_error(
            StatusCode::TOO_MANY_REQUESTS,
            "slow_down",
            &format!("too many token requests for this client; retry after {secs} s"),
        );
        res.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
        return res;
    }
    match credentials::client_credentials_grant(&s.store, &tenant, &client_id, &client_secret).await {
        Ok(Some(t)) => {
            let mut res = Json(json!({
                "access_token": t.token.expose(),
                "token_type": "Bearer",
                "expires_in": t.expires_in,
            }))
            .into_response();
            res.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
            res
        }
        Ok(None) => oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "client authentication failed"),
        Err(roster_shared::error::DomainError::Unavailable(detail)) => {
            tracing::warn!(%detail, "token endpoint: database unavailable");
            let mut res = oauth_error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", "retry shortly");
            res.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(roster_shared::error::RETRY_AFTER_SECS));
            res
        }
        Err(e) => {
            tracing::error!("token endpoint: {e}");
            oauth_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "internal error")
        }
    }
}
