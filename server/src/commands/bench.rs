//! `roster bench`: the SCIM API's load benchmark, run against a running server.
//!
//! It makes a new tenant with a token in the server's database, seeds it with `--users` users
//! (through the provisioning service's batch create, in transactions of 10,000: the rows are
//! exactly what `POST /Users` writes, only faster to make), then drives the server over HTTP with
//! `--concurrency` clients for `--duration` seconds per scenario and prints requests per second
//! and p50/p99 latency for each, the server's own `/healthz` first as the baseline. Last comes an
//! Entra-style initial sync (look up each user by userName, create it, then create groups and add
//! the users as members) timed from start to end, and the server's resident memory read from
//! `/proc/{--server-pid}/status`.
//!
//! Why not wrk: the scenarios need fresh userNames per create, ids from the seed, and a
//! multi-step sync; wrk's Lua can do the first two but not the third, and one tool for all keeps
//! the figures comparable. The client runs on one thread so that it takes at most one of the
//! machine's cores away from the server.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use roster_shared::ids::TenantId;
use roster_shared::service::accounts::{self, SignUp};
use roster_shared::service::credentials;
use roster_shared::service::provisioning::Scim;
use roster_shared::store::Store;
use serde_json::{json, Value};

use crate::cli::BenchArgs;

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const CORE_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const SEED_BATCH: u64 = 10_000;
const GROUPS: usize = 10;

/// One seeded user's body: core and enterprise attributes, like an IdP sends.
fn user_body(prefix: &str, i: u64) -> Value {
    json!({
        "schemas": [CORE_USER, ENTERPRISE],
        "userName": format!("{prefix}{i}@bench.example.com"),
        "externalId": format!("{prefix}-ext-{i}"),
        "name": {"givenName": format!("Given{i}"), "familyName": format!("Family{i}")},
        "displayName": format!("Given{i} Family{i}"),
        "emails": [{"value": format!("{prefix}{i}@bench.example.com"), "type": "work", "primary": true}],
        "active": true,
        ENTERPRISE: {"department": format!("Department {}", i % 50), "employeeNumber": i.to_string()},
    })
}

/// What one scenario measured.
struct Outcome {
    name: String,
    requests: u64,
    errors: u64,
    elapsed: Duration,
    /// Sorted latencies in microseconds.
    latencies: Vec<u32>,
}

impl Outcome {
    fn rate(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile_ms(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return 0.0;
        }
        let idx = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        f64::from(self.latencies[idx]) / 1000.0
    }
}

/// Runs `op(worker, sequence)` from `concurrency` clients for `duration`; an `Err` counts as an
/// error (and is printed once).
async fn load<F, Fut>(name: &str, concurrency: usize, duration: Duration, op: F) -> Outcome
where
    F: Fn(usize, u64) -> Fut + Clone + 'static,
    Fut: Future<Output = Result<(), String>> + 'static,
{
    let started = Instant::now();
    let deadline = started + duration;
    let errors = Arc::new(AtomicU64::new(0));
    let local = tokio::task::LocalSet::new();
    let mut handles = Vec::new();
    for worker in 0..concurrency {
        let op = op.clone();
        let errors = errors.clone();
        handles.push(local.spawn_local(async move {
            let mut lat = Vec::new();
            let mut seq = 0u64;
            while Instant::now() < deadline {
                let t = Instant::now();
                let result = op(worker, seq).await;
                lat.push(t.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                seq += 1;
                if let Err(e) = result {
                    if errors.fetch_add(1, Ordering::Relaxed) == 0 {
                        eprintln!("  first error: {e}");
                    }
                }
            }
            lat
        }));
    }
    let mut latencies = Vec::new();
    local
        .run_until(async {
            for h in handles {
                if let Ok(l) = h.await {
                    latencies.extend(l);
                }
            }
        })
        .await;
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    Outcome {
        name: name.to_string(),
        requests: latencies.len() as u64,
        errors: errors.load(Ordering::Relaxed),
        elapsed,
        latencies,
    }
}

/// Sends a request and checks its status.
async fn expect(req: reqwest::RequestBuilder, status: u16) -> Result<Value, String> {
    let res = req.send().await.map_err(|e| e.to_string())?;
    let got = res.status().as_u16();
    let body = res.bytes().await.map_err(|e| e.to_string())?;
    if got != status {
        return Err(format!("status {got} (wanted {status}): {}", String::from_utf8_lossy(&body)));
    }
    if body.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&body).map_err(|e| format!("bad JSON: {e}"))
}

#[derive(Clone)]
struct Client {
    http: reqwest::Client,
    base: Arc<str>,
    token: Arc<str>,
}

impl Client {
    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.get(format!("{}{path}", self.base)).bearer_auth(&*self.token)
    }
    fn send_json(&self, method: reqwest::Method, path: &str, body: &Value) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&*self.token)
            .header("content-type", "application/scim+json")
            .body(body.to_string())
    }
}

fn filter_query(filter: &str) -> String {
    url::form_urlencoded::Serializer::new(String::new()).append_pair("filter", filter).finish()
}

