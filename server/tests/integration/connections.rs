//! PostgreSQL connections: the hot requests' own (`store::pg_conns`) make one round trip per
//! statement and no pings, and every request finds a working connection again after the
//! database dropped them all.
//!
//! The round trips are counted by a proxy between the application and PostgreSQL that reads
//! the protocol's framing: each `Sync` a client sends ends a round trip, which is a ping when
//! nothing came before it since the last one; statements are named by the text of their
//! `Parse`. Connections are told apart by `application_name` (`roster`, `roster-hot`, …).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::common::*;
use crate::postgres_only;

postgres_only!(
    a_get_or_a_patch_is_one_round_trip_without_pings,
    a_held_deactivation_is_one_round_trip,
    requests_find_working_connections_after_the_database_dropped_them,
);

/// A round trip a client made: its connection's `application_name` and the statements it ran
/// (empty: a ping).
#[derive(Clone, Debug)]
struct RoundTrip {
    app: String,
    statements: Vec<String>,
}

#[derive(Default)]
struct Seen {
    trips: Vec<RoundTrip>,
}

/// A proxy in front of the PostgreSQL at `upstream` (host:port); returns its address and what
/// it sees.
async fn counting_proxy(upstream: String) -> (String, Arc<Mutex<Seen>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let shared = seen.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = TcpStream::connect(&upstream).await else { continue };
            tokio::spawn(relay(client, server, shared.clone()));
        }
    });
    (addr, seen)
}

/// Relays one connection, reading the client's messages (the server's are copied as they are).
async fn relay(client: TcpStream, server: TcpStream, seen: Arc<Mutex<Seen>>) {
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    tokio::spawn(async move {
        let _ = tokio::io::copy(&mut sr, &mut cw).await;
        let _ = cw.shutdown().await;
    });
    // The startup message (no type byte; `sslmode=disable`, so no SSL request first).
    let mut len = [0u8; 4];
    if cr.read_exact(&mut len).await.is_err() {
        return;
    }
    let mut startup = vec![0u8; (u32::from_be_bytes(len) as usize).saturating_sub(4)];
    if cr.read_exact(&mut startup).await.is_err() {
        return;
    }
    let params: Vec<&[u8]> = startup.get(4..).unwrap_or_default().split(|b| *b == 0).collect();
    let app = params
        .windows(2)
        .find(|w| w[0] == b"application_name")
        .map(|w| String::from_utf8_lossy(w[1]).into_owned())
        .unwrap_or_default();
    if sw.write_all(&len).await.is_err() || sw.write_all(&startup).await.is_err() {
        return;
    }
    let mut named: HashMap<String, String> = HashMap::new();
    let mut pending: Vec<String> = Vec::new();
    loop {
        let mut head = [0u8; 5];
        if cr.read_exact(&mut head).await.is_err() {
            break;
        }
        let mut body = vec![0u8; (u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize).saturating_sub(4)];
        if cr.read_exact(&mut body).await.is_err() {
            break;
        }
        let cstrings: Vec<String> =
            body.split(|b| *b == 0).take(2).map(|s| String::from_utf8_lossy(s).into_owned()).collect();
        match head[0] {
            // Parse: a statement's name and text.
            b'P' if cstrings.len() == 2 => {
                named.insert(cstrings[0].clone(), cstrings[1].clone());
                pending.push(format!("(parse) {}", cstrings[1]));
            }
            // Bind: a portal of a named statement.
            b'B' if cstrings.len() == 2 => {
                pending.push(named.get(&cstrings[1]).cloned().unwrap_or_else(|| cstrings[1].clone()));
            }
            b'Q' => pending.push(cstrings.first().cloned().unwrap_or_default()),
            b'S' => {
                let trip = RoundTrip { app: app.clone(), statements: std::mem::take(&mut pending) };
                seen.lock().expect("seen").trips.push(trip);
            }
            _ => {}
        }
        if sw.write_all(&head).await.is_err() || sw.write_all(&body).await.is_err() {
            break;
        }
    }
    let _ = sw.shutdown().await;
}

/// The test database's URL through a counting proxy.
async fn proxied(url: &str) -> (String, Arc<Mutex<Seen>>) {
    let mut u = url::Url::parse(url).expect("url");
    let upstream = format!("{}:{}", u.host_str().expect("host"), u.port().unwrap_or(5432));
    let (addr, seen) = counting_proxy(upstream).await;
    let (host, port) = addr.rsplit_once(':').expect("addr");
    u.set_host(Some(host)).expect("host");
    u.set_port(Some(port.parse().expect("port"))).expect("port");
    u.query_pairs_mut().append_pair("sslmode", "disable");
    (u.to_string(), seen)
}

/// The round trips since `from` that ran statements. A statement's first use on a connection
/// is prepared in a round trip of its own (sqlx's `Parse` and `Describe`), left out: which
/// connection a request gets depends on what else the instance was doing (its background
/// work uses them too), and each connection prepares a statement once.
fn trips_since(seen: &Mutex<Seen>, from: usize) -> Vec<RoundTrip> {
    let prepared = |r: &RoundTrip| !r.statements.is_empty() && r.statements.iter().all(|s| s.starts_with("(parse)"));
    seen.lock().expect("seen").trips[from..].iter().filter(|r| !prepared(r)).cloned().collect()
}

