//! SCIM Users.

use serde_json::{json, Value};

use super::{
    build_query, check_if_match, json_error, meta, not_found, scim_error, Listed, Resource, Scim, WRITE_RETRIES,
};
use crate::dto::UserSource;
use crate::error::DomainError;
use crate::scim::error::ScimError;
use crate::scim::messages::SearchRequest;
use crate::scim::patch;
use crate::scim::schema::ResourceSchema;
use crate::scim::validate::{validate_resource, Mode};
use crate::service::safety::HoldRequest;
use crate::service::users::{self, with_defaults, Writer, Written};
use crate::store::{fold_ascii, HeldRecord, Table, UserColumns, UserGroupRow, UserRow};

fn schema() -> &'static ResourceSchema {
    ResourceSchema::user()
}

/// The adoption marks a new user's resource matches: its userName, its userName and primary
/// email as an email, its externalId (see [`crate::dto::AdoptBy`]).
fn adoption_keys(res: &Value) -> Result<Vec<String>, ScimError> {
    use crate::dto::AdoptBy;
    let cols = columns(res)?;
    let mut keys = vec![format!("{}{}", AdoptBy::UserName.prefix(), cols.user_name_norm)];
    // IdPs often use the email as the userName (Okta, Entra ID's UPN).
    keys.push(format!("{}{}", AdoptBy::Email.prefix(), cols.user_name_norm));
    if let Some(email) = &cols.primary_email_norm {
        if email != &cols.user_name_norm {
            keys.push(format!("{}{email}", AdoptBy::Email.prefix()));
        }
    }
    if let Some(ext) = &cols.external_id {
        keys.push(format!("{}{ext}", AdoptBy::ExternalId.prefix()));
    }
    Ok(keys)
}

/// The indexed columns of a canonical user resource.
pub fn columns(res: &Value) -> Result<UserColumns, ScimError> {
    let user_name = res
        .get("userName")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ScimError::invalid_value("'userName' is required"))?
        .to_string();
    if user_name.chars().count() > 512 {
        return Err(ScimError::invalid_value("'userName' can have at most 512 characters"));
    }
    let emails = res.get("emails").and_then(Value::as_array);
    let primary_email = emails.and_then(|list| {
        list.iter()
            .find(|e| e.get("primary") == Some(&Value::Bool(true)))
            .or_else(|| list.first())
            .and_then(|e| e.get("value"))
            .and_then(Value::as_str)
            .map(fold_ascii)
    });
    fn text(v: Option<&Value>) -> Option<&str> {
        v.and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty())
    }
    let display = text(res.get("displayName"));
    let name = res.get("name");
    let given = text(name.and_then(|n| n.get("givenName")));
    let family = text(name.and_then(|n| n.get("familyName")));
    let full = [given, family].into_iter().flatten().collect::<Vec<_>>().join(" ");
    let sort_name = fold_ascii(display.or((!full.is_empty()).then_some(full.as_str())).unwrap_or(&user_name));
    let external_id = res.get("externalId").and_then(Value::as_str);
    // What the users table's search looks in. A field already contained in the text so far
    // (the email that is also the userName, a displayName that is the full name) is left out:
    // every substring of it is found anyway, and the trigram index has less to keep per write.
    let mut search_text = String::new();
    for field in [
        Some(user_name.as_str()),
        display,
        (!full.is_empty()).then_some(full.as_str()),
        primary_email.as_deref(),
        external_id,
    ]
    .into_iter()
    .flatten()
    {
        let field = fold_ascii(field);
        if !search_text.contains(&field) {
            if !search_text.is_empty() {
                search_text.push(' ');
            }
            search_text.push_str(&field);
        }
    }
    Ok(UserColumns {
        sort_name,
        search_text,
        user_name_norm: fold_ascii(&user_name),
        user_name,
        external_id: res.get("externalId").and_then(Value::as_str).map(str::to_string),
        display_name_norm: res.get("displayName").and_then(Value::as_str).map(fold_ascii),
        primary_email_norm: primary_email,
        active: res.get("active").and_then(Value::as_bool).unwrap_or(true),
    })
}

/// A stored user's data parsed once, for both what a PUT or PATCH makes of it and the write's
/// `before` (the brake's "was it active?" and the event's "what changed?").
struct Stored(Option<Value>);

impl Stored {
    fn of(row: &UserRow) -> Stored {
        Stored(serde_json::from_str(&row.data).ok())
    }

    /// The data's tree, `None` if it is not JSON.
    fn parsed(&self) -> Option<&Value> {
        self.0.as_ref()
    }

