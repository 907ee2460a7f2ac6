//! The users table, a user's page, manual users and CSV import.

use serde::{Deserialize, Serialize};

use super::{ActivityView, GroupRole};

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
    /// Matching users in all (at least this many when `total_capped`).
    pub total: i64,
    /// A search stopped counting at `total`: more users match.
    #[serde(default)]
    pub total_capped: bool,
    /// The page (1-based) actually returned.
    pub page: u32,
    /// Rows per page.
    pub page_size: u32,
    /// This page's rows.
    pub rows: Vec<UserListItem>,
}

/// Who put a user in a user group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MembershipKind {
    /// An admin assigned them.
    Admin,
    /// A mapping rule placed them.
    Rule,
    /// No rule matched; the default user group took them.
    Default,
}

impl MembershipKind {
    /// Parses the stored name (`admin`, `rule`, `default`).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(MembershipKind::Admin),
            "rule" => Some(MembershipKind::Rule),
            "default" => Some(MembershipKind::Default),
            _ => None,
        }
    }
}

/// Why a user is in a user group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembershipReason {
    /// Who put them there.
    pub reason: MembershipKind,
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
    /// The highest role among its user groups, else the organization's default role.
    pub effective_role: Option<GroupRole>,
    /// Its single sign-on: linked identities and latest sign-ins.
    #[serde(default)]
    pub sso: super::UserSso,
    /// A manual user's adoption mark: the IdP's create of a user with this value adopts it.
    #[serde(default)]
    pub adopt: Option<(super::AdoptBy, String)>,
    /// A deprovisioning of this user the brake holds.
    #[serde(default)]
    pub held: Option<super::HeldChange>,
    /// User groups the user should be in but a seat limit kept out: (group id, name, why,
    /// since when in epoch ms).
    #[serde(default)]
    pub refused: Vec<(String, String, String, i64)>,
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

/// What importing a CSV of users did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportReport {
    /// Users created (0 when any row has an error: an import is all or nothing).
    pub created: usize,
    /// Problems, by 1-based line of the file (the header is line 1).
    pub errors: Vec<(usize, String)>,
}
