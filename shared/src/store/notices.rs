//! What email needs from the database: who wants which notices, which credentials expire soon,
//! which organizations' identity providers are failing, and password reset links.

use super::tx::{with_conn, TxConn};
use super::{with_pool, Store, TenantStore};
use crate::error::DomainResult;
use crate::ids::AccountId;
use crate::service::email::Topic;

/// A credential about to expire: (tenant, credential id, its name, expires at).
pub type Expiring = (String, String, String, i64);

/// An organization whose SCIM requests mostly failed: (tenant, requests, failures).
pub type Failing = (String, i64, i64);

/// What counts as a failed SCIM request for the "IdP failing" notice: server errors and the
/// client errors that mean the IdP's configuration is wrong. 404 and 409 are left out: IdPs
/// look users up and create the missing ones as a matter of course.
const FAILED: &str = "(status >= 500 OR status IN (400, 403, 413, 429))";

impl TenantStore<'_> {
    /// The addresses of the organization's admins (enabled accounts) who want notices on
    /// `topic`.
    pub async fn admins_notified_about(&self, topic: Topic) -> DomainResult<Vec<String>> {
        let column = match topic {
            Topic::Credentials => "notify_credentials",
            Topic::IdpFailures => "notify_idp_failures",
            Topic::HeldChanges => "notify_held_changes",
        };
        let sql = format!(
            "SELECT email FROM console_accounts WHERE tenant_id = $1 AND role = 'org_admin' AND NOT disabled AND {column} \
             ORDER BY created_at"
        );
        let rows = with_pool!(self.store, |p| {
            sqlx::query_scalar::<_, String>(&sql).bind(self.id.as_str()).fetch_all(p).await
        })?;
        Ok(rows)
    }

    /// The latest failed SCIM request since `since_ms`: its method, path, status and detail.
    pub async fn latest_failed_request(&self, since_ms: i64) -> DomainResult<Option<String>> {
        let sql = format!(
            "SELECT COALESCE(method, '') || ' ' || COALESCE(path, '') || ' → ' || CAST(COALESCE(status, 0) AS TEXT) || \
             COALESCE(': ' || detail, '') FROM activity \
             WHERE tenant_id = $1 AND actor = 'scim' AND at >= $2 AND {FAILED} ORDER BY at DESC LIMIT 1"
        );
        let row = with_pool!(self.store, |p| {
            sqlx::query_scalar::<_, String>(&sql).bind(self.id.as_str()).bind(since_ms).fetch_optional(p).await
        })?;
        Ok(row)
    }
}

impl Store {
    /// An admin's notice choices: (credentials expiring, IdP failing, changes held).
    pub async fn notification_choices(&self, account: &AccountId) -> DomainResult<(bool, bool, bool)> {
        let row = with_pool!(self, |p| {
            sqlx::query_as::<_, (bool, bool, bool)>(
                "SELECT notify_credentials, notify_idp_failures, notify_held_changes FROM console_accounts WHERE id = $1",
            )
            .bind(account.as_str())
            .fetch_optional(p)
            .await
        })?;
        Ok(row.unwrap_or((false, false, false)))
    }

