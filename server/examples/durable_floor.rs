//! The durable floor: the least a durable SCIM user write costs on this machine, to hold
//! Roster's own figures against (README, "Benchmarks": issue 20's first target).
//!
//! An axum server with the benchmark harness's three user routes (`POST /Users`,
//! `GET /Users/{id}`, `PATCH /Users/{id}`, bearer token) on SQLite as Roster ships it — WAL,
//! `synchronous = FULL`, group commit — and nothing else: no tenants, schema checks, search
//! index, brake, placement, groups in the answer, metrics or logs. One thread does every write:
//! it waits for one, opens a transaction, runs each write queued meanwhile in a savepoint of it,
//! commits once and answers them all (no hand-off between requests, unlike Roster's writer
//! turn). Reads run in place on a connection per runtime thread.
//!
//! `FLOOR_MODE=full` also writes an event row and an activity record per write, in the write's
//! transaction (what a provisioning service must keep); otherwise the user's row only.
//! `FLOOR_MODE=roster` writes the same three records into Roster's own tables, in a database
//! Roster created (`roster tenant create` migrates it), for the tenant `FLOOR_TENANT`: the user
//! row (its id time-ordered, as Roster makes them) with the columns Roster derives and every
//! index, trigger and search index Roster's schema has on it (counts, assignment, trigram
//! search), the event with its sequence number, and the activity record with its indexes —
//! Roster's storage with none of its other work. Checkpoints as Roster's (a thread copies the
//! WAL every 200 ms, the writer only what is left now and then). Every 4 s it prints how many
//! writes each COMMIT carried.
//!
//! ```sh
//! cargo build --release -p roster-server --example durable_floor
//! # a new database in a fresh temporary folder each run
//! FLOOR_MODE=full target/release/examples/durable_floor "$(mktemp -d)/floor.db" 18821 benchtoken
//! # then the harness (../shared/bench): seed.py and scim-load.sh against
//! # http://127.0.0.1:18821/scim/v2 with the token benchtoken
//! # Roster's schema: a database and a tenant made by Roster, then the floor on it
//! db="$(mktemp -d)/roster.db"
//! tenant=$(echo 'correct horse battery staple 42' | target/release/roster tenant create --name Floor \
//!   --admin-email floor@example.com --admin-password-stdin --json --database-url "sqlite://$db" \
//!   | python3 -c 'import json,sys; print(json.load(sys.stdin)["tenant_id"])')
//! FLOOR_MODE=roster FLOOR_TENANT=$tenant target/release/examples/durable_floor "$db" 18821 benchtoken
//! ```
//!
//! Not a product: a measuring stick. It trusts its input more than Roster may (no limits).
use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
// On Roster's schema, the search index's changes are queued by its triggers and applied in bulk
// about once a second, with Roster's own statements (see `Store::move_search_index`).
use roster_shared::store::{SEARCH_MOVE_BATCH, SEARCH_QUEUE_APPLIED, SEARCH_QUEUE_END};
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{json, Value};
use tokio::sync::oneshot;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// COMMITs and the writes they carried since the last report.
static COMMITS: AtomicUsize = AtomicUsize::new(0);
static WRITES: AtomicUsize = AtomicUsize::new(0);

/// A write: runs on the writer thread, returns the status and body to answer.
type Job = Box<dyn FnOnce(&Connection) -> Outcome + Send>;
type Outcome = Result<(u16, String), String>;
/// A write and where its outcome goes (after the COMMIT).
type Queued = (Job, oneshot::Sender<Outcome>);

#[derive(Clone)]
struct App {
    tx: mpsc::Sender<Queued>,
    auth: String,
    db: String,
    mode: Mode,
}

