//! The per-instance cache of what every SCIM request would otherwise ask the database: the
//! credential behind a secret (a third of a GET's database work on SQLite), each tenant's
//! mapping rules and default user group (read before every SCIM user write), and its provisioning
//! safety settings (read by every deprovisioning write); and users as this instance last read or
//! wrote them, which a SCIM write may start from instead of reading the user again (see
//! [`TenantCache::user`]).
//!
//! Written by hand: entries must be dropped by tenant when a credential is revoked, SCIM is
//! switched off, or the rules, default group or safety settings change, which general-purpose
//! caches do not offer by a secondary key without scanning anyway. Such a change through this
//! process drops the tenant's entries at once ([`TenantStore::cached_settings_changed`]); on
//! PostgreSQL it also notifies every other instance (`NOTIFY roster_auth`), which drop them too
//! ([`Store::listen_for_tenant_changes`]). What neither reaches (a `roster scim token revoke` run
//! against the SQLite file of a running server) takes effect within [`CACHE_TTL`]. Unknown secrets
//! are never cached.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{FoundCredential, Pool, RuleRecord, Store, TenantStore, UserRow};
use crate::dto::SafetySettings;
use crate::error::DomainResult;
use crate::ids::CredentialId;

/// How long a cached entry is trusted without asking the database again.
pub const CACHE_TTL: Duration = Duration::from_secs(2);

/// Most entries of one kind (the map starts over when full).
const CACHE_MAX: usize = 10_000;

/// How long a cached user is a write's starting point. A stale copy costs the write only a
/// second try (see [`TenantCache::user`]); the bound keeps copies from another day out of the
/// way of a write that could have been right the first time.
const USER_TTL: Duration = Duration::from_secs(60);

/// Most users cached (all tenants). An IdP reads a user and writes it within moments (Entra ID:
/// a `userName eq` lookup, then a PATCH; Okta: a GET, then a PUT), and a sync's writes follow
/// its reads in the order of its users.
const USER_MAX: usize = 4_096;

/// A user's resource bigger than this is not cached: at most 16 MB of copies, whatever an IdP
/// sends (an Entra ID user with the enterprise extension is about 1 KB).
const USER_MAX_BYTES: usize = 4 * 1024;

/// How long the deprovisioning brake trusts its count of a tenant's users (active now plus those
/// who lost access in the window, i.e. active at the window's start). Counting is a walk over
/// the tenant's users (16 ms at 20,000, most of a deactivation's time, under the brake's lock);
/// the brake's limit is a share of that population, which moves by a few users in seconds.
pub const BRAKE_POPULATION_TTL: Duration = Duration::from_secs(10);

/// The PostgreSQL channel on which instances announce changes of cached tenant settings.
const CHANNEL: &str = "roster_auth";

/// A tenant's mapping rules (all, in order) and default user group.
pub type Placement = (Vec<RuleRecord>, Option<String>);

/// A map whose entries expire after [`CACHE_TTL`].
#[derive(Debug)]
struct Timed<K, V>(Mutex<HashMap<K, (Instant, V)>>);

impl<K, V> Default for Timed<K, V> {
    fn default() -> Self {
        Timed(Mutex::new(HashMap::new()))
    }
}

impl<K: Eq + Hash, V: Clone> Timed<K, V> {
    fn get(&self, key: &K) -> Option<V> {
        self.get_within(key, CACHE_TTL)
    }

    /// The entry, if put less than `ttl` ago.
    fn get_within(&self, key: &K, ttl: Duration) -> Option<V> {
        let map = self.0.lock().ok()?;
        map.get(key).filter(|(at, _)| at.elapsed() < ttl).map(|(_, v)| v.clone())
    }

    fn put(&self, key: K, value: V) {
        self.put_bounded(key, value, CACHE_MAX)
    }

    /// [`Self::put`] into a map of at most `max` entries.
    fn put_bounded(&self, key: K, value: V, max: usize) {
        if let Ok(mut map) = self.0.lock() {
            if map.len() >= max && !map.contains_key(&key) {
                map.clear();
            }
            map.insert(key, (Instant::now(), value));
        }
    }

    fn remove(&self, key: &K) {
        if let Ok(mut map) = self.0.lock() {
            map.remove(key);
        }
    }

    /// Keeps the entries `keep` says to (it may also change them).
    fn retain(&self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        if let Ok(mut map) = self.0.lock() {
            map.retain(|k, (_, v)| keep(k, v));
        }
    }
}

