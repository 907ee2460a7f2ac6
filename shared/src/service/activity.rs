//! The activity log as admins read it, and the records of admin actions.
//!
//! SCIM requests are recorded by the SCIM API's middleware; this module records what people do
//! in the dashboard (who, what, on which resource) and reads the log back with filters.

use crate::clock::now_ms;
use crate::dto::{ActivityPage, ActivityQuery, ActivityView, ScimHealth, TrafficCounts};
use crate::error::DomainResult;
use crate::ids::TenantId;
use crate::store::{NewActivity, Store};

/// Rows per activity page.
pub const PAGE_SIZE: i64 = 50;
const DAY_MS: i64 = 86_400_000;

/// A person acting in the dashboard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    /// `admin` or `support`.
    pub kind: &'static str,
    /// Their email.
    pub name: String,
}

impl Actor {
    /// An organization admin.
    pub fn admin(email: &str) -> Actor {
        Actor { kind: "admin", name: email.to_string() }
    }
}

/// The record of an action (who did what, to which resource) at `at`, for a service to write
/// in the same transaction as the change it describes
/// ([`crate::store::TenantTx::record_activity`]).
pub fn action(actor: &Actor, resource_type: &str, resource_id: Option<&str>, summary: &str, at: i64) -> NewActivity {
    NewActivity {
        at,
        actor: actor.kind.to_string(),
        actor_name: Some(actor.name.clone()),
        resource_type: Some(resource_type.to_string()),
        resource_id: resource_id.map(str::to_string),
        summary: summary.chars().take(500).collect(),
        ..Default::default()
    }
}

/// The same action on many resources: one record each.
pub fn actions(
    actor: &Actor,
    resource_type: &str,
    resource_ids: &[String],
    summary: &str,
    at: i64,
) -> Vec<NewActivity> {
    resource_ids.iter().map(|id| action(actor, resource_type, Some(id), summary, at)).collect()
}

/// Records something a person did that changed nothing (support viewed a page, a refused
/// call); a failure to record is logged, never fatal. Changes record their activity in their
/// own transaction instead.
pub async fn record(
    store: &Store,
    tenant: &TenantId,
    actor: &Actor,
    resource_type: &str,
    resource_id: Option<&str>,
    summary: String,
) {
    let record = action(actor, resource_type, resource_id, &summary, now_ms());
    let written = async {
        let mut tx = store.tenant(tenant).autocommit().await?;
        tx.record_activity(&[record]).await
    };
    if let Err(e) = written.await {
        tracing::error!("activity record failed: {e}");
    }
}

/// Checks an activity query's texts (see [`super::check_filter_text`]): the list and the export
/// refuse what could not match, or would fail, before reading anything.
pub fn check_query(q: &ActivityQuery) -> DomainResult<()> {
    super::check_filter_text("Search", &q.search)?;
    for (what, text) in [
        ("Filter", &q.outcome),
        ("Filter", &q.resource_type),
        ("Filter by resource", &q.resource_id),
        ("Filter by credential", &q.credential_id),
        ("Filter", &q.actor),
    ] {
        super::check_filter_text(what, text)?;
    }
    Ok(())
}

/// A page of the tenant's activity, newest first.
pub async fn list(store: &Store, tenant: &TenantId, q: &ActivityQuery) -> DomainResult<ActivityPage> {
    check_query(q)?;
    let mut q = q.clone();
    if let Some(since) = q.since_ms.filter(|s| *s < 0) {
        q.since_ms = Some(now_ms() + since);
    }
    let mut records = store.tenant(tenant).activity(&q, PAGE_SIZE + 1).await?;
    let more = records.len() as i64 > PAGE_SIZE;
    records.truncate(PAGE_SIZE as usize);
    let next_before_id = if more { records.last().map(|r| r.id) } else { None };
    Ok(ActivityPage { records, next_before_id })
}

/// The columns of the activity CSV export.
pub const CSV_COLUMNS: [&str; 12] = [
    "time",
    "actor",
    "actorName",
    "credentialId",
    "method",
    "path",
    "status",
    "latencyMs",
    "resourceType",
    "resourceId",
    "summary",
    "detail",
];