fn trip_count(seen: &Mutex<Seen>) -> usize {
    seen.lock().expect("seen").trips.len()
}

async fn a_get_or_a_patch_is_one_round_trip_without_pings(_db: Db) {
    let (url, seen) = proxied(&TestDb::new(Db::Postgres).await.url).await;
    let app = TestApp::new_on(TestDb::at(&url)).await;
    let t = app.scim_tenant("Round trips").await;
    let id = app.create_user(&t, "trips@example.test").await;
    // Warm up: the statements prepared on the connection.
    for _ in 0..3 {
        let (status, _, _) = app.scim("GET", &t.id, &t.token, &format!("/Users/{id}"), None).await;
        assert_eq!(status, StatusCode::OK);
    }

    let n = 20;
    let from = trip_count(&seen);
    let started = Instant::now();
    for _ in 0..n {
        let (status, _, _) = app.scim("GET", &t.id, &t.token, &format!("/Users/{id}"), None).await;
        assert_eq!(status, StatusCode::OK);
    }
    let elapsed = started.elapsed();
    let trips = trips_since(&seen, from);
    let reads: Vec<&RoundTrip> =
        trips.iter().filter(|r| r.statements.iter().any(|s| s.contains("scim_users"))).collect();
    assert_eq!(reads.len(), n, "one round trip reading the user per GET: {reads:#?}");
    for r in &reads {
        assert_eq!(r.app, "roster-hot", "a GET's statement runs on the hot requests' connections: {r:?}");
        assert_eq!(r.statements.len(), 1, "the user and their groups in one statement: {r:?}");
    }
    // A connection idle for more than a second is pinged before use; none of these waited
    // that long unless the machine stalled (a ping per second of the run at most).
    let pings = trips.iter().filter(|r| r.app == "roster-hot" && r.statements.is_empty()).count();
    assert!(
        pings as u64 <= elapsed.as_secs(),
        "{pings} pings on the hot connections in {elapsed:?}: a use is not pinged (sqlx's pool pings twice)"
    );

    // A PATCH of the user this instance just read: the write alone, in one round trip (after
    // one that prepares the statement).
    let (status, body) =
        app.patch_user(&t, &id, serde_json::json!([{"op": "replace", "path": "title", "value": "T"}])).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let from = trip_count(&seen);
    let started = Instant::now();
    for i in 0..n {
        let (status, body) = app
            .patch_user(&t, &id, serde_json::json!([{"op": "replace", "path": "title", "value": format!("T{i}")}]))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let elapsed = started.elapsed();
    let trips = trips_since(&seen, from);
    let touching: Vec<&RoundTrip> =
        trips.iter().filter(|r| r.statements.iter().any(|s| s.contains("scim_users"))).collect();
    let writes = touching.iter().filter(|r| r.statements.iter().any(|s| s.contains("UPDATE scim_users"))).count();
    assert_eq!(writes, n, "one write per PATCH: {touching:#?}");
    assert_eq!(touching.len(), n, "no read of the user beside the write: {touching:#?}");
    for r in &touching {
        assert_eq!(r.app, "roster-hot", "{r:?}");
        assert_eq!(r.statements.len(), 1, "{r:?}");
    }
    let pings = trips.iter().filter(|r| r.app == "roster-hot" && r.statements.is_empty()).count();
    assert!(pings as u64 <= elapsed.as_secs(), "{pings} pings on the hot connections in {elapsed:?}");
    let (_, _, body) = app.scim("GET", &t.id, &t.token, &format!("/Users/{id}"), None).await;
    assert_eq!(body["title"], format!("T{}", n - 1));
}

/// Ends every connection of the application to its database, as a restart of PostgreSQL or a
/// failover does.
async fn drop_connections(app: &TestApp) {
    let ended = app
        .raw_strings(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name LIKE 'roster%'",
        )
        .await;
    assert!(ended.iter().filter(|e| *e == "true").count() >= 2, "the hot connection and the pool's: {ended:?}");
}

async fn requests_find_working_connections_after_the_database_dropped_them(db: Db) {
    let app = TestApp::new(db).await;
    let t = app.scim_tenant("Dropped").await;
    let id = app.create_user(&t, "dropped@example.test").await;
    let cookie = app.sign_up("Dropped console", "admin@dropped.test", PASSWORD).await;
    let get = format!("/Users/{id}");

    // Idle a while after the drop (a restart in a quiet hour): every connection is pinged
    // before use, and the dead ones are replaced; no request notices.
    drop_connections(&app).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (status, _, body) = app.scim("GET", &t.id, &t.token, &get, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) =
        app.patch_user(&t, &id, serde_json::json!([{"op": "replace", "path": "title", "value": "After"}])).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let second = app.create_user(&t, "second@example.test").await;
    let (status, _, body) =
        app.scim("GET", &t.id, &t.token, "/Users?filter=userName%20eq%20%22second@example.test%22", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["Resources"][0]["id"], second.as_str());
    let res = app.page("/users", Some(&cookie)).await;
    assert_eq!(res.status(), StatusCode::OK);

    // Right after a drop, a request may meet a dead connection: it is answered "unavailable,
    // retry" (never a 500, nothing half-written) and that connection is not used again, so
    // requests succeed again within as many tries as there were connections.
    drop_connections(&app).await;
    let mut failed = 0;
    let mut last = StatusCode::OK;
    for _ in 0..40 {
        let (status, _, body) = app.scim("GET", &t.id, &t.token, &get, None).await;
        last = status;
        if status == StatusCode::OK {
            break;
        }
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        failed += 1;
    }
    assert_eq!(last, StatusCode::OK, "still failing after {failed} tries");
    assert!(failed <= roster_shared::store::PG_HOT_CONNECTIONS, "{failed} failed GETs");
    let (status, body) =
        app.patch_user(&t, &id, serde_json::json!([{"op": "replace", "path": "title", "value": "Again"}])).await;
    assert!(status == StatusCode::OK || status == StatusCode::SERVICE_UNAVAILABLE, "{status}: {body}");
    let mut patched = status == StatusCode::OK;
    for _ in 0..40 {
        if patched {
            break;
        }
        let (status, body) =
            app.patch_user(&t, &id, serde_json::json!([{"op": "replace", "path": "title", "value": "Again"}])).await;
        assert!(status == StatusCode::OK || status == StatusCode::SERVICE_UNAVAILABLE, "{status}: {body}");
        patched = status == StatusCode::OK;
    }
    assert!(patched, "the PATCH never went through");
    let (_, _, body) = app.scim("GET", &t.id, &t.token, &get, None).await;
    assert_eq!(body["title"], "Again");
}

/// A deactivation the deprovisioning brake holds (past its limit, from this instance's copy of
/// the user) is one round trip too: the window's count, the held change with its record and the
/// user's groups in one statement; no read of the stored user, no count of its own.
async fn a_held_deactivation_is_one_round_trip(_db: Db) {
    let (url, seen) = proxied(&TestDb::new(Db::Postgres).await.url).await;
    let app = TestApp::new_on(TestDb::at(&url)).await;
    let t = app.scim_tenant("Held trips").await;
    let mut ids = Vec::new();
    for i in 0..40 {
        ids.push(app.create_user(&t, &format!("held{i:02}@example.test")).await);
    }
    let deactivate = |id: String| {
        let (app, t) = (&app, &t);
        async move {
            let (status, body) =
                app.patch_user(t, &id, serde_json::json!([{"op": "replace", "path": "active", "value": false}])).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            assert_eq!(body["active"], false, "answered as asked: {body}");
        }
    };
    // The brake's limit (ten users, its minimum) is reached; the next ones are held, the first
    // two of them warming up (the settings and the population cached, the statement prepared).
    for id in &ids[..12] {
        deactivate(id.clone()).await;
    }
    let touches = |r: &&RoundTrip| {
        r.statements
            .iter()
            .any(|s| s.contains("scim_users") || s.contains("deprovisions") || s.contains("held_changes"))
    };
    let n = 20;
    let started = Instant::now();
    let mut in_transaction = 0;
    for id in &ids[12..12 + n] {
        let from = trip_count(&seen);
        deactivate(id.clone()).await;
        let trips = trips_since(&seen, from);
        let touching: Vec<&RoundTrip> = trips.iter().filter(touches).collect();
        if touching.iter().any(|r| r.app == "roster") {
            // The tenant's population is cached for `BRAKE_POPULATION_TTL`: once it expired,
            // the write's transaction decides, and counts it again (a slow run may see that).
            in_transaction += 1;
            continue;
        }
        assert_eq!(touching.len(), 1, "one round trip per held deactivation: {touching:#?}");
        assert_eq!(touching[0].app, "roster-hot", "{touching:?}");
        assert_eq!(touching[0].statements.len(), 1, "{touching:?}");
        assert!(touching[0].statements[0].contains("INSERT INTO held_changes"), "{touching:?}");
    }
    let expiries = started.elapsed().as_secs() / roster_shared::store::BRAKE_POPULATION_TTL.as_secs();
    assert!(
        in_transaction <= 1 + expiries,
        "{in_transaction} of {n} held deactivations went through a transaction in {:?}",
        started.elapsed()
    );
    let tenant = roster_shared::ids::TenantId::parse(&t.id).expect("tenant id");
    let (_, held) = app.store.tenant(&tenant).held_changes(100).await.expect("held");
    assert_eq!(held as usize, n + 2, "every deactivation past the limit held");
    for id in &ids[12..12 + n] {
        let (_, _, body) = app.scim("GET", &t.id, &t.token, &format!("/Users/{id}"), None).await;
        assert_eq!(body["active"], true, "held, not done: {body}");
    }
}
