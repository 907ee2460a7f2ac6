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

/// Where a dashboard page's render leaves the nonce of its inline scripts (see
/// `crate::app::router`): the policy is then made from it here, whatever reached the response's
/// own headers. (Under heavy load a page now and then arrived with the policy of a page without
/// inline script, which blocked its hydration scripts.)
#[derive(Clone, Debug, Default)]
pub struct NonceSlot(pub Arc<std::sync::OnceLock<String>>);

/// The middleware.
pub async fn add(State(h): State<Arc<Headers>>, mut req: Request, next: Next) -> Response {
    let slot = NonceSlot::default();
    req.extensions_mut().insert(slot.clone());
    let mut res = next.run(req).await;
    let headers = res.headers_mut();
    if let Some(value) =
        slot.0.get().and_then(|n| HeaderValue::from_str(&roster_frontend::security::policy(Some(n))).ok())
    {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    } else if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
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
