//! The per-tenant OAuth 2.0 token endpoint (client credentials grant, RFC 6749 section 4.4):
//! `POST /scim/v2/{tenant}/oauth/token` with `grant_type=client_credentials` and the client's
//! id and secret (HTTP Basic, or `client_id`/`client_secret` form fields). Errors use OAuth's
//! shape (RFC 6749 section 5.2), not SCIM's: this is an OAuth endpoint.

use axum::extract::{OriginalUri, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use roster_shared::credentials;
use roster_shared::ids::TenantId;
use roster_shared::services::Services;
use serde_json::json;

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut res = (status, Json(json!({"error": error, "error_description": description}))).into_response();
    res.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    if status == StatusCode::UNAUTHORIZED {
        res.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Basic realm=\"SCIM\""));
    }
    res
}

/// POST /oauth/token.
pub async fn token(State(s): State<Services>, uri: OriginalUri, headers: HeaderMap, body: String) -> Response {
    let Some(tenant) = uri.0.path().split('/').nth(3).and_then(TenantId::parse) else {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "unknown client");
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
        Err(e) => {
            tracing::error!("token endpoint: {e}");
            oauth_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "internal error")
        }
    }
}
