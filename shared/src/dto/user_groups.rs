//! User groups, their roles, and assigning users to them.

use serde::{Deserialize, Serialize};

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
    /// At most this many users (a license group); `None`: no limit.
    #[serde(default)]
    pub seat_limit: Option<i64>,
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
    /// Deprovisioning changes the brake holds.
    #[serde(default)]
    pub held: u64,
}

/// The outcome of assigning users to a user group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assigned {
    /// How many users were added (users already there are not counted).
    pub added: u64,
    /// The group's name.
    pub group_name: String,
}

#[cfg(test)]
mod tests {
    use super::GroupRole;

    /// The store keeps each user's highest role as the `MIN` of its groups' role names
    /// (migration 0029): the names must sort the other way round from the ranks.
    #[test]
    fn the_highest_role_has_the_lowest_name() {
        let names: Vec<&str> = GroupRole::ALL.iter().map(|r| r.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
        assert!(GroupRole::ALL.windows(2).all(|w| w[0] > w[1]), "ALL is highest first");
    }
}
