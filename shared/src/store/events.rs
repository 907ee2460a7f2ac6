//! The outbox (`events`, `event_sequences`, `pending_events`), API keys (`api_keys`) and webhooks
//! (`webhook_endpoints`, `webhook_deliveries`); the services are [`crate::service::events`],
//! [`crate::service::api_keys`] and [`crate::service::webhooks`].
//!
//! A write queues its events on its [`TenantTx`] ([`TenantTx::emit`]); [`TenantTx::commit`]
//! writes them as the last statements before `COMMIT`, so a rolled-back write has none and a
//! committed one all. One tenant's events are numbered (`seq`) without gaps and in an order
//! consistent with their commits, so that a reader that has seen seq N never misses a smaller
//! one committed later:
//!
//! - **SQLite** numbers them inside the write, from the tenant's row of `event_sequences` (its
//!   one writer holds everything anyway).
//! - **PostgreSQL** inserts them into `pending_events`, and a sequencer
//!   ([`TenantStore::sequence_events`]) numbers what has committed soon after, under the
//!   tenant's advisory lock, in `pending_id` order. Numbering inside the write took the
//!   tenant's `event_sequences` row lock until `COMMIT`, which made one tenant's writes commit
//!   (fsync) one at a time: 3,551 creates/s became 622. A pending event not yet visible to the
//!   sequencer (its write has not committed) gets a later number, which is right: it commits
//!   later. Two writes where one waited for the other (a row lock, or a client that waited for
//!   the first answer) take their `pending_id`s in that order. The webhook workers run the
//!   sequencer before each claim (a commit on this instance wakes one; others poll), and every
//!   read of the events (the events API, the Integrations page, a new endpoint's start) runs it
//!   for its tenant first, so a reader sees its own writes.

use sqlx::Row;

use super::tx::{with_conn, TxConn};
use super::{with_pool, TenantStore, TenantTx};
use crate::error::DomainResult;

/// An event queued by a write (numbered at commit).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewEvent {
    /// Its id (`evt_…`).
    pub id: String,
    /// `user.created`, …
    pub kind: String,
    /// Epoch ms.
    pub at: i64,
    /// The resource after the change (JSON).
    pub data: String,
    /// What caused it (JSON).
    pub cause: String,
}

/// A stored event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventRecord {
    /// The tenant's sequence number.
    pub seq: i64,
    /// Its id.
    pub id: String,
    /// Its type.
    pub kind: String,
    /// Epoch ms.
    pub at: i64,
    /// JSON.
    pub data: String,
    /// JSON.
    pub cause: String,
}

const EVENT_COLUMNS: &str = "seq, id, type, at, data, cause";

fn event_from_row<R>(r: &R) -> DomainResult<EventRecord>
where
    R: Row,
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    String: for<'x> sqlx::Decode<'x, R::Database> + sqlx::Type<R::Database>,
    i64: for<'x> sqlx::Decode<'x, R::Database> + sqlx::Type<R::Database>,
{
    Ok(EventRecord {
        seq: r.try_get("seq")?,
        id: r.try_get("id")?,
        kind: r.try_get("type")?,
        at: r.try_get("at")?,
        data: r.try_get("data")?,
        cause: r.try_get("cause")?,
    })
}

impl TenantTx<'_> {
    /// Queues an event: written with the change at [`TenantTx::commit`], or never if the
    /// transaction rolls back.
    pub fn emit(&mut self, event: NewEvent) {
        debug_assert!(self.in_transaction(), "an event outside a transaction could outlive a rolled-back change");
        self.events.push(event);
    }

    /// Sets what caused this write (JSON), for the events it emits.
    pub fn set_cause(&mut self, cause: String) {
        self.cause = Some(cause);
    }

    /// What caused this write, if set.
    pub fn cause(&self) -> Option<&str> {
        self.cause.as_deref()
    }

    /// Numbers and inserts the queued events, or on PostgreSQL queues them for the sequencer
    /// (see the module doc); returns how many.
    pub(crate) async fn flush_events(&mut self) -> DomainResult<usize> {
        if self.events.is_empty() {
            return Ok(0);
        }
        let events = std::mem::take(&mut self.events);
        let tenant = self.id.as_str();
        if let TxConn::PostgresTx(_) | TxConn::Postgres(_) = self.conn {
            write_pending(&mut self.conn, tenant, &events).await?;
            return Ok(events.len());
        }
        let last = take_seqs(&mut self.conn, tenant, events.len() as i64).await?;
        write_events(&mut self.conn, tenant, last - events.len() as i64 + 1, &events).await?;
        Ok(events.len())
    }
}

/// Takes `n` seqs from the tenant's row of `event_sequences` (holding its lock until the
/// transaction ends); returns the last.
async fn take_seqs(conn: &mut TxConn, tenant: &str, n: i64) -> DomainResult<i64> {
    Ok(with_conn!(conn, |c| {
        sqlx::query_scalar(
            "INSERT INTO event_sequences (tenant_id, last_seq) VALUES ($1, $2) \
             ON CONFLICT (tenant_id) DO UPDATE SET last_seq = event_sequences.last_seq + $2 RETURNING last_seq",
        )
        .bind(tenant)
        .bind(n)
        .fetch_one(&mut *c)
        .await?
    }))
}

/// The start of an INSERT of pending events: the tenant, then an event's five values as
/// [`bind_pending!`] binds them (here and in a one-statement user write,
/// `TenantStore::update_user_alone`).
pub(super) const PENDING_INSERT: &str = "INSERT INTO pending_events (tenant_id, id, type, at, data, cause)";

/// Binds a [`NewEvent`]'s values of [`PENDING_INSERT`] (all but the tenant) to a query.
macro_rules! bind_pending {
    ($q:expr, $e:expr) => {
        $q.bind(&$e.id).bind(&$e.kind).bind($e.at).bind(&$e.data).bind(&$e.cause)
    };
}
pub(super) use bind_pending;

/// Queues events for the sequencer (PostgreSQL).
async fn write_pending(conn: &mut TxConn, tenant: &str, events: &[NewEvent]) -> DomainResult<()> {
    const COLUMNS: usize = 6;
    for chunk in events.chunks(500) {
        let sql = format!("{PENDING_INSERT} VALUES {}", super::value_rows(chunk.len(), COLUMNS, false));
        with_conn!(&mut *conn, |x| {
            let mut q = sqlx::query(&sql);
            for e in chunk {
                q = bind_pending!(q.bind(tenant), e);
            }
            q.execute(&mut *x).await?;
        });
    }
    Ok(())
}

/// Pending events the sequencer numbers per transaction.
const SEQUENCE_BATCH: i64 = 5000;

