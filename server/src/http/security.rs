//! Security headers on every response.
//!
//! Dashboard pages set their own Content-Security-Policy while rendering (it names the nonce of
//! their hydration scripts; see `roster_frontend::security`); every other response gets the
//! same policy without any inline script. Also: no MIME sniffing, no framing, no referrer to
//! other sites, and HSTS when Roster is served over https.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

/// What the middleware adds.
#[derive(Clone, Debug)]
pub struct Headers {
    hsts: bool,
    default_csp: HeaderValue,
}

impl Headers {
    /// The headers for a deployment at `public_url`.
    pub fn new(public_url: &str) -> Arc<Headers> {
        Arc::new(Headers {
            hsts: public_url.starts_with("https://"),
            default_csp: HeaderValue::from_str(&roster_frontend::security::policy(None))
                .unwrap_or_else(|_| HeaderValue::from_static("default-src 'self'; frame-ancestors 'none'")),
        })
    }
}

/// The middleware.
pub async fn add(State(h): State<Arc<Headers>>, req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let headers = res.headers_mut();
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(header::CONTENT_SECURITY_POLICY, h.default_csp.clone());
    }
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if h.hsts {
        headers
            .insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000; includeSubDomains"));
    }
    res
}