/// See the module documentation.
///
/// A read that missed the cache fills it only if nothing was dropped since it began
/// ([`TenantCache::epoch`]): else a request that read a credential or the rules just before a
/// change committed could put the old value back right after the change dropped it.
#[derive(Debug, Default)]
pub struct TenantCache {
    credentials: Timed<(String, String), FoundCredential>,
    placement: Timed<String, Placement>,
    safety: Timed<String, SafetySettings>,
    /// Each tenant's users active at the start of the brake's window, as last counted (see
    /// [`BRAKE_POPULATION_TTL`]).
    brake_population: Timed<String, u64>,
    /// Users by tenant and id, as last read or written here.
    users: Timed<(String, String), UserRow>,
    /// Counts the drops; a fill names the count its read began at.
    epoch: std::sync::atomic::AtomicU64,
    /// PostgreSQL: this instance's listener hears other instances' changes now.
    listening: std::sync::atomic::AtomicBool,
}

impl TenantCache {
    /// Take this before reading what is to be cached, and hand it to the fill.
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn current(&self, epoch: u64) -> bool {
        self.epoch() == epoch
    }

    pub(crate) fn credential(&self, tenant: &str, secret_hash: &str) -> Option<FoundCredential> {
        self.credentials.get(&(tenant.to_string(), secret_hash.to_string()))
    }

    pub(crate) fn put_credential(&self, epoch: u64, tenant: &str, secret_hash: &str, found: &FoundCredential) {
        if self.current(epoch) {
            self.credentials.put((tenant.to_string(), secret_hash.to_string()), found.clone());
        }
    }

    /// Keeps a cached credential's last use in step with the stored one.
    pub(crate) fn credential_used(&self, tenant: &str, id: &CredentialId, at: i64) {
        self.credentials.retain(|(t, _), found| {
            if t == tenant && found.credential.id == *id {
                found.credential.last_used_at = Some(at);
            }
            true
        });
    }

    pub(crate) fn placement(&self, tenant: &str) -> Option<Placement> {
        self.placement.get(&tenant.to_string())
    }

    pub(crate) fn put_placement(&self, epoch: u64, tenant: &str, settings: &Placement) {
        if self.current(epoch) {
            self.placement.put(tenant.to_string(), settings.clone());
        }
    }

    pub(crate) fn safety(&self, tenant: &str) -> Option<SafetySettings> {
        self.safety.get(&tenant.to_string())
    }

    pub(crate) fn put_safety(&self, epoch: u64, tenant: &str, settings: &SafetySettings) {
        if self.current(epoch) {
            self.safety.put(tenant.to_string(), settings.clone());
        }
    }

    pub(crate) fn brake_population(&self, tenant: &str) -> Option<u64> {
        self.brake_population.get_within(&tenant.to_string(), BRAKE_POPULATION_TTL)
    }

    pub(crate) fn put_brake_population(&self, tenant: &str, population: u64) {
        self.brake_population.put(tenant.to_string(), population);
    }

    /// A user as this instance last read or wrote them (within [`USER_TTL`]), for a write to
    /// start from instead of reading the user again — never to answer a read (another instance
    /// may have written the user since). Nothing drops a user changed elsewhere, and nothing
    /// needs to: a write replaces only the [`ReadVersion`](super::ReadVersion) it started from,
    /// so one that started from an out-of-date copy changes nothing and is tried again from the
    /// stored user ([`crate::error::DomainError::Stale`]).
    pub(crate) fn user(&self, tenant: &str, id: &str) -> Option<UserRow> {
        self.users.get_within(&(tenant.to_string(), id.to_string()), USER_TTL)
    }

    /// Keeps a user as read or written now (see [`Self::user`]).
    pub(crate) fn put_user(&self, tenant: &str, row: &UserRow) {
        if row.data.len() <= USER_MAX_BYTES {
            self.users.put_bounded((tenant.to_string(), row.id.clone()), row.clone(), USER_MAX);
        }
    }

    /// Drops a user (deleted, or found out of date).
    pub(crate) fn forget_user(&self, tenant: &str, id: &str) {
        self.users.remove(&(tenant.to_string(), id.to_string()));
    }

    /// Drops everything cached of a tenant.
    pub fn forget_tenant(&self, tenant: &str) {
        self.epoch.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.credentials.retain(|(t, _), _| t != tenant);
        self.placement.retain(|t, _| t != tenant);
        self.safety.retain(|t, _| t != tenant);
        self.brake_population.retain(|t, _| t != tenant);
        self.users.retain(|(t, _), _| t != tenant);
    }

    fn clear(&self) {
        self.epoch.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.credentials.retain(|_, _| false);
        self.placement.retain(|_, _| false);
        self.safety.retain(|_, _| false);
        self.brake_population.retain(|_, _| false);
        self.users.retain(|_, _| false);
    }

