//! SQLite's one writer: the turn to write, the writer connection used in place, and group
//! commit.
//!
//! SQLite has one writer at a time, so this process's transactions take turns on an async
//! mutex ([`Writer::turn`], fair: first come, first served) before they touch the database.
//! A transaction of a SCIM request runs in place on the writer connection
//! ([`super::tx::TxConn::Direct`], see [`super::direct`]).
//!
//! **Group commit.** A commit writes every page the transaction changed to the WAL: a user write
//! touches a dozen pages (the row, its indexes, the events table and its sequence), about 60 KB,
//! and one request after another rewrote the same hot pages (`vmstat`: 90 MB/s written at 1,400
//! PATCHes/s). So a request's transaction is a savepoint inside an outer transaction that stays
//! open while other requests wait for their turn: when it is done, it releases its savepoint
//! and, if another request is waiting, hands the turn on and waits for the outer COMMIT; the
//! last one of the group (nobody waiting, or [`MAX_GROUP`] writes) commits for all and tells
//! each its outcome. Nothing is acknowledged before its COMMIT: a request returns from
//! [`super::TenantTx::commit`] only once the group's COMMIT succeeded, and every request of a
//! group whose COMMIT failed gets the error. A request that fails rolls back to its savepoint,
//! which undoes its writes alone. A lone request commits at once, as before.
//!
//! **The users' search index in bulk.** FTS5 writes the terms it holds to disk at every savepoint
//! and COMMIT, so each group (or each write of it, before migration 0032) wrote a new index
//! segment of its own and later merged it. The index's triggers now queue every change (migration
//! 0039), and the activity writer applies the queue about once a second
//! ([`super::Store::move_search_index`]): no write of this writer touches the index.
//!
//! **Checkpoints off the writer.** SQLite copies the WAL back into the database file in a
//! checkpoint, which the committing connection ran itself every 10,000 pages: two fsyncs and the
//! copy, 30–40 ms during which no write could proceed, every quarter second under load (p99 of
//! creates and PATCHes 40–50 ms). The writer connection does not checkpoint now (only as a
//! backstop, [`super::direct::BACKSTOP_FRAMES`]); a thread of its own does every 200 ms on its
//! own connection, without waiting for anyone ([`checkpoint`]). SQLite starts the WAL over only
//! when a write begins with every frame copied, which under steady load never happens by
//! itself; so once the WAL holds [`RESTART_FRAMES`], the checkpointer takes the turn, commits
//! the open group and copies the few frames written during its copy, and the next write starts
//! the WAL over.
//!
//! **Records nobody waits for commit without a sync.** The SCIM API's activity records are
//! written in batches after their requests were answered ([`crate::service::activity`]); no one
//! is told they are written, and the ones still queued are lost with the process anyway. A
//! batch that finds no group open opens one whose COMMIT does not sync the WAL
//! (`synchronous = NORMAL` for that group, [`Durability::Unsynced`]); the next synced COMMIT
//! (any write a request waits for), or the checkpointer's copy, syncs its frames with its own.
//! A batch that finds a group open, or writes waiting for the turn (which will join its group),
//! commits with them, synced, as before: under load its frames share their COMMIT. A write that
//! must be synced never joins an unsynced group: it commits that group first and opens its own.
//! Nothing a request was told is written waits less for the disk. An IdP writing one user at a
//! time (the Entra-style sync's four clients) made two syncs per user, its write's and its
//! activity batch's: one now.
//!
//! If every waiting request is cancelled, nobody would commit: each hand-off therefore makes sure
//! a finisher task is queued for the turn ([`Writer::queue_finisher`]); it commits the group if it
//! is still open when its turn comes. A transaction through sqlx's connection
//! ([`super::tx::TxConn::begin_pooled`]) commits the open group first: it writes on another
//! connection, which would otherwise wait for this one's lock.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{oneshot, Mutex, OwnedMutexGuard};

use super::direct::shim::{self, DirectConn};
use super::direct::Direct;
use crate::error::{DomainError, DomainResult};

/// How long a SQLite transaction waits for its turn to write before the request is answered
/// "unavailable, retry" (like the busy handler's limit, see `sqlite_busy_handler`).
const WRITER_WAIT: Duration = Duration::from_secs(10);

/// The most writes one COMMIT carries.
pub(crate) const MAX_GROUP: usize = 64;

