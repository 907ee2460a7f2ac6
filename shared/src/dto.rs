//! Types the dashboard and the server exchange. Plain data: serializable, no behaviour that
//! needs the server.

use serde::{Deserialize, Serialize};

/// What a console account may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsoleRole {
    /// Administers one organization (tenant).
    OrgAdmin,
    /// Roster's own support staff: read-only, across tenants.
    Support,
}

impl ConsoleRole {
    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            ConsoleRole::OrgAdmin => "org_admin",
            ConsoleRole::Support => "support",
        }
    }

    /// Parses the name stored in the database.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "org_admin" => Some(ConsoleRole::OrgAdmin),
            "support" => Some(ConsoleRole::Support),
            _ => None,
        }
    }

    /// The label shown to people.
    pub fn label(self) -> &'static str {
        match self {
            ConsoleRole::OrgAdmin => "Organization admin",
            ConsoleRole::Support => "Support staff",
        }
    }
}

/// An organization (tenant) as the dashboard shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantSummary {
    /// The opaque tenant key (also the last segment of its SCIM base URL).
    pub id: String,
    /// The organization's name.
    pub name: String,
    /// Whether the SCIM API accepts requests for this tenant.
    pub scim_enabled: bool,
    /// When the organization was created, Unix epoch milliseconds.
    pub created_at_ms: i64,
    /// How many organization admins it has.
    pub admin_count: i64,
}

/// The signed-in person, as every dashboard page needs it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Viewer {
    /// The console account's id.
    pub account_id: String,
    /// The person's name.
    pub name: String,
    /// The person's email address.
    pub email: String,
    /// What they may do.
    pub role: ConsoleRole,
    /// Their organization (organization admins only).
    pub tenant: Option<TenantSummary>,
}

// ----- SCIM setup -----

/// A SCIM credential as admins see it (never its secret).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialView {
    /// Its id (the user name of a Basic credential, the client id of an OAuth client).
    pub id: String,
    /// `bearer`, `basic` or `oauth_client`.
    pub kind: String,
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

// ----- activity -----

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
    /// Only records older than this id (the next page).
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

// ----- users -----

/// Where a user came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserSource {
    /// Pushed by the identity provider over SCIM.
    Scim,
    /// Created at their first SSO sign-in.
    Jit,
    /// Created by an admin in the dashboard.
    Manual,
}

impl UserSource {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            UserSource::Scim => "scim",
            UserSource::Jit => "jit",
            UserSource::Manual => "manual",
        }
    }
    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "scim" => Some(UserSource::Scim),
            "jit" => Some(UserSource::Jit),
            "manual" => Some(UserSource::Manual),
            _ => None,
        }
    }
    /// The label shown to people.
    pub fn label(self) -> &'static str {
        match self {
            UserSource::Scim => "SCIM",
            UserSource::Jit => "Just-in-time",
            UserSource::Manual => "Manual",
        }
    }
}

/// Which users the users table shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserFilter {
    /// Everyone.
    #[default]
    All,
    /// In no user group.
    Unassigned,
    /// `active` is false.
    Deactivated,
    /// From the IdP.
    Scim,
    /// Just in time.
    Jit,
    /// Created in the dashboard.
    Manual,
}

impl UserFilter {
    /// Every filter, in the order the page offers them.
    pub const ALL: [UserFilter; 6] = [
        UserFilter::All,
        UserFilter::Unassigned,
        UserFilter::Deactivated,
        UserFilter::Scim,
        UserFilter::Jit,
        UserFilter::Manual,
    ];
    /// The query-string name.
    pub fn as_str(self) -> &'static str {
        match self {
            UserFilter::All => "all",
            UserFilter::Unassigned => "unassigned",
            UserFilter::Deactivated => "deactivated",
            UserFilter::Scim => "scim",
            UserFilter::Jit => "jit",
            UserFilter::Manual => "manual",
        }
    }
    /// Parses the query-string name (unknown → all).
    pub fn parse(s: &str) -> Self {
        Self::ALL.into_iter().find(|f| f.as_str() == s).unwrap_or_default()
    }
    /// The label shown to people.
    pub fn label(self) -> &'static str {
        match self {
            UserFilter::All => "All",
            UserFilter::Unassigned => "Unassigned",
            UserFilter::Deactivated => "Deactivated",
            UserFilter::Scim => "SCIM",
            UserFilter::Jit => "Just-in-time",
            UserFilter::Manual => "Manual",
        }
    }
}

/// How the users table is sorted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserSort {
    /// By userName.
    UserName,
    /// By display name.
    Name,
    /// By creation time.
    #[default]
    Created,
    /// By last change.
    Updated,
}

