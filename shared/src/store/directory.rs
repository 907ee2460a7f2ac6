//! The dashboard's users table: search, filters, sort and pages over a tenant's users (every
//! source), with the counts the navigation shows.
//!
//! Search is a case-insensitive substring match on one column, `search_text` (userName, names,
//! primary email and externalId, folded and joined when the user is written). A substring match
//! cannot use a B-tree index, so it scans the tenant's rows once for the page and once for the
//! count; at 100,000 users that stays within the page's budget (see the README's benchmarks),
//! and no extension (trigram indexes, FTS) is needed on either backend. Sorting uses
//! `(tenant_id, sort_name, id)`-style indexes; the unassigned count is a difference of two
//! index-only counts instead of a per-row NOT EXISTS.

use sqlx::Row;

use super::{with_pool, TenantStore};
use crate::dto::{GroupRole, UserFilter, UserQuery, UserSort};
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

/// A row's place in the users table's order (its sort column's value).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SortKey {
    /// userName or name (folded).
    Text(String),
    /// Created or updated (epoch ms).
    Int(i64),
}

const SEARCH_CLAUSE: &str = " AND t.search_text LIKE $2 ESCAPE '\\'";

/// Up to this many matches, a search reads only the matching rows (see `directory_page`).
const SELECTIVE: i64 = 5000;

/// Membership rows exist only for users of the same tenant (they are inserted from
/// `scim_users` and deleted with the user), so this difference is exact.
/// Active users in no user group: an admin's work. Deactivated users are left out: the IdP has
/// taken their access away, there is nothing to assign.
const UNASSIGNED_COUNT: &str = "SELECT (SELECT COUNT(*) FROM scim_users WHERE tenant_id = $1 AND active = TRUE) \
     - (SELECT COUNT(DISTINCT m.user_id) FROM user_group_members m \
        JOIN scim_users u ON u.tenant_id = m.tenant_id AND u.id = m.user_id \
        WHERE m.tenant_id = $1 AND u.active = TRUE)";

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

/// `%text%`, folded and with LIKE's wildcards escaped (for `LIKE … ESCAPE '\'`).
pub(crate) fn like_escape(s: &str) -> String {
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
fn condition(q: &UserQuery, default_role: Option<GroupRole>) -> (String, Vec<String>) {
    let mut sql = String::new();
    let mut args = Vec::new();
    let search = q.search.trim();
    if !search.is_empty() {
        args.push(like_escape(search));
        sql.push_str(SEARCH_CLAUSE);
    }
    if let Some(group) = q.user_group.as_deref() {
        args.push(group.to_string());
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM user_group_members m WHERE m.tenant_id = t.tenant_id AND m.user_id = t.id AND m.group_id = ${})",
            args.len() + 1
        ));
    }
    if let Some(group) = q.idp_group.as_deref() {
        args.push(group.to_string());
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM scim_group_members gm WHERE gm.tenant_id = t.tenant_id AND gm.member_id = t.id \
             AND gm.member_type = 'User' AND gm.group_id = ${})",
            args.len() + 1
        ));
    }
    if let Some(role) = q.role {
        // The highest role among the user's groups is `role`: a group with it, none higher.
        let higher: Vec<String> =
            GroupRole::ALL.into_iter().filter(|r| *r > role).map(|r| format!("'{}'", r.as_str())).collect();
        args.push(role.as_str().to_string());
        let with_role = |cmp: &str| {
            format!(
                "EXISTS (SELECT 1 FROM user_group_members m JOIN user_groups g ON g.tenant_id = m.tenant_id AND g.id = m.group_id \
                 WHERE m.tenant_id = t.tenant_id AND m.user_id = t.id AND g.role {cmp})"
            )
        };
        let mut clause = with_role(&format!("= ${}", args.len() + 1));
        if !higher.is_empty() {
            clause = format!("{clause} AND NOT {}", with_role(&format!("IN ({})", higher.join(", "))));
        }
        // Users in no user group have the organization's default role.
        if default_role == Some(role) {
            clause = format!(
                "({clause}) OR NOT EXISTS (SELECT 1 FROM user_group_members m WHERE m.tenant_id = t.tenant_id AND m.user_id = t.id)"
            );
        }
        sql.push_str(&format!(" AND ({clause})"));
    }
    match q.filter {
        UserFilter::All => {}
        UserFilter::Unassigned => sql.push_str(
            " AND t.active = TRUE AND NOT EXISTS (SELECT 1 FROM user_group_members m WHERE m.tenant_id = t.tenant_id AND m.user_id = t.id)",
        ),
        UserFilter::Deactivated => sql.push_str(" AND t.active = FALSE"),
        UserFilter::Scim => sql.push_str(" AND t.source = 'scim'"),
        UserFilter::Jit => sql.push_str(" AND t.source = 'jit'"),
        UserFilter::Manual => sql.push_str(" AND t.source = 'manual'"),
    }
    (sql, args)
}

