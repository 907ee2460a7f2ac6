//! The dashboard's view of a tenant's users: the users table (search, filters, sort, pages),
//! one user's detail (attributes, IdP groups, user groups with reasons, timeline), and the users
//! admins create by hand ("manual" users, which SCIM never sees or takes over).

use serde_json::{json, Value};

use crate::dto::{
    ActivityQuery, GroupRole, ManualUserInput, MembershipKind, MembershipReason, UserDetail, UserGroupMembership,
    UserListItem, UserPage, UserQuery, UserSource,
};
use crate::error::{DomainError, DomainResult};
use crate::ids::TenantId;
use crate::service::activity::Actor;
use crate::service::users::{self, Writer};
use crate::store::{DirectoryRow, MembershipRecord, SortKey, Store};

/// Largest page of the users table.
pub const MAX_PAGE_SIZE: u32 = 200;
/// Default page size.
pub const DEFAULT_PAGE_SIZE: u32 = 50;

fn display_name(data: &Value) -> Option<String> {
    if let Some(d) = data.get("displayName").and_then(Value::as_str).filter(|s| !s.trim().is_empty()) {
        return Some(d.to_string());
    }
    let name = data.get("name")?;
    if let Some(f) = name.get("formatted").and_then(Value::as_str).filter(|s| !s.trim().is_empty()) {
        return Some(f.to_string());
    }
    let parts: Vec<&str> =
        ["givenName", "familyName"].iter().filter_map(|k| name.get(*k).and_then(Value::as_str)).collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

fn primary_email(data: &Value) -> Option<String> {
    let list = data.get("emails")?.as_array()?;
    list.iter()
        .find(|e| e.get("primary") == Some(&Value::Bool(true)))
        .or_else(|| list.first())
        .and_then(|e| e.get("value"))
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// A table row; `default_role` is the organization's role for users in no user group.
fn item(row: &DirectoryRow, memberships: &[MembershipRecord], default_role: Option<GroupRole>) -> UserListItem {
    let data: Value = serde_json::from_str(&row.data).unwrap_or(Value::Null);
    let mut groups: Vec<(String, String)> = Vec::new();
    for m in memberships.iter().filter(|m| m.user_id == row.id) {
        if !groups.iter().any(|(id, _)| *id == m.group_id) {
            groups.push((m.group_id.clone(), m.group_name.clone()));
        }
    }
    UserListItem {
        id: row.id.clone(),
        user_name: row.user_name.clone(),
        display_name: display_name(&data),
        email: primary_email(&data),
        external_id: data.get("externalId").and_then(Value::as_str).map(str::to_string),
        source: UserSource::parse(&row.source).unwrap_or(UserSource::Scim),
        active: row.active,
        created_at_ms: row.created_at,
        updated_at_ms: row.updated_at,
        user_groups: groups,
        role: memberships
            .iter()
            .filter(|m| m.user_id == row.id)
            .filter_map(|m| crate::dto::GroupRole::parse(&m.role))
            .max()
            .or(default_role),
    }
}

/// A page of the users table.
pub async fn list(store: &Store, tenant: &TenantId, q: &UserQuery) -> DomainResult<UserPage> {
    super::check_filter_text("Search", &q.search)?;
    let page_size = if q.page_size == 0 { DEFAULT_PAGE_SIZE } else { q.page_size.min(MAX_PAGE_SIZE) };
    let page = q.page.max(1);
    let t = store.tenant(tenant);
    let offset = i64::from(page - 1) * i64::from(page_size);
    let found = t.directory_page(q, offset, i64::from(page_size), None).await?;
    let rows = found.rows;
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let memberships = if ids.is_empty() { Vec::new() } else { t.memberships_of_users(&ids).await? };
    let default = crate::service::user_groups::default_role(store, tenant).await?;
    Ok(UserPage {
        total: found.total,
        total_capped: found.capped,
        page,
        page_size,
        rows: rows.iter().map(|r| item(r, &memberships, default)).collect(),
    })
}

/// These users as table rows (unknown ids are skipped).
pub async fn items(store: &Store, tenant: &TenantId, ids: &[String]) -> DomainResult<Vec<UserListItem>> {
    let t = store.tenant(tenant);
    let rows = t.directory_users(ids).await?;
    let memberships = if rows.is_empty() { Vec::new() } else { t.memberships_of_users(ids).await? };
    let default = crate::service::user_groups::default_role(store, tenant).await?;
    Ok(rows.iter().map(|r| item(r, &memberships, default)).collect())
}

/// How many users are in no user group.
pub async fn unassigned_count(store: &Store, tenant: &TenantId) -> DomainResult<i64> {
    store.tenant(tenant).unassigned_count().await
}

/// Flattens a resource into (attribute path, value) rows, the way the detail page lists them.
fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                if prefix.is_empty() && k == "schemas" {
                    continue;
                }
                let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                flatten(&path, v, out);
            }
        }
        Value::Array(items) if items.iter().any(Value::is_object) => {
            for (i, item) in items.iter().enumerate() {
                flatten(&format!("{prefix}[{i}]"), item, out);
            }
        }
        Value::Array(items) => {
            out.push((prefix.to_string(), items.iter().map(scalar).collect::<Vec<_>>().join(", ")));
        }
        other => out.push((prefix.to_string(), scalar(other))),
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Everything about one user.
pub async fn detail(store: &Store, tenant: &TenantId, public_url: &str, id: &str) -> DomainResult<UserDetail> {
    let t = store.tenant(tenant);
    let row = t.directory_user(id).await?.ok_or(DomainError::NotFound)?;
    let ids = vec![row.id.clone()];
    let memberships = t.memberships_of_users(&ids).await?;
    let scim_groups = t.groups_of_users(&ids).await?;
    let mut data: Value =
        serde_json::from_str(&row.data).map_err(|e| DomainError::Internal(format!("stored user {}: {e}", row.id)))?;
    if let Value::Object(m) = &mut data {
        m.insert("id".into(), json!(row.id));
        let location = format!("{}/Users/{}", crate::service::scim_setup::base_url(public_url, tenant), row.id);
        m.insert(
            "meta".into(),
            crate::service::provisioning::meta("User", location, row.created_at, row.updated_at, row.version),
        );
    }
    let mut attributes = Vec::new();
    flatten("", &data, &mut attributes);
    let rules = crate::service::mappings::list(store, tenant).await?;
    let idp_names = t.idp_group_names().await?;
    let describe = |id: &str| rules.iter().find(|r| r.id == id).map(|r| r.condition.describe(&idp_names));
    let mut user_groups: Vec<UserGroupMembership> = Vec::new();
    for m in &memberships {
        let reason = MembershipReason {
            reason: MembershipKind::parse(&m.reason)
                .ok_or_else(|| DomainError::Internal(format!("stored membership reason {:?}", m.reason)))?,
            rule_description: describe(&m.rule_id),
            rule_id: (!m.rule_id.is_empty()).then(|| m.rule_id.clone()),
            added_by: m.added_by.clone(),
            added_at_ms: m.added_at,
        };
        match user_groups.iter_mut().find(|g| g.group_id == m.group_id) {
            Some(g) => g.reasons.push(reason),
            None => user_groups.push(UserGroupMembership {
                group_id: m.group_id.clone(),
                group_name: m.group_name.clone(),
                role: GroupRole::parse(&m.role).unwrap_or(GroupRole::Viewer),
                reasons: vec![reason],
            }),
        }
    }
    let default_role = crate::service::user_groups::default_role(store, tenant).await?;
    let effective_role = user_groups.iter().map(|g| g.role).max().or(default_role);
    // What happened to the user, not the IdP's lookups of them.
    let timeline = t
        .activity(&ActivityQuery { resource_id: row.id.clone(), changes_only: true, ..Default::default() }, 100)
        .await?;
    Ok(UserDetail {
        user: item(&row, &memberships, default_role),
        resource_json: serde_json::to_string_pretty(&data).unwrap_or_default(),
        attributes,
        idp_groups: scim_groups.into_iter().map(|g| (g.group_id, g.display, g.direct)).collect(),
        user_groups,
        timeline,
        effective_role,
        sso: crate::service::sso::sign_in::user_sso(store, tenant, &row.id).await?,
        adopt: store
            .tenant(tenant)
            .adopt_key(&row.id)
            .await?
            .and_then(|k| crate::dto::AdoptBy::of_key(&k).map(|(by, v)| (by, v.to_string()))),
        held: store.tenant(tenant).held_change_of(&row.id).await?,
        refused: store
            .tenant(tenant)
            .refusals_of(&row.id)
            .await?
            .into_iter()
            .map(|r| (r.group_id, r.group_name, r.reason, r.at))
            .collect(),
    })
}