impl UserSort {
    /// Every sort key.
    pub const ALL: [UserSort; 4] = [UserSort::UserName, UserSort::Name, UserSort::Created, UserSort::Updated];
    /// The query-string name.
    pub fn as_str(self) -> &'static str {
        match self {
            UserSort::UserName => "user_name",
            UserSort::Name => "name",
            UserSort::Created => "created",
            UserSort::Updated => "updated",
        }
    }
    /// Parses the query-string name (unknown → created).
    pub fn parse(s: &str) -> Self {
        Self::ALL.into_iter().find(|f| f.as_str() == s).unwrap_or_default()
    }
}

/// A users-table request.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserQuery {
    /// Text searched in userName, name, email and externalId (case-insensitive, substring).
    pub search: String,
    /// Which users.
    pub filter: UserFilter,
    /// Sort key.
    pub sort: UserSort,
    /// Descending.
    pub descending: bool,
    /// 1-based page.
    pub page: u32,
    /// Rows per page (at most 200).
    pub page_size: u32,
    /// Only members of this user group.
    pub user_group: Option<String>,
    /// Only users whose role (the highest of their user groups') is this.
    #[serde(default)]
    pub role: Option<GroupRole>,
    /// Only direct members of this IdP (SCIM) group.
    #[serde(default)]
    pub idp_group: Option<String>,
}

/// One row of the users table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserListItem {
    /// The user's id.
    pub id: String,
    /// userName.
    pub user_name: String,
    /// displayName, or given + family name.
    pub display_name: Option<String>,
    /// Primary email.
    pub email: Option<String>,
    /// externalId.
    pub external_id: Option<String>,
    /// Where it came from.
    pub source: UserSource,
    /// Whether active.
    pub active: bool,
    /// Epoch ms.
    pub created_at_ms: i64,
    /// Epoch ms.
    pub updated_at_ms: i64,
    /// The user groups it is in (id, name).
    pub user_groups: Vec<(String, String)>,
    /// Its role: the highest of its user groups' (none without a group).
    #[serde(default)]
    pub role: Option<GroupRole>,
}

/// A page of the users table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserPage {
    /// Matching users in all.
    pub total: i64,
    /// The page (1-based) actually returned.
    pub page: u32,
    /// Rows per page.
    pub page_size: u32,
    /// This page's rows.
    pub rows: Vec<UserListItem>,
}

/// Why a user is in a user group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembershipReason {
    /// `admin`, `rule` or `default`.
    pub reason: String,
    /// The mapping rule, for `rule`.
    pub rule_id: Option<String>,
    /// What the rule says, for `rule` (e.g. `in IdP group 3f…` or the filter).
    pub rule_description: Option<String>,
    /// Who added it (an admin's email), for `admin`.
    pub added_by: Option<String>,
    /// Epoch ms.
    pub added_at_ms: i64,
}

/// A user group a user is in, with every reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserGroupMembership {
    /// The group.
    pub group_id: String,
    /// Its name.
    pub group_name: String,
    /// Its role.
    pub role: GroupRole,
    /// Why the user is in it.
    pub reasons: Vec<MembershipReason>,
}

/// Everything about one user.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserDetail {
    /// The table row.
    pub user: UserListItem,
    /// The SCIM resource (enterprise extension included), pretty-printed.
    pub resource_json: String,
    /// The SCIM resource as JSON, to show attribute by attribute.
    pub attributes: Vec<(String, String)>,
    /// The IdP (SCIM) groups it is in: (id, name, direct).
    pub idp_groups: Vec<(String, String, bool)>,
    /// The user groups it is in, with reasons.
    pub user_groups: Vec<UserGroupMembership>,
    /// The activity about it, newest first.
    pub timeline: Vec<ActivityView>,
    /// The highest role among its user groups.
    pub effective_role: Option<GroupRole>,
}

/// A user an admin creates or edits in the dashboard.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManualUserInput {
    /// userName (often the email).
    pub user_name: String,
    /// Given name.
    pub given_name: String,
    /// Family name.
    pub family_name: String,
    /// Work email.
    pub email: String,
    /// Optional external id.
    pub external_id: String,
    /// Whether active.
    pub active: bool,
}

// ----- user groups -----

/// The fixed set of roles a user group gives its members, highest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupRole {
    /// Reads only.
    Viewer,
    /// Uses the platform.
    Member,
    /// Administers the platform for the organization.
    Admin,
}

impl GroupRole {
    /// Every role, highest first.
    pub const ALL: [GroupRole; 3] = [GroupRole::Admin, GroupRole::Member, GroupRole::Viewer];
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupRole::Admin => "admin",
            GroupRole::Member => "member",
            GroupRole::Viewer => "viewer",
        }
    }
    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
    /// The label shown to people.
    pub fn label(self) -> &'static str {
        match self {
            GroupRole::Admin => "Admin",
            GroupRole::Member => "Member",
            GroupRole::Viewer => "Viewer",
        }
    }
    /// What it allows, in one line.
    pub fn description(self) -> &'static str {
        match self {
            GroupRole::Admin => "Full access to the application, including its settings.",
            GroupRole::Member => "Uses the application: creates and edits their own work.",
            GroupRole::Viewer => "Reads everything, changes nothing.",
        }
    }
}

