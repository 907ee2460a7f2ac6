//! SCIM credentials of a tenant, and the cache that spares each SCIM request its credential
//! query (and each SCIM write its "does this tenant map users?" query).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sqlx::Row;

use super::{with_pool, Pool, Store, TenantStore};
use crate::error::DomainResult;
use crate::ids::CredentialId;

/// How long a cached credential (or mapping flag) is trusted without asking the database again.
pub const AUTH_CACHE_TTL: Duration = Duration::from_secs(2);

/// Most cached credentials (the cache starts over when full).
const AUTH_CACHE_MAX: usize = 10_000;

/// The PostgreSQL channel on which instances announce changes of cached tenant settings.
const AUTH_CHANNEL: &str = "roster_auth";

/// Credentials recently found by their secret, so that a busy IdP's requests do not each cost a
/// credential query (on SQLite that query was a third of a GET's database work), and whether
/// each tenant has mapping rules or a default user group (asked before every SCIM user write).
///
/// Written by hand: the entries must be dropped by tenant when a credential is revoked, SCIM
/// is switched off or the tenant's rules or default group come or go, which the general-purpose caches do not offer by a secondary key without
/// scanning anyway. Revocation stays immediate: a revoke or a SCIM switch through this process
/// drops the tenant's entries at once; on PostgreSQL it also notifies every other instance
/// (`NOTIFY roster_auth`), which drop them too ([`Store::listen_for_credential_changes`]).
/// What neither reaches (a `roster scim token revoke` run against the SQLite file of a running
/// server) takes effect within [`AUTH_CACHE_TTL`]. Unknown secrets are never cached.
#[derive(Debug, Default)]
pub struct TenantCache {
    entries: Mutex<HashMap<(String, String), (Instant, FoundCredential)>>,
    mappings: Mutex<HashMap<String, (Instant, bool)>>,
    placement: Mutex<HashMap<String, (Instant, Placement)>>,
}

/// A tenant's mapping rules and default user group.
type Placement = (Vec<super::RuleRecord>, Option<String>);

impl TenantCache {
    fn get(&self, tenant: &str, secret_hash: &str) -> Option<FoundCredential> {
        let entries = self.entries.lock().ok()?;
        let (at, found) = entries.get(&(tenant.to_string(), secret_hash.to_string()))?;
        (at.elapsed() < AUTH_CACHE_TTL).then(|| found.clone())
    }

    fn put(&self, tenant: &str, secret_hash: &str, found: &FoundCredential) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= AUTH_CACHE_MAX {
                entries.clear();
            }
            entries.insert((tenant.to_string(), secret_hash.to_string()), (Instant::now(), found.clone()));
        }
    }

    /// Drops everything cached of a tenant.
    pub fn forget_tenant(&self, tenant: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.retain(|(t, _), _| t != tenant);
        }
        if let Ok(mut mappings) = self.mappings.lock() {
            mappings.remove(tenant);
        }
        if let Ok(mut placement) = self.placement.lock() {
            placement.remove(tenant);
        }
    }

    fn clear(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.clear();
        }
        if let Ok(mut mappings) = self.mappings.lock() {
            mappings.clear();
        }
        if let Ok(mut placement) = self.placement.lock() {
            placement.clear();
        }
    }

    pub(crate) fn placement(&self, tenant: &str) -> Option<Placement> {
        let placement = self.placement.lock().ok()?;
        placement.get(tenant).filter(|(at, _)| at.elapsed() < AUTH_CACHE_TTL).map(|(_, v)| v.clone())
    }

    pub(crate) fn set_placement(&self, tenant: &str, settings: &Placement) {
        if let Ok(mut placement) = self.placement.lock() {
            if placement.len() >= AUTH_CACHE_MAX {
                placement.clear();
            }
            placement.insert(tenant.to_string(), (Instant::now(), settings.clone()));
        }
    }

    /// Whether the tenant maps users, if known and fresh.
    pub(crate) fn mappings_active(&self, tenant: &str) -> Option<bool> {
        let mappings = self.mappings.lock().ok()?;
        mappings.get(tenant).filter(|(at, _)| at.elapsed() < AUTH_CACHE_TTL).map(|(_, v)| *v)
    }

    pub(crate) fn set_mappings_active(&self, tenant: &str, active: bool) {
        if let Ok(mut mappings) = self.mappings.lock() {
            if mappings.len() >= AUTH_CACHE_MAX {
                mappings.clear();
            }
            mappings.insert(tenant.to_string(), (Instant::now(), active));
        }
    }

    /// How many credentials of a tenant are cached (for tests and diagnostics).
    pub fn cached_for(&self, tenant: &str) -> usize {
        self.entries.lock().map(|e| e.keys().filter(|(t, _)| t == tenant).count()).unwrap_or(0)
    }

    fn touched(&self, tenant: &str, id: &CredentialId, at: i64) {
        if let Ok(mut entries) = self.entries.lock() {
            for ((t, _), (_, found)) in entries.iter_mut() {
                if t == tenant && found.credential.id == *id {
                    found.credential.last_used_at = Some(at);
                }
            }
        }
    }
}

