//! Probes and request ids.

use axum::body::Body;
use http::{Request, StatusCode};

use crate::both_backends;
use crate::common::*;

both_backends!(probes_answer, requests_get_an_id, metrics_need_the_token_and_count_what_happens);

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

async fn metrics_need_the_token_and_count_what_happens(db: Db) {
    let app = TestApp::new(db).await;
    let res = app.send(Request::get("/metrics").body(Body::empty()).unwrap()).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = app
        .send(Request::get("/metrics").header("authorization", "Bearer wrong-token").body(Body::empty()).unwrap())
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    // Some traffic: a SCIM create, a SCIM request with a wrong token, a page.
    let t = app.scim_tenant("Metrics").await;
    let (status, _, _) = app
        .scim(
            "POST",
            &t.id,
            &t.token,
            "/Users",
            Some(
                serde_json::json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "m@x.test"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _, _) = app.scim("GET", &t.id, "rst_wrong", "/Users", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    app.send(Request::get("/healthz").body(Body::empty()).unwrap()).await;

    let res = app
        .send(
            Request::get("/metrics")
                .header("authorization", format!("Bearer {METRICS_TOKEN}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    let text = body_text(res).await;
    for line in [
        "# TYPE roster_http_requests_total counter",
        "roster_http_requests_total{route=\"/healthz\",method=\"GET\",status=\"200\"}",
        "roster_http_request_duration_seconds_bucket{route=\"/scim/v2/{tenant}/Users\",method=\"POST\",status=\"201\",le=\"0.005\"}",
        "roster_scim_requests_total{operation=\"create_user\",outcome=\"ok\"}",
        "roster_scim_requests_total{operation=\"list_users\",outcome=\"client_error\"}",
        "roster_db_connections{pool=\"main\",state=\"idle\"}",
        "roster_db_connections_max{pool=\"main\"}",
        "roster_activity_queue_depth",
        "roster_jobs{kind=\"place_all\",state=\"queued\"}",
    ] {
        assert!(text.contains(line), "no {line:?} in:\n{text}");
    }
    // A tenant id is never a label.
    assert!(!text.contains(&t.id), "{text}");
}