// The sequencer's statements run prepared, and PostgreSQL may settle on a generic plan for
// them, chosen while `pending_events` was small and kept as it grows. Written as `SELECT
// DISTINCT`, `EXISTS` and `IN (SELECT … LIMIT $2)`, their generic plans read the whole table
// (`EXISTS` and the take as sequential scans, the take as a hash semi-join since an unknown
// limit is taken as a tenth of the table), for every batch. In a benchmark that created a
// million users, one batch of 5,000 took 24 s and the next over 140 s, holding the tenant's
// event lock, which a new webhook endpoint waits for (it timed out). Each form below has one
// plan, generic or not: ordered walks of `(tenant_id, pending_id)` and primary key lookups.
// The take names the tenant twice: with `pending_id = ANY(…)` alone, the planner (estimating
// one row) looked the ids up in `(tenant_id, pending_id)` without its first column, reading the
// whole index for each batch (8.7 million buffers, 16.6 s, in a benchmark's auto_explain log).

/// How the sequencer's transactions plan: `pending_events` is a queue, whose statistics are
/// often far from its size (analyzed nearly empty, then a million rows behind): a sequential
/// scan planned for a few rows would then read the whole table, and its drained head, per batch.
pub const SEQUENCER_SETTINGS: &str = "SET LOCAL enable_seqscan = off";

/// The tenant's first pending event, if any (before taking the tenant's event lock).
const FIRST_PENDING_SQL: &str =
    "SELECT pending_id FROM pending_events WHERE tenant_id = $1 ORDER BY tenant_id, pending_id LIMIT 1";

/// Takes the tenant's first `$2` pending events.
const TAKE_PENDING_SQL: &str = "DELETE FROM pending_events WHERE tenant_id = $1 AND pending_id = ANY(ARRAY(\
     SELECT pending_id FROM pending_events WHERE tenant_id = $1 ORDER BY tenant_id, pending_id LIMIT $2)) \
     RETURNING pending_id, id, type, at, data, cause";

/// The tenants with pending events (at most 1,000): a skip scan of `(tenant_id, pending_id)`,
/// one index probe per tenant instead of reading every pending event.
const PENDING_TENANTS_SQL: &str = "WITH RECURSIVE t(tenant_id) AS (\
     (SELECT tenant_id FROM pending_events ORDER BY tenant_id LIMIT 1) \
     UNION ALL SELECT (SELECT p.tenant_id FROM pending_events p WHERE p.tenant_id > t.tenant_id \
     ORDER BY p.tenant_id LIMIT 1) FROM t WHERE t.tenant_id IS NOT NULL) \
     SELECT tenant_id FROM t WHERE tenant_id IS NOT NULL LIMIT 1000";

/// The sequencer takes pending events from the head of `(tenant_id, pending_id)` and deletes
/// them; their index entries stay until `pending_events` is vacuumed, and every walk from the
/// head (the first pending event, the take, the skip scan over tenants) steps over them first.
/// Autovacuum comes at most once a minute per database (`autovacuum_naptime`) and only past a
/// fifth of the table: in a benchmark that created a million users, the skip scan stepped over
/// the seed's drained million (about 8,200 index pages, 38 ms a call) for each of the webhook
/// workers' ~40 calls a second, two cores' worth beside a rule change's walk. So once an
/// instance's sequencers have taken [`VACUUM_AFTER`] events, it vacuums the table in the
/// background (one at a time; a vacuum of a million drained events took 0.18 s), which keeps
/// the head within that many dead entries. A role that does not own the table gets a warning
/// from PostgreSQL and nothing changes.
pub const VACUUM_AFTER: i64 = 10_000;

/// Statement that vacuums the queue (skipped while another vacuum, e.g. autovacuum, holds it).
const VACUUM_PENDING_SQL: &str = "VACUUM (INDEX_CLEANUP ON, SKIP_LOCKED) pending_events";

/// Events taken since the last vacuum of `pending_events` (see [`VACUUM_AFTER`]).
#[derive(Debug, Default)]
pub struct QueueVacuum {
    taken: std::sync::atomic::AtomicI64,
    running: std::sync::atomic::AtomicBool,
}

/// The webhook workers' passes over every tenant's pending events
/// ([`super::Store::sequence_in_turn`]) run one at a time in this instance. Each of the four
/// workers ran one after a commit woke it, and the passes queued on a tenant's advisory lock:
/// under a steady PATCH load on PostgreSQL, 1,747 passes in 8 s (about ten statements each, a
/// third of the statements PostgreSQL ran) waited 5.5 ms each on average for the pass before
/// them, which had numbered their events already. Under a steady stream of commits the worker
/// holding the turn keeps passing (one pass per gather), and the other workers claim and
/// deliver; with one worker nobody else asks, and it passes once per wake as before.
#[derive(Debug, Default)]
pub struct SequencerTurn {
    /// A pass is running.
    running: std::sync::atomic::AtomicBool,
    /// A caller found a pass running: the pass may have looked before the caller's commit, so
    /// it runs once more.
    again: std::sync::atomic::AtomicBool,
}

impl SequencerTurn {
    /// Runs `pass` unless one is running (then asks it to run once more and returns 0), and
    /// again after `gather` for as long as callers ask; returns what the passes returned.
    async fn run<F, Fut>(&self, gather: std::time::Duration, mut pass: F) -> DomainResult<usize>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = DomainResult<usize>>,
    {
        use std::sync::atomic::Ordering::SeqCst;
        self.again.store(true, SeqCst);
        let mut total = 0;
        let mut first = true;
        // `again` is read after `running` is cleared: a caller that found the pass running had
        // set `again` before, and one that came after finds the turn free and runs itself.
        while self.again.load(SeqCst) {
            if self.running.swap(true, SeqCst) {
                return Ok(total);
            }
            let _held = TurnHeld(self);
            if !first {
                tokio::time::sleep(gather).await;
            }
            first = false;
            self.again.store(false, SeqCst);
            total += pass().await?;
        }
        Ok(total)
    }
}

/// Clears [`SequencerTurn::running`] when its pass ends (returned, failed or dropped).
struct TurnHeld<'a>(&'a SequencerTurn);

