//! The job queue's rows (`jobs`; the service is [`crate::service::jobs`]).
//!
//! A worker claims a ready job — queued and due, or running with a lease that ran out (its
//! instance died) — by setting itself as the lease's owner; PostgreSQL instances skip rows
//! another instance is claiming (`FOR UPDATE SKIP LOCKED`), SQLite has one writer anyway. Every
//! later write of the job (progress, the end) names the owner and changes nothing once another
//! worker has taken the job over: a worker that finds it lost its lease stops. The owner is the
//! claim's, not the instance's (`instance#attempt`): an instance that stalls past a lease and
//! claims the job again in another task must not let the stalled task's writes through.

use sqlx::Row;

use super::tx::{with_tx, TenantTx};
use super::with_pool;
use crate::error::DomainResult;

/// Columns of a job, in [`JobRecord`]'s order.
const COLUMNS: &str = "id, tenant_id, kind, args, state, attempts, run_at, lease_owner, lease_until, progress, \
                       error, created_at, updated_at, finished_at";

/// Records a job's progress (if `$1` is not null) and extends its lease, if `$5` still holds it.
const RENEW_SQL: &str = "UPDATE jobs SET progress = COALESCE($1, progress), lease_until = $2, updated_at = $3 \
                         WHERE id = $4 AND lease_owner = $5 AND state = 'running'";

/// One job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobRecord {
    /// Its id (for a whole-tenant evaluation, the mapping run's id).
    pub id: String,
    /// The tenant it works on; `None` for cluster-wide jobs (maintenance).
    pub tenant_id: Option<String>,
    /// What it does (`place_all`, `maintenance`).
    pub kind: String,
    /// Its arguments (JSON).
    pub args: String,
    /// `queued`, `running`, `done`, `failed` or `cancelled`.
    pub state: String,
    /// Claims so far (the current one included).
    pub attempts: i64,
    /// When it may run (epoch ms): its creation, or the next try after a failure.
    pub run_at: i64,
    /// The instance working on it.
    pub lease_owner: Option<String>,
    /// Until when that instance holds it.
    pub lease_until: Option<i64>,
    /// Where it got to (JSON), to resume from.
    pub progress: Option<String>,
    /// The last failure.
    pub error: Option<String>,
    /// Epoch ms.
    pub created_at: i64,
    /// Epoch ms.
    pub updated_at: i64,
    /// Epoch ms, once done, failed or cancelled.
    pub finished_at: Option<i64>,
}

fn from_row<R>(r: &R) -> DomainResult<JobRecord>
where
    R: Row,
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i32: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(JobRecord {
        id: r.try_get("id")?,
        tenant_id: r.try_get("tenant_id")?,
        kind: r.try_get("kind")?,
        args: r.try_get("args")?,
        state: r.try_get("state")?,
        attempts: i64::from(r.try_get::<i32, _>("attempts")?),
        run_at: r.try_get("run_at")?,
        lease_owner: r.try_get("lease_owner")?,
        lease_until: r.try_get("lease_until")?,
        progress: r.try_get("progress")?,
        error: r.try_get("error")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        finished_at: r.try_get("finished_at")?,
    })
}

/// A job to add.
#[derive(Clone, Debug, Default)]
pub struct NewJob {
    /// Its id.
    pub id: String,
    /// Its tenant, if it works on one.
    pub tenant_id: Option<String>,
    /// What it does.
    pub kind: String,
    /// Its arguments (JSON).
    pub args: String,
    /// A key only one job ever has (the same job enqueued by every instance exists once).
    pub unique_key: Option<String>,
    /// When it may run (epoch ms).
    pub run_at: i64,
}

/// Which jobs to list.
#[derive(Clone, Debug, Default)]
pub struct JobFilter {
    /// Only this tenant's.
    pub tenant_id: Option<String>,
    /// Only in this state.
    pub state: Option<String>,
    /// At most this many, newest first.
    pub limit: i64,
}

