//! SCIM credentials of a tenant (found by their secret through `cache::TenantCache`).

use sqlx::Row;

use super::tx::{with_tx, TenantTx};
use super::{with_pool, TenantStore};
use crate::dto::CredentialKind;
use crate::error::{DomainError, DomainResult};
use crate::ids::CredentialId;

/// A credential as stored (the secret's hash stays in the store layer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialRecord {
    /// Its id.
    pub id: CredentialId,
    /// `bearer`, `basic` or `oauth_client`.
    pub kind: CredentialKind,
    /// The name an admin gave it.
    pub name: String,
    /// The first characters of the secret, to tell credentials apart.
    pub prefix: String,
    /// Who created it (an account id, or `cli`).
    pub created_by: String,
    /// Epoch ms.
    pub created_at: i64,
    /// Epoch ms, if it expires.
    pub expires_at: Option<i64>,
    /// Epoch ms, if revoked.
    pub revoked_at: Option<i64>,
    /// Epoch ms of the last use (at minute resolution).
    pub last_used_at: Option<i64>,
    /// The credential that a rotation made to replace this one.
    pub replaced_by: Option<CredentialId>,
}

/// A credential to store.
#[derive(Clone, Debug)]
pub struct NewCredential {
    /// Its id.
    pub id: CredentialId,
    /// `bearer`, `basic` or `oauth_client`.
    pub kind: CredentialKind,
    /// Its name.
    pub name: String,
    /// The secret's first characters.
    pub prefix: String,
    /// SHA-256 of the secret, hex.
    pub secret_hash: String,
    /// Who created it.
    pub created_by: String,
    /// Epoch ms.
    pub created_at: i64,
    /// Epoch ms.
    pub expires_at: Option<i64>,
}

/// A credential found by its secret, with whether its tenant has SCIM on.
#[derive(Clone, Debug)]
pub struct FoundCredential {
    /// The credential.
    pub credential: CredentialRecord,
    /// The tenant's SCIM switch.
    pub scim_enabled: bool,
    /// An operator disabled the tenant.
    pub tenant_disabled: bool,
}

const COLUMNS: &str =
    "c.id, c.kind, c.name, c.prefix, c.created_by, c.created_at, c.expires_at, c.revoked_at, c.last_used_at, c.replaced_by";

fn from_row<R>(row: &R) -> DomainResult<CredentialRecord>
where
    R: Row,
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<i64>: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<String>: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(CredentialRecord {
        id: CredentialId::from_store(row.try_get("id")?),
        kind: {
            let kind: String = row.try_get("kind")?;
            CredentialKind::parse(&kind)
                .ok_or_else(|| DomainError::Internal(format!("stored credential kind {kind:?}")))?
        },
        name: row.try_get("name")?,
        prefix: row.try_get("prefix")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        revoked_at: row.try_get("revoked_at")?,
        last_used_at: row.try_get("last_used_at")?,
        replaced_by: row.try_get::<Option<String>, _>("replaced_by")?.map(CredentialId::from_store),
    })
}