/// Whether a transaction's COMMIT reaches the disk before it returns (see the module doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Durability {
    /// Synced (`synchronous = FULL`): every write a request waits for.
    Synced,
    /// Written to the WAL without a sync, which the next synced COMMIT or checkpoint does: for
    /// writes that no one is told are done (the activity writer's batches).
    Unsynced,
}

/// The turn to write and the group being committed (see the module doc).
#[derive(Debug, Default)]
pub(crate) struct Writer {
    turn: Arc<Mutex<WriterSlot>>,
    /// Requests waiting for the turn.
    waiting: AtomicUsize,
    /// A finisher is waiting for the turn.
    finisher_queued: AtomicBool,
}

/// What the turn guards.
#[derive(Debug, Default)]
pub(crate) struct WriterSlot {
    /// The writer connection, opened on the first write (`None` for an in-memory database,
    /// whose writes go through sqlx).
    pub(crate) conn: Option<DirectConn>,
    /// An outer transaction is open on `conn`.
    open: bool,
    /// The writes in it that wait for its COMMIT.
    pending: Vec<oneshot::Sender<Result<(), String>>>,
    /// The open group's COMMIT does not sync ([`Durability::Unsynced`]).
    unsynced: bool,
    /// The connection is set to `synchronous = NORMAL` (since the last unsynced group opened).
    normal: bool,
}

impl WriterSlot {
    /// Commits the open group, if any, and tells every write in it the outcome.
    pub(crate) fn finish(&mut self) -> Result<(), String> {
        if !self.open {
            return Ok(());
        }
        self.open = false;
        let outcome = match self.conn.as_ref() {
            None => Err("no SQLite writer connection".to_string()),
            Some(c) if c.conn.is_autocommit() => Err("the transaction was rolled back by an error".to_string()),
            Some(c) => c.conn.execute_batch("COMMIT").map_err(|e| {
                if !c.conn.is_autocommit() {
                    let _ = c.conn.execute_batch("ROLLBACK");
                }
                format!("commit failed: {e}")
            }),
        };
        for w in self.pending.drain(..) {
            let _ = w.send(outcome.clone());
        }
        outcome
    }
}

/// A guard that counts a request among those waiting for the turn.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Writer {
    /// Waits for the turn to write (at most [`WRITER_WAIT`]).
    pub(crate) async fn turn(&self) -> DomainResult<OwnedMutexGuard<WriterSlot>> {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let _waiting = Waiting(&self.waiting);
        tokio::time::timeout(WRITER_WAIT, self.turn.clone().lock_owned())
            .await
            .map_err(|_| DomainError::from(sqlx::Error::PoolTimedOut))
    }

    /// Makes sure a task will commit the open group when its turn comes.
    fn queue_finisher(self: &Arc<Self>) {
        if self.finisher_queued.swap(true, Ordering::SeqCst) {
            return;
        }
        let writer = self.clone();
        let finish = async move {
            let mut slot = writer.turn.clone().lock_owned().await;
            writer.finisher_queued.store(false, Ordering::SeqCst);
            if let Err(e) = slot.finish() {
                tracing::error!("SQLite group commit: {e}");
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(finish);
            }
            Err(_) => self.finisher_queued.store(false, Ordering::SeqCst),
        }
    }

    /// Opens a request's transaction in place: its savepoint in the open group, or a new group.
    pub(crate) async fn begin(self: &Arc<Self>, direct: &Arc<Direct>) -> DomainResult<DirectTx> {
        self.begin_as(direct, Durability::Synced).await
    }

    /// [`Self::begin`] of a transaction whose COMMIT may or may not sync (see [`Durability`]).
    pub(crate) async fn begin_as(
        self: &Arc<Self>,
        direct: &Arc<Direct>,
        durability: Durability,
    ) -> DomainResult<DirectTx> {
        direct.check_open()?;
        let mut slot = self.turn().await?;
        // Writes are waiting for the turn: they will join the group this one opens and share its
        // (synced) COMMIT, which then carries this one's frames too at no cost of its own.
        let durability = if self.waiting.load(Ordering::SeqCst) > 0 { Durability::Synced } else { durability };
        if slot.conn.is_none() {
            slot.conn = Some(DirectConn::new(direct.writer()?));
            start_checkpointer(Arc::downgrade(self), Arc::downgrade(direct));
        }
        let mut tx = DirectTx { slot, writer: self.clone(), open: false };
        if tx.slot.open && tx.slot.unsynced && durability == Durability::Synced {
            // A synced write never commits in a group that does not sync: that group commits
            // first (its writes' waiters were told nothing), and this write's synced COMMIT
            // syncs its frames too.
            if let Err(e) = tx.slot.finish() {
                tracing::error!("SQLite group commit: {e}");
            }
        }
        if !tx.slot.open {
            // The level of the group's COMMIT, set between transactions (SQLite refuses it
            // inside one).
            let normal = durability == Durability::Unsynced;
            if tx.slot.normal != normal {
                let level = if normal { "PRAGMA synchronous = NORMAL" } else { "PRAGMA synchronous = FULL" };
                tx.conn().conn.execute_batch(level).map_err(shim::error)?;
                tx.slot.normal = normal;
            }
            // Another process (a CLI command, or a second server on the same file) may hold the
            // database's write lock: wait for it here, asleep, rather than in a busy handler
            // that would hold this runtime thread (and, in one process, the very task that is
            // to release that lock).
            let deadline = tokio::time::Instant::now() + WRITER_WAIT;
            let mut pause = Duration::from_millis(1);
            loop {
                match tx.conn().conn.execute_batch("BEGIN IMMEDIATE") {
                    Ok(()) => break,
                    Err(rusqlite::Error::SqliteFailure(f, _))
                        if f.code == rusqlite::ErrorCode::DatabaseBusy && tokio::time::Instant::now() < deadline =>
                    {
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(Duration::from_millis(16));
                    }
                    Err(e) => return Err(shim::error(e).into()),
                }
            }
            tx.slot.open = true;
            tx.slot.unsynced = normal;
        }
        if let Err(e) = tx.conn().conn.execute_batch("SAVEPOINT request") {
            let _ = tx.slot.finish();
            return Err(shim::error(e).into());
        }
        tx.open = true;
        Ok(tx)
    }
}

