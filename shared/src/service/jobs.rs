//! Durable background jobs: work that outlives the request that asked for it (a whole-tenant
//! evaluation of the mapping rules) or that no request asks for (the hourly maintenance) is a
//! row in `jobs` ([`crate::store::JobRecord`]), not a task in one process's memory.
//!
//! Every instance runs a [`JobRunner`]. It claims a ready job with a lease (PostgreSQL: `FOR
//! UPDATE SKIP LOCKED`, so instances never claim the same row), keeps the lease alive while the
//! job runs, and the job records its progress as it goes (an evaluation: after every batch). If
//! the instance dies, the lease runs out and any instance — another one, or this one restarted
//! — claims the job again and resumes it from its progress. A job that fails is retried with
//! exponential backoff, at most [`MAX_ATTEMPTS`] times, then marked failed with its error. An
//! instance that stops (SIGTERM) finishes the batch in hand and puts its jobs back in the queue
//! for the others. The maintenance job is enqueued by every instance under one key per hour, so
//! it exists, and runs, once per cluster per hour.
//!
//! Why not a queue crate: the ones for Rust (apalis, …) bring their own storage schemas per
//! backend and their own runtime; what we need — one table both backends share, a lease, and
//! the job's progress written in our own transactions' terms — is these few hundred lines.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::clock::now_ms;
use crate::error::{DomainError, DomainResult};
use crate::ids::TenantId;
use crate::store::{JobRecord, NewJob, Purge, Store};

/// A whole-tenant evaluation of the mapping rules (its id is the mapping run's).
pub const PLACE_ALL: &str = "place_all";
/// The hourly maintenance: retention and purges.
pub const MAINTENANCE: &str = "maintenance";
/// The email to admins that the deprovisioning brake holds changes.
pub const HELD_NOTICE: &str = "held_notice";
/// The kinds this release runs. A job of a kind it does not know (enqueued by a newer release
/// during a rolling upgrade) is left for an instance that does.
pub const KINDS: [&str; 3] = [PLACE_ALL, MAINTENANCE, HELD_NOTICE];

/// Claims of one job before it is marked failed.
pub const MAX_ATTEMPTS: i64 = 5;

/// Rows a retention delete removes per statement.
const PURGE_BATCH: i64 = 5_000;

/// Finished jobs are kept this long (for `roster jobs list` and the pages).
const FINISHED_JOBS_KEPT_MS: i64 = 30 * 86_400_000;

/// How long each kind of record is kept (days); older ones are deleted by the hourly
/// maintenance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// SCIM request records (the activity log's traffic).
    pub scim_request_days: u32,
    /// Admin, support and system records (the audit trail).
    pub audit_days: u32,
    /// Console sign-in attempts and the SSO sign-in log.
    pub sign_in_days: u32,
    /// Events (the events API, webhook deliveries) and the delivery log.
    pub event_days: u32,
}

impl Default for Retention {
    fn default() -> Self {
        Retention { scim_request_days: 90, audit_days: 365, sign_in_days: 90, event_days: 30 }
    }
}

/// How an instance runs jobs.
#[derive(Clone, Debug)]
pub struct JobSettings {
    /// This instance's name in leases (host, process, a random part).
    pub instance: String,
    /// How long a claim holds without being renewed; a dead instance's jobs are taken over
    /// after this. Renewed every third of it.
    pub lease: Duration,
    /// How often the queue is looked at when nothing woke the runner.
    pub poll: Duration,
    /// Jobs run at once by this instance.
    pub concurrency: usize,
    /// The first retry's delay; doubled for each further one (at most an hour).
    pub retry_base: Duration,
    /// What the maintenance deletes.
    pub retention: Retention,
    /// Email notices the maintenance sends (credentials about to expire, a failing IdP);
    /// `None` when email is off.
    pub notices: Option<Notices>,
}

/// What the maintenance needs to send notices.
#[derive(Clone, Debug)]
pub struct Notices {
    /// The mailer.
    pub mailer: super::email::Mailer,
    /// The public URL, for links.
    pub public_url: String,
}

