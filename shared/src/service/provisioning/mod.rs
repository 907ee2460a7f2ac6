//! Provisioning: the SCIM resources of one tenant, as the SCIM API reads and writes them.
//!
//! The protocol rules live in [`crate::scim`] (validation, PATCH, filters, projection); the
//! rows live in [`crate::store`]. This module joins them: it builds resources from rows (id,
//! meta, computed `groups` and `members`), compiles queries, and makes writes safe under
//! concurrency (versions checked on write, retried for PATCH, `If-Match` honoured).

mod groups;
mod users;

pub use users::columns as user_columns;

use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::dto::UserSource;
use crate::error::DomainError;
use crate::ids::TenantId;
use crate::scim::error::ScimError;
use crate::scim::messages::{SearchRequest, SortOrder};
use crate::scim::path::AttrPath;
use crate::scim::projection::Projection;
use crate::scim::schema::ResourceSchema;
use crate::store::{sort_expr, Query, Store, Table};

/// Default page size of list responses.
pub const DEFAULT_PAGE_SIZE: u64 = 100;
/// Largest page size (advertised in ServiceProviderConfig as filter.maxResults).
pub const MAX_PAGE_SIZE: u64 = 1000;
/// How often a write that lost a race is retried before giving up with 409.
const WRITE_RETRIES: usize = 5;

/// The SCIM view of one tenant.
#[derive(Clone, Copy, Debug)]
pub struct Scim<'a> {
    /// The database.
    pub store: &'a Store,
    /// The tenant.
    pub tenant: &'a TenantId,
    /// The tenant's SCIM base URL (`https://…/scim/v2/{tenant}`), for `meta.location`.
    pub base_url: &'a str,
}

/// A resource as stored now.
#[derive(Clone, Debug, PartialEq)]
pub struct Resource {
    /// Its id.
    pub id: String,
    /// Its version (the ETag is `W/"{version}"`).
    pub version: i64,
    /// The full resource (before projection).
    pub json: Value,
}

impl Resource {
    /// The ETag.
    pub fn etag(&self) -> String {
        etag(self.version)
    }
}

/// A page of resources, already projected.
#[derive(Clone, Debug, PartialEq)]
pub struct Listed {
    /// All matches (not counted for cursor pages, which cost the same however deep they are).
    pub total: Option<u64>,
    /// 1-based index of the first (index paging).
    pub start_index: Option<u64>,
    /// The cursor of the next page, if there is one (cursor paging, RFC 9865).
    pub next_cursor: Option<String>,
    /// The page.
    pub resources: Vec<Value>,
}

/// How a search pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Paging {
    /// `startIndex`/`count`.
    Index { start: u64 },
    /// `cursor`/`count`.
    Cursor { count: u64 },
}

/// A cursor names the last row of a page: `{created_at}-{id}`.
fn parse_cursor(c: &str) -> Result<(i64, String), ScimError> {
    let bad = || {
        ScimError::bad_request(
            crate::scim::ScimType::InvalidCursor,
            format!("'{c}' is not a cursor this server issued"),
        )
    };
    let (at, id) = c.split_once('-').ok_or_else(bad)?;
    let at: i64 = at.parse().map_err(|_| bad())?;
    let id = uuid::Uuid::parse_str(id).map_err(|_| bad())?;
    Ok((at, id.to_string()))
}

/// The cursor after a row.
pub(crate) fn cursor_after(created_at: i64, id: &str) -> String {
    format!("{created_at}-{id}")
}

/// Trims a cursor page fetched with one extra row and says where the next page starts.
pub(crate) fn finish_page<T>(rows: &mut Vec<T>, paging: Paging, key: impl Fn(&T) -> String) -> Option<String> {
    match paging {
        Paging::Cursor { count } if rows.len() as u64 > count => {
            rows.truncate(count as usize);
            rows.last().map(key)
        }
        _ => None,
    }
}

/// The weak ETag of a version.
pub fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// Whether an `If-Match` header value allows writing a resource at `version`.
pub fn if_match_allows(header: &str, version: i64) -> bool {
    let current = etag(version);
    header.split(',').map(str::trim).any(|t| t == "*" || t.trim_start_matches("W/") == current.trim_start_matches("W/"))
}