impl super::Store {
    /// Adds a job; `false` (and nothing added) when a job with its `unique_key` exists.
    pub async fn enqueue_job(&self, job: &NewJob, now_ms: i64) -> DomainResult<bool> {
        let n = with_pool!(self, |p| {
            sqlx::query(
                "INSERT INTO jobs (id, tenant_id, kind, args, unique_key, state, attempts, run_at, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, 'queued', 0, $6, $7, $7) ON CONFLICT DO NOTHING",
            )
            .bind(&job.id)
            .bind(&job.tenant_id)
            .bind(&job.kind)
            .bind(&job.args)
            .bind(&job.unique_key)
            .bind(job.run_at)
            .bind(now_ms)
            .execute(p)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }

    /// Claims the ready job due longest ago for `owner` until `lease_until`: a queued one whose
    /// time has come, or a running one whose lease ran out. Counts the attempt. The lease's
    /// owner is `owner#attempt` (see the module doc); later writes name it.
    /// Only jobs of `kinds` (those this release runs) are claimed.
    pub async fn claim_job(
        &self,
        owner: &str,
        kinds: &[&str],
        now_ms: i64,
        lease_until: i64,
    ) -> DomainResult<Option<JobRecord>> {
        let lock = match self.backend() {
            super::Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            super::Backend::Sqlite => "",
        };
        let kinds_in = super::placeholders(4, kinds.len().max(1));
        let sql = format!(
            "UPDATE jobs SET state = 'running', lease_owner = $1 || '#' || CAST(attempts + 1 AS TEXT), lease_until = $2, \
             attempts = attempts + 1, updated_at = $3 \
             WHERE id = (SELECT id FROM jobs \
                         WHERE ((state = 'queued' AND run_at <= $3) OR (state = 'running' AND lease_until < $3)) \
                           AND kind IN ({kinds_in}) \
                         ORDER BY run_at, id LIMIT 1{lock}) \
             RETURNING {COLUMNS}"
        );
        with_pool!(self, |p| {
            let mut q = sqlx::query(&sql).bind(owner).bind(lease_until).bind(now_ms);
            for k in kinds {
                q = q.bind(*k);
            }
            if kinds.is_empty() {
                q = q.bind("");
            }
            let row = q.fetch_optional(p).await?;
            row.as_ref().map(from_row).transpose()
        })
    }

    /// Records progress and extends the lease; `false` when `owner` no longer holds the job.
    pub async fn renew_job(
        &self,
        id: &str,
        owner: &str,
        progress: Option<&str>,
        lease_until: i64,
        now_ms: i64,
    ) -> DomainResult<bool> {
        let n = with_pool!(self, |p| {
            sqlx::query(RENEW_SQL)
                .bind(progress)
                .bind(lease_until)
                .bind(now_ms)
                .bind(id)
                .bind(owner)
                .execute(p)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }

    /// [`Self::renew_job`] inside a transaction (progress recorded with the work it counts).
    pub(crate) async fn renew_job_in(
        tx: &mut TenantTx<'_>,
        id: &str,
        owner: &str,
        progress: &str,
        lease_until: i64,
        now_ms: i64,
    ) -> DomainResult<bool> {
        let n = with_tx!(tx, |c| {
            sqlx::query(RENEW_SQL)
                .bind(Some(progress))
                .bind(lease_until)
                .bind(now_ms)
                .bind(id)
                .bind(owner)
                .execute(c)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }

    /// Ends a job `owner` holds: `done`, `failed` or `cancelled`, with its error if any.
    pub async fn finish_job(
        &self,
        id: &str,
        owner: &str,
        state: &str,
        error: Option<&str>,
        now_ms: i64,
    ) -> DomainResult<bool> {
        let n = with_pool!(self, |p| {
            sqlx::query(
                "UPDATE jobs SET state = $1, error = $2, finished_at = $3, updated_at = $3, lease_owner = NULL, lease_until = NULL \
                 WHERE id = $4 AND lease_owner = $5 AND state = 'running'",
            )
            .bind(state)
            .bind(error)
            .bind(now_ms)
            .bind(id)
            .bind(owner)
            .execute(p)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }

    /// Puts a job `owner` holds back in the queue, to run at `run_at`: after a failure (with
    /// its error; the attempt counts) or when the instance stops (`release`: the attempt does
    /// not count, and any instance may take it over at once).
    pub async fn requeue_job(
        &self,
        id: &str,
        owner: &str,
        run_at: i64,
        error: Option<&str>,
        release: bool,
        now_ms: i64,
    ) -> DomainResult<bool> {
        let n = with_pool!(self, |p| {
            sqlx::query(
                "UPDATE jobs SET state = 'queued', run_at = $1, error = COALESCE($2, error), updated_at = $3, \
                 lease_owner = NULL, lease_until = NULL, attempts = attempts - $4 \
                 WHERE id = $5 AND lease_owner = $6 AND state = 'running'",
            )
            .bind(run_at)
            .bind(error)
            .bind(now_ms)
            .bind(i32::from(release))
            .bind(id)
            .bind(owner)
            .execute(p)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }

    /// Cancels the tenant's queued jobs of `kind` other than `except` (a newer one replaces
    /// them); returns their ids.
    pub async fn cancel_queued_jobs(
        &self,
        tenant_id: &str,
        kind: &str,
        except: &str,
        now_ms: i64,
    ) -> DomainResult<Vec<String>> {
        let ids = with_pool!(self, |p| {
            sqlx::query_scalar::<_, String>(
                "UPDATE jobs SET state = 'cancelled', finished_at = $1, updated_at = $1, error = 'replaced by a newer job' \
                 WHERE tenant_id = $2 AND kind = $3 AND id <> $4 AND state = 'queued' RETURNING id",
            )
            .bind(now_ms)
            .bind(tenant_id)
            .bind(kind)
            .bind(except)
            .fetch_all(p)
            .await
        })?;
        Ok(ids)
    }

    /// One job.
    pub async fn job(&self, id: &str) -> DomainResult<Option<JobRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM jobs WHERE id = $1");
        with_pool!(self, |p| {
            let row = sqlx::query(&sql).bind(id).fetch_optional(p).await?;
            row.as_ref().map(from_row).transpose()
        })
    }

    /// Jobs, newest first.
    pub async fn jobs(&self, f: &JobFilter) -> DomainResult<Vec<JobRecord>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM jobs WHERE ($1 IS NULL OR tenant_id = $1) AND ($2 IS NULL OR state = $2) \
             ORDER BY created_at DESC, id DESC LIMIT $3"
        );
        with_pool!(self, |p| {
            let rows =
                sqlx::query(&sql).bind(&f.tenant_id).bind(&f.state).bind(f.limit.clamp(1, 10_000)).fetch_all(p).await?;
            rows.iter().map(from_row).collect()
        })
    }

    /// How many jobs there are of each kind in each state that is not final, plus those that
    /// failed in the last day: (kind, state, count).
    pub async fn job_counts(&self, now_ms: i64) -> DomainResult<Vec<(String, String, i64)>> {
        let rows = with_pool!(self, |p| {
            sqlx::query_as::<_, (String, String, i64)>(
                "SELECT kind, state, COUNT(*) FROM jobs \
                 WHERE state IN ('queued', 'running') OR (state = 'failed' AND finished_at > $1) \
                 GROUP BY kind, state ORDER BY kind, state",
            )
            .bind(now_ms - 86_400_000)
            .fetch_all(p)
            .await
        })?;
        Ok(rows)
    }

    /// Deletes at most `limit` records of one kind that are older than `before_ms`; returns
    /// how many (fewer than `limit`: none are left).
    pub async fn purge_batch(&self, what: Purge, before_ms: i64, limit: i64) -> DomainResult<u64> {
        // (table, key, which rows)
        let (table, key, old) = match what {
            Purge::ScimRequests => ("activity", "id", "at < $1 AND actor = 'scim'"),
            Purge::ScimTraffic => ("scim_traffic", "(tenant_id, minute_at)", "minute_at < $1"),
            Purge::Audit => ("activity", "id", "at < $1 AND actor <> 'scim'"),
            Purge::SignInAttempts => ("sign_in_attempts", "id", "at < $1"),
            Purge::SsoSignIns => ("sso_sign_ins", "(tenant_id, id)", "at < $1"),
            Purge::Invitations => ("invitations", "id", "expires_at < $1"),
            Purge::Events => ("events", "(tenant_id, seq)", "at < $1"),
            Purge::WebhookDeliveries => ("webhook_deliveries", "(tenant_id, id)", "at < $1"),
            Purge::FinishedJobs => ("jobs", "id", "state IN ('done', 'failed', 'cancelled') AND finished_at < $1"),
        };
        let sql = match self.backend() {
            super::Backend::Sqlite => {
                let columns = key.trim_matches(['(', ')']);
                format!("DELETE FROM {table} WHERE {key} IN (SELECT {columns} FROM {table} WHERE {old} LIMIT $2)")
            }
            // Not `IN (SELECT …)`: prepared, its generic plan (the limit unknown, taken as a
            // tenth of the table) is a hash semi-join that reads the whole table per batch
            // (253 ms per 1,000 of a million activity records, against 6 ms for this one).
            super::Backend::Postgres => {
                format!("DELETE FROM {table} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {table} WHERE {old} LIMIT $2))")
            }
        };
        let n = with_pool!(self, |p| {
            sqlx::query(&sql).bind(before_ms).bind(limit).execute(p).await.map(|r| r.rows_affected())
        })?;
        Ok(n)
    }
}

/// What retention deletes ([`super::Store::purge_batch`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purge {
    /// SCIM request records in the activity log.
    ScimRequests,
    /// The SCIM traffic's minutes (`scim_traffic`), kept as long as the records they count.
    ScimTraffic,
    /// Admin, support, SSO and system records in the activity log (the audit trail).
    Audit,
    /// Console sign-in attempts (the throttle reads only the last hour of them).
    SignInAttempts,
    /// The SSO sign-in log.
    SsoSignIns,
    /// Invitations that expired (by `before`).
    Invitations,
    /// Jobs that ended.
    FinishedJobs,
    /// Events (the events API and webhooks read them).
    Events,
    /// The webhook delivery log.
    WebhookDeliveries,
}
