//! Single sign-on: an organization's connections, its sign-in log, and what a signed-in
//! person may see of their own access.

use serde::{Deserialize, Serialize};

use super::GroupRole;

/// The protocol of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SsoProtocol {
    /// SAML 2.0 (Web Browser SSO profile, HTTP-Redirect request, HTTP-POST response).
    Saml,
    /// OpenID Connect (authorization code flow with PKCE).
    Oidc,
}

impl SsoProtocol {
    /// The stored name (also the URL segment: `/sso/saml/…`, `/sso/oidc/…`).
    pub fn as_str(self) -> &'static str {
        match self {
            SsoProtocol::Saml => "saml",
            SsoProtocol::Oidc => "oidc",
        }
    }
    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "saml" => Some(SsoProtocol::Saml),
            "oidc" => Some(SsoProtocol::Oidc),
            _ => None,
        }
    }
    /// The label shown to people.
    pub fn label(self) -> &'static str {
        match self {
            SsoProtocol::Saml => "SAML 2.0",
            SsoProtocol::Oidc => "OpenID Connect",
        }
    }
}

/// An IdP signing certificate, as the SSO page lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateView {
    /// The subject (e.g. `CN=okta`).
    pub subject: String,
    /// When it stops being valid, epoch ms.
    pub not_after_ms: i64,
    /// SHA-256 fingerprint, colon-separated hex.
    pub sha256: String,
}

/// What an admin pastes into the IdP: Roster's side of a connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpValues {
    /// SAML: the SP entity ID (= the metadata URL). OIDC: empty.
    pub entity_id: String,
    /// SAML: the SP metadata URL. OIDC: empty.
    pub metadata_url: String,
    /// SAML: the ACS URL. OIDC: empty.
    pub acs_url: String,
    /// OIDC: the redirect URI. SAML: empty.
    pub redirect_uri: String,
    /// Where a person starts a sign-in through this connection (SP-initiated).
    pub sign_in_url: String,
}

/// A connection as the SSO page shows it (secrets never leave the server).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionView {
    /// Its id (in Roster's URLs).
    pub id: String,
    /// The name an admin gave it.
    pub name: String,
    /// SAML or OIDC.
    pub protocol: SsoProtocol,
    /// Whether people can sign in through it.
    pub enabled: bool,
    /// SAML: whether a response the IdP sends unasked (IdP-initiated) is accepted.
    pub allow_idp_initiated: bool,
    /// The IdP's SAML entity ID or OIDC issuer.
    pub idp_id: String,
    /// SAML: the IdP's sign-in URL.
    pub sso_url: Option<String>,
    /// SAML: the IdP's signing certificates (several during a rollover).
    pub certificates: Vec<CertificateView>,
    /// OIDC: the client id.
    pub client_id: Option<String>,
    /// OIDC: the scopes asked for.
    pub scopes: Option<String>,
    /// Roster's values to paste into the IdP.
    pub sp: SpValues,
    /// Epoch ms.
    pub created_at_ms: i64,
}

/// A new SAML connection, from the IdP's metadata XML or typed values.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SamlConnectionInput {
    /// Its name.
    pub name: String,
    /// The IdP's metadata XML; when given, the three fields below are read from it.
    pub metadata_xml: String,
    /// Where the server fetches the IdP's metadata, when no XML is pasted (https only).
    pub metadata_url: String,
    /// The IdP's entity ID.
    pub entity_id: String,
    /// The IdP's SSO URL (HTTP-Redirect binding).
    pub sso_url: String,
    /// The IdP's signing certificates, PEM (one or more) or base64 DER.
    pub certificates: String,
}

/// A new OIDC connection.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OidcConnectionInput {
    /// Its name.
    pub name: String,
    /// The issuer (its discovery document is at `{issuer}/.well-known/openid-configuration`).
    pub issuer: String,
    /// The client id the IdP gave Roster.
    pub client_id: String,
    /// The client secret (stored sealed with the server key).
    pub client_secret: String,
    /// Scopes, space-separated; `openid email profile` when empty.
    pub scopes: String,
}

/// How a sign-in attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignInOutcome {
    /// The person was signed in (or, for a test sign-in, would have been).
    SignedIn,
    /// Refused; the record says why.
    Refused,
}

impl SignInOutcome {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            SignInOutcome::SignedIn => "signed_in",
            SignInOutcome::Refused => "refused",
        }
    }
    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "signed_in" => Some(SignInOutcome::SignedIn),
            "refused" => Some(SignInOutcome::Refused),
            _ => None,
        }
    }
}

/// One attempt of the sign-in log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInRecord {
    /// Its id.
    pub id: String,
    /// Epoch ms.
    pub at_ms: i64,
    /// The connection (gone if it was deleted since).
    pub connection_id: Option<String>,
    /// The connection's name at the time.
    pub connection_name: String,
    /// Signed in or refused.
    pub outcome: SignInOutcome,
    /// For a refusal, a short code (`bad_signature`, `wrong_audience`, `expired`, `replayed`,
    /// `unknown_user`, …).
    pub reason: Option<String>,
    /// What happened, in words.
    pub message: String,
    /// The IdP's subject (SAML NameID, OIDC `sub`), when one was read.
    pub subject: Option<String>,
    /// The email the IdP sent, when one was read.
    pub email: Option<String>,
    /// The user it signed in as.
    pub user_id: Option<String>,
    /// For a test sign-in, the admin who ran it.
    pub test_by: Option<String>,
    /// The client's address.
    pub client_ip: Option<String>,
    /// The raw assertion or claims, with secrets removed.
    pub detail: Option<String>,
}

/// An email domain of the organization, as the SSO page shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainView {
    /// The domain (lower case).
    pub domain: String,
    /// When it was verified, epoch ms; `None` while pending.
    pub verified_at_ms: Option<i64>,
    /// The TXT record's name to create.
    pub txt_name: String,
    /// The TXT record's value.
    pub txt_value: String,
}

/// The SSO page's data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SsoSetup {
    /// The organization's connections, oldest first.
    pub connections: Vec<ConnectionView>,
    /// The latest sign-in attempts, newest first.
    pub sign_ins: Vec<SignInRecord>,
    /// Where the organization's people start an SSO sign-in.
    pub tenant_sign_in_url: String,
    /// The organization's email domains.
    #[serde(default)]
    pub domains: Vec<DomainView>,
}

/// What a person signed in through SSO sees of their own access (*My access*).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MyAccess {
    /// Their display name (or userName).
    pub name: String,
    /// Their userName.
    pub user_name: String,
    /// Their primary email.
    pub email: Option<String>,
    /// Their organization's name.
    pub organization: String,
    /// The connection they signed in through.
    pub connection: String,
    /// Their effective role: the highest among their user groups; `None` when they have none.
    pub role: Option<GroupRole>,
    /// Their user groups and each one's role.
    pub groups: Vec<(String, GroupRole)>,
}
