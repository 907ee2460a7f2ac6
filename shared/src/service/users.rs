//! Writing users: one path for every way a user arrives — the SCIM API, the dashboard's manual
//! users and CSV import, and (next) just-in-time creation at SSO sign-in.
//!
//! Each write is validate → write → place → record in one transaction: the caller hands a
//! canonical SCIM resource (the protocol-specific checks — a SCIM PUT's immutable attributes, a
//! PATCH, the dashboard's form — happen before), this module computes the indexed columns,
//! writes, places the user by the mapping rules ([`super::mappings::begin_write`]) under the
//! tenant's placement lock, and writes the activity record of a person's change and the change's
//! events ([`super::events`]) with it.
//!
//! The rules that differ by where a user came from live here, in [`Writer::check`]: manual
//! users are invisible to the SCIM API (and never taken over by it); users from the identity
//! provider are read-only in the dashboard except their user groups (assigned elsewhere);
//! just-in-time users are changed by their sign-ins. Failures are typed
//! ([`DomainError::UserNameTaken`], [`DomainError::WrongSource`], [`DomainError::Stale`], …);
//! the SCIM API and the dashboard word them for their audiences.

use serde_json::Value;

use super::activity::{self, Actor};
use super::events::{self, Cause};
use super::mappings::{begin_write, nothing_to_place, place_late, Placer, Seen, Touched};
use super::safety::{self, HoldRequest};
use crate::clock::now_ms;
use crate::dto::UserSource;
use crate::error::{DomainError, DomainResult};
use crate::ids::TenantId;
use crate::store::{fold_ascii, NewUserRow, Store, TenantTx, UserGroupRow, UserRow};

/// Who writes a user: decides the source of the users it creates, which users it may change,
/// and whether the change is recorded with it.
#[derive(Clone, Copy, Debug)]
pub enum Writer<'a> {
    /// The identity provider, over the SCIM API (the API's request log records it).
    Scim,
    /// An organization admin in the dashboard (manual users, CSV import).
    Admin(&'a Actor),
    /// A person's SSO sign-in, creating or updating their own just-in-time user; the text is
    /// the claims it came with (secrets removed), kept with the activity record.
    Jit(&'a Actor, &'a str),
}

impl Writer<'_> {
    /// Where the users this writer creates come from.
    pub fn source(&self) -> UserSource {
        match self {
            Writer::Scim => UserSource::Scim,
            Writer::Admin(_) => UserSource::Manual,
            Writer::Jit(..) => UserSource::Jit,
        }
    }

    /// Whether this writer may change (or delete) a user from `source`. The SCIM API sees the
    /// users it pushed and just-in-time users (so that it can take them over); a manual user
    /// does not exist for it (`NotFound`, like another tenant's). The dashboard changes manual
    /// users only, and a sign-in its own just-in-time user only.
    pub fn check(&self, source: UserSource) -> DomainResult<()> {
        match (self, source) {
            (Writer::Scim, UserSource::Scim | UserSource::Jit) => Ok(()),
            (Writer::Scim, UserSource::Manual) => Err(DomainError::NotFound),
            (Writer::Admin(_), UserSource::Manual) | (Writer::Jit(..), UserSource::Jit) => Ok(()),
            (_, from) => Err(DomainError::WrongSource { from }),
        }
    }

    /// What its writes' events name as their cause.
    fn cause(&self) -> Cause {
        match self {
            Writer::Scim => Cause::Scim,
            Writer::Admin(a) => Cause::of_actor(a),
            Writer::Jit(a, _) => Cause::SignIn(a.name.clone()),
        }
    }

    fn actor(&self) -> Option<&Actor> {
        match self {
            Writer::Scim => None,
            Writer::Admin(a) | Writer::Jit(a, _) => Some(a),
        }
    }

    /// The activity record of a person's change ("{what} {userName}").
    fn record(&self, id: &str, user_name: &str, what: &str, now: i64) -> Option<crate::store::NewActivity> {
        let actor = self.actor()?;
        let mut r = activity::action(actor, "User", Some(id), &format!("{what} {user_name}"), now);
        if let Writer::Jit(_, claims) = self {
            r.request_body = Some(claims.to_string());
        }
        Some(r)
    }
}

/// The group names a just-in-time user's sign-in carried, to store with the write (normalized).
#[derive(Clone, Copy, Debug)]
pub struct ClaimGroups<'a>(pub &'a [String]);

/// Roster's defaults for attributes a client left out: a user is active unless it says not.
pub fn with_defaults(mut res: Value) -> Value {
    if let Value::Object(m) = &mut res {
        m.entry("active").or_insert(Value::Bool(true));
    }
    res
}