const CORE: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

/// The SCIM resource of a manual user, from the form.
pub fn manual_resource(input: &ManualUserInput) -> DomainResult<Value> {
    let user_name = input.user_name.trim();
    if user_name.is_empty() {
        return Err(DomainError::Invalid("A user needs a user name (usually their email address).".into()));
    }
    let email = input.email.trim();
    if !email.is_empty() {
        if let Some(problem) = crate::policy::email_problem(email) {
            return Err(DomainError::Invalid(problem));
        }
    }
    let mut res = json!({"schemas": [CORE], "userName": user_name, "active": input.active});
    let given = input.given_name.trim();
    let family = input.family_name.trim();
    if !given.is_empty() || !family.is_empty() {
        let mut name = serde_json::Map::new();
        if !given.is_empty() {
            name.insert("givenName".into(), json!(given));
        }
        if !family.is_empty() {
            name.insert("familyName".into(), json!(family));
        }
        res["name"] = Value::Object(name);
        res["displayName"] =
            json!([given, family].iter().filter(|s| !s.is_empty()).copied().collect::<Vec<_>>().join(" "));
    }
    if !email.is_empty() {
        res["emails"] = json!([{"value": email, "type": "work", "primary": true}]);
    }
    if !input.external_id.trim().is_empty() {
        res["externalId"] = json!(input.external_id.trim());
    }
    Ok(res)
}

