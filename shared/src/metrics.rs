//! What Roster counts, in one place: the names, labels and help texts of its metrics, and the
//! functions the code calls where something happens. They go to the `metrics` facade; the
//! server installs the Prometheus recorder and serves `/metrics` (without a recorder, as in the
//! unit tests, they cost nothing). Gauges that are a state rather than an event (pool usage,
//! queue depths, jobs by state) are read when `/metrics` is scraped, by [`sample`].
//!
//! Labels are bounded sets (routes as declared, not paths; outcomes from an enum): a tenant id
//! is never a label (it is a field of every request's log span instead), so the series count
//! does not grow with the number of organizations.

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Unit};

use crate::clock::now_ms;
use crate::store::{Pool, Store};

/// HTTP requests, by route, method and status.
pub const HTTP_REQUESTS: &str = "roster_http_requests_total";
/// HTTP request latency, by route, method and status.
pub const HTTP_DURATION: &str = "roster_http_request_duration_seconds";
/// SCIM requests, by operation and outcome.
pub const SCIM_REQUESTS: &str = "roster_scim_requests_total";
/// Jobs that ended, by kind and outcome.
pub const JOBS_ENDED: &str = "roster_jobs_ended_total";
/// Jobs by kind and state (queued, running; failed in the last day).
pub const JOBS: &str = "roster_jobs";
/// SSO sign-ins by protocol, outcome and refusal reason.
pub const SSO_SIGN_INS: &str = "roster_sso_sign_ins_total";
/// Console (password) sign-ins by outcome.
pub const CONSOLE_SIGN_INS: &str = "roster_console_sign_ins_total";
/// Database connections, by state (idle, in use) and pool (main, scans).
pub const DB_CONNECTIONS: &str = "roster_db_connections";
/// The most connections each pool opens.
pub const DB_CONNECTIONS_MAX: &str = "roster_db_connections_max";
/// How long taking a connection from the main pool took, sampled at every scrape.
pub const DB_ACQUIRE: &str = "roster_db_acquire_seconds";
/// Activity records waiting to be written.
pub const ACTIVITY_QUEUE: &str = "roster_activity_queue_depth";
/// Emails sent, by template and outcome.
pub const EMAILS: &str = "roster_emails_total";
/// Webhook delivery attempts, by outcome.
pub const WEBHOOK_DELIVERIES: &str = "roster_webhook_deliveries_total";
/// Webhook delivery latency.
pub const WEBHOOK_DURATION: &str = "roster_webhook_delivery_seconds";
/// Events API requests, by outcome.
pub const EVENTS_API: &str = "roster_events_api_requests_total";

/// Registers the help texts (once, after the recorder is installed).
pub fn describe() {
    describe_counter!(HTTP_REQUESTS, "HTTP requests, by route, method and status");
    describe_histogram!(HTTP_DURATION, Unit::Seconds, "HTTP request latency, by route, method and status");
    describe_counter!(SCIM_REQUESTS, "SCIM requests, by operation and outcome (ok, client_error, server_error)");
    describe_counter!(JOBS_ENDED, "Background jobs that ended, by kind and outcome");
    describe_gauge!(JOBS, "Background jobs by kind and state (queued, running; failed in the last 24 hours)");
    describe_counter!(SSO_SIGN_INS, "SSO sign-ins, by protocol, outcome and reason");
    describe_counter!(CONSOLE_SIGN_INS, "Console password sign-ins, by outcome");
    describe_gauge!(DB_CONNECTIONS, "Database connections, by pool and state");
    describe_gauge!(DB_CONNECTIONS_MAX, "Most database connections per pool");
    describe_gauge!(DB_ACQUIRE, Unit::Seconds, "Time to take a connection from the main pool (sampled at scrape)");
    describe_gauge!(ACTIVITY_QUEUE, "Activity records waiting to be written");
    describe_counter!(EMAILS, "Emails, by template and outcome");
    describe_counter!(WEBHOOK_DELIVERIES, "Webhook delivery attempts, by outcome (ok, failed)");
    describe_histogram!(WEBHOOK_DURATION, Unit::Seconds, "Webhook delivery latency (request to answer)");
    describe_counter!(EVENTS_API, "Read API requests, by outcome");
}

/// A webhook delivery attempt ended.
pub fn webhook_delivery(ok: bool, latency_ms: i64) {
    counter!(WEBHOOK_DELIVERIES, "outcome" => if ok { "ok" } else { "failed" }).increment(1);
    histogram!(WEBHOOK_DURATION).record(latency_ms as f64 / 1000.0);
}