impl Drop for TurnHeld<'_> {
    fn drop(&mut self) {
        self.0.running.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

/// The user groups of `n` users ($2…): (user, group, name, role). The users' memberships are
/// found first, on `(tenant_id, user_id)`: joined directly, PostgreSQL's planner, going by
/// statistics taken while `user_group_members` was nearly empty (before a rule run filled it),
/// walked each user group's memberships and filtered the users (20,135 buffers for 10 users
/// among 20,000 memberships; 795 a call, 9.5 ms, in a million-user rule run, twice per batch).
pub fn user_group_access_sql(n: usize) -> String {
    format!(
        "WITH m AS MATERIALIZED (SELECT user_id, group_id FROM user_group_members \
         WHERE tenant_id = $1 AND user_id IN ({})) \
         SELECT DISTINCT m.user_id, g.id, g.name, g.role FROM m JOIN user_groups g ON g.tenant_id = $1 AND g.id = m.group_id",
        super::placeholders(2, n)
    )
}

/// The sequencer's statements with their parameter types (for a test of their generic plans).
pub const SEQUENCER_STATEMENTS: [(&str, &str); 3] =
    [(FIRST_PENDING_SQL, "text"), (TAKE_PENDING_SQL, "text, bigint"), (PENDING_TENANTS_SQL, "")];

impl TenantStore<'_> {
    /// PostgreSQL: numbers this tenant's pending events that have committed (see the module
    /// doc); returns how many. A no-op on SQLite.
    pub async fn sequence_events(&self) -> DomainResult<usize> {
        let super::Pool::Postgres(p) = &self.store.pool else { return Ok(0) };
        let tenant = self.id.as_str();
        let mut total = 0;
        loop {
            let mut conn = TxConn::PostgresTx(p.begin().await?);
            with_conn!(&mut conn, |c| sqlx::query(SEQUENCER_SETTINGS).execute(c).await.map(|_| ()))?;
            let first: Option<i64> =
                with_conn!(&mut conn, |c| sqlx::query_scalar(FIRST_PENDING_SQL).bind(tenant).fetch_optional(c).await?);
            if first.is_none() {
                break;
            }
            with_conn!(&mut conn, |c| sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
                .bind(format!("roster:events:{tenant}"))
                .execute(c)
                .await
                .map(|_| ()))?;
            let mut rows: Vec<(i64, String, String, i64, String, String)> = with_conn!(&mut conn, |c| {
                sqlx::query_as(TAKE_PENDING_SQL).bind(tenant).bind(SEQUENCE_BATCH).fetch_all(&mut *c).await?
            });
            if rows.is_empty() {
                // Another sequencer took them meanwhile.
                break;
            }
            // RETURNING's order is unspecified.
            rows.sort_by_key(|r| r.0);
            let events: Vec<NewEvent> =
                rows.into_iter().map(|(_, id, kind, at, data, cause)| NewEvent { id, kind, at, data, cause }).collect();
            let last = take_seqs(&mut conn, tenant, events.len() as i64).await?;
            write_events(&mut conn, tenant, last - events.len() as i64 + 1, &events).await?;
            conn.commit().await?;
            self.store.took_pending(events.len() as i64);
            total += events.len();
            if (events.len() as i64) < SEQUENCE_BATCH {
                break;
            }
        }
        if total > 0 {
            self.store.events_wake.notify_one();
        }
        Ok(total)
    }
}

impl super::Store {
    /// Counts `n` pending events taken; past [`VACUUM_AFTER`] starts a vacuum of the queue in
    /// the background unless one is running.
    fn took_pending(&self, n: i64) {
        use std::sync::atomic::Ordering;
        let q = &self.pending_vacuum;
        if q.taken.fetch_add(n, Ordering::Relaxed) + n < VACUUM_AFTER || q.running.swap(true, Ordering::AcqRel) {
            return;
        }
        q.taken.store(0, Ordering::Relaxed);
        let store = self.clone();
        tokio::spawn(async move {
            if let Err(e) = store.vacuum_pending_events().await {
                tracing::warn!("vacuuming the pending events: {e}");
            }
            store.pending_vacuum.running.store(false, Ordering::Release);
        });
    }

    /// PostgreSQL: vacuums `pending_events` now (see [`VACUUM_AFTER`]). A no-op on SQLite.
    pub async fn vacuum_pending_events(&self) -> DomainResult<()> {
        let super::Pool::Postgres(p) = &self.pool else { return Ok(()) };
        // Not prepared (VACUUM cannot be) and outside any transaction.
        sqlx::raw_sql(VACUUM_PENDING_SQL).execute(p).await?;
        Ok(())
    }

    /// PostgreSQL: numbers the pending events of every tenant that has some, one pass at a
    /// time in this instance (the webhook workers run this before each claim); returns how
    /// many. A no-op on SQLite.
    ///
    /// A call that finds a pass running ([`SequencerTurn`]) asks it to run once more and
    /// returns 0 at once; the pass waits `gather` before running again, so that the commits
    /// right behind come too. The events are numbered by the pass that runs, which wakes a
    /// worker when it numbered some. Instances still meet on each tenant's advisory lock. A
    /// caller that must find its events numbered on return uses
    /// [`Self::sequence_all_events`].
    pub async fn sequence_in_turn(&self, gather: std::time::Duration) -> DomainResult<usize> {
        if !matches!(self.pool, super::Pool::Postgres(_)) {
            return Ok(0);
        }
        self.sequencer_turn.run(gather, || self.sequence_all_events()).await
    }

    /// PostgreSQL: numbers the pending events of every tenant that has some, now (waiting for
    /// a pass of another worker or instance on a tenant's advisory lock); returns how many. A
    /// no-op on SQLite.
    pub async fn sequence_all_events(&self) -> DomainResult<usize> {
        let super::Pool::Postgres(p) = &self.pool else { return Ok(0) };
        let mut tx = p.begin().await?;
        sqlx::query(SEQUENCER_SETTINGS).execute(&mut *tx).await?;
        let tenants: Vec<String> = sqlx::query_scalar(PENDING_TENANTS_SQL).fetch_all(&mut *tx).await?;
        tx.commit().await?;
        let mut total = 0;
        for t in tenants {
            let id = crate::ids::TenantId::from_store(t);
            total += self.tenant(&id).sequence_events().await?;
        }
        Ok(total)
    }
}

