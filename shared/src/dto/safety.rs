//! Provisioning safety: the mass-deprovisioning brake, the changes it held, the delete policy
//! and the users it keeps after a soft delete.

use serde::{Deserialize, Serialize};

/// What a SCIM `DELETE` of a user does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum DeletePolicy {
    /// The user and their memberships are deleted.
    #[default]
    Delete,
    /// The user is gone for SCIM (404, userName free) but kept, restorable by an admin, for
    /// `soft_delete_days`, then purged.
    Soft,
}

impl DeletePolicy {
    /// As stored.
    pub fn as_str(&self) -> &'static str {
        match self {
            DeletePolicy::Delete => "delete",
            DeletePolicy::Soft => "soft",
        }
    }

    /// From the stored text (anything unknown: delete).
    pub fn parse(s: &str) -> DeletePolicy {
        if s == "soft" {
            DeletePolicy::Soft
        } else {
            DeletePolicy::Delete
        }
    }
}

/// An organization's provisioning safety settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SafetySettings {
    /// Whether the mass-deprovisioning brake is on.
    pub brake_enabled: bool,
    /// The share of active users (percent) that may lose access within the window.
    pub brake_percent: u32,
    /// ... but never fewer than this many users.
    pub brake_min_users: u32,
    /// The window, in minutes.
    pub brake_window_minutes: u32,
    /// What a SCIM DELETE does.
    pub delete_policy: DeletePolicy,
    /// How long soft-deleted users are kept.
    pub soft_delete_days: u32,
}

impl Default for SafetySettings {
    fn default() -> Self {
        SafetySettings {
            brake_enabled: true,
            brake_percent: 10,
            brake_min_users: 10,
            brake_window_minutes: 60,
            delete_policy: DeletePolicy::Delete,
            soft_delete_days: 30,
        }
    }
}

impl SafetySettings {
    /// The settings in one line.
    pub fn describe(&self) -> String {
        let brake = if self.brake_enabled {
            format!(
                "brake on at {}% of active users (at least {}) per {} minutes",
                self.brake_percent, self.brake_min_users, self.brake_window_minutes
            )
        } else {
            "brake off".to_string()
        };
        let delete = match self.delete_policy {
            DeletePolicy::Delete => "SCIM DELETE deletes".to_string(),
            DeletePolicy::Soft => format!("SCIM DELETE soft-deletes (kept {} days)", self.soft_delete_days),
        };
        format!("{brake}; {delete}")
    }

    /// How many users may lose access within the window when `active` users are active (the
    /// users deprovisioned in the window count as active: they were at its start).
    pub fn brake_limit(&self, active: u64) -> u64 {
        let share = (active * u64::from(self.brake_percent)).div_ceil(100);
        share.max(u64::from(self.brake_min_users))
    }
}

/// What a held change would do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HeldKind {
    /// Deactivate the user (a PATCH or PUT with `active: false`).
    Deactivate,
    /// Delete the user (a DELETE).
    Delete,
}

impl HeldKind {
    /// As stored.
    pub fn as_str(&self) -> &'static str {
        match self {
            HeldKind::Deactivate => "deactivate",
            HeldKind::Delete => "delete",
        }
    }

    /// The change, as the tables name it.
    pub fn label(&self) -> &'static str {
        match self {
            HeldKind::Deactivate => "Deactivate",
            HeldKind::Delete => "Delete",
        }
    }

    /// The change, in a sentence ("the held deactivation of …").
    pub fn noun(&self) -> &'static str {
        match self {
            HeldKind::Deactivate => "deactivation",
            HeldKind::Delete => "deletion",
        }
    }

    /// From the stored text.
    pub fn parse(s: &str) -> HeldKind {
        if s == "delete" {
            HeldKind::Delete
        } else {
            HeldKind::Deactivate
        }
    }
}

/// A deprovisioning request the brake held.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldChange {
    /// Its id.
    pub id: String,
    /// The user it would deprovision.
    pub user_id: String,
    /// Their userName when it was held.
    pub user_name: String,
    /// Deactivate or delete.
    pub kind: HeldKind,
    /// The request (`PATCH`, `PUT`, `DELETE`).
    pub method: String,
    /// When it was first held (epoch ms).
    pub created_at_ms: i64,
    /// When the request to apply came in (epoch ms): later than `created_at_ms` when the
    /// identity provider asked for the change again while it was held.
    pub asked_at_ms: i64,
}

