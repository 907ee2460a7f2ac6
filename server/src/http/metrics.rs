//! `/metrics` in the Prometheus text format, and the middleware that counts HTTP requests.
//!
//! The recorder is `metrics-exporter-prometheus` (installed once per process as the global
//! `metrics` recorder; the names live in [`roster_shared::metrics`]). The endpoint is served
//! either on a listen address of its own (`--metrics-bind`, for a scraper on a private network)
//! or on the main address behind a bearer token (`--metrics-token`); with neither, it is not
//! served at all. Request latency histograms use fixed buckets, so any number of instances
//! can be aggregated by Prometheus.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use roster_shared::service::Services;

/// Latency buckets (seconds): 1 ms to 30 s.
const BUCKETS: [f64; 14] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// The process's recorder handle: installed on first use.
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(roster_shared::metrics::HTTP_DURATION.into()), &BUCKETS)
            .unwrap_or_else(|_| unreachable!("the buckets are not empty"))
            .build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed: /metrics will be empty");
        }
        roster_shared::metrics::describe();
        // Histograms are kept in windows that need draining now and then.
        let upkeep = handle.clone();
        std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || loop {
                std::thread::sleep(std::time::Duration::from_secs(5));
                upkeep.run_upkeep();
            })
            .ok();
        handle
    })
}

/// The route template a request matched, handed from the routes (where axum knows it) out to
/// [`track`] (which wraps them all).
#[derive(Clone, Debug)]
struct RouteLabel(MatchedPath);

/// Inside the routing, where axum knows the route template a request matched (e.g.
/// `/api/sign_in`, not the raw path, so that ids in paths do not explode the number of distinct
/// values): records it in the request's span (see [`super::trace`]) and tells [`track`] which
/// route answered. One layer for both: each layer inside the routing wraps every request's
/// handler in one more boxed future.
pub async fn label_route(req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().cloned();
    if let Some(route) = &route {
        tracing::Span::current().record("route", route.as_str());
    }
    let mut res = next.run(req).await;
    if let Some(route) = route {
        res.extensions_mut().insert(RouteLabel(route));
    }
    res
}

/// Around everything: counts the request and its latency by route, method and status.
/// Requests no route matched (static files, unknown paths) count as `unmatched`.
pub async fn track(req: Request, next: Next) -> Response {
    handle();
    let started = Instant::now();
    let method = req.method().clone();
    let res = next.run(req).await;
    let route = res.extensions().get::<RouteLabel>().map_or("unmatched", |r| r.0.as_str());
    roster_shared::metrics::http_request(
        route,
        method.as_str(),
        res.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    res
}

/// `GET /metrics`, behind `token` when one is given.
pub fn router(services: Services, token: Option<String>) -> Router {
    Router::new().route(
        "/metrics",
        get(move |headers: axum::http::HeaderMap| {
            let services = services.clone();
            let token = token.clone();
            async move {
                if let Some(token) = token {
                    let sent = headers
                        .get(header::AUTHORIZATION)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.strip_prefix("Bearer "))
                        .unwrap_or_default();
                    if !constant_time_eq(sent.as_bytes(), token.as_bytes()) {
                        return (
                            StatusCode::UNAUTHORIZED,
                            [(header::WWW_AUTHENTICATE, "Bearer")],
                            "send the metrics token: Authorization: Bearer <ROSTER_METRICS_TOKEN>\n",
                        )
                            .into_response();
                    }
                }
                roster_shared::metrics::sample(&services.store, services.activity.queued()).await;
                ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], handle().render())
                    .into_response()
            }
        }),
    )
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
