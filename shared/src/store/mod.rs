//! Storage: one [`Store`] over SQLite (embedded default) or PostgreSQL (production, several
//! instances), chosen by the database URL's scheme.
//!
//! Why not `sqlx::Any`: it cannot carry the backend-specific session stores, and it erases the
//! types we rely on. Instead each query is written once, in the SQL both backends accept
//! (`$1` placeholders, `RETURNING`, `ON CONFLICT`, epoch-millisecond `BIGINT` timestamps), and
//! [`with_pool!`] compiles the call once per backend. Where the dialects really differ, a
//! `match` on [`Backend`] says so in place.
//!
//! Tenant-scoped data is reachable only through a [`TenantStore`] handle (`store.tenant(&id)`),
//! whose every statement filters on `tenant_id`.

mod accounts;
mod activity;
mod cache;
mod counts;
mod credentials;
mod direct;
mod directory;
mod events;
mod filter_sql;
mod groups;
mod invitations;
mod jobs;
mod lifecycle;
pub(crate) mod mappings;
mod migrations;
mod notices;
mod ops;
mod pg_conns;
pub use pg_conns::SIZE as PG_HOT_CONNECTIONS;
mod query;
mod safety;
mod scans;
mod sessions;
mod sso;
mod support;
mod tenants;
mod tx;
mod user_groups;
mod users;
mod writer;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

pub use accounts::{AccountRecord, NewAccount, SignInOutcome};
pub use activity::{NewActivity, MOVE_BATCH};
pub use cache::{TenantCache, BRAKE_POPULATION_TTL, CACHE_TTL};
pub use credentials::{CredentialRecord, FoundCredential, NewCredential};
pub use events::{
    user_group_access_sql, ApiKeyRecord, DeliveryRecord, EndpointRecord, EventRecord, NewEndpoint, NewEvent,
    SEQUENCER_SETTINGS, SEQUENCER_STATEMENTS, VACUUM_AFTER,
};
pub(crate) use filter_sql::{compile as compile_filter, sort_expr, Sql, Table};
pub use filter_sql::{filter_sql, FilterSql};
pub use groups::{GroupColumns, GroupRow, MemberRow};
pub use invitations::InvitationRecord;
pub use jobs::{JobFilter, JobRecord, NewJob, Purge};
pub use lifecycle::TenantFacts;
pub use mappings::{
    direct_groups_sql, rule_memberships_sql, DIRECT_GROUPS_RANGE_SQL, PLACEMENT_VACUUM_AFTER,
    RULE_MEMBERSHIPS_RANGE_SQL,
};
pub use ops::MigrationState;
pub use query::Page;
pub(crate) use query::Query;
pub use safety::{DeletedRecord, HeldRecord, ManualForAdoption, NewHeld, RefusalRecord, SeatUsage};
pub use users::{NewUserRow, ReadVersion, UserColumns, UserGroupRow, UserRow};