/// Resident and peak resident memory of a process, from /proc.
fn memory_of(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// Signs in as the bench tenant's admin; returns the session cookie.
async fn sign_in(http: &reqwest::Client, root: &str, run: &str) -> anyhow::Result<String> {
    let form = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("email", &format!("bench-{run}@bench.example.com"))
        .append_pair("password", &format!("bench-password-{run}"))
        .finish();
    let res = http
        .post(format!("{root}/api/sign_in"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json")
        .header("sec-fetch-site", "same-origin")
        .body(form)
        .send()
        .await?;
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("roster_session="))
        .and_then(|v| v.split(';').next())
        .map(str::to_string)
        .ok_or_else(|| anyhow::anyhow!("cannot sign in to the dashboard (status {})", res.status()))
}

/// Makes the tenant and token, seeds users; returns (tenant, token, seeded ids).
async fn prepare(store: &Store, args: &BenchArgs, run: &str) -> anyhow::Result<(TenantId, String, Vec<String>)> {
    let signed_up = accounts::sign_up(
        store,
        SignUp {
            organization: format!("Bench {run}"),
            name: "Bench".into(),
            email: format!("bench-{run}@bench.example.com"),
            password: format!("bench-password-{run}"),
            throttle: None,
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("cannot create the bench tenant: {e}"))?;
    let tenant = signed_up.tenant_id;
    credentials::set_scim_enabled(store, &tenant, true).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let (_, secret) = credentials::create_token(store, &tenant, "bench", "bench", None)
        .await
        .map_err(|e| anyhow::anyhow!("cannot create a token: {e}"))?;

    let base_url = roster_shared::service::scim_setup::base_url(&args.url, &tenant);
    let scim = Scim { store, tenant: &tenant, base_url: &base_url };
    let mut ids = Vec::with_capacity(args.users as usize);
    let started = Instant::now();
    let mut next = 0u64;
    while next < args.users {
        let end = (next + SEED_BATCH).min(args.users);
        let bodies: Vec<Value> = (next..end).map(|i| user_body("user", i)).collect();
        let created = scim
            .create_users(&bodies)
            .await
            .map_err(|(i, e)| anyhow::anyhow!("seeding failed at {:?}: {}", i.map(|i| next + i as u64), e.detail))?;
        ids.extend(created);
        next = end;
        if next.is_multiple_of(100_000) || next == args.users {
            eprintln!("  seeded {next} users ({:.0} users/s)", next as f64 / started.elapsed().as_secs_f64());
        }
    }
    store.analyze().await.map_err(|e| anyhow::anyhow!("ANALYZE failed: {e}"))?;
    Ok((tenant, secret.expose().to_string(), ids))
}

/// The Entra-style initial sync: for each user a lookup by userName then a create; then groups
/// (lookup, create, members added 100 per PATCH). Returns the elapsed time and the error count.
async fn initial_sync(client: &Client, users: usize, concurrency: usize, run: &str) -> (Duration, u64) {
    let started = Instant::now();
    let errors = Arc::new(AtomicU64::new(0));
    let next = Arc::new(AtomicU64::new(0));
    let ids: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
    let local = tokio::task::LocalSet::new();
    let prefix: Arc<str> = format!("sync{run}-").into();
    for _ in 0..concurrency {
        let (client, errors, next, ids, prefix) =
            (client.clone(), errors.clone(), next.clone(), ids.clone(), prefix.clone());
        local.spawn_local(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= users as u64 {
                    break;
                }
                let body = user_body(&prefix, i);
                let user_name = body["userName"].as_str().unwrap_or_default().to_string();
                let q = filter_query(&format!("userName eq \"{user_name}\""));
                let step = async {
                    let found = expect(client.get(&format!("/Users?{q}")), 200).await?;
                    if found["totalResults"] != json!(0) {
                        return Err("the user exists already".to_string());
                    }
                    let created = expect(client.send_json(reqwest::Method::POST, "/Users", &body), 201).await?;
                    Ok(created["id"].as_str().unwrap_or_default().to_string())
                };
                match step.await {
                    Ok(id) => ids.lock().map(|mut v| v.push(id)).unwrap_or(()),
                    Err(e) => {
                        if errors.fetch_add(1, Ordering::Relaxed) == 0 {
                            eprintln!("  first sync error: {e}");
                        }
                    }
                }
            }
        });
    }
    local.await;
    let ids = ids.lock().map(|v| v.clone()).unwrap_or_default();
    // Groups: one per 200 users, members in PATCHes of 100, groups synced in parallel.
    let chunks: Vec<Vec<String>> = ids.chunks(200).map(<[String]>::to_vec).collect();
    let next = Arc::new(AtomicU64::new(0));
    let chunks = Arc::new(chunks);
    let local = tokio::task::LocalSet::new();
    for _ in 0..concurrency {
        let (client, errors, next, chunks, prefix) =
            (client.clone(), errors.clone(), next.clone(), chunks.clone(), prefix.clone());
        local.spawn_local(async move {
            loop {
                let g = next.fetch_add(1, Ordering::Relaxed) as usize;
                let Some(members) = chunks.get(g) else { break };
                let name = format!("{prefix}group-{g}");
                let step = async {
                    let q = filter_query(&format!("displayName eq \"{name}\""));
                    expect(client.get(&format!("/Groups?{q}&excludedAttributes=members")), 200).await?;
                    let created = expect(
                        client.send_json(
                            reqwest::Method::POST,
                            "/Groups",
                            &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name, "externalId": name}),
                        ),
                        201,
                    )
                    .await?;
                    let gid = created["id"].as_str().unwrap_or_default().to_string();
                    for part in members.chunks(100) {
                        let value: Vec<Value> = part.iter().map(|id| json!({"value": id})).collect();
                        let patch = json!({"schemas": [PATCH_OP], "Operations": [{"op": "Add", "path": "members", "value": value}]});
                        expect(client.send_json(reqwest::Method::PATCH, &format!("/Groups/{gid}"), &patch), 204)
                            .await?;
                    }
                    Ok::<(), String>(())
                };
                if let Err(e) = step.await {
                    if errors.fetch_add(1, Ordering::Relaxed) == 0 {
                        eprintln!("  first group sync error: {e}");
                    }
                }
            }
        });
    }
    local.await;
    (started.elapsed(), errors.load(Ordering::Relaxed))
}

