//! Provisioning safety: the mass-deprovisioning brake and the delete policy.
//!
//! **The brake.** An IdP misconfiguration (a wrong assignment scope, a deleted group) can
//! deprovision most of an organization in one cycle. Each SCIM write that takes an active user's
//! access away (a PATCH or PUT to `active: false`, a DELETE of an active user) asks [`admit`]
//! inside its own transaction (under the tenant's brake lock unless it is held): while fewer
//! users than the limit ([`SafetySettings::brake_limit`]: a share of the users active at the
//! window's start, never fewer than a minimum) lost access within the window, it goes ahead and
//! is counted; after that it is held ([`hold`]): stored with the request, answered as if done
//! (the IdP's job goes on, no quarantine), recorded in the activity log, and announced to the
//! admins who chose the notice. Admins apply (the stored request is replayed) or discard held
//! changes; the dashboard says that a discarded change leaves the IdP believing the user is gone.
//!
//! The users active at the window's start are counted at most every ten seconds per instance
//! ([`crate::store::BRAKE_POPULATION_TTL`]; a count walks every user of the tenant), and not at
//! all while fewer than the minimum lost access.
//!
//! Deletes of users already inactive do not count (they lost access before), nor do changes an
//! admin applies (an admin decided them).
//!
//! **The delete policy.** A SCIM DELETE either deletes the user, or soft-deletes: the user is
//! gone for SCIM (404, userName free), kept with their memberships in `deleted_users`,
//! restorable by an admin, and purged by the hourly maintenance after the retention period.
//! Either way the user's dashboard session ends at its next request (sessions are checked
//! against the user at every request).

use serde_json::Value;

use super::activity::{self, Actor};
use crate::clock::now_ms;
use crate::dto::{
    AdoptBy, AdoptionCandidate, AdoptionPreview, AdoptionStatus, DeletedUser, HeldChanges, HeldKind, SafetySettings,
    UserSource,
};
use crate::error::{DomainError, DomainResult};
use crate::ids::TenantId;
use crate::store::{Backend, NewActivity, NewHeld, Store, TenantTx, UserGroupRow, UserRow};

/// Held changes a page shows.
pub const HELD_PAGE: i64 = 500;
/// Soft-deleted users a page shows.
pub const DELETED_PAGE: i64 = 500;

const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 86_400_000;

/// The actor of the brake's own records.
fn brake_actor() -> Actor {
    Actor { kind: "system", name: "deprovisioning brake".into() }
}

/// A deprovisioning request as it came, to hold (see [`hold`]).
#[derive(Clone, Copy, Debug)]
pub struct HoldRequest<'a> {
    /// `PATCH`, `PUT` or `DELETE`.
    pub method: &'a str,
    /// The body (PATCH, PUT).
    pub body: Option<&'a Value>,
}

/// Inside a deprovisioning SCIM write's transaction: whether it may go on (then it is counted),
/// or must be held. Counts first without the brake lock: once the tenant is over its limit every
/// deprovisioning write is held until the window moves on, and the count only grows under the
/// lock, so a count that says "hold" is what the lock would have said when it was read. Else it
/// takes the lock (one tenant's admitted deprovisioning writes count one after another) and
/// counts again. Under the lock, each held write of a storm waited for the one before it and its
/// commit: PostgreSQL PATCHes half of which deactivated ran at 750/s against 1,150-1,450/s
/// without deactivations.
pub(crate) async fn admit(tx: &mut TenantTx<'_>, user_id: &str, now: i64) -> DomainResult<bool> {
    let s = tx.safety_settings().await?;
    if s.brake_enabled {
        let since = now - i64::from(s.brake_window_minutes.max(1)) * MINUTE_MS;
        if over_limit(tx, &s, since).await? {
            return Ok(false);
        }
        if tx.lock_brake().await? && over_limit(tx, &s, since).await? {
            return Ok(false);
        }
    }
    tx.record_deprovision(user_id, now).await?;
    Ok(true)
}