impl TenantTx<'_> {
    /// The organization's default role, read on this transaction's connection (a second
    /// connection while holding SQLite's write lock could wait for a pool that the writers
    /// queued behind this one hold).
    pub async fn default_role_in_tx(&mut self) -> DomainResult<Option<String>> {
        let tenant = self.id.as_str();
        let row: Option<(Option<String>,)> = with_conn!(&mut self.conn, |c| {
            sqlx::query_as("SELECT default_role FROM tenants WHERE id = $1")
                .bind(tenant)
                .fetch_optional(&mut *c)
                .await?
        });
        Ok(row.and_then(|(r,)| r))
    }

    /// This tenant's credentials that expire by `by_ms` and whose `credential.expiring` event
    /// was not emitted: (id, name, expires_at), marked emitted in this transaction.
    pub async fn take_expiring_credentials(
        &mut self,
        now_ms: i64,
        by_ms: i64,
    ) -> DomainResult<Vec<(String, String, i64)>> {
        let tenant = self.id.as_str();
        Ok(with_conn!(&mut self.conn, |c| {
            sqlx::query_as::<_, (String, String, i64)>(
                "UPDATE scim_credentials SET expiry_event_at = $1 WHERE tenant_id = $2 AND expires_at > $1 AND expires_at <= $3 \
                 AND revoked_at IS NULL AND replaced_by IS NULL AND created_by NOT LIKE 'oauth:%' AND expiry_event_at IS NULL \
                 RETURNING id, name, expires_at",
            )
            .bind(now_ms)
            .bind(tenant)
            .bind(by_ms)
            .fetch_all(&mut *c)
            .await?
        }))
    }

    /// The users in no user group, as this transaction sees it.
    pub async fn users_without_user_groups(&mut self) -> DomainResult<Vec<String>> {
        let tenant = self.id.as_str();
        Ok(with_conn!(&mut self.conn, |c| {
            sqlx::query_scalar::<_, String>(
                "SELECT u.id FROM scim_users u WHERE u.tenant_id = $1 AND NOT EXISTS \
                 (SELECT 1 FROM user_group_members m WHERE m.tenant_id = u.tenant_id AND m.user_id = u.id) ORDER BY u.id",
            )
            .bind(tenant)
            .fetch_all(&mut *c)
            .await?
        }))
    }

    /// The users in user group `group`, as this transaction sees it.
    pub async fn user_group_member_ids(&mut self, group: &str) -> DomainResult<Vec<String>> {
        let tenant = self.id.as_str();
        Ok(with_conn!(&mut self.conn, |c| {
            sqlx::query_scalar::<_, String>(
                "SELECT DISTINCT user_id FROM user_group_members WHERE tenant_id = $1 AND group_id = $2",
            )
            .bind(tenant)
            .bind(group)
            .fetch_all(&mut *c)
            .await?
        }))
    }

    /// The user groups of `users` as this transaction sees them: (user, group, name, role).
    pub async fn user_group_access(&mut self, users: &[String]) -> DomainResult<Vec<(String, String, String, String)>> {
        let tenant = self.id.as_str();
        let mut out = Vec::new();
        for chunk in users.chunks(500) {
            let sql = user_group_access_sql(chunk.len());
            let rows: Vec<(String, String, String, String)> = with_conn!(&mut self.conn, |c| {
                let mut q = sqlx::query_as(&sql).bind(tenant);
                for u in chunk {
                    q = q.bind(u);
                }
                q.fetch_all(&mut *c).await?
            });
            out.extend(rows);
        }
        Ok(out)
    }
}

async fn write_events(conn: &mut TxConn, tenant: &str, first: i64, events: &[NewEvent]) -> DomainResult<()> {
    const COLUMNS: usize = 7;
    let anonymous = conn.anonymous_params();
    for (c, chunk) in events.chunks(500).enumerate() {
        let mut sql = String::from("INSERT INTO events (tenant_id, seq, id, type, at, data, cause) VALUES ");
        sql.push_str(&super::value_rows(chunk.len(), COLUMNS, anonymous));
        let base = first + (c * 500) as i64;
        with_conn!(&mut *conn, |x| {
            let mut q = sqlx::query(&sql);
            for (i, e) in chunk.iter().enumerate() {
                q = q
                    .bind(tenant)
                    .bind(base + i as i64)
                    .bind(&e.id)
                    .bind(&e.kind)
                    .bind(e.at)
                    .bind(&e.data)
                    .bind(&e.cause);
            }
            q.execute(&mut *x).await?;
        });
    }
    Ok(())
}

/// An API key as stored (never its secret).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// Its id.
    pub id: String,
    /// Its tenant.
    pub tenant_id: String,
    /// What the admin called it.
    pub name: String,
    /// The first characters of the secret, to recognize it.
    pub prefix: String,
    /// Epoch ms.
    pub created_at: i64,
    /// The admin who created it.
    pub created_by: String,
    /// Epoch ms.
    pub last_used_at: Option<i64>,
    /// Epoch ms.
    pub revoked_at: Option<i64>,
}

const KEY_COLUMNS: &str = "id, tenant_id, name, prefix, created_at, created_by, last_used_at, revoked_at";

fn key_from_row<R>(r: &R) -> DomainResult<ApiKeyRecord>
where
    R: Row,
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    String: for<'x> sqlx::Decode<'x, R::Database> + sqlx::Type<R::Database>,
    i64: for<'x> sqlx::Decode<'x, R::Database> + sqlx::Type<R::Database>,
    Option<i64>: for<'x> sqlx::Decode<'x, R::Database> + sqlx::Type<R::Database>,
{
    Ok(ApiKeyRecord {
        id: r.try_get("id")?,
        tenant_id: r.try_get("tenant_id")?,
        name: r.try_get("name")?,
        prefix: r.try_get("prefix")?,
        created_at: r.try_get("created_at")?,
        created_by: r.try_get("created_by")?,
        last_used_at: r.try_get("last_used_at")?,
        revoked_at: r.try_get("revoked_at")?,
    })
}

/// A webhook endpoint as stored (its secret sealed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointRecord {
    /// Its tenant.
    pub tenant_id: String,
    /// Its id.
    pub id: String,
    /// Where deliveries go.
    pub url: String,
    /// The admin's note.
    pub description: String,
    /// The event types it wants, comma-separated; empty for all.
    pub types: String,
    /// The signing secret, sealed with the server key.
    pub secret_sealed: String,
    /// Whether it gets deliveries.
    pub enabled: bool,
    /// The last seq delivered (or skipped as not wanted).
    pub delivered_seq: i64,
    /// Whether retries gave up: deliveries stop until an admin retries.
    pub failing: bool,
    /// When the current run of failures began.
    pub failing_since: Option<i64>,
    /// Failed attempts in a row.
    pub attempts: i64,
    /// When the next attempt may be made.
    pub next_attempt_at: i64,
    /// The last failure, in words.
    pub last_error: Option<String>,
    /// Epoch ms.
    pub created_at: i64,
}

const ENDPOINT_COLUMNS: &str =
    "tenant_id, id, url, description, types, secret_sealed, enabled, delivered_seq, failing, \
                                failing_since, attempts, next_attempt_at, last_error, created_at";