/// What a write writes besides the user (see the module doc).
#[derive(Clone, PartialEq)]
enum Mode {
    /// The user's row only.
    Row,
    /// With an event and an activity record.
    Full,
    /// Into Roster's tables, for this tenant.
    Roster(String),
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS users (id TEXT PRIMARY KEY, user_name TEXT NOT NULL UNIQUE, external_id TEXT,
  active INTEGER NOT NULL, resource TEXT NOT NULL, version INTEGER NOT NULL, created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS users_updated ON users (updated_at);
CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL,
  resource_id TEXT NOT NULL, data TEXT NOT NULL, at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS activity (id INTEGER PRIMARY KEY AUTOINCREMENT, method TEXT NOT NULL,
  path TEXT NOT NULL, status INTEGER NOT NULL, resource_id TEXT, at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS activity_resource ON activity (resource_id, id);
";

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

fn open(db: &str) -> Connection {
    let c = Connection::open(db).expect("open");
    c.pragma_update(None, "journal_mode", "wal").expect("wal");
    c.pragma_update(None, "synchronous", "full").expect("sync");
    // As Roster's writer: a savepoint's undo journal in memory (a temp file past 64 KiB).
    c.pragma_update(None, "temp_store", "memory").expect("temp store");
    c.busy_timeout(std::time::Duration::from_secs(5)).expect("busy");
    c
}

/// The writer thread: waits for a write, opens a transaction, runs every write queued meanwhile
/// (each in a savepoint), commits once, answers each.
fn writer(db: String, rx: mpsc::Receiver<Queued>, ready: mpsc::Sender<()>, own_schema: bool) {
    let conn = open(&db);
    // Checkpoints as Roster's: a thread copies the WAL every 200 ms, off the writer; every
    // 128 COMMITs the writer copies what is left (little), so that its next write starts the WAL
    // over.
    conn.pragma_update(None, "wal_autocheckpoint", 0).expect("autocheckpoint");
    let mut commits = 0_u32;
    let mut moved_at = std::time::Instant::now();
    let cdb = db.clone();
    std::thread::spawn(move || {
        let c = open(&cdb);
        loop {
            std::thread::sleep(std::time::Duration::from_millis(200));
            let _ = c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
        }
    });
    if own_schema {
        conn.execute_batch(SCHEMA).expect("schema");
    }
    let _ = ready.send(());
    while let Ok(first) = rx.recv() {
        conn.execute_batch("BEGIN IMMEDIATE").expect("begin");
        let mut done = Vec::with_capacity(64);
        let mut next = Some(first);
        while let Some((job, reply)) = next.take() {
            conn.execute_batch("SAVEPOINT w").expect("savepoint");
            let out = job(&conn);
            if out.is_ok() {
                conn.execute_batch("RELEASE w").expect("release");
            } else {
                conn.execute_batch("ROLLBACK TO w; RELEASE w").expect("rollback");
            }
            done.push((out, reply));
            if done.len() < 64 {
                next = rx.try_recv().ok();
            }
        }
        let committed = conn.execute_batch("COMMIT");
        COMMITS.fetch_add(1, Ordering::Relaxed);
        commits += 1;
        if commits.is_multiple_of(128) {
            let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
        }
        if !own_schema && moved_at.elapsed() >= std::time::Duration::from_secs(1) {
            move_search_index(&conn);
            moved_at = std::time::Instant::now();
        }
        WRITES.fetch_add(done.len(), Ordering::Relaxed);
        for (out, reply) in done {
            let _ = reply.send(match &committed {
                Ok(()) => out,
                Err(e) => Err(e.to_string()),
            });
        }
    }
}

/// Applies the search index's queued changes, [`SEARCH_MOVE_BATCH`] a transaction, as Roster's
/// activity writer does.
fn move_search_index(conn: &Connection) {
    loop {
        conn.execute_batch("BEGIN IMMEDIATE").expect("begin");
        let end: Option<i64> = conn.query_row(SEARCH_QUEUE_END, [SEARCH_MOVE_BATCH], |r| r.get(0)).expect("queue end");
        let moved = match end {
            Some(end) => {
                conn.execute(SEARCH_QUEUE_APPLIED[0], [end]).expect("applied");
                conn.execute(SEARCH_QUEUE_APPLIED[1], [end]).expect("dequeued")
            }
            None => 0,
        };
        conn.execute_batch("COMMIT").expect("commit");
        if (moved as i64) < SEARCH_MOVE_BATCH {
            return;
        }
    }
}

thread_local! {
    static READER: RefCell<Option<Connection>> = const { RefCell::new(None) };
}

fn scim(status: u16, body: String) -> Response {
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        [(header::CONTENT_TYPE, "application/scim+json")],
        body,
    )
        .into_response()
}

fn error(status: u16, detail: &str) -> Response {
    scim(
        status,
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], "status": status.to_string(), "detail": detail})
            .to_string(),
    )
}