/// Whether as many users lost access since `since` as the brake lets go.
async fn over_limit(tx: &mut TenantTx<'_>, s: &SafetySettings, since: i64) -> DomainResult<bool> {
    let gone = tx.deprovisions_since(since).await?;
    // Below the minimum nothing is held, whatever the tenant's size: no need to count it.
    if gone < u64::from(s.brake_min_users) {
        return Ok(false);
    }
    // Active now, plus those who lost access in the window: active at its start (counted at
    // most every few seconds, see `BRAKE_POPULATION_TTL`).
    let cache = &tx.store.cache;
    let population = match cache.brake_population(tx.id.as_str()) {
        Some(p) => p,
        None => {
            let p = tx.active_users().await? + gone;
            cache.put_brake_population(tx.id.as_str(), p);
            p
        }
    };
    Ok(gone >= s.brake_limit(population.max(gone)))
}

/// Holds a deprovisioning request inside its transaction, with its activity record; returns
/// whether the hold began with it (nothing was held before). [`DomainError::Stale`] (nothing
/// held) when `user` is no longer at the version read: the brake decides on the user as stored.
pub(crate) async fn hold(tx: &mut TenantTx<'_>, user: &UserRow, req: &HoldRequest<'_>, now: i64) -> DomainResult<bool> {
    let held = Held::of(user, req, now);
    let began = tx.hold(&held.row(), now).await?;
    tx.record_activity(std::slice::from_ref(&held.record)).await?;
    Ok(began)
}

/// A deprovisioning write under the brake, before its transaction (PostgreSQL): when the tenant
/// is over its limit, holds it in one statement (the count, and the held change with its
/// activity record, as [`admit`] and [`hold`] would in the write's transaction, see
/// [`crate::store::TenantStore::hold_when_over`]) and returns whether the hold began, with the
/// user's groups (read by the hold's statement, for the answer); [`DomainError::Stale`] (nothing
/// written) when `user` is no longer at the version read; `None`,
/// with nothing written, when it is not over the limit or when that cannot be told without the
/// transaction (SQLite, where the write's statements run in place anyway; settings or population
/// not cached): the write's transaction decides then, as before, and counts again (one more
/// statement for the few admitted writes between the minimum and the limit). Once a storm is
/// over the limit every deprovisioning write is held, and the transaction, its count, the hold
/// and the record were five round trips (BEGIN … COMMIT) for each. No brake lock: as in
/// [`admit`], only an admission needs it (holding one write too many is safe).
pub(crate) async fn hold_at_once(
    store: &Store,
    tenant: &TenantId,
    user: &UserRow,
    req: &HoldRequest<'_>,
    now: i64,
) -> DomainResult<Option<(bool, Vec<UserGroupRow>)>> {
    if store.backend() != Backend::Postgres {
        return Ok(None);
    }
    let Some(s) = store.cache.safety(tenant.as_str()) else { return Ok(None) };
    // The limit of the population alone is the transaction's `brake_limit(population.max(gone))`
    // for any count while the share is at most 100% (both then hold exactly when
    // `gone >= brake_min_users` once `gone` exceeds the population).
    if !s.brake_enabled || s.brake_percent > 100 {
        return Ok(None);
    }
    let Some(population) = store.cache.brake_population(tenant.as_str()) else { return Ok(None) };
    let since = now - i64::from(s.brake_window_minutes.max(1)) * MINUTE_MS;
    let held = Held::of(user, req, now);
    store.tenant(tenant).hold_when_over(&held.row(), since, s.brake_limit(population), &held.record, now).await
}

/// What holding a deprovisioning request of `user` writes: the held change and its record.
struct Held<'a> {
    user: &'a UserRow,
    method: &'a str,
    id: String,
    kind: HeldKind,
    body: Option<String>,
    record: NewActivity,
}

impl<'a> Held<'a> {
    fn of(user: &'a UserRow, req: &HoldRequest<'a>, now: i64) -> Held<'a> {
        let kind = if req.method.eq_ignore_ascii_case("DELETE") { HeldKind::Delete } else { HeldKind::Deactivate };
        let summary = format!(
            "held the {} of {} (too many users lost access within the brake's window)",
            kind.noun(),
            user.user_name
        );
        Held {
            user,
            method: req.method,
            id: uuid::Uuid::new_v4().to_string(),
            kind,
            body: req.body.map(Value::to_string),
            record: activity::action(&brake_actor(), "User", Some(&user.id), &summary, now),
        }
    }

    fn row(&self) -> NewHeld<'_> {
        NewHeld {
            id: &self.id,
            user_id: &self.user.id,
            user_name: &self.user.user_name,
            kind: self.kind,
            method: self.method,
            body: self.body.as_deref(),
            credential_id: None,
            version: self.user.read_version(),
        }
    }
}