/// The row a resource becomes (columns computed, `Invalid` when it has no usable userName).
pub(crate) fn new_row(id: String, source: UserSource, resource: &Value) -> DomainResult<NewUserRow> {
    let columns = super::provisioning::user_columns(resource).map_err(|e| DomainError::Invalid(e.detail))?;
    let data = serde_json::to_string(resource).map_err(|e| DomainError::Internal(format!("user JSON: {e}")))?;
    Ok(NewUserRow { id, columns, source, data })
}

/// The rest of a one-user write inside its open `tx`: stores a sign-in's group names, places
/// the user (when the tenant has something to place), records a person's change ("{what}
/// {userName}"), commits.
#[allow(clippy::too_many_arguments)]
async fn place_and_record(
    mut tx: TenantTx<'_>,
    placer: Option<Placer>,
    seen: Seen,
    writer: Writer<'_>,
    row: &NewUserRow,
    groups: Option<ClaimGroups<'_>>,
    what: &str,
    now: i64,
) -> DomainResult<()> {
    if let Some(ClaimGroups(names)) = groups {
        tx.set_claim_groups(&row.id, names).await?;
    }
    if let Some(p) = &placer {
        p.place(&mut tx, std::slice::from_ref(&row.id), now).await?;
    }
    if let Some(record) = writer.record(&row.id, &row.columns.user_name, what, now) {
        tx.record_activity(&[record]).await?;
    }
    let (store, tenant) = (tx.store(), tx.tenant());
    tx.commit().await?;
    if placer.is_none() {
        place_late(store, tenant, seen, Touched::Users(std::slice::from_ref(&row.id))).await;
    }
    Ok(())
}

/// Says who has the userName a write found taken.
async fn taken(store: &Store, tenant: &TenantId, e: DomainError) -> DomainError {
    match e {
        DomainError::UserNameTaken { user_name, existing: None } if !user_name.is_empty() => {
            let existing = match store.tenant(tenant).user_by_user_name(&fold_ascii(&user_name)).await {
                Ok(Some(u)) => Some((u.id, u.source)),
                _ => None,
            };
            DomainError::UserNameTaken { user_name, existing }
        }
        e => e,
    }
}

/// Creates a user from a canonical resource; returns the row as written.
pub async fn create(store: &Store, tenant: &TenantId, writer: Writer<'_>, resource: &Value) -> DomainResult<UserRow> {
    create_with(store, tenant, writer, resource, None).await
}

/// [`create`], with the group names of a just-in-time user's sign-in written in the same
/// transaction (the IdP group rules place the user by them).
pub async fn create_with(
    store: &Store,
    tenant: &TenantId,
    writer: Writer<'_>,
    resource: &Value,
    groups: Option<ClaimGroups<'_>>,
) -> DomainResult<UserRow> {
    let row = new_row(crate::ids::time_ordered(), writer.source(), resource)?;
    let now = now_ms();
    if groups.is_none() && writer.actor().is_none() {
        if let Some(seen) = nothing_to_place(store, tenant).await? {
            return create_alone(store, tenant, writer, row, resource, seen, now).await;
        }
    }
    let written = async {
        let (mut tx, placer, seen) = begin_write(store, tenant).await?;
        tx.insert_user(&row, now).await?;
        events::set_cause(&mut tx, &writer.cause());
        events::emit_user_write(&mut tx, &row.id, row.source, None, resource, now);
        let what = match writer {
            Writer::Jit(..) => "created just in time at their first sign-in:",
            _ => "created manual user",
        };
        place_and_record(tx, placer, seen, writer, &row, groups, what, now).await
    };
    if let Err(e) = written.await {
        return Err(taken(store, tenant, e).await);
    }
    Ok(row.stored(1, now, now))
}

/// [`create_with`] of a user that is the new row and its event alone (nothing to place or
/// record): one statement on PostgreSQL (see [`crate::store::TenantStore::insert_user_alone`]).
async fn create_alone(
    store: &Store,
    tenant: &TenantId,
    writer: Writer<'_>,
    row: NewUserRow,
    resource: &Value,
    seen: Seen,
    now: i64,
) -> DomainResult<UserRow> {
    let events: Vec<_> =
        events::user_write_event(&writer.cause(), &row.id, row.source, None, resource, now).into_iter().collect();
    let placing = match store.tenant(tenant).insert_user_alone(&row, now, events).await {
        Ok(placing) => placing,
        Err(e) => return Err(taken(store, tenant, e).await),
    };
    place_late(store, tenant, seen.read_by_write(placing), Touched::Users(std::slice::from_ref(&row.id))).await;
    Ok(row.stored(1, now, now))
}

