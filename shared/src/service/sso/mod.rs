//! Single sign-on: an organization's SAML 2.0 and OpenID Connect connections and the sign-in of
//! its people through them.
//!
//! - [`connections`]: what admins manage (create from metadata or discovery, switch, delete) and
//!   the values Roster shows them to paste into their IdP.
//! - [`saml`]: the service provider — SP metadata, the AuthnRequest (HTTP-Redirect), and the
//!   validation of the Response posted back (samael with xmlsec).
//! - [`oidc`]: the relying party — discovery, the authorization code flow with PKCE, `state`
//!   and `nonce`, ID token and userinfo (the `openidconnect` crate).
//! - [`sign_in`]: where every sign-in ends — the one place that finds (or creates, just in
//!   time) the user for an IdP identity, refuses with a reason, and writes the sign-in log;
//!   [`jit`]: a connection's just-in-time settings and what its claims become.
//! - [`seal`]: client secrets sealed at rest with the server key; [`fetch`]: the bounded HTTP
//!   client for metadata and discovery.

pub mod connections;
pub mod domains;
pub mod fetch;
pub mod jit;
pub mod oidc;
pub mod saml;
pub mod seal;
pub mod sign_in;

use std::sync::Arc;

pub use seal::SealKey;

/// How long a browser has to come back from the IdP.
pub const FLOW_TTL_MS: i64 = 10 * 60 * 1000;

/// The SSO settings of a running instance.
#[derive(Clone, Debug)]
pub struct SsoSettings {
    /// Seals and opens stored client secrets.
    pub key: Arc<SealKey>,
    /// How the server fetches IdP metadata and OIDC discovery documents.
    pub fetch: fetch::FetchPolicy,
    /// The DNS server that domain verification asks (the system's when `None`).
    pub dns_resolver: Option<std::net::SocketAddr>,
}

impl SsoSettings {
    /// Settings with a random key (tests) and the default fetch policy.
    pub fn ephemeral() -> SsoSettings {
        SsoSettings { key: Arc::new(SealKey::random()), fetch: fetch::FetchPolicy::default(), dns_resolver: None }
    }
}

/// A started sign-in: where to send the browser, and the cookie value that binds the flow to it.
#[derive(Clone, Debug)]
pub struct Started {
    /// The IdP URL with the deflated AuthnRequest.
    pub redirect_to: String,
    /// The browser's flow cookie value (kept if the browser already had one).
    pub browser_secret: String,
}

/// Roster's URLs of a connection, under `public_url`.
pub fn sp_values(public_url: &str, protocol: crate::dto::SsoProtocol, id: &str) -> crate::dto::SpValues {
    use crate::dto::SsoProtocol;
    match protocol {
        SsoProtocol::Saml => {
            let metadata_url = format!("{public_url}/sso/saml/{id}/metadata");
            crate::dto::SpValues {
                entity_id: metadata_url.clone(),
                metadata_url,
                acs_url: format!("{public_url}/sso/saml/{id}/acs"),
                redirect_uri: String::new(),
                sign_in_url: format!("{public_url}/sso/saml/{id}/login"),
            }
        }
        SsoProtocol::Oidc => crate::dto::SpValues {
            entity_id: String::new(),
            metadata_url: String::new(),
            acs_url: String::new(),
            redirect_uri: format!("{public_url}/sso/oidc/{id}/callback"),
            sign_in_url: format!("{public_url}/sso/oidc/{id}/login"),
        },
    }
}

/// A random value for flow ids, cookies, nonces: 128 bits, hex.
pub(crate) fn random_token() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Text cut to at most `max` bytes (on a character boundary), for logs and the sign-in log.
pub(crate) fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes in all)", &s[..end], s.len())
}
