//! Invitations of organization admins, and admins' passwords.

use sqlx::Row;

use super::accounts::map_account_conflict;
use super::{with_pool, NewAccount, Store, TenantStore};
use crate::error::{DomainError, DomainResult};
use crate::ids::{AccountId, TenantId};

/// An invitation found by its token.
#[derive(Clone, Debug)]
pub struct InvitationRecord {
    /// Its id.
    pub id: String,
    /// The organization.
    pub tenant_id: TenantId,
    /// The organization's name.
    pub organization: String,
    /// The address invited.
    pub email: String,
    /// Epoch ms.
    pub expires_at: i64,
    /// Epoch ms, once used.
    pub accepted_at: Option<i64>,
}

impl Store {
    /// Stores an invitation.
    #[allow(clippy::too_many_arguments)]
    pub async fn insert_invitation(
        &self,
        id: &str,
        tenant: &TenantId,
        email: &str,
        token_hash: &str,
        invited_by: &str,
        now_ms: i64,
        expires_at: i64,
    ) -> DomainResult<()> {
        with_pool!(self, |p| {
            sqlx::query(
                "INSERT INTO invitations (id, tenant_id, email, token_hash, invited_by, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(id)
            .bind(tenant.as_str())
            .bind(email)
            .bind(token_hash)
            .bind(invited_by)
            .bind(now_ms)
            .bind(expires_at)
            .execute(p)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// The invitation with this token hash.
    pub async fn invitation_by_token_hash(&self, token_hash: &str) -> DomainResult<Option<InvitationRecord>> {
        with_pool!(self, |p| {
            let row = sqlx::query(
                "SELECT i.id, i.tenant_id, t.name, i.email, i.expires_at, i.accepted_at FROM invitations i \
                 JOIN tenants t ON t.id = i.tenant_id WHERE i.token_hash = $1",
            )
            .bind(token_hash)
            .fetch_optional(p)
            .await?;
            row.map(|r| -> Result<InvitationRecord, sqlx::Error> {
                Ok(InvitationRecord {
                    id: r.try_get("id")?,
                    tenant_id: TenantId::from_store(r.try_get("tenant_id")?),
                    organization: r.try_get("name")?,
                    email: r.try_get("email")?,
                    expires_at: r.try_get("expires_at")?,
                    accepted_at: r.try_get("accepted_at")?,
                })
            })
            .transpose()
            .map_err(DomainError::from)
        })
    }

    /// Uses invitation `id` (once, before it expires) and creates the admin it invited, in one
    /// transaction; `false` if the invitation was used or expired meanwhile.
    pub async fn accept_invitation(
        &self,
        id: &str,
        tenant: &TenantId,
        admin: &NewAccount,
        now_ms: i64,
    ) -> DomainResult<bool> {
        with_pool!(self, |p| {
            let mut tx = p.begin().await?;
            let n = sqlx::query(
                "UPDATE invitations SET accepted_at = $1 WHERE id = $2 AND accepted_at IS NULL AND expires_at > $1",
            )
            .bind(now_ms)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n != 1 {
                return Ok(false);
            }
            sqlx::query(
                "INSERT INTO console_accounts (id, tenant_id, role, email, email_normalized, name, password_hash, created_at) \
                 VALUES ($1, $2, 'org_admin', $3, $4, $5, $6, $7)",
            )
            .bind(admin.id.as_str())
            .bind(tenant.as_str())
            .bind(&admin.email)
            .bind(&admin.email_normalized)
            .bind(&admin.name)
            .bind(&admin.password_hash)
            .bind(now_ms)
            .execute(&mut *tx)
            .await
            .map_err(map_account_conflict)?;
            tx.commit().await?;
            DomainResult::Ok(true)
        })
    }

    /// Replaces an account's password hash; returns whether the account exists.
    pub async fn set_password_hash(&self, id: &AccountId, hash: &str) -> DomainResult<bool> {
        let n = with_pool!(self, |p| {
            sqlx::query("UPDATE console_accounts SET password_hash = $1, password_changed_at = $3 WHERE id = $2")
                .bind(hash)
                .bind(id.as_str())
                .bind(crate::clock::now_ms())
                .execute(p)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }
}

impl TenantStore<'_> {
    /// The organization's admins: (name, email, created, last sign-in).
    pub async fn admins(&self) -> DomainResult<Vec<(String, String, i64, Option<i64>)>> {
        with_pool!(self.store, |p| {
            let rows = sqlx::query(
                "SELECT name, email, created_at, last_sign_in_at FROM console_accounts \
                 WHERE tenant_id = $1 AND role = 'org_admin' ORDER BY created_at",
            )
            .bind(self.id.as_str())
            .fetch_all(p)
            .await?;
            rows.iter()
                .map(|r| {
                    Ok((
                        r.try_get("name")?,
                        r.try_get("email")?,
                        r.try_get("created_at")?,
                        r.try_get("last_sign_in_at")?,
                    ))
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(DomainError::from)
        })
    }

    /// Invitations not used yet: (email, invited by, expires).
    pub async fn open_invitations(&self, now_ms: i64) -> DomainResult<Vec<(String, String, i64)>> {
        with_pool!(self.store, |p| {
            let rows = sqlx::query(
                "SELECT email, invited_by, expires_at FROM invitations \
                 WHERE tenant_id = $1 AND accepted_at IS NULL AND expires_at > $2 ORDER BY created_at DESC",
            )
            .bind(self.id.as_str())
            .bind(now_ms)
            .fetch_all(p)
            .await?;
            rows.iter()
                .map(|r| Ok((r.try_get("email")?, r.try_get("invited_by")?, r.try_get("expires_at")?)))
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(DomainError::from)
        })
    }
}