/// A read API request was answered.
pub fn events_api(outcome: &'static str) {
    counter!(EVENTS_API, "outcome" => outcome).increment(1);
}

/// An HTTP request was answered.
pub fn http_request(route: &str, method: &str, status: u16, seconds: f64) {
    let labels = [("route", route.to_string()), ("method", method.to_string()), ("status", status.to_string())];
    counter!(HTTP_REQUESTS, &labels).increment(1);
    histogram!(HTTP_DURATION, &labels).record(seconds);
}

/// A SCIM request was answered: `operation` such as `create_user`, `outcome` from its status.
pub fn scim_request(operation: &'static str, status: u16) {
    let outcome = match status {
        500.. => "server_error",
        400..=499 => "client_error",
        _ => "ok",
    };
    counter!(SCIM_REQUESTS, "operation" => operation, "outcome" => outcome).increment(1);
}

/// A background job ended (`done`, `retrying`, `failed`, `cancelled`, `released`, …).
pub fn job_ended(kind: &str, outcome: &'static str) {
    counter!(JOBS_ENDED, "kind" => kind.to_string(), "outcome" => outcome).increment(1);
}

/// An SSO sign-in ended: `signed_in`, or `refused` with its reason code.
pub fn sso_sign_in(protocol: &'static str, outcome: &'static str, reason: &str) {
    counter!(SSO_SIGN_INS, "protocol" => protocol, "outcome" => outcome, "reason" => reason.to_string()).increment(1);
}

/// A console sign-in ended.
pub fn console_sign_in(outcome: &'static str) {
    counter!(CONSOLE_SIGN_INS, "outcome" => outcome).increment(1);
}

/// An email was sent or failed.
pub fn email(template: &'static str, outcome: &'static str) {
    counter!(EMAILS, "template" => template, "outcome" => outcome).increment(1);
}

/// Sets the gauges that describe a state: the pools, the activity queue, the jobs. Called when
/// `/metrics` is scraped.
pub async fn sample(store: &Store, activity_queued: usize) {
    let pool = "main";
    let (size, idle, max) = match &store.pool {
        Pool::Sqlite(p) => (p.size(), p.num_idle() as u32, p.options().get_max_connections()),
        Pool::Postgres(p) => (p.size(), p.num_idle() as u32, p.options().get_max_connections()),
    };
    gauge!(DB_CONNECTIONS, "pool" => pool, "state" => "idle").set(f64::from(idle));
    gauge!(DB_CONNECTIONS, "pool" => pool, "state" => "in_use").set(f64::from(size.saturating_sub(idle)));
    gauge!(DB_CONNECTIONS_MAX, "pool" => pool).set(f64::from(max));
    if let Some(conns) = store.pg_conns.as_ref() {
        gauge!(DB_CONNECTIONS, "pool" => "hot", "state" => "idle").set(conns.idle_count() as f64);
        gauge!(DB_CONNECTIONS, "pool" => "hot", "state" => "in_use").set(conns.in_use() as f64);
        gauge!(DB_CONNECTIONS_MAX, "pool" => "hot").set(crate::store::PG_HOT_CONNECTIONS as f64);
    }
    let (scan_size, scan_idle, scan_max) = store.scans.pool_usage();
    gauge!(DB_CONNECTIONS, "pool" => "scans", "state" => "idle").set(f64::from(scan_idle));
    gauge!(DB_CONNECTIONS, "pool" => "scans", "state" => "in_use").set(f64::from(scan_size.saturating_sub(scan_idle)));
    gauge!(DB_CONNECTIONS_MAX, "pool" => "scans").set(f64::from(scan_max));
    let t = std::time::Instant::now();
    let acquired = match &store.pool {
        Pool::Sqlite(p) => p.acquire().await.map(drop),
        Pool::Postgres(p) => p.acquire().await.map(drop),
    };
    if acquired.is_ok() {
        gauge!(DB_ACQUIRE).set(t.elapsed().as_secs_f64());
    }
    gauge!(ACTIVITY_QUEUE).set(activity_queued as f64);
    if let Ok(counts) = store.job_counts(now_ms()).await {
        // Every kind and state is set, so that a count that went back to 0 reads 0.
        for kind in crate::service::jobs::KINDS {
            for state in ["queued", "running", "failed"] {
                let n = counts.iter().find(|(k, s, _)| k == kind && s == state).map_or(0, |c| c.2);
                gauge!(JOBS, "kind" => kind, "state" => state).set(n as f64);
            }
        }
    }
}
