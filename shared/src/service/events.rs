//! Events: what the platform's applications learn of every provisioning change — pushed by
//! webhooks ([`super::webhooks`]) and read from the events API ([`list`]).
//!
//! Each write queues its events on its transaction ([`emit`]); they are numbered and stored at
//! its commit, so a rolled-back change has none and a committed one always has its own (the
//! outbox, [`crate::store::TenantTx::emit`]). An event is
//! `{id, type, tenant, seq, created_at, data, cause}`: `seq` increases by one per event of the
//! organization in commit order; `data` is the resource as it is after the change; `cause` says
//! what made it (a SCIM request, an admin, a mapping run, a sign-in, the system).
//!
//! User-group membership and role events are computed, not written by hand at each call site:
//! a write that moves users between user groups reads their access ([`Access`]) before and
//! after, in its transaction, and [`emit_access_changes`] turns the difference into
//! `user_group.member_added`/`member_removed` (a user who was not in the group and now is, for
//! whatever reason) and `user.role_changed` (the effective role: the highest of the user's
//! groups, else the organization's default role).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};

use crate::dto::events::{EventView, EventsPage};
use crate::dto::GroupRole;
use crate::error::{DomainError, DomainResult};
use crate::ids::TenantId;
use crate::store::{EventRecord, NewEvent, Store, TenantTx, UserRow};

tokio::task_local! {
    /// The SCIM request being served (its `x-request-id`), for the events' cause.
    static SCIM_REQUEST: String;
}

/// Runs `f` as the SCIM request `request_id`: the events its writes emit name it as their cause.
pub async fn in_scim_request<F: std::future::Future>(request_id: String, f: F) -> F::Output {
    SCIM_REQUEST.scope(request_id, f).await
}

/// What caused a change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cause {
    /// A SCIM request of the IdP (its request id when known).
    Scim,
    /// An organization admin (their email).
    Admin(String),
    /// A whole-tenant evaluation of the mapping rules (its run id).
    Rules(String),
    /// A person's SSO sign-in (who).
    SignIn(String),
    /// Roster itself (what).
    System(String),
}

impl Cause {
    /// As stored and sent.
    pub fn to_json(&self) -> Value {
        match self {
            Cause::Scim => {
                let request = SCIM_REQUEST.try_with(Clone::clone).ok();
                json!({"kind": "scim", "request_id": request})
            }
            Cause::Admin(who) => json!({"kind": "admin", "actor": who}),
            Cause::Rules(run) => json!({"kind": "rules", "run_id": run}),
            Cause::SignIn(who) => json!({"kind": "sign_in", "who": who}),
            Cause::System(what) => json!({"kind": "system", "what": what}),
        }
    }

    /// The cause of a change made by `actor` (an activity actor).
    pub fn of_actor(actor: &super::activity::Actor) -> Cause {
        match actor.kind {
            "admin" | "support" => Cause::Admin(actor.name.clone()),
            "sso" => Cause::SignIn(actor.name.clone()),
            _ => Cause::System(actor.name.clone()),
        }
    }
}

/// A new event id: `evt_` and a time-ordered UUID (version 7, 74 random bits; see
/// [`crate::ids::time_ordered`]). Every event's id is indexed (`events_id`): a random id put each
/// new entry on a random page of that index, a dozen pages of every commit's WAL in a create
/// workload (the largest share after new pages); a time-ordered one goes at the index's end.
pub fn new_id() -> String {
    format!("evt_{}", crate::ids::time_ordered_uuid().simple())
}

/// Says what caused the write in `tx` (its events name it).
pub fn set_cause(tx: &mut TenantTx<'_>, cause: &Cause) {
    tx.set_cause(cause.to_json().to_string());
}

/// Queues an event of `kind` with `data` on `tx`; its cause is the write's ([`set_cause`]),
/// else the SCIM request being served, else Roster itself.
pub fn emit(tx: &mut TenantTx<'_>, kind: &str, data: Value, now: i64) {
    emit_text(tx, kind, data.to_string(), now);
}

/// The cause of an event queued in `tx`: the transaction's, else the SCIM request being served,
/// else Roster itself.
fn event_cause(tx: &TenantTx<'_>) -> String {
    match tx.cause() {
        Some(c) => c.to_string(),
        None if SCIM_REQUEST.try_with(|_| ()).is_ok() => Cause::Scim.to_json().to_string(),
        None => Cause::System("roster".into()).to_json().to_string(),
    }
}