/// Creates many users at once, all or none, in one transaction (CSV import, the load
/// benchmark's seeding); returns their ids in order. `Invalid` names the (1-based) row.
pub async fn create_many(
    store: &Store,
    tenant: &TenantId,
    writer: Writer<'_>,
    resources: &[Value],
) -> DomainResult<Vec<String>> {
    let mut rows = Vec::with_capacity(resources.len());
    let mut names = std::collections::HashSet::with_capacity(resources.len());
    for (i, res) in resources.iter().enumerate() {
        let row = new_row(crate::ids::time_ordered(), writer.source(), res).map_err(|e| match e {
            DomainError::Invalid(m) => DomainError::Invalid(format!("Row {}: {m}", i + 1)),
            e => e,
        })?;
        if !names.insert(row.columns.user_name_norm.clone()) {
            return Err(DomainError::Invalid(format!(
                "Row {}: userName '{}' appears twice",
                i + 1,
                row.columns.user_name
            )));
        }
        rows.push(row);
    }
    let now = now_ms();
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let (mut tx, placer, seen) = crate::service::mappings::begin_write_with(store, tenant, true).await?;
    tx.insert_users(&rows, now).await?;
    events::set_cause(&mut tx, &writer.cause());
    for (row, resource) in rows.iter().zip(resources) {
        events::emit_user_write(&mut tx, &row.id, row.source, None, resource, now);
    }
    if let Some(p) = &placer {
        p.place(&mut tx, &ids, now).await?;
    }
    if let Some(actor) = writer.actor() {
        let summary = match rows.as_slice() {
            [one] => format!("created manual user {}", one.columns.user_name),
            _ => format!("imported {} manual users", rows.len()),
        };
        let id = ids.first().filter(|_| ids.len() == 1).map(String::as_str);
        tx.record_activity(&[activity::action(actor, "User", id, &summary, now)]).await?;
    }
    tx.commit().await?;
    if placer.is_none() {
        place_late(store, tenant, seen, Touched::Users(&ids)).await;
    }
    Ok(ids)
}

/// Writes a new version of `current` (as read by the caller, who checked `If-Match` and the
/// like): [`DomainError::Stale`] when another write changed the user after it was read (the
/// caller may read again and retry); returns the row as written.
pub async fn update(
    store: &Store,
    tenant: &TenantId,
    writer: Writer<'_>,
    current: &UserRow,
    resource: &Value,
) -> DomainResult<UserRow> {
    update_with(store, tenant, writer, current, resource, None).await
}

/// [`update`], with the group names of a just-in-time user's sign-in (see [`create_with`]).
pub async fn update_with(
    store: &Store,
    tenant: &TenantId,
    writer: Writer<'_>,
    current: &UserRow,
    resource: &Value,
    groups: Option<ClaimGroups<'_>>,
) -> DomainResult<UserRow> {
    match update_checked(store, tenant, writer, current, resource, groups, None).await? {
        Written::Row(row, _) => Ok(row),
        Written::Held(_) => Err(DomainError::Internal("a write without the brake was held".into())),
    }
}

/// What a write under the deprovisioning brake did.
#[derive(Debug)]
pub(crate) enum Written {
    /// Written: the row as it is now, and the user's groups when the write read them.
    Row(UserRow, Option<Vec<UserGroupRow>>),
    /// Held by the brake (nothing else written), with the user's groups when the hold read
    /// them.
    Held(Option<Vec<UserGroupRow>>),
}

/// [`update_with`]; when `hold` is given and the write takes an active user's access away, the
/// deprovisioning brake decides in the write's transaction whether it goes ahead or is held
/// (see [`super::safety`]).
pub(crate) async fn update_checked(
    store: &Store,
    tenant: &TenantId,
    writer: Writer<'_>,
    current: &UserRow,
    resource: &Value,
    groups: Option<ClaimGroups<'_>>,
    hold: Option<&HoldRequest<'_>>,
) -> DomainResult<Written> {
    // The user as it was: for the brake (was it active?) and the event (what changed?).
    let before = events::parse_resource(&current.data);
    update_checked_from(store, tenant, writer, current, &before, resource, groups, hold).await
}

