//! The test harness: a fresh database per test on either backend, the real router, and helpers
//! to call it as a browser would.

#![allow(dead_code)]

pub mod postgres;

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use http::{header, Request, Response, StatusCode};
use roster_server::app::{router, WebOptions};
use roster_shared::service::Services;
use roster_shared::store::Store;
use tower::ServiceExt;

/// Which database a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// Generates `$module::name` tests running `async fn name(db: Db)` on `Db::$db`.
#[macro_export]
macro_rules! backend_tests {
    ($module:ident, $db:ident, $($name:ident),* $(,)?) => {
        mod $module {
            $(
                #[test]
                fn $name() {
                    $crate::common::run(stringify!($name), super::$name($crate::common::Db::$db))
                }
            )*
        }
    };
}

/// Generates `sqlite::name` and `postgres::name` tests from `async fn name(db: Db)`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        $crate::backend_tests!(sqlite, Sqlite, $($name),*);
        $crate::backend_tests!(postgres, Postgres, $($name),*);
    };
}

/// Generates `postgres_only::name` tests from `async fn name(db: Db)`, for what only PostgreSQL
/// has (several instances on one database, its planner and vacuum).
#[macro_export]
macro_rules! postgres_only {
    ($($name:ident),* $(,)?) => {
        $crate::backend_tests!(postgres_only, Postgres, $($name),*);
    };
}

/// One runtime for every test in this binary, as in production (one runtime per process).
///
/// Leptos spawns its rendering tasks on a process-wide executor; with a runtime per test
/// (`#[tokio::test]`), a task could land on another test's runtime and die with it, leaving
/// the first test waiting forever.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RT.get_or_init(|| {
        // `RUST_LOG=roster=debug cargo test …` shows the server's log of a failing test.
        if std::env::var_os("RUST_LOG").is_some() {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
                .with_writer(std::io::stderr)
                .try_init();
        }
        tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().expect("test runtime")
    })
}

/// Runs a test on the shared runtime with a generous deadline, so that a hang fails with the
/// test's name instead of stalling the whole run (not a timing assertion: healthy tests take
/// well under a second).
pub fn run<F: std::future::Future<Output = ()>>(name: &str, test: F) {
    run_within(name, std::time::Duration::from_secs(180), test)
}

/// As [`run`], with a deadline of its own (for the few tests that work through 100,000 users).
pub fn run_within<F: std::future::Future<Output = ()>>(name: &str, deadline: std::time::Duration, test: F) {
    runtime().block_on(async {
        if tokio::time::timeout(deadline, test).await.is_err() {
            panic!("{name} did not finish within {} s", deadline.as_secs());
        }
    })
}

/// A database URL that no other test uses. SQLite files live in a temp dir kept for the
/// test's lifetime.
pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// A database someone else keeps (its files are not removed with this value).
    pub fn at(url: &str) -> TestDb {
        TestDb { url: url.to_string(), _dir: None }
    }

    pub async fn new(db: Db) -> TestDb {
        match db {
            Db::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}/roster.db", dir.path().display());
                TestDb { url, _dir: Some(dir) }
            }
            Db::Postgres => TestDb { url: postgres::fresh_database().await, _dir: None },
        }
    }
}

/// The application under test.
pub struct TestApp {
    pub router: Router,
    pub store: Store,
    pub services: Services,
    pub db: TestDb,
    pub public_url: String,
    /// This instance's background job runner (stopped, as if killed, when the app is dropped).
    pub jobs: JobsGuard,
    /// This instance's webhook delivery (stopped, as if killed, when the app is dropped).
    pub webhooks: WebhooksGuard,
}

/// Aborts a webhook dispatcher when dropped.
pub struct WebhooksGuard(pub Option<roster_shared::service::webhooks::Dispatcher>);

impl Drop for WebhooksGuard {
    fn drop(&mut self) {
        if let Some(d) = self.0.take() {
            d.abort();
        }
    }
}