impl Store {
    /// On PostgreSQL, listens for changes of cached settings made by other instances and drops
    /// what is cached of the tenants named (call once per server process; a no-op on
    /// SQLite, whose file one server owns). Runs until the process ends, reconnecting as needed.
    pub fn listen_for_credential_changes(&self) {
        let Pool::Postgres(pool) = &self.pool else { return };
        let (pool, cache) = (pool.clone(), self.cache.clone());
        tokio::spawn(async move {
            loop {
                match sqlx::postgres::PgListener::connect_with(&pool).await {
                    Ok(mut listener) => match listener.listen(AUTH_CHANNEL).await {
                        Ok(()) => loop {
                            match listener.recv().await {
                                Ok(n) => cache.forget_tenant(n.payload()),
                                Err(e) => {
                                    tracing::warn!("credential change listener: {e}");
                                    break;
                                }
                            }
                        },
                        Err(e) => tracing::warn!("credential change listener: {e}"),
                    },
                    Err(e) => tracing::warn!("credential change listener: {e}"),
                }
                // Changes may have been missed meanwhile: trust nothing cached.
                cache.clear();
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    }
}

/// A credential as stored (the secret's hash stays in the store layer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialRecord {
    /// Its id.
    pub id: CredentialId,
    /// `bearer`, `basic` or `oauth_client`.
    pub kind: String,
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
}

/// A credential to store.
#[derive(Clone, Debug)]
pub struct NewCredential {
    /// Its id.
    pub id: CredentialId,
    /// `bearer`, `basic` or `oauth_client`.
    pub kind: &'static str,
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
}

const COLUMNS: &str =
    "c.id, c.kind, c.name, c.prefix, c.created_by, c.created_at, c.expires_at, c.revoked_at, c.last_used_at";

fn from_row<R>(row: &R) -> DomainResult<CredentialRecord>
where
    R: Row,
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<i64>: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(CredentialRecord {
        id: CredentialId::from_store(row.try_get("id")?),
        kind: row.try_get("kind")?,
        name: row.try_get("name")?,
        prefix: row.try_get("prefix")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        revoked_at: row.try_get("revoked_at")?,
        last_used_at: row.try_get("last_used_at")?,
    })
}

impl TenantStore<'_> {
    /// Stores a new credential.
    pub async fn insert_credential(&self, c: &NewCredential) -> DomainResult<()> {
        with_pool!(self.store, |p| {
            sqlx::query(
                "INSERT INTO scim_credentials (tenant_id, id, kind, name, prefix, secret_hash, created_by, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(self.id.as_str())
            .bind(c.id.as_str())
            .bind(c.kind)
            .bind(&c.name)
            .bind(&c.prefix)
            .bind(&c.secret_hash)
            .bind(&c.created_by)
            .bind(c.created_at)
            .bind(c.expires_at)
            .execute(p)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

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
            "SELECT {COLUMNS}, t.scim_enabled FROM scim_credentials c JOIN tenants t ON t.id = c.tenant_id \
             WHERE c.tenant_id = $1 AND c.secret_hash = $2"
        );
        if let Some(found) = self.store.cache.get(self.id.as_str(), secret_hash) {
            return Ok(Some(found));
        }
        let found = with_pool!(self.store, |p| {
            let row = sqlx::query(&sql).bind(self.id.as_str()).bind(secret_hash).fetch_optional(p).await?;
            match row {
                None => DomainResult::Ok(None),
                Some(r) => {
                    Ok(Some(FoundCredential { credential: from_row(&r)?, scim_enabled: r.try_get("scim_enabled")? }))
                }
            }
        })?;
        if let Some(f) = &found {
            self.store.cache.put(self.id.as_str(), secret_hash, f);
        }
        Ok(found)
    }

    /// After a change to the tenant's credentials, SCIM switch, mapping rules or default user
    /// group: drops what is cached of it here and, on PostgreSQL, tells the other instances to.
    pub(crate) async fn cached_settings_changed(&self) -> DomainResult<()> {
        self.store.cache.forget_tenant(self.id.as_str());
        if let Pool::Postgres(p) = &self.store.pool {
            sqlx::query("SELECT pg_notify($1, $2)").bind(AUTH_CHANNEL).bind(self.id.as_str()).execute(p).await?;
        }
        Ok(())
    }

    /// Revokes a credential; returns whether it was active.
    pub async fn revoke_credential(&self, id: &CredentialId, now_ms: i64) -> DomainResult<bool> {
        let n = with_pool!(self.store, |p| {
            sqlx::query(
                "UPDATE scim_credentials SET revoked_at = $1 WHERE tenant_id = $2 AND id = $3 AND revoked_at IS NULL",
            )
            .bind(now_ms)
            .bind(self.id.as_str())
            .bind(id.as_str())
            .execute(p)
            .await
            .map(|r| r.rows_affected())
        })?;
        self.cached_settings_changed().await?;
        Ok(n > 0)
    }

    /// Revokes every credential created by `created_by` (the access tokens of an OAuth client).
    pub async fn revoke_issued_by(&self, created_by: &str, now_ms: i64) -> DomainResult<u64> {
        let n = with_pool!(self.store, |p| {
            sqlx::query(
                "UPDATE scim_credentials SET revoked_at = $1 WHERE tenant_id = $2 AND created_by = $3 AND revoked_at IS NULL",
            )
            .bind(now_ms)
            .bind(self.id.as_str())
            .bind(created_by)
            .execute(p)
            .await
            .map(|r| r.rows_affected())
        })?;
        if n > 0 {
            self.cached_settings_changed().await?;
        }
        Ok(n)
    }

    /// Records a use of the credential.
    pub async fn touch_credential(&self, id: &CredentialId, now_ms: i64) -> DomainResult<()> {
        self.store.cache.touched(self.id.as_str(), id, now_ms);
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

    /// Switches SCIM on or off; returns whether the tenant exists.
    pub async fn set_scim_enabled(&self, enabled: bool, now_ms: i64) -> DomainResult<bool> {
        let n = with_pool!(self.store, |p| {
            sqlx::query("UPDATE tenants SET scim_enabled = $1, updated_at = $2 WHERE id = $3")
                .bind(enabled)
                .bind(now_ms)
                .bind(self.id.as_str())
                .execute(p)
                .await
                .map(|r| r.rows_affected())
        })?;
        self.cached_settings_changed().await?;
        Ok(n > 0)
    }
}
