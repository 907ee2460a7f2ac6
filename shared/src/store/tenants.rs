//! Tenants (organizations) and the tenant-scoped handle.

use sqlx::Row;

use super::accounts::map_account_conflict;
use super::{with_pool, NewAccount, Store};
use crate::dto::TenantSummary;
use crate::error::DomainResult;
use crate::ids::TenantId;

/// A tenant to create.
#[derive(Clone, Debug)]
pub struct NewTenant {
    /// Its key.
    pub id: TenantId,
    /// The organization's name.
    pub name: String,
}

impl Store {
    /// Creates a tenant and its first organization admin in one transaction: both or neither.
    pub async fn create_tenant_with_admin(
        &self,
        tenant: &NewTenant,
        admin: &NewAccount,
        now_ms: i64,
    ) -> DomainResult<()> {
        with_pool!(self, |p| {
            let mut tx = p.begin().await?;
            sqlx::query(
                "INSERT INTO tenants (id, name, scim_enabled, created_at, updated_at) VALUES ($1, $2, FALSE, $3, $3)",
            )
            .bind(tenant.id.as_str())
            .bind(&tenant.name)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO console_accounts (id, tenant_id, role, email, email_normalized, name, password_hash, created_at) \
                 VALUES ($1, $2, 'org_admin', $3, $4, $5, $6, $7)",
            )
            .bind(admin.id.as_str())
            .bind(tenant.id.as_str())
            .bind(&admin.email)
            .bind(&admin.email_normalized)
            .bind(&admin.name)
            .bind(&admin.password_hash)
            .bind(now_ms)
            .execute(&mut *tx)
            .await
            .map_err(map_account_conflict)?;
            tx.commit().await?;
            DomainResult::Ok(())
        })
    }
}

/// The organization as the dashboard shows it, for `FROM tenants t`.
pub(super) const SUMMARY_SELECT: &str = "SELECT t.id, t.name, t.scim_enabled, t.created_at, t.disabled_at, \
     (SELECT COUNT(*) FROM console_accounts a WHERE a.tenant_id = t.id AND a.role = 'org_admin') AS admin_count \
     FROM tenants t";

pub(super) fn summary_from_row<R>(r: &R) -> DomainResult<TenantSummary>
where
    R: Row,
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    bool: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(TenantSummary {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        scim_enabled: r.try_get("scim_enabled")?,
        created_at_ms: r.try_get("created_at")?,
        admin_count: r.try_get("admin_count")?,
        disabled_at_ms: r.try_get("disabled_at")?,
    })
}

/// Reads and writes of one tenant's data. Every statement filters on `tenant_id`.
#[derive(Clone, Copy, Debug)]
pub struct TenantStore<'a> {
    pub(super) store: &'a Store,
    pub(super) id: &'a TenantId,
}

impl<'a> TenantStore<'a> {
    pub(super) fn new(store: &'a Store, id: &'a TenantId) -> Self {
        TenantStore { store, id }
    }

    /// The tenant's key.
    pub fn id(&self) -> &TenantId {
        self.id
    }

    /// The organization as the dashboard shows it; `None` if there is no such tenant.
    pub async fn summary(&self) -> DomainResult<Option<TenantSummary>> {
        let sql = format!("{SUMMARY_SELECT} WHERE t.id = $1");
        with_pool!(self.store, |p| {
            let row = sqlx::query(&sql).bind(self.id.as_str()).fetch_optional(p).await?;
            row.as_ref().map(summary_from_row).transpose()
        })
    }

    /// The role of the organization's users who are in no user group (`admin`, `member`,
    /// `viewer`); `None`: no access.
    pub async fn default_role(&self) -> DomainResult<Option<String>> {
        with_pool!(self.store, |p| {
            let row: Option<(Option<String>,)> = sqlx::query_as("SELECT default_role FROM tenants WHERE id = $1")
                .bind(self.id.as_str())
                .fetch_optional(p)
                .await?;
            Ok(row.and_then(|(r,)| r))
        })
    }
}

impl super::TenantTx<'_> {
    /// Sets the role of users in no user group (`None`: no access).
    pub async fn set_default_role(&mut self, role: Option<&str>, now_ms: i64) -> DomainResult<()> {
        super::tx::with_tx!(self, |c| {
            sqlx::query("UPDATE tenants SET default_role = $1, updated_at = $2 WHERE id = $3")
                .bind(role)
                .bind(now_ms)
                .bind(self.id.as_str())
                .execute(c)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }
}