fn endpoint_from_row<R>(r: &R) -> DomainResult<EndpointRecord>
where
    R: Row,
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    String: for<'x> sqlx::Decode<'x, R::Database> + sqlx::Type<R::Database>,
    Option<String>: for<'x> sqlx::Decode<'x, R::Database> + sqlx::Type<R::Database>,
    i64: for<'x> sqlx::Decode<'x, R::Database> + sqlx::Type<R::Database>,
    Option<i64>: for<'x> sqlx::Decode<'x, R::Database> + sqlx::Type<R::Database>,
    bool: for<'x> sqlx::Decode<'x, R::Database> + sqlx::Type<R::Database>,
{
    Ok(EndpointRecord {
        tenant_id: r.try_get("tenant_id")?,
        id: r.try_get("id")?,
        url: r.try_get("url")?,
        description: r.try_get("description")?,
        types: r.try_get("types")?,
        secret_sealed: r.try_get("secret_sealed")?,
        enabled: r.try_get("enabled")?,
        delivered_seq: r.try_get("delivered_seq")?,
        failing: r.try_get("failing")?,
        failing_since: r.try_get("failing_since")?,
        attempts: r.try_get("attempts")?,
        next_attempt_at: r.try_get("next_attempt_at")?,
        last_error: r.try_get("last_error")?,
        created_at: r.try_get("created_at")?,
    })
}

/// One delivery attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryRecord {
    /// Its id.
    pub id: String,
    /// The endpoint.
    pub endpoint_id: String,
    /// The event delivered (a test event's own id).
    pub event_id: String,
    /// Its seq (none for a test event).
    pub event_seq: Option<i64>,
    /// Its type.
    pub event_type: String,
    /// `event`, `resend` or `test`.
    pub kind: String,
    /// Which attempt for this event (1 = first).
    pub attempt: i64,
    /// Epoch ms.
    pub at: i64,
    /// Whether the endpoint answered 2xx.
    pub ok: bool,
    /// Its HTTP status, if it answered.
    pub status_code: Option<i64>,
    /// How long it took.
    pub latency_ms: i64,
    /// The start of its answer.
    pub response: Option<String>,
    /// Why it failed, in words.
    pub error: Option<String>,
}

const INSERT_DELIVERY: &str = "INSERT INTO webhook_deliveries (tenant_id, id, endpoint_id, event_id, event_seq, \
     event_type, kind, attempt, at, ok, status_code, latency_ms, response, error) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)";

/// Binds a delivery log row's 14 values, in [`INSERT_DELIVERY`]'s order.
macro_rules! bind_delivery {
    ($q:expr, $tenant:expr, $d:expr) => {
        $q.bind($tenant)
            .bind(&$d.id)
            .bind(&$d.endpoint_id)
            .bind(&$d.event_id)
            .bind($d.event_seq)
            .bind(&$d.event_type)
            .bind(&$d.kind)
            .bind($d.attempt)
            .bind($d.at)
            .bind($d.ok)
            .bind($d.status_code)
            .bind($d.latency_ms)
            .bind(&$d.response)
            .bind(&$d.error)
    };
}

/// Rows of the delivery log one `INSERT` writes (14 parameters each; SQLite allows 32,766).
const DELIVERY_ROWS_PER_INSERT: usize = 100;

/// [`INSERT_DELIVERY`] for `rows` rows (anonymous parameters on SQLite, see
/// [`super::value_rows`]).
fn multi_row_insert(rows: usize, anonymous: bool) -> String {
    let (head, _) = INSERT_DELIVERY.split_once("VALUES").unwrap_or((INSERT_DELIVERY, ""));
    format!("{head}VALUES {}", super::value_rows(rows, 14, anonymous))
}

const DELIVERY_COLUMNS: &str =
    "id, endpoint_id, event_id, event_seq, event_type, kind, attempt, at, ok, status_code, latency_ms, response, error";

fn delivery_from_row<R>(r: &R) -> DomainResult<DeliveryRecord>
where
    R: Row,
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    String: for<'x> sqlx::Decode<'x, R::Database> + sqlx::Type<R::Database>,
    Option<String>: for<'x> sqlx::Decode<'x, R::Database> + sqlx::Type<R::Database>,
    i64: for<'x> sqlx::Decode<'x, R::Database> + sqlx::Type<R::Database>,
    Option<i64>: for<'x> sqlx::Decode<'x, R::Database> + sqlx::Type<R::Database>,
    bool: for<'x> sqlx::Decode<'x, R::Database> + sqlx::Type<R::Database>,
{
    Ok(DeliveryRecord {
        id: r.try_get("id")?,
        endpoint_id: r.try_get("endpoint_id")?,
        event_id: r.try_get("event_id")?,
        event_seq: r.try_get("event_seq")?,
        event_type: r.try_get("event_type")?,
        kind: r.try_get("kind")?,
        attempt: r.try_get("attempt")?,
        at: r.try_get("at")?,
        ok: r.try_get("ok")?,
        status_code: r.try_get("status_code")?,
        latency_ms: r.try_get("latency_ms")?,
        response: r.try_get("response")?,
        error: r.try_get("error")?,
    })
}

/// A new webhook endpoint.
#[derive(Clone, Debug)]
pub struct NewEndpoint<'a> {
    /// Its id.
    pub id: &'a str,
    /// Its URL (checked).
    pub url: &'a str,
    /// The admin's note.
    pub description: &'a str,
    /// Comma-separated types; empty for all.
    pub types: &'a str,
    /// The sealed signing secret.
    pub secret_sealed: &'a str,
}