/// A user group as the dashboard shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserGroupView {
    /// Its id.
    pub id: String,
    /// Its name (unique per organization, case-insensitively).
    pub name: String,
    /// What it is for.
    pub description: String,
    /// The role it gives.
    pub role: GroupRole,
    /// Whether it is the organization's default user group.
    pub is_default: bool,
    /// How many users are in it.
    pub member_count: i64,
    /// Epoch ms.
    pub created_at_ms: i64,
}

/// A user group's create/edit form.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserGroupInput {
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Role.
    pub role: GroupRole,
}

/// Counts the navigation shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NavCounts {
    /// Users in no user group.
    pub unassigned: i64,
}

/// The outcome of assigning users to a user group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assigned {
    /// How many users were added (users already there are not counted).
    pub added: u64,
    /// The group's name.
    pub group_name: String,
}

/// What importing a CSV of users did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportReport {
    /// Users created (0 when any row has an error: an import is all or nothing).
    pub created: usize,
    /// Problems, by 1-based line of the file (the header is line 1).
    pub errors: Vec<(usize, String)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_order_from_viewer_to_admin() {
        assert!(GroupRole::Admin > GroupRole::Member && GroupRole::Member > GroupRole::Viewer);
        assert_eq!([GroupRole::Viewer, GroupRole::Admin, GroupRole::Member].into_iter().max(), Some(GroupRole::Admin));
        for r in GroupRole::ALL {
            assert_eq!(GroupRole::parse(r.as_str()), Some(r));
        }
    }

    #[test]
    fn filters_and_sorts_round_trip_their_names() {
        for f in UserFilter::ALL {
            assert_eq!(UserFilter::parse(f.as_str()), f);
        }
        assert_eq!(UserFilter::parse("bogus"), UserFilter::All);
        for s in UserSort::ALL {
            assert_eq!(UserSort::parse(s.as_str()), s);
        }
        assert_eq!(UserSort::parse(""), UserSort::Created);
    }

    #[test]
    fn health_states_from_traffic() {
        use HealthState::*;
        assert_eq!(HealthState::classify(None, 0, 0), NoTraffic);
        assert_eq!(HealthState::classify(Some(1), 0, 0), Idle);
        assert_eq!(HealthState::classify(Some(1), 100, 0), Healthy);
        assert_eq!(HealthState::classify(Some(1), 100, 19), SomeErrors);
        assert_eq!(HealthState::classify(Some(1), 100, 20), Failing);
        assert_eq!(HealthState::classify(Some(1), 1, 1), Failing);
        // The overview sorts worst first.
        assert!(Failing < SomeErrors && SomeErrors < Healthy && Healthy < Idle && Idle < NoTraffic);
        for s in [
            TenantSort::Name,
            TenantSort::Users,
            TenantSort::Unassigned,
            TenantSort::ErrorRate,
            TenantSort::LastRequest,
        ] {
            assert_eq!(TenantSort::parse(s.as_str()), s);
        }
        assert_eq!(TenantSort::parse("bogus"), TenantSort::Health);
    }
}

/// An attribute the organization's users have, for writing rule conditions.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttributeSuggestion {
    /// The name a condition can use (`department`, `country`, `title`, …).
    pub name: String,
    /// In words ("Department").
    pub label: String,
    /// How many of the users looked at have it.
    pub users: i64,
    /// Its most common values, most common first.
    pub values: Vec<String>,
}

/// How many users a rule change would add to and take out of one user group, with a few names.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RulePreview {
    /// The user group.
    pub user_group_id: String,
    /// Users the rules would newly place there.
    pub gain: usize,
    /// Users the rules would no longer place there.
    pub lose: usize,
    /// Up to five userNames that would be placed.
    pub gain_sample: Vec<String>,
    /// Up to five userNames that would be taken out.
    pub lose_sample: Vec<String>,
}

/// A whole-tenant evaluation of the mapping rules (after a rule change), as the page shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MappingRun {
    /// Its id.
    pub id: String,
    /// What started it.
    pub reason: String,
    /// Users to evaluate.
    pub total: i64,
    /// Users evaluated so far.
    pub done: i64,
    /// How many of them changed user groups.
    #[serde(default)]
    pub changed: i64,
    /// Epoch ms.
    pub started_at_ms: i64,
    /// Epoch ms, once finished.
    pub finished_at_ms: Option<i64>,
    /// Why it stopped, if it failed.
    pub error: Option<String>,
}

// ----- SCIM health -----

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

// ----- support console -----

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
}

/// An organization's state for its admins' overview: what is set up, how the IdP is doing,
/// and so what to do next.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgOverview {
    /// The organization, its SCIM setup and health, and its user counts.
    pub state: TenantInspection,
    /// Mapping rules (on or off).
    pub rules: usize,
    /// User groups.
    pub user_groups: usize,
    /// Whether any user is in a user group.
    pub any_assigned: bool,
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