/// How often the checkpointer copies what the WAL holds into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);

/// WAL frames (pages) past which the checkpointer catches up under the turn, so that the next
/// write starts the WAL over rather than growing it (about 40 MB: the interval the writer's own
/// checkpoints had).
const RESTART_FRAMES: i64 = 10_000;

/// Checkpoints the WAL on a thread of its own, off the writer (see the module doc), until the
/// store is dropped or closed.
fn start_checkpointer(writer: std::sync::Weak<Writer>, direct: std::sync::Weak<Direct>) {
    let spawned = std::thread::Builder::new().name("sqlite-checkpoint".into()).spawn(move || {
        let mut conn = None;
        loop {
            std::thread::sleep(CHECKPOINT_EVERY);
            let (Some(writer), Some(direct)) = (writer.upgrade(), direct.upgrade()) else { return };
            if direct.check_open().is_err() {
                return;
            }
            if conn.is_none() {
                match direct.checkpointer() {
                    Ok(c) => conn = Some(c),
                    Err(e) => {
                        tracing::warn!("SQLite checkpointer cannot open the database: {e}");
                        continue;
                    }
                }
            }
            if let Some(c) = &conn {
                if let Err(e) = checkpoint(&writer, c) {
                    tracing::warn!("SQLite checkpoint: {e}");
                }
            }
        }
    });
    if let Err(e) = spawned {
        tracing::error!("cannot start the SQLite checkpointer: {e}");
    }
}

/// One checkpoint on `conn` (not the writer's): copies every frame it can without waiting for
/// anyone; if the WAL held [`RESTART_FRAMES`] or more, [`catch_up`].
fn checkpoint(writer: &Writer, conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    if copy_wal(conn)? >= RESTART_FRAMES {
        catch_up(writer, conn)?;
    }
    Ok(())
}

/// Copies what it can of the WAL into the database without waiting for anyone; returns the
/// frames the WAL held.
fn copy_wal(conn: &rusqlite::Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(1))
}

/// Waits for the turn, commits the open group and copies the frames written since the last copy,
/// so that the WAL is wholly in the database when the next write begins, and that write starts
/// it over.
fn catch_up(writer: &Writer, conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    let mut slot = writer.turn.blocking_lock();
    if let Err(e) = slot.finish() {
        tracing::error!("SQLite group commit: {e}");
    }
    copy_wal(conn).map(|_| ())
}

/// A request's transaction on the writer connection: a savepoint in the open group (see the
/// module doc); rolled back to when dropped uncommitted.
pub(crate) struct DirectTx {
    slot: OwnedMutexGuard<WriterSlot>,
    writer: Arc<Writer>,
    /// The savepoint is open.
    open: bool,
}

