//! A rolling upgrade, as operators do it: the previous release (`deploy/previous-release`,
//! built by `scripts/test.sh` into `target/upgrade/roster-previous`) serves; this release
//! migrates the database under it; the previous release keeps serving SCIM and the dashboard on
//! the migrated schema, side by side with this one, until it is stopped. See docs/UPGRADES.md.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::cli::roster;
use crate::common::*;

#[test]
fn sqlite_the_previous_release_keeps_serving_on_the_migrated_schema() {
    run_within("upgrade (SQLite)", Duration::from_secs(300), rolling_upgrade(Db::Sqlite));
}

#[test]
fn postgres_the_previous_release_keeps_serving_on_the_migrated_schema() {
    run_within("upgrade (PostgreSQL)", Duration::from_secs(300), rolling_upgrade(Db::Postgres));
}

/// The previous release's binary.
fn previous() -> std::path::PathBuf {
    let path = std::env::var_os("ROSTER_PREVIOUS_BIN")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/upgrade/roster-previous"));
    assert!(
        path.exists(),
        "{} is missing: `./scripts/test.sh` builds the previous release (deploy/previous-release) there first",
        path.display()
    );
    path
}

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn serve(bin: &std::path::Path, url: &str, dir: &std::path::Path) -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(bin)
        .args(["serve", "--database-url", url, "--bind", &format!("127.0.0.1:{port}"), "--shutdown-grace", "2"])
        .arg("--secret-key-file")
        .arg(dir.join("secret.key"))
        .env("RUST_LOG", "warn")
        .env("LEPTOS_SITE_ROOT", dir.join("site"))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("roster serve");
    let server = Server { child, base: format!("http://127.0.0.1:{port}") };
    let http = reqwest::Client::new();
    for _ in 0..300 {
        if let Ok(r) = http.get(format!("{}/readyz", server.base)).send().await {
            if r.status() == 200 {
                return server;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{} did not come up", bin.display());
}

/// A SCIM client of one tenant on one server.
struct Idp<'a> {
    http: reqwest::Client,
    server: &'a Server,
    tenant: &'a str,
    token: &'a str,
}

impl Idp<'_> {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}/scim/v2/{}{path}", self.server.base, self.tenant))
            .bearer_auth(self.token)
            .header("content-type", "application/scim+json");
        if let Some(b) = body {
            req = req.body(b.to_string());
        }
        let res = req.send().await.expect("request");
        let status = res.status().as_u16();
        let text = res.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Create, read, patch, filter, delete: the previous release's SCIM API end to end.
    async fn exercise(&self, name: &str) -> String {
        use reqwest::Method;
        let (s, u) = self
            .call(
                Method::POST,
                "/Users",
                Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name,
                            "name": {"givenName": "Up", "familyName": "Grade"}, "emails": [{"value": name, "primary": true}]})),
            )
            .await;
        assert_eq!(s, 201, "create {name}: {u}");
        let id = u["id"].as_str().unwrap().to_string();
        let (s, _) = self.call(Method::GET, &format!("/Users/{id}"), None).await;
        assert_eq!(s, 200);
        let (s, p) = self
            .call(
                Method::PATCH,
                &format!("/Users/{id}"),
                Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                            "Operations": [{"op": "replace", "path": "active", "value": false}]})),
            )
            .await;
        assert_eq!(s, 200, "{p}");
        let filter = format!("userName eq \"{name}\"");
        let (s, l) = self
            .call(
                Method::GET,
                &format!(
                    "/Users?filter={}",
                    url::form_urlencoded::byte_serialize(filter.as_bytes()).collect::<String>()
                ),
                None,
            )
            .await;
        assert_eq!((s, l["totalResults"].clone()), (200, json!(1)), "{l}");
        let (s, g) = self
            .call(
                Method::POST,
                "/Groups",
                Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": format!("G {name}"),
                            "members": [{"value": id}]})),
            )
            .await;
        assert_eq!(s, 201, "{g}");
        id
    }
}

