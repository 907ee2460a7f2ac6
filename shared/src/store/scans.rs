//! Expensive searches: the SCIM filters that cannot be answered from an index (substring
//! searches, attributes inside the JSON document, multi-valued attributes) and so scan a
//! tenant's rows.
//!
//! Without limits one tenant could stall the others: ten concurrent worst-case filters would
//! hold every pooled connection while they scan, and a request abandoned at its timeout would
//! keep its statement running in the database. So a scan
//! * runs on connections of its own (a small second pool), never on those the cheap requests
//!   and the writes of every tenant share;
//! * is admitted only [`PER_TENANT`] at a time per tenant on this instance, so one tenant
//!   cannot take all of them; a request that waits longer than [`ADMISSION_WAIT`] gets
//!   `DomainError::Busy` (SCIM: 429 with Retry-After);
//! * stops in the database at its time limit: SQLite through a progress handler that
//!   interrupts the statement, PostgreSQL through `statement_timeout` on these connections.
//!   Both surface as `DomainError::Unavailable` (SCIM: 503 with Retry-After).
//!
//! Why a second pool and not a semaphore over the main one: a semaphore bounds how many
//! connections scans take but still lets them take some of the main pool's; a pool of their
//! own keeps writes and indexed reads untouched, and lets its connections carry a statement
//! timeout that would be wrong for migrations and batch jobs on the main pool.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::{Postgres, Sqlite};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::{DomainError, DomainResult};
use crate::ids::TenantId;

use super::Pool;

/// How many scans one tenant may run at once on one instance.
pub const PER_TENANT: usize = 2;
/// Connections of the scan pool (per instance).
const POOL_SIZE: u32 = 4;
/// How long a scan waits for its turn before the caller is told to retry.
pub const ADMISSION_WAIT: Duration = Duration::from_secs(2);
/// The default time limit of one scan statement.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(25);

/// The scan pool, its admission and its time limit.
#[derive(Debug)]
pub(crate) struct Scans {
    pool: Pool,
    /// Whether `pool` is the scans' own (not the main pool, shared for in-memory SQLite).
    own_pool: bool,
    timeout: Duration,
    tenants: Mutex<HashMap<String, Arc<Semaphore>>>,
}

/// A connection of the scan pool, admitted for one tenant. Dropping it releases both.
pub(crate) struct ScanConn {
    pub conn: ScanConnection,
    _permit: OwnedSemaphorePermit,
}

/// The connection, by backend.
pub(crate) enum ScanConnection {
    Sqlite(PoolConnection<Sqlite>),
    Postgres(PoolConnection<Postgres>),
}

impl Scans {
    /// (open connections, idle ones, the most) of the scan pool, for `/metrics`.
    pub(crate) fn pool_usage(&self) -> (u32, u32, u32) {
        match &self.pool {
            Pool::Sqlite(p) => (p.size(), p.num_idle() as u32, p.options().get_max_connections()),
            Pool::Postgres(p) => (p.size(), p.num_idle() as u32, p.options().get_max_connections()),
        }
    }

    /// Opens the scan pool next to the main one (same database).
    pub(crate) async fn open(url: &str, main: &Pool, timeout: Duration) -> DomainResult<Scans> {
        let mut own_pool = true;
        let pool = match main {
            Pool::Sqlite(main) => {
                let opts = SqliteConnectOptions::from_str(url)
                    .map_err(|e| DomainError::Invalid(format!("bad SQLite URL {url:?}: {e}")))?;
                if opts.get_filename().as_os_str() == ":memory:" || url.contains("mode=memory") {
                    // An in-memory database exists once per connection: scans must share the
                    // main pool's (and then cannot carry a progress handler meant for one scan).
                    own_pool = false;
                    Pool::Sqlite(main.clone())
                } else {
                    Pool::Sqlite(
                        SqlitePoolOptions::new()
                            .max_connections(POOL_SIZE)
                            .acquire_timeout(ADMISSION_WAIT)
                            .test_before_acquire(false)
                            .connect_lazy_with(opts.read_only(true)),
                    )
                }
            }
            Pool::Postgres(_) => {
                let opts = super::pg_conns::options(url, "roster-scans")?
                    .options([("statement_timeout", format!("{}", timeout.as_millis()))]);
                Pool::Postgres(
                    PgPoolOptions::new()
                        .max_connections(POOL_SIZE)
                        .acquire_timeout(ADMISSION_WAIT)
                        .connect_lazy_with(opts),
                )
            }
        };
        Ok(Scans { pool, own_pool, timeout, tenants: Mutex::new(HashMap::new()) })
    }

    /// Waits (at most [`ADMISSION_WAIT`]) for the tenant's turn and a connection whose
    /// statements stop at the time limit.
    pub(crate) async fn begin(&self, tenant: &TenantId) -> DomainResult<ScanConn> {
        let started = Instant::now();
        let semaphore = {
            let mut tenants = self.tenants.lock().unwrap_or_else(|p| p.into_inner());
            // Forget tenants nobody is scanning for, so the map stays as small as the load.
            tenants.retain(|_, s| Arc::strong_count(s) > 1);
            tenants.entry(tenant.as_str().to_string()).or_insert_with(|| Arc::new(Semaphore::new(PER_TENANT))).clone()
        };
        let permit = match tokio::time::timeout(ADMISSION_WAIT, semaphore.acquire_owned()).await {
            Ok(Ok(p)) => p,
            _ => {
                return Err(DomainError::Busy(format!(
                    "This organization already runs {PER_TENANT} searches that scan its whole directory; \
                     retry in a moment, or filter on userName, externalId or id, which are indexed."
                )))
            }
        };
        let left = ADMISSION_WAIT.saturating_sub(started.elapsed()).max(Duration::from_millis(100));
        let conn = match &self.pool {
            Pool::Sqlite(p) => {
                let mut conn = tokio::time::timeout(left, p.acquire())
                    .await
                    .map_err(|_| DomainError::Unavailable("no scan connection in time".into()))??;
                let deadline = Instant::now() + self.timeout;
                if self.own_pool {
                    // Replaces the handler the connection's last scan left: SQLite calls it every
                    // few thousand VM steps, and it stops the statement once the deadline has passed,
                    // even if the request that started it has been dropped meanwhile.
                    conn.lock_handle().await?.set_progress_handler(4_000, move || Instant::now() < deadline);
                }
                ScanConnection::Sqlite(conn)
            }
            Pool::Postgres(p) => ScanConnection::Postgres(
                tokio::time::timeout(left, p.acquire())
                    .await
                    .map_err(|_| DomainError::Unavailable("no scan connection in time".into()))??,
            ),
        };
        Ok(ScanConn { conn, _permit: permit })
    }

    /// Closes the scan pool.
    pub(crate) async fn close(&self) {
        match &self.pool {
            Pool::Sqlite(p) => p.close().await,
            Pool::Postgres(p) => p.close().await,
        }
    }
}