/// A webhook receiver on loopback for the events benchmark: notes when each event arrived
/// (by the userName of its user) and how many arrived.
struct Receiver {
    url: String,
    arrived: Arc<std::sync::Mutex<std::collections::HashMap<String, Instant>>>,
    count: Arc<AtomicU64>,
    first_last: Arc<std::sync::Mutex<Option<(Instant, Instant)>>>,
    task: tokio::task::JoinHandle<()>,
}

async fn receiver() -> anyhow::Result<Receiver> {
    let arrived: Arc<std::sync::Mutex<std::collections::HashMap<String, Instant>>> = Arc::default();
    let count = Arc::new(AtomicU64::new(0));
    let first_last: Arc<std::sync::Mutex<Option<(Instant, Instant)>>> = Arc::default();
    let (a, c, fl) = (arrived.clone(), count.clone(), first_last.clone());
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: axum::body::Bytes| {
            let (a, c, fl) = (a.clone(), c.clone(), fl.clone());
            async move {
                let now = Instant::now();
                c.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut fl) = fl.lock() {
                    *fl = Some(fl.map_or((now, now), |(first, _)| (first, now)));
                }
                let event: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                if let Some(name) = event["data"]["user"]["userName"].as_str() {
                    if let Ok(mut a) = a.lock() {
                        a.entry(name.to_string()).or_insert(now);
                    }
                }
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(Receiver { url, arrived, count, first_last, task })
}

/// What the events benchmark measured.
struct EventFigures {
    /// Creates without an endpoint, the median of the interleaved rounds.
    without_webhook: Outcome,
    /// Creates with one, the median round.
    with_webhook: Outcome,
    /// Failed creates of every round.
    errors: u64,
    delivered: u64,
    expected: u64,
    rate: f64,
    delay_p50_ms: f64,
    delay_p99_ms: f64,
}

/// Rounds of the events benchmark: creates without and with an endpoint alternate, so that both
/// see the same machine (a shared, noisy one) and the same size of database.
const EVENT_ROUNDS: usize = 3;

/// The outcome of median rate.
fn median_round(mut rounds: Vec<Outcome>) -> Option<Outcome> {
    rounds.sort_by(|a, b| a.rate().total_cmp(&b.rate()));
    let mid = rounds.len() / 2;
    rounds.into_iter().nth(mid)
}

/// The users page's query: the defaults with `extra` over them.
fn users_query(extra: Value) -> Value {
    let mut q = json!({"search": "", "filter": "all", "sort": "created", "descending": true, "page": 1, "page_size": 50, "user_group": null});
    if let (Value::Object(q), Value::Object(extra)) = (&mut q, extra) {
        q.extend(extra);
    }
    json!({ "query": q })
}

/// Waits until the tenant's latest mapping evaluation (a background run) has finished.
async fn wait_for_run(admin: &Admin<'_>) -> anyhow::Result<()> {
    loop {
        let run = admin.ok("mapping_run", json!({}), "run").await?;
        if !run["finished_at_ms"].is_null() {
            if !run["error"].is_null() {
                anyhow::bail!("the mapping evaluation failed: {}", run["error"]);
            }
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The dashboard's server functions the benchmark calls, as the admin it signed in as.
struct Admin<'a> {
    http: &'a reqwest::Client,
    root: &'a str,
    cookie: &'a str,
}

impl Admin<'_> {
    fn post(&self, endpoint: &str) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}/api/{endpoint}", self.root))
            .header("accept", "application/json")
            .header("sec-fetch-site", "same-origin")
            .header("cookie", self.cookie)
    }

    /// A server function called with a JSON body.
    fn json(&self, endpoint: &str, body: &Value) -> reqwest::RequestBuilder {
        self.post(endpoint).header("content-type", "application/json").body(body.to_string())
    }

    /// A server function called with a JSON body, which must answer 200: its answer (`what`
    /// names the call in the error).
    async fn ok(&self, endpoint: &str, body: Value, what: &str) -> anyhow::Result<Value> {
        expect(self.json(endpoint, &body), 200).await.map_err(|e| anyhow::anyhow!("{what}: {e}"))
    }

    /// Creates a user group giving `role`; returns it.
    async fn user_group(&self, name: &str, role: &str) -> anyhow::Result<Value> {
        let input = json!({"input": {"name": name, "description": "", "role": role}});
        self.ok("user_group_create", input, "cannot create a user group").await
    }

    /// A server function called by two clients for `duration`, as a page load calls it.
    async fn load(&self, name: &str, endpoint: &str, body: Value, duration: Duration) -> Outcome {
        let (http, root, cookie) = (self.http.clone(), self.root.to_string(), self.cookie.to_string());
        let endpoint = endpoint.to_string();
        load(name, 2, duration, move |_, _| {
            let req = Admin { http: &http, root: &root, cookie: &cookie }.json(&endpoint, &body);
            async move { expect(req, 200).await.map(|_| ()) }
        })
        .await
    }

    /// A form's server function called with these fields.
    fn form(&self, endpoint: &str, fields: &[(&str, &str)]) -> reqwest::RequestBuilder {
        let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
        self.post(endpoint).header("content-type", "application/x-www-form-urlencoded").body(body)
    }

    /// Adds an endpoint for `user.created` to `url`; returns its id.
    async fn add_endpoint(&self, url: &str) -> anyhow::Result<String> {
        let fields = [("url", url), ("description", "roster bench"), ("types[]", "user.created")];
        expect(self.form("form/webhook_create", &fields), 200).await.map_err(|e| {
            anyhow::anyhow!("cannot add the webhook endpoint (is the server run with --webhook-allow-loopback?): {e}")
        })?;
        let list = self.ok("integrations", json!({}), "cannot list the webhook endpoints").await?;
        list["endpoints"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["url"] == url && e["enabled"] == true)
            .and_then(|e| e["id"].as_str())
            .map(str::to_string)
            .ok_or_else(|| anyhow::anyhow!("the new webhook endpoint is not listed"))
    }

    async fn disable_endpoint(&self, id: &str) -> anyhow::Result<()> {
        expect(self.form("form/webhook_action", &[("id", id), ("action", "disable")]), 200)
            .await
            .map(|_| ())
            .map_err(|e| anyhow::anyhow!("cannot switch the webhook endpoint off: {e}"))
    }
}