    /// PostgreSQL: whether this instance hears other instances' changes now (its listener is
    /// connected; what it cached before that was dropped).
    pub fn is_listening(&self) -> bool {
        self.listening.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Whether a tenant's safety settings are cached (for tests and diagnostics).
    pub fn safety_cached(&self, tenant: &str) -> bool {
        self.safety.0.lock().map(|m| m.contains_key(tenant)).unwrap_or(false)
    }

    /// How many credentials of a tenant are cached (for tests and diagnostics).
    pub fn cached_for(&self, tenant: &str) -> usize {
        self.credentials.0.lock().map(|m| m.keys().filter(|(t, _)| t == tenant).count()).unwrap_or(0)
    }
}

impl Store {
    /// On PostgreSQL, listens for changes of cached settings made by other instances and drops
    /// what is cached of the tenants named (call once per server process; a no-op on SQLite,
    /// whose file one server owns). Runs until the process ends, reconnecting as needed.
    pub fn listen_for_tenant_changes(&self) {
        let Pool::Postgres(pool) = &self.pool else { return };
        let (pool, cache) = (pool.clone(), self.cache.clone());
        tokio::spawn(async move {
            loop {
                match sqlx::postgres::PgListener::connect_with(&pool).await {
                    Ok(mut listener) => match listener.listen(CHANNEL).await {
                        Ok(()) => {
                            // What was cached before this point may have changed unheard.
                            cache.clear();
                            cache.listening.store(true, std::sync::atomic::Ordering::SeqCst);
                            loop {
                                match listener.recv().await {
                                    Ok(n) => cache.forget_tenant(n.payload()),
                                    Err(e) => {
                                        tracing::warn!("tenant change listener: {e}");
                                        break;
                                    }
                                }
                            }
                        }
                        Err(e) => tracing::warn!("tenant change listener: {e}"),
                    },
                    Err(e) => tracing::warn!("tenant change listener: {e}"),
                }
                // Changes may have been missed meanwhile: trust nothing cached.
                cache.listening.store(false, std::sync::atomic::Ordering::SeqCst);
                cache.clear();
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    }

    /// The cache of credentials and placement settings.
    pub fn tenant_cache(&self) -> &TenantCache {
        &self.cache
    }
}

impl TenantStore<'_> {
    /// After a change to the tenant's credentials, SCIM switch, mapping rules, default user
    /// group or safety settings: drops what is cached of it here and, on PostgreSQL, tells the
    /// other instances to.
    pub(crate) async fn cached_settings_changed(&self) -> DomainResult<()> {
        self.store.cache.forget_tenant(self.id.as_str());
        if let Pool::Postgres(p) = &self.store.pool {
            sqlx::query("SELECT pg_notify($1, $2)").bind(CHANNEL).bind(self.id.as_str()).execute(p).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_from_before_a_change_does_not_fill_the_cache_after_it() {
        let cache = TenantCache::default();
        let old: Placement = (Vec::new(), Some("old-default".into()));
        // A read began, then a change dropped the tenant: its (old) answer is not kept.
        let epoch = cache.epoch();
        cache.forget_tenant("t");
        cache.put_placement(epoch, "t", &old);
        assert_eq!(cache.placement("t"), None);
        // A read that began after the change fills it.
        let epoch = cache.epoch();
        cache.put_placement(epoch, "t", &old);
        assert_eq!(cache.placement("t"), Some(old));
    }

    fn user(id: &str, version: i64, data: String) -> UserRow {
        UserRow {
            id: id.into(),
            user_name: format!("{id}@x.test"),
            source: crate::dto::UserSource::Scim,
            data,
            version,
            created_at: 1,
            updated_at: version,
        }
    }

    #[test]
    fn users_are_kept_by_tenant_and_id_within_bounds() {
        let cache = TenantCache::default();
        let ada = user("ada", 1, "{}".into());
        cache.put_user("t", &ada);
        assert_eq!(cache.user("t", "ada"), Some(ada.clone()));
        assert_eq!(cache.user("other", "ada"), None, "another tenant's user of that id is not this one");
        // The latest write replaces the copy.
        let newer = user("ada", 2, "{}".into());
        cache.put_user("t", &newer);
        assert_eq!(cache.user("t", "ada"), Some(newer));
        cache.forget_user("t", "ada");
        assert_eq!(cache.user("t", "ada"), None);
        // A big resource is not copied.
        cache.put_user("t", &user("big", 1, "x".repeat(USER_MAX_BYTES + 1)));
        assert_eq!(cache.user("t", "big"), None);
        // A tenant's settings changing drops its users; a full map starts over.
        cache.put_user("t", &ada);
        cache.put_user("u", &ada);
        cache.forget_tenant("t");
        assert_eq!((cache.user("t", "ada").is_some(), cache.user("u", "ada").is_some()), (false, true));
        for i in 0..USER_MAX {
            cache.put_user("t", &user(&format!("n{i}"), 1, "{}".into()));
        }
        assert!(cache.users.0.lock().unwrap().len() <= USER_MAX);
        assert_eq!(cache.user("u", "ada"), None, "started over when full");
    }
}