/// A SCIM validation failure of what an admin typed, as the dashboard shows it.
fn invalid_input(e: crate::scim::error::ScimError) -> DomainError {
    DomainError::Invalid(e.detail)
}

/// A manual user's resource, checked like a SCIM create.
fn manual_user_resource(input: &ManualUserInput) -> DomainResult<serde_json::Value> {
    let res = manual_resource(input)?;
    crate::scim::validate::validate_resource(
        &res,
        crate::scim::schema::ResourceSchema::user(),
        crate::scim::validate::Mode::Create,
    )
    .map_err(invalid_input)
}

/// Creates manual users, all or none (placed by the mapping rules and recorded in the same
/// transaction); returns their ids.
pub async fn create_manual(
    store: &Store,
    tenant: &TenantId,
    actor: &Actor,
    inputs: &[ManualUserInput],
) -> DomainResult<Vec<String>> {
    let mut resources = Vec::with_capacity(inputs.len());
    for (i, input) in inputs.iter().enumerate() {
        resources.push(manual_user_resource(input).map_err(|e| match e {
            DomainError::Invalid(m) if inputs.len() > 1 => DomainError::Invalid(format!("Row {}: {m}", i + 1)),
            e => e,
        })?);
    }
    match resources.as_slice() {
        [one] => Ok(vec![users::create(store, tenant, Writer::Admin(actor), one).await?.id]),
        _ => users::create_many(store, tenant, Writer::Admin(actor), &resources).await,
    }
}

/// Edits a manual user (the mapping rules re-place them with the edit).
pub async fn update_manual(
    store: &Store,
    tenant: &TenantId,
    actor: &Actor,
    id: &str,
    input: &ManualUserInput,
) -> DomainResult<()> {
    let row = store.tenant(tenant).user(id).await?.ok_or(DomainError::NotFound)?;
    let res = manual_user_resource(input)?;
    users::update(store, tenant, Writer::Admin(actor), &row, &res).await?;
    Ok(())
}

/// Removes a manual user (and their memberships).
pub async fn delete_manual(store: &Store, tenant: &TenantId, actor: &Actor, id: &str) -> DomainResult<()> {
    users::delete(store, tenant, Writer::Admin(actor), id, None).await
}

/// A CSV export of the users table (its current search, filter and sort), made a chunk at a
/// time so that a whole tenant streams out without being held in memory: the header, then up to
/// [`EXPORT_CHUNK`] rows per [`CsvExport::next_chunk`], found by a keyset walk.
#[derive(Debug)]
pub struct CsvExport {
    query: UserQuery,
    after: Option<(SortKey, String)>,
    remaining: i64,
    started: bool,
}