/// The webhook settings of test instances: loopback receivers allowed, quick retries, a short
/// lease (a killed instance's endpoints are taken over within seconds).
pub fn test_webhook_settings() -> roster_shared::service::webhooks::WebhookSettings {
    roster_shared::service::webhooks::WebhookSettings {
        allow_loopback: true,
        timeout: std::time::Duration::from_secs(5),
        retry_base: std::time::Duration::from_millis(100),
        retry_max: std::time::Duration::from_millis(800),
        poll: std::time::Duration::from_millis(100),
        lease: std::time::Duration::from_secs(3),
        ..Default::default()
    }
}

/// Aborts a job runner when dropped.
pub struct JobsGuard(pub Option<roster_shared::service::jobs::JobRunner>);

impl Drop for JobsGuard {
    fn drop(&mut self) {
        if let Some(r) = self.0.take() {
            r.abort();
        }
    }
}

/// The job settings of test instances: a short lease, so that a killed instance's jobs are
/// taken over within seconds.
pub fn test_job_settings() -> roster_shared::service::jobs::JobSettings {
    roster_shared::service::jobs::JobSettings {
        lease: std::time::Duration::from_secs(3),
        poll: std::time::Duration::from_millis(200),
        retry_base: std::time::Duration::from_millis(200),
        ..Default::default()
    }
}

pub const PUBLIC_URL: &str = "http://roster.test";

/// How a test instance is set up (see [`TestApp`]'s constructors).
struct Setup {
    public_url: String,
    /// SCIM requests per second per credential.
    rate: u32,
    request_timeout: std::time::Duration,
    options: roster_shared::store::StoreOptions,
    /// Where the dashboard's built files are: by default `target/site` relative to the server
    /// crate, where tests run (none there, so pages name no split module to preload).
    site_root: String,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            public_url: PUBLIC_URL.to_string(),
            rate: 10_000,
            request_timeout: std::time::Duration::from_secs(30),
            options: Default::default(),
            site_root: "target/site".to_string(),
        }
    }
}

/// The bearer token of test instances' `/metrics`.
pub const METRICS_TOKEN: &str = "test-metrics-token";

impl TestApp {
    pub async fn new(db: Db) -> TestApp {
        Self::with_public_url(db, PUBLIC_URL).await
    }

    pub async fn with_public_url(db: Db, public_url: &str) -> TestApp {
        let db = TestDb::new(db).await;
        Self::on(db, public_url).await
    }

    /// The application on an existing test database.
    pub async fn new_on(db: TestDb) -> TestApp {
        Self::on(db, PUBLIC_URL).await
    }

    async fn on(db: TestDb, public_url: &str) -> TestApp {
        Self::configured(db, Setup { public_url: public_url.to_string(), ..Setup::default() }, |_| {}).await
    }

    /// The application with a given SCIM rate limit per credential (requests per second).
    pub async fn with_rate_limit(db: Db, rate: u32) -> TestApp {
        let db = TestDb::new(db).await;
        Self::configured(db, Setup { rate, ..Setup::default() }, |_| {}).await
    }

    /// The application with its services changed before the router is made (e.g. email on).
    pub async fn with_services(db: Db, tweak: impl FnOnce(&mut Services)) -> TestApp {
        let db = TestDb::new(db).await;
        Self::configured(db, Setup::default(), tweak).await
    }

    /// The application with a given SCIM request timeout and store options.
    pub async fn with_limits(
        db: Db,
        request_timeout: std::time::Duration,
        options: roster_shared::store::StoreOptions,
    ) -> TestApp {
        let db = TestDb::new(db).await;
        Self::configured(db, Setup { request_timeout, options, ..Setup::default() }, |_| {}).await
    }

    /// The application serving the dashboard's built files from `site_root` (a test's own site).
    pub async fn with_site(db: Db, site_root: &str) -> TestApp {
        let db = TestDb::new(db).await;
        Self::configured(db, Setup { site_root: site_root.to_string(), ..Setup::default() }, |_| {}).await
    }

