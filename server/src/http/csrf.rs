//! CSRF protection for every state-changing request to the dashboard.
//!
//! We check where a request comes from instead of threading a token through every form: modern
//! browsers label each request with `Sec-Fetch-Site`, and send `Origin` on every POST. A
//! state-changing request (anything but GET, HEAD, OPTIONS) is accepted only if
//!
//! * `Sec-Fetch-Site` is `same-origin` (or `none`: typed by the user), or, where a browser does
//!   not send that header,
//! * `Origin` is this instance's public origin or the origin of the `Host` it was sent to.
//!
//! A request with neither header is refused too: every browser sends at least one, and the
//! dashboard has no non-browser clients. This is the scheme of Go's `net/http`
//! `CrossOriginProtection` and of OWASP's "verifying origin with standard headers", made
//! stricter; it works for forms posted before hydration (no JavaScript needed to add a token),
//! and `SameSite=Lax` session cookies are a second line behind it. The SCIM API is not behind
//! it: it authenticates with bearer credentials that browsers never attach on their own.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Paths that are not part of the dashboard and authenticate otherwise.
/// The SAML ACS (`/sso/saml/{id}/acs`) is posted by the IdP's page: it authenticates by the
/// assertion's signature and the flow cookie of the browser that started the sign-in.
const EXEMPT_PREFIXES: &[&str] = &["/scim/", "/sso/saml/"];

/// Which origins count as "this site".
#[derive(Clone, Debug)]
pub struct Policy {
    public_origin: Option<String>,
}

impl Policy {
    /// A policy for an instance reachable at `public_url`.
    pub fn new(public_url: &str) -> Self {
        let public_origin =
            url::Url::parse(public_url).ok().map(|u| u.origin().ascii_serialization()).filter(|o| o != "null");
        Policy { public_origin }
    }

    /// Whether a request with these method and headers may go on.
    pub fn allows(&self, method: &Method, path: &str, headers: &HeaderMap) -> bool {
        if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE) {
            return true;
        }
        if EXEMPT_PREFIXES.iter().any(|p| path.starts_with(p)) {
            return true;
        }
        if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
            return matches!(site, "same-origin" | "none");
        }
        let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
            return false;
        };
        if self.public_origin.as_deref() == Some(origin) {
            return true;
        }
        // The origin of the Host the request was sent to, whatever the scheme.
        let origin_host = origin.strip_prefix("https://").or_else(|| origin.strip_prefix("http://"));
        let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
        matches!((origin_host, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
    }
}

/// The middleware.
pub async fn protect(State(policy): State<Arc<Policy>>, req: Request, next: Next) -> Response {
    if policy.allows(req.method(), req.uri().path(), req.headers()) {
        return next.run(req).await;
    }
    tracing::warn!(
        method = %req.method(),
        path = req.uri().path(),
        origin = ?req.headers().get(header::ORIGIN),
        sec_fetch_site = ?req.headers().get("sec-fetch-site"),
        "cross-site request refused"
    );
    (
        StatusCode::FORBIDDEN,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        Body::from("Cross-site request refused: this request did not come from the Roster dashboard."),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn decisions() {
        let p = Policy::new("https://roster.example.com/");
        let post = Method::POST;
        assert!(p.allows(&Method::GET, "/", &headers(&[])));
        assert!(!p.allows(&post, "/api/sign_in", &headers(&[])));
        assert!(p.allows(&post, "/api/sign_in", &headers(&[("sec-fetch-site", "same-origin")])));
        assert!(!p.allows(&post, "/api/sign_in", &headers(&[("sec-fetch-site", "cross-site")])));
        assert!(!p.allows(&post, "/api/sign_in", &headers(&[("sec-fetch-site", "same-site")])));
        assert!(p.allows(&post, "/api/sign_in", &headers(&[("origin", "https://roster.example.com")])));
        assert!(!p.allows(&post, "/api/sign_in", &headers(&[("origin", "https://evil.example")])));
        assert!(!p.allows(&post, "/api/sign_in", &headers(&[("origin", "null")])));
        assert!(p.allows(
            &post,
            "/api/sign_in",
            &headers(&[("origin", "http://127.0.0.1:3000"), ("host", "127.0.0.1:3000")])
        ));
        assert!(!p.allows(
            &post,
            "/api/sign_in",
            &headers(&[("origin", "http://127.0.0.1:3001"), ("host", "127.0.0.1:3000")])
        ));
        // Sec-Fetch-Site wins over a matching Origin.
        assert!(!p.allows(
            &post,
            "/api/sign_in",
            &headers(&[("origin", "https://roster.example.com"), ("sec-fetch-site", "cross-site")])
        ));
        assert!(p.allows(&post, "/scim/v2/x/Users", &headers(&[])));
    }
}