impl DirectTx {
    /// The writer connection.
    pub(crate) fn conn(&mut self) -> &mut DirectConn {
        self.slot.conn.as_mut().expect("a direct transaction holds the writer connection")
    }

    /// Releases the savepoint and returns once the group's COMMIT is done.
    pub(crate) async fn commit(mut self) -> DomainResult<()> {
        self.conn().conn.execute_batch("RELEASE request").map_err(shim::error)?;
        self.open = false;
        let writer = self.writer.clone();
        let rolled_back = self.conn().conn.is_autocommit();
        if !rolled_back && writer.waiting.load(Ordering::SeqCst) > 0 && self.slot.pending.len() + 1 < MAX_GROUP {
            let (told, outcome) = oneshot::channel();
            self.slot.pending.push(told);
            writer.queue_finisher();
            drop(self);
            return match outcome.await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(DomainError::Internal(format!("database: {e}"))),
                Err(_) => Err(DomainError::Internal("database: the group commit ended without an outcome".into())),
            };
        }
        self.slot.finish().map_err(|e| DomainError::Internal(format!("database: {e}")))
    }
}

impl Drop for DirectTx {
    fn drop(&mut self) {
        if !self.open {
            return;
        }
        self.open = false;
        let undone = match self.slot.conn.as_ref() {
            Some(c) if !c.conn.is_autocommit() => {
                c.conn.execute_batch("ROLLBACK TO request; RELEASE request").map_err(|e| e.to_string())
            }
            _ => Err("the transaction was rolled back".to_string()),
        };
        if let Err(e) = undone {
            tracing::warn!("rolling back a SQLite write: {e}");
        }
        if self.writer.waiting.load(Ordering::SeqCst) == 0
            || self.slot.conn.as_ref().is_some_and(|c| c.conn.is_autocommit())
        {
            if let Err(e) = self.slot.finish() {
                tracing::error!("SQLite group commit: {e}");
            }
        } else if self.slot.open {
            self.writer.queue_finisher();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::direct::shim::query;

    struct Db {
        /// Kept so that the database's folder outlives the test.
        _dir: tempfile::TempDir,
        direct: Arc<Direct>,
        writer: Arc<Writer>,
    }

    async fn db(schema: &str) -> Db {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("w.db");
        let direct = Arc::new(Direct::new(path));
        let writer = Arc::new(Writer::default());
        let mut tx = writer.begin(&direct).await.expect("begin");
        tx.conn().conn.execute_batch(schema).expect("schema");
        tx.commit().await.expect("commit");
        Db { _dir: dir, direct, writer }
    }

    /// Both connections that write commit durably: `synchronous = FULL` (2), which syncs the WAL
    /// at every COMMIT (`NORMAL` loses the last commits to a power loss).
    #[tokio::test]
    async fn writes_sync_the_wal_at_every_commit() {
        let d = db("CREATE TABLE t (id TEXT PRIMARY KEY, parent TEXT)").await;
        let mut tx = d.writer.begin(&d.direct).await.expect("begin");
        let level: i64 = tx.conn().conn.query_row("PRAGMA synchronous", [], |r| r.get(0)).expect("pragma");
        assert_eq!(level, 2, "the writer connection");
        tx.commit().await.expect("commit");

        let dir = tempfile::tempdir().expect("temp dir");
        let store =
            crate::store::Store::connect(&format!("sqlite://{}/p.db", dir.path().display())).await.expect("store");
        let crate::store::Pool::Sqlite(pool) = &store.pool else { unreachable!() };
        let (level,): (i64,) = sqlx::query_as("PRAGMA synchronous").fetch_one(pool).await.expect("pragma");
        assert_eq!(level, 2, "the pool's connections");
    }

    async fn insert(tx: &mut DirectTx, id: &str) -> Result<(), sqlx::Error> {
        query("INSERT INTO t (id, parent) VALUES ($1, $2)")
            .bind(id)
            .bind(Option::<String>::None)
            .execute(tx.conn())
            .await?;
        Ok(())
    }

    /// The ids a separate connection sees (what is committed).
    fn committed(db: &Db) -> Vec<String> {
        let rows = db.direct.fetch("SELECT id FROM t ORDER BY id", &[]).expect("read");
        rows.iter().map(|r| r.try_get(0).expect("id")).collect()
    }

    async fn until_waiting(writer: &Writer, n: usize) {
        while writer.waiting.load(Ordering::SeqCst) < n {
            tokio::task::yield_now().await;
        }
    }

    async fn write(db: &Db, id: &str) {
        let mut tx = db.writer.begin(&db.direct).await.expect("begin");
        insert(&mut tx, id).await.expect("insert");
        tx.commit().await.expect("commit");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_checkpointer_copies_the_wal_off_the_writer_and_the_next_write_starts_it_over() {
        let db = db(SCHEMA).await;
        for i in 0..100 {
            write(&db, &format!("r{i:03}")).await;
        }
        let conn = db.direct.checkpointer().expect("checkpointer connection");
        // A write under way during the copy, as under load (`a` began before it): neither it
        // nor the next write can start the WAL over.
        let mut a = db.writer.begin(&db.direct).await.expect("a");
        // The writer connection did not checkpoint: the hundred commits are all in the WAL.
        let frames = copy_wal(&conn).expect("copy");
        assert!(frames >= 100, "{frames} frames");
        insert(&mut a, "a").await.expect("insert");
        a.commit().await.expect("a commits");
        write(&db, "b").await;
        // Again, with `c` under way during the copy.
        let mut c = db.writer.begin(&db.direct).await.expect("c");
        let grown = copy_wal(&conn).expect("copy");
        assert!(grown > frames, "{grown} frames after {frames}");
        // The catch-up waits for the turn (held by `c` until it commits), then copies `c`'s
        // frames with nobody writing: the next write starts the WAL over.
        let (writer, checkpointer) = (db.writer.clone(), db.direct.checkpointer().expect("connection"));
        let caught_up = tokio::task::spawn_blocking(move || catch_up(&writer, &checkpointer));
        insert(&mut c, "c").await.expect("insert");
        c.commit().await.expect("c commits");
        caught_up.await.expect("joined").expect("catch-up");
        write(&db, "d").await;
        let after = copy_wal(&conn).expect("copy");
        assert!(after < 10, "the WAL was not started over: {after} frames");
        assert_eq!(committed(&db).len(), 104);
    }

    const SCHEMA: &str =
        "CREATE TABLE t (id TEXT PRIMARY KEY, parent TEXT REFERENCES t (id) DEFERRABLE INITIALLY DEFERRED)";

    #[tokio::test]
    async fn writes_waiting_for_the_turn_share_one_commit_and_a_failed_one_undoes_only_itself() {
        let db = db(SCHEMA).await;
        let mut a = db.writer.begin(&db.direct).await.expect("a");
        insert(&mut a, "a").await.expect("insert a");
        let (w, d) = (db.writer.clone(), db.direct.clone());
        let b = tokio::spawn(async move {
            let mut b = w.begin(&d).await.expect("b");
            insert(&mut b, "b").await.expect("insert b");
            drop(b); // fails: rolled back to its savepoint
        });
        let (w, d) = (db.writer.clone(), db.direct.clone());
        let c = tokio::spawn(async move {
            let mut c = w.begin(&d).await.expect("c");
            insert(&mut c, "c").await.expect("insert c");
            c.commit().await
        });
        until_waiting(&db.writer, 2).await;
        // `a` hands the turn on (others wait) and is not acknowledged before the group commits.
        let a = tokio::spawn(a.commit());
        b.await.expect("b task");
        let c = c.await.expect("c task");
        assert!(c.is_ok(), "{c:?}");
        assert!(a.await.expect("a task").is_ok());
        assert_eq!(committed(&db), ["a", "c"]);
    }

    /// The level the transaction's group commits at (`PRAGMA synchronous`: 2 FULL, 1 NORMAL).
    fn level(tx: &mut DirectTx) -> i64 {
        tx.conn().conn.query_row("PRAGMA synchronous", [], |r| r.get(0)).expect("pragma")
    }

    /// A task that writes `id` at `durability` and commits; it yields the level its group
    /// committed at.
    fn spawn_write(db: &Db, id: &'static str, durability: Durability) -> tokio::task::JoinHandle<i64> {
        let (w, d) = (db.writer.clone(), db.direct.clone());
        tokio::spawn(async move {
            let mut tx = w.begin_as(&d, durability).await.expect("begin");
            let level = level(&mut tx);
            insert(&mut tx, id).await.expect("insert");
            tx.commit().await.expect("commit");
            level
        })
    }

    #[tokio::test]
    async fn records_nobody_waits_for_commit_unsynced_and_a_synced_write_never_joins_their_group() {
        let db = db(SCHEMA).await;
        // Alone, such a write opens a group that commits without a sync.
        let mut a = db.writer.begin_as(&db.direct, Durability::Unsynced).await.expect("a");
        assert_eq!(level(&mut a), 1, "an unsynced group");
        insert(&mut a, "a").await.expect("insert a");
        // A write that must be synced comes while that group is open: it waits for the turn,
        // commits that group before it begins (`a` is visible to another connection by then),
        // and its own group syncs.
        let (w, d) = (db.writer.clone(), db.direct.clone());
        let b = tokio::spawn(async move {
            let mut b = w.begin(&d).await.expect("b");
            let seen = d.fetch("SELECT id FROM t ORDER BY id", &[]).expect("read").len();
            let level = level(&mut b);
            insert(&mut b, "b").await.expect("insert b");
            b.commit().await.expect("b commits");
            (seen, level)
        });
        until_waiting(&db.writer, 1).await;
        a.commit().await.expect("a commits");
        assert_eq!(b.await.expect("b task"), (1, 2), "a committed before b began, and b's group syncs");
        assert_eq!(committed(&db), ["a", "b"]);
        // The next unsynced write alone: unsynced again; one that finds a synced group open
        // joins it.
        let mut c = db.writer.begin_as(&db.direct, Durability::Unsynced).await.expect("c");
        assert_eq!(level(&mut c), 1);
        c.commit().await.expect("c commits");
        let mut e = db.writer.begin(&db.direct).await.expect("e");
        insert(&mut e, "e").await.expect("insert e");
        let f = spawn_write(&db, "f", Durability::Unsynced);
        until_waiting(&db.writer, 1).await;
        e.commit().await.expect("e commits");
        assert_eq!(f.await.expect("f task"), 2, "joined the synced group");
        assert_eq!(committed(&db), ["a", "b", "e", "f"]);
    }

    #[tokio::test]
    async fn an_unsynced_write_with_writes_waiting_for_the_turn_opens_a_synced_group_they_join() {
        let db = db(SCHEMA).await;
        // The turn held with no group open; an unsynced write, then a synced one, wait for it.
        let turn = db.writer.turn().await.expect("turn");
        let a = spawn_write(&db, "a", Durability::Unsynced);
        until_waiting(&db.writer, 1).await;
        let b = spawn_write(&db, "b", Durability::Synced);
        until_waiting(&db.writer, 2).await;
        drop(turn);
        assert_eq!(a.await.expect("a task"), 2, "a synced group, for b to join");
        assert_eq!(b.await.expect("b task"), 2);
        assert_eq!(committed(&db), ["a", "b"]);
    }

    #[tokio::test]
    async fn every_write_of_a_group_whose_commit_fails_gets_the_error_and_nothing_is_written() {
        let db = db(SCHEMA).await;
        let mut a = db.writer.begin(&db.direct).await.expect("a");
        // A reference to a row that does not exist: checked at COMMIT (deferred).
        query("INSERT INTO t (id, parent) VALUES ($1, $2)")
            .bind("a")
            .bind("nobody")
            .execute(a.conn())
            .await
            .expect("a");
        let (w, d) = (db.writer.clone(), db.direct.clone());
        let c = tokio::spawn(async move {
            let mut c = w.begin(&d).await.expect("c");
            insert(&mut c, "c").await.expect("insert c");
            c.commit().await
        });
        until_waiting(&db.writer, 1).await;
        let a = a.commit().await;
        assert!(a.is_err(), "{a:?}");
        let c = c.await.expect("c task");
        assert!(c.is_err(), "{c:?}");
        assert!(committed(&db).is_empty());
        // The writer goes on: the next write commits on its own.
        let mut d = db.writer.begin(&db.direct).await.expect("d");
        insert(&mut d, "d").await.expect("insert d");
        d.commit().await.expect("commit d");
        assert_eq!(committed(&db), ["d"]);
    }

    #[tokio::test]
    async fn a_read_snapshot_left_open_is_ended_before_its_connection_reads_again() {
        let db = db(SCHEMA).await;
        write(&db, "a").await;
        let mut conn = db.direct.read().expect("read");
        conn.begin_snapshot().expect("begin");
        let seen: i64 = conn.conn.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0)).expect("count");
        assert_eq!(seen, 1);
        write(&db, "b").await;
        let still: i64 = conn.conn.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0)).expect("count");
        assert_eq!(still, 1, "one snapshot until it ends");
        // Dropped without `end_snapshot` (a read that failed half-way): the next read on this
        // connection (the only idle one) sees what was committed since.
        drop(conn);
        assert_eq!(committed(&db), ["a", "b"]);
    }

    #[tokio::test]
    async fn a_lone_write_commits_at_once_and_a_dropped_one_leaves_nothing() {
        let db = db(SCHEMA).await;
        let mut a = db.writer.begin(&db.direct).await.expect("a");
        insert(&mut a, "a").await.expect("insert a");
        drop(a);
        assert!(committed(&db).is_empty());
        let mut b = db.writer.begin(&db.direct).await.expect("b");
        insert(&mut b, "b").await.expect("insert b");
        b.commit().await.expect("commit b");
        assert_eq!(committed(&db), ["b"]);
        assert!(!db.writer.turn.lock().await.open, "no transaction is left open");
    }

    #[tokio::test]
    async fn the_shim_binds_numbered_and_anonymous_parameters_and_reports_constraints_as_sqlx_does() {
        use crate::store::direct::shim::{query_as, query_scalar};
        let db = db("CREATE TABLE u (id TEXT PRIMARY KEY, n INTEGER NOT NULL, note TEXT)").await;
        let mut tx = db.writer.begin(&db.direct).await.expect("begin");
        // `$2` before `$1`: bound by number, not by order of appearance.
        query("INSERT INTO u (n, id, note) VALUES ($2, $1, $3)")
            .bind("x")
            .bind(7_i64)
            .bind(Option::<String>::None)
            .execute(tx.conn())
            .await
            .expect("numbered");
        query("INSERT INTO u (id, n, note) VALUES (?, ?, ?)")
            .bind("y")
            .bind(8_i32)
            .bind(Some("hi"))
            .execute(tx.conn())
            .await
            .expect("anonymous");
        let returned: Vec<(String, i64)> = query_as::<_, (String, i64)>("UPDATE u SET n = n + 1 RETURNING id, n")
            .fetch_all(tx.conn())
            .await
            .expect("returning");
        assert_eq!(returned.len(), 2);
        let changed = query("UPDATE u SET n = n + 1 WHERE id = $1").bind("x").execute(tx.conn()).await.expect("update");
        assert_eq!(changed.rows_affected(), 1);
        let n: Option<i64> = query_scalar::<_, i64>("SELECT n FROM u WHERE id = $1")
            .bind("x")
            .fetch_optional(tx.conn())
            .await
            .expect("scalar");
        assert_eq!(n, Some(9));
        let row = query("SELECT id, n, note FROM u WHERE id = $1")
            .bind("y")
            .fetch_optional(tx.conn())
            .await
            .expect("row")
            .expect("y");
        assert_eq!(row.try_get::<Option<String>, _>("note").expect("note").as_deref(), Some("hi"));
        assert!(row.try_get::<i64, _>("id").is_err(), "text is not read as a number");
        let taken =
            query("INSERT INTO u (id, n) VALUES ($1, 1)").bind("x").execute(tx.conn()).await.expect_err("duplicate");
        let db_err = taken.as_database_error().expect("a database error");
        assert!(db_err.is_unique_violation());
        assert!(db_err.message().contains("u.id"), "{}", db_err.message());
        // Past 64 parameters the order is kept per statement text: numbered in reverse order of
        // appearance, twice (the second run binds from the kept order), then with too few
        // arguments.
        let n = 70;
        let select =
            format!("SELECT {}", (1..=n).rev().map(|i| format!("${i} AS c{i}")).collect::<Vec<_>>().join(", "));
        for round in 0..2_i64 {
            let mut q = query(&select);
            for i in 1..=n {
                q = q.bind(i as i64 * 10 + round);
            }
            let row = q.fetch_optional(tx.conn()).await.expect("many parameters").expect("a row");
            for i in 1..=n {
                assert_eq!(row.try_get::<i64, _>(format!("c{i}").as_str()).expect("column"), i as i64 * 10 + round);
            }
        }
        let short = query(&select).bind(1_i64).fetch_optional(tx.conn()).await.expect_err("too few arguments");
        assert!(short.to_string().contains("wants argument"), "{short}");
        tx.commit().await.expect("commit");
    }
}