/// The activity log as CSV, a chunk at a time, newest first (the query's filters apply; at
/// most `max_rows`). Each cell is neutralised against spreadsheet formulas.
pub struct CsvExport {
    query: ActivityQuery,
    left: i64,
    started: bool,
    done: bool,
}

impl CsvExport {
    /// Rows per chunk.
    const CHUNK: i64 = 1000;

    /// An export of what `query` selects.
    pub fn new(query: &ActivityQuery, max_rows: i64) -> CsvExport {
        let mut query = query.clone();
        if let Some(since) = query.since_ms.filter(|s| *s < 0) {
            query.since_ms = Some(now_ms() + since);
        }
        query.before_id = None;
        CsvExport { query, left: max_rows, started: false, done: false }
    }

    /// The next chunk of CSV text (the header first), or `None` at the end.
    pub async fn next_chunk(&mut self, store: &Store, tenant: &TenantId) -> DomainResult<Option<String>> {
        use crate::service::directory::csv_cell;
        if self.done {
            return Ok(None);
        }
        let mut w = csv::Writer::from_writer(Vec::new());
        if !self.started {
            check_query(&self.query)?;
            self.started = true;
            w.write_record(CSV_COLUMNS).map_err(csv_error)?;
        }
        let records = store.tenant(tenant).activity(&self.query, Self::CHUNK.min(self.left)).await?;
        self.left -= records.len() as i64;
        if (records.len() as i64) < Self::CHUNK || self.left <= 0 {
            self.done = true;
        }
        self.query.before_id = records.last().map(|r| r.id);
        for r in &records {
            let opt = |v: &Option<String>| v.clone().unwrap_or_default();
            let row = [
                crate::service::provisioning::rfc3339(r.at_ms),
                r.actor.clone(),
                opt(&r.actor_name),
                opt(&r.credential_id),
                opt(&r.method),
                opt(&r.path),
                r.status.map(|s| s.to_string()).unwrap_or_default(),
                r.latency_ms.map(|s| s.to_string()).unwrap_or_default(),
                opt(&r.resource_type),
                opt(&r.resource_id),
                r.summary.clone(),
                opt(&r.detail),
            ];
            w.write_record(row.iter().map(|c| csv_cell(c).into_owned())).map_err(csv_error)?;
        }
        let bytes = w.into_inner().map_err(csv_error)?;
        String::from_utf8(bytes).map(Some).map_err(csv_error)
    }
}

fn csv_error(e: impl std::fmt::Display) -> crate::error::DomainError {
    crate::error::DomainError::Internal(format!("CSV: {e}"))
}

/// One record.
pub async fn get(store: &Store, tenant: &TenantId, id: i64) -> DomainResult<Option<ActivityView>> {
    store.tenant(tenant).activity_record(id).await
}

/// The SCIM traffic of the last 24 hours and its latest errors.
pub async fn scim_health(store: &Store, tenant: &TenantId) -> DomainResult<ScimHealth> {
    let counts = scim_traffic(store, tenant).await?;
    let recent_errors = store
        .tenant(tenant)
        .activity(&ActivityQuery { outcome: "error".into(), actor: "scim".into(), ..Default::default() }, 5)
        .await?;
    Ok(ScimHealth {
        last_request_at_ms: counts.last_request_at_ms,
        requests_24h: counts.requests_24h,
        errors_24h: counts.errors_24h,
        recent_errors,
    })
}

/// The SCIM traffic of the last 24 hours in figures (the Overview's; no errors listed).
pub async fn scim_traffic(store: &Store, tenant: &TenantId) -> DomainResult<TrafficCounts> {
    let counts = store.tenant(tenant).scim_traffic(now_ms() - DAY_MS).await?;
    Ok(TrafficCounts { last_request_at_ms: counts.last_at, requests_24h: counts.requests, errors_24h: counts.errors })
}

/// Most records written in one transaction.
const BATCH: usize = 500;

/// How long the writer gathers records after the first before it writes them.
const GATHER: std::time::Duration = std::time::Duration::from_millis(5);

enum Message {
    Record(TenantId, Box<NewActivity>),
    Flush(tokio::sync::oneshot::Sender<()>),
}

