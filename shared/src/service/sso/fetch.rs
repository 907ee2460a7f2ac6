//! The server's outbound HTTP for SSO: IdP metadata, OIDC discovery, JWKS, token and userinfo
//! endpoints. A URL an admin typed is fetched by our server, so: `https` only (plain `http` only
//! to a loopback address, and only when the operator allows it — the tests' local IdPs), no
//! literal private or link-local addresses, no redirects, a time limit and a size limit.

use std::net::IpAddr;
use std::time::Duration;

use crate::error::{DomainError, DomainResult};

/// What the fetcher allows.
#[derive(Clone, Debug)]
pub struct FetchPolicy {
    /// Allow `http://` (and `https://`) to loopback addresses (tests, local development).
    pub allow_http_loopback: bool,
    /// The whole exchange's time limit.
    pub timeout: Duration,
    /// The largest body read.
    pub max_bytes: usize,
    /// The HTTP client, made once (making one loads the system's CA certificates: tens of
    /// milliseconds) and shared by the clones of this policy.
    client: std::sync::Arc<std::sync::OnceLock<reqwest::Client>>,
}

impl Default for FetchPolicy {
    fn default() -> Self {
        FetchPolicy {
            allow_http_loopback: false,
            timeout: Duration::from_secs(10),
            max_bytes: 1024 * 1024,
            client: Default::default(),
        }
    }
}

/// Why a fetch failed, in words for the admin (and the sign-in log).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct FetchError(pub String);

fn is_loopback(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    }
}

fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_private() || v4.is_loopback() || v4.is_link_local() || v4.is_unspecified() || v4.is_broadcast()
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
        }
    }
}

impl FetchPolicy {
    /// Checks that the server may fetch `url`; `what` names it in the error.
    pub fn check(&self, url: &str, what: &str) -> Result<url::Url, FetchError> {
        let parsed = url::Url::parse(url.trim()).map_err(|_| FetchError(format!("The {what} is not a valid URL.")))?;
        let Some(host) = parsed.host() else {
            return Err(FetchError(format!("The {what} has no host.")));
        };
        let loopback = is_loopback(&host);
        if loopback && self.allow_http_loopback && matches!(parsed.scheme(), "http" | "https") {
            return Ok(parsed);
        }
        if parsed.scheme() != "https" {
            return Err(FetchError(format!("The {what} must start with https://.")));
        }
        let private = match host {
            url::Host::Ipv4(ip) => is_private(IpAddr::V4(ip)),
            url::Host::Ipv6(ip) => is_private(IpAddr::V6(ip)),
            url::Host::Domain(_) => loopback,
        };
        if private {
            return Err(FetchError(format!("The {what} points at a private or local address.")));
        }
        Ok(parsed)
    }

    fn client(&self) -> Result<reqwest::Client, FetchError> {
        if let Some(c) = self.client.get() {
            return Ok(c.clone());
        }
        let made = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(self.timeout)
            .connect_timeout(self.timeout)
            .build()
            .map_err(|e| FetchError(format!("cannot make an HTTP client: {e}")))?;
        Ok(self.client.get_or_init(|| made).clone())
    }

    /// Sends `request` (already checked) and reads at most `max_bytes` of the answer.
    pub async fn send(
        &self,
        request: http::Request<Vec<u8>>,
        what: &str,
    ) -> Result<http::Response<Vec<u8>>, FetchError> {
        let url = self.check(&request.uri().to_string(), what)?;
        let client = self.client()?;
        let (parts, body) = request.into_parts();
        let mut builder = client.request(parts.method, url).body(body);
        for (name, value) in &parts.headers {
            builder = builder.header(name, value);
        }
        let mut response = builder.send().await.map_err(|e| FetchError(describe(&e, what)))?;
        let status = response.status();
        let headers = response.headers().clone();
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > self.max_bytes {
                        return Err(FetchError(format!("The {what} is larger than {} KB.", self.max_bytes / 1024)));
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => return Err(FetchError(describe(&e, what))),
            }
        }
        let mut out = http::Response::new(body);
        *out.status_mut() = status;
        *out.headers_mut() = headers;
        Ok(out)
    }

    /// GETs `url` and returns its body (a 2xx answer only).
    pub async fn get(&self, url: &str, what: &str) -> DomainResult<Vec<u8>> {
        let checked = self.check(url, what).map_err(|e| DomainError::Invalid(e.0))?;
        let request = http::Request::get(checked.as_str())
            .body(Vec::new())
            .map_err(|e| DomainError::Invalid(format!("The {what} is not a valid URL: {e}")))?;
        let response = self.send(request, what).await.map_err(|e| DomainError::Invalid(e.0))?;
        if !response.status().is_success() {
            return Err(DomainError::Invalid(format!("The {what} answered HTTP {}.", response.status().as_u16())));
        }
        Ok(response.into_body())
    }
}

fn describe(e: &reqwest::Error, what: &str) -> String {
    if e.is_timeout() {
        format!("The {what} did not answer in time.")
    } else if e.is_connect() {
        format!("Cannot connect to the {what}.")
    } else {
        format!("Fetching the {what} failed: {e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_to_public_hosts_unless_loopback_is_allowed() {
        let strict = FetchPolicy::default();
        assert!(strict.check("https://idp.example.com/metadata", "URL").is_ok());
        for bad in [
            "http://idp.example.com/x",
            "https://127.0.0.1/x",
            "https://localhost/x",
            "https://10.0.0.8/x",
            "https://169.254.169.254/latest",
            "https://[::1]/x",
            "file:///etc/passwd",
            "not a url",
        ] {
            assert!(strict.check(bad, "URL").is_err(), "{bad}");
        }
        let tests = FetchPolicy { allow_http_loopback: true, ..FetchPolicy::default() };
        assert!(tests.client().is_ok());
        assert!(tests.check("http://127.0.0.1:4000/x", "URL").is_ok());
        assert!(tests.check("http://localhost:4000/x", "URL").is_ok());
        assert!(tests.check("http://idp.example.com/x", "URL").is_err());
        assert!(tests.check("https://10.1.2.3/x", "URL").is_err());
    }
}