/// Whether the write in `tx` is a person's sign-in (their just-in-time user's placement).
fn at_sign_in(tx: &TenantTx<'_>) -> bool {
    tx.cause().is_some_and(|c| c.contains(r#""kind":"sign_in""#))
}

/// A stored resource's JSON as a value (an empty object if it is not an object). A SCIM PUT or
/// PATCH applies the same rule to the tree it parsed already, borrowed
/// (`provisioning::users::Stored::before`).
pub fn parse_resource(text: &str) -> Value {
    match serde_json::from_str::<Value>(text) {
        Ok(v @ Value::Object(_)) => v,
        _ => Value::Object(Map::new()),
    }
}

/// A user as events show it: the SCIM resource with its id and source (as a tree, for an event
/// that carries more than the user; see [`UserData`]).
pub fn user_data(id: &str, source: crate::dto::UserSource, resource: &Value) -> Value {
    serde_json::to_value(UserData { id, source: source.as_str(), resource }).unwrap_or_default()
}

/// The top-level attributes that differ between two versions of a resource, sorted.
pub fn changed_attributes(before: &Value, after: &Value) -> Vec<String> {
    let empty = Map::new();
    let b = before.as_object().unwrap_or(&empty);
    let a = after.as_object().unwrap_or(&empty);
    let keys: BTreeSet<&String> = b.keys().chain(a.keys()).collect();
    keys.into_iter().filter(|k| b.get(*k) != a.get(*k)).cloned().collect()
}

/// The events of a user write: `user.created`, or for an update `user.deactivated` /
/// `user.reactivated` when `active` flipped, else `user.updated` (none when nothing changed);
/// each carries the changed attributes. `before` and `after` are the user's resource (as
/// stored) before and after the write.
pub fn emit_user_write(
    tx: &mut TenantTx<'_>,
    id: &str,
    source: crate::dto::UserSource,
    before: Option<&Value>,
    after: &Value,
    now: i64,
) {
    if let Some((kind, data)) = user_write(id, source, before, after) {
        emit_text(tx, kind, data, now);
    }
}

/// Queues a user's event of `kind` whose data is the user (as [`user_data`]) and, when given,
/// the attributes that changed.
pub fn emit_user(
    tx: &mut TenantTx<'_>,
    kind: &str,
    id: &str,
    source: crate::dto::UserSource,
    resource: &Value,
    changed: Option<Vec<String>>,
    now: i64,
) {
    let user = UserData { id, source: source.as_str(), resource };
    emit_text(tx, kind, write_data(&UserWrite { changed, user }), now);
}

/// The event of a user's write whose cause is `cause` (see [`emit_user_write`]), for a write
/// that goes without a [`TenantTx`] (see [`crate::store::TenantStore::update_user_alone`]).
pub fn user_write_event(
    cause: &Cause,
    id: &str,
    source: crate::dto::UserSource,
    before: Option<&Value>,
    after: &Value,
    now: i64,
) -> Option<NewEvent> {
    let (kind, data) = user_write(id, source, before, after)?;
    let cause = cause.to_json().to_string();
    Some(NewEvent { id: new_id(), kind: kind.to_string(), at: now, data, cause })
}

/// The type and data (JSON text) of a user's write event; `None` when nothing changed.
fn user_write(
    id: &str,
    source: crate::dto::UserSource,
    before: Option<&Value>,
    after: &Value,
) -> Option<(&'static str, String)> {
    let user = UserData { id, source: source.as_str(), resource: after };
    let Some(before) = before else {
        return Some(("user.created", write_data(&UserWrite { changed: None, user })));
    };
    let changed = changed_attributes(before, after);
    if changed.is_empty() {
        return None;
    }
    let kind = match (UserRow::active_in(before), UserRow::active_in(after)) {
        (true, false) => "user.deactivated",
        (false, true) => "user.reactivated",
        _ => "user.updated",
    };
    Some((kind, write_data(&UserWrite { changed: Some(changed), user })))
}

fn write_data(data: &UserWrite<'_>) -> String {
    serde_json::to_string(data).unwrap_or_else(|_| "{}".into())
}

/// A user write's event data, `{"changed": […], "user": …}`, written from the resource as it is
/// instead of from a copy of its tree (this is on every SCIM write's path). Members in name
/// order, as `serde_json`'s map keeps them.
#[derive(serde::Serialize)]
struct UserWrite<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    changed: Option<Vec<String>>,
    user: UserData<'a>,
}

/// A user as events show it, without copying the resource: its members with `id` and `source`
/// in their places (the one definition; [`user_data`] is its tree).
struct UserData<'a> {
    id: &'a str,
    source: &'a str,
    resource: &'a Value,
}

