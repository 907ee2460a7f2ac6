//! Probes for load balancers and orchestrators.
//!
//! `/healthz` says the process is alive and answering (no I/O); `/readyz` says it can serve
//! requests, i.e. the database answers.

use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use roster_shared::service::Services;
use serde_json::json;

/// The probe routes.
pub fn router(services: Services) -> Router {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(move || readyz(services.clone())))
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

async fn readyz(services: Services) -> (StatusCode, Json<serde_json::Value>) {
    match services.store.ping().await {
        Ok(()) => (StatusCode::OK, Json(json!({ "status": "ready", "database": "ok" }))),
        Err(e) => {
            tracing::warn!("readiness check failed: {e}");
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "unavailable", "database": "unreachable" })))
        }
    }
}
