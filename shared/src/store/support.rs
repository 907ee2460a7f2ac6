//! What the support console reads across tenants, and support staff accounts.
//!
//! These are the only statements that do not start from one tenant: the tenants list, and the
//! cross-tenant user search. The search joins `tenants` to `scim_users` so that each tenant's
//! own `(tenant_id, …)` index answers for it (one probe per tenant) instead of needing
//! platform-wide indexes that every SCIM write would pay for.

use sqlx::Row;

use super::accounts::{account_from_row, map_account_conflict, ACCOUNT_COLUMNS};
use super::tenants::{summary_from_row, SUMMARY_SELECT};
use super::{with_pool, AccountRecord, NewAccount, Store, TenantStore};
use crate::dto::{ScimGroupView, TenantSummary};
use crate::error::DomainResult;

impl Store {
    /// Creates a support staff account (no tenant).
    pub async fn insert_staff(&self, a: &NewAccount, now_ms: i64) -> DomainResult<()> {
        with_pool!(self, |p| {
            sqlx::query(
                "INSERT INTO console_accounts (id, tenant_id, role, email, email_normalized, name, password_hash, created_at) \
                 VALUES ($1, NULL, 'support', $2, $3, $4, $5, $6)",
            )
            .bind(a.id.as_str())
            .bind(&a.email)
            .bind(&a.email_normalized)
            .bind(&a.name)
            .bind(&a.password_hash)
            .bind(now_ms)
            .execute(p)
            .await
            .map_err(map_account_conflict)?;
            DomainResult::Ok(())
        })
    }

    /// Disables (or enables again) the support account with this address; false if there is
    /// no such support account.
    pub async fn set_staff_disabled(&self, email_normalized: &str, disabled: bool) -> DomainResult<bool> {
        let n = with_pool!(self, |p| {
            sqlx::query("UPDATE console_accounts SET disabled = $1 WHERE email_normalized = $2 AND role = 'support'")
                .bind(disabled)
                .bind(email_normalized)
                .execute(p)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(n > 0)
    }

    /// Every support staff account, by email.
    pub async fn staff_accounts(&self) -> DomainResult<Vec<AccountRecord>> {
        let sql =
            format!("SELECT {ACCOUNT_COLUMNS} FROM console_accounts WHERE role = 'support' ORDER BY email_normalized");
        with_pool!(self, |p| {
            let rows = sqlx::query(&sql).fetch_all(p).await?;
            rows.iter().map(account_from_row).collect()
        })
    }

    /// Every tenant, by name.
    pub async fn tenant_summaries(&self) -> DomainResult<Vec<TenantSummary>> {
        let sql = format!("{SUMMARY_SELECT} ORDER BY t.name, t.id");
        with_pool!(self, |p| {
            let rows = sqlx::query(&sql).fetch_all(p).await?;
            rows.iter().map(summary_from_row).collect::<DomainResult<Vec<_>>>()
        })
    }

    /// Users of any tenant whose userName or primary email (both folded, `folded`) or
    /// externalId (`exact`) is the one asked for: (tenant, user id, what matched), at most
    /// `limit` rows (a user can appear once per thing it matched).
    pub async fn find_users_everywhere(
        &self,
        folded: &str,
        exact: &str,
        limit: i64,
    ) -> DomainResult<Vec<(String, String, String)>> {
        let rows = with_pool!(self, |p| {
            sqlx::query_as::<_, (String, String, String)>(
                // CROSS JOIN: SQLite keeps the written order (tenants outside, one index
                // probe per tenant inside) instead of scanning every user; PostgreSQL's planner
                // picks that nested loop by itself.
                "SELECT u.tenant_id, u.id, 'userName' AS matched FROM tenants t \
                   CROSS JOIN scim_users u WHERE u.tenant_id = t.id AND u.user_name_norm = $1 \
                 UNION ALL \
                 SELECT u.tenant_id, u.id, 'email' AS matched FROM tenants t \
                   CROSS JOIN scim_users u WHERE u.tenant_id = t.id AND u.primary_email_norm = $1 \
                 UNION ALL \
                 SELECT u.tenant_id, u.id, 'externalId' AS matched FROM tenants t \
                   CROSS JOIN scim_users u WHERE u.tenant_id = t.id AND u.external_id = $2 \
                 LIMIT $3",
            )
            .bind(folded)
            .bind(exact)
            .bind(limit)
            .fetch_all(p)
            .await
        })?;
        Ok(rows)
    }
}

impl TenantStore<'_> {
    /// The tenant's SCIM groups by name with their direct member counts, at most `limit`.
    pub async fn scim_group_views(&self, limit: i64) -> DomainResult<Vec<ScimGroupView>> {
        with_pool!(self.store, |p| {
            let rows = sqlx::query(
                "SELECT g.id, g.display_name, g.external_id, g.updated_at, \
                   (SELECT COUNT(*) FROM scim_group_members m WHERE m.tenant_id = g.tenant_id AND m.group_id = g.id) AS members \
                 FROM scim_groups g WHERE g.tenant_id = $1 ORDER BY g.display_name_norm, g.id LIMIT $2",
            )
            .bind(self.id.as_str())
            .bind(limit)
            .fetch_all(p)
            .await?;
            rows.iter()
                .map(|r| {
                    Ok(ScimGroupView {
                        id: r.try_get("id")?,
                        display_name: r.try_get("display_name")?,
                        external_id: r.try_get("external_id")?,
                        members: r.try_get("members")?,
                        updated_at_ms: r.try_get("updated_at")?,
                    })
                })
                .collect::<DomainResult<Vec<_>>>()
        })
    }
}