async fn rolling_upgrade(db: Db) {
    let previous = previous();
    let test_db = TestDb::new(db).await;
    let url = test_db.url.clone();
    let dir = tempfile::tempdir().unwrap();

    // The previous release runs (and migrates the new database to its own schema).
    let old = serve(&previous, &url, dir.path()).await;
    let prev_version =
        String::from_utf8_lossy(&Command::new(&previous).arg("--version").output().unwrap().stdout).to_string();
    eprintln!("previous release: {}", prev_version.trim());
    let out = Command::new(&previous)
        .args([
            "tenant",
            "create",
            "--database-url",
            &url,
            "--name",
            "Upgrade",
            "--admin-email",
            "ops@upgrade.test",
            "--admin-password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(format!("{PASSWORD}\n").as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(out.status.success());
    let tenant = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let ok = |args: &[&str]| {
        let out = Command::new(&previous).args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    ok(&["scim", "enable", "--database-url", &url, "--tenant", &tenant]);
    let made: Value = serde_json::from_str(&ok(&[
        "scim",
        "token",
        "create",
        "--database-url",
        &url,
        "--tenant",
        &tenant,
        "--name",
        "IdP",
        "--json",
    ]))
    .unwrap();
    let token = made["token"].as_str().unwrap().to_string();
    let http = reqwest::Client::new();
    let on_old = Idp { http: http.clone(), server: &old, tenant: &tenant, token: &token };
    let before = on_old.exercise("before@upgrade.test").await;

    // This release migrates the database while the previous one serves.
    let status =
        String::from_utf8_lossy(&roster(&["migrate", "--status", "--database-url", &url], "").stdout).to_string();
    assert!(status.contains("pending"), "{status}");
    let out = roster(&["migrate", "--database-url", &url], "");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // The previous release keeps working on the migrated schema: SCIM, sign-in, pages.
    let during = on_old.exercise("during@upgrade.test").await;
    let sign_in = http
        .post(format!("{}/api/sign_in", old.base))
        .header("sec-fetch-site", "same-origin")
        .header("accept", "application/json")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(encode(&[("email", "ops@upgrade.test"), ("password", PASSWORD)]))
        .send()
        .await
        .unwrap();
    assert!(sign_in.status().is_success() || sign_in.status().is_redirection(), "{}", sign_in.status());
    assert!(sign_in.headers().get("set-cookie").is_some(), "the previous release signs in");
    let page = http.get(format!("{}/sign-in", old.base)).send().await.unwrap();
    assert_eq!(page.status(), 200);

    // Both releases side by side on one database: each sees the other's writes.
    let new = serve(std::path::Path::new(env!("CARGO_BIN_EXE_roster")), &url, dir.path()).await;
    let on_new = Idp { http: http.clone(), server: &new, tenant: &tenant, token: &token };
    let after = on_new.exercise("after@upgrade.test").await;
    for id in [&before, &during] {
        let (s, _) = on_new.call(reqwest::Method::GET, &format!("/Users/{id}"), None).await;
        assert_eq!(s, 200);
    }
    let (s, _) = on_old.call(reqwest::Method::GET, &format!("/Users/{after}"), None).await;
    assert_eq!(s, 200, "the previous release reads what this one wrote");
    let (s, _) = on_old.call(reqwest::Method::DELETE, &format!("/Users/{after}"), None).await;
    assert_eq!(s, 204);

    // The previous release stops cleanly; this one carries on.
    let mut old = old;
    let killed = Command::new("kill").args(["-TERM", &old.child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let mut stopped = None;
    for _ in 0..100 {
        if let Some(s) = old.child.try_wait().unwrap() {
            stopped = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(stopped.is_some_and(|s| s.success()), "the previous release stops on SIGTERM: {stopped:?}");
    let (s, l) = on_new.call(reqwest::Method::GET, "/Users", None).await;
    assert_eq!((s, l["totalResults"].clone()), (200, json!(2)), "{l}");
    let status =
        String::from_utf8_lossy(&roster(&["migrate", "--status", "--database-url", &url], "").stdout).to_string();
    assert!(status.contains("up to date"), "{status}");
    drop(new);
}