impl TenantStore<'_> {
    /// Events after `after` (a seq), in order, at most `limit`; only `types` when not empty.
    pub async fn events_after(&self, after: i64, types: &[String], limit: i64) -> DomainResult<Vec<EventRecord>> {
        self.sequence_events().await?;
        let types_in = if types.is_empty() {
            String::new()
        } else {
            format!(" AND type IN ({})", super::placeholders(4, types.len()))
        };
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE tenant_id = $1 AND seq > $2{types_in} ORDER BY seq LIMIT $3"
        );
        with_pool!(self.store, |p| {
            let mut q = sqlx::query(&sql).bind(self.id.as_str()).bind(after).bind(limit);
            for t in types {
                q = q.bind(t);
            }
            let rows = q.fetch_all(p).await?;
            rows.iter().map(event_from_row).collect()
        })
    }

    /// One event by id.
    pub async fn event(&self, id: &str) -> DomainResult<Option<EventRecord>> {
        self.sequence_events().await?;
        let sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE tenant_id = $1 AND id = $2");
        with_pool!(self.store, |p| {
            let row = sqlx::query(&sql).bind(self.id.as_str()).bind(id).fetch_optional(p).await?;
            row.as_ref().map(event_from_row).transpose()
        })
    }

    /// The last seq given to this tenant's events (0 before the first).
    pub async fn last_event_seq(&self) -> DomainResult<i64> {
        self.sequence_events().await?;
        let seq: Option<i64> = with_pool!(self.store, |p| {
            sqlx::query_scalar("SELECT last_seq FROM event_sequences WHERE tenant_id = $1")
                .bind(self.id.as_str())
                .fetch_optional(p)
                .await?
        });
        Ok(seq.unwrap_or(0))
    }

    /// The users of user group `group` after `after` (a user id), in id order, at most
    /// `limit`: (user id, the reasons they are in it, comma-separated).
    pub async fn user_group_members_page(
        &self,
        group: &str,
        after: &str,
        limit: i64,
    ) -> DomainResult<Vec<(String, String)>> {
        let rows: Vec<(String, String)> = with_pool!(self.store, |p| {
            sqlx::query_as(
                "SELECT user_id, reason FROM user_group_members WHERE tenant_id = $1 AND group_id = $2 AND user_id IN \
                 (SELECT DISTINCT user_id FROM user_group_members WHERE tenant_id = $1 AND group_id = $2 AND user_id > $3 \
                  ORDER BY user_id LIMIT $4) ORDER BY user_id, reason",
            )
            .bind(self.id.as_str())
            .bind(group)
            .bind(after)
            .bind(limit)
            .fetch_all(p)
            .await?
        });
        let mut out: Vec<(String, String)> = Vec::new();
        for (user, reason) in rows {
            match out.last_mut() {
                Some((u, reasons)) if *u == user => {
                    if !reasons.split(',').any(|r| r == reason) {
                        reasons.push(',');
                        reasons.push_str(&reason);
                    }
                }
                _ => out.push((user, reason)),
            }
        }
        Ok(out)
    }

    /// The source (`scim`, `manual`, `jit`) of each of these users.
    pub async fn user_sources(&self, ids: &[String]) -> DomainResult<std::collections::HashMap<String, String>> {
        let mut out = std::collections::HashMap::new();
        for chunk in ids.chunks(500) {
            let sql = format!(
                "SELECT id, source FROM scim_users WHERE tenant_id = $1 AND id IN ({})",
                super::placeholders(2, chunk.len())
            );
            let rows: Vec<(String, String)> = with_pool!(self.store, |p| {
                let mut q = sqlx::query_as(&sql).bind(self.id.as_str());
                for id in chunk {
                    q = q.bind(id);
                }
                q.fetch_all(p).await?
            });
            out.extend(rows);
        }
        Ok(out)
    }

    /// Adds an API key.
    pub async fn insert_api_key(
        &self,
        id: &str,
        name: &str,
        prefix: &str,
        secret_hash: &str,
        created_by: &str,
        now_ms: i64,
    ) -> DomainResult<()> {
        with_pool!(self.store, |p| {
            sqlx::query(
                "INSERT INTO api_keys (id, tenant_id, name, prefix, secret_hash, created_at, created_by) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(id)
            .bind(self.id.as_str())
            .bind(name)
            .bind(prefix)
            .bind(secret_hash)
            .bind(now_ms)
            .bind(created_by)
            .execute(p)
            .await?;
        });
        Ok(())
    }

    /// This tenant's API keys, newest first.
    pub async fn api_keys(&self) -> DomainResult<Vec<ApiKeyRecord>> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE tenant_id = $1 ORDER BY created_at DESC, id");
        with_pool!(self.store, |p| {
            let rows = sqlx::query(&sql).bind(self.id.as_str()).fetch_all(p).await?;
            rows.iter().map(key_from_row).collect()
        })
    }

    /// Revokes one of this tenant's keys; `false` if it has no such key or it was revoked.
    pub async fn revoke_api_key(&self, id: &str, now_ms: i64) -> DomainResult<bool> {
        let n = with_pool!(self.store, |p| {
            sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE tenant_id = $2 AND id = $3 AND revoked_at IS NULL")
                .bind(now_ms)
                .bind(self.id.as_str())
                .bind(id)
                .execute(p)
                .await?
                .rows_affected()
        });
        Ok(n == 1)
    }

    /// Adds a webhook endpoint that starts after the tenant's latest event.
    pub async fn insert_endpoint(&self, e: &NewEndpoint<'_>, now_ms: i64) -> DomainResult<()> {
        self.sequence_events().await?;
        with_pool!(self.store, |p| {
            sqlx::query(
                "INSERT INTO webhook_endpoints (tenant_id, id, url, description, types, secret_sealed, enabled, delivered_seq, \
                 failing, attempts, next_attempt_at, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, TRUE, \
                 COALESCE((SELECT last_seq FROM event_sequences WHERE tenant_id = $1), 0), FALSE, 0, 0, $7, $7)",
            )
            .bind(self.id.as_str())
            .bind(e.id)
            .bind(e.url)
            .bind(e.description)
            .bind(e.types)
            .bind(e.secret_sealed)
            .bind(now_ms)
            .execute(p)
            .await?;
        });
        Ok(())
    }

    /// This tenant's endpoints, oldest first.
    pub async fn endpoints(&self) -> DomainResult<Vec<EndpointRecord>> {
        let sql =
            format!("SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE tenant_id = $1 ORDER BY created_at, id");
        with_pool!(self.store, |p| {
            let rows = sqlx::query(&sql).bind(self.id.as_str()).fetch_all(p).await?;
            rows.iter().map(endpoint_from_row).collect()
        })
    }

    /// One endpoint.
    pub async fn endpoint(&self, id: &str) -> DomainResult<Option<EndpointRecord>> {
        let sql = format!("SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2");
        with_pool!(self.store, |p| {
            let row = sqlx::query(&sql).bind(self.id.as_str()).bind(id).fetch_optional(p).await?;
            row.as_ref().map(endpoint_from_row).transpose()
        })
    }

    /// Changes an endpoint's URL, note, types and whether it is on; `false` if there is none.
    pub async fn update_endpoint(
        &self,
        id: &str,
        url: &str,
        description: &str,
        types: &str,
        enabled: bool,
        now_ms: i64,
    ) -> DomainResult<bool> {
        let n = with_pool!(self.store, |p| {
            sqlx::query(
                "UPDATE webhook_endpoints SET url = $1, description = $2, types = $3, enabled = $4, updated_at = $5 \
                 WHERE tenant_id = $6 AND id = $7",
            )
            .bind(url)
            .bind(description)
            .bind(types)
            .bind(enabled)
            .bind(now_ms)
            .bind(self.id.as_str())
            .bind(id)
            .execute(p)
            .await?
            .rows_affected()
        });
        Ok(n == 1)
    }

    /// Deletes an endpoint and its delivery log; `false` if there is none.
    pub async fn delete_endpoint(&self, id: &str) -> DomainResult<bool> {
        let n = with_pool!(self.store, |p| {
            let mut tx = p.begin().await?;
            sqlx::query("DELETE FROM webhook_deliveries WHERE tenant_id = $1 AND endpoint_id = $2")
                .bind(self.id.as_str())
                .bind(id)
                .execute(&mut *tx)
                .await?;
            let n = sqlx::query("DELETE FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2")
                .bind(self.id.as_str())
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            n
        });
        Ok(n == 1)
    }

    /// Ends an endpoint's failures: it is tried again at once.
    pub async fn retry_endpoint(&self, id: &str, now_ms: i64) -> DomainResult<bool> {
        let n = with_pool!(self.store, |p| {
            sqlx::query(
                "UPDATE webhook_endpoints SET failing = FALSE, failing_since = NULL, attempts = 0, next_attempt_at = 0, \
                 updated_at = $1 WHERE tenant_id = $2 AND id = $3",
            )
            .bind(now_ms)
            .bind(self.id.as_str())
            .bind(id)
            .execute(p)
            .await?
            .rows_affected()
        });
        Ok(n == 1)
    }

    /// An endpoint's latest deliveries, newest first.
    pub async fn deliveries(&self, endpoint: &str, limit: i64) -> DomainResult<Vec<DeliveryRecord>> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE tenant_id = $1 AND endpoint_id = $2 \
             ORDER BY at DESC, id DESC LIMIT $3"
        );
        with_pool!(self.store, |p| {
            let rows = sqlx::query(&sql).bind(self.id.as_str()).bind(endpoint).bind(limit).fetch_all(p).await?;
            rows.iter().map(delivery_from_row).collect()
        })
    }

    /// One delivery.
    pub async fn delivery(&self, id: &str) -> DomainResult<Option<DeliveryRecord>> {
        let sql = format!("SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE tenant_id = $1 AND id = $2");
        with_pool!(self.store, |p| {
            let row = sqlx::query(&sql).bind(self.id.as_str()).bind(id).fetch_optional(p).await?;
            row.as_ref().map(delivery_from_row).transpose()
        })
    }

    /// Logs a delivery attempt.
    pub async fn insert_delivery(&self, d: &DeliveryRecord) -> DomainResult<()> {
        with_pool!(self.store, |p| {
            bind_delivery!(sqlx::query(INSERT_DELIVERY), self.id.as_str(), d).execute(p).await?;
        });
        Ok(())
    }
}