/// A domain failure as the SCIM API answers it: the caller's mistakes in words, our own as a
/// generic 500 (logged), a busy or unreachable database as 503 (the response adds Retry-After).
pub fn scim_error(e: DomainError) -> ScimError {
    match e {
        DomainError::Internal(detail) => {
            tracing::error!(%detail, "SCIM request failed");
            ScimError::status(500, "internal error")
        }
        DomainError::Unavailable(detail) => {
            tracing::warn!(%detail, "SCIM request: database unavailable");
            ScimError::status(503, "The service is busy or its database is unreachable right now; retry shortly.")
        }
        DomainError::Busy(message) => ScimError::status(429, message),
        DomainError::UserNameTaken { user_name, existing } => ScimError::uniqueness(match existing {
            Some((_, UserSource::Manual)) => format!(
                "userName '{user_name}' belongs to a user an admin created in the Roster dashboard; Roster hands such a user to an identity provider only when an admin marks it adoptable (Safety, Adopt existing users). Ask your Roster admin to mark it adoptable, or to rename or remove it."
            ),
            Some((id, _)) => format!("userName '{user_name}' is already taken by User {id}"),
            None if user_name.is_empty() => "a userName of these users is already taken; nothing was created".into(),
            None => format!("userName '{user_name}' is already taken"),
        }),
        DomainError::Invalid(detail) => ScimError::invalid_value(detail),
        DomainError::NotFound => ScimError::status(404, "not found"),
        DomainError::Stale => ScimError::status(409, "the resource is being changed by other requests; try again"),
        DomainError::WrongSource { from } => {
            ScimError::status(403, format!("this user (source: {}) cannot be changed over SCIM", from.as_str()))
        }
        DomainError::OrganizationDisabled => ScimError::status(
            403,
            "This organization is disabled by the service operator: provisioning is refused until it is enabled again.",
        ),
        other => ScimError::status(500, other.to_string()),
    }
}

/// A stored resource that does not (de)serialize: ours to fix, never the client's.
pub(crate) fn json_error(e: serde_json::Error) -> ScimError {
    scim_error(DomainError::Internal(format!("resource JSON: {e}")))
}

pub(crate) fn rfc3339(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

pub(crate) fn meta(kind: &str, location: String, created: i64, updated: i64, version: i64) -> Value {
    json!({
        "resourceType": kind,
        "created": rfc3339(created),
        "lastModified": rfc3339(updated),
        "location": location,
        "version": etag(version),
    })
}

pub(crate) fn not_found(kind: &str, id: &str) -> ScimError {
    ScimError::status(404, format!("{kind} {id} not found"))
}

pub(crate) fn check_if_match(if_match: Option<&str>, version: i64) -> Result<(), ScimError> {
    match if_match {
        Some(h) if !if_match_allows(h, version) => Err(ScimError::status(
            412,
            format!("the resource has changed: its version is {}, the request expected {h}", etag(version)),
        )),
        _ => Ok(()),
    }
}

/// The compiled parts of a search.
pub(crate) fn build_query(
    req: &SearchRequest,
    schema: &ResourceSchema,
    table: Table,
    store: &Store,
) -> Result<(Query, Projection, Paging), ScimError> {
    let dialect = store.dialect();
    let filter = match req.filter.as_deref().map(str::trim).filter(|f| !f.is_empty()) {
        Some(text) => Some(crate::scim::filter::Filter::parse_for(text, schema)?),
        None => None,
    };
    let compiled = match &filter {
        Some(f) => Some(crate::store::compile_filter(f, schema, table, crate::store::Sql::new(dialect))?),
        None => None,
    };
    let expensive = compiled.as_ref().is_some_and(|c| c.is_expensive());
    let point = filter.as_ref().is_some_and(|f| names_one_row(f, table));
    let where_sql = compiled.map(|c| (c.cond, c.sql));
    let order_by = match req.sort_by.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => {
            let path =
                AttrPath::parse(s).map_err(|e| ScimError::invalid_value(format!("invalid sortBy '{s}': {e}")))?;
            let resolved =
                path.resolve(schema).map_err(|e| ScimError::invalid_value(format!("invalid sortBy '{s}': {e}")))?;
            let desc = match req.sort_order.as_deref() {
                Some(o) => SortOrder::parse(o)? == SortOrder::Descending,
                None => false,
            };
            Some((sort_expr(&resolved.path, schema, table, dialect)?, desc))
        }
        None => None,
    };
    let count = req.count(DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE);
    let projection = Projection::from_lists(&req.attributes, &req.excluded_attributes, schema)?;
    if let Some(cursor) = &req.cursor {
        if order_by.is_some() {
            return Err(ScimError::invalid_value("cursor paging uses the server's order: leave out sortBy"));
        }
        if req.start_index.is_some() {
            return Err(ScimError::invalid_value("use either cursor or startIndex, not both"));
        }
        let after = if cursor.is_empty() { None } else { Some(parse_cursor(cursor)?) };
        let query = Query { where_sql, order_by: None, offset: 0, limit: count as i64 + 1, after, expensive, point };
        return Ok((query, projection, Paging::Cursor { count }));
    }
    let start = req.start_index();
    Ok((
        Query { where_sql, order_by, offset: (start - 1) as i64, limit: count as i64, after: None, expensive, point },
        projection,
        Paging::Index { start },
    ))
}