/// Announces a hold that began: the notice to the admins who chose it goes out as a job (at most
/// one per organization an hour). A failure to enqueue is logged: the banner still shows it.
pub(crate) async fn announce(store: &Store, tenant: &TenantId, now: i64) {
    if let Err(e) = super::jobs::enqueue_held_notice(store, tenant, now).await {
        tracing::warn!(%tenant, error = %e, "could not enqueue the held-changes notice");
    }
}

/// Emails the organization's admins who chose the notice that changes are held.
pub(crate) async fn send_held_notice(
    store: &Store,
    n: &super::jobs::Notices,
    tenant: &TenantId,
) -> DomainResult<usize> {
    use super::email::{notify_admins, Notice, Topic};
    let (_, total) = store.tenant(tenant).held_changes(1).await?;
    if total == 0 {
        return Ok(0);
    }
    let organization = store.tenant(tenant).summary().await?.map(|s| s.name).unwrap_or_default();
    let notice = Notice::changes_held(&organization, total, &format!("{}/safety", n.public_url));
    notify_admins(store, &n.mailer, tenant, Topic::HeldChanges, &notice).await
}

/// The organization's settings.
pub async fn settings(store: &Store, tenant: &TenantId) -> DomainResult<SafetySettings> {
    store.tenant(tenant).safety_settings().await
}

/// Checks settings an admin entered.
pub fn check_settings(s: &SafetySettings) -> DomainResult<()> {
    if !(1..=100).contains(&s.brake_percent) {
        return Err(DomainError::Invalid("The share of users must be between 1 and 100 percent.".into()));
    }
    if !(1..=1_000_000).contains(&s.brake_min_users) {
        return Err(DomainError::Invalid("The minimum number of users must be between 1 and 1,000,000.".into()));
    }
    if !(5..=10_080).contains(&s.brake_window_minutes) {
        return Err(DomainError::Invalid("The window must be between 5 minutes and 7 days (10,080 minutes).".into()));
    }
    if !(1..=365).contains(&s.soft_delete_days) {
        return Err(DomainError::Invalid("Deleted users can be kept between 1 and 365 days.".into()));
    }
    Ok(())
}

/// Saves the settings (an admin's change, recorded).
pub async fn save_settings(store: &Store, tenant: &TenantId, actor: &Actor, s: &SafetySettings) -> DomainResult<()> {
    check_settings(s)?;
    let now = now_ms();
    let mut tx = store.tenant(tenant).begin().await?;
    tx.set_safety_settings(s, now).await?;
    let summary = format!("changed provisioning safety: {}", s.describe());
    tx.record_activity(&[activity::action(actor, "Organization", None, &summary, now)]).await?;
    tx.commit().await?;
    store.tenant(tenant).cached_settings_changed().await
}

/// The held changes and the brake's state, for the dashboard and the support console.
pub async fn held(store: &Store, tenant: &TenantId) -> DomainResult<HeldChanges> {
    let t = store.tenant(tenant);
    let settings = t.safety_settings().await?;
    let (changes, total) = t.held_changes(HELD_PAGE).await?;
    let since = now_ms() - i64::from(settings.brake_window_minutes.max(1)) * MINUTE_MS;
    let gone = t.deprovisioned_since(since).await?;
    let active = t.active_users().await?;
    Ok(HeldChanges {
        changes,
        total,
        deprovisioned_in_window: gone,
        limit: settings.brake_limit(active + gone),
        settings: Some(settings),
    })
}

/// What applying held changes did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// Changes applied.
    pub applied: u64,
    /// Changes that could not be (the user is gone, or the request no longer applies), with
    /// the reason, by userName.
    pub failed: Vec<(String, String)>,
}