    /// Sets an admin's notice choices.
    pub async fn set_notification_choices(
        &self,
        account: &AccountId,
        credentials: bool,
        idp: bool,
        held: bool,
    ) -> DomainResult<()> {
        with_pool!(self, |p| {
            sqlx::query(
                "UPDATE console_accounts SET notify_credentials = $1, notify_idp_failures = $2, notify_held_changes = $4 \
                 WHERE id = $3",
            )
                .bind(credentials)
                .bind(idp)
                .bind(account.as_str())
                .bind(held)
                .execute(p)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }

    /// Credentials of enabled organizations that expire after `now_ms` and by `by_ms`, are not
    /// revoked or replaced by a rotation, and whose notice has not gone out (OAuth access
    /// tokens, which live an hour, are not among them).
    pub async fn credentials_expiring(&self, now_ms: i64, by_ms: i64) -> DomainResult<Vec<Expiring>> {
        let rows = with_pool!(self, |p| {
            sqlx::query_as::<_, Expiring>(
                "SELECT c.tenant_id, c.id, c.name, c.expires_at FROM scim_credentials c JOIN tenants t ON t.id = c.tenant_id \
                 WHERE c.expires_at > $1 AND c.expires_at <= $2 AND c.revoked_at IS NULL AND c.expiry_notified_at IS NULL \
                   AND c.replaced_by IS NULL AND c.created_by NOT LIKE 'oauth:%' AND t.disabled_at IS NULL \
                 ORDER BY c.expires_at",
            )
            .bind(now_ms)
            .bind(by_ms)
            .fetch_all(p)
            .await
        })?;
        Ok(rows)
    }

    /// Records that a credential's expiry notice went out.
    pub async fn mark_expiry_notified(&self, tenant: &str, credential: &str, now_ms: i64) -> DomainResult<()> {
        with_pool!(self, |p| {
            sqlx::query("UPDATE scim_credentials SET expiry_notified_at = $1 WHERE tenant_id = $2 AND id = $3")
                .bind(now_ms)
                .bind(tenant)
                .bind(credential)
                .execute(p)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }

    /// Enabled organizations with at least `min_requests` SCIM requests since `since_ms`, more
    /// than half of them failed, and no failure notice since `quiet_since_ms`.
    pub async fn failing_tenants(
        &self,
        since_ms: i64,
        min_requests: i64,
        quiet_since_ms: i64,
    ) -> DomainResult<Vec<Failing>> {
        let sql = format!(
            "SELECT a.tenant_id, COUNT(*) AS total, SUM(CASE WHEN {FAILED} THEN 1 ELSE 0 END) AS failed \
             FROM activity a JOIN tenants t ON t.id = a.tenant_id \
             WHERE a.actor = 'scim' AND a.at >= $1 AND t.disabled_at IS NULL \
               AND (t.idp_failure_notified_at IS NULL OR t.idp_failure_notified_at < $3) \
             GROUP BY a.tenant_id HAVING COUNT(*) >= $2 AND 2 * SUM(CASE WHEN {FAILED} THEN 1 ELSE 0 END) > COUNT(*)"
        );
        let rows = with_pool!(self, |p| {
            sqlx::query_as::<_, Failing>(&sql).bind(since_ms).bind(min_requests).bind(quiet_since_ms).fetch_all(p).await
        })?;
        Ok(rows)
    }

    /// Records that an organization's failure notice went out.
    pub async fn mark_idp_failure_notified(&self, tenant: &str, now_ms: i64) -> DomainResult<()> {
        with_pool!(self, |p| {
            sqlx::query("UPDATE tenants SET idp_failure_notified_at = $1 WHERE id = $2")
                .bind(now_ms)
                .bind(tenant)
                .execute(p)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }

    /// Stores a password reset link's token hash.
    pub async fn insert_password_reset(
        &self,
        account: &AccountId,
        token_hash: &str,
        now_ms: i64,
        expires_at: i64,
    ) -> DomainResult<()> {
        with_pool!(self, |p| {
            sqlx::query(
                "INSERT INTO password_resets (id, account_id, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(uuid::Uuid::new_v4().to_string())
            .bind(account.as_str())
            .bind(token_hash)
            .bind(now_ms)
            .bind(expires_at)
            .execute(p)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// How many reset links were made for the account since `since_ms` (a throttle).
    pub async fn password_resets_since(&self, account: &AccountId, since_ms: i64) -> DomainResult<i64> {
        let n = with_pool!(self, |p| {
            sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM password_resets WHERE account_id = $1 AND created_at >= $2",
            )
            .bind(account.as_str())
            .bind(since_ms)
            .fetch_one(p)
            .await
        })?;
        Ok(n)
    }

    /// The account of an unused, unexpired reset link (not using it).
    pub async fn password_reset_account(&self, token_hash: &str, now_ms: i64) -> DomainResult<Option<String>> {
        let row = with_pool!(self, |p| {
            sqlx::query_scalar::<_, String>(
                "SELECT account_id FROM password_resets WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
            )
            .bind(token_hash)
            .bind(now_ms)
            .fetch_optional(p)
            .await
        })?;
        Ok(row)
    }

    /// Uses a reset link: sets the account's password hash and marks this link (and every
    /// other open link of the account) used, in one transaction; `None` if the link is used,
    /// expired or unknown.
    pub async fn use_password_reset(
        &self,
        token_hash: &str,
        password_hash: &str,
        now_ms: i64,
    ) -> DomainResult<Option<String>> {
        let mut conn = TxConn::begin(self).await?;
        let account: Option<String> = with_conn!(&mut conn, |c| {
            sqlx::query_scalar::<_, String>(
                "UPDATE password_resets SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1 \
                 RETURNING account_id",
            )
            .bind(now_ms)
            .bind(token_hash)
            .fetch_optional(c)
            .await
        })?;
        let Some(account) = account else { return Ok(None) };
        with_conn!(&mut conn, |c| {
            sqlx::query("UPDATE console_accounts SET password_hash = $1, password_changed_at = $3 WHERE id = $2")
                .bind(password_hash)
                .bind(&account)
                .bind(now_ms)
                .execute(c)
                .await
                .map(|_| ())
        })?;
        with_conn!(&mut conn, |c| {
            sqlx::query("UPDATE password_resets SET used_at = $1 WHERE account_id = $2 AND used_at IS NULL")
                .bind(now_ms)
                .bind(&account)
                .execute(c)
                .await
                .map(|_| ())
        })?;
        conn.commit().await?;
        Ok(Some(account))
    }
}
