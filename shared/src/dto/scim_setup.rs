//! The SCIM setup page: credentials, secrets shown once, and the IdP's traffic.

use serde::{Deserialize, Serialize};

use super::ActivityView;

/// The kinds of SCIM credential.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    /// `Authorization: Bearer rst_…` (Okta "HTTP Header", Entra "Secret token").
    Bearer,
    /// HTTP Basic.
    Basic,
    /// OAuth 2.0 client credentials.
    OauthClient,
}

impl CredentialKind {
    /// Every kind.
    pub const ALL: [CredentialKind; 3] = [CredentialKind::Bearer, CredentialKind::Basic, CredentialKind::OauthClient];

    /// The stored name: `bearer`, `basic`, `oauth_client`.
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialKind::Bearer => "bearer",
            CredentialKind::Basic => "basic",
            CredentialKind::OauthClient => "oauth_client",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        CredentialKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// In words, for the activity log ("created token …").
    pub fn label(self) -> &'static str {
        match self {
            CredentialKind::Bearer => "token",
            CredentialKind::Basic => "Basic credential",
            CredentialKind::OauthClient => "OAuth client",
        }
    }

    /// Its name in the credentials table.
    pub fn title(self) -> &'static str {
        match self {
            CredentialKind::Bearer => "Bearer token",
            CredentialKind::Basic => "HTTP Basic",
            CredentialKind::OauthClient => "OAuth client",
        }
    }
}

/// A SCIM credential as admins see it (never its secret).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialView {
    /// Its id (the user name of a Basic credential, the client id of an OAuth client).
    pub id: String,
    /// Its kind.
    pub kind: CredentialKind,
    /// The name an admin gave it.
    pub name: String,
    /// The first characters of the secret, to tell credentials apart.
    pub prefix: String,
    /// Who created it (an admin's email, `cli`, …).
    pub created_by: String,
    /// Epoch ms.
    pub created_at_ms: i64,
    /// Epoch ms, if it expires.
    pub expires_at_ms: Option<i64>,
    /// Epoch ms, if it was revoked.
    pub revoked_at_ms: Option<i64>,
    /// Epoch ms of its last use (recorded at most once a minute).
    pub last_used_at_ms: Option<i64>,
    /// Whether it has expired (as of the answer).
    pub expired: bool,
    /// The name of the credential a rotation made to replace this one, if any.
    pub replaced_by: Option<String>,
}

/// A secret shown once, right after it was made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewSecret {
    /// The credential it belongs to.
    pub credential: CredentialView,
    /// The secret itself (token, password or client secret).
    pub secret: String,
    /// The tenant's SCIM base URL.
    pub scim_base_url: String,
    /// The OAuth token endpoint (OAuth clients only).
    pub token_endpoint: Option<String>,
}

/// The SCIM provisioning page's data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScimSetup {
    /// Whether the SCIM API accepts requests for this tenant.
    pub enabled: bool,
    /// `{public URL}/scim/v2/{tenant}`.
    pub scim_base_url: String,
    /// Every credential, newest first (revoked ones included, marked).
    pub credentials: Vec<CredentialView>,
    /// How the IdP's traffic looks.
    pub health: ScimHealth,
    /// Who the IdP is, how it speaks, whether it went silent, its most frequent errors.
    #[serde(default)]
    pub diagnostics: super::IdpDiagnostics,
}

/// The IdP's traffic at a glance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScimHealth {
    /// Epoch ms of the last SCIM request.
    pub last_request_at_ms: Option<i64>,
    /// SCIM requests in the last 24 hours.
    pub requests_24h: i64,
    /// Of which failed (status ≥ 400).
    pub errors_24h: i64,
    /// The latest failed requests, newest first.
    pub recent_errors: Vec<ActivityView>,
}

/// How a tenant's SCIM integration looks, from its last 24 hours of IdP traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthState {
    /// At least one in five requests failed.
    Failing,
    /// Some requests failed.
    SomeErrors,
    /// Requests, none failed.
    Healthy,
    /// The IdP called before, but not in the last 24 hours.
    Idle,
    /// The IdP never called.
    NoTraffic,
}

impl HealthState {
    /// Classifies traffic: the last request ever, requests and failures in 24 hours.
    pub fn classify(last_request_at_ms: Option<i64>, requests_24h: i64, errors_24h: i64) -> HealthState {
        match (last_request_at_ms, requests_24h, errors_24h) {
            (None, _, _) => HealthState::NoTraffic,
            (Some(_), 0, _) => HealthState::Idle,
            (Some(_), n, e) if e * 5 >= n => HealthState::Failing,
            (Some(_), _, e) if e > 0 => HealthState::SomeErrors,
            _ => HealthState::Healthy,
        }
    }

    /// The label shown to people.
    pub fn label(self) -> &'static str {
        match self {
            HealthState::Failing => "Failing",
            HealthState::SomeErrors => "Some errors",
            HealthState::Healthy => "Healthy",
            HealthState::Idle => "Idle",
            HealthState::NoTraffic => "No traffic yet",
        }
    }
}

impl ScimHealth {
    /// The state these figures mean.
    pub fn state(&self) -> HealthState {
        HealthState::classify(self.last_request_at_ms, self.requests_24h, self.errors_24h)
    }
}
