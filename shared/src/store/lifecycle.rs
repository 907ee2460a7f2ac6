//! An organization's life as the operator sees it: listing with counts, disabling, and
//! deleting every row of it (in batches, so that no statement holds a lock long), plus the
//! paged reads its export needs.

use sqlx::Row;

use super::{with_pool, Backend, Store, TenantStore};
use crate::dto::ActivityView;
use crate::error::DomainResult;

/// An organization with what it holds, for `roster tenant list | show`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct TenantFacts {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Epoch ms.
    pub created_at: i64,
    /// When an operator disabled it (epoch ms).
    pub disabled_at: Option<i64>,
    /// Whether its SCIM API is on.
    pub scim_enabled: bool,
    /// Users (SCIM, just-in-time and manual).
    pub users: i64,
    /// SCIM groups.
    pub groups: i64,
    /// Console accounts (organization admins).
    pub admins: i64,
    /// SSO connections.
    pub sso_connections: i64,
}

const FACTS: &str = "SELECT t.id, t.name, t.created_at, t.disabled_at, t.scim_enabled, \
     (SELECT CAST(COALESCE(SUM(c.users), 0) AS BIGINT) FROM user_counts c WHERE c.tenant_id = t.id) AS users, \
     (SELECT COUNT(*) FROM scim_groups g WHERE g.tenant_id = t.id) AS groups, \
     (SELECT COUNT(*) FROM console_accounts a WHERE a.tenant_id = t.id) AS admins, \
     (SELECT COUNT(*) FROM sso_connections c WHERE c.tenant_id = t.id) AS sso_connections \
     FROM tenants t";

fn facts_from_row<R>(r: &R) -> DomainResult<TenantFacts>
where
    R: Row,
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    bool: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(TenantFacts {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        created_at: r.try_get("created_at")?,
        disabled_at: r.try_get("disabled_at")?,
        scim_enabled: r.try_get("scim_enabled")?,
        users: r.try_get("users")?,
        groups: r.try_get("groups")?,
        admins: r.try_get("admins")?,
        sso_connections: r.try_get("sso_connections")?,
    })
}

/// The tables that hold an organization's rows, children before parents, so that deleting in
/// this order never leaves a cascade to delete many rows in one statement. `tenants` is last.
const TENANT_TABLES: [&str; 30] = [
    "webhook_deliveries",
    "webhook_endpoints",
    "pending_events",
    "events",
    "event_sequences",
    "api_keys",
    "activity",
    "scim_traffic",
    "placement_refusals",
    "deprovisions",
    "held_changes",
    "deleted_users",
    "sign_in_attempts",
    "sso_sign_ins",
    "sso_claim_groups",
    "sso_identities",
    "sso_flows",
    "user_group_members",
    "scim_group_members",
    "scim_users",
    "scim_groups",
    "mapping_rules",
    "mapping_runs",
    "user_groups",
    "scim_credentials",
    "sso_connections",
    "tenant_domains",
    "invitations",
    "jobs",
    "console_accounts",
];

impl Store {
    /// Every organization with its counts, oldest first.
    pub async fn tenant_facts(&self) -> DomainResult<Vec<TenantFacts>> {
        let sql = format!("{FACTS} ORDER BY t.created_at, t.id");
        with_pool!(self, |p| {
            let rows = sqlx::query(&sql).fetch_all(p).await?;
            rows.iter().map(facts_from_row).collect()
        })
    }

    /// Deletes at most `limit` rows of the organization from `table` (one of
    /// [`TENANT_TABLES`]); returns how many.
    async fn delete_tenant_rows(&self, table: &str, tenant: &str, limit: i64) -> DomainResult<u64> {
        // Rows are picked by their physical id, which every one of these tables has.
        let sql = match self.backend() {
            Backend::Sqlite => {
                format!("DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table} WHERE tenant_id = $1 LIMIT $2)")
            }
            Backend::Postgres => format!(
                "DELETE FROM {table} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {table} WHERE tenant_id = $1 LIMIT $2))"
            ),
        };
        let n = with_pool!(self, |p| {
            sqlx::query(&sql).bind(tenant).bind(limit).execute(p).await.map(|r| r.rows_affected())
        })?;
        Ok(n)
    }

    /// Deletes every row of the organization, table by table, `batch` rows per statement;
    /// `progress(table, deleted so far)` is called after each statement. Returns the rows
    /// deleted per table. Safe to run again after an interruption.
    pub async fn delete_tenant(
        &self,
        tenant: &str,
        batch: i64,
        mut progress: impl FnMut(&str, u64),
    ) -> DomainResult<Vec<(&'static str, u64)>> {
        let mut deleted = Vec::new();
        for table in TENANT_TABLES {
            let mut total = 0;
            loop {
                let n = self.delete_tenant_rows(table, tenant, batch).await?;
                total += n;
                progress(table, total);
                if n < batch as u64 {
                    break;
                }
            }
            deleted.push((table, total));
        }
        let n = with_pool!(self, |p| {
            sqlx::query("DELETE FROM tenants WHERE id = $1").bind(tenant).execute(p).await.map(|r| r.rows_affected())
        })?;
        deleted.push(("tenants", n));
        Ok(deleted)
    }
}

impl TenantStore<'_> {
    /// The organization with its counts.
    pub async fn facts(&self) -> DomainResult<Option<TenantFacts>> {
        let sql = format!("{FACTS} WHERE t.id = $1");
        with_pool!(self.store, |p| {
            let row = sqlx::query(&sql).bind(self.id.as_str()).fetch_optional(p).await?;
            row.as_ref().map(facts_from_row).transpose()
        })
    }

    /// Disables the organization (`Some(when)`) or enables it (`None`); `false` if it does not
    /// exist.
    pub async fn set_disabled(&self, at: Option<i64>, now_ms: i64) -> DomainResult<bool> {
        let n = with_pool!(self.store, |p| {
            sqlx::query("UPDATE tenants SET disabled_at = $1, updated_at = $2 WHERE id = $3")
                .bind(at)
                .bind(now_ms)
                .bind(self.id.as_str())
                .execute(p)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }

    /// SCIM groups after `after` in id order: (id, the stored resource as JSON text).
    pub async fn groups_after(&self, after: &str, limit: i64) -> DomainResult<Vec<(String, String)>> {
        let sql = match self.store.backend() {
            Backend::Sqlite => "SELECT id, data FROM scim_groups WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3",
            Backend::Postgres => {
                "SELECT id, CAST(data AS TEXT) FROM scim_groups WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3"
            }
        };
        let rows = with_pool!(self.store, |p| {
            sqlx::query_as::<_, (String, String)>(sql).bind(self.id.as_str()).bind(after).bind(limit).fetch_all(p).await
        })?;
        Ok(rows)
    }

    /// Activity records after id `after`, oldest first, with their request bodies.
    pub async fn activity_after(&self, after: i64, limit: i64) -> DomainResult<Vec<ActivityView>> {
        super::activity::activity_after(self, after, limit).await
    }
}