/// Writes the SCIM API's activity records in batches, off the request path.
///
/// Every SCIM request leaves a record; writing each in its own transaction made the log the
/// bottleneck of the API on SQLite (one writer at a time), and every read request a write. The
/// middleware hands records to this sink instead, and one task writes whatever has queued up in
/// one transaction: at once when idle; while busy (the last batch was written less than
/// [`GATHER`] ago), what arrives within [`GATHER`] of the first record, so that a busy API's
/// records share a commit (on SQLite a commit writes every page it touched to the WAL: at a
/// record or two a commit, GETs by id ran at 8,200–8,800/s, gathered at 10,400–11,700/s). The
/// queue is bounded: when it is full, requests wait for room rather than records being dropped.
/// A flush or a full batch ends the wait. [`ActivitySink::flush`] waits until everything handed
/// in so far is written; the dashboard's export and the server's shutdown call it.
#[derive(Clone, Debug)]
pub struct ActivitySink {
    tx: tokio::sync::mpsc::Sender<Message>,
    store: Store,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Message::Record(..) => "Record",
            Message::Flush(_) => "Flush",
        })
    }
}

impl ActivitySink {
    /// Starts the writer task (on the current Tokio runtime).
    pub fn start(store: Store) -> ActivitySink {
        let (tx, rx) = tokio::sync::mpsc::channel(10_000);
        tokio::spawn(write_batches(store.clone(), rx));
        ActivitySink { tx, store }
    }

    /// Hands a record to the writer (written directly if the writer is gone).
    pub async fn record(&self, tenant: TenantId, record: NewActivity) {
        if let Err(tokio::sync::mpsc::error::SendError(Message::Record(tenant, record))) =
            self.tx.send(Message::Record(tenant, Box::new(record))).await
        {
            if let Err(e) = self.store.tenant(&tenant).record_activity(&record).await {
                tracing::error!("activity record failed: {e}");
            }
        }
    }

