//! PostgreSQL: the connections of the hot one-statement requests (a GET by id, a SCIM list or
//! filter, the one-statement create and PATCH), kept out of sqlx's pool.
//!
//! sqlx 0.8's pool tests a connection with a round trip each time one is given back (a `Sync`
//! and its `ReadyForQuery`, in `return_to_pool`: unconditional) and, by default, again each
//! time one is taken (`test_before_acquire`). Measured with `strace` on a GET by id: the
//! request's one statement came with two such pings, three round trips where one does the
//! work, each waking a PostgreSQL backend and Roster's side of the socket; under load those
//! wake-ups are most of both sides' CPU for a GET (see README, the forty-second round). The
//! pool offers no way to skip the ping on release, so these requests use connections of their
//! own, opened and kept here:
//! * a connection goes back to the idle list only after a statement that finished (its
//!   `ReadyForQuery` read) — anything else (an error other than the database's answer, a
//!   request dropped mid-statement) closes it, so no connection is reused in an unknown state;
//! * one idle for more than [`PING_AFTER`] is pinged before use (what the pool's
//!   `test_before_acquire` is for: a server restarted in a quiet hour), and dropped if that
//!   fails; one idle for more than [`IDLE_CLOSE`] or older than [`MAX_AGE`] is closed;
//! * at most [`SIZE`] at once: a request waits its turn up to [`super::ACQUIRE_TIMEOUT`]
//!   (then "unavailable, retry", as with the pool).
//!
//! Only autocommit statements run here: a transaction (and anything that leaves session
//! state behind) stays on the pool, whose release ping also flushes a dropped transaction's
//! ROLLBACK.

use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::Connection;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::{DomainError, DomainResult};

/// How many of these connections one instance keeps at most (besides the pool's).
pub const SIZE: usize = 8;
/// An idle connection is pinged before use after this long.
pub const PING_AFTER: Duration = Duration::from_secs(1);
/// An idle connection is closed instead of used after this long (the pool's idle timeout).
pub const IDLE_CLOSE: Duration = Duration::from_secs(600);
/// A connection is closed rather than kept once it is this old (the pool's max lifetime).
pub const MAX_AGE: Duration = Duration::from_secs(1800);

/// The connections, their turns and how to open one.
pub(crate) struct PgConns {
    options: PgConnectOptions,
    turns: Arc<Semaphore>,
    idle: Mutex<Vec<Idle>>,
}

impl std::fmt::Debug for PgConns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgConns").field("idle", &self.idle_count()).finish_non_exhaustive()
    }
}

struct Idle {
    conn: PgConnection,
    opened: Instant,
    since: Instant,
}

/// A connection taken from [`PgConns`], with its turn. Dropped without [`PgConn::release`],
/// it is closed (see the module doc).
pub(crate) struct PgConn {
    conn: Option<PgConnection>,
    opened: Instant,
    home: Arc<PgConns>,
    _turn: OwnedSemaphorePermit,
}

impl PgConns {
    /// Connections to the database at `url` (none opened yet).
    pub fn new(url: &str) -> DomainResult<Arc<PgConns>> {
        let options = options(url, "roster-hot")?;
        Ok(Arc::new(PgConns { options, turns: Arc::new(Semaphore::new(SIZE)), idle: Mutex::new(Vec::new()) }))
    }

    /// How many connections are open and idle.
    pub fn idle_count(&self) -> usize {
        self.idle.lock().map(|l| l.len()).unwrap_or(0)
    }

    /// How many connections are in use now.
    pub fn in_use(&self) -> usize {
        SIZE - self.turns.available_permits()
    }

    /// Closes the idle connections and takes no more turns (those in use close when they are
    /// given back).
    pub async fn close(&self) {
        self.turns.close();
        let idle = self.idle.lock().map(|mut l| std::mem::take(&mut *l)).unwrap_or_default();
        for i in idle {
            let _ = i.conn.close().await;
        }
    }