impl serde::Serialize for UserData<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let empty = Map::new();
        let members = self.resource.as_object().unwrap_or(&empty);
        let mut map = s.serialize_map(None)?;
        let mut ours = [("id", self.id), ("source", self.source)].into_iter().peekable();
        for (k, v) in members {
            if k == "id" || k == "source" {
                continue;
            }
            while let Some((name, value)) = ours.next_if(|(name, _)| *name < k.as_str()) {
                map.serialize_entry(name, value)?;
            }
            map.serialize_entry(k, v)?;
        }
        for (name, value) in ours {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

/// Queues an event whose data is already JSON text (see [`emit`]).
fn emit_text(tx: &mut TenantTx<'_>, kind: &str, data: String, now: i64) {
    let cause = event_cause(tx);
    tx.emit(NewEvent { id: new_id(), kind: kind.to_string(), at: now, data, cause });
}

/// A user's user groups (id → (name, role)) as a transaction sees them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Access(pub BTreeMap<String, BTreeMap<String, (String, GroupRole)>>);

impl Access {
    /// Reads the access of `users` in `tx`.
    pub async fn read(tx: &mut TenantTx<'_>, users: &[String]) -> DomainResult<Access> {
        let mut out: BTreeMap<String, BTreeMap<String, (String, GroupRole)>> =
            users.iter().map(|u| (u.clone(), BTreeMap::new())).collect();
        for (user, group, name, role) in tx.user_group_access(users).await? {
            let role = GroupRole::parse(&role).unwrap_or(GroupRole::Viewer);
            out.entry(user).or_default().insert(group, (name, role));
        }
        Ok(Access(out))
    }

    fn role(&self, user: &str, default: Option<GroupRole>) -> Option<GroupRole> {
        self.0.get(user).and_then(|g| g.values().map(|(_, r)| *r).max()).or(default)
    }
}

/// Emits the user-group membership and effective-role changes between `before` and `after`
/// (see the module doc); `reason` says why a user was added to a group (`admin`, `rule`,
/// `default`, `jit`).
pub fn emit_access_changes(
    tx: &mut TenantTx<'_>,
    before: &Access,
    after: &Access,
    default_role: Option<GroupRole>,
    reason: &dyn Fn(&str, &str) -> String,
    now: i64,
) {
    let jit = at_sign_in(tx);
    let empty = BTreeMap::new();
    for (user, groups_after) in &after.0 {
        let groups_before = before.0.get(user).unwrap_or(&empty);
        for (group, (name, role)) in groups_before {
            if !groups_after.contains_key(group) {
                let data =
                    json!({"user": {"id": user}, "user_group": {"id": group, "name": name, "role": role.as_str()}});
                emit(tx, "user_group.member_removed", data, now);
            }
        }
        for (group, (name, role)) in groups_after {
            if !groups_before.contains_key(group) {
                let data = json!({
                    "user": {"id": user},
                    "user_group": {"id": group, "name": name, "role": role.as_str()},
                    "reason": if jit { "jit".to_string() } else { reason(user, group) },
                });
                emit(tx, "user_group.member_added", data, now);
            }
        }
        let (was, is) = (before.role(user, default_role), after.role(user, default_role));
        if was != is {
            let data = json!({
                "user": {"id": user},
                "role": is.map(GroupRole::as_str),
                "previous_role": was.map(GroupRole::as_str),
            });
            emit(tx, "user.role_changed", data, now);
        }
    }
}

/// The organization's default role, as `tx` sees it.
pub async fn default_role(tx: &mut TenantTx<'_>) -> DomainResult<Option<GroupRole>> {
    Ok(tx.default_role_in_tx().await?.as_deref().and_then(GroupRole::parse))
}

/// After a write that may have changed the user groups of `users` (read as `before`): reads
/// them again and emits the differences, every addition for `reason`.
pub async fn emit_access_after(
    tx: &mut TenantTx<'_>,
    users: &[String],
    before: &Access,
    reason: &str,
    now: i64,
) -> DomainResult<()> {
    let after = Access::read(tx, users).await?;
    let default_role = default_role(tx).await?;
    emit_access_changes(tx, before, &after, default_role, &|_, _| reason.to_string(), now);
    Ok(())
}

/// An event as the API and webhooks show it.
pub fn view(tenant: &TenantId, e: &EventRecord) -> EventView {
    EventView {
        id: e.id.clone(),
        kind: e.kind.clone(),
        tenant: tenant.to_string(),
        seq: e.seq,
        created_at: rfc3339(e.at),
        data: serde_json::from_str(&e.data).unwrap_or(Value::Null),
        cause: serde_json::from_str(&e.cause).unwrap_or(Value::Null),
    }
}

/// Epoch ms as RFC 3339 (UTC, milliseconds).
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// The opaque cursor after `seq`.
pub fn cursor(seq: i64) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("seq:{seq}"))
}