/// Applies held changes (`ids`, or all when `None`): each stored request is replayed as the
/// IdP sent it, without the brake.
pub async fn apply(store: &Store, tenant: &TenantId, actor: &Actor, ids: Option<&[String]>) -> DomainResult<Applied> {
    let held = {
        let mut tx = store.tenant(tenant).begin().await?;
        tx.held(ids).await?
    };
    let scim = super::provisioning::Scim { store, tenant, base_url: "" };
    let mut out = Applied::default();
    for h in held {
        let result = scim.replay_held(&h).await;
        let now = now_ms();
        let mut tx = store.tenant(tenant).begin().await?;
        let what = h.change.kind.noun();
        match result {
            Ok(()) => {
                tx.decide_held(&h.change.id, "applied", &actor.name, None, now).await?;
                let summary = format!("applied the held {what} of {}", h.change.user_name);
                tx.record_activity(&[activity::action(actor, "User", Some(&h.change.user_id), &summary, now)]).await?;
                out.applied += 1;
            }
            Err(e) => {
                let reason = e.detail.clone();
                tx.decide_held(&h.change.id, "failed", &actor.name, Some(&reason), now).await?;
                let summary = format!("could not apply the held {what} of {}: {reason}", h.change.user_name);
                tx.record_activity(&[activity::action(actor, "User", Some(&h.change.user_id), &summary, now)]).await?;
                out.failed.push((h.change.user_name.clone(), reason));
            }
        }
        tx.commit().await?;
    }
    Ok(out)
}

/// Discards held changes (`ids`, or all when `None`): the users stay as they are. Returns how
/// many were discarded.
pub async fn discard(store: &Store, tenant: &TenantId, actor: &Actor, ids: Option<&[String]>) -> DomainResult<u64> {
    let now = now_ms();
    let mut tx = store.tenant(tenant).begin().await?;
    let held = tx.held(ids).await?;
    let mut records = Vec::with_capacity(held.len());
    for h in &held {
        tx.decide_held(&h.change.id, "discarded", &actor.name, None, now).await?;
        let what = h.change.kind.noun();
        records.push(activity::action(
            actor,
            "User",
            Some(&h.change.user_id),
            &format!("discarded the held {what} of {} (the user keeps their access)", h.change.user_name),
            now,
        ));
    }
    tx.record_activity(&records).await?;
    tx.commit().await?;
    Ok(held.len() as u64)
}

/// Soft-deleted users, most recent first.
pub async fn deleted(store: &Store, tenant: &TenantId) -> DomainResult<Vec<DeletedUser>> {
    store.tenant(tenant).deleted_users(DELETED_PAGE).await
}

/// When a user soft-deleted now is purged.
pub(crate) fn purge_at(s: &SafetySettings, now: i64) -> i64 {
    now + i64::from(s.soft_delete_days.max(1)) * DAY_MS
}

/// Restores a soft-deleted user: same id, resource, user groups an admin gave them and SCIM
/// groups that still exist; placed again by the rules. [`DomainError::UserNameTaken`] if the
/// IdP has since created another user with the userName.
pub async fn restore(store: &Store, tenant: &TenantId, actor: &Actor, id: &str) -> DomainResult<()> {
    let now = now_ms();
    let (mut tx, placer, _seen) = super::mappings::begin_write(store, tenant).await?;
    let d = tx.take_deleted_user(id).await?.ok_or(DomainError::NotFound)?;
    let resource: Value =
        serde_json::from_str(&d.data).map_err(|e| DomainError::Internal(format!("kept user JSON: {e}")))?;
    let source = if d.source == "jit" { UserSource::Jit } else { UserSource::Scim };
    let row = super::users::new_row(d.id.clone(), source, &resource)?;
    tx.insert_user(&row, now).await?;
    super::events::set_cause(&mut tx, &super::events::Cause::of_actor(actor));
    super::events::emit_user_write(&mut tx, &row.id, row.source, None, &resource, now);
    let access = super::events::Access::read(&mut tx, std::slice::from_ref(&d.id)).await?;
    tx.restore_memberships(&d, &actor.name, now).await?;
    super::events::emit_access_after(&mut tx, std::slice::from_ref(&d.id), &access, "admin", now).await?;
    if let Some(p) = &placer {
        p.place(&mut tx, std::slice::from_ref(&d.id), now).await?;
    }
    let summary = format!("restored {} (deleted by the identity provider)", d.user_name);
    tx.record_activity(&[activity::action(actor, "User", Some(&d.id), &summary, now)]).await?;
    tx.commit().await
}

