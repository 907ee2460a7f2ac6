//! Refuses a NUL character (U+0000) in what the dashboard's server functions are sent.
//!
//! PostgreSQL's text cannot hold one: a user group, rule or connection name with a NUL failed
//! there with an internal error (500), while SQLite stored it — the same request answered two
//! ways. No field of the dashboard has a use for it, so a server function call whose arguments
//! hold one is answered 400 with the reason before it runs, on both backends. (The SCIM API
//! refuses it in its own shape, see `roster_shared::scim::holds_nul`; the dashboard's searches
//! check their text in the services, `roster_shared::service::check_filter_text`.)
//!
//! Arguments come form-encoded from the browser (a NUL is `%00`; a literal `\u0000` typed in a
//! field is `%5Cu0000`, left alone) or as JSON (the escape `\u0000`, looked for in the parsed
//! strings, so that a literal backslash followed by `u0000` is not taken for one).

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use leptos::server_fn::error::ServerFnUrlError;
use roster_frontend::error::UiError;

/// Whether percent-encoded text (a path, a query, a form body) holds a NUL character (`%00`).
/// The SCIM API and the read API answer a path holding one 404 with it: no id holds one.
pub fn encoded_nul(text: &[u8]) -> bool {
    text.windows(3).any(|w| w == b"%00")
}

/// The middleware, for the dashboard's routes (server functions are under `/api/`).
pub async fn refuse_nul(req: Request, next: Next) -> Response {
    if !req.uri().path().starts_with("/api/") {
        return next.run(req).await;
    }
    // A browser posting a form without JavaScript wants the page back, with the error in words
    // (as the server function itself answers then: a redirect to the page it came from).
    let back = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"))
        .then(|| req.headers().get(header::REFERER).and_then(|v| v.to_str().ok()).map(str::to_string))
        .flatten();
    let path = req.uri().path().to_string();
    if req.uri().query().is_some_and(|q| encoded_nul(q.as_bytes())) {
        return refused(&path, back.as_deref());
    }
    let json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.trim_start().to_ascii_lowercase().starts_with("application/json"));
    let (parts, body) = req.into_parts();
    // The body limit layer outside this one has bounded it already.
    let bytes = match axum::body::to_bytes(body, crate::app::DASHBOARD_MAX_BODY).await {
        Ok(b) => b,
        Err(_) => return StatusCode::PAYLOAD_TOO_LARGE.into_response(),
    };
    // JSON is parsed only when its bytes hold the escape (the server function parses it again).
    let holds = if json {
        roster_shared::scim::may_hold_nul(&bytes)
            && serde_json::from_slice::<serde_json::Value>(&bytes)
                .is_ok_and(|v| roster_shared::scim::holds_nul(&bytes, &v))
    } else {
        encoded_nul(&bytes)
    };
    if holds {
        return refused(&path, back.as_deref());
    }
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

/// 400 with the error as the server function client reads it; or, for a form posted without
/// JavaScript, back to the page it came from with the error, as Leptos sends a server
/// function's own error (`__path` and `__err` in the query).
fn refused(path: &str, back: Option<&str>) -> Response {
    let error = UiError::Invalid("A field holds a NUL character (U+0000), which Roster does not store.".into());
    if let Some(url) = back.and_then(|b| ServerFnUrlError::new(path, error.clone()).to_url(b).ok()) {
        return (StatusCode::FOUND, [(header::LOCATION, url.to_string())]).into_response();
    }
    let body = serde_json::to_vec(&error).unwrap_or_default();
    (StatusCode::BAD_REQUEST, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}