/// The seq a cursor stands after; `Invalid` if it is not one of ours.
pub fn parse_cursor(text: &str) -> DomainResult<i64> {
    use base64::Engine;
    let bad = || DomainError::Invalid("The cursor is not one this API returned.".into());
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text.trim()).map_err(|_| bad())?;
    let s = String::from_utf8(raw).map_err(|_| bad())?;
    s.strip_prefix("seq:").and_then(|n| n.parse::<i64>().ok()).filter(|n| *n >= 0).ok_or_else(bad)
}

/// The largest page of the events API.
pub const MAX_PAGE: i64 = 500;

/// Events after `after` (a cursor; none = from the oldest kept), of `types` (all when empty),
/// at most `limit` (1..=500), in order.
pub async fn list(
    store: &Store,
    tenant: &TenantId,
    after: Option<&str>,
    types: &[String],
    limit: i64,
) -> DomainResult<EventsPage> {
    for t in types {
        if !crate::dto::events::EVENT_TYPES.contains(&t.as_str()) {
            return Err(DomainError::Invalid(format!("'{t}' is not an event type.")));
        }
    }
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(DomainError::Invalid(format!("limit must be between 1 and {MAX_PAGE}.")));
    }
    let after = after.map(parse_cursor).transpose()?.unwrap_or(0);
    let t = store.tenant(tenant);
    let records = t.events_after(after, types, limit).await?;
    let last = records.last().map_or(after, |e| e.seq);
    // With a type filter, a page may end on an event of another type: the cursor still
    // advances past everything read (up to the latest seq when fewer than `limit` matched).
    let through = if (records.len() as i64) < limit { t.last_event_seq().await?.max(last) } else { last };
    Ok(EventsPage {
        data: records.iter().map(|e| view(tenant, e)).collect(),
        next_cursor: cursor(through),
        has_more: records.len() as i64 == limit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_others() {
        for n in [0, 1, 42, i64::MAX] {
            assert_eq!(parse_cursor(&cursor(n)).ok(), Some(n));
        }
        for bad in ["", "abc", "c2VxOi0x", "%%%", "c2VxOng"] {
            assert!(parse_cursor(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn changed_attributes_are_the_top_level_differences() {
        let a = json!({"userName":"a","active":true,"name":{"givenName":"A"}});
        let b = json!({"userName":"a","active":false,"name":{"givenName":"B"},"title":"x"});
        assert_eq!(changed_attributes(&a, &b), vec!["active", "name", "title"]);
        assert!(changed_attributes(&a, &a).is_empty());
        assert_eq!(changed_attributes(&parse_resource("not JSON"), &parse_resource(r#"{"a":1}"#)), vec!["a"]);
    }

    #[test]
    fn a_user_writes_event_data_is_the_json_of_its_tree_byte_for_byte() {
        use crate::dto::UserSource;
        let before = json!({"userName":"ada","active":true,"title":"A"});
        for after in [
            json!({"userName":"ada","active":false,"title":"B","emails":[{"value":"a@x.test"}],"zeta":{"k":1}}),
            // Members that sort before, between and after `id` and `source`, and stored ones of
            // those names, which the event's replace.
            json!({"a":1,"id":"stale","ja":2,"source":"old","sz":3,"userName":"ada","active":true}),
            json!({}),
            json!("not an object"),
        ] {
            for source in [UserSource::Scim, UserSource::Jit] {
                // The user as a copy of the tree with id and source inserted.
                let mut user = after.as_object().cloned().unwrap_or_default();
                user.insert("id".into(), json!("u-1"));
                user.insert("source".into(), json!(source.as_str()));
                let user = Value::Object(user);
                assert_eq!(user_data("u-1", source, &after), user);
                let (kind, data) = user_write("u-1", source, None, &after).expect("created");
                assert_eq!((kind, data), ("user.created", json!({"user": user}).to_string()));
                if let Some((kind, data)) = user_write("u-1", source, Some(&before), &after) {
                    let changed = changed_attributes(&before, &after);
                    assert_eq!(data, json!({"user": user, "changed": changed}).to_string(), "{kind}");
                }
            }
        }
        assert_eq!(user_write("u-1", UserSource::Scim, Some(&before), &before), None);
    }

    #[test]
    fn the_effective_role_is_the_highest_group_else_the_default() {
        let mut a = Access::default();
        a.0.insert("u".into(), BTreeMap::new());
        assert_eq!(a.role("u", Some(GroupRole::Viewer)), Some(GroupRole::Viewer));
        assert_eq!(a.role("u", None), None);
        let g = a.0.get_mut("u").unwrap();
        g.insert("g1".into(), ("One".into(), GroupRole::Member));
        g.insert("g2".into(), ("Two".into(), GroupRole::Admin));
        assert_eq!(a.role("u", Some(GroupRole::Viewer)), Some(GroupRole::Admin));
    }
}