impl Default for JobSettings {
    fn default() -> Self {
        JobSettings {
            instance: instance_name(),
            lease: Duration::from_secs(60),
            poll: Duration::from_secs(2),
            concurrency: 2,
            retry_base: Duration::from_secs(30),
            retention: Retention::default(),
            notices: None,
        }
    }
}

/// `host:pid:random`, unique per process.
pub fn instance_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let host = host.trim();
    let host = if host.is_empty() { "roster" } else { host };
    format!("{host}:{}:{:04x}", std::process::id(), rand::random::<u16>())
}

/// The arguments of a [`PLACE_ALL`] job.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct PlaceAllArgs {
    /// The mapping run.
    run: String,
    /// When the run started (epoch ms): writes since shortly before are placed again at its end.
    started_at: i64,
}

/// Enqueues the evaluation `run` of the tenant (its job's id is the run's), cancelling queued
/// evaluations of the tenant it replaces, and wakes this instance's runner.
pub(crate) async fn enqueue_place_all(
    store: &Store,
    tenant: &TenantId,
    run: &str,
    started_at: i64,
) -> DomainResult<()> {
    let args = serde_json::to_string(&PlaceAllArgs { run: run.to_string(), started_at })
        .map_err(|e| DomainError::Internal(e.to_string()))?;
    let now = now_ms();
    store
        .enqueue_job(
            &NewJob {
                id: run.to_string(),
                tenant_id: Some(tenant.as_str().to_string()),
                kind: PLACE_ALL.into(),
                args,
                unique_key: None,
                run_at: now,
            },
            now,
        )
        .await?;
    // Evaluations still waiting for an instance are replaced by this one (it has the newer
    // rules): recorded as such, like a run that stops at its next batch.
    for replaced in store.cancel_queued_jobs(tenant.as_str(), PLACE_ALL, run, now).await? {
        store.tenant(tenant).end_mapping_run(&replaced, now, super::mappings::SUPERSEDED).await?;
    }
    store.jobs_wake.notify_one();
    Ok(())
}

/// Enqueues this hour's maintenance unless an instance already did; returns whether this call
/// added it.
pub async fn enqueue_maintenance(store: &Store, now: i64) -> DomainResult<bool> {
    let hour = now.div_euclid(3_600_000);
    let added = store
        .enqueue_job(
            &NewJob {
                id: uuid::Uuid::new_v4().to_string(),
                tenant_id: None,
                kind: MAINTENANCE.into(),
                args: "{}".into(),
                unique_key: Some(format!("maintenance:{hour}")),
                run_at: hour * 3_600_000,
            },
            now,
        )
        .await?;
    if added {
        store.jobs_wake.notify_one();
    }
    Ok(added)
}

/// Enqueues the "changes are held" notice of the organization, unless one was this hour.
pub(crate) async fn enqueue_held_notice(store: &Store, tenant: &TenantId, now: i64) -> DomainResult<()> {
    let hour = now.div_euclid(3_600_000);
    let added = store
        .enqueue_job(
            &NewJob {
                id: uuid::Uuid::new_v4().to_string(),
                tenant_id: Some(tenant.as_str().to_string()),
                kind: HELD_NOTICE.into(),
                args: "{}".into(),
                unique_key: Some(format!("held_notice:{tenant}:{hour}")),
                run_at: now,
            },
            now,
        )
        .await?;
    if added {
        store.jobs_wake.notify_one();
    }
    Ok(())
}

/// A claimed job, as the code doing its work sees it: its id, and [`Lease::checkpoint`] to
/// record progress.
#[derive(Debug)]
pub struct Lease {
    store: Store,
    id: String,
    owner: String,
    lease: Duration,
    stopping: watch::Receiver<bool>,
}

impl Lease {
    /// The job's id.
    pub fn job_id(&self) -> &str {
        &self.id
    }

    /// Records the job's progress and renews the lease. `false`: stop now, between steps — the
    /// instance is stopping or another instance holds the job (it resumes from the progress
    /// recorded last).
    pub(crate) async fn checkpoint<T: Serialize>(&self, progress: &T) -> DomainResult<bool> {
        if self.stopping() {
            return Ok(false);
        }
        let (progress, until, now) = self.renewal(progress)?;
        self.store.renew_job(&self.id, &self.owner, Some(&progress), until, now).await
    }