impl super::Store {
    /// The key whose secret hashes to `hash`, revoked or not.
    pub async fn api_key_by_hash(&self, hash: &str) -> DomainResult<Option<ApiKeyRecord>> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE secret_hash = $1");
        with_pool!(self, |p| {
            let row = sqlx::query(&sql).bind(hash).fetch_optional(p).await?;
            row.as_ref().map(key_from_row).transpose()
        })
    }

    /// Notes a key's use (at most once a minute per key: the caller throttles).
    pub async fn touch_api_key(&self, id: &str, now_ms: i64) -> DomainResult<()> {
        with_pool!(self, |p| {
            sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2").bind(now_ms).bind(id).execute(p).await?;
        });
        Ok(())
    }

    /// Claims for `owner` until `lease_until` the endpoint that has waited longest among those
    /// with events to deliver, on, not failing, due, and not held by a live lease.
    ///
    /// Looks first with a read (which takes no lock): on SQLite the claim's `UPDATE` waits for
    /// the one writer's lock while holding a pooled connection, and idle workers doing that
    /// every poll took connections the writers needed.
    pub async fn claim_endpoint(
        &self,
        owner: &str,
        now_ms: i64,
        lease_until: i64,
    ) -> DomainResult<Option<EndpointRecord>> {
        const READY: &str = "SELECT w.id FROM webhook_endpoints w JOIN event_sequences s ON s.tenant_id = w.tenant_id \
             WHERE w.enabled AND NOT w.failing AND w.next_attempt_at <= $1 AND w.delivered_seq < s.last_seq \
               AND (w.lease_until IS NULL OR w.lease_until < $1) LIMIT 1";
        // Asked after every commit that wrote events: a short read (on SQLite in place, on
        // PostgreSQL one round trip on a hot request's connection, where the pool's pings made it
        // three, several times a pass).
        let ready: Option<String> =
            super::with_read!(self, |c| sqlx::query_scalar::<_, String>(READY).bind(now_ms).fetch_optional(c).await?);
        if ready.is_none() {
            return Ok(None);
        }
        let lock = match self.backend() {
            super::Backend::Postgres => " FOR UPDATE OF w SKIP LOCKED",
            super::Backend::Sqlite => "",
        };
        let sql = format!(
            "UPDATE webhook_endpoints SET lease_owner = $1, lease_until = $2 \
             WHERE (tenant_id, id) = (SELECT w.tenant_id, w.id FROM webhook_endpoints w \
                 JOIN event_sequences s ON s.tenant_id = w.tenant_id \
                 WHERE w.enabled AND NOT w.failing AND w.next_attempt_at <= $3 AND w.delivered_seq < s.last_seq \
                   AND (w.lease_until IS NULL OR w.lease_until < $3) \
                 ORDER BY w.next_attempt_at, w.tenant_id, w.id LIMIT 1{lock}) \
             RETURNING {ENDPOINT_COLUMNS}"
        );
        with_pool!(self, |p| {
            let row = sqlx::query(&sql).bind(owner).bind(lease_until).bind(now_ms).fetch_optional(p).await?;
            row.as_ref().map(endpoint_from_row).transpose()
        })
    }

    /// Records, in one transaction, that `owner` delivered (or skipped) an endpoint's events up
    /// to `seq`, with the delivery log's rows, and extends its lease; `false` (and nothing
    /// recorded) when it no longer holds the lease (another instance took over).
    pub async fn record_deliveries(
        &self,
        tenant: &str,
        id: &str,
        owner: &str,
        records: &[DeliveryRecord],
        seq: i64,
        lease_until: i64,
    ) -> DomainResult<bool> {
        let mut conn = TxConn::begin(self).await?;
        let n = with_conn!(&mut conn, |c| {
            sqlx::query(
            "UPDATE webhook_endpoints SET delivered_seq = $1, attempts = 0, failing_since = NULL, last_error = NULL, \
             lease_until = $2 WHERE tenant_id = $3 AND id = $4 AND lease_owner = $5 AND delivered_seq <= $1",
        )
        .bind(seq)
        .bind(lease_until)
        .bind(tenant)
        .bind(id)
        .bind(owner)
        .execute(c)
        .await?
        .rows_affected()
        });
        if n != 1 {
            return Ok(false);
        }
        // One statement per chunk of rows: each statement is a round trip to the connection's
        // thread while this instance holds the database's one writer.
        for chunk in records.chunks(DELIVERY_ROWS_PER_INSERT) {
            let sql = multi_row_insert(chunk.len(), conn.anonymous_params());
            with_conn!(&mut conn, |c| {
                let mut q = sqlx::query(&sql);
                for d in chunk {
                    q = bind_delivery!(q, tenant, d);
                }
                q.execute(c).await.map(|_| ())
            })?;
        }
        conn.commit().await?;
        Ok(true)
    }

    /// Records a failed attempt of `owner`: the next one at `next_at`, or none (failing).
    #[allow(clippy::too_many_arguments)]
    pub async fn endpoint_failed(
        &self,
        tenant: &str,
        id: &str,
        owner: &str,
        attempts: i64,
        failing_since: i64,
        next_at: i64,
        failing: bool,
        error: &str,
    ) -> DomainResult<()> {
        with_pool!(self, |p| {
            sqlx::query(
                "UPDATE webhook_endpoints SET attempts = $1, failing_since = $2, next_attempt_at = $3, failing = $4, \
                 last_error = $5, lease_owner = NULL, lease_until = NULL \
                 WHERE tenant_id = $6 AND id = $7 AND lease_owner = $8",
            )
            .bind(attempts)
            .bind(failing_since)
            .bind(next_at)
            .bind(failing)
            .bind(error)
            .bind(tenant)
            .bind(id)
            .bind(owner)
            .execute(p)
            .await?;
        });
        Ok(())
    }

    /// Gives an endpoint's lease back.
    pub async fn release_endpoint(&self, tenant: &str, id: &str, owner: &str) -> DomainResult<()> {
        with_pool!(self, |p| {
            sqlx::query(
                "UPDATE webhook_endpoints SET lease_owner = NULL, lease_until = NULL \
                 WHERE tenant_id = $1 AND id = $2 AND lease_owner = $3",
            )
            .bind(tenant)
            .bind(id)
            .bind(owner)
            .execute(p)
            .await?;
        });
        Ok(())
    }

    /// The tenants with credentials whose `credential.expiring` event is due.
    pub async fn tenants_with_expiring_credentials(&self, now_ms: i64, by_ms: i64) -> DomainResult<Vec<String>> {
        with_pool!(self, |p| {
            Ok(sqlx::query_scalar::<_, String>(
                "SELECT DISTINCT c.tenant_id FROM scim_credentials c JOIN tenants t ON t.id = c.tenant_id \
                 WHERE c.expires_at > $1 AND c.expires_at <= $2 AND c.revoked_at IS NULL AND c.replaced_by IS NULL \
                 AND c.created_by NOT LIKE 'oauth:%' AND c.expiry_event_at IS NULL AND t.disabled_at IS NULL",
            )
            .bind(now_ms)
            .bind(by_ms)
            .fetch_all(p)
            .await?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_multi_row_insert_numbers_each_rows_parameters_on() {
        let one = multi_row_insert(1, false);
        assert_eq!(one, INSERT_DELIVERY);
        let three = multi_row_insert(3, false);
        assert!(three.contains("($15, $16,"), "{three}");
        assert!(three.ends_with("$41, $42)"), "{three}");
        assert_eq!(three.matches("), (").count(), 2);
        let anonymous = multi_row_insert(2, true);
        assert_eq!(anonymous.matches('?').count(), 28);
        assert!(!anonymous.contains('$'), "{anonymous}");
    }

    /// A pass for [`SequencerTurn::run`] that counts its calls, waits for `release` on the
    /// first, and fails when `fail` is set; each returns 10.
    fn counted_pass(
        calls: &std::sync::Arc<std::sync::atomic::AtomicUsize>,
        release: &std::sync::Arc<tokio::sync::Notify>,
        fail: bool,
    ) -> impl FnMut() -> std::pin::Pin<Box<dyn std::future::Future<Output = DomainResult<usize>> + Send>> {
        let (calls, release) = (calls.clone(), release.clone());
        move || {
            let (calls, release) = (calls.clone(), release.clone());
            Box::pin(async move {
                if calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                    release.notified().await;
                }
                if fail {
                    return Err(crate::error::DomainError::Invalid("the pass failed".into()));
                }
                Ok(10)
            })
        }
    }

    #[tokio::test]
    async fn a_sequencer_pass_asked_for_while_one_runs_is_run_by_that_one_once_more() {
        use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
        use std::sync::Arc;
        let turn = Arc::new(SequencerTurn::default());
        let calls = Arc::new(AtomicUsize::new(0));
        let release = Arc::new(tokio::sync::Notify::new());
        let gather = std::time::Duration::ZERO;
        let first = tokio::spawn({
            let (turn, pass) = (turn.clone(), counted_pass(&calls, &release, false));
            async move { turn.run(gather, pass).await }
        });
        while calls.load(SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        // The first pass is running: a second caller returns at once, having run nothing.
        let second = turn.run(gather, counted_pass(&calls, &release, false)).await.expect("second");
        assert_eq!((second, calls.load(SeqCst)), (0, 1));
        // Released, the running caller passes once more for it, and then stops.
        release.notify_one();
        let total = first.await.expect("join").expect("first");
        assert_eq!((total, calls.load(SeqCst)), (20, 2));
        // Nobody running: a caller runs its own pass.
        assert_eq!(turn.run(gather, counted_pass(&calls, &release, false)).await.expect("third"), 10);
        assert_eq!(calls.load(SeqCst), 3);
    }

    #[tokio::test]
    async fn a_sequencer_pass_that_fails_or_is_dropped_leaves_the_turn_free() {
        use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
        use std::sync::Arc;
        let turn = Arc::new(SequencerTurn::default());
        let gather = std::time::Duration::ZERO;
        let calls = Arc::new(AtomicUsize::new(1));
        let release = Arc::new(tokio::sync::Notify::new());
        assert!(turn.run(gather, counted_pass(&calls, &release, true)).await.is_err());
        assert_eq!(turn.run(gather, counted_pass(&calls, &release, false)).await.expect("after a failure"), 10);
        // A pass dropped while it waits (its caller cancelled) frees the turn too.
        let waiting = Arc::new(AtomicUsize::new(0));
        let run = tokio::spawn({
            let (turn, pass) = (turn.clone(), counted_pass(&waiting, &release, false));
            async move { turn.run(gather, pass).await }
        });
        while waiting.load(SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        run.abort();
        assert!(run.await.expect_err("aborted").is_cancelled());
        assert_eq!(turn.run(gather, counted_pass(&calls, &release, false)).await.expect("after a drop"), 10);
        assert_eq!((calls.load(SeqCst), waiting.load(SeqCst)), (4, 1));
    }
}
