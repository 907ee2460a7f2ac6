//! A write of one tenant's data that spans several statements: [`TenantTx`].
//!
//! `store.tenant(&id).begin()` opens a transaction scoped to the tenant; its typed methods
//! (in the resource modules: `insert_user`, `update_group`, `apply_placement`,
//! `record_activity`, …) run inside it, and a service composes them in plain Rust —
//! validate → write → place → record → [`TenantTx::commit`]. Dropping it without committing
//! rolls everything back, so an error anywhere (`?`) leaves nothing half-written.
//!
//! `store.tenant(&id).autocommit()` is the same handle over one pooled connection without a
//! transaction: each statement commits by itself. It exists for the writes that are one
//! statement (a SCIM user write in a tenant with nothing to place), so that they keep their
//! single round trip and the services still have one set of methods.
//!
//! On SQLite a transaction first waits for this process's turn to write (an async mutex,
//! [`Store::sqlite_writer`], see [`super::writer`]: a request's transaction runs in place on the
//! writer connection, as a savepoint of a group commit), then starts with `BEGIN IMMEDIATE`: it takes the database's write lock
//! at once (a write of another process, e.g. a CLI command, is waited for in the busy handler),
//! so that a transaction which reads before it writes
//! cannot fail later with `SQLITE_BUSY_SNAPSHOT` because another connection wrote meanwhile.
//! SQLite has one writer, so that lock also serializes placement. On PostgreSQL,
//! [`TenantTx::lock_placement`] takes the tenant's placement lock (see there).

use sqlx::pool::PoolConnection;
use sqlx::{Postgres, Sqlite, Transaction};

use super::writer::{DirectTx, WriterSlot};
use super::{Pool, Store, TenantStore};
use crate::error::DomainResult;
use crate::ids::TenantId;

/// The connection under a [`TenantTx`].
pub(crate) enum TxConn {
    /// With this process's turn to write (see [`Store::sqlite_writer`]), held until the
    /// transaction ends.
    SqliteTx(Transaction<'static, Sqlite>, tokio::sync::OwnedMutexGuard<WriterSlot>),
    /// SQLite on a file: the process's writer connection, used in place (see
    /// [`super::direct`]), with the turn to write held until the transaction ends.
    Direct(DirectTx),
    PostgresTx(Transaction<'static, Postgres>),
    Sqlite(PoolConnection<Sqlite>),
    Postgres(PoolConnection<Postgres>),
}

/// Runs `$body` with `$c` bound to the `&mut` connection under `$conn` (a `&mut TxConn`: either
/// backend, in a transaction or not); the body is compiled once per backend, so it must be SQL
/// both accept.
macro_rules! with_conn {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::store::tx::TxConn::Direct(t) => {
                // The statements below run in place on the writer connection: `sqlx` here is
                // the shim of the same API (see `store::direct::shim`).
                #[allow(unused_imports)]
                use $crate::store::direct::shim as sqlx;
                let $c: &mut $crate::store::direct::shim::DirectConn = t.conn();
                $body
            }
            $crate::store::tx::TxConn::SqliteTx(t, _) => {
                let $c: &mut sqlx::SqliteConnection = &mut **t;
                $body
            }
            $crate::store::tx::TxConn::PostgresTx(t) => {
                let $c: &mut sqlx::PgConnection = &mut **t;
                $body
            }
            $crate::store::tx::TxConn::Sqlite(t) => {
                let $c: &mut sqlx::SqliteConnection = &mut **t;
                $body
            }
            $crate::store::tx::TxConn::Postgres(t) => {
                let $c: &mut sqlx::PgConnection = &mut **t;
                $body
            }
        }
    };
}
pub(crate) use with_conn;

/// [`with_conn!`] on a [`TenantTx`]'s connection.
macro_rules! with_tx {
    ($tx:expr, |$c:ident| $body:expr) => {
        $crate::store::tx::with_conn!(&mut $tx.conn, |$c| $body)
    };
}
pub(crate) use with_tx;