/// [`update_checked`] with the current user's data already parsed (`before`: its tree as
/// [`events::parse_resource`] makes it), for a write that made `resource` from it (a SCIM PUT
/// or PATCH) and so need not parse it again.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn update_checked_from(
    store: &Store,
    tenant: &TenantId,
    writer: Writer<'_>,
    current: &UserRow,
    before: &Value,
    resource: &Value,
    groups: Option<ClaimGroups<'_>>,
    hold: Option<&HoldRequest<'_>>,
) -> DomainResult<Written> {
    writer.check(current.source)?;
    let row = new_row(current.id.clone(), current.source, resource)?;
    let now = now_ms();
    let brake = hold.filter(|_| !row.columns.active && UserRow::active_in(before));
    if brake.is_none() && groups.is_none() && writer.actor().is_none() {
        if let Some(seen) = nothing_to_place(store, tenant).await? {
            return update_alone(store, tenant, writer, current, row, before, resource, seen, now).await;
        }
    }
    if let Some(h) = brake {
        if let Some((began, groups)) = safety::hold_at_once(store, tenant, current, h, now).await? {
            if began {
                safety::announce(store, tenant, now).await;
            }
            return Ok(Written::Held(Some(groups)));
        }
    }
    let written = async {
        let (mut tx, placer, seen) = begin_write(store, tenant).await?;
        events::set_cause(&mut tx, &writer.cause());
        if let Some(h) = brake {
            if !safety::admit(&mut tx, &row.id, now).await? {
                let began = safety::hold(&mut tx, current, h, now).await?;
                let groups = tx.groups_in_place(&row.id).await?;
                tx.commit().await?;
                if began {
                    safety::announce(store, tenant, now).await;
                }
                return Ok(Some(Written::Held(groups)));
            }
        }
        if !tx.update_user(&row.id, &row.columns, &row.data, current.read_version(), now).await? {
            return Err(DomainError::Stale);
        }
        events::emit_user_write(&mut tx, &row.id, row.source, Some(before), resource, now);
        let what = match writer {
            Writer::Jit(..) => "updated from the claims of their sign-in:",
            _ => "edited manual user",
        };
        place_and_record(tx, placer, seen, writer, &row, groups, what, now).await?;
        Ok(None)
    };
    // `Some`: the brake held the write (nothing else written); `None`: written.
    match written.await {
        Ok(Some(held)) => Ok(held),
        Ok(None) => Ok(Written::Row(row.stored(current.version + 1, current.created_at, now), None)),
        Err(e) => Err(taken(store, tenant, e).await),
    }
}

/// [`update_checked`] of a write that is the new version and its event alone (nothing to place,
/// held or recorded): one statement on PostgreSQL, which also reads the user's groups (see
/// [`crate::store::TenantStore::update_user_alone`]).
#[allow(clippy::too_many_arguments)]
async fn update_alone(
    store: &Store,
    tenant: &TenantId,
    writer: Writer<'_>,
    current: &UserRow,
    row: NewUserRow,
    before: &Value,
    after: &Value,
    seen: Seen,
    now: i64,
) -> DomainResult<Written> {
    let events: Vec<_> =
        events::user_write_event(&writer.cause(), &row.id, row.source, Some(before), after, now).into_iter().collect();
    let written = store
        .tenant(tenant)
        .update_user_alone(&row.id, &row.columns, &row.data, current.read_version(), now, events)
        .await;
    let (groups, placing) = match written {
        Ok(Some(written)) => written,
        Ok(None) => return Err(DomainError::Stale),
        Err(e) => return Err(taken(store, tenant, e).await),
    };
    place_late(store, tenant, seen.read_by_write(placing), Touched::Users(std::slice::from_ref(&row.id))).await;
    Ok(Written::Row(row.stored(current.version + 1, current.created_at, now), Some(groups)))
}

/// The SCIM API adopts a just-in-time user (its create named the same userName or externalId),
/// or a manual user an admin marked adoptable (its create matched the mark): the user takes
/// the resource the IdP sent, becomes SCIM-managed (claims no longer change it, the dashboard no
/// longer edits it), keeps its id, user groups and SSO links, and is placed again. `Stale` if it
/// changed since `current` was read.
pub async fn adopt(store: &Store, tenant: &TenantId, current: &UserRow, resource: &Value) -> DomainResult<UserRow> {
    if current.source == UserSource::Scim {
        return Err(DomainError::WrongSource { from: current.source });
    }
    let row = new_row(current.id.clone(), UserSource::Scim, resource)?;
    let now = now_ms();
    let written = async {
        let (mut tx, placer, seen) = begin_write(store, tenant).await?;
        if !tx.update_user(&row.id, &row.columns, &row.data, current.read_version(), now).await? {
            return Err(DomainError::Stale);
        }
        tx.set_user_source(&row.id, UserSource::Scim).await?;
        let mut changed = events::changed_attributes(&events::parse_resource(&current.data), resource);
        changed.push("source".into());
        events::emit_user(&mut tx, "user.updated", &row.id, UserSource::Scim, resource, Some(changed), now);
        tx.set_claim_groups(&row.id, &[]).await?;
        if current.source == UserSource::Manual {
            let actor = Actor { kind: "system", name: "adoption".into() };
            let summary = format!(
                "the identity provider adopted manual user {} (as {}; now managed by the identity provider)",
                current.user_name, row.columns.user_name
            );
            tx.record_activity(&[activity::action(&actor, "User", Some(&row.id), &summary, now)]).await?;
        }
        place_and_record(tx, placer, seen, Writer::Scim, &row, None, "", now).await
    };
    if let Err(e) = written.await {
        return Err(taken(store, tenant, e).await);
    }
    Ok(row.stored(current.version + 1, current.created_at, now))
}