    async fn configured(db: TestDb, setup: Setup, tweak: impl FnOnce(&mut Services)) -> TestApp {
        let Setup { public_url, rate, request_timeout, options, site_root } = setup;
        let public_url = public_url.as_str();
        // Under the whole suite's load a first connection can take longer than the pool's
        // 2-second acquire limit (a test's own timing, not what it tests): a few tries.
        let mut tries = 0;
        let store = loop {
            match Store::connect_with(&db.url, options.clone()).await {
                Ok(store) => break store,
                Err(roster_shared::error::DomainError::Unavailable(e)) if tries < 4 => {
                    tries += 1;
                    eprintln!("connect: {e}; trying again");
                }
                Err(e) => panic!("connect: {e:?}"),
            }
        };
        store.migrate().await.expect("migrate");
        let mut services = Services::new(store.clone(), public_url.to_string(), false);
        // The tests' identity providers serve plain http on loopback.
        services.sso.fetch.allow_http_loopback = true;
        services.webhooks = roster_shared::service::webhooks::Sender::new(&test_webhook_settings());
        tweak(&mut services);
        let router = router(
            services.clone(),
            WebOptions {
                site_root,
                site_addr: "127.0.0.1:3000".parse().unwrap(),
                scim: roster_server::scim::ScimLimits {
                    rate_per_second: std::num::NonZeroU32::new(rate),
                    request_timeout,
                },
                metrics_token: Some(METRICS_TOKEN.into()),
            },
        );
        let mut settings = test_job_settings();
        settings.notices = services
            .email
            .clone()
            .map(|mailer| roster_shared::service::jobs::Notices { mailer, public_url: public_url.to_string() });
        let jobs = JobsGuard(Some(roster_shared::service::jobs::JobRunner::start(store.clone(), settings)));
        let webhooks = WebhooksGuard(Some(roster_shared::service::webhooks::Dispatcher::start(
            store.clone(),
            services.sso.key.clone(),
            test_webhook_settings(),
        )));
        TestApp { router, store, services, db, public_url: public_url.to_string(), jobs, webhooks }
    }