/// Whether a (resolved) filter matches at most one row, by naming a unique key: `id eq "…"`,
/// or of a user `userName eq "…"` (unique per tenant, without case), alone or as a term of an
/// `and`.
fn names_one_row(filter: &crate::scim::filter::Filter, table: Table) -> bool {
    use crate::scim::filter::{CompValue, CompareOp, Filter};
    match filter {
        Filter::Compare { path, op: CompareOp::Eq, value: CompValue::Str(_) }
            if path.urn.is_none() && path.sub.is_none() =>
        {
            path.name.eq_ignore_ascii_case("id")
                || (table == Table::Users && path.name.eq_ignore_ascii_case("userName"))
        }
        Filter::And(terms) => terms.iter().any(|t| names_one_row(t, table)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn point_filters_are_those_naming_a_unique_key() {
        use crate::scim::filter::Filter;
        let users = ResourceSchema::user();
        let groups = ResourceSchema::group();
        for (text, point) in [
            (r#"userName eq "ada@x.test""#, true),
            (r#"USERNAME eq "ada@x.test""#, true),
            (r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "a""#, true),
            (r#"id eq "2819c223-7f76-453a-919d-413861904646""#, true),
            (r#"userName eq "a" and active eq true"#, true),
            (r#"active eq true and userName eq "a""#, true),
            (r#"userName eq "a" or userName eq "b""#, false),
            (r#"userName sw "a""#, false),
            (r#"userName ne "a""#, false),
            (r#"not (userName eq "a")"#, false),
            (r#"active eq true"#, false),
            (r#"externalId eq "a""#, false),
            (r#"emails[value eq "a@x.test"]"#, false),
            (r#"name.givenName eq "a""#, false),
        ] {
            let f = Filter::parse_for(text, users).unwrap();
            assert_eq!(names_one_row(&f, Table::Users), point, "{text}");
        }
        let f = Filter::parse_for(r#"displayName eq "a""#, groups).unwrap();
        assert!(!names_one_row(&f, Table::Groups));
        let f = Filter::parse_for(r#"id eq "a""#, groups).unwrap();
        assert!(names_one_row(&f, Table::Groups));
    }

    #[test]
    fn cursors() {
        let id = uuid::Uuid::new_v4().to_string();
        assert_eq!(parse_cursor(&cursor_after(1234, &id)).unwrap(), (1234, id));
        for bad in ["", "x", "12-notauuid", "abc-2819c223-7f76-453a-919d-413861904646"] {
            assert_eq!(parse_cursor(bad).unwrap_err().scim_type, Some(crate::scim::ScimType::InvalidCursor), "{bad}");
        }
    }

    #[test]
    fn if_match() {
        assert!(if_match_allows("W/\"3\"", 3));
        assert!(if_match_allows("\"3\"", 3));
        assert!(if_match_allows("*", 9));
        assert!(if_match_allows("W/\"1\", W/\"3\"", 3));
        assert!(!if_match_allows("W/\"2\"", 3));
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    }
}
