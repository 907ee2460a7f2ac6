//! IdP diagnostics: which identity provider is calling and how, whether it went silent, which
//! credentials are about to expire, and its most frequent errors with a fix for each.

use serde::{Deserialize, Serialize};

/// The identity provider behind the SCIM traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum DetectedIdp {
    /// No traffic yet, or nothing to tell by.
    #[default]
    Unknown,
    /// Okta.
    Okta,
    /// Microsoft Entra ID.
    EntraId,
    /// OneLogin.
    OneLogin,
    /// JumpCloud.
    JumpCloud,
    /// PingOne / PingFederate.
    Ping,
    /// Another client (its User-Agent).
    Other,
}

impl DetectedIdp {
    /// In words.
    pub fn label(&self) -> &'static str {
        match self {
            DetectedIdp::Unknown => "Not known yet",
            DetectedIdp::Okta => "Okta",
            DetectedIdp::EntraId => "Microsoft Entra ID",
            DetectedIdp::OneLogin => "OneLogin",
            DetectedIdp::JumpCloud => "JumpCloud",
            DetectedIdp::Ping => "PingOne",
            DetectedIdp::Other => "Another SCIM client",
        }
    }
}

/// Which PATCH dialect an Entra ID provisioning job speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EntraMode {
    /// Without the `aadOptscim062020` flag: capitalised ops, booleans as strings, group members
    /// removed by a value list.
    Legacy,
    /// With the flag: RFC 7644 PATCH (lower-case ops, real booleans, members removed by filter).
    Compliant,
    /// Entra ID has not sent a PATCH yet.
    NotSeen,
}

/// An IdP that called regularly and then stopped.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Silence {
    /// Its last request (epoch ms).
    pub last_request_at_ms: i64,
    /// How often it called before (minutes, the median gap between its bursts).
    pub usual_interval_minutes: i64,
}

/// A kind of error the IdP keeps getting, with what fixes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorGroup {
    /// HTTP status.
    pub status: i32,
    /// SCIM error type, if any.
    pub scim_type: Option<String>,
    /// How many in the last 24 hours.
    pub count: u64,
    /// The latest one's method and path, and detail.
    pub example: String,
    /// The activity record of the latest one.
    pub latest_id: i64,
    /// What to do, in one line.
    pub fix: String,
}

/// A credential expiring soon.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpiringCredential {
    /// Its name.
    pub name: String,
    /// When (epoch ms).
    pub expires_at_ms: i64,
    /// Days left (rounded up).
    pub days_left: i64,
    /// Whether the IdP used it in the last 7 days (an unused one does no harm when it expires).
    pub in_use: bool,
}

/// What the SCIM page and the support console say about the IdP.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct IdpDiagnostics {
    /// Who is calling (from the last 7 days of traffic).
    pub idp: DetectedIdp,
    /// The clients' User-Agent, most frequent first (at most 3).
    pub user_agents: Vec<String>,
    /// For Entra ID: its PATCH dialect.
    pub entra_mode: Option<EntraMode>,
    /// What the Entra mode was told by: (legacy signals, compliant signals).
    pub entra_signals: (u64, u64),
    /// The IdP went silent.
    pub silent: Option<Silence>,
    /// Credentials (not revoked) that expire within 14 days.
    pub expiring: Vec<ExpiringCredential>,
    /// The most frequent errors of the last 24 hours.
    pub top_errors: Vec<ErrorGroup>,
}