/// Manual users the adoption view considers at most.
pub const ADOPTION_PAGE: i64 = 5_000;

/// The value a manual user is matched on, folded as the IdP's will be.
fn adoption_value(u: &crate::store::ManualForAdoption, by: AdoptBy) -> Option<String> {
    match by {
        AdoptBy::UserName => Some(u.user_name_norm.clone()),
        AdoptBy::Email => u.email_norm.clone(),
        AdoptBy::ExternalId => u.external_id.clone(),
    }
    .filter(|v| !v.trim().is_empty())
}

/// The adoption view: every manual user, matched `by` one way, with what stands in the way —
/// no value, another manual user with the same, a user the IdP already provisioned with it —
/// and when the IdP last tried to create such a user and was refused (from the activity log).
pub async fn adoption_preview(store: &Store, tenant: &TenantId, by: AdoptBy) -> DomainResult<AdoptionPreview> {
    let t = store.tenant(tenant);
    let manual = t.manual_users_for_adoption(ADOPTION_PAGE).await?;
    let values: Vec<Option<String>> = manual.iter().map(|u| adoption_value(u, by)).collect();
    let mut seen: std::collections::HashMap<&str, Vec<usize>> = std::collections::HashMap::new();
    for (i, v) in values.iter().enumerate() {
        if let Some(v) = v {
            seen.entry(v.as_str()).or_default().push(i);
        }
    }
    let distinct: Vec<String> = seen.keys().map(|k| k.to_string()).collect();
    // Values the IdP's users already have (the IdP already provisioned that person).
    let mut provisioned: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    let columns: &[&str] = match by {
        AdoptBy::UserName => &["user_name_norm"],
        AdoptBy::Email => &["primary_email_norm", "user_name_norm"],
        AdoptBy::ExternalId => &["external_id"],
    };
    for column in columns {
        for (value, user_name) in t.idp_users_with(column, &distinct).await? {
            provisioned.entry(value).or_insert(user_name);
        }
    }
    // What the IdP tried to create and was refused, in the last 30 days.
    let mut tried: std::collections::HashMap<String, i64> = std::collections::HashMap::new();
    for (at, body) in t.refused_creates(now_ms() - 30 * DAY_MS, 2_000).await? {
        let Ok(v) = serde_json::from_str::<Value>(&body) else { continue };
        let Ok(cols) = super::provisioning::user_columns(&v) else { continue };
        let found = match by {
            AdoptBy::UserName => vec![Some(cols.user_name_norm)],
            AdoptBy::Email => vec![Some(cols.user_name_norm), cols.primary_email_norm],
            AdoptBy::ExternalId => vec![cols.external_id],
        };
        for value in found.into_iter().flatten() {
            let e = tried.entry(value).or_insert(at);
            *e = (*e).max(at);
        }
    }
    let candidates = manual
        .iter()
        .zip(&values)
        .map(|(u, value)| {
            let status = match value {
                None => AdoptionStatus::NoKey,
                Some(v) => {
                    let twins = &seen[v.as_str()];
                    if u.adopt_key.as_deref() == Some(&format!("{}{v}", by.prefix())) {
                        AdoptionStatus::Marked
                    } else if twins.len() > 1 {
                        let other = twins.iter().find(|&&j| manual[j].id != u.id).map(|&j| manual[j].user_name.clone());
                        AdoptionStatus::Duplicate(other.unwrap_or_default())
                    } else if let Some(as_user) = provisioned.get(v) {
                        AdoptionStatus::Provisioned(as_user.clone())
                    } else {
                        AdoptionStatus::Ready
                    }
                }
            };
            AdoptionCandidate {
                user_id: u.id.clone(),
                user_name: u.user_name.clone(),
                idp_tried_at_ms: value.as_ref().and_then(|v| tried.get(v).copied()),
                value: value.clone(),
                status,
            }
        })
        .collect();
    Ok(AdoptionPreview { by, candidates })
}