/// Rows per export chunk.
pub const EXPORT_CHUNK: i64 = 1000;

impl CsvExport {
    /// An export of at most `limit` rows.
    pub fn new(query: UserQuery, limit: i64) -> CsvExport {
        CsvExport { query, after: None, remaining: limit, started: false }
    }

    /// The next piece of the file (the header first); `None` once everything is out.
    pub async fn next_chunk(&mut self, store: &Store, tenant: &TenantId) -> DomainResult<Option<String>> {
        let mut w = csv::Writer::from_writer(Vec::new());
        if !self.started {
            super::check_filter_text("Search", &self.query.search)?;
            self.started = true;
            w.write_record(CSV_COLUMNS).map_err(csv_error)?;
        } else {
            if self.remaining <= 0 {
                return Ok(None);
            }
            let t = store.tenant(tenant);
            let rows = t.directory_after(&self.query, self.after.as_ref(), EXPORT_CHUNK.min(self.remaining)).await?;
            let Some((key, last)) = rows.last() else {
                self.remaining = 0;
                return Ok(None);
            };
            self.after = Some((key.clone(), last.id.clone()));
            self.remaining -= rows.len() as i64;
            let ids: Vec<String> = rows.iter().map(|(_, r)| r.id.clone()).collect();
            let memberships = t.memberships_of_users(&ids).await?;
            for (_, r) in &rows {
                let u = item(r, &memberships, None);
                let data: Value = serde_json::from_str(&r.data).unwrap_or(Value::Null);
                let name = |part: &str| {
                    data.pointer(&format!("/name/{part}")).and_then(Value::as_str).unwrap_or_default().to_string()
                };
                let groups = u.user_groups.iter().map(|(_, n)| n.as_str()).collect::<Vec<_>>().join("; ");
                // In the order of CSV_COLUMNS.
                let cells = [
                    u.user_name.as_str(),
                    &name("givenName"),
                    &name("familyName"),
                    u.email.as_deref().unwrap_or_default(),
                    u.external_id.as_deref().unwrap_or_default(),
                    if u.active { "true" } else { "false" },
                    u.display_name.as_deref().unwrap_or_default(),
                    u.id.as_str(),
                    u.source.as_str(),
                    &groups,
                    &crate::service::provisioning::rfc3339(u.created_at_ms),
                    &crate::service::provisioning::rfc3339(u.updated_at_ms),
                ];
                for cell in cells {
                    w.write_field(csv_cell(cell).as_bytes()).map_err(csv_error)?;
                }
                w.write_record(None::<&[u8]>).map_err(csv_error)?;
            }
        }
        let bytes = w.into_inner().map_err(csv_error)?;
        String::from_utf8(bytes).map(Some).map_err(csv_error)
    }
}

/// A cell as the export writes it: text that a spreadsheet would run as a formula (it starts
/// with `=`, `+`, `-`, `@`, a tab or a carriage return; OWASP's CSV injection guidance) gets a
/// leading `'`, which spreadsheets show as text. The import ([`csv_uncell`]) removes it again.
pub fn csv_cell(text: &str) -> std::borrow::Cow<'_, str> {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        std::borrow::Cow::Owned(format!("'{text}"))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

/// A cell as the import reads it: the export's neutralising `'` before a formula character is
/// removed, so export → edit → import gives back the original text.
pub fn csv_uncell(text: &str) -> &str {
    match text.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@', '\t', '\r']) => rest,
        _ => text,
    }
}

/// The columns of the users CSV import, in the template's order. Only `userName` is required.
pub const IMPORT_COLUMNS: [&str; 6] = ["userName", "givenName", "familyName", "email", "externalId", "active"];

/// The columns the export writes: the import's first, then what Roster sets (the import accepts
/// and ignores these), so that an export, edited and imported again, just works.
pub const CSV_COLUMNS: [&str; 12] = [
    "userName",
    "givenName",
    "familyName",
    "email",
    "externalId",
    "active",
    "displayName",
    "id",
    "source",
    "userGroups",
    "created",
    "updated",
];

/// The export's columns that the import reads past (Roster sets them).
const READ_ONLY_COLUMNS: [&str; 6] = ["displayName", "id", "source", "userGroups", "created", "updated"];
/// Most rows one import takes.
pub const MAX_IMPORT_ROWS: usize = 10_000;

