//! Console accounts and who is signed in.

use serde::{Deserialize, Serialize};

/// What a console account may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsoleRole {
    /// Administers one organization (tenant).
    OrgAdmin,
    /// Roster's own support staff: read-only, across tenants.
    Support,
    /// Signed in through SSO with the Viewer role: the organization's dashboard, read-only.
    /// (Never stored: SSO roles come from the person's user groups at every request.)
    OrgViewer,
    /// Signed in through SSO with the Member role: their own access (*My access*).
    Member,
    /// Signed in through SSO without any user group: a page saying so.
    NoAccess,
}

impl ConsoleRole {
    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            ConsoleRole::OrgAdmin => "org_admin",
            ConsoleRole::Support => "support",
            ConsoleRole::OrgViewer => "org_viewer",
            ConsoleRole::Member => "member",
            ConsoleRole::NoAccess => "no_access",
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
            ConsoleRole::OrgViewer => "Viewer",
            ConsoleRole::Member => "Member",
            ConsoleRole::NoAccess => "No access",
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
    /// When the service operator disabled it (epoch ms); `None` while it is enabled.
    #[serde(default)]
    pub disabled_at_ms: Option<i64>,
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
    /// Their organization (everyone but support staff).
    pub tenant: Option<TenantSummary>,
    /// Signed in through their organization's SSO (then `account_id` is their user's id).
    #[serde(default)]
    pub sso: bool,
}

/// An organization's admins and open invitations (the *Admins* page).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Team {
    /// The admins: name, email, created (epoch ms), last sign-in.
    pub admins: Vec<(String, String, i64, Option<i64>)>,
    /// Invitations not used yet: email, invited by, expires (epoch ms).
    pub invitations: Vec<(String, String, i64)>,
    /// Whether the viewer has a password here (a console account; SSO people have none).
    pub can_change_password: bool,
}

/// A new invitation, shown once to the admin who made it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewInvitation {
    /// The address invited.
    pub email: String,
    /// The link to send them (holds the token; shown once).
    pub link: String,
    /// When it stops working, epoch ms.
    pub expires_at_ms: i64,
    /// Whether it was emailed to them: `None` when email is off (share the link yourself).
    #[serde(default)]
    pub emailed: Option<bool>,
}

/// What an invitation link shows before it is accepted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvitationInfo {
    /// The organization.
    pub organization: String,
    /// The address invited.
    pub email: String,
}