/// Marks manual users adoptable `by` one way: those of `ids` (all when `None`) the adoption
/// view finds ready (nothing in the way). Returns how many were marked.
pub async fn mark_adoptable(
    store: &Store,
    tenant: &TenantId,
    actor: &Actor,
    by: AdoptBy,
    ids: Option<&[String]>,
) -> DomainResult<u64> {
    let preview = adoption_preview(store, tenant, by).await?;
    let marks: Vec<(String, Option<String>)> = preview
        .candidates
        .iter()
        .filter(|c| c.status == AdoptionStatus::Ready && ids.is_none_or(|ids| ids.contains(&c.user_id)))
        .filter_map(|c| c.value.as_ref().map(|v| (c.user_id.clone(), Some(format!("{}{v}", by.prefix())))))
        .collect();
    if marks.is_empty() {
        return Ok(0);
    }
    let now = now_ms();
    let mut tx = store.tenant(tenant).begin().await?;
    let n = tx.set_adopt_keys(&marks).await?;
    let records: Vec<_> = preview
        .candidates
        .iter()
        .filter(|c| marks.iter().any(|(id, _)| id == &c.user_id))
        .map(|c| {
            let summary = format!(
                "marked manual user {} adoptable by the identity provider (by {} {})",
                c.user_name,
                by.label(),
                c.value.as_deref().unwrap_or_default()
            );
            activity::action(actor, "User", Some(&c.user_id), &summary, now)
        })
        .collect();
    tx.record_activity(&records).await?;
    tx.commit().await?;
    Ok(n)
}

/// Marks one manual user adoptable `by` one way, or clears its mark (`None`). Refused in words
/// when something stands in the way (see [`adoption_preview`]).
pub async fn set_adoptable(
    store: &Store,
    tenant: &TenantId,
    actor: &Actor,
    user_id: &str,
    by: Option<AdoptBy>,
) -> DomainResult<()> {
    let user = store.tenant(tenant).user(user_id).await?.ok_or(DomainError::NotFound)?;
    if user.source != UserSource::Manual {
        return Err(DomainError::Invalid("Only users added in Roster can be adopted by the identity provider.".into()));
    }
    let now = now_ms();
    let Some(by) = by else {
        let mut tx = store.tenant(tenant).begin().await?;
        tx.set_adopt_keys(&[(user_id.to_string(), None)]).await?;
        let summary = format!("cleared the adoption mark of manual user {}", user.user_name);
        tx.record_activity(&[activity::action(actor, "User", Some(user_id), &summary, now)]).await?;
        return tx.commit().await;
    };
    let preview = adoption_preview(store, tenant, by).await?;
    let c = preview.candidates.iter().find(|c| c.user_id == user_id).ok_or(DomainError::NotFound)?;
    match &c.status {
        AdoptionStatus::Ready | AdoptionStatus::Marked => {}
        AdoptionStatus::NoKey => {
            return Err(DomainError::Invalid(format!("{} has no {} to match on.", user.user_name, by.label())))
        }
        AdoptionStatus::Duplicate(other) => {
            return Err(DomainError::Invalid(format!(
                "{other} has the same {}: the identity provider's user could not be told apart.",
                by.label()
            )))
        }
        AdoptionStatus::Provisioned(as_user) => {
            return Err(DomainError::Invalid(format!(
                "The identity provider already provisioned this person as {as_user}."
            )))
        }
    }
    mark_adoptable(store, tenant, actor, by, Some(&[user_id.to_string()])).await.map(|_| ())
}

/// Why a placement in a full group was refused, in words.
pub fn seat_reason(group_name: &str, limit: i64) -> String {
    format!("seat limit of {group_name} reached ({limit} {})", if limit == 1 { "user" } else { "users" })
}

