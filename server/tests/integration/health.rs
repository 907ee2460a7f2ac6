//! Probes and request ids.

use axum::body::Body;
use http::{Request, StatusCode};

use crate::both_backends;
use crate::common::*;

both_backends!(probes_answer, requests_get_an_id);

async fn probes_answer(db: Db) {
    let app = TestApp::new(db).await;
    let res = app.send(Request::get("/healthz").body(Body::empty()).unwrap()).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(body_text(res).await.contains("ok"));
    let res = app.send(Request::get("/readyz").body(Body::empty()).unwrap()).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(body_text(res).await.contains("ready"));

    // With the database gone, the instance is alive but not ready.
    app.store.close().await;
    let res = app.send(Request::get("/readyz").body(Body::empty()).unwrap()).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let res = app.send(Request::get("/healthz").body(Body::empty()).unwrap()).await;
    assert_eq!(res.status(), StatusCode::OK);
}

async fn requests_get_an_id(db: Db) {
    let app = TestApp::new(db).await;
    let res = app.send(Request::get("/healthz").body(Body::empty()).unwrap()).await;
    assert!(res.headers().get("x-request-id").is_some());
    let res = app.send(Request::get("/healthz").header("x-request-id", "abc-123").body(Body::empty()).unwrap()).await;
    assert_eq!(res.headers().get("x-request-id").unwrap(), "abc-123");
}