    /// A second instance on the same database, running beside this one (as behind a load
    /// balancer): its own pool, cache and activity writer; on PostgreSQL both listen for each
    /// other's changes of cached settings, as `roster serve` does.
    pub async fn second_instance(&self) -> TestApp {
        let other = self.deaf_instance().await;
        if self.store.backend() == roster_shared::store::Backend::Postgres {
            self.store.listen_for_tenant_changes();
            other.store.listen_for_tenant_changes();
            // Changes made before a listener is connected are not heard: wait for both.
            for _ in 0..1000 {
                if self.store.tenant_cache().is_listening() && other.store.tenant_cache().is_listening() {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
        other
    }

    /// A second instance on the same database that does not hear the others' changes of cached
    /// settings: as a listening instance is until another's notice arrives.
    pub async fn deaf_instance(&self) -> TestApp {
        let db = TestDb { url: self.db.url.clone(), _dir: None };
        // Instances of one deployment share the server key (sealed secrets open on each).
        let key = self.services.sso.key.clone();
        Self::configured(db, Setup { public_url: self.public_url.clone(), ..Setup::default() }, |s| s.sso.key = key)
            .await
    }

    /// A new instance on the same database, as after a restart (or a second instance behind a
    /// load balancer).
    pub async fn restart(mut self) -> TestApp {
        if let Some(r) = self.jobs.0.take() {
            r.abort();
        }
        if let Some(d) = self.webhooks.0.take() {
            d.abort();
        }
        self.store.close().await;
        let public_url = self.public_url.clone();
        let key = self.services.sso.key.clone();
        let db = std::mem::replace(&mut self.db, TestDb { url: String::new(), _dir: None });
        Self::configured(db, Setup { public_url, ..Setup::default() }, |s| s.sso.key = key).await
    }

    /// The first column of every row of a query, as text, on a connection of its own (for
    /// looking at what is stored, behind the store's back).
    pub async fn raw_strings(&self, sql: &str) -> Vec<String> {
        use sqlx::Row;
        if self.db.url.starts_with("sqlite:") {
            let pool = sqlx::SqlitePool::connect(&self.db.url).await.expect("sqlite");
            let rows = sqlx::query(sql).fetch_all(&pool).await.expect("query");
            let out = rows.iter().map(|r| r.try_get::<String, _>(0).expect("text")).collect();
            pool.close().await;
            out
        } else {
            let pool = sqlx::PgPool::connect(&self.db.url).await.expect("postgres");
            let rows = sqlx::query(&format!("SELECT CAST(x AS TEXT) FROM ({sql}) AS q(x)"))
                .fetch_all(&pool)
                .await
                .expect("query");
            let out = rows.iter().map(|r| r.try_get::<String, _>(0).expect("text")).collect();
            pool.close().await;
            out
        }
    }

    /// On PostgreSQL, that the order of last change kept for the tenant's users (`user_updated`,
    /// migration 0033) has one row per user with the user's `updated_at`, and no other row.
    pub async fn assert_update_order_kept(&self, tenant: &str) {
        if self.db.url.starts_with("sqlite:") {
            return;
        }
        let wrong = self
            .raw_strings(&format!(
                "SELECT CAST(u.id AS TEXT) FROM scim_users u LEFT JOIN user_updated w ON w.tenant_id = u.tenant_id \
                 AND w.user_id = u.id WHERE u.tenant_id = '{tenant}' AND (w.user_id IS NULL OR w.updated_at <> u.updated_at) \
                 UNION ALL SELECT w.user_id FROM user_updated w WHERE w.tenant_id = '{tenant}' \
                 AND NOT EXISTS (SELECT 1 FROM scim_users u WHERE u.tenant_id = w.tenant_id AND u.id = w.user_id)"
            ))
            .await;
        assert_eq!(wrong, Vec::<String>::new(), "users whose kept time of last change is wrong");
    }

    /// Runs SQL statements on a connection of its own.
    pub async fn raw_execute(&self, sql: &str) {
        if self.db.url.starts_with("sqlite:") {
            let pool = sqlx::SqlitePool::connect(&self.db.url).await.expect("sqlite");
            sqlx::raw_sql(sql).execute(&pool).await.expect("execute");
            pool.close().await;
        } else {
            let pool = sqlx::PgPool::connect(&self.db.url).await.expect("postgres");
            sqlx::raw_sql(sql).execute(&pool).await.expect("execute");
            pool.close().await;
        }
    }

    /// The tenant's latest activity records, newest first, once every queued record is written.
    pub async fn activity(
        &self,
        tenant: &roster_shared::ids::TenantId,
        limit: i64,
    ) -> Vec<roster_shared::store::NewActivity> {
        self.services.activity.flush().await;
        self.store.tenant(tenant).recent_activity(limit).await.expect("activity")
    }

    /// Sends a request as if from 127.0.0.1.
    pub async fn send(&self, mut req: Request<Body>) -> Response<Body> {
        req.extensions_mut().insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
        self.router.clone().oneshot(req).await.expect("router is infallible")
    }

    /// Calls a dashboard server function as the hydrated page does (same-origin fetch).
    pub async fn call(&self, endpoint: &str, fields: &[(&str, &str)], cookie: Option<&str>) -> Response<Body> {
        let req = self.form_request(endpoint, fields, cookie).header("sec-fetch-site", "same-origin");
        self.send(req.body(Body::from(encode(fields))).unwrap()).await
    }

    /// Calls a JSON server function (the dashboard's admin API) as the page does; returns the
    /// status and the JSON answer.
    pub async fn call_json(
        &self,
        endpoint: &str,
        args: serde_json::Value,
        cookie: Option<&str>,
    ) -> (StatusCode, serde_json::Value) {
        let mut b = Request::post(format!("/api/{endpoint}"))
            .header(header::HOST, "roster.test")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json")
            .header("sec-fetch-site", "same-origin");
        if let Some(c) = cookie {
            b = b.header(header::COOKIE, c);
        }
        let res = self.send(b.body(Body::from(args.to_string())).unwrap()).await;
        let status = res.status();
        let text = body_text(res).await;
        let json = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
        (status, json)
    }

    /// A JSON server function call that must succeed; returns its answer.
    pub async fn ok_json(&self, endpoint: &str, args: serde_json::Value, cookie: &str) -> serde_json::Value {
        let (status, json) = self.call_json(endpoint, args, Some(cookie)).await;
        assert_eq!(status, StatusCode::OK, "{endpoint} failed: {json}");
        json
    }

    /// Waits until the tenant's latest mapping evaluation (a background run) has finished.
    /// (A bound on a hang, not a timing: a run over 10,000 users in a debug build, beside the
    /// rest of the suite, takes tens of seconds.)
    pub async fn wait_for_mapping_run(&self, cookie: &str) {
        for _ in 0..6000 {
            let run = self.ok_json("mapping_run", serde_json::json!({}), cookie).await;
            if run.is_null() || !run["finished_at_ms"].is_null() {
                assert!(run.is_null() || run["error"].is_null(), "mapping run failed: {run}");
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("the mapping evaluation did not finish");
    }

    /// A POST to a server function with the given extra headers and no browser metadata.
    pub fn form_request(
        &self,
        endpoint: &str,
        _fields: &[(&str, &str)],
        cookie: Option<&str>,
    ) -> http::request::Builder {
        let mut b = Request::post(format!("/api/{endpoint}"))
            .header(header::HOST, "roster.test")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ACCEPT, "application/json");
        if let Some(c) = cookie {
            b = b.header(header::COOKIE, c);
        }
        b
    }

    /// GETs a page as a browser navigation would.
    pub async fn page(&self, path: &str, cookie: Option<&str>) -> Response<Body> {
        let mut b = Request::get(path).header(header::HOST, "roster.test").header(header::ACCEPT, "text/html");
        if let Some(c) = cookie {
            b = b.header(header::COOKIE, c);
        }
        self.send(b.body(Body::empty()).unwrap()).await
    }

    /// Signs up a new organization; returns the session cookie.
    pub async fn sign_up(&self, org: &str, email: &str, password: &str) -> String {
        let res = self
            .call(
                "sign_up",
                &[("organization", org), ("name", "Ada Lovelace"), ("email", email), ("password", password)],
                None,
            )
            .await;
        let cookie = session_cookie(&res);
        let status = res.status();
        let body = body_text(res).await;
        assert_eq!(status, StatusCode::OK, "sign-up failed: {body}");
        cookie.expect("sign-up sets a session cookie")
    }

    /// The signed-in viewer's JSON (`null` when signed out).
    pub async fn viewer(&self, cookie: Option<&str>) -> serde_json::Value {
        let res = self.call("viewer", &[], cookie).await;
        assert_eq!(res.status(), StatusCode::OK);
        serde_json::from_str(&body_text(res).await).expect("viewer JSON")
    }
}

pub fn encode(fields: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish()
}

/// The `name=value` of the session cookie a response sets, if any.
pub fn session_cookie(res: &Response<Body>) -> Option<String> {
    set_cookie_header(res).map(|h| h.split(';').next().unwrap_or_default().trim().to_string())
}

/// The whole `Set-Cookie` header of the session cookie, if any.
pub fn set_cookie_header(res: &Response<Body>) -> Option<String> {
    res.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("roster_session="))
        .map(str::to_string)
}

pub async fn body_text(res: Response<Body>) -> String {
    let bytes = axum::body::to_bytes(res.into_body(), 16 * 1024 * 1024).await.expect("body");
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The user-facing message of a server function's `UiError::Invalid` answer.
pub async fn invalid_message(res: Response<Body>) -> String {
    let status = res.status();
    let text = body_text(res).await;
    assert!(status.is_server_error() || status.is_client_error(), "expected an error, got {status}: {text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("error JSON: {text}"));
    v.get("Invalid").and_then(|m| m.as_str()).unwrap_or_else(|| panic!("not an Invalid error: {text}")).to_string()
}

pub const PASSWORD: &str = "correct horse battery staple";

/// A tenant with SCIM on and a bearer token.
pub struct ScimTenant {
    pub id: String,
    pub token: String,
    pub token_id: String,
}

impl TestApp {
    /// Saves the default brake and the delete policy that keeps deleted users for 30 days, as
    /// the admin signed in with `cookie`.
    pub async fn soft_delete_policy(&self, cookie: &str) {
        let res = self
            .call(
                "form/safety_save",
                &[
                    ("brake_enabled", "on"),
                    ("brake_percent", "10"),
                    ("brake_min_users", "10"),
                    ("brake_window_minutes", "60"),
                    ("delete_policy", "soft"),
                    ("soft_delete_days", "30"),
                ],
                Some(cookie),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
    }

    /// Creates a tenant with SCIM switched on and a token.
    pub async fn scim_tenant(&self, name: &str) -> ScimTenant {
        let email =
            format!("admin-{}@{}.test", uuid::Uuid::new_v4().simple(), name.to_ascii_lowercase().replace(' ', "-"));
        let created = roster_shared::service::accounts::sign_up(
            &self.store,
            roster_shared::service::accounts::SignUp {
                organization: name.into(),
                name: "Admin".into(),
                email,
                password: PASSWORD.into(),
                throttle: None,
            },
        )
        .await
        .expect("tenant");
        roster_shared::service::credentials::set_scim_enabled(&self.store, &created.tenant_id, true)
            .await
            .expect("enable");
        let (record, secret) = roster_shared::service::credentials::create_token(
            &self.store,
            &created.tenant_id,
            "test IdP",
            "test",
            None,
        )
        .await
        .expect("token");
        ScimTenant {
            id: created.tenant_id.to_string(),
            token: secret.expose().to_string(),
            token_id: record.id.to_string(),
        }
    }

    /// Creates an active SCIM user and returns its id.
    pub async fn create_user(&self, t: &ScimTenant, user_name: &str) -> String {
        let (status, _, body) = self
            .scim(
                "POST",
                &t.id,
                &t.token,
                "/Users",
                Some(serde_json::json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": user_name,
                    "active": true
                })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_str().expect("id").to_string()
    }

    /// A SCIM request as an IdP sends it.
    pub async fn scim(
        &self,
        method: &str,
        tenant: &str,
        token: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (StatusCode, http::HeaderMap, serde_json::Value) {
        let mut b = Request::builder()
            .method(method)
            .uri(format!("/scim/v2/{tenant}{path}"))
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::USER_AGENT, "roster-tests");
        let body = match body {
            Some(v) => {
                b = b.header(header::CONTENT_TYPE, "application/scim+json");
                Body::from(serde_json::to_vec(&v).unwrap())
            }
            None => Body::empty(),
        };
        let res = self.send(b.body(body).unwrap()).await;
        let status = res.status();
        let headers = res.headers().clone();
        let text = body_text(res).await;
        let json = if text.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("{status} JSON body: {text}"))
        };
        (status, headers, json)
    }

    /// A SCIM PATCH of a user with these operations: the status and the answer.
    pub async fn patch_user(
        &self,
        t: &ScimTenant,
        id: &str,
        ops: serde_json::Value,
    ) -> (StatusCode, serde_json::Value) {
        let body = serde_json::json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops});
        let (s, _, answer) = self.scim("PATCH", &t.id, &t.token, &format!("/Users/{id}"), Some(body)).await;
        (s, answer)
    }

    /// A request with custom headers and a raw body.
    pub async fn scim_raw(&self, req: http::request::Builder, body: Body) -> Response<Body> {
        self.send(req.body(body).unwrap()).await
    }
}
