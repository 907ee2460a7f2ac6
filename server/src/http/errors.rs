//! The status codes of the dashboard's server function errors.
//!
//! Leptos answers every server function error with 500, so a mistyped password or a form
//! without a name looked like a server failure to clients, proxies, metrics and the log (where
//! every one was an ERROR line). This middleware gives errors the status of their kind:
//! `Invalid` 400, `Exists` 409, `Unauthenticated` 401, `Forbidden` 403; `Internal` stays 500. The page reads
//! the same body either way (the server function client decodes any 4xx or 5xx answer).

use axum::body::Body;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use roster_frontend::error::UiError;

/// The largest error body looked at (they are one short JSON value).
const MAX_ERROR_BODY: usize = 64 * 1024;

/// The middleware, for the dashboard's routes.
pub async fn status_by_kind(req: Request, next: Next) -> Response {
    let is_server_fn = req.uri().path().starts_with("/api/");
    let res = next.run(req).await;
    if !is_server_fn || res.status() != StatusCode::INTERNAL_SERVER_ERROR {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_ERROR_BODY).await else {
        return Response::from_parts(parts, Body::empty());
    };
    if let Ok(error) = serde_json::from_slice::<UiError>(&bytes) {
        parts.status = match error {
            UiError::Invalid(_) => StatusCode::BAD_REQUEST,
            UiError::Exists { .. } => StatusCode::CONFLICT,
            UiError::Unauthenticated => StatusCode::UNAUTHORIZED,
            UiError::Forbidden => StatusCode::FORBIDDEN,
            UiError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            UiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            UiError::Internal | UiError::Transport(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
    }
    Response::from_parts(parts, Body::from(bytes))
}
