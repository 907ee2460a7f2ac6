//! SCIM Groups. Members live in their own table: adding one member to a group of 100,000 is
//! one row, and PATCH operations on `members` become row inserts and deletes, so concurrent
//! changes to one group never lose a member.

use std::collections::HashMap;

use serde_json::{json, Value};

use super::{build_query, check_if_match, json_error, meta, not_found, scim_error, Listed, Resource, Scim};
use crate::clock::now_ms;
use crate::error::DomainError;
use crate::scim::error::ScimError;
use crate::scim::filter::{CompValue, CompareOp, Filter};
use crate::scim::messages::SearchRequest;
use crate::scim::patch::{self, PatchOpKind, PatchOperation};
use crate::scim::path::PatchPath;
use crate::scim::schema::ResourceSchema;
use crate::scim::validate::{check_value, validate_resource, Mode};
use crate::service::events;
use crate::service::mappings::{begin_write, place_late, Placer, Touched};
use crate::store::{fold_ascii, GroupColumns, GroupRow, MemberRow, Table, TenantTx};

/// The most members one request may name.
pub const MAX_MEMBERS_PER_REQUEST: usize = 10_000;

fn schema() -> &'static ResourceSchema {
    ResourceSchema::group()
}

fn columns(res: &Value) -> Result<GroupColumns, ScimError> {
    let display_name = res
        .get("displayName")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ScimError::invalid_value("'displayName' is required"))?
        .to_string();
    Ok(GroupColumns {
        display_name_norm: fold_ascii(&display_name),
        display_name,
        external_id: res.get("externalId").and_then(Value::as_str).map(str::to_string),
    })
}

/// (added, removed): the members in `after` and not `before`, and the other way round.
fn difference(before: &[String], after: &[String]) -> (Vec<String>, Vec<String>) {
    let b: std::collections::HashSet<&String> = before.iter().collect();
    let a: std::collections::HashSet<&String> = after.iter().collect();
    let mut added: Vec<String> = after.iter().filter(|m| !b.contains(m)).cloned().collect();
    let mut removed: Vec<String> = before.iter().filter(|m| !a.contains(m)).cloned().collect();
    added.sort();
    added.dedup();
    removed.sort();
    removed.dedup();
    (added, removed)
}