/// The import template: the header and one example row.
pub fn import_template() -> String {
    format!("{}\nada@example.com,Ada,Lovelace,ada@example.com,,true,,,,,,\n", CSV_COLUMNS.join(","))
}

fn parse_active(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "" | "true" | "yes" | "1" => Some(true),
        "false" | "no" | "0" => Some(false),
        _ => None,
    }
}

/// Imports manual users from CSV (the template's columns, any order, header required): every
/// row is checked first, and users are created only if no row has a problem, in one
/// transaction. Returns the report either way.
pub async fn import_csv(
    store: &Store,
    tenant: &TenantId,
    actor: &Actor,
    text: &str,
) -> DomainResult<crate::dto::ImportReport> {
    let mut report = crate::dto::ImportReport::default();
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).flexible(false).from_reader(text.as_bytes());
    let headers = reader.headers().map_err(|e| DomainError::Invalid(format!("The file is not CSV: {e}")))?.clone();
    let mut index = std::collections::HashMap::new();
    for (i, h) in headers.iter().enumerate() {
        match IMPORT_COLUMNS.iter().find(|c| c.eq_ignore_ascii_case(h)) {
            Some(c) => {
                index.insert(*c, i);
            }
            None if READ_ONLY_COLUMNS.iter().any(|c| c.eq_ignore_ascii_case(h)) => {}
            None => report
                .errors
                .push((1, format!("Unknown column \"{h}\"; the columns are {}.", IMPORT_COLUMNS.join(", ")))),
        }
    }
    if !index.contains_key("userName") {
        report.errors.push((1, "The header has no userName column (download the template).".into()));
    }
    if !report.errors.is_empty() {
        return Ok(report);
    }
    let mut inputs = Vec::new();
    let mut lines = Vec::new();
    let mut seen = std::collections::HashMap::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map(|p| p.line() as usize).unwrap_or(0);
                report.errors.push((line, format!("Cannot read this row: {e}")));
                continue;
            }
        };
        let line = record.position().map(|p| p.line() as usize).unwrap_or(0);
        if inputs.len() + report.errors.len() >= MAX_IMPORT_ROWS {
            report.errors.push((line, format!("An import takes at most {MAX_IMPORT_ROWS} rows; split the file.")));
            break;
        }
        let get = |c: &str| csv_uncell(index.get(c).and_then(|i| record.get(*i)).unwrap_or_default()).to_string();
        let Some(active) = parse_active(&get("active")) else {
            report.errors.push((line, format!("active must be true or false, not \"{}\".", get("active"))));
            continue;
        };
        let input = ManualUserInput {
            user_name: get("userName"),
            given_name: get("givenName"),
            family_name: get("familyName"),
            email: get("email"),
            external_id: get("externalId"),
            active,
        };
        if let Err(e) = manual_resource(&input) {
            report.errors.push((line, e.to_string()));
            continue;
        }
        let norm = crate::store::fold_ascii(input.user_name.trim());
        if let Some(first) = seen.insert(norm, line) {
            report.errors.push((line, format!("userName \"{}\" is also on line {first}.", input.user_name)));
            continue;
        }
        inputs.push(input);
        lines.push(line);
    }
    if inputs.is_empty() && report.errors.is_empty() {
        report.errors.push((2, "The file has no users.".into()));
    }
    // Names taken in the organization already.
    let norms: Vec<String> = inputs.iter().map(|i| crate::store::fold_ascii(i.user_name.trim())).collect();
    for taken in store.tenant(tenant).existing_user_names(&norms).await? {
        if let Some(pos) = norms.iter().position(|n| *n == taken) {
            report.errors.push((lines[pos], format!("A user named \"{}\" already exists.", inputs[pos].user_name)));
        }
    }
    if !report.errors.is_empty() {
        report.errors.sort();
        return Ok(report);
    }
    let ids = create_manual(store, tenant, actor, &inputs).await?;
    report.created = ids.len();
    Ok(report)
}

fn csv_error(e: impl std::fmt::Display) -> DomainError {
    DomainError::Internal(format!("CSV: {e}"))
}