/// Drops the additions of `placement` to user groups with no free seat, seats being taken in
/// order (removals first free theirs); returns the refused (user, group, reason).
pub(crate) fn fit_seats_in(
    placement: &mut super::mappings::Placement,
    limits: &std::collections::HashMap<String, (String, i64)>,
    usage: &crate::store::SeatUsage,
) -> Vec<(String, String, String)> {
    let mut used = usage.used.clone();
    let mut rows = usage.rows.clone();
    for (user, group, _, _) in &placement.remove {
        if limits.contains_key(group) {
            let n = rows.entry((group.clone(), user.clone())).or_insert(0);
            if *n > 0 {
                *n -= 1;
                if *n == 0 {
                    *used.entry(group.clone()).or_insert(1) -= 1;
                }
            }
        }
    }
    let mut refused: Vec<(String, String, String)> = Vec::new();
    placement.add.retain(|(user, group, _, _)| {
        let Some((name, limit)) = limits.get(group) else { return true };
        let n = rows.entry((group.clone(), user.clone())).or_insert(0);
        if *n > 0 {
            *n += 1;
            return true;
        }
        let taken = used.entry(group.clone()).or_insert(0);
        if *taken < *limit {
            *taken += 1;
            *n = 1;
            return true;
        }
        if !refused.iter().any(|(u, g, _)| u == user && g == group) {
            refused.push((user.clone(), group.clone(), seat_reason(name, *limit)));
        }
        false
    });
    refused
}

/// Inside a placing write's transaction (under the placement lock): applies the seat limits of
/// the tenant's user groups to `placement` of `users`, records the refused placements (shown on
/// the users' pages; a new one is also an activity record). Nothing to do without limits.
pub(crate) async fn fit_seats(
    tx: &mut TenantTx<'_>,
    placement: &mut super::mappings::Placement,
    users: &[String],
    now: i64,
) -> DomainResult<()> {
    let limits = tx.seat_limits().await?;
    if limits.is_empty() {
        return Ok(());
    }
    let mut groups: Vec<String> = placement
        .add
        .iter()
        .chain(&placement.remove)
        .map(|(_, g, _, _)| g.clone())
        .filter(|g| limits.contains_key(g))
        .collect();
    groups.sort();
    groups.dedup();
    let refused = if placement.add.iter().any(|(_, g, _, _)| limits.contains_key(g)) {
        let usage = tx.seat_usage(&groups, users).await?;
        fit_seats_in(placement, &limits, &usage)
    } else {
        Vec::new()
    };
    let new = tx.replace_refusals(users, &refused, now).await?;
    if !new.is_empty() {
        let actor = Actor { kind: "system", name: "seat limit".into() };
        let records: Vec<_> = new
            .iter()
            .map(|(user, _, reason)| {
                activity::action(&actor, "User", Some(user), &format!("not placed: {reason}"), now)
            })
            .collect();
        tx.record_activity(&records).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::service::mappings::Placement;
    use crate::store::SeatUsage;

    fn m(user: &str, group: &str, reason: &str) -> (String, String, String, String) {
        (user.into(), group.into(), reason.into(), String::new())
    }

    #[test]
    fn additions_beyond_the_free_seats_are_refused_in_order() {
        let limits = HashMap::from([("g".to_string(), ("Engineering".to_string(), 3))]);
        let usage =
            SeatUsage { used: HashMap::from([("g".into(), 2)]), rows: HashMap::from([(("g".into(), "a".into()), 1)]) };
        let mut p = Placement {
            add: vec![m("a", "g", "rule"), m("b", "g", "rule"), m("c", "g", "rule"), m("d", "other", "rule")],
            remove: vec![],
        };
        let refused = fit_seats_in(&mut p, &limits, &usage);
        // a already has a seat (another reason), b takes the last one, c is refused.
        assert_eq!(p.add.iter().map(|r| r.0.as_str()).collect::<Vec<_>>(), vec!["a", "b", "d"]);
        assert_eq!(refused, vec![("c".into(), "g".into(), "seat limit of Engineering reached (3 users)".into())]);
    }

    #[test]
    fn a_user_leaving_frees_a_seat_and_a_user_moving_between_rules_keeps_theirs() {
        let limits = HashMap::from([("g".to_string(), ("Sales".to_string(), 2))]);
        let usage = SeatUsage {
            used: HashMap::from([("g".into(), 2)]),
            rows: HashMap::from([(("g".into(), "a".into()), 1), (("g".into(), "b".into()), 1)]),
        };
        let mut p = Placement {
            // a leaves; b moves from one rule to another; c comes in.
            add: vec![m("b", "g", "rule"), m("c", "g", "rule")],
            remove: vec![m("a", "g", "rule"), m("b", "g", "rule")],
        };
        let refused = fit_seats_in(&mut p, &limits, &usage);
        assert!(refused.is_empty(), "{refused:?}");
        assert_eq!(p.add.len(), 2);
    }
}
