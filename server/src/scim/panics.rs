//! A SCIM handler that panics still gets an answer and a record.
//!
//! Without this, a panic unwinds through the request's task: the client sees the connection
//! close, and the activity middleware ([`super::auth`]), which records every request after its
//! handler answers, never runs, so the request would be missing from the log. This layer sits
//! inside that middleware: it catches the panic, logs it with the request id, and answers a
//! SCIM-shaped 500 that names the request id, which the activity middleware then records like
//! any other answer. (The handler's transaction, dropped with its future, was rolled back.)

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt;
use roster_shared::scim::error::ScimError;

use super::response::ScimErrorResponse;

/// The middleware.
pub async fn catch(req: Request, next: Next) -> Response {
    let request_id =
        req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_string).unwrap_or_default();
    match std::panic::AssertUnwindSafe(next.run(req)).catch_unwind().await {
        Ok(res) => res,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".to_string());
            tracing::error!(request_id = %request_id, "SCIM handler panicked: {what}");
            ScimErrorResponse(ScimError::status(
                500,
                format!("internal error (request {request_id}); nothing was changed. Retry it, or tell support the request id."),
            ))
            .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::extract::Request;
    use axum::routing::get;
    use axum::Router;
    use tower::ServiceExt;

    async fn boom() -> &'static str {
        panic!("index out of bounds")
    }

    #[tokio::test]
    async fn a_panicking_handler_gets_a_scim_500_with_the_request_id() {
        let app = Router::new()
            .route("/boom", get(boom))
            .route("/fine", get(|| async { "ok" }))
            .layer(axum::middleware::from_fn(super::catch));
        let req = Request::get("/boom").header("x-request-id", "req-42").body(Body::empty()).unwrap();
        let res = app.clone().oneshot(req).await.unwrap();
        assert_eq!(res.status(), 500);
        let body = axum::body::to_bytes(res.into_body(), 64 * 1024).await.unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error");
        assert!(json["detail"].as_str().unwrap().contains("req-42"), "{json}");
        assert!(!json["detail"].as_str().unwrap().contains("index out of bounds"), "the panic text stays in the log");
        let res = app.oneshot(Request::get("/fine").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(res.status(), 200);
    }
}