impl TenantStore<'_> {
    /// The default role, when a role filter needs it.
    async fn default_role_for(&self, q: &UserQuery) -> DomainResult<Option<GroupRole>> {
        if q.role.is_none() {
            return Ok(None);
        }
        Ok(self.default_role().await?.as_deref().and_then(GroupRole::parse))
    }

    /// A page of the users table and the number of matches (counted unless the caller already
    /// knows it, as an export walking page after page does).
    pub async fn directory_page(
        &self,
        q: &UserQuery,
        offset: i64,
        limit: i64,
        known_total: Option<i64>,
    ) -> DomainResult<(i64, Vec<DirectoryRow>)> {
        let (cond, args) = condition(q, self.default_role_for(q).await?);
        let dir = if q.descending { "DESC" } else { "ASC" };
        let order = match q.sort {
            UserSort::UserName => format!("t.user_name_norm {dir}, t.id {dir}"),
            UserSort::Name => format!("t.sort_name {dir}, t.id {dir}"),
            UserSort::Created => format!("t.created_at {dir}, t.id {dir}"),
            UserSort::Updated => format!("t.updated_at {dir}, t.id {dir}"),
        };
        let data = self.data_out();
        let count_sql = format!("SELECT COUNT(*) FROM scim_users t WHERE t.tenant_id = $1{cond}");
        // Everyone minus the assigned: two index-only counts instead of a probe per user.
        let count_sql = if q.filter == UserFilter::Unassigned && args.is_empty() {
            UNASSIGNED_COUNT.to_string()
        } else {
            count_sql
        };
        let columns = format!("t.id, t.user_name, t.source, t.active, {data}, t.version, t.created_at, t.updated_at");
        let tail = format!("ORDER BY {order} LIMIT {} OFFSET {}", limit.max(0), offset.max(0));
        let scan_sql = format!("SELECT {columns} FROM scim_users t WHERE t.tenant_id = $1{cond} {tail}");
        // A selective search: find the matches on the covering (tenant_id, search_text, id)
        // index first, then read and sort only those rows. (Walking the sort index and reading
        // every row to test it costs a table scan when few rows match; when many match, that
        // walk stops early, so it is kept for broad searches.)
        let matches_sql = format!(
            "WITH m AS MATERIALIZED (SELECT s.id FROM scim_users s WHERE s.tenant_id = $1 AND s.search_text LIKE $2 ESCAPE '\\') \
             SELECT {columns} FROM m JOIN scim_users t ON t.tenant_id = $1 AND t.id = m.id WHERE TRUE{} {tail}",
            cond.replacen(SEARCH_CLAUSE, "", 1)
        );
        let searching = !q.search.trim().is_empty();
        with_pool!(self.store, |p| {
            let total = match known_total {
                Some(t) => t,
                None => {
                    let mut count = sqlx::query_scalar::<_, i64>(&count_sql).bind(self.id.as_str());
                    for a in &args {
                        count = count.bind(a);
                    }
                    count.fetch_one(p).await?
                }
            };
            let page_sql = if searching && total <= SELECTIVE { &matches_sql } else { &scan_sql };
            let mut page = sqlx::query(page_sql).bind(self.id.as_str());
            for a in &args {
                page = page.bind(a);
            }
            let rows = page.fetch_all(p).await?;
            let rows = rows.iter().map(row).collect::<DomainResult<Vec<_>>>()?;
            DomainResult::Ok((total, rows))
        })
    }

    /// The next `limit` rows of the users table in its order, after `after` (the last row's
    /// sort key and id from the previous call; `None` to start): a keyset walk, so the
    /// thousandth page costs what the first does (an export of a whole tenant uses it).
    pub async fn directory_after(
        &self,
        q: &UserQuery,
        after: Option<&(SortKey, String)>,
        limit: i64,
    ) -> DomainResult<Vec<(SortKey, DirectoryRow)>> {
        let (cond, args) = condition(q, self.default_role_for(q).await?);
        let (dir, op) = if q.descending { ("DESC", "<") } else { ("ASC", ">") };
        let (col, int) = match q.sort {
            UserSort::UserName => ("t.user_name_norm", false),
            UserSort::Name => ("t.sort_name", false),
            UserSort::Created => ("t.created_at", true),
            UserSort::Updated => ("t.updated_at", true),
        };
        let (k, kid) = (args.len() + 2, args.len() + 3);
        let keyset = if after.is_some() {
            format!(" AND ({col} {op} ${k} OR ({col} = ${k} AND t.id {op} ${kid}))")
        } else {
            String::new()
        };
        let data = self.data_out();
        let sql = format!(
            "SELECT t.id, t.user_name, t.source, t.active, {data}, t.version, t.created_at, t.updated_at, {col} AS sort_key \
             FROM scim_users t WHERE t.tenant_id = $1{cond}{keyset} ORDER BY {col} {dir}, t.id {dir} LIMIT {}",
            limit.max(0)
        );
        with_pool!(self.store, |p| {
            let mut query = sqlx::query(&sql).bind(self.id.as_str());
            for a in &args {
                query = query.bind(a);
            }
            match after {
                Some((SortKey::Text(key), id)) => query = query.bind(key).bind(id),
                Some((SortKey::Int(key), id)) => query = query.bind(key).bind(id),
                None => {}
            }
            let rows = query.fetch_all(p).await?;
            rows.iter()
                .map(|r| {
                    let key =
                        if int { SortKey::Int(r.try_get("sort_key")?) } else { SortKey::Text(r.try_get("sort_key")?) };
                    Ok((key, row(r)?))
                })
                .collect::<DomainResult<Vec<_>>>()
        })
    }

    /// These users (any source), in no particular order; unknown ids are skipped.
    pub async fn directory_users(&self, ids: &[String]) -> DomainResult<Vec<DirectoryRow>> {
        let data = self.data_out();
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let list = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect::<Vec<_>>().join(", ");
            let sql = format!(
                "SELECT t.id, t.user_name, t.source, t.active, {data}, t.version, t.created_at, t.updated_at \
                 FROM scim_users t WHERE t.tenant_id = $1 AND t.id IN ({list})"
            );
            let rows = with_pool!(self.store, |p| {
                let mut q = sqlx::query(&sql).bind(self.id.as_str());
                for id in chunk {
                    q = q.bind(id);
                }
                let rows = q.fetch_all(p).await?;
                rows.iter().map(row).collect::<DomainResult<Vec<_>>>()
            })?;
            out.extend(rows);
        }
        Ok(out)
    }

    /// One user of any source.
    pub async fn directory_user(&self, id: &str) -> DomainResult<Option<DirectoryRow>> {
        let data = self.data_out();
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
        let n = with_pool!(self.store, |p| {
            sqlx::query_scalar::<_, i64>(UNASSIGNED_COUNT).bind(self.id.as_str()).fetch_one(p).await
        })?;
        Ok(n)
    }
}
