//! The dashboard's users table: search, filters, sort and pages over a tenant's users (every
//! source), with the counts the navigation shows.
//!
//! Search is a case-insensitive substring match on the normalized columns (userName, display
//! name, primary email, externalId). It scans the tenant's rows, which at 100,000 users stays
//! well within the page's budget (see the users-page benchmark in the README); the sort keys and
//! filters use the `(tenant_id, …)` indexes.

use sqlx::Row;

use super::{with_pool, Backend, TenantStore};
use crate::dto::{UserFilter, UserQuery, UserSort};
use crate::error::DomainResult;

/// One user as the users table needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectoryRow {
    /// The id.
    pub id: String,
    /// userName.
    pub user_name: String,
    /// `scim`, `jit` or `manual`.
    pub source: String,
    /// Active.
    pub active: bool,
    /// The stored resource (JSON text).
    pub data: String,
    /// The version.
    pub version: i64,
    /// Epoch ms.
    pub created_at: i64,
    /// Epoch ms.
    pub updated_at: i64,
}

fn row<R>(r: &R) -> DomainResult<DirectoryRow>
where
    R: Row,
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    bool: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(DirectoryRow {
        id: r.try_get("id")?,
        user_name: r.try_get("user_name")?,
        source: r.try_get("source")?,
        active: r.try_get("active")?,
        data: r.try_get("data")?,
        version: r.try_get("version")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('%');
    for c in super::fold_ascii(s).chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// The condition of a users-table query: SQL after `WHERE t.tenant_id = $1`, and its text
/// parameters from `$2` on.
fn condition(q: &UserQuery, backend: Backend) -> (String, Vec<String>) {
    let mut sql = String::new();
    let mut args = Vec::new();
    let search = q.search.trim();
    if !search.is_empty() {
        args.push(like_escape(search));
        // Given and family name too: many IdPs send no displayName.
        let full_name = match backend {
            Backend::Sqlite => {
                "lower(coalesce(json_extract(t.data, '$.name.givenName'), '') || ' ' || coalesce(json_extract(t.data, '$.name.familyName'), ''))"
            }
            Backend::Postgres => {
                "lower(coalesce(t.data->'name'->>'givenName', '') || ' ' || coalesce(t.data->'name'->>'familyName', ''))"
            }
        };
        sql.push_str(&format!(
            " AND (t.user_name_norm LIKE $2 ESCAPE '\\' OR t.display_name_norm LIKE $2 ESCAPE '\\' \
             OR t.primary_email_norm LIKE $2 ESCAPE '\\' OR LOWER(t.external_id) LIKE $2 ESCAPE '\\' \
             OR {full_name} LIKE $2 ESCAPE '\\')"
        ));
    }
    if let Some(group) = q.user_group.as_deref() {
        args.push(group.to_string());
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM user_group_members m WHERE m.tenant_id = t.tenant_id AND m.user_id = t.id AND m.group_id = ${})",
            args.len() + 1
        ));
    }
    match q.filter {
        UserFilter::All => {}
        UserFilter::Unassigned => sql.push_str(
            " AND NOT EXISTS (SELECT 1 FROM user_group_members m WHERE m.tenant_id = t.tenant_id AND m.user_id = t.id)",
        ),
        UserFilter::Deactivated => sql.push_str(" AND t.active = FALSE"),
        UserFilter::Scim => sql.push_str(" AND t.source = 'scim'"),
        UserFilter::Jit => sql.push_str(" AND t.source = 'jit'"),
        UserFilter::Manual => sql.push_str(" AND t.source = 'manual'"),
    }
    (sql, args)
}

impl TenantStore<'_> {
    /// A page of the users table and the number of matches.
    pub async fn directory_page(
        &self,
        q: &UserQuery,
        offset: i64,
        limit: i64,
    ) -> DomainResult<(i64, Vec<DirectoryRow>)> {
        let (cond, args) = condition(q, self.store.backend());
        let dir = if q.descending { "DESC" } else { "ASC" };
        let order = match q.sort {
            UserSort::UserName => format!("t.user_name_norm {dir}, t.id {dir}"),
            UserSort::Name => format!("t.display_name_norm {dir} NULLS LAST, t.user_name_norm {dir}, t.id {dir}"),
            UserSort::Created => format!("t.created_at {dir}, t.id {dir}"),
            UserSort::Updated => format!("t.updated_at {dir}, t.id {dir}"),
        };
        let data = match self.store.backend() {
            Backend::Sqlite => "t.data",
            Backend::Postgres => "t.data::text AS data",
        };
        let count_sql = format!("SELECT COUNT(*) FROM scim_users t WHERE t.tenant_id = $1{cond}");
        let page_sql = format!(
            "SELECT t.id, t.user_name, t.source, t.active, {data}, t.version, t.created_at, t.updated_at \
             FROM scim_users t WHERE t.tenant_id = $1{cond} ORDER BY {order} LIMIT {} OFFSET {}",
            limit.max(0),
            offset.max(0)
        );
        with_pool!(self.store, |p| {
            let mut count = sqlx::query_scalar::<_, i64>(&count_sql).bind(self.id.as_str());
            let mut page = sqlx::query(&page_sql).bind(self.id.as_str());
            for a in &args {
                count = count.bind(a);
                page = page.bind(a);
            }
            let total = count.fetch_one(p).await?;
            let rows = page.fetch_all(p).await?;
            let rows = rows.iter().map(row).collect::<DomainResult<Vec<_>>>()?;
            DomainResult::Ok((total, rows))
        })
    }

    /// One user of any source.
    pub async fn directory_user(&self, id: &str) -> DomainResult<Option<DirectoryRow>> {
        let data = match self.store.backend() {
            Backend::Sqlite => "t.data",
            Backend::Postgres => "t.data::text AS data",
        };
        let sql = format!(
            "SELECT t.id, t.user_name, t.source, t.active, {data}, t.version, t.created_at, t.updated_at \
             FROM scim_users t WHERE t.tenant_id = $1 AND t.id = $2"
        );
        with_pool!(self.store, |p| {
            let found = sqlx::query(&sql).bind(self.id.as_str()).bind(id).fetch_optional(p).await?;
            found.as_ref().map(row).transpose()
        })
    }

    /// How many users are in no user group.
    pub async fn unassigned_count(&self) -> DomainResult<i64> {
        let (cond, _) =
            condition(&UserQuery { filter: UserFilter::Unassigned, ..Default::default() }, self.store.backend());
        let sql = format!("SELECT COUNT(*) FROM scim_users t WHERE t.tenant_id = $1{cond}");
        let n =
            with_pool!(self.store, |p| sqlx::query_scalar::<_, i64>(&sql).bind(self.id.as_str()).fetch_one(p).await)?;
        Ok(n)
    }
}