    /// Takes a connection: the most recently used idle one (pinged first if it idled long), or
    /// a new one; waiting for a turn, the ping and the connecting take at most
    /// [`super::ACQUIRE_TIMEOUT`] together (as sqlx's `acquire`).
    pub async fn acquire(self: &Arc<Self>) -> DomainResult<PgConn> {
        tokio::time::timeout(super::ACQUIRE_TIMEOUT, self.take())
            .await
            .map_err(|_| DomainError::from(sqlx::Error::PoolTimedOut))?
    }

    async fn take(self: &Arc<Self>) -> DomainResult<PgConn> {
        let turn = self.turns.clone().acquire_owned().await.map_err(|_| DomainError::from(sqlx::Error::PoolClosed))?;
        loop {
            let next = self.idle.lock().ok().and_then(|mut l| l.pop());
            let Some(mut idle) = next else { break };
            let idled = idle.since.elapsed();
            if idled > IDLE_CLOSE || idle.opened.elapsed() > MAX_AGE {
                close(idle.conn);
                continue;
            }
            if idled > PING_AFTER && idle.conn.ping().await.is_err() {
                continue;
            }
            return Ok(PgConn { conn: Some(idle.conn), opened: idle.opened, home: self.clone(), _turn: turn });
        }
        let conn = PgConnection::connect_with(&self.options).await?;
        Ok(PgConn { conn: Some(conn), opened: Instant::now(), home: self.clone(), _turn: turn })
    }
}

/// The options of a connection to the database at `url`, named `name` in
/// `pg_stat_activity` unless the URL names its connections itself: the main pool's
/// (`roster`), [`PgConns`]'s (`roster-hot`) and the scans' (`roster-scans`).
pub(crate) fn options(url: &str, name: &str) -> DomainResult<PgConnectOptions> {
    let options =
        PgConnectOptions::from_str(url).map_err(|e| DomainError::Invalid(format!("bad PostgreSQL URL: {e}")))?;
    Ok(if options.get_application_name().is_some() { options } else { options.application_name(name) })
}

/// Closes a connection politely (a `Terminate`) without waiting for it.
fn close(conn: PgConnection) {
    if let Ok(handle) = tokio::runtime::Handle::try_current() {
        handle.spawn(async move {
            let _ = conn.close().await;
        });
    }
}

impl PgConn {
    /// Gives the connection back for the next request: its last statement finished.
    pub fn release(mut self) {
        if let Some(conn) = self.conn.take() {
            if self.opened.elapsed() > MAX_AGE || self.home.turns.is_closed() {
                close(conn);
                return;
            }
            if let Ok(mut idle) = self.home.idle.lock() {
                idle.push(Idle { conn, opened: self.opened, since: Instant::now() });
            }
        }
    }

    /// Gives the connection back when `result` is a finished statement's: `Ok`, or the
    /// database's answer to the statement (a constraint, a canceled statement), after which
    /// PostgreSQL is ready for the next one; any other error (the connection lost) closes it.
    pub fn release_after<T>(self, result: &Result<T, sqlx::Error>) {
        let finished = match result {
            Ok(_) => true,
            Err(sqlx::Error::Database(e)) => !crate::error::connection_lost(e.code().as_deref()),
            Err(_) => false,
        };
        if finished {
            self.release();
        }
    }
}

impl std::ops::Deref for PgConn {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        self.conn.as_ref().expect("a taken connection until released")
    }
}

impl std::ops::DerefMut for PgConn {
    fn deref_mut(&mut self) -> &mut PgConnection {
        self.conn.as_mut().expect("a taken connection until released")
    }
}

impl Drop for PgConn {
    fn drop(&mut self) {
        // Not released: its state is unknown (a statement dropped midway, an I/O error).
        if let Some(conn) = self.conn.take() {
            close(conn);
        }
    }
}