/// The whole CSV export in one string (for small tenants and tests; the download streams
/// [`CsvExport`] instead).
pub async fn export_csv(store: &Store, tenant: &TenantId, q: &UserQuery, limit: i64) -> DomainResult<String> {
    let mut export = CsvExport::new(q.clone(), limit);
    let mut out = String::new();
    while let Some(chunk) = export.next_chunk(store, tenant).await? {
        out.push_str(&chunk);
    }
    Ok(out)
}

/// "A user named … already exists", with the existing user's id when they can be found (so
/// that the dashboard links to them).
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_resource_builds_a_valid_scim_user() {
        let input = ManualUserInput {
            user_name: " max@acme.test ".into(),
            given_name: "Max".into(),
            family_name: "Power".into(),
            email: "max@acme.test".into(),
            external_id: String::new(),
            active: false,
        };
        let res = manual_resource(&input).unwrap();
        assert_eq!(res["userName"], "max@acme.test");
        assert_eq!(res["displayName"], "Max Power");
        assert_eq!(res["emails"][0]["primary"], true);
        assert_eq!(res["active"], false);
        assert!(res.get("externalId").is_none());
        let checked = crate::scim::validate::validate_resource(
            &res,
            crate::scim::schema::ResourceSchema::user(),
            crate::scim::validate::Mode::Create,
        );
        assert!(checked.is_ok(), "{checked:?}");
        assert!(manual_resource(&ManualUserInput { user_name: "  ".into(), ..input.clone() }).is_err());
        assert!(manual_resource(&ManualUserInput { email: "nope".into(), ..input }).is_err());
    }

    #[test]
    fn flatten_lists_attributes_by_path() {
        let mut out = Vec::new();
        flatten(
            "",
            &json!({"schemas": ["x"], "userName": "a", "emails": [{"value": "a@b.c", "primary": true}], "tags": ["x", "y"], "name": {"givenName": "A"}}),
            &mut out,
        );
        assert_eq!(
            out,
            [
                ("emails[0].primary".to_string(), "true".to_string()),
                ("emails[0].value".into(), "a@b.c".into()),
                ("name.givenName".into(), "A".into()),
                ("tags".into(), "x, y".into()),
                ("userName".into(), "a".into()),
            ]
        );
    }

    #[test]
    fn names_and_emails_for_the_table() {
        assert_eq!(display_name(&json!({"displayName": "D", "name": {"givenName": "G"}})).as_deref(), Some("D"));
        assert_eq!(display_name(&json!({"name": {"givenName": "G", "familyName": "F"}})).as_deref(), Some("G F"));
        assert_eq!(display_name(&json!({"name": {"formatted": "Dr. G F"}})).as_deref(), Some("Dr. G F"));
        assert_eq!(display_name(&json!({"userName": "u"})), None);
        let emails = json!({"emails": [{"value": "a@x"}, {"value": "b@x", "primary": true}]});
        assert_eq!(primary_email(&emails).as_deref(), Some("b@x"));
        assert_eq!(primary_email(&json!({"emails": [{"value": "a@x"}]})).as_deref(), Some("a@x"));
    }

    #[test]
    fn active_column_accepts_common_spellings() {
        for (s, v) in [
            ("", Some(true)),
            ("TRUE", Some(true)),
            ("yes", Some(true)),
            ("0", Some(false)),
            ("No", Some(false)),
            ("maybe", None),
        ] {
            assert_eq!(parse_active(s), v, "{s:?}");
        }
    }

    #[test]
    fn formula_cells_are_neutralised_and_read_back() {
        for text in ["=HYPERLINK(\"http://x\")", "+1", "-2+3", "@SUM(A1)", "\tx", "\rx"] {
            let cell = csv_cell(text);
            assert!(cell.starts_with('\''), "{text:?} → {cell:?}");
            assert_eq!(csv_uncell(&cell), text);
        }
        for text in ["ada@example.com", "Ada", "", "'quoted", "1-2"] {
            assert_eq!(csv_cell(text), text);
            assert_eq!(csv_uncell(text), text);
        }
    }

    #[test]
    fn template_has_every_import_column() {
        let t = import_template();
        assert_eq!(t.lines().next().unwrap().split(',').collect::<Vec<_>>(), CSV_COLUMNS);
        assert_eq!(CSV_COLUMNS[..IMPORT_COLUMNS.len()], IMPORT_COLUMNS, "the import's columns come first");
    }
}