/// SCIM creates without and with a webhook endpoint configured (to a receiver in this process),
/// in alternating rounds, each with-round followed by the wait until every event arrived: the
/// throughput ratio and the delivery rate; then paced creates for each one's delay from its
/// answer to its event's arrival.
async fn events_bench(
    admin: &Admin<'_>,
    client: &Client,
    concurrency: usize,
    duration: Duration,
    run_id: &str,
) -> anyhow::Result<EventFigures> {
    let r = receiver().await?;
    let answered: Arc<std::sync::Mutex<std::collections::HashMap<String, Instant>>> = Arc::default();
    let (mut without, mut with, mut rates) = (Vec::new(), Vec::new(), Vec::new());
    let mut expected = 0;
    for round in 0..EVENT_ROUNDS {
        let (cl, prefix) = (client.clone(), format!("plain{run_id}-{round}-"));
        without.push(
            load("POST /Users (no webhook endpoint, same rounds)", concurrency, duration, move |worker, seq| {
                let body = user_body(&format!("{prefix}{worker}-"), seq);
                let req = cl.send_json(reqwest::Method::POST, "/Users", &body);
                async move { expect(req, 201).await.map(|_| ()) }
            })
            .await,
        );
        // A new endpoint each round: it starts after the latest event, so the creates above
        // are not delivered to it.
        let endpoint = admin.add_endpoint(&format!("{}?round={round}", r.url)).await?;
        if let Ok(mut fl) = r.first_last.lock() {
            *fl = None;
        }
        let before = r.count.load(Ordering::Relaxed);
        let (cl, times) = (client.clone(), answered.clone());
        let prefix = format!("hook{run_id}-{round}-");
        let outcome = load("POST /Users (webhook endpoint configured)", concurrency, duration, move |worker, seq| {
            let body = user_body(&format!("{prefix}{worker}-"), seq);
            let name = body["userName"].as_str().unwrap_or_default().to_string();
            let req = cl.send_json(reqwest::Method::POST, "/Users", &body);
            let times = times.clone();
            async move {
                expect(req, 201).await?;
                if let Ok(mut t) = times.lock() {
                    t.insert(name, Instant::now());
                }
                Ok(())
            }
        })
        .await;
        expected += outcome.requests - outcome.errors;
        with.push(outcome);
        let waited = Instant::now();
        while r.count.load(Ordering::Relaxed) < expected && waited.elapsed() < Duration::from_secs(300) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if let Some((first, last)) = r.first_last.lock().ok().and_then(|f| *f) {
            let arrived = r.count.load(Ordering::Relaxed).min(expected).saturating_sub(before);
            rates.push(arrived as f64 / last.duration_since(first).as_secs_f64().max(0.001));
        }
        if round + 1 < EVENT_ROUNDS {
            admin.disable_endpoint(&endpoint).await?;
        }
    }
    // The delay, without a backlog: one create every 20 ms, each event's arrival after the
    // create's answer.
    let paced = format!("paced{run_id}-");
    let started = Instant::now();
    let mut sent = 0u64;
    while started.elapsed() < duration {
        let body = user_body(&paced, sent);
        let name = body["userName"].as_str().unwrap_or_default().to_string();
        expect(client.send_json(reqwest::Method::POST, "/Users", &body), 201)
            .await
            .map_err(|e| anyhow::anyhow!("paced create: {e}"))?;
        answered.lock().map(|mut t| t.insert(name, Instant::now())).ok();
        sent += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let waited = Instant::now();
    while r.count.load(Ordering::Relaxed) < expected + sent && waited.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut delays: Vec<f64> = {
        let answered = answered.lock().map(|a| a.clone()).unwrap_or_default();
        let arrived = r.arrived.lock().map(|a| a.clone()).unwrap_or_default();
        answered
            .iter()
            .filter(|(name, _)| name.starts_with(&paced))
            .filter_map(|(name, at)| {
                arrived.get(name).map(|got| got.saturating_duration_since(*at).as_secs_f64() * 1000.0)
            })
            .collect()
    };
    delays.sort_by(f64::total_cmp);
    let pct = |p: f64| if delays.is_empty() { 0.0 } else { delays[((delays.len() as f64 - 1.0) * p).round() as usize] };
    let delivered = r.count.load(Ordering::Relaxed);
    let expected = expected + sent;
    r.task.abort();
    rates.sort_by(f64::total_cmp);
    let rate = rates.get(rates.len() / 2).copied().unwrap_or(0.0);
    let errors = without.iter().chain(&with).map(|o| o.errors).sum();
    let (Some(without_webhook), Some(with_webhook)) = (median_round(without), median_round(with)) else {
        anyhow::bail!("no events benchmark round ran");
    };
    Ok(EventFigures {
        delay_p50_ms: pct(0.5),
        delay_p99_ms: pct(0.99),
        without_webhook,
        with_webhook,
        errors,
        delivered,
        expected,
        rate,
    })
}

/// Runs the benchmark.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let store = super::open_store(&args.database.database_url).await?;
    let backend = store.backend();
    let run_id = format!("{:x}", rand::thread_rng().gen::<u32>());
    eprintln!("roster bench: {backend:?} at {}, {} users, run {run_id}", args.url, args.users);
    let (tenant, token, ids) = prepare(&store, &args, &run_id).await?;
    store.close().await;
    let ids: Arc<Vec<String>> = Arc::new(ids);

    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency * 2)
        .timeout(Duration::from_secs(60))
        .build()?;
    let root = args.url.trim_end_matches('/').to_string();
    let client = Client {
        http: http.clone(),
        base: roster_shared::service::scim_setup::base_url(&root, &tenant).into(),
        token: token.clone().into(),
    };
    let duration = Duration::from_secs(args.duration);
    let c = args.concurrency;
    let n = args.users.max(1);
    let mut results = Vec::new();

    // Groups for the member-add scenario.
    let mut group_ids = Vec::new();
    for g in 0..GROUPS {
        let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": format!("bench group {g}")});
        let created = expect(client.send_json(reqwest::Method::POST, "/Groups", &body), 201)
            .await
            .map_err(|e| anyhow::anyhow!("cannot create a group: {e}"))?;
        group_ids.push(created["id"].as_str().unwrap_or_default().to_string());
    }
    let group_ids = Arc::new(group_ids);

    eprintln!("  GET /healthz");
    let health = format!("{root}/healthz");
    let h = http.clone();
    results.push(
        load("GET /healthz (baseline)", c, duration, move |_, _| {
            let req = h.get(&health);
            async move { expect(req, 200).await.map(|_| ()) }
        })
        .await,
    );

    eprintln!("  GET /ServiceProviderConfig");
    let cl = client.clone();
    results.push(
        load("GET /ServiceProviderConfig (auth only)", c, duration, move |_, _| {
            let req = cl.get("/ServiceProviderConfig");
            async move { expect(req, 200).await.map(|_| ()) }
        })
        .await,
    );

    eprintln!("  GET /Users/{{id}}");
    let (cl, ids2) = (client.clone(), ids.clone());
    results.push(
        load("GET /Users/{id}", c, duration, move |_, _| {
            let id = &ids2[rand::thread_rng().gen_range(0..ids2.len().max(1))];
            let req = cl.get(&format!("/Users/{id}"));
            async move { expect(req, 200).await.map(|_| ()) }
        })
        .await,
    );

    eprintln!("  filter userName eq");
    let cl = client.clone();
    results.push(
        load("GET /Users?filter=userName eq …", c, duration, move |_, _| {
            let i = rand::thread_rng().gen_range(0..n);
            let q = filter_query(&format!("userName eq \"user{i}@bench.example.com\""));
            let req = cl.get(&format!("/Users?{q}&startIndex=1&count=100"));
            async move {
                let v = expect(req, 200).await?;
                if v["totalResults"] == json!(1) {
                    Ok(())
                } else {
                    Err(format!("wanted one user, got {}", v["totalResults"]))
                }
            }
        })
        .await,
    );

    eprintln!("  list page (startIndex)");
    let cl = client.clone();
    results.push(
        load("GET /Users?startIndex=1&count=100", c, duration, move |_, _| {
            let req = cl.get("/Users?startIndex=1&count=100");
            async move { expect(req, 200).await.map(|_| ()) }
        })
        .await,
    );

    eprintln!("  list page (cursor)");
    let cl = client.clone();
    let cursors: Arc<std::sync::Mutex<Vec<String>>> = Arc::new(std::sync::Mutex::new(vec![String::new(); c]));
    results.push(
        load("GET /Users?cursor=…&count=100", c, duration, move |worker, _| {
            let cursor = cursors.lock().map(|v| v[worker].clone()).unwrap_or_default();
            let req = cl.get(&format!("/Users?count=100&cursor={cursor}"));
            let cursors = cursors.clone();
            async move {
                let v = expect(req, 200).await?;
                let next = v["nextCursor"].as_str().unwrap_or_default().to_string();
                if let Ok(mut c) = cursors.lock() {
                    c[worker] = next;
                }
                Ok(())
            }
        })
        .await,
    );

    // The time an app polling for changes last asked: before the creates and PATCHes below.
    let changes_since =
        time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
    eprintln!("  POST /Users");
    let cl = client.clone();
    let create_prefix = format!("new{run_id}-");
    results.push(
        load("POST /Users", c, duration, move |worker, seq| {
            let body = user_body(&format!("{create_prefix}{worker}-"), seq);
            let req = cl.send_json(reqwest::Method::POST, "/Users", &body);
            async move { expect(req, 201).await.map(|_| ()) }
        })
        .await,
    );

    eprintln!("  PATCH /Users/{{id}}");
    let (cl, ids2) = (client.clone(), ids.clone());
    results.push(
        load("PATCH /Users/{id} (replace)", c, duration, move |_, seq| {
            let id = &ids2[rand::thread_rng().gen_range(0..ids2.len().max(1))];
            let body = json!({"schemas": [PATCH_OP], "Operations": [
                {"op": "Replace", "path": "displayName", "value": format!("Renamed {seq}")},
                {"op": "Replace", "path": "active", "value": seq % 2 == 0},
            ]});
            let req = cl.send_json(reqwest::Method::PATCH, &format!("/Users/{id}"), &body);
            async move { expect(req, 200).await.map(|_| ()) }
        })
        .await,
    );

    // What an app polling for changes asks: the users written since it last asked (those the
    // create and PATCH scenarios wrote), a page of 100 and their exact count.
    eprintln!("  filter meta.lastModified gt (the users written since the creates began)");
    let cl = client.clone();
    let q = filter_query(&format!("meta.lastModified gt \"{changes_since}\""));
    results.push(
        load("GET /Users?filter=meta.lastModified gt … (written during the run)", c, duration, move |_, _| {
            let req = cl.get(&format!("/Users?{q}&startIndex=1&count=100"));
            async move { expect(req, 200).await.map(|_| ()) }
        })
        .await,
    );

    eprintln!("  PATCH /Groups/{{id}} add member");
    let (cl, ids2, groups) = (client.clone(), ids.clone(), group_ids.clone());
    results.push(
        load("PATCH /Groups/{id} (add member)", c, duration, move |_, _| {
            let mut rng = rand::thread_rng();
            let id = &ids2[rng.gen_range(0..ids2.len().max(1))];
            let gid = &groups[rng.gen_range(0..groups.len())];
            let body = json!({"schemas": [PATCH_OP], "Operations": [{"op": "Add", "path": "members", "value": [{"value": id}]}]});
            let req = cl.send_json(reqwest::Method::PATCH, &format!("/Groups/{gid}"), &body);
            async move { expect(req, 204).await.map(|_| ()) }
        })
        .await,
    );

    // The dashboard's users page, as an admin uses it (its server function, over HTTP).
    eprintln!("  dashboard users page");
    let cookie = sign_in(&http, &root, &run_id).await?;
    let admin = Admin { http: &http, root: &root, cookie: &cookie };
    for (name, query) in [
        ("dashboard users page 1 (newest first)", json!({})),
        ("dashboard users search (substring)", json!({"search": "user4242"})),
        ("dashboard users search matching everyone (counted to 10,000)", json!({"search": "example.com"})),
        ("dashboard users filter unassigned", json!({"filter": "unassigned"})),
        ("dashboard users filter deactivated (those the PATCH scenario deactivated)", json!({"filter": "deactivated"})),
        ("dashboard users sorted by name, page 500", json!({"sort": "name", "descending": false, "page": 500})),
        ("dashboard users sorted by last change (newest first)", json!({"sort": "updated", "descending": true})),
        (
            "dashboard users sorted by last change, page 500",
            json!({"sort": "updated", "descending": true, "page": 500}),
        ),
    ] {
        results.push(admin.load(name, "users", users_query(query), duration).await);
    }
    results.push(admin.load("dashboard navigation counts", "nav_counts", json!({}), duration).await);

    eprintln!("  POST /Users with a webhook endpoint, and its deliveries");
    let events = events_bench(&admin, &client, c, duration, &run_id).await?;

    eprintln!("  Entra-style initial sync of {} users", args.sync_users);
    let (sync_time, sync_errors) = initial_sync(&client, args.sync_users, c, &run_id).await;
    // A mapping rule change re-evaluates every user of the tenant.
    eprintln!("  mapping rule change (re-evaluates every user)");
    let group = admin.user_group(&format!("Department 7 {run_id}"), "member").await?;
    let rule = json!({"rule": {"id": "", "condition": {"kind": "attribute", "filter": format!("{ENTERPRISE}:department eq \"Department 7\"")}, "user_group_id": group["id"], "enabled": true}});
    // What the rule form shows first: how many users saving it would move (every user counted).
    let mut preview = rule.clone();
    preview["delete"] = json!(false);
    let started = Instant::now();
    // A preview that fails (e.g. past the request timeout on a slow machine) is reported in
    // its row; the rule change after it is measured all the same.
    let previewed = expect(admin.json("mapping_rule_preview", &preview), 200).await;
    let preview_time = started.elapsed();
    let preview_row = match &previewed {
        Ok(p) => format!("{} would be placed", p.get(0).and_then(|p| p["gain"].as_i64()).unwrap_or(0)),
        Err(e) => format!("FAILED: {e}"),
    };
    let started = Instant::now();
    admin.ok("mapping_rule_create", rule, "rule").await?;
    // The evaluation runs in the background: wait for its run to finish.
    wait_for_run(&admin).await?;
    let rule_time = started.elapsed();

    // A default user group places everyone no rule does: most users are assigned now, the
    // state a tenant lives in, and the unassigned are few to find among them.
    eprintln!("  default user group (places every other user), then the unassigned among the assigned");
    let started = Instant::now();
    admin.ok("user_group_default", json!({"id": group["id"]}), "default group").await?;
    wait_for_run(&admin).await?;
    let default_time = started.elapsed();
    let few = users_query(json!({"filter": "unassigned"}));
    results.push(admin.load("dashboard users filter unassigned (most assigned)", "users", few, duration).await);
    results.push(admin.load("dashboard navigation counts (most assigned)", "nav_counts", json!({}), duration).await);

    // The filters by user group, role and IdP group over the assigned tenant: a user group
    // everyone is in and one with a few (given by hand, with a role nobody else has), and an
    // IdP group of the sync.
    eprintln!("  dashboard users filtered by user group, role and IdP group");
    let few = admin.user_group(&format!("Admins {run_id}"), "admin").await?;
    let newest = admin.ok("users", users_query(json!({"page_size": 20})), "users").await?;
    let ids: Vec<Value> = newest["rows"].as_array().into_iter().flatten().map(|r| r["id"].clone()).collect();
    admin.ok("user_group_assign", json!({"group_id": few["id"], "user_ids": ids}), "assign").await?;
    let idp_group = expect(client.get("/Groups?count=1&excludedAttributes=members"), 200)
        .await
        .ok()
        .and_then(|g| g["Resources"][0]["id"].as_str().map(str::to_string));
    let mut filters = vec![
        ("dashboard users filter by a user group everyone is in", json!({"user_group": group["id"]})),
        ("dashboard users filter by a user group of 20", json!({"user_group": few["id"]})),
        ("dashboard users filter by role member (nearly everyone)", json!({"role": "member"})),
        ("dashboard users filter by role admin (20 users)", json!({"role": "admin"})),
    ];
    if let Some(g) = idp_group {
        filters.push(("dashboard users filter by an IdP group of the sync (200 members)", json!({"idp_group": g})));
    }
    for (name, query) in filters {
        results.push(admin.load(name, "users", users_query(query), duration).await);
    }

    let memory = args.server_pid.and_then(memory_of);

    // The report.
    println!();
    println!(
        "Roster SCIM load benchmark: {backend:?}, {} users in the tenant, {c} concurrent clients, {} s per scenario",
        args.users, args.duration
    );
    println!();
    println!("| scenario | requests | errors | requests/s | p50 ms | p95 ms | p99 ms |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for r in &results {
        println!(
            "| {} | {} | {} | {:.0} | {:.2} | {:.2} | {:.2} |",
            r.name,
            r.requests,
            r.errors,
            r.rate(),
            r.percentile_ms(0.5),
            r.percentile_ms(0.95),
            r.percentile_ms(0.99)
        );
    }
    for w in [&events.without_webhook, &events.with_webhook] {
        println!(
            "| {} (median of {EVENT_ROUNDS} interleaved rounds) | {} | {} | {:.0} | {:.2} | {:.2} | {:.2} |",
            w.name,
            w.requests,
            w.errors,
            w.rate(),
            w.percentile_ms(0.5),
            w.percentile_ms(0.95),
            w.percentile_ms(0.99)
        );
    }
    println!(
        "| webhook deliveries to a local receiver: {} of {} events (delay: creates paced 50/s) | | | {:.0} events/s | delay p50 {:.1} | | delay p99 {:.1} |",
        events.delivered, events.expected, events.rate, events.delay_p50_ms, events.delay_p99_ms
    );
    println!(
        "| Entra-style initial sync, {} users + {} groups | | {} | | total {:.1} s | | |",
        args.sync_users,
        args.sync_users.div_ceil(200),
        sync_errors,
        sync_time.as_secs_f64()
    );
    println!(
        "| mapping rule preview: every user counted, {preview_row} | | | | total {:.1} s | | |",
        preview_time.as_secs_f64()
    );
    println!(
        "| mapping rule created: every user re-evaluated ({} seeded + those created above and by the sync) | | | | total {:.1} s | | |",
        args.users,
        rule_time.as_secs_f64()
    );
    println!(
        "| default user group set: every user re-evaluated, every other one placed | | | | total {:.1} s | | |",
        default_time.as_secs_f64()
    );
    println!();
    let by_name = |p: &str| results.iter().find(|r| r.name.starts_with(p));
    let mut all_ok = true;
    let mut check = |what: String, ok: bool| {
        all_ok &= ok;
        println!("- [{}] {what}", if ok { "met" } else { "MISSED" });
    };
    println!("Targets:");
    if let (Some(h), Some(g)) = (by_name("GET /healthz"), by_name("GET /Users/{id}")) {
        let ratio = g.rate() / h.rate().max(1.0);
        check(format!("get by id at {:.0}% of the /healthz rate (≥ 50%)", ratio * 100.0), ratio >= 0.5);
    }
    if let Some(f) = by_name("GET /Users?filter") {
        let p99 = f.percentile_ms(0.99);
        check(format!("filter userName eq p99 {p99:.2} ms at {} users (< 5 ms)", args.users), p99 < 5.0);
    }
    let worst =
        results.iter().filter(|r| r.name.starts_with("dashboard")).map(|r| r.percentile_ms(0.95)).fold(0.0, f64::max);
    check(
        format!("dashboard users page p95 at most {worst:.1} ms at {} users (< 150 ms up to a million)", args.users),
        worst < 150.0,
    );
    if let Some(l) = by_name("GET /Users?startIndex") {
        check(
            format!("{:.0} exact-count list pages/s (startIndex, count=100) at {} users (≥ 200)", l.rate(), args.users),
            l.rate() >= 200.0,
        );
    }
    if let Some(cr) = by_name("POST /Users") {
        check(format!("{:.0} creates/s (≥ 2000)", cr.rate()), cr.rate() >= 2000.0);
    }
    let ratio = events.with_webhook.rate() / events.without_webhook.rate().max(1.0);
    check(
        format!(
            "creates with a webhook endpoint at {:.0}% of the rate without (≥ 85%; medians of {EVENT_ROUNDS} interleaved rounds)",
            ratio * 100.0
        ),
        ratio >= 0.85,
    );
    check(
        format!("every event delivered ({} of {})", events.delivered, events.expected),
        events.delivered >= events.expected,
    );
    check(
        format!(
            "a create's webhook arrives p50 {:.1} ms, p99 {:.1} ms after its answer (p99 < 1 s)",
            events.delay_p50_ms, events.delay_p99_ms
        ),
        events.delay_p99_ms < 1000.0,
    );
    let (rule_limit, rule_at) = if args.users >= 1_000_000 { (15, "a million") } else { (10, "100,000") };
    check(
        format!(
            "a rule change re-evaluated the tenant in {:.1} s (< {rule_limit} s at {rule_at} users)",
            rule_time.as_secs_f64()
        ),
        rule_time < Duration::from_secs(rule_limit),
    );
    check(
        format!("initial sync of {} users in {:.1} s (< 15 s)", args.sync_users, sync_time.as_secs_f64()),
        sync_time < Duration::from_secs(15) && sync_errors == 0,
    );
    match memory {
        Some((rss, hwm)) => check(
            format!("server resident memory {} MB, peak {} MB (< 200 MB)", rss / 1024, hwm / 1024),
            hwm < 200 * 1024,
        ),
        None => println!("- server memory not read (pass --server-pid)"),
    }
    let errors: u64 = results.iter().map(|r| r.errors).sum::<u64>() + sync_errors + events.errors;
    if errors > 0 {
        println!("- {errors} requests failed (see the first errors above)");
        anyhow::bail!("{errors} requests failed");
    }
    if !all_ok && args.strict {
        anyhow::bail!("targets missed");
    }
    Ok(())
}