    /// The tree as [`crate::service::events::parse_resource`] makes it (an object; empty if the
    /// data is not one).
    fn before(&self) -> std::borrow::Cow<'_, Value> {
        match &self.0 {
            Some(v @ Value::Object(_)) => std::borrow::Cow::Borrowed(v),
            _ => std::borrow::Cow::Owned(Value::Object(serde_json::Map::new())),
        }
    }
}

impl Scim<'_> {
    fn user_location(&self, id: &str) -> String {
        format!("{}/Users/{id}", self.base_url)
    }

    fn user_resource(&self, row: &UserRow, groups: &[UserGroupRow]) -> Result<Resource, ScimError> {
        let json: Value = serde_json::from_str(&row.data)
            .map_err(|e| scim_error(DomainError::Internal(format!("stored user {}: {e}", row.id))))?;
        Ok(self.dressed(row, json, groups))
    }

    /// The resource of `row` from `json`, the tree its `data` was written from: its id, groups
    /// and meta added.
    fn dressed(&self, row: &UserRow, mut json: Value, groups: &[UserGroupRow]) -> Resource {
        if let Value::Object(m) = &mut json {
            m.insert("id".into(), Value::String(row.id.clone()));
            let mine: Vec<Value> = groups
                .iter()
                .filter(|g| g.user_id == row.id)
                .map(|g| {
                    json!({
                        "value": g.group_id,
                        "$ref": format!("{}/Groups/{}", self.base_url, g.group_id),
                        "display": g.display,
                        "type": if g.direct { "direct" } else { "indirect" },
                    })
                })
                .collect();
            if !mine.is_empty() {
                m.insert("groups".into(), Value::Array(mine));
            }
            m.insert(
                "meta".into(),
                meta("User", self.user_location(&row.id), row.created_at, row.updated_at, row.version),
            );
        }
        Resource { id: row.id.clone(), version: row.version, json }
    }

    /// Keeps a user as read or written now, for a write to start from (see [`Self::write_next`]).
    fn keep(&self, row: &UserRow) {
        self.store.tenant_cache().put_user(self.tenant.as_str(), row);
    }

    async fn load_user(&self, id: &str) -> Result<UserRow, ScimError> {
        match self.store.tenant(self.tenant).user(id).await.map_err(scim_error)? {
            Some(row) if Writer::Scim.check(row.source).is_ok() => Ok(row),
            _ => Err(not_found("User", id)),
        }
    }

    async fn user_with_groups(&self, row: &UserRow) -> Result<Resource, ScimError> {
        let groups = self.groups_of(row).await?;
        self.user_resource(row, &groups)
    }

    /// A user's groups, read now.
    async fn groups_of(&self, row: &UserRow) -> Result<Vec<UserGroupRow>, ScimError> {
        self.store.tenant(self.tenant).groups_of_users(std::slice::from_ref(&row.id)).await.map_err(scim_error)
    }

    /// POST /Users. The mapping rules place the user in the same transaction. A user created
    /// just in time at an SSO sign-in with the same externalId or userName is adopted instead
    /// (it becomes SCIM-managed and keeps its id; answered like a create), and so is a manual
    /// user an admin marked adoptable whose mark matches (its userName, email or externalId).
    pub async fn create_user(&self, body: &Value) -> Result<Resource, ScimError> {
        let res = with_defaults(validate_resource(body, schema(), Mode::Create)?);
        let external_id = res.get("externalId").and_then(Value::as_str);
        let keys = adoption_keys(&res)?;
        let (same, marked) =
            self.store.tenant(self.tenant).adoption_candidates(external_id, &keys).await.map_err(scim_error)?;
        if let [one] = same.as_slice() {
            if one.source == UserSource::Jit {
                return self.adopt(one.id.clone(), &res, false).await;
            }
        }
        if let [one] = marked.as_slice() {
            return self.adopt(one.id.clone(), &res, true).await;
        }
        match users::create(self.store, self.tenant, Writer::Scim, &res).await {
            // The row as written, from the tree its data was written from (no second read: a
            // new user has no groups yet; no second parse).
            Ok(row) => {
                self.keep(&row);
                Ok(self.dressed(&row, res, &[]))
            }
            Err(DomainError::UserNameTaken { existing: Some((id, UserSource::Jit)), .. }) => {
                self.adopt(id, &res, false).await
            }
            Err(e) => Err(scim_error(e)),
        }
    }

    async fn adopt(&self, id: String, res: &Value, manual: bool) -> Result<Resource, ScimError> {
        for _ in 0..WRITE_RETRIES {
            // A manual user is invisible to `load_user`: read it as it is.
            let current = if manual {
                self.store
                    .tenant(self.tenant)
                    .user(&id)
                    .await
                    .map_err(scim_error)?
                    .ok_or_else(|| not_found("User", &id))?
            } else {
                self.load_user(&id).await?
            };
            match users::adopt(self.store, self.tenant, &current, res).await {
                Ok(row) => return self.user_with_groups(&row).await,
                Err(DomainError::Stale) => continue,
                Err(e) => return Err(scim_error(e)),
            }
        }
        Err(scim_error(DomainError::Stale))
    }

    /// Creates many users at once, all or none: every body is validated like a POST, then all
    /// are written in one transaction. Returns their ids in order; on a bad body, the error says
    /// which (0-based) and why. Used by the load benchmark's seeding.
    pub async fn create_users(&self, bodies: &[Value]) -> Result<Vec<String>, (Option<usize>, ScimError)> {
        let mut resources = Vec::with_capacity(bodies.len());
        for (i, body) in bodies.iter().enumerate() {
            let res = validate_resource(body, schema(), Mode::Create).map_err(|e| (Some(i), e))?;
            resources.push(with_defaults(res));
        }
        users::create_many(self.store, self.tenant, Writer::Scim, &resources).await.map_err(|e| (None, scim_error(e)))
    }

    /// GET /Users/{id}.
    pub async fn get_user(&self, id: &str) -> Result<Resource, ScimError> {
        match self.store.tenant(self.tenant).user_with_groups(id).await.map_err(scim_error)? {
            Some((row, groups)) if Writer::Scim.check(row.source).is_ok() => {
                self.keep(&row);
                self.user_resource(&row, &groups)
            }
            _ => Err(not_found("User", id)),
        }
    }

    /// PUT /Users/{id}. The mapping rules re-place the user in the same transaction. A PUT that
    /// deactivates may be held by the deprovisioning brake (answered as if done).
    pub async fn replace_user(&self, id: &str, body: &Value, if_match: Option<&str>) -> Result<Resource, ScimError> {
        self.replace(id, body, if_match, true).await.map(|(r, _)| r)
    }

    /// PUT; returns the resource and whether the brake held it.
    async fn replace(
        &self,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
        brake: bool,
    ) -> Result<(Resource, bool), ScimError> {
        let hold = HoldRequest { method: "PUT", body: Some(body) };
        let next = |stored: Option<&Value>| -> Result<Value, ScimError> {
            let existing = stored.unwrap_or(&Value::Null);
            Ok(with_defaults(validate_resource(body, schema(), Mode::Replace { existing })?))
        };
        self.write_next(id, if_match, brake.then_some(&hold), next, "replaced").await
    }

    /// PATCH /Users/{id}. The mapping rules re-place the user in the same transaction. A PATCH
    /// that deactivates may be held by the deprovisioning brake (answered as if done; the
    /// summary says it was held).
    pub async fn patch_user(
        &self,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
    ) -> Result<(Resource, String), ScimError> {
        self.patch(id, body, if_match, true).await
    }

    async fn patch(
        &self,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
        brake: bool,
    ) -> Result<(Resource, String), ScimError> {
        let ops = patch::parse_request(body)?;
        let summary = ops.iter().map(|o| o.summary()).collect::<Vec<_>>().join("; ");
        let hold = HoldRequest { method: "PATCH", body: Some(body) };
        let next = |stored: Option<&Value>| -> Result<Value, ScimError> {
            let current =
                stored.cloned().ok_or_else(|| scim_error(DomainError::Internal("stored user: not JSON".into())))?;
            patch::apply(current, &ops, schema())
        };
        match self.write_next(id, if_match, brake.then_some(&hold), next, "patched").await? {
            (resource, false) => Ok((resource, summary)),
            (resource, true) => Ok((resource, format!("{summary} (held by the deprovisioning brake)"))),
        }
    }

    /// Writes the version of a user `next` makes of the current one's data (a PUT's or a PATCH's;
    /// `None` if it is not JSON), with
    /// the deprovisioning brake when `hold` is given; returns the resource and whether the brake
    /// held the write. Reads the user again and retries when another write came first.
    ///
    /// Without `If-Match` it starts from the user as this instance last read or wrote them, when
    /// it has them (see [`crate::store::TenantCache::user`]): an IdP reads a user and then
    /// writes it, and on PostgreSQL that copy saves the write a statement. It starts from the
    /// stored user instead when the copy is out of date (the write changes nothing and says so),
    /// and when `next` finds fault with the copy (the stored user may not have that fault). The
    /// deprovisioning brake decides on the stored user, as the write does: a hold too is made
    /// only while the user is at the version the copy has (see [`crate::store::NewHeld`]).
    ///
    /// This instance's writes of one user take turns (`UserWriteTurns` in `store::users`), so
    /// the retries are for writes through other instances (or of other kinds: an admin's edit).
    async fn write_next(
        &self,
        id: &str,
        if_match: Option<&str>,
        hold: Option<&HoldRequest<'_>>,
        next: impl Fn(Option<&Value>) -> Result<Value, ScimError>,
        done: &str,
    ) -> Result<(Resource, bool), ScimError> {
        // Until this write has committed, this instance's other writes of the user wait.
        let _turn = self.store.user_write_turns.take(self.tenant.as_str(), id).await;
        let cache = self.store.tenant_cache();
        let cached = if_match.is_none().then(|| cache.user(self.tenant.as_str(), id)).flatten();
        if let Some(row) = cached.filter(|row| Writer::Scim.check(row.source).is_ok()) {
            let stored = Stored::of(&row);
            if let Ok(res) = next(stored.parsed()) {
                if let Some(answer) = self.write_version(&row, &stored.before(), res, hold).await? {
                    return Ok(answer);
                }
            }
            cache.forget_user(self.tenant.as_str(), id);
        }
        for _ in 0..WRITE_RETRIES {
            let row = self.load_user(id).await?;
            check_if_match(if_match, row.version)?;
            let stored = Stored::of(&row);
            let res = next(stored.parsed())?;
            if let Some(answer) = self.write_version(&row, &stored.before(), res, hold).await? {
                return Ok(answer);
            }
            if if_match.is_some() {
                return Err(ScimError::status(412, format!("the resource changed while it was being {done}")));
            }
        }
        Err(scim_error(DomainError::Stale))
    }

    /// Writes `res` as the new version of `row`: the resource and whether the brake held the
    /// write, `None` when another write changed the user first (nothing written).
    async fn write_version(
        &self,
        row: &UserRow,
        before: &Value,
        res: Value,
        hold: Option<&HoldRequest<'_>>,
    ) -> Result<Option<(Resource, bool)>, ScimError> {
        Ok(match self.write_user(row, before, &res, hold).await? {
            // The row as written (no second read of it).
            Some(Written::Row(row, groups)) => {
                self.keep(&row);
                Some((self.written(&row, res, groups).await?, false))
            }
            // Held: the user as the IdP asked for it (nothing was written).
            Some(Written::Held(groups)) => Some((self.written(row, res, groups).await?, true)),
            None => None,
        })
    }

    /// The resource of `row` as written from `res` (the tree of its data, not parsed again), with
    /// their groups as the write read them (else read now).
    async fn written(
        &self,
        row: &UserRow,
        res: Value,
        groups: Option<Vec<UserGroupRow>>,
    ) -> Result<Resource, ScimError> {
        let groups = match groups {
            Some(groups) => groups,
            None => self.groups_of(row).await?,
        };
        Ok(self.dressed(row, res, &groups))
    }

    /// Writes a new version of `row` (whose data's tree is `before`); `None` when another write
    /// changed it first.
    async fn write_user(
        &self,
        row: &UserRow,
        before: &Value,
        res: &Value,
        hold: Option<&HoldRequest<'_>>,
    ) -> Result<Option<Written>, ScimError> {
        match users::update_checked_from(self.store, self.tenant, Writer::Scim, row, before, res, None, hold).await {
            Ok(w) => Ok(Some(w)),
            Err(DomainError::Stale) => Ok(None),
            Err(e) => Err(scim_error(e)),
        }
    }

    /// DELETE /Users/{id}: deletes or soft-deletes (the organization's delete policy); the
    /// deletion of an active user may be held by the deprovisioning brake (answered as if done).
    /// Returns whether it was held.
    pub async fn delete_user(&self, id: &str, if_match: Option<&str>) -> Result<bool, ScimError> {
        self.delete(id, if_match, true).await
    }

    async fn delete(&self, id: &str, if_match: Option<&str>, brake: bool) -> Result<bool, ScimError> {
        let hold = HoldRequest { method: "DELETE", body: None };
        // Without the brake (an admin applying a held deletion) the delete policy still holds.
        let hold = if brake { Some(&hold) } else { None };
        for _ in 0..WRITE_RETRIES {
            let row = self.load_user(id).await?;
            check_if_match(if_match, row.version)?;
            let expected = if_match.map(|_| row.version);
            match users::delete_checked(self.store, self.tenant, Writer::Scim, id, expected, hold, true).await {
                Ok(held) => {
                    self.store.tenant_cache().forget_user(self.tenant.as_str(), id);
                    return Ok(held);
                }
                Err(DomainError::NotFound) => return Err(not_found("User", id)),
                // Without `If-Match`, only a hold is stale: the user changed between the
                // deletion's read and its hold (the brake decides on the user as stored).
                Err(DomainError::Stale) if if_match.is_none() => continue,
                Err(DomainError::Stale) => {
                    return Err(ScimError::status(412, "the resource changed while it was being deleted"))
                }
                Err(e) => return Err(scim_error(e)),
            }
        }
        Err(scim_error(DomainError::Stale))
    }

    /// Replays a change the brake held, as the IdP sent it, without the brake.
    pub(crate) async fn replay_held(&self, h: &HeldRecord) -> Result<(), ScimError> {
        // Nothing of Roster writes a held user: a write since the held request is the IdP's (it
        // may have re-activated the user after fixing its mistake). The held request is out of
        // date. (Since its latest request: the IdP asking again after a write means it still
        // wants the change.)
        let row = self.load_user(&h.change.user_id).await?;
        if row.updated_at > h.change.asked_at_ms {
            return Err(ScimError::status(
                409,
                "the identity provider changed this user after the change was held; not applied (it sends the removal again if it still means it)",
            ));
        }
        let body = || -> Result<Value, ScimError> {
            let text = h.body.as_deref().ok_or_else(|| ScimError::status(500, "the held request has no body"))?;
            serde_json::from_str(text).map_err(json_error)
        };
        match h.change.method.as_str() {
            "DELETE" => self.delete(&h.change.user_id, None, false).await.map(|_| ()),
            "PUT" => self.replace(&h.change.user_id, &body()?, None, false).await.map(|_| ()),
            _ => self.patch(&h.change.user_id, &body()?, None, false).await.map(|_| ()),
        }
    }

    /// GET /Users and POST /Users/.search.
    pub async fn search_users(&self, req: &SearchRequest) -> Result<Listed, ScimError> {
        self.search_users_of(req, false).await
    }

    /// [`Self::search_users`], manual users included when `manual` (the read API lists every
    /// user; the SCIM API never shows manual users).
    pub async fn search_users_of(&self, req: &SearchRequest, manual: bool) -> Result<Listed, ScimError> {
        let (query, projection, paging) = build_query(req, schema(), Table::Users, self.store)?;
        let wants_groups = projection.attributes.iter().any(|p| p.name == "groups")
            || (projection.attributes.is_empty()
                && !projection.excluded.iter().any(|p| p.name == "groups" && p.sub.is_none()));
        let (mut page, groups) =
            self.store.tenant(self.tenant).users_page(query, manual, wants_groups).await.map_err(scim_error)?;
        let next_cursor = super::finish_page(&mut page.rows, paging, |r| super::cursor_after(r.created_at, &r.id));
        // One user found (an IdP's `userName eq` lookup before it writes the user).
        if let [one] = page.rows.as_slice() {
            if !manual {
                self.keep(one);
            }
        }
        let mut resources = Vec::with_capacity(page.rows.len());
        for row in &page.rows {
            let r = self.user_resource(row, &groups)?;
            resources.push(projection.apply_owned(r.json, schema()));
        }
        let start_index = match paging {
            super::Paging::Index { start } => Some(start),
            super::Paging::Cursor { .. } => None,
        };
        Ok(Listed { total: page.total.map(|t| t.max(0) as u64), start_index, next_cursor, resources })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn dashboard_columns_fold_names_and_fall_back_to_the_user_name() {
        let c = super::columns(&json!({"userName": "Ada@X.test", "name": {"givenName": "Ada", "familyName": "Lovelace"}, "emails": [{"value": "ADA@x.test"}], "externalId": "E-1"})).unwrap();
        assert_eq!(c.sort_name, "ada lovelace");
        assert_eq!(c.search_text, "ada@x.test ada lovelace e-1");
        let c = super::columns(&json!({"userName": "ada@x.test", "displayName": "Ada Lovelace", "name": {"givenName": "Ada", "familyName": "Lovelace"}, "emails": [{"value": "ada.lovelace@x.test"}]})).unwrap();
        assert_eq!(c.search_text, "ada@x.test ada lovelace ada.lovelace@x.test");
        let c = super::columns(&json!({"userName": "Zed", "displayName": "Z. Zed"})).unwrap();
        assert_eq!(c.sort_name, "z. zed");
        let c = super::columns(&json!({"userName": "OnlyName"})).unwrap();
        assert_eq!(c.sort_name, "onlyname");
        assert_eq!(c.search_text, "onlyname");
    }
}
