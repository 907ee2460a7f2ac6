//! The activity log: one row per SCIM request (and, later, per admin and support action).

use super::{with_pool, TenantStore};
use crate::error::DomainResult;

/// One activity record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewActivity {
    /// Epoch ms.
    pub at: i64,
    /// `scim`, `admin`, `support` or `system`.
    pub actor: String,
    /// The SCIM credential used, if any.
    pub credential_id: Option<String>,
    /// HTTP method.
    pub method: Option<String>,
    /// Request path (no query string: filters may hold personal data).
    pub path: Option<String>,
    /// HTTP status.
    pub status: Option<i32>,
    /// Latency in ms.
    pub latency_ms: Option<i32>,
    /// `User`, `Group`, …
    pub resource_type: Option<String>,
    /// The resource's id.
    pub resource_id: Option<String>,
    /// One line, such as `replace active`.
    pub summary: String,
    /// The SCIM error type, on errors.
    pub scim_type: Option<String>,
    /// The error detail, on errors.
    pub detail: Option<String>,
    /// The client's User-Agent.
    pub user_agent: Option<String>,
}

impl super::Store {
    /// Deletes activity records older than `before_ms`, in all tenants; returns how many.
    pub async fn delete_activity_before(&self, before_ms: i64) -> DomainResult<u64> {
        let n = with_pool!(self, |p| {
            sqlx::query("DELETE FROM activity WHERE at < $1")
                .bind(before_ms)
                .execute(p)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(n)
    }
}

impl TenantStore<'_> {
    /// Appends an activity record.
    pub async fn record_activity(&self, a: &NewActivity) -> DomainResult<()> {
        with_pool!(self.store, |p| {
            sqlx::query(
                "INSERT INTO activity (tenant_id, at, actor, credential_id, method, path, status, latency_ms, resource_type, resource_id, summary, scim_type, detail, user_agent) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
            )
            .bind(self.id.as_str())
            .bind(a.at)
            .bind(&a.actor)
            .bind(&a.credential_id)
            .bind(&a.method)
            .bind(&a.path)
            .bind(a.status)
            .bind(a.latency_ms)
            .bind(&a.resource_type)
            .bind(&a.resource_id)
            .bind(&a.summary)
            .bind(&a.scim_type)
            .bind(&a.detail)
            .bind(&a.user_agent)
            .execute(p)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// The most recent activity records, newest first (for tests and, later, the dashboard).
    pub async fn recent_activity(&self, limit: i64) -> DomainResult<Vec<NewActivity>> {
        use sqlx::Row;
        with_pool!(self.store, |p| {
            let rows = sqlx::query(
                "SELECT at, actor, credential_id, method, path, status, latency_ms, resource_type, resource_id, summary, scim_type, detail, user_agent \
                 FROM activity WHERE tenant_id = $1 ORDER BY at DESC, id DESC LIMIT $2",
            )
            .bind(self.id.as_str())
            .bind(limit)
            .fetch_all(p)
            .await?;
            rows.iter()
                .map(|r| {
                    Ok(NewActivity {
                        at: r.try_get("at")?,
                        actor: r.try_get("actor")?,
                        credential_id: r.try_get("credential_id")?,
                        method: r.try_get("method")?,
                        path: r.try_get("path")?,
                        status: r.try_get("status")?,
                        latency_ms: r.try_get("latency_ms")?,
                        resource_type: r.try_get("resource_type")?,
                        resource_id: r.try_get("resource_id")?,
                        summary: r.try_get("summary")?,
                        scim_type: r.try_get("scim_type")?,
                        detail: r.try_get("detail")?,
                        user_agent: r.try_get("user_agent")?,
                    })
                })
                .collect::<DomainResult<Vec<_>>>()
        })
    }
}
