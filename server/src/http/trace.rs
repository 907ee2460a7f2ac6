//! One tracing span per request, with the fields support and operators filter on:
//! `request_id`, `method`, `route`, `tenant` (the organization, once the SCIM credential or the
//! dashboard session names it), `status`, `latency_ms`. Never a body, a cookie or a token.

use std::time::Duration;

use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::trace::{MakeSpan, OnResponse, TraceLayer};
use tracing::{field, Span};

/// The tracing layer.
pub fn layer() -> TraceLayer<SharedClassifier<ServerErrorsAsFailures>, RequestSpan, (), LogResponse> {
    TraceLayer::new_for_http().make_span_with(RequestSpan).on_request(()).on_response(LogResponse)
}

/// Makes the request span.
#[derive(Clone, Copy, Debug)]
pub struct RequestSpan;

impl<B> MakeSpan<B> for RequestSpan {
    fn make_span(&mut self, req: &http::Request<B>) -> Span {
        let request_id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
        tracing::info_span!(
            "request",
            request_id = %request_id,
            method = %req.method(),
            route = field::Empty,
            tenant = field::Empty,
        )
    }
}

/// Logs one line per response, with its status and latency (milliseconds, to a tenth), in the
/// request's span.
#[derive(Clone, Copy, Debug)]
pub struct LogResponse;

impl<B> OnResponse<B> for LogResponse {
    fn on_response(self, res: &http::Response<B>, latency: Duration, _span: &Span) {
        let ms = (latency.as_secs_f64() * 10_000.0).round() / 10.0;
        tracing::info!(status = res.status().as_u16(), latency_ms = ms, "response");
    }
}