fn authorized(app: &App, h: &HeaderMap) -> bool {
    h.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) == Some(app.auth.as_str())
}

async fn write(app: &App, job: Job) -> Response {
    let (tx, rx) = oneshot::channel();
    if app.tx.send((job, tx)).is_err() {
        return error(503, "writer gone");
    }
    match rx.await {
        Ok(Ok((status, body))) => scim(status, body),
        Ok(Err(e)) => error(500, &e),
        Err(_) => error(503, "writer gone"),
    }
}

/// What a write records besides the user: its event and its activity record.
struct Record<'a> {
    kind: &'a str,
    method: &'a str,
    path: &'a str,
    status: u16,
    id: &'a str,
    /// The user as written.
    data: &'a str,
}

fn record(conn: &Connection, mode: &Mode, r: &Record<'_>) -> rusqlite::Result<()> {
    let Record { kind, method, path, status, id, data } = *r;
    if let Mode::Roster(tenant) = mode {
        return record_roster(conn, tenant, r);
    }
    if *mode == Mode::Full {
        let at = now();
        conn.prepare_cached("INSERT INTO events (kind, resource_id, data, at) VALUES (?1, ?2, ?3, ?4)")?
            .execute(params![kind, id, data, at])?;
        conn.prepare_cached(
            "INSERT INTO activity (method, path, status, resource_id, at) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![method, path, status, id, at])?;
    }
    Ok(())
}

/// [`record`] into Roster's tables: the event numbered from the tenant's sequence and written
/// where Roster's sequencer puts it (its `data` the user, and for an update what changed), and
/// the activity record as Roster's log keeps a SCIM write (the request's body included). Roster
/// writes more than this: a request's event goes to `pending_events` first, and the sequencer
/// moves it later (a row and its delete more), and the activity record comes in a batch of its
/// own; so this is the lower bound of what Roster's storage costs.
fn record_roster(conn: &Connection, tenant: &str, r: &Record<'_>) -> rusqlite::Result<()> {
    let Record { kind, method, path, status, id, data } = *r;
    let at = now();
    let seq: i64 = conn
        .prepare_cached(
            "INSERT INTO event_sequences (tenant_id, last_seq) VALUES (?1, 1) \
             ON CONFLICT (tenant_id) DO UPDATE SET last_seq = last_seq + 1 RETURNING last_seq",
        )?
        .query_row([tenant], |r| r.get(0))?;
    let event = if kind == "user.updated" {
        format!(r#"{{"user":{data},"changed":["active","title"]}}"#)
    } else {
        format!(r#"{{"user":{data}}}"#)
    };
    conn.prepare_cached(
        "INSERT INTO events (tenant_id, seq, id, type, at, data, cause) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        tenant,
        seq,
        format!("evt_{}", uuid::Uuid::now_v7().simple()),
        kind,
        at,
        event,
        r#"{"kind":"scim"}"#
    ])?;
    conn.prepare_cached(
        "INSERT INTO activity (tenant_id, at, actor, credential_id, method, path, status, latency_ms, \
         resource_type, resource_id, summary, user_agent, actor_name, request_body) \
         VALUES (?1, ?2, 'scim', 'floor-token', ?3, ?4, ?5, 1, 'User', ?6, ?7, 'wrk', 'floor', ?8)",
    )?
    .execute(params![
        tenant,
        at,
        method,
        format!("/scim/v2{path}/{id}"),
        status,
        id,
        format!("{kind} {id}"),
        data
    ])?;
    Ok(())
}

/// The columns Roster derives from a user resource (lower-cased keys, the sort name, the
/// search text), as near as a measuring stick needs.
fn roster_columns(user: &Value) -> (String, Option<String>, Option<String>, String, String) {
    let lower = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_lowercase);
    let user_name = lower(user.get("userName")).unwrap_or_default();
    let display = lower(user.get("displayName"));
    let email = lower(user.pointer("/emails/0/value"));
    let sort = display.clone().unwrap_or_else(|| user_name.clone());
    let search = [Some(user_name.clone()), display.clone(), email.clone()].into_iter().flatten().collect::<Vec<_>>();
    (user_name, display, email, sort, search.join(" "))
}

async fn create(State(app): State<App>, h: HeaderMap, body: Bytes) -> Response {
    if !authorized(&app, &h) {
        return error(401, "bad token");
    }
    let Ok(mut user) = serde_json::from_slice::<Value>(&body) else { return error(400, "invalid JSON") };
    let Some(user_name) = user.get("userName").and_then(Value::as_str).map(str::to_owned) else {
        return error(400, "userName required");
    };
    let mode = app.mode.clone();
    let job: Job = Box::new(move |conn| {
        // Into Roster's tables, an id as Roster makes one (time-ordered, so its index entries
        // go at the end); otherwise a random one.
        let id = match &mode {
            Mode::Roster(_) => roster_shared::ids::time_ordered(),
            _ => uuid::Uuid::new_v4().to_string(),
        };
        let at = now();
        user["id"] = json!(id);
        user["meta"] = json!({"resourceType": "User", "version": "W/\"1\"", "location": format!("/Users/{id}")});
        let active = user.get("active").and_then(Value::as_bool).unwrap_or(true);
        let text = user.to_string();
        let ext = user.get("externalId").and_then(Value::as_str).map(str::to_owned);
        let n = match &mode {
            Mode::Roster(tenant) => {
                let (norm, display, email, sort, search) = roster_columns(&user);
                conn.prepare_cached(
                    "INSERT INTO scim_users (tenant_id, id, user_name, user_name_norm, external_id, display_name_norm, \
                     primary_email_norm, active, source, data, version, created_at, updated_at, sort_name, search_text) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'scim', ?9, 1, ?10, ?10, ?11, ?12) \
                     ON CONFLICT (tenant_id, user_name_norm) DO NOTHING",
                )
                .and_then(|mut s| {
                    s.execute(params![tenant, id, user_name, norm, ext, display, email, active, text, at, sort, search])
                })
            }
            _ => conn
                .prepare_cached(
                    "INSERT INTO users (id, user_name, external_id, active, resource, version, created_at, updated_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6, ?6) ON CONFLICT (user_name) DO NOTHING",
                )
                .and_then(|mut s| s.execute(params![id, user_name, ext, active, text, at])),
        }
        .map_err(|e| e.to_string())?;
        if n == 0 {
            return Ok((409, json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], "status": "409", "scimType": "uniqueness"}).to_string()));
        }
        let r = Record { kind: "user.created", method: "POST", path: "/Users", status: 201, id: &id, data: &text };
        record(conn, &mode, &r).map_err(|e| e.to_string())?;
        Ok((201, text))
    });
    write(&app, job).await
}