    /// [`Self::checkpoint`] inside `tx`: the progress commits with the work it counts, or not
    /// at all. `false`: another instance holds the job (roll `tx` back and stop).
    pub(crate) async fn checkpoint_in<T: Serialize>(
        &self,
        tx: &mut crate::store::TenantTx<'_>,
        progress: &T,
    ) -> DomainResult<bool> {
        let (progress, until, now) = self.renewal(progress)?;
        Store::renew_job_in(tx, &self.id, &self.owner, &progress, until, now).await
    }

    /// A checkpoint's progress as stored, the lease's new end and now (epoch ms).
    fn renewal<T: Serialize>(&self, progress: &T) -> DomainResult<(String, i64, i64)> {
        let progress = serde_json::to_string(progress).map_err(|e| DomainError::Internal(e.to_string()))?;
        let now = now_ms();
        Ok((progress, now + self.lease.as_millis() as i64, now))
    }

    /// Whether the instance is stopping.
    pub(crate) fn stopping(&self) -> bool {
        *self.stopping.borrow()
    }

    /// Claims the job `id` (which must be ready) for a test.
    #[cfg(test)]
    pub(crate) async fn claim_for_test(store: &Store, id: &str) -> Lease {
        let now = now_ms();
        let job = store.claim_job("test", &KINDS, now + 1, now + 60_000).await.expect("claim").expect("a ready job");
        assert_eq!(job.id, id);
        let (tx, stopping) = watch::channel(false);
        std::mem::forget(tx);
        let owner = job.lease_owner.expect("the claim's owner");
        Lease { store: store.clone(), id: job.id, owner, lease: Duration::from_secs(60), stopping }
    }
}

/// This instance's job runner (see the module doc). Dropping it does not stop it; call
/// [`JobRunner::stop`] (graceful) or [`JobRunner::abort`].
#[derive(Debug)]
pub struct JobRunner {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl JobRunner {
    /// Starts claiming and running jobs on the current Tokio runtime.
    pub fn start(store: Store, settings: JobSettings) -> JobRunner {
        let (stop, stopping) = watch::channel(false);
        let task = tokio::spawn(run_loop(store, Arc::new(settings), stopping));
        JobRunner { stop, task }
    }

    /// Stops claiming; jobs in hand stop after their current step and go back to the queue.
    /// Waits for them at most `grace`.
    pub async fn stop(self, grace: Duration) {
        let _ = self.stop.send(true);
        let mut task = self.task;
        if tokio::time::timeout(grace, &mut task).await.is_err() {
            tracing::warn!("background jobs still running {} s after the stop: abandoned", grace.as_secs());
            task.abort();
        }
    }

