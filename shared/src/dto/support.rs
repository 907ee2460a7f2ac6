//! The support console, and the organization overview it shares with admins.

use serde::{Deserialize, Serialize};

use super::{HealthState, MappingRun, ScimSetup, TenantSummary, UserListItem};

/// One tenant in the support console's overview.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantOverview {
    /// The tenant key.
    pub id: String,
    /// The organization's name.
    pub name: String,
    /// Epoch ms.
    pub created_at_ms: i64,
    /// Whether its SCIM API is on.
    pub scim_enabled: bool,
    /// Credentials that still work (not revoked, not expired).
    pub active_credentials: i64,
    /// The last use of any of its credentials, epoch ms.
    pub credential_last_used_ms: Option<i64>,
    /// Users of every source.
    pub users: i64,
    /// Users in no user group.
    pub unassigned: i64,
    /// The last SCIM request, epoch ms.
    pub last_request_ms: Option<i64>,
    /// SCIM requests in the last 24 hours.
    pub requests_24h: i64,
    /// Of which failed.
    pub errors_24h: i64,
    /// What those figures mean.
    pub health: HealthState,
    /// When the operator disabled it (epoch ms).
    #[serde(default)]
    pub disabled_at_ms: Option<i64>,
}

/// How to order the tenants overview.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TenantSort {
    /// Worst health first, then by name.
    #[default]
    Health,
    /// By organization name.
    Name,
    /// Most users first.
    Users,
    /// Most unassigned first.
    Unassigned,
    /// Highest error rate first.
    ErrorRate,
    /// Most recent IdP request first.
    LastRequest,
}

impl TenantSort {
    /// The name used in URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            TenantSort::Health => "health",
            TenantSort::Name => "name",
            TenantSort::Users => "users",
            TenantSort::Unassigned => "unassigned",
            TenantSort::ErrorRate => "error_rate",
            TenantSort::LastRequest => "last_request",
        }
    }

    /// Parses the URL name (unknown: by health).
    pub fn parse(s: &str) -> TenantSort {
        [TenantSort::Name, TenantSort::Users, TenantSort::Unassigned, TenantSort::ErrorRate, TenantSort::LastRequest]
            .into_iter()
            .find(|t| t.as_str() == s)
            .unwrap_or_default()
    }
}

/// Which tenants the overview lists.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantQuery {
    /// A part of the organization's name or its tenant key; empty for all.
    pub search: String,
    /// The order.
    pub sort: TenantSort,
    /// Reverse the order.
    pub reverse: bool,
}

/// A user found by the cross-tenant search.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserHit {
    /// The tenant key.
    pub tenant_id: String,
    /// The organization's name.
    pub tenant_name: String,
    /// What matched: `userName`, `email` or `externalId`.
    pub matched: String,
    /// The user.
    pub user: UserListItem,
}

/// One SCIM group as the support console lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScimGroupView {
    /// Its id.
    pub id: String,
    /// displayName.
    pub display_name: String,
    /// externalId.
    pub external_id: Option<String>,
    /// Direct members (users and groups).
    pub members: i64,
    /// Epoch ms.
    pub updated_at_ms: i64,
}

/// What the support console shows at the top of a tenant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantInspection {
    /// The organization.
    pub tenant: TenantSummary,
    /// Its SCIM setup (credentials without secrets, health).
    pub scim: ScimSetup,
    /// Users of every source.
    pub users: i64,
    /// Users in no user group.
    pub unassigned: i64,
    /// What the deprovisioning brake holds, and its settings.
    #[serde(default)]
    pub held: super::HeldChanges,
    /// Its webhook endpoints: status, backlog, latest deliveries.
    #[serde(default)]
    pub webhooks: Vec<super::EndpointView>,
}

/// An organization's state for its admins' overview: what is set up, how the IdP is doing,
/// and so what to do next.
///
/// Only what the page shows. The support console's [`TenantInspection`] also carries every
/// credential, the IdP's diagnostics and latest errors, held changes and webhooks: sent to the
/// Overview, the browser had to decode them all, and the code to decode them was a third of
/// the Overview's first-load wasm. The server reads only what it shows
/// (`service::overview`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgOverview {
    /// The organization, its SCIM setup and health, and its user counts.
    pub state: OverviewState,
    /// Mapping rules (on or off).
    pub rules: usize,
    /// User groups.
    pub user_groups: usize,
    /// Whether any user is in a user group.
    pub any_assigned: bool,
}

/// The organization, its SCIM setup and its user counts, for the Overview.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverviewState {
    /// The organization.
    pub tenant: TenantSummary,
    /// Its SCIM setup.
    pub scim: OverviewScim,
    /// Users of every source.
    pub users: i64,
    /// Users in no user group.
    pub unassigned: i64,
}

/// The SCIM setup at a glance, for the Overview.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverviewScim {
    /// Whether the SCIM API accepts requests for this tenant.
    pub enabled: bool,
    /// `{public URL}/scim/v2/{tenant}`.
    pub scim_base_url: String,
    /// Credentials not revoked.
    pub unrevoked_credentials: usize,
    /// The IdP's traffic.
    pub health: TrafficCounts,
}

/// The IdP's traffic in figures ([`super::ScimHealth`] without its latest errors).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrafficCounts {
    /// Epoch ms of the last SCIM request.
    pub last_request_at_ms: Option<i64>,
    /// SCIM requests in the last 24 hours.
    pub requests_24h: i64,
    /// Of which failed (status ≥ 400).
    pub errors_24h: i64,
}

impl TrafficCounts {
    /// The state these figures mean.
    pub fn state(&self) -> super::HealthState {
        super::HealthState::classify(self.last_request_at_ms, self.requests_24h, self.errors_24h)
    }
}

/// One mapping rule, described, as the support console shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleInspection {
    /// Its id.
    pub id: String,
    /// The condition in words (“in IdP group “Sales”” or “attributes match …”).
    pub condition: String,
    /// The user group it places users in.
    pub user_group: String,
    /// Whether it is on.
    pub enabled: bool,
}

/// The mapping rules of a tenant, as the support console shows them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MappingsInspection {
    /// The rules in order.
    pub rules: Vec<RuleInspection>,
    /// The default user group's name, if one is set.
    pub default_group: Option<String>,
    /// The last evaluation of the whole tenant.
    pub latest_run: Option<MappingRun>,
}