/// One tenant's write in progress (see the module doc).
pub struct TenantTx<'a> {
    pub(crate) store: &'a Store,
    pub(crate) id: &'a TenantId,
    pub(crate) conn: TxConn,
    /// Events queued by the write, inserted at commit (see [`super::events`]).
    pub(crate) events: Vec<super::events::NewEvent>,
    /// What caused the write (JSON), for its events.
    pub(crate) cause: Option<String>,
}

impl std::fmt::Debug for TenantTx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantTx").field("tenant", &self.id).field("transaction", &self.in_transaction()).finish()
    }
}

impl TxConn {
    /// Whether multi-row statements on this connection take anonymous parameters
    /// ([`super::value_rows`]): SQLite in either form, through sqlx or in place.
    pub(crate) fn anonymous_params(&self) -> bool {
        matches!(self, TxConn::Sqlite(_) | TxConn::SqliteTx(..) | TxConn::Direct(_))
    }

    /// A transaction on the store's database (SQLite: this process's turn to write, then
    /// `BEGIN IMMEDIATE`, see the module doc).
    pub(crate) async fn begin(store: &Store) -> DomainResult<TxConn> {
        TxConn::open(store, true).await
    }

    /// [`Self::begin`] of a transaction whose COMMIT need not wait for the disk: for writes that
    /// no one is told are done (the activity writer's batches). On a SQLite file its group's
    /// COMMIT does not sync (see [`super::writer::Durability`]); on PostgreSQL it commits with
    /// `synchronous_commit` off (the WAL writer flushes it within moments; a crash of the
    /// database server may lose it, never half of it). In-memory SQLite: [`Self::begin`].
    pub(crate) async fn begin_unsynced(store: &Store) -> DomainResult<TxConn> {
        match (&store.pool, &store.direct) {
            (Pool::Sqlite(_), Some(direct)) => {
                Ok(TxConn::Direct(store.sqlite_writer.begin_as(direct, super::writer::Durability::Unsynced).await?))
            }
            (Pool::Postgres(p), _) => {
                let mut t = p.begin().await?;
                sqlx::query("SET LOCAL synchronous_commit = off").execute(&mut *t).await?;
                Ok(TxConn::PostgresTx(t))
            }
            (Pool::Sqlite(_), None) => TxConn::begin(store).await,
        }
    }

    /// [`Self::begin`] through sqlx's connection thread also on SQLite: for a transaction that
    /// may run long (a job over a whole tenant), which in place would hold a runtime thread.
    pub(crate) async fn begin_pooled(store: &Store) -> DomainResult<TxConn> {
        TxConn::open(store, false).await
    }

    async fn open(store: &Store, in_place: bool) -> DomainResult<TxConn> {
        Ok(match &store.pool {
            Pool::Sqlite(p) => match &store.direct {
                Some(direct) if in_place => TxConn::Direct(store.sqlite_writer.begin(direct).await?),
                _ => {
                    let mut turn = store.sqlite_writer.turn().await?;
                    // The open group holds the database's write lock: commit it first.
                    turn.finish().map_err(|e| crate::error::DomainError::Internal(format!("database: {e}")))?;
                    TxConn::SqliteTx(p.begin_with("BEGIN IMMEDIATE").await?, turn)
                }
            },
            Pool::Postgres(p) => TxConn::PostgresTx(p.begin().await?),
        })
    }

    /// Rolls back, if in a transaction, and returns once the database has let go of its locks.
    /// Dropping does the same, but sqlx only queues the ROLLBACK of its transactions: on SQLite
    /// the turn to write would be free while the connection still held the write lock, and a
    /// deferred transaction of another connection that tried to write then failed at once with
    /// "database is locked" (SQLite calls no busy handler to upgrade a read to a write).
    pub(crate) async fn rollback(self) -> DomainResult<()> {
        match self {
            TxConn::SqliteTx(t, turn) => {
                t.rollback().await?;
                drop(turn);
            }
            TxConn::PostgresTx(t) => t.rollback().await?,
            TxConn::Direct(t) => drop(t),
            TxConn::Sqlite(_) | TxConn::Postgres(_) => {}
        }
        Ok(())
    }

