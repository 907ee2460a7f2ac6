//! Events, API keys and webhooks: what the platform's applications read and receive, and what
//! the *Integrations* page shows.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Every event type, in the order the documentation lists them.
pub const EVENT_TYPES: [&str; 17] = [
    "user.created",
    "user.updated",
    "user.deactivated",
    "user.reactivated",
    "user.deleted",
    "user.role_changed",
    "group.created",
    "group.updated",
    "group.deleted",
    "group.member_added",
    "group.member_removed",
    "user_group.member_added",
    "user_group.member_removed",
    "sso.signed_in",
    "connection.activated",
    "connection.deactivated",
    "credential.expiring",
];

/// The type of the test event *Send test event* delivers (never stored, never in the API).
pub const TEST_EVENT: &str = "webhook.test";

/// One event, as the events API returns it and a webhook delivers it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct EventView {
    /// Unique (`evt_…`); a receiver drops an id it has seen (a delivery may repeat after a
    /// crash).
    pub id: String,
    /// One of [`EVENT_TYPES`].
    #[serde(rename = "type")]
    pub kind: String,
    /// The organization.
    pub tenant: String,
    /// Increases by one per event of the organization, in the order the changes committed.
    pub seq: i64,
    /// When the change committed (RFC 3339, UTC).
    pub created_at: String,
    /// The resource as it is after the change (the user, the group, …).
    #[cfg_attr(feature = "ssr", schema(value_type = Object))]
    pub data: Value,
    /// What caused it: `{"kind": "scim", "request_id"}`, `{"kind": "admin", "actor"}`,
    /// `{"kind": "rules", "run_id"}`, `{"kind": "sign_in", "connection_id"}` or
    /// `{"kind": "system", "what"}`.
    #[cfg_attr(feature = "ssr", schema(value_type = Object))]
    pub cause: Value,
}

/// A page of events.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct EventsPage {
    /// The events, oldest first.
    pub data: Vec<EventView>,
    /// Pass as `after` for the next page (also when this one is empty: poll with it).
    pub next_cursor: String,
    /// Whether more events are ready now.
    pub has_more: bool,
}

/// An API key as the *Integrations* page lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyView {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The first characters of its secret.
    pub prefix: String,
    /// Epoch ms.
    pub created_at: i64,
    /// Who created it.
    pub created_by: String,
    /// Epoch ms (to the minute).
    pub last_used_at: Option<i64>,
    /// Epoch ms.
    pub revoked_at: Option<i64>,
}

/// A webhook endpoint as the *Integrations* page shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointView {
    /// Its id.
    pub id: String,
    /// Where deliveries go.
    pub url: String,
    /// The admin's note.
    pub description: String,
    /// The event types it receives (empty: all).
    pub types: Vec<String>,
    /// Whether it is on.
    pub enabled: bool,
    /// Whether retries gave up (deliveries stopped until an admin retries).
    pub failing: bool,
    /// Failed attempts in a row.
    pub attempts: i64,
    /// When the next attempt is due (epoch ms), while retrying.
    pub next_attempt_at: Option<i64>,
    /// The last failure.
    pub last_error: Option<String>,
    /// Events waiting for it.
    pub backlog: i64,
    /// Its latest deliveries, newest first.
    pub deliveries: Vec<DeliveryView>,
}

/// One delivery attempt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryView {
    /// Its id.
    pub id: String,
    /// The event's id.
    pub event_id: String,
    /// The event's type.
    pub event_type: String,
    /// `event`, `resend` or `test`.
    pub kind: String,
    /// Which attempt (1 = first).
    pub attempt: i64,
    /// Epoch ms.
    pub at: i64,
    /// Whether the endpoint answered 2xx.
    pub ok: bool,
    /// Its HTTP status, if it answered.
    pub status_code: Option<i64>,
    /// Milliseconds.
    pub latency_ms: i64,
    /// The start of its answer.
    pub response: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
}

/// The *Integrations* page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Integrations {
    /// The organization's API keys, newest first.
    pub keys: Vec<ApiKeyView>,
    /// Its webhook endpoints.
    pub endpoints: Vec<EndpointView>,
    /// The events API's base URL.
    pub api_url: String,
    /// Events kept, in days.
    pub retention_days: i64,
    /// The organization's latest event seq (0 before the first).
    pub last_seq: i64,
}

/// A secret made on the *Integrations* page, shown once: an API key or an endpoint's signing
/// secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewIntegrationSecret {
    /// `api_key` or `webhook`.
    pub kind: String,
    /// The key's name or the endpoint's URL.
    pub name: String,
    /// The secret.
    pub secret: String,
}