/// Deletes a user and every membership they have (IdP groups, user groups), if it is still at
/// `expected_version` when one is given ([`DomainError::Stale`] if not); `NotFound` if there is
/// no such user (or none this writer can see).
pub async fn delete(
    store: &Store,
    tenant: &TenantId,
    writer: Writer<'_>,
    id: &str,
    expected_version: Option<i64>,
) -> DomainResult<()> {
    delete_checked(store, tenant, writer, id, expected_version, None, false).await.map(|_| ())
}

/// [`delete`]; with `hold`, under the deprovisioning brake (an active user's deletion may be
/// held); with `policy`, under the organization's delete policy (a soft delete keeps the user,
/// see [`super::safety`]). Returns whether it was held.
pub(crate) async fn delete_checked(
    store: &Store,
    tenant: &TenantId,
    writer: Writer<'_>,
    id: &str,
    expected_version: Option<i64>,
    hold: Option<&HoldRequest<'_>>,
    policy: bool,
) -> DomainResult<bool> {
    let now = now_ms();
    let mut tx = store.tenant(tenant).begin().await?;
    events::set_cause(&mut tx, &writer.cause());
    let row = tx.user(id).await?.ok_or(DomainError::NotFound)?;
    writer.check(row.source)?;
    if expected_version.is_some_and(|v| v != row.version) {
        return Err(DomainError::Stale);
    }
    if let Some(h) = hold {
        if row.is_active() && !safety::admit(&mut tx, id, now).await? {
            let began = safety::hold(&mut tx, &row, h, now).await?;
            tx.commit().await?;
            if began {
                safety::announce(store, tenant, now).await;
            }
            return Ok(true);
        }
    }
    if policy {
        let settings = tx.safety_settings().await?;
        if settings.delete_policy == crate::dto::DeletePolicy::Soft {
            tx.keep_deleted_user(id, safety::purge_at(&settings, now), now).await?;
        }
    }
    if !tx.delete_user(id).await? {
        return Err(DomainError::NotFound);
    }
    events::emit_user(&mut tx, "user.deleted", id, row.source, &events::parse_resource(&row.data), None, now);
    if matches!(writer, Writer::Scim) {
        // The IdP removed the person: their SSO identities are refused from now on, never
        // re-created just in time (until the IdP provisions them again).
        tx.deprovision_sso_identities(id, now).await?;
    }
    if let Some(actor) = writer.actor() {
        let summary = format!("removed manual user {}", row.user_name);
        tx.record_activity(&[activity::action(actor, "User", Some(id), &summary, now)]).await?;
    }
    tx.commit().await?;
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn who_may_change_whom() {
        let admin = Actor::admin("a@x.test");
        let jit = Actor { kind: "sso", name: "p@x.test".into() };
        use UserSource::*;
        for (writer, source, ok) in [
            (Writer::Scim, Scim, true),
            (Writer::Scim, Jit, true),
            (Writer::Admin(&admin), Manual, true),
            (Writer::Jit(&jit, "{}"), Jit, true),
            (Writer::Admin(&admin), Scim, false),
            (Writer::Admin(&admin), Jit, false),
            (Writer::Jit(&jit, "{}"), Scim, false),
            (Writer::Jit(&jit, "{}"), Manual, false),
        ] {
            assert_eq!(writer.check(source).is_ok(), ok, "{writer:?} {source:?}");
        }
        // Manual users do not exist for the SCIM API; elsewhere the source is named.
        assert!(matches!(Writer::Scim.check(Manual), Err(DomainError::NotFound)));
        assert!(matches!(Writer::Admin(&admin).check(Scim), Err(DomainError::WrongSource { from: Scim })));
        assert_eq!(
            (Writer::Scim.source(), Writer::Admin(&admin).source(), Writer::Jit(&jit, "{}").source()),
            (Scim, Manual, Jit)
        );
    }
}