/// A group as events show it: the SCIM resource (no members) with its id.
fn group_data(id: &str, data: &str) -> Value {
    let mut group = match serde_json::from_str::<Value>(data) {
        Ok(Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    group.insert("id".into(), Value::String(id.to_string()));
    Value::Object(group)
}

/// One `kind` event (`group.member_added`/`removed`) per member.
fn emit_members<'m>(
    tx: &mut TenantTx<'_>,
    group: &str,
    display_name: &str,
    members: impl Iterator<Item = &'m str>,
    kind: &str,
    now: i64,
) {
    for m in members {
        let data = json!({"group": {"id": group, "displayName": display_name}, "member": {"id": m}});
        events::emit(tx, kind, data, now);
    }
}

/// The members in one list and not the other (those a replacement adds or removes).
fn changed(before: Vec<String>, after: Vec<String>) -> Vec<String> {
    let before_set: std::collections::HashSet<&String> = before.iter().collect();
    let after_set: std::collections::HashSet<&String> = after.iter().collect();
    let mut out: Vec<String> = after.iter().filter(|m| !before_set.contains(m)).cloned().collect();
    out.extend(before.iter().filter(|m| !after_set.contains(m)).cloned());
    out
}

/// The member ids of a canonical `members` value.
fn member_ids(members: Option<&Value>) -> Vec<String> {
    members
        .and_then(Value::as_array)
        .map(|list| list.iter().filter_map(|m| m.get("value").and_then(Value::as_str)).map(str::to_string).collect())
        .unwrap_or_default()
}

/// What a group write does to its members.
enum MemberWrite<'a> {
    /// Makes them exactly these (id, type).
    Replace(&'a [(String, String)]),
    /// Takes these out, then adds those, row by row (concurrent changes never lose a member).
    Change { add: &'a [(String, String)], remove: &'a [String] },
}

/// Inside a group write's transaction, after its statements: re-places the users it touched —
/// `touched` are the member ids it added or removed (users, and groups whose users gain or
/// lose the group through nesting).
async fn place_touched(
    tx: &mut TenantTx<'_>,
    placer: Option<&Placer>,
    touched: &[String],
    now: i64,
) -> Result<(), DomainError> {
    let Some(placer) = placer else { return Ok(()) };
    if touched.is_empty() {
        return Ok(());
    }
    let mut users = tx.users_below(touched).await?;
    users.extend(touched.iter().cloned());
    users.sort();
    users.dedup();
    placer.place(tx, &users, now).await?;
    Ok(())
}

/// The changes a PATCH makes to `members`, folded in order.
#[derive(Default)]
struct MemberChanges {
    replace: Option<Vec<String>>,
    add: Vec<String>,
    remove: Vec<String>,
}

impl MemberChanges {
    fn add(&mut self, ids: Vec<String>) {
        for id in ids {
            match &mut self.replace {
                Some(list) => {
                    if !list.contains(&id) {
                        list.push(id)
                    }
                }
                None => {
                    self.remove.retain(|r| r != &id);
                    if !self.add.contains(&id) {
                        self.add.push(id);
                    }
                }
            }
        }
    }

    fn remove(&mut self, ids: Vec<String>) {
        for id in ids {
            match &mut self.replace {
                Some(list) => list.retain(|m| m != &id),
                None => {
                    self.add.retain(|a| a != &id);
                    if !self.remove.contains(&id) {
                        self.remove.push(id);
                    }
                }
            }
        }
    }

    fn replace(&mut self, ids: Vec<String>) {
        self.add.clear();
        self.remove.clear();
        let mut unique = Vec::with_capacity(ids.len());
        for id in ids {
            if !unique.contains(&id) {
                unique.push(id);
            }
        }
        self.replace = Some(unique);
    }

    fn named(&self) -> usize {
        self.replace.as_ref().map_or(0, Vec::len) + self.add.len() + self.remove.len()
    }
}

/// `value eq "x"` (or an `or` of them): the ids it names.
fn eq_values(f: &Filter, out: &mut Vec<String>) -> bool {
    match f {
        Filter::Or(terms) => terms.iter().all(|t| eq_values(t, out)),
        Filter::Compare { path, op: CompareOp::Eq, value: CompValue::Str(s) }
            if path.name == "value" && path.sub.is_none() =>
        {
            out.push(s.clone());
            true
        }
        _ => false,
    }
}

fn targets_members(path: &PatchPath) -> bool {
    path.attr.urn.is_none() && path.attr.name.eq_ignore_ascii_case("members")
}

impl Scim<'_> {
    fn group_location(&self, id: &str) -> String {
        format!("{}/Groups/{id}", self.base_url)
    }

    fn group_resource(&self, row: &GroupRow, members: Option<&[MemberRow]>) -> Result<Resource, ScimError> {
        let mut json: Value = serde_json::from_str(&row.data)
            .map_err(|e| scim_error(DomainError::Internal(format!("stored group {}: {e}", row.id))))?;
        if let Value::Object(m) = &mut json {
            m.insert("id".into(), Value::String(row.id.clone()));
            if let Some(members) = members.filter(|m| !m.is_empty()) {
                let list: Vec<Value> = members
                    .iter()
                    .map(|mem| {
                        let mut v = json!({
                            "value": mem.id,
                            "$ref": format!("{}/{}s/{}", self.base_url, mem.kind, mem.id),
                            "type": mem.kind,
                        });
                        if let (Some(d), Value::Object(o)) = (&mem.display, &mut v) {
                            o.insert("display".into(), Value::String(d.clone()));
                        }
                        v
                    })
                    .collect();
                m.insert("members".into(), Value::Array(list));
            }
            m.insert(
                "meta".into(),
                meta("Group", self.group_location(&row.id), row.created_at, row.updated_at, row.version),
            );
        }
        Ok(Resource { id: row.id.clone(), version: row.version, json })
    }

    async fn load_group(&self, id: &str) -> Result<GroupRow, ScimError> {
        self.store.tenant(self.tenant).group(id).await.map_err(scim_error)?.ok_or_else(|| not_found("Group", id))
    }

    async fn group_with_members(&self, row: &GroupRow) -> Result<Resource, ScimError> {
        let members =
            self.store.tenant(self.tenant).members_of(std::slice::from_ref(&row.id)).await.map_err(scim_error)?;
        self.group_resource(row, Some(members.get(&row.id).map(Vec::as_slice).unwrap_or(&[])))
    }

    /// Checks that every id is a user or group of this tenant; returns (id, type) pairs.
    async fn resolve_members(
        &self,
        ids: &[String],
        group_id: Option<&str>,
    ) -> Result<Vec<(String, String)>, ScimError> {
        if ids.len() > MAX_MEMBERS_PER_REQUEST {
            return Err(ScimError::invalid_value(format!("at most {MAX_MEMBERS_PER_REQUEST} members per request")));
        }
        let mut kinds: HashMap<String, String> = HashMap::new();
        for chunk in ids.chunks(500) {
            kinds.extend(self.store.tenant(self.tenant).resource_kinds(chunk).await.map_err(scim_error)?);
        }
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if Some(id.as_str()) == group_id {
                return Err(ScimError::invalid_value("a group cannot be a member of itself"));
            }
            let kind = kinds.get(id).ok_or_else(|| {
                ScimError::invalid_value(format!("member '{id}' is not a User or Group of this tenant"))
            })?;
            out.push((id.clone(), kind.clone()));
        }
        Ok(out)
    }

    /// Writes a new group with its members and places them, in one transaction.
    async fn insert_group(
        &self,
        id: &str,
        cols: &GroupColumns,
        data: &str,
        members: &[(String, String)],
    ) -> Result<(), DomainError> {
        let now = now_ms();
        let (mut tx, placer, seen) = begin_write(self.store, self.tenant).await?;
        tx.insert_group(id, cols, data, members, now).await?;
        let group = group_data(id, data);
        events::emit(&mut tx, "group.created", json!({"group": group}), now);
        emit_members(
            &mut tx,
            id,
            &cols.display_name,
            members.iter().map(|(m, _)| m.as_str()),
            "group.member_added",
            now,
        );
        let touched: Vec<String> = members.iter().map(|(m, _)| m.clone()).collect();
        place_touched(&mut tx, placer.as_ref(), &touched, now).await?;
        tx.commit().await?;
        if placer.is_none() {
            place_late(self.store, self.tenant, seen, Touched::Members(&touched)).await;
        }
        Ok(())
    }

    /// Writes a group's attributes and members, if it is still at `expected` (when given), and
    /// re-places the members it adds and removes (and the users nested below them), in one
    /// transaction; `false` when the group is gone or changed meanwhile.
    #[allow(clippy::too_many_arguments)]
    async fn update_group(
        &self,
        id: &str,
        cols: &GroupColumns,
        before_data: &str,
        data: &str,
        expected: Option<i64>,
        members: MemberWrite<'_>,
    ) -> Result<bool, DomainError> {
        let now = now_ms();
        let (mut tx, placer, seen) = begin_write(self.store, self.tenant).await?;
        // Read under the lock, so that a concurrent change of this group's members is seen.
        let before = match &members {
            MemberWrite::Replace(_) => tx.member_ids(id).await?,
            MemberWrite::Change { add, remove } => {
                let asked: Vec<String> = add.iter().map(|(m, _)| m.clone()).chain(remove.iter().cloned()).collect();
                tx.members_among(id, &asked).await?
            }
        };
        if !tx.update_group(id, cols, data, expected, now).await? {
            return Ok(false);
        }
        if events::changed_attributes(&events::parse_resource(before_data), &events::parse_resource(data))
            .iter()
            .any(|a| a != "members")
        {
            let group = group_data(id, data);
            events::emit(&mut tx, "group.updated", json!({"group": group}), now);
        }
        let (touched, known, added, removed) = match members {
            MemberWrite::Replace(list) => {
                tx.replace_members(id, list, now).await?;
                let after: Vec<String> = list.iter().map(|(m, _)| m.clone()).collect();
                let (added, removed) = difference(&before, &after);
                (changed(before, after), true, added, removed)
            }
            MemberWrite::Change { add, remove } => {
                tx.remove_members(id, remove).await?;
                tx.add_members(id, add, now).await?;
                let asked: Vec<String> = add.iter().map(|(m, _)| m.clone()).chain(remove.iter().cloned()).collect();
                let after = tx.members_among(id, &asked).await?;
                let (added, removed) = difference(&before, &after);
                (asked, true, added, removed)
            }
        };
        emit_members(&mut tx, id, &cols.display_name, removed.iter().map(String::as_str), "group.member_removed", now);
        emit_members(&mut tx, id, &cols.display_name, added.iter().map(String::as_str), "group.member_added", now);
        place_touched(&mut tx, placer.as_ref(), &touched, now).await?;
        tx.commit().await?;
        if placer.is_none() {
            let touched = if known { Touched::Members(&touched) } else { Touched::Unknown };
            place_late(self.store, self.tenant, seen, touched).await;
        }
        Ok(true)
    }

    /// POST /Groups. The mapping rules place its members in the same transaction.
    pub async fn create_group(&self, body: &Value) -> Result<Resource, ScimError> {
        let mut res = validate_resource(body, schema(), Mode::Create)?;
        let ids = member_ids(res.get("members"));
        if let Value::Object(m) = &mut res {
            m.remove("members");
        }
        let cols = columns(&res)?;
        let id = crate::ids::time_ordered();
        let members = self.resolve_members(&ids, Some(&id)).await?;
        let data = serde_json::to_string(&res).map_err(json_error)?;
        self.insert_group(&id, &cols, &data, &members).await.map_err(scim_error)?;
        let row = self.load_group(&id).await?;
        self.group_with_members(&row).await
    }

    /// GET /Groups/{id}; `with_members: false` skips loading members (excludedAttributes=members).
    pub async fn get_group(&self, id: &str, with_members: bool) -> Result<Resource, ScimError> {
        let row = self.load_group(id).await?;
        if with_members {
            self.group_with_members(&row).await
        } else {
            self.group_resource(&row, None)
        }
    }

    /// PUT /Groups/{id}. The mapping rules re-place the members it adds and removes in the
    /// same transaction.
    pub async fn replace_group(&self, id: &str, body: &Value, if_match: Option<&str>) -> Result<Resource, ScimError> {
        let row = self.load_group(id).await?;
        check_if_match(if_match, row.version)?;
        let existing: Value = serde_json::from_str(&row.data).unwrap_or(Value::Null);
        let mut res = validate_resource(body, schema(), Mode::Replace { existing: &existing })?;
        let ids = member_ids(res.get("members"));
        if let Value::Object(m) = &mut res {
            m.remove("members");
        }
        let cols = columns(&res)?;
        let members = self.resolve_members(&ids, Some(id)).await?;
        let data = serde_json::to_string(&res).map_err(json_error)?;
        let expected = if_match.map(|_| row.version);
        let written = self
            .update_group(id, &cols, &row.data, &data, expected, MemberWrite::Replace(&members))
            .await
            .map_err(scim_error)?;
        if !written {
            return Err(if if_match.is_some() {
                ScimError::status(412, "the resource changed while it was being replaced")
            } else {
                not_found("Group", id)
            });
        }
        let row = self.load_group(id).await?;
        self.group_with_members(&row).await
    }

    /// PATCH /Groups/{id}. Returns the group (members included only when `return_members`) and
    /// a summary of the operations. The mapping rules re-place the members it adds and removes
    /// in the same transaction.
    pub async fn patch_group(
        &self,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
        return_members: bool,
    ) -> Result<(Resource, String), ScimError> {
        let ops = patch::parse_request(body)?;
        let summary = ops.iter().map(|o| o.summary()).collect::<Vec<_>>().join("; ");
        let row = self.load_group(id).await?;
        check_if_match(if_match, row.version)?;
        let members_attr =
            schema().core.attribute("members").ok_or_else(|| ScimError::status(500, "no members attribute"))?;

        let mut changes = MemberChanges::default();
        let mut other_ops: Vec<PatchOperation> = Vec::new();
        let mut current_members: Option<Vec<MemberRow>> = None;
        for op in ops {
            match &op.path {
                Some(path) if targets_members(path) => {
                    if path.sub_after_filter.is_some() || path.attr.sub.is_some() {
                        return Err(ScimError::mutability(format!(
                            "'{path}': member values are immutable; remove and add members instead"
                        )));
                    }
                    match (op.op, &path.filter) {
                        (PatchOpKind::Add, None) => changes.add(member_ids(Some(&check_value(
                            members_attr,
                            op.value.as_ref().unwrap_or(&Value::Null),
                            &"members",
                        )?))),
                        (PatchOpKind::Replace, None) => changes.replace(member_ids(Some(&check_value(
                            members_attr,
                            op.value.as_ref().unwrap_or(&Value::Null),
                            &"members",
                        )?))),
                        (PatchOpKind::Remove, None) => match &op.value {
                            // Okta: remove the listed members.
                            Some(v) if !v.is_null() => {
                                changes.remove(member_ids(Some(&check_value(members_attr, v, &"members")?)))
                            }
                            _ => changes.replace(Vec::new()),
                        },
                        (PatchOpKind::Remove, Some(filter)) => {
                            let resolved =
                                Filter::ValuePath { path: path.attr.clone(), filter: Box::new(filter.clone()) }
                                    .resolve(schema())
                                    .map_err(|e| ScimError::invalid_path(e.detail))?;
                            let Filter::ValuePath { filter: inner, .. } = resolved else {
                                unreachable!("value path stays a value path")
                            };
                            let mut ids = Vec::new();
                            if eq_values(&inner, &mut ids) {
                                changes.remove(ids);
                            } else {
                                // Any other filter: evaluate it on the current members.
                                if current_members.is_none() {
                                    let mut all = self
                                        .store
                                        .tenant(self.tenant)
                                        .members_of(std::slice::from_ref(&row.id))
                                        .await
                                        .map_err(scim_error)?;
                                    current_members = Some(all.remove(&row.id).unwrap_or_default());
                                }
                                let matching: Vec<String> = current_members
                                    .iter()
                                    .flatten()
                                    .filter(|m| {
                                        inner.matches_value(&json!({"value": m.id, "type": m.kind}), members_attr)
                                    })
                                    .map(|m| m.id.clone())
                                    .collect();
                                changes.remove(matching);
                            }
                        }
                        (_, Some(_)) => {
                            return Err(ScimError::mutability(format!(
                                "'{path}': member values are immutable; remove and add members instead"
                            )))
                        }
                    }
                }
                None => {
                    // A path-less value may carry members too.
                    let mut op = op.clone();
                    if let Some(Value::Object(values)) = &mut op.value {
                        let key = values.keys().find(|k| k.eq_ignore_ascii_case("members")).cloned();
                        if let Some(key) = key {
                            let v = values.remove(&key).unwrap_or(Value::Null);
                            let ids = member_ids(Some(&check_value(members_attr, &v, &"members")?));
                            match op.op {
                                PatchOpKind::Add => changes.add(ids),
                                _ => changes.replace(ids),
                            }
                        }
                        if values.is_empty() {
                            continue;
                        }
                    }
                    other_ops.push(op);
                }
                Some(_) => other_ops.push(op),
            }
        }
        if changes.named() > MAX_MEMBERS_PER_REQUEST {
            return Err(ScimError::invalid_value(format!("at most {MAX_MEMBERS_PER_REQUEST} members per request")));
        }

        let mut current: Value = serde_json::from_str(&row.data).map_err(json_error)?;
        // The id is part of the resource a client sees (Okta repeats it in a rename).
        current["id"] = Value::String(row.id.clone());
        let mut res = if other_ops.is_empty() { current } else { patch::apply(current, &other_ops, schema())? };
        if let Value::Object(m) = &mut res {
            m.remove("members");
            m.remove("id");
        }
        let cols = columns(&res)?;
        let replace = match &changes.replace {
            Some(ids) => Some(self.resolve_members(ids, Some(id)).await?),
            None => None,
        };
        let add = self.resolve_members(&changes.add, Some(id)).await?;
        let data = serde_json::to_string(&res).map_err(json_error)?;
        let expected = if_match.map(|_| row.version);
        // A replacement has later additions and removals folded in (see `MemberChanges`).
        let members = match replace.as_deref() {
            Some(list) => MemberWrite::Replace(list),
            None => MemberWrite::Change { add: &add, remove: &changes.remove },
        };
        let written = self.update_group(id, &cols, &row.data, &data, expected, members).await.map_err(scim_error)?;
        if !written {
            return Err(if if_match.is_some() {
                ScimError::status(412, "the resource changed while it was being patched")
            } else {
                not_found("Group", id)
            });
        }
        let row = self.load_group(id).await?;
        let resource =
            if return_members { self.group_with_members(&row).await? } else { self.group_resource(&row, None)? };
        Ok((resource, summary))
    }

    /// DELETE /Groups/{id}. The mapping rules re-place its former members in the same
    /// transaction.
    pub async fn delete_group(&self, id: &str, if_match: Option<&str>) -> Result<(), ScimError> {
        let row = self.load_group(id).await?;
        check_if_match(if_match, row.version)?;
        let deleted = async {
            let (mut tx, placer, seen) = begin_write(self.store, self.tenant).await?;
            let former = if placer.is_some() { tx.member_ids(id).await? } else { Vec::new() };
            if !tx.delete_group(id).await? {
                return Ok(false);
            }
            let group = group_data(&row.id, &row.data);
            events::emit(&mut tx, "group.deleted", json!({"group": group}), now_ms());
            place_touched(&mut tx, placer.as_ref(), &former, now_ms()).await?;
            tx.commit().await?;
            if placer.is_none() {
                place_late(self.store, self.tenant, seen, Touched::Unknown).await;
            }
            Ok::<_, DomainError>(true)
        };
        if deleted.await.map_err(scim_error)? {
            Ok(())
        } else {
            Err(not_found("Group", id))
        }
    }

    /// GET /Groups and POST /Groups/.search.
    pub async fn search_groups(&self, req: &SearchRequest) -> Result<Listed, ScimError> {
        let (query, projection, paging) = build_query(req, schema(), Table::Groups, self.store)?;
        let mut page = self.store.tenant(self.tenant).query_groups(query).await.map_err(scim_error)?;
        let next_cursor = super::finish_page(&mut page.rows, paging, |r| super::cursor_after(r.created_at, &r.id));
        let wants_members = projection.attributes.iter().any(|p| p.name == "members")
            || (projection.attributes.is_empty()
                && !projection.excluded.iter().any(|p| p.name == "members" && p.sub.is_none()));
        let members = if wants_members {
            let ids: Vec<String> = page.rows.iter().map(|r| r.id.clone()).collect();
            self.store.tenant(self.tenant).members_of(&ids).await.map_err(scim_error)?
        } else {
            HashMap::new()
        };
        let mut resources = Vec::with_capacity(page.rows.len());
        for row in &page.rows {
            let r = self.group_resource(row, members.get(&row.id).map(Vec::as_slice))?;
            resources.push(projection.apply_owned(r.json, schema()));
        }
        let start_index = match paging {
            super::Paging::Index { start } => Some(start),
            super::Paging::Cursor { .. } => None,
        };
        Ok(Listed { total: page.total.map(|t| t.max(0) as u64), start_index, next_cursor, resources })
    }
}
