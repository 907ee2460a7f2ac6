//! The activity log.

use serde::{Deserialize, Serialize};

/// One activity record as the dashboard shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityView {
    /// Its id.
    pub id: i64,
    /// Epoch ms.
    pub at_ms: i64,
    /// `scim`, `admin`, `support` or `system`.
    pub actor: String,
    /// Who: the admin's email, or the SCIM credential's name.
    pub actor_name: Option<String>,
    /// The SCIM credential's id.
    pub credential_id: Option<String>,
    /// HTTP method (SCIM requests).
    pub method: Option<String>,
    /// Request path (SCIM requests).
    pub path: Option<String>,
    /// HTTP status (SCIM requests).
    pub status: Option<i32>,
    /// Latency (SCIM requests).
    pub latency_ms: Option<i32>,
    /// `User`, `Group`, `UserGroup`, `Credential`, …
    pub resource_type: Option<String>,
    /// The resource's id.
    pub resource_id: Option<String>,
    /// One line.
    pub summary: String,
    /// The SCIM error type, on errors.
    pub scim_type: Option<String>,
    /// The error detail, on errors.
    pub detail: Option<String>,
    /// The client's User-Agent.
    pub user_agent: Option<String>,
    /// The SCIM request's body with secrets removed (only on a single record's page).
    pub request_body: Option<String>,
}

impl ActivityView {
    /// Whether it records a failure.
    pub fn is_error(&self) -> bool {
        self.status.is_some_and(|s| s >= 400)
    }
}

/// Which activity records to list.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityQuery {
    /// `success`, `error` or empty for both.
    pub outcome: String,
    /// `User`, `Group`, `UserGroup`, `Credential`, … or empty.
    pub resource_type: String,
    /// A resource (user) id, or empty.
    pub resource_id: String,
    /// A credential id, or empty.
    pub credential_id: String,
    /// `scim`, `admin`, `support` or empty.
    pub actor: String,
    /// Only records at or after this (epoch ms; a negative value counts back from now).
    pub since_ms: Option<i64>,
    /// Only records before this (epoch ms).
    pub until_ms: Option<i64>,
    /// Only records after this one in the list's order, newest first by time then id (the next
    /// page: the last record's id).
    pub before_id: Option<i64>,
    /// Only what changed something: leaves out the IdP's reads (GET requests).
    #[serde(default)]
    pub changes_only: bool,
    /// Text in the record's summary, or in the user name or email of the user it is about
    /// (case-insensitive); empty for all.
    #[serde(default)]
    pub search: String,
}

/// A page of activity, newest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityPage {
    /// The records.
    pub records: Vec<ActivityView>,
    /// The id to pass as `before_id` for the next page, if there is more.
    pub next_before_id: Option<i64>,
}