/// `$first, $first+1, …` for `n` values (an `IN (…)` list of bound parameters).
pub(crate) fn placeholders(first: usize, n: usize) -> String {
    (first..first + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// The `VALUES` list of a multi-row `INSERT`: `rows` rows of `columns` parameters, numbered
/// (`($1, $2), ($3, $4)`) or, on SQLite, anonymous (`(?, ?), (?, ?)`). SQLite gets `?`s because
/// sqlx looks every numbered parameter up by name and SQLite finds a name by scanning the
/// statement's list: 3,200 numbered parameters cost millions of steps a batch (it was 43% of the
/// server's CPU under SCIM load). Each value is bound once, in order, so `?` binds the same.
pub(crate) fn value_rows(rows: usize, columns: usize, anonymous: bool) -> String {
    if !anonymous {
        return value_rows_from(rows, columns, 1);
    }
    let row = format!("({})", vec!["?"; columns].join(", "));
    vec![row; rows].join(", ")
}

/// [`value_rows`] numbered from `$first`.
pub(crate) fn value_rows_from(rows: usize, columns: usize, first: usize) -> String {
    (0..rows)
        .map(|r| {
            let cols: Vec<String> = (0..columns).map(|c| format!("${}", first + r * columns + c)).collect();
            format!("({})", cols.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// ASCII lower-casing: how userName, displayName and emails are normalized for lookups (the
/// same folding SQL's `lower` does on both backends).
pub fn fold_ascii(s: &str) -> String {
    filter_sql::fold(s)
}
pub use counts::UserCounts;
pub use directory::{
    sparse_page_sql, users_order, DirectoryPage, DirectoryRow, SortKey, COUNT_CAP, SEARCH_MOVE_BATCH,
    SEARCH_QUEUE_APPLIED, SEARCH_QUEUE_END,
};
pub use mappings::{PlacementCheck, PlacementInputs, RuleConditions, RuleMembership, RuleRecord, ToPlace};
pub use sessions::SessionBackend;
pub use sso::{ConnectionRecord, DomainRow, FlowRecord, NewSignIn};
pub use tenants::{NewTenant, TenantStore};
pub use tx::TenantTx;
pub use user_groups::{MembershipRecord, UserGroupRecord};

use crate::error::{DomainError, DomainResult};
use crate::ids::TenantId;

/// Which database engine a [`Store`] talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// SQLite, a file under `./data` by default.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

#[derive(Clone, Debug)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the concrete pool of `$store`; the body is compiled once
/// per backend, so it must be SQL both accept.
macro_rules! with_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.pool {
            $crate::store::Pool::Sqlite($pool) => $body,
            $crate::store::Pool::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_pool;

/// Runs `$body` with `$c` a connection of the scan pool admitted for tenant `$tenant` (see
/// [`scans`]: a scan of the tenant's rows, stopped at its time limit), like [`with_pool!`].
macro_rules! with_scan {
    ($store:expr, $tenant:expr, |$c:ident| $body:expr) => {{
        let mut scan = $store.scans.begin($tenant).await?;
        match &mut scan.conn {
            $crate::store::scans::ScanConnection::Sqlite($c) => {
                let $c = &mut **$c;
                $body
            }
            $crate::store::scans::ScanConnection::Postgres($c) => {
                let $c = &mut **$c;
                $body
            }
        }
    }};
}
pub(crate) use with_scan;

/// Runs `$body` with `$c` the executor of a short read: in place on a [`direct::Direct`] read
/// connection where there is one (SQLite on a file; inside, `sqlx` names [`direct::shim`]), on
/// one of [`pg_conns`]'s on PostgreSQL (see [`with_pg_conn!`]), else on the pool, like
/// [`with_pool!`]. Only for reads bounded by an index (a point lookup,
/// a `LIMIT` of a few rows): a read that may scan a large tenant would hold a runtime thread.
/// Its rows are read with [`direct::DbRow`] readers.
macro_rules! with_read {
    ($store:expr, |$c:ident| $body:expr) => {
        match $store.direct.as_deref() {
            Some(direct) => {
                let mut conn = direct.read()?;
                let $c = &mut *conn;
                #[allow(unused_imports)]
                use $crate::store::direct::shim as sqlx;
                $body
            }
            None => match $store.pg_conns.as_ref() {
                Some(conns) => $crate::store::with_pg_conn!(conns, |$c| $body),
                None => $crate::store::with_pool!($store, |$c| $body),
            },
        }
    };
}
pub(crate) use with_read;

/// Runs `$body` with `$c` a `&mut PgConnection` of the hot requests' own (`$conns`, see
/// [`pg_conns`]): one or more autocommit statements, no transaction, each statement's error
/// leaving the body through `?`. The connection goes back for the next request when the body
/// ends with a value (its statements finished), and is closed when it left through `?`.
macro_rules! with_pg_conn {
    ($conns:expr, |$c:ident| $body:expr) => {{
        let mut conn = $conns.acquire().await?;
        let $c: &mut sqlx::PgConnection = &mut *conn;
        let out = $body;
        conn.release();
        out
    }};
}
pub(crate) use with_pg_conn;

/// The database, shared by every request (cheap to clone: it holds a connection pool).
#[derive(Clone, Debug)]
pub struct Store {
    pub(crate) pool: Pool,
    /// Connections and admission for expensive searches (see [`scans`]).
    pub(crate) scans: std::sync::Arc<scans::Scans>,
    /// Credentials and placement settings recently read (see [`TenantCache`]).
    pub(crate) cache: std::sync::Arc<TenantCache>,
    /// Wakes this instance's job runner when a job is enqueued here (others poll).
    pub(crate) jobs_wake: std::sync::Arc<tokio::sync::Notify>,
    /// Wakes this instance's webhook delivery when a write here committed events (others poll).
    pub(crate) events_wake: std::sync::Arc<tokio::sync::Notify>,
    /// PostgreSQL: the pending events this instance's sequencers took since `pending_events`
    /// was last vacuumed (see [`events::QueueVacuum`]).
    pub(crate) pending_vacuum: std::sync::Arc<events::QueueVacuum>,
    /// PostgreSQL: this instance's sequencer passes take turns here (see
    /// [`events::SequencerTurn`]).
    pub(crate) sequencer_turn: std::sync::Arc<events::SequencerTurn>,
    /// This instance's SCIM writes of one user take turns here (see [`users::UserWriteTurns`]).
    pub(crate) user_write_turns: std::sync::Arc<users::UserWriteTurns>,
    /// SQLite: this process's transactions take turns here before `BEGIN IMMEDIATE`, and the
    /// writer connection and its group commit live here (see [`writer`]). SQLite has one writer
    /// anyway; waiting in a fair queue of tasks instead of in the busy handler (each waiter
    /// polling the lock from its connection's thread, holding a pooled connection) kept the two
    /// cores for the writer and the pool's connections for readers.
    pub(crate) sqlite_writer: std::sync::Arc<writer::Writer>,
    /// SQLite on a file: the hot point reads, run in place (see [`direct`]).
    pub(crate) direct: Option<std::sync::Arc<direct::Direct>>,
    /// PostgreSQL: the connections of the hot one-statement requests (see [`pg_conns`]).
    pub(crate) pg_conns: Option<std::sync::Arc<pg_conns::PgConns>>,
}

/// A unique constraint of ours that a write can violate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unique {
    AccountEmail,
    ScimUserName,
    UserGroupName,
    SsoIdpKey,
    VerifiedDomain,
}

impl Unique {
    const ALL: [(Unique, &'static str, &'static str); 5] = [
        (Unique::AccountEmail, "console_accounts_email_key", "console_accounts.email_normalized"),
        (Unique::ScimUserName, "scim_users_user_name", "scim_users.tenant_id, scim_users.user_name_norm"),
        (Unique::UserGroupName, "user_groups_name_key", "user_groups.tenant_id, user_groups.name_norm"),
        (Unique::SsoIdpKey, "sso_connections_idp_key", "sso_connections.idp_key"),
        (Unique::VerifiedDomain, "tenant_domains_verified", "tenant_domains.domain"),
    ];
}

/// Maps a unique-constraint violation to the constraint it names, so that callers turn it into
/// a clear client error instead of matching message strings themselves. PostgreSQL names the
/// constraint; SQLite names the table and column in its message.
pub(crate) fn unique_violation(e: &sqlx::Error) -> Option<Unique> {
    let db = e.as_database_error()?;
    if !db.is_unique_violation() {
        return None;
    }
    let constraint = db.constraint();
    let message = db.message();
    Unique::ALL.iter().find(|(_, pg, lite)| constraint == Some(*pg) || message.contains(lite)).map(|(u, _, _)| *u)
}

/// How SQLite waits for another connection's write to finish.
///
/// SQLite's built-in handler (what `busy_timeout` installs) sleeps 1, 2, 5, 10, 15, 20, 25 ms
/// and so on between attempts. A SCIM write holds the lock for well under a millisecond, so with
/// several connections writing at once a waiting writer overslept by tens of milliseconds (the
/// benchmark's writes had a p99 of 36 ms) and the single writer sat idle meanwhile. This handler
/// tries again after 50 µs, doubling to at most 1 ms, and gives up (`SQLITE_BUSY`) after 10,000
/// attempts, about 10 s, like the `busy_timeout` it replaces. It runs on the connection's own
/// worker thread (sqlx gives each SQLite connection one), so sleeping there blocks no task.
extern "C" fn sqlite_busy_handler(_: *mut std::ffi::c_void, attempts: std::ffi::c_int) -> std::ffi::c_int {
    if attempts >= 10_000 {
        return 0;
    }
    let micros = (50u64 << attempts.clamp(0, 5)).min(1000);
    std::thread::sleep(Duration::from_micros(micros));
    1
}

/// Settings of a [`Store`] beyond its URL.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// The time limit of one expensive search statement (it is stopped in the database then).
    pub scan_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions { scan_timeout: scans::DEFAULT_TIMEOUT }
    }
}

/// How long a request waits for a pooled connection before it is answered "unavailable, retry"
/// (a 503 with Retry-After) instead of hanging.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

impl Store {
    /// Connects to `url` with the default [`StoreOptions`].
    pub async fn connect(url: &str) -> DomainResult<Store> {
        Store::connect_with(url, StoreOptions::default()).await
    }

    /// Connects to `url`: `sqlite://path/to/file.db` (created, with its folder, if missing) or
    /// `postgres://…` / `postgresql://…`. Does not migrate; call [`Store::migrate`].
    pub async fn connect_with(url: &str, options: StoreOptions) -> DomainResult<Store> {
        let pool = Store::connect_pool(url).await?;
        let scans = scans::Scans::open(url, &pool, options.scan_timeout).await?;
        let direct = match &pool {
            Pool::Sqlite(_) => {
                let opts = SqliteConnectOptions::from_str(url)
                    .map_err(|e| DomainError::Invalid(format!("bad SQLite URL {url:?}: {e}")))?;
                let file = opts.get_filename();
                (file.as_os_str() != ":memory:" && !url.contains("mode=memory"))
                    .then(|| std::sync::Arc::new(direct::Direct::new(file.to_path_buf())))
            }
            Pool::Postgres(_) => None,
        };
        let pg_conns = match &pool {
            Pool::Postgres(_) => Some(pg_conns::PgConns::new(url)?),
            Pool::Sqlite(_) => None,
        };
        Ok(Store {
            pool,
            scans: std::sync::Arc::new(scans),
            cache: Default::default(),
            jobs_wake: Default::default(),
            events_wake: Default::default(),
            pending_vacuum: Default::default(),
            sequencer_turn: Default::default(),
            user_write_turns: Default::default(),
            sqlite_writer: Default::default(),
            direct,
            pg_conns,
        })
    }

    /// Runs `work`, a long write whose statements run in place on SQLite's writer connection
    /// (a [`TenantStore::begin`] transaction over many users), without holding one of the
    /// runtime's workers: tokio's `block_in_place` hands the worker's other tasks to another
    /// thread first, then `work` runs here to its end. Elsewhere (PostgreSQL, an in-memory
    /// SQLite database, whose statements go through the network or sqlx's thread, or a
    /// current-thread runtime, which cannot hand its tasks over) it is awaited as it is. The
    /// thread hands what `work` freed back to the system afterwards ([`crate::memory`]): it
    /// may sit idle next, keeping it.
    pub(crate) async fn run_long<F: std::future::Future>(&self, work: F) -> F::Output {
        use tokio::runtime::{Handle, RuntimeFlavor};
        match Handle::try_current() {
            Ok(handle) if self.direct.is_some() && handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| {
                    let out = handle.block_on(work);
                    crate::memory::release_freed();
                    out
                })
            }
            _ => work.await,
        }
    }

    async fn connect_pool(url: &str) -> DomainResult<Pool> {
        if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)
                .map_err(|e| DomainError::Invalid(format!("bad SQLite URL {url:?}: {e}")))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // Every COMMIT syncs the WAL: see `Direct::writer`.
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(Duration::from_secs(10))
                // Checkpoint the WAL every 10,000 pages (about 40 MB) rather than 1,000: a user
                // row touches a dozen index pages, so small checkpoints came every hundred
                // writes, each with an fsync, and rewrote the same hot pages again and again.
                .pragma("wal_autocheckpoint", "10000")
                .foreign_keys(true);
            if let Some(dir) = opts.get_filename().parent() {
                if !dir.as_os_str().is_empty() {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| DomainError::Internal(format!("cannot create {}: {e}", dir.display())))?;
                }
            }
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                // A connection to a local file does not go stale; pinging it before every
                // query was one more round trip to its worker thread per query.
                .test_before_acquire(false)
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        let mut handle = conn.lock_handle().await?;
                        // SAFETY: a live connection whose lock we hold; the handler is a plain
                        // function without user data, valid for the program's lifetime.
                        unsafe {
                            libsqlite3_sys::sqlite3_busy_handler(
                                handle.as_raw_handle().as_ptr(),
                                Some(sqlite_busy_handler),
                                std::ptr::null_mut(),
                            );
                        }
                        Ok(())
                    })
                })
                .connect_with(opts)
                .await?;
            Ok(Pool::Sqlite(pool))
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                // sqlx pings a connection when it hands it out and when it is given back: a
                // transaction or a background job can afford the two round trips; the hot
                // one-statement requests use `pg_conns` instead.
                .connect_with(pg_conns::options(url, "roster")?)
                .await?;
            Ok(Pool::Postgres(pool))
        } else {
            Err(DomainError::Invalid(format!("unsupported database URL {url:?}: use sqlite://… or postgres://…")))
        }
    }

    /// The SQL dialect the SCIM filter compiler writes for this store.
    pub(crate) fn dialect(&self) -> filter_sql::Dialect {
        match self.backend() {
            Backend::Sqlite => filter_sql::Dialect::Sqlite,
            Backend::Postgres => filter_sql::Dialect::Postgres,
        }
    }

    /// Which engine this store talks to.
    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// Applies the embedded migrations of this backend that are not applied yet. Safe to run
    /// from several instances at once on PostgreSQL (sqlx takes an advisory lock).
    pub async fn migrate(&self) -> DomainResult<()> {
        match &self.pool {
            Pool::Sqlite(p) => migrations::sqlite().run(p).await?,
            Pool::Postgres(p) => migrations::postgres().run(p).await?,
        }
        Ok(())
    }

    /// Checks that the database answers (for `/readyz`).
    pub async fn ping(&self) -> DomainResult<()> {
        with_pool!(self, |p| sqlx::query("SELECT 1").execute(p).await.map(|_| ()))?;
        Ok(())
    }

    /// Settles the database after a bulk write, as a database grown by its API's writes is (the
    /// load benchmark calls this after its bulk seed): PostgreSQL's planner statistics and
    /// visibility map (autovacuum does both on its own schedule, a bulk insert included);
    /// SQLite's users' search index merged ([`Self::merge_search_index`]: the API's own writes
    /// merge it as they go, a seed of 10,000 users a transaction leaves that to the writes
    /// after it). SQLite's planner works from the schema alone here.
    pub async fn analyze(&self) -> DomainResult<()> {
        match &self.pool {
            Pool::Postgres(p) => {
                sqlx::query("VACUUM (ANALYZE)").execute(p).await?;
            }
            Pool::Sqlite(_) => self.merge_search_index().await?,
        }
        Ok(())
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        if let Some(direct) = &self.direct {
            direct.close();
        }
        self.scans.close().await;
        if let Some(conns) = &self.pg_conns {
            conns.close().await;
        }
        with_pool!(self, |p| p.close().await)
    }

    /// The tower-sessions store for dashboard sessions, in this same database.
    pub fn session_store(&self) -> SessionBackend {
        SessionBackend::new(&self.pool)
    }

    /// The handle through which every tenant-scoped read and write goes.
    pub fn tenant<'a>(&'a self, id: &'a TenantId) -> TenantStore<'a> {
        TenantStore::new(self, id)
    }
}