    /// Records handed in and not yet written (the `/metrics` queue depth).
    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// Waits until every record handed in before this call is in the database.
    pub async fn flush(&self) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if self.tx.send(Message::Flush(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

/// How often the writer moves what SQLite keeps pending into its place: the activity records
/// into the records by resource ([`Store::move_activity_by_resource`]), the queued changes of
/// the users' search index into the index ([`Store::move_search_index`]).
const MOVE_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

async fn write_batches(store: Store, mut rx: tokio::sync::mpsc::Receiver<Message>) {
    let mut batch: Vec<(TenantId, NewActivity)> = Vec::with_capacity(BATCH);
    let mut waiting = Vec::new();
    let mut last_written: Option<tokio::time::Instant> = None;
    let moves = store.backend() == crate::store::Backend::Sqlite;
    let mut moved_at = tokio::time::Instant::now();
    loop {
        if moves && moved_at.elapsed() >= MOVE_EVERY {
            move_pending("activity records by resource", crate::store::MOVE_BATCH, || {
                store.move_activity_by_resource()
            })
            .await;
            move_pending("search index changes", crate::store::SEARCH_MOVE_BATCH, || store.move_search_index()).await;
            moved_at = tokio::time::Instant::now();
        }
        // On SQLite the wait ends at the next move (`Err`: time to move); elsewhere it does not.
        let next =
            if moves { tokio::time::timeout_at(moved_at + MOVE_EVERY, rx.recv()).await } else { Ok(rx.recv().await) };
        let first = match next {
            Ok(Some(m)) => m,
            Ok(None) => break,
            Err(_) => continue,
        };
        // Busy (the last batch was written less than GATHER ago), gather what arrives within
        // GATHER of the first record, so that the records of a busy API share commits; idle,
        // write at once. A flush or a full batch ends the wait.
        let now = tokio::time::Instant::now();
        let busy = last_written.is_some_and(|at| now.duration_since(at) < GATHER);
        let deadline = if busy { now + GATHER } else { now };
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                Message::Record(t, r) => batch.push((t, *r)),
                Message::Flush(done) => waiting.push(done),
            }
            if batch.len() < BATCH {
                next = match rx.try_recv() {
                    Ok(m) => Some(m),
                    Err(_) if busy && waiting.is_empty() => {
                        tokio::time::timeout_at(deadline, rx.recv()).await.ok().flatten()
                    }
                    Err(_) => None,
                };
            }
        }
        if !batch.is_empty() {
            if let Err(e) = store.insert_activity(&batch).await {
                // One bad record must not cost the others: write them one by one.
                tracing::warn!("activity batch failed ({e}); writing {} records one by one", batch.len());
                for (t, r) in &batch {
                    if let Err(e) = store.tenant(t).record_activity(r).await {
                        tracing::error!("activity record failed: {e}");
                    }
                }
            }
            batch.clear();
            last_written = Some(tokio::time::Instant::now());
        }
        for done in waiting.drain(..) {
            let _ = done.send(());
        }
    }
}

/// Moves everything SQLite keeps pending into its place, one transaction of at most `batch` at a
/// time (a few milliseconds of the writer's turn each; the writes waiting for the turn go between
/// them) until one moves less: `step` is [`Store::move_activity_by_resource`] (at most
/// [`crate::store::MOVE_BATCH`] records) or [`Store::move_search_index`] (at most
/// [`crate::store::SEARCH_MOVE_BATCH`] changes, one index segment).
async fn move_pending<F, Fut>(what: &'static str, batch: i64, mut step: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = crate::error::DomainResult<u64>>,
{
    loop {
        let started = std::time::Instant::now();
        match step().await {
            Ok(0) => return,
            Ok(n) => {
                tracing::debug!(what, moved = n, took_us = started.elapsed().as_micros() as u64, "pending rows moved");
                if n < batch as u64 {
                    return;
                }
            }
            Err(e) => {
                tracing::warn!("moving the pending {what}: {e}");
                return;
            }
        }
    }
}

/// The most of a request body an activity record keeps.
pub const MAX_RECORDED_BODY_CHARS: usize = 16 * 1024;

/// What stands in for a removed secret.
pub const REMOVED: &str = "[removed]";

/// A SCIM request body as the activity log keeps it: secrets removed, at most
/// [`MAX_RECORDED_BODY_CHARS`] characters; `None` for an empty body.
///
/// Removed: every member named `password` (at any depth, any case, with or without a schema URN
/// prefix, so also inside Bulk operations), and the `value` of a PATCH operation whose `path`
/// names `password`. A body that is not JSON is not kept at all, only its size: without
/// structure, a secret in it could not be found and removed.
///
/// Most bodies cannot name a password at all (the word appears nowhere in them, in any case, and
/// no `\u` escape could spell it): those are re-indented as they came, members in the order sent,
/// without building their tree ([`reindented_as_sent`]; this is on every SCIM write's path). The
/// others are parsed, redacted and written back, members in name order.
pub fn redacted_body(bytes: &[u8]) -> Option<String> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    let text = match reindented_as_sent(bytes) {
        Some(text) => text,
        None => {
            let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(bytes) else {
                return Some(format!(
                    "(not valid JSON, {} bytes; not kept, as secrets in it could not be removed)",
                    bytes.len()
                ));
            };
            redact(&mut value);
            serde_json::to_string_pretty(&value).unwrap_or_default()
        }
    };
    if text.chars().count() <= MAX_RECORDED_BODY_CHARS {
        return Some(text);
    }
    let mut cut: String = text.chars().take(MAX_RECORDED_BODY_CHARS).collect();
    cut.push_str(&format!("\n… (cut: the body has {} bytes)", bytes.len()));
    Some(cut)
}

/// A JSON body that cannot name a password, pretty-printed straight from its text; `None` when
/// it might name one or is not JSON (for [`redact`]'s path to decide).
fn reindented_as_sent(bytes: &[u8]) -> Option<String> {
    if may_name_password(bytes) {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 2);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    serde_transcode::transcode(&mut de, &mut serde_json::Serializer::pretty(&mut out)).ok()?;
    de.end().ok()?;
    String::from_utf8(out).ok()
}

/// Whether a body might name a password: the word in any case, or a `\u` escape (the only JSON
/// escape that can spell a letter).
fn may_name_password(bytes: &[u8]) -> bool {
    bytes.windows(2).any(|w| w == b"\\u")
        || bytes.iter().enumerate().any(|(i, b)| {
            b.eq_ignore_ascii_case(&b'p') && bytes[i..].get(..8).is_some_and(|w| w.eq_ignore_ascii_case(b"password"))
        })
}

/// Redacts the way the SCIM parser reads a request: member names in any case, trimmed or
/// URN-qualified (`crate::scim::validate::is_password_name`), at any depth (Bulk operations,
/// extension objects, path-less PATCH values), and the `value` of any PATCH operation whose
/// `path` (any key case) mentions a password, whatever the path's spelling or filter.
fn redact(value: &mut serde_json::Value) {
    use crate::scim::validate::is_password_name;
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let patches_password = map.iter().any(|(k, v)| {
                k.trim().eq_ignore_ascii_case("path")
                    && v.as_str().is_some_and(|p| p.to_ascii_lowercase().contains("password"))
            });
            for (k, v) in map.iter_mut() {
                if is_password_name(k) || (patches_password && k.trim().eq_ignore_ascii_case("value")) {
                    *v = Value::String(REMOVED.into());
                } else {
                    redact(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_removed_everywhere() {
        let body = br#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ada","password":"hunter2!",
            "Operations":[{"op":"replace","path":"password","value":"s3cret"},{"op":"Replace","value":{"Password":"x1","active":false}},
            {"method":"POST","data":{"userName":"bob","urn:ietf:params:scim:schemas:core:2.0:User:password":"p2"}}]}"#;
        let out = redacted_body(body).expect("kept");
        for secret in ["hunter2!", "s3cret", "x1", "p2"] {
            assert!(!out.contains(secret), "{secret} leaked: {out}");
        }
        assert!(out.contains("ada") && out.contains("bob") && out.contains(REMOVED));
        assert!(out.contains("\"active\": false"));
    }

    #[test]
    fn bodies_without_a_password_are_kept_as_sent_and_any_spelling_of_one_is_redacted() {
        // No password: re-indented as the tree would be, members in the order sent.
        let body = br#"{"userName":"ada","schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"name":{"givenName":"Ada","familyName":"L\"x"},"active":true,"n":[1,-2,3.5,null]}"#;
        let out = redacted_body(body).expect("kept");
        let tree: serde_json::Value = serde_json::from_slice(body).unwrap();
        assert_eq!(serde_json::from_str::<serde_json::Value>(&out).unwrap(), tree);
        assert!(out.starts_with("{\n  \"userName\": \"ada\",\n  \"schemas\""), "{out}");
        assert!(out.contains("\"active\": true"));
        // The word in any case, or spelled with an escape, goes through the redaction.
        for body in [
            r#"{"userName":"ada","PASSword":"hunter2!"}"#,
            r#"{"userName":"ada","p\u0061ssword":"hunter2!"}"#,
            r#"{"Operations":[{"op":"replace","path":"\u0070assword","value":"hunter2!"}]}"#,
            r#"{"urn:ietf:params:scim:schemas:core:2.0:User:Password":"hunter2!"}"#,
        ] {
            let out = redacted_body(body.as_bytes()).expect("kept");
            assert!(!out.contains("hunter2!") && out.contains(REMOVED), "{body}: {out}");
        }
        // Not JSON, or JSON with something after it: not kept, whichever path looked first.
        for body in [&br#"{"userName":"ada""#[..], br#"{"userName":"ada"} x"#, b"userName=ada"] {
            let out = redacted_body(body).expect("noted");
            assert!(out.contains("not valid JSON") && !out.contains("ada"), "{out}");
        }
    }

    #[test]
    fn bodies_that_are_not_json_are_not_kept_and_big_ones_are_cut() {
        let out = redacted_body(b"{\"password\": \"oops").expect("noted");
        assert!(!out.contains("oops") && out.contains("not valid JSON"));
        assert_eq!(redacted_body(b"  "), None);
        let big = format!("{{\"userName\":\"{}\"}}", "x".repeat(40_000));
        let out = redacted_body(big.as_bytes()).expect("kept");
        assert!(out.chars().count() < MAX_RECORDED_BODY_CHARS + 100);
        assert!(out.contains("(cut: the body has"));
    }
}