/// A stored user's resource and version, by id.
fn stored_user(conn: &Connection, mode: &Mode, id: &str) -> rusqlite::Result<Option<(String, i64)>> {
    let row = |r: &rusqlite::Row<'_>| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?));
    match mode {
        Mode::Roster(tenant) => conn
            .prepare_cached("SELECT data, version FROM scim_users WHERE tenant_id = ?1 AND id = ?2")?
            .query_row([tenant, id], row),
        _ => conn.prepare_cached("SELECT resource, version FROM users WHERE id = ?1")?.query_row([id], row),
    }
    .optional()
}

async fn read(State(app): State<App>, Path(id): Path<String>, h: HeaderMap) -> Response {
    if !authorized(&app, &h) {
        return error(401, "bad token");
    }
    let found = READER.with(|r| {
        let mut r = r.borrow_mut();
        let conn = r.get_or_insert_with(|| open(&app.db));
        stored_user(conn, &app.mode, &id)
    });
    match found {
        Ok(Some((text, _))) => scim(200, text),
        Ok(None) => error(404, "no such user"),
        Err(e) => error(500, &e.to_string()),
    }
}

async fn patch(State(app): State<App>, Path(id): Path<String>, h: HeaderMap, body: Bytes) -> Response {
    if !authorized(&app, &h) {
        return error(401, "bad token");
    }
    let Ok(op) = serde_json::from_slice::<Value>(&body) else { return error(400, "invalid JSON") };
    let Some(ops) = op.get("Operations").and_then(Value::as_array).cloned() else {
        return error(400, "Operations required");
    };
    let mode = app.mode.clone();
    let job: Job = Box::new(move |conn| {
        let row = stored_user(conn, &mode, &id).map_err(|e| e.to_string())?;
        let Some((text, version)) = row else { return Ok((404, "{}".to_owned())) };
        let mut user: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        for o in &ops {
            if let (Some(path), Some(value)) = (o.get("path").and_then(Value::as_str), o.get("value")) {
                user[path] = value.clone();
            }
        }
        let version = version + 1;
        user["meta"]["version"] = json!(format!("W/\"{version}\""));
        let active = user.get("active").and_then(Value::as_bool).unwrap_or(true);
        let text = user.to_string();
        match &mode {
            // As Roster's update: the indexed columns that did not change (the names, the
            // search text) are not set.
            Mode::Roster(tenant) => conn
                .prepare_cached(
                    "UPDATE scim_users SET data = ?3, active = ?4, version = ?5, updated_at = ?6 \
                     WHERE tenant_id = ?1 AND id = ?2",
                )
                .and_then(|mut s| s.execute(params![tenant, id, text, active, version, now()])),
            _ => conn
                .prepare_cached(
                    "UPDATE users SET resource = ?2, active = ?3, version = ?4, updated_at = ?5 WHERE id = ?1",
                )
                .and_then(|mut s| s.execute(params![id, text, active, version, now()])),
        }
        .map_err(|e| e.to_string())?;
        let r = Record { kind: "user.updated", method: "PATCH", path: "/Users", status: 200, id: &id, data: &text };
        record(conn, &mode, &r).map_err(|e| e.to_string())?;
        Ok((200, text))
    });
    write(&app, job).await
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, db, port, token] = args.as_slice() else {
        eprintln!(
            "usage: durable_floor DB_PATH PORT TOKEN   (FLOOR_MODE=full: events and activity too; \
             FLOOR_MODE=roster FLOOR_TENANT=ID: into Roster's tables)"
        );
        std::process::exit(2);
    };
    let (db, port, token) = (db.clone(), port.clone(), token.clone());
    let mode = match std::env::var("FLOOR_MODE").as_deref() {
        Ok("full") => Mode::Full,
        Ok("roster") => match std::env::var("FLOOR_TENANT") {
            Ok(t) => Mode::Roster(t),
            Err(_) => {
                eprintln!("FLOOR_MODE=roster needs FLOOR_TENANT (a tenant of the Roster database at DB_PATH)");
                std::process::exit(2);
            }
        },
        _ => Mode::Row,
    };
    let own_schema = !matches!(mode, Mode::Roster(_));
    let (tx, rx) = mpsc::channel();
    let wdb = db.clone();
    let (ready, schema) = mpsc::channel();
    let w = std::thread::spawn(move || writer(wdb, rx, ready, own_schema));
    // The writer creates the schema before the readers open.
    if schema.recv().is_err() {
        eprintln!("the writer thread failed to start");
        std::process::exit(1);
    }
    let app = App { tx, auth: format!("Bearer {token}"), db, mode };
    std::thread::spawn(|| loop {
        std::thread::sleep(std::time::Duration::from_secs(4));
        let c = COMMITS.swap(0, Ordering::Relaxed);
        let w = WRITES.swap(0, Ordering::Relaxed);
        if c > 0 {
            eprintln!("commits={c} writes={w} per_commit={:.1}", w as f64 / c as f64);
        }
    });
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    rt.block_on(async move {
        let router = Router::new()
            .route("/scim/v2/Users", post(create))
            .route("/scim/v2/Users/{id}", get(read).patch(patch))
            .route("/healthz", get(|| async { "ok" }))
            .with_state(app);
        let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await.expect("bind");
        println!("BASE=http://127.0.0.1:{port}/scim/v2");
        axum::serve(listener, router).await.expect("serve");
    });
    drop(w);
}