    /// Commits, if in a transaction.
    pub(crate) async fn commit(self) -> DomainResult<()> {
        match self {
            TxConn::SqliteTx(t, _turn) => t.commit().await?,
            TxConn::Direct(t) => t.commit().await?,
            TxConn::PostgresTx(t) => t.commit().await?,
            TxConn::Sqlite(_) | TxConn::Postgres(_) => {}
        }
        Ok(())
    }
}

impl<'a> TenantStore<'a> {
    /// Opens a transaction over this tenant's data (see [`TenantTx`]).
    pub async fn begin(&self) -> DomainResult<TenantTx<'a>> {
        Ok(TenantTx {
            store: self.store,
            id: self.id,
            conn: TxConn::begin(self.store).await?,
            events: Vec::new(),
            cause: None,
        })
    }

    /// [`Self::begin`] for a transaction that may run long (a batch over many users): on SQLite
    /// its statements go through sqlx's connection thread instead of running in place, so that
    /// they do not hold a runtime thread (see [`super::direct`]).
    pub async fn begin_pooled(&self) -> DomainResult<TenantTx<'a>> {
        Ok(TenantTx {
            store: self.store,
            id: self.id,
            conn: TxConn::begin_pooled(self.store).await?,
            events: Vec::new(),
            cause: None,
        })
    }

    /// The same handle without a transaction: each statement commits by itself (for writes that
    /// are one statement).
    pub async fn autocommit(&self) -> DomainResult<TenantTx<'a>> {
        let conn = match &self.store.pool {
            Pool::Sqlite(p) => TxConn::Sqlite(p.acquire().await?),
            Pool::Postgres(p) => TxConn::Postgres(p.acquire().await?),
        };
        Ok(TenantTx { store: self.store, id: self.id, conn, events: Vec::new(), cause: None })
    }
}

impl<'a> TenantTx<'a> {
    /// The tenant.
    pub fn tenant(&self) -> &'a TenantId {
        self.id
    }

    /// The store it writes to.
    pub fn store(&self) -> &'a Store {
        self.store
    }

    /// Whether the statements run in one transaction (`begin`) or each on its own
    /// (`autocommit`).
    pub fn in_transaction(&self) -> bool {
        matches!(self.conn, TxConn::SqliteTx(..) | TxConn::PostgresTx(_) | TxConn::Direct(_))
    }

    /// The engine under it.
    pub(crate) fn backend(&self) -> super::Backend {
        self.store.backend()
    }

    /// Makes everything written through this handle durable at once, with the events it
    /// queued (numbered last, see [`super::events`]); wakes this instance's webhook delivery.
    pub async fn commit(mut self) -> DomainResult<()> {
        let emitted = self.flush_events().await?;
        self.conn.commit().await?;
        if emitted > 0 {
            self.store.events_wake.notify_one();
        }
        Ok(())
    }

    /// Undoes everything written through this handle (its queued events are never numbered) and
    /// returns once the database has let go of its locks (see [`TxConn::rollback`]).
    pub async fn rollback(self) -> DomainResult<()> {
        self.conn.rollback().await
    }

    /// Takes the tenant's placement lock for the rest of the transaction (PostgreSQL:
    /// `pg_advisory_xact_lock`, released at commit or rollback; SQLite: the transaction already
    /// holds the database's write lock).
    ///
    /// A placement reads the IdP group memberships and the rule memberships of the users it
    /// touches, then writes the difference. Under PostgreSQL's READ COMMITTED two group writes
    /// of one tenant ran side by side, each reading the other's group as it was before the other
    /// committed: a user taken out of two groups at once kept the access both granted (1 round
    /// in 500 of the concurrency test). With the lock, one tenant's placing writes run one after
    /// the other, and each reads what the previous one committed. Taken first, before any
    /// write, it is the first lock such a transaction holds, so two of them cannot deadlock on
    /// it. Writes with nothing to place (no rules, no default group) do not take it.
    pub async fn lock_placement(&mut self) -> DomainResult<()> {
        debug_assert!(self.in_transaction(), "a placement lock outside a transaction holds nothing");
        if let TxConn::PostgresTx(t) = &mut self.conn {
            sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
                .bind(format!("roster:placement:{}", self.id))
                .execute(&mut **t)
                .await?;
        }
        Ok(())
    }
}