impl TenantTx<'_> {
    /// Stores a new credential.
    pub async fn insert_credential(&mut self, c: &NewCredential) -> DomainResult<()> {
        with_tx!(self, |conn| {
            sqlx::query(
                "INSERT INTO scim_credentials (tenant_id, id, kind, name, prefix, secret_hash, created_by, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(self.id.as_str())
            .bind(c.id.as_str())
            .bind(c.kind.as_str())
            .bind(&c.name)
            .bind(&c.prefix)
            .bind(&c.secret_hash)
            .bind(&c.created_by)
            .bind(c.created_at)
            .bind(c.expires_at)
            .execute(conn)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// Revokes a credential; returns whether it was active. (After the commit, the caller drops
    /// the tenant's cached credentials: `cached_settings_changed`.)
    pub async fn revoke_credential(&mut self, id: &CredentialId, now_ms: i64) -> DomainResult<bool> {
        let n = with_tx!(self, |c| {
            sqlx::query(
                "UPDATE scim_credentials SET revoked_at = $1 WHERE tenant_id = $2 AND id = $3 AND revoked_at IS NULL",
            )
            .bind(now_ms)
            .bind(self.id.as_str())
            .bind(id.as_str())
            .execute(c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(n > 0)
    }

    /// Marks `old` as replaced by `new` (a rotation).
    pub async fn mark_replaced(&mut self, old: &CredentialId, new: &CredentialId) -> DomainResult<()> {
        with_tx!(self, |c| {
            sqlx::query("UPDATE scim_credentials SET replaced_by = $1 WHERE tenant_id = $2 AND id = $3")
                .bind(new.as_str())
                .bind(self.id.as_str())
                .bind(old.as_str())
                .execute(c)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }

    /// Revokes every credential created by `created_by` (the access tokens of an OAuth client).
    pub async fn revoke_issued_by(&mut self, created_by: &str, now_ms: i64) -> DomainResult<u64> {
        let n = with_tx!(self, |c| {
            sqlx::query(
                "UPDATE scim_credentials SET revoked_at = $1 WHERE tenant_id = $2 AND created_by = $3 AND revoked_at IS NULL",
            )
            .bind(now_ms)
            .bind(self.id.as_str())
            .bind(created_by)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(n)
    }

    /// Switches SCIM on or off; returns whether the tenant exists. (After the commit, the caller
    /// drops the tenant's cached settings.)
    pub async fn set_scim_enabled(&mut self, enabled: bool, now_ms: i64) -> DomainResult<bool> {
        let n = with_tx!(self, |c| {
            sqlx::query("UPDATE tenants SET scim_enabled = $1, updated_at = $2 WHERE id = $3")
                .bind(enabled)
                .bind(now_ms)
                .bind(self.id.as_str())
                .execute(c)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(n > 0)
    }
}

impl TenantStore<'_> {
    /// One credential.
    pub async fn credential(&self, id: &CredentialId) -> DomainResult<Option<CredentialRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM scim_credentials c WHERE c.tenant_id = $1 AND c.id = $2");
        with_pool!(self.store, |p| {
            let row = sqlx::query(&sql).bind(self.id.as_str()).bind(id.as_str()).fetch_optional(p).await?;
            row.as_ref().map(from_row).transpose()
        })
    }

    /// All credentials, newest first.
    pub async fn credentials(&self) -> DomainResult<Vec<CredentialRecord>> {
        let sql =
            format!("SELECT {COLUMNS} FROM scim_credentials c WHERE c.tenant_id = $1 ORDER BY c.created_at DESC, c.id");
        with_pool!(self.store, |p| {
            let rows = sqlx::query(&sql).bind(self.id.as_str()).fetch_all(p).await?;
            rows.iter().map(from_row).collect()
        })
    }

    /// The credential with this secret hash in this tenant, with the tenant's SCIM switch.
    pub async fn credential_for_secret(&self, secret_hash: &str) -> DomainResult<Option<FoundCredential>> {
        let sql = format!(
            "SELECT {COLUMNS}, t.scim_enabled, t.disabled_at FROM scim_credentials c JOIN tenants t ON t.id = c.tenant_id \
             WHERE c.tenant_id = $1 AND c.secret_hash = $2"
        );
        if let Some(found) = self.store.cache.credential(self.id.as_str(), secret_hash) {
            return Ok(Some(found));
        }
        let epoch = self.store.cache.epoch();
        let found = with_pool!(self.store, |p| {
            let row = sqlx::query(&sql).bind(self.id.as_str()).bind(secret_hash).fetch_optional(p).await?;
            match row {
                None => DomainResult::Ok(None),
                Some(r) => Ok(Some(FoundCredential {
                    credential: from_row(&r)?,
                    scim_enabled: r.try_get("scim_enabled")?,
                    tenant_disabled: r.try_get::<Option<i64>, _>("disabled_at")?.is_some(),
                })),
            }
        })?;
        if let Some(f) = &found {
            self.store.cache.put_credential(epoch, self.id.as_str(), secret_hash, f);
        }
        Ok(found)
    }

    /// Records a use of the credential.
    pub async fn touch_credential(&self, id: &CredentialId, now_ms: i64) -> DomainResult<()> {
        self.store.cache.credential_used(self.id.as_str(), id, now_ms);
        with_pool!(self.store, |p| {
            sqlx::query("UPDATE scim_credentials SET last_used_at = $1 WHERE tenant_id = $2 AND id = $3")
                .bind(now_ms)
                .bind(self.id.as_str())
                .bind(id.as_str())
                .execute(p)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }
}