impl HeldChange {
    /// When the identity provider asked for the change again while it was held (epoch ms), if
    /// it did.
    pub fn asked_again_at_ms(&self) -> Option<i64> {
        (self.asked_at_ms > self.created_at_ms).then_some(self.asked_at_ms)
    }
}

/// The brake's state for the dashboard: the held changes and the limit that held them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct HeldChanges {
    /// Held changes, oldest first (at most a page).
    pub changes: Vec<HeldChange>,
    /// How many are held in all.
    pub total: u64,
    /// The users who lost access within the current window.
    pub deprovisioned_in_window: u64,
    /// The limit for the window, with today's active users.
    pub limit: u64,
    /// The settings.
    pub settings: Option<SafetySettings>,
}

/// A user kept after a soft delete.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeletedUser {
    /// The user's id (kept on restore).
    pub id: String,
    /// Their userName.
    pub user_name: String,
    /// Their display name, if any.
    pub display_name: Option<String>,
    /// When the IdP deleted them (epoch ms).
    pub deleted_at_ms: i64,
    /// When they are purged (epoch ms).
    pub purge_at_ms: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_brake_limit_is_a_share_of_the_active_users_but_never_below_the_minimum() {
        let s = SafetySettings::default();
        assert_eq!(s.brake_limit(100), 10);
        assert_eq!(s.brake_limit(5), 10);
        assert_eq!(s.brake_limit(1000), 100);
        assert_eq!(s.brake_limit(1001), 101);
        let s = SafetySettings { brake_percent: 25, brake_min_users: 3, ..s };
        assert_eq!(s.brake_limit(8), 3);
        assert_eq!(s.brake_limit(40), 10);
    }
}

/// What an adoptable manual user is matched on when the IdP creates a user.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum AdoptBy {
    /// The IdP's userName equals the user's userName (case-insensitively).
    #[default]
    UserName,
    /// The IdP's userName or primary email equals the user's email.
    Email,
    /// The IdP's externalId equals the user's externalId.
    ExternalId,
}

impl AdoptBy {
    /// Every way.
    pub const ALL: [AdoptBy; 3] = [AdoptBy::UserName, AdoptBy::Email, AdoptBy::ExternalId];

    /// As a form sends it.
    pub fn as_str(&self) -> &'static str {
        match self {
            AdoptBy::UserName => "user_name",
            AdoptBy::Email => "email",
            AdoptBy::ExternalId => "external_id",
        }
    }

    /// From a form.
    pub fn parse(s: &str) -> Option<AdoptBy> {
        AdoptBy::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// In words.
    pub fn label(&self) -> &'static str {
        match self {
            AdoptBy::UserName => "userName",
            AdoptBy::Email => "email",
            AdoptBy::ExternalId => "externalId",
        }
    }

    /// The stored key's prefix.
    pub fn prefix(&self) -> &'static str {
        match self {
            AdoptBy::UserName => "u:",
            AdoptBy::Email => "e:",
            AdoptBy::ExternalId => "x:",
        }
    }

    /// Which way a stored key matches, and the value.
    pub fn of_key(key: &str) -> Option<(AdoptBy, &str)> {
        AdoptBy::ALL.into_iter().find_map(|a| key.strip_prefix(a.prefix()).map(|v| (a, v)))
    }
}

/// Whether a manual user can be marked adoptable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AdoptionStatus {
    /// It can.
    Ready,
    /// It is already, with this key.
    Marked,
    /// It has no value to match on (no email, no externalId).
    NoKey,
    /// Another manual user has the same value (userName of the other).
    Duplicate(String),
    /// The IdP already provisioned a user with this value (their userName).
    Provisioned(String),
}

/// A manual user in the adoption view.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdoptionCandidate {
    /// The user's id.
    pub user_id: String,
    /// Their userName.
    pub user_name: String,
    /// The value matched on.
    pub value: Option<String>,
    /// Whether it can be marked.
    pub status: AdoptionStatus,
    /// When the IdP last tried to create a user with this value and was refused (epoch ms).
    pub idp_tried_at_ms: Option<i64>,
}

/// The adoption view: every manual user, matched one way.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct AdoptionPreview {
    /// The way.
    pub by: AdoptBy,
    /// Manual users, by userName.
    pub candidates: Vec<AdoptionCandidate>,
}