    /// Stops everything at once, mid-step, as if the process died: transactions in flight roll
    /// back, and the leases stay until they run out (tests use it to kill an instance).
    pub fn abort(&self) {
        self.task.abort();
    }
}

async fn run_loop(store: Store, settings: Arc<JobSettings>, mut stopping: watch::Receiver<bool>) {
    let mut running: JoinSet<()> = JoinSet::new();
    let mut next_maintenance_check = 0i64;
    loop {
        if *stopping.borrow() {
            break;
        }
        let now = now_ms();
        if now >= next_maintenance_check {
            // Every instance offers this hour's maintenance; one row per hour exists.
            if let Err(e) = enqueue_maintenance(&store, now).await {
                tracing::warn!("cannot enqueue the hourly maintenance: {e}");
            }
            next_maintenance_check = now + 60_000;
        }
        while running.len() < settings.concurrency.max(1) {
            let now = now_ms();
            match store.claim_job(&settings.instance, &KINDS, now, now + settings.lease.as_millis() as i64).await {
                Ok(Some(job)) => {
                    let lease = Lease {
                        store: store.clone(),
                        id: job.id.clone(),
                        owner: job.lease_owner.clone().unwrap_or_default(),
                        lease: settings.lease,
                        stopping: stopping.clone(),
                    };
                    running.spawn(execute(store.clone(), settings.clone(), job, lease));
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!("cannot claim a background job: {e}");
                    break;
                }
            }
        }
        tokio::select! {
            () = store.jobs_wake.notified() => {}
            () = tokio::time::sleep(settings.poll) => {}
            _ = stopping.changed() => {}
            Some(_) = running.join_next(), if !running.is_empty() => {}
        }
    }
    // Stopping: the jobs in hand notice at their next step and go back to the queue.
    while running.join_next().await.is_some() {}
}

/// Runs one claimed job to its end (done, retry, failed) while keeping its lease alive.
async fn execute(store: Store, settings: Arc<JobSettings>, job: JobRecord, lease: Lease) {
    let started = std::time::Instant::now();
    tracing::info!(job = %job.id, kind = %job.kind, tenant = job.tenant_id.as_deref().unwrap_or("-"), attempt = job.attempts, "job started");
    let owner = lease.owner.clone();
    let outcome = if job.attempts > MAX_ATTEMPTS {
        Err(DomainError::Internal(format!(
            "gave up after {MAX_ATTEMPTS} attempts (its instance stopped or failed each time)"
        )))
    } else {
        // Renew the lease every third of it while the work goes on; if it was lost (this
        // instance stalled past it and another took the job over), drop the work.
        let keepalive = async {
            let mut tick = tokio::time::interval(settings.lease / 3);
            tick.tick().await;
            loop {
                tick.tick().await;
                let now = now_ms();
                match store.renew_job(&job.id, &owner, None, now + settings.lease.as_millis() as i64, now).await {
                    Ok(true) => {}
                    Ok(false) => return,
                    Err(e) => tracing::warn!(job = %job.id, "cannot renew the job's lease: {e}"),
                }
            }
        };
        tokio::select! {
            r = work(&store, &settings, &job, &lease) => r,
            () = keepalive => Ok(Step::Interrupted),
        }
    };
    let now = now_ms();
    let result = match outcome {
        Ok(Step::Finished) => store.finish_job(&job.id, &owner, "done", None, now).await.map(|_| "done"),
        Ok(Step::Cancelled(why)) => {
            store.finish_job(&job.id, &owner, "cancelled", Some(&why), now).await.map(|_| "cancelled")
        }
        Ok(Step::Interrupted) if lease.stopping() => {
            store.requeue_job(&job.id, &owner, now, None, true, now).await.map(|_| "released")
        }
        Ok(Step::Interrupted) => Ok("taken over"),
        Err(e) if job.attempts < MAX_ATTEMPTS => {
            let delay = retry_delay(settings.retry_base, job.attempts);
            tracing::warn!(job = %job.id, kind = %job.kind, attempt = job.attempts, "job failed, retrying in {} s: {e}", delay.as_secs());
            let message = format!("attempt {} failed: {e}", job.attempts);
            store
                .requeue_job(&job.id, &owner, now + delay.as_millis() as i64, Some(&message), false, now)
                .await
                .map(|_| "retrying")
        }
        Err(e) => {
            tracing::error!(job = %job.id, kind = %job.kind, "job failed for good: {e}");
            let message = e.to_string();
            if job.kind == PLACE_ALL {
                if let Some(tenant) = job.tenant_id.as_deref().and_then(TenantId::parse) {
                    if let Err(e) = super::mappings::fail_run(&store, &tenant, &job.id, &message).await {
                        tracing::error!(job = %job.id, "cannot record the evaluation's failure: {e}");
                    }
                }
            }
            store.finish_job(&job.id, &owner, "failed", Some(&message), now).await.map(|_| "failed")
        }
    };
    match result {
        Ok(outcome) => {
            crate::metrics::job_ended(&job.kind, outcome);
            tracing::info!(job = %job.id, kind = %job.kind, outcome, ms = started.elapsed().as_millis() as u64, "job ended");
        }
        Err(e) => tracing::error!(job = %job.id, "cannot record the job's end: {e}"),
    }
}

/// How a job's run ended, short of an error.
enum Step {
    Finished,
    Cancelled(String),
    Interrupted,
}

/// The delay before retry number `attempts` (1, 2, …): base × 2^(attempts−1), at most an hour.
fn retry_delay(base: Duration, attempts: i64) -> Duration {
    let factor = 1u32 << (attempts.clamp(1, 12) - 1);
    (base * factor).min(Duration::from_secs(3600))
}

async fn work(store: &Store, settings: &JobSettings, job: &JobRecord, lease: &Lease) -> DomainResult<Step> {
    match job.kind.as_str() {
        PLACE_ALL => {
            let Some(tenant) = job.tenant_id.as_deref().and_then(TenantId::parse) else {
                return Ok(Step::Cancelled("the job has no tenant".into()));
            };
            let args: PlaceAllArgs = serde_json::from_str(&job.args)
                .map_err(|e| DomainError::Internal(format!("bad job arguments {:?}: {e}", job.args)))?;
            let from = job.progress.as_deref().and_then(|p| serde_json::from_str(p).ok()).unwrap_or_default();
            if super::mappings::run_place_all(store, &tenant, lease, args.started_at, from).await? {
                Ok(Step::Finished)
            } else {
                Ok(Step::Interrupted)
            }
        }
        MAINTENANCE => {
            maintain(store, &settings.retention, settings.notices.as_ref(), Some(lease)).await?;
            Ok(if lease.stopping() { Step::Interrupted } else { Step::Finished })
        }
        HELD_NOTICE => {
            let Some(tenant) = job.tenant_id.as_deref().and_then(TenantId::parse) else {
                return Ok(Step::Cancelled("the job has no tenant".into()));
            };
            if let Some(n) = &settings.notices {
                let sent = super::safety::send_held_notice(store, n, &tenant).await?;
                tracing::info!(%tenant, sent, "held-changes notice");
            }
            Ok(Step::Finished)
        }
        other => Ok(Step::Cancelled(format!("unknown job kind {other:?}"))),
    }
}

/// The hourly maintenance: deletes what retention says is old, in batches, and what has
/// expired. Safe to run twice; as a job (`lease`), stops between batches when the instance
/// stops.
pub async fn maintain(
    store: &Store,
    retention: &Retention,
    notices: Option<&Notices>,
    lease: Option<&Lease>,
) -> DomainResult<()> {
    let now = now_ms();
    let day = 86_400_000i64;
    // The SCIM traffic's minutes go with the records they count.
    let scim_requests = now - i64::from(retention.scim_request_days) * day;
    let purges = [
        (Purge::ScimRequests, scim_requests),
        (Purge::ScimTraffic, scim_requests),
        (Purge::Audit, now - i64::from(retention.audit_days) * day),
        (Purge::SignInAttempts, now - i64::from(retention.sign_in_days) * day),
        (Purge::SsoSignIns, now - i64::from(retention.sign_in_days) * day),
        (Purge::Invitations, now - 30 * day),
        (Purge::FinishedJobs, now - FINISHED_JOBS_KEPT_MS),
        (Purge::Events, now - i64::from(retention.event_days) * day),
        (Purge::WebhookDeliveries, now - i64::from(retention.event_days) * day),
    ];
    for (what, before) in purges {
        let mut total = 0;
        loop {
            if lease.is_some_and(Lease::stopping) {
                return Ok(());
            }
            let n = store.purge_batch(what, before, PURGE_BATCH).await?;
            total += n;
            if n < PURGE_BATCH as u64 {
                break;
            }
            if let Some(lease) = lease {
                lease.checkpoint(&serde_json::json!({ "purging": format!("{what:?}"), "deleted": total })).await?;
            }
        }
        if total > 0 {
            tracing::info!(deleted = total, what = ?what, "retention: old records deleted");
        }
    }
    let safety = store.purge_safety(now, now - 7 * day, PURGE_BATCH).await?;
    if safety > 0 {
        tracing::info!(deleted = safety, "soft-deleted users past their retention and old brake records deleted");
    }
    let expired =
        store.purge_expired_sso(now).await? + store.purge_expired(now).await? + store.delete_expired_sessions().await?;
    if expired > 0 {
        tracing::info!(deleted = expired, "expired sessions, SSO flows, access tokens and sign-up records deleted");
    }
    announce_expiring(store, now).await?;
    if let Some(n) = notices {
        send_notices(store, n, now).await?;
    }
    Ok(())
}

/// A `credential.expiring` event for each credential that expires within
/// [`EXPIRY_NOTICE_DAYS`], once (marked in the event's transaction).
async fn announce_expiring(store: &Store, now: i64) -> DomainResult<()> {
    let by = now + EXPIRY_NOTICE_DAYS * 86_400_000;
    for tenant in store.tenants_with_expiring_credentials(now, by).await? {
        let Some(t) = TenantId::parse(&tenant) else { continue };
        let mut tx = store.tenant(&t).begin().await?;
        super::events::set_cause(&mut tx, &super::events::Cause::System("credential expiry check".into()));
        for (id, name, expires_at) in tx.take_expiring_credentials(now, by).await? {
            let data = serde_json::json!({"credential": {
                "id": id,
                "name": name,
                "expires_at": super::events::rfc3339(expires_at),
            }});
            super::events::emit(&mut tx, "credential.expiring", data, now);
        }
        tx.commit().await?;
    }
    Ok(())
}

/// Days ahead a credential's expiry is announced.
pub const EXPIRY_NOTICE_DAYS: i64 = 14;
/// SCIM requests in an hour below which failures are not announced (too few to tell).
pub const FAILING_MIN_REQUESTS: i64 = 20;

/// Credentials that expire within [`EXPIRY_NOTICE_DAYS`] (once each), and organizations whose
/// IdP's requests mostly failed in the last hour (at most once a day each), to the admins who
/// want these notices.
pub async fn send_notices(store: &Store, n: &Notices, now: i64) -> DomainResult<()> {
    use super::email::{notify_admins, Notice, Topic};
    let day = 86_400_000i64;
    for (tenant, id, name, expires_at) in store.credentials_expiring(now, now + EXPIRY_NOTICE_DAYS * day).await? {
        let Some(t) = TenantId::parse(&tenant) else { continue };
        let organization = store.tenant(&t).summary().await?.map(|s| s.name).unwrap_or_default();
        let expires = time::OffsetDateTime::from_unix_timestamp(expires_at / 1000)
            .ok()
            .and_then(|d| d.format(&time::format_description::well_known::Rfc2822).ok())
            .unwrap_or_default();
        let days = ((expires_at - now) as f64 / day as f64).ceil() as i64;
        let notice =
            Notice::credential_expiring(&organization, &name, &expires, days, &format!("{}/scim", n.public_url));
        let sent = notify_admins(store, &n.mailer, &t, Topic::Credentials, &notice).await?;
        store.mark_expiry_notified(&tenant, &id, now).await?;
        tracing::info!(%tenant, credential = %id, sent, "credential expiry notice");
    }
    for (tenant, total, failed) in store.failing_tenants(now - 3_600_000, FAILING_MIN_REQUESTS, now - day).await? {
        let Some(t) = TenantId::parse(&tenant) else { continue };
        let organization = store.tenant(&t).summary().await?.map(|s| s.name).unwrap_or_default();
        let example = store.tenant(&t).latest_failed_request(now - 3_600_000).await?.unwrap_or_default();
        let notice = Notice::idp_failing(&organization, failed, total, &example, &format!("{}/activity", n.public_url));
        let sent = notify_admins(store, &n.mailer, &t, Topic::IdpFailures, &notice).await?;
        store.mark_idp_failure_notified(&tenant, now).await?;
        tracing::info!(%tenant, failed, total, sent, "IdP failure notice");
    }
    Ok(())
}

/// Jobs as `roster jobs list` and the pages show them.
pub async fn list(store: &Store, filter: &crate::store::JobFilter) -> DomainResult<Vec<JobRecord>> {
    store.jobs(filter).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_exponentially_up_to_an_hour() {
        let base = Duration::from_secs(30);
        assert_eq!(retry_delay(base, 1), Duration::from_secs(30));
        assert_eq!(retry_delay(base, 2), Duration::from_secs(60));
        assert_eq!(retry_delay(base, 4), Duration::from_secs(240));
        assert_eq!(retry_delay(base, 40), Duration::from_secs(3600));
    }
}
