//! The operator's commands, run as the `roster` binary against the database a running
//! instance uses: organizations listed, disabled, exported and deleted; credentials and jobs
//! listed; backups under write load and restores; `migrate --status`, `doctor`, `--version`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::StatusCode;
use serde_json::{json, Value};

use crate::both_backends;
use crate::cli::roster;
use crate::common::*;

both_backends!(
    organizations_are_listed_disabled_exported_and_deleted,
    migrations_doctor_version_and_jobs_on_the_command_line
);

#[test]
fn sqlite_backups_under_write_load_keep_every_acknowledged_write() {
    run("backups_under_write_load", backups_under_write_load_keep_every_acknowledged_write());
}

#[test]
fn postgres_backup_points_to_pg_dump() {
    run("postgres_backup_points_to_pg_dump", async {
        let db = TestDb::new(Db::Postgres).await;
        let dir = tempfile::tempdir().unwrap();
        let out =
            roster(&["backup", "--database-url", &db.url, "--to", &dir.path().join("b.db").display().to_string()], "");
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("pg_dump") && err.contains("pg_restore"), "{err}");
    });
}

fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn user(name: &str) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name})
}

/// Polls until the SCIM API answers `want` (a change made by another process reaches a
/// running SQLite instance's cache within its 2-second lifetime).
async fn scim_until(app: &TestApp, t: &ScimTenant, want: StatusCode) -> Value {
    for _ in 0..100 {
        let (status, _, body) = app.scim("GET", &t.id, &t.token, "/Users", None).await;
        if status == want {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the SCIM API never answered {want}");
}

async fn organizations_are_listed_disabled_exported_and_deleted(db: Db) {
    let app = TestApp::new(db).await;
    let url = app.db.url.clone();
    let a = app.scim_tenant("Acme").await;
    let b = app.scim_tenant("Globex").await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let (status, _, u) = app.scim("POST", &a.id, &a.token, "/Users", Some(user(&format!("u{i}@acme.test")))).await;
        assert_eq!(status, StatusCode::CREATED);
        ids.push(u["id"].as_str().unwrap().to_string());
    }
    let (status, _, _) = app
        .scim(
            "POST",
            &a.id,
            &a.token,
            "/Groups",
            Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Sales <team>",
                        "members": [{"value": ids[0]}, {"value": ids[1]}]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _, _) = app.scim("POST", &b.id, &b.token, "/Users", Some(user("x@globex.test"))).await;
    assert_eq!(status, StatusCode::CREATED);
    app.services.activity.flush().await;

    // Listed with their counts.
    let listed: Vec<Value> = ok(&roster(&["tenant", "list", "--database-url", &url, "--json"], ""))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let row = |id: &str| listed.iter().find(|t| t["id"] == id).cloned().unwrap();
    assert_eq!(
        (row(&a.id)["users"].clone(), row(&a.id)["groups"].clone(), row(&a.id)["admins"].clone()),
        (json!(5), json!(1), json!(1))
    );
    assert_eq!(row(&b.id)["users"], 1);
    let table = ok(&roster(&["tenant", "list", "--database-url", &url], ""));
    assert!(table.contains("Acme") && table.contains("active"), "{table}");
    let shown: Value = serde_json::from_str(&ok(&roster(
        &["tenant", "show", "--database-url", &url, "--tenant", &a.id, "--json"],
        "",
    )))
    .unwrap();
    assert_eq!(shown["credentials"][0]["id"], a.token_id.as_str());
    assert!(!shown.to_string().contains(&a.token), "no secret in `show`");
    let tokens = ok(&roster(&["scim", "token", "list", "--database-url", &url, "--tenant", &a.id], ""));
    assert!(tokens.contains(&a.token_id) && tokens.contains("active"), "{tokens}");
    assert!(!tokens.contains(&a.token));
    let out = roster(&["tenant", "show", "--database-url", &url, "--tenant", &uuid::Uuid::new_v4().to_string()], "");
    assert!(String::from_utf8_lossy(&out.stderr).contains("there is no organization"));

    // Disabled: SCIM with its valid token is refused with 403 (a wrong token still gets 401),
    // its admin cannot sign in; the other organization is untouched. Enabled again: back.
    ok(&roster(&["tenant", "disable", "--database-url", &url, "--tenant", &a.id], ""));
    let body = scim_until(&app, &a, StatusCode::FORBIDDEN).await;
    assert!(body["detail"].as_str().unwrap().contains("disabled"), "{body}");
    let (status, _, _) = app.scim("GET", &a.id, "rst_wrong", "/Users", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = app.scim("GET", &b.id, &b.token, "/Users", None).await;
    assert_eq!(status, StatusCode::OK);
    let admin = app.raw_strings(&format!("SELECT email FROM console_accounts WHERE tenant_id = '{}'", a.id)).await;
    let res = app.call("sign_in", &[("email", &admin[0]), ("password", PASSWORD)], None).await;
    assert!(invalid_message(res).await.contains("disabled"));
    let listed = ok(&roster(&["tenant", "list", "--database-url", &url], ""));
    assert!(listed.lines().any(|l| l.contains(&a.id) && l.contains("disabled")), "{listed}");
    ok(&roster(&["tenant", "enable", "--database-url", &url, "--tenant", &a.id], ""));
    scim_until(&app, &a, StatusCode::OK).await;
    let res = app.call("sign_in", &[("email", &admin[0]), ("password", PASSWORD)], None).await;
    assert!(session_cookie(&res).is_some());
    app.services.activity.flush().await;

    // Exported: settings, directory with memberships, activity; never a secret.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("acme.json");
    let said = ok(&roster(
        &["tenant", "export", "--database-url", &url, "--tenant", &a.id, "--to", &file.display().to_string()],
        "",
    ));
    assert!(said.contains("5 users, 1 groups"), "{said}");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(!text.contains(&a.token) && !text.contains("secret_hash") && !text.contains("password_hash"));
    let export: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(export["format"], "roster-tenant-export/1");
    assert_eq!(export["organization"]["id"], a.id.as_str());
    assert_eq!(export["users"].as_array().unwrap().len(), 5);
    assert_eq!(export["groups"][0]["resource"]["displayName"], "Sales <team>");
    assert_eq!(export["groups"][0]["members"].as_array().unwrap().len(), 2);
    assert_eq!(export["settings"]["scim_credentials"][0]["id"], a.token_id.as_str());
    let activity = export["activity"].as_array().unwrap();
    assert!(activity.iter().any(|r| r["summary"].as_str().unwrap_or_default().contains("disabled by the operator")));
    assert!(activity.iter().filter(|r| r["actor"] == "scim").count() >= 6);

    // Deleted: a wrong confirmation deletes nothing; the right one every row of it, and
    // nothing of the other.
    let out = roster(&["tenant", "delete", "--database-url", &url, "--tenant", &a.id, "--confirm", &b.id], "");
    assert!(!out.status.success());
    assert_eq!(app.raw_strings(&format!("SELECT id FROM tenants WHERE id = '{}'", a.id)).await.len(), 1);
    let said = ok(&roster(&["tenant", "delete", "--database-url", &url, "--tenant", &a.id, "--confirm", &a.id], ""));
    assert!(said.contains("Deleted organization"), "{said}");
    for table in [
        "activity",
        "scim_traffic",
        "scim_users",
        "scim_groups",
        "scim_group_members",
        "scim_credentials",
        "console_accounts",
        "user_groups",
        "jobs",
        "sign_in_attempts",
    ] {
        let left =
            app.raw_strings(&format!("SELECT CAST(COUNT(*) AS TEXT) FROM {table} WHERE tenant_id = '{}'", a.id)).await;
        assert_eq!(left, vec!["0".to_string()], "{table}");
    }
    assert!(app.raw_strings(&format!("SELECT id FROM tenants WHERE id = '{}'", a.id)).await.is_empty());
    let (status, _, _) = app.scim("GET", &b.id, &b.token, "/Users", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        app.raw_strings(&format!("SELECT user_name FROM scim_users WHERE tenant_id = '{}'", b.id)).await,
        vec!["x@globex.test".to_string()]
    );
    scim_until(&app, &a, StatusCode::UNAUTHORIZED).await;
}

async fn migrations_doctor_version_and_jobs_on_the_command_line(db: Db) {
    let test_db = TestDb::new(db).await;
    let url = test_db.url.clone();
    let version = ok(&roster(&["--version"], ""));
    assert!(version.starts_with("roster 0.") && version.contains("(commit "), "{version}");
    assert!(!version.contains("unknown"), "built from a git checkout: {version}");

    let status = ok(&roster(&["migrate", "--status", "--database-url", &url], ""));
    assert!(status.contains("pending") && !status.contains("applied "), "{status}");
    ok(&roster(&["migrate", "--database-url", &url], ""));
    let status = ok(&roster(&["migrate", "--status", "--database-url", &url], ""));
    assert!(status.contains("up to date") && !status.contains("pending"), "{status}");

    // A newer release migrated further: this one says so, and still starts on that schema.
    let app = TestApp::new_on(TestDb::at(&url)).await;
    let checksum = if url.starts_with("sqlite:") { "X'00'" } else { "'\\x00'::bytea" };
    app.raw_execute(&format!(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (9999, 'from the future', TRUE, {checksum}, 1)"
    ))
    .await;
    let status = ok(&roster(&["migrate", "--status", "--database-url", &url], ""));
    assert!(status.contains("9999  newer") && status.contains("newer release"), "{status}");
    ok(&roster(&["migrate", "--database-url", &url], ""));

    // doctor: a missing site fails; a complete one, a good URL and no SMTP pass; an SMTP
    // server that does not answer fails.
    let site = tempfile::tempdir().unwrap();
    let site_root = site.path().display().to_string();
    let out = roster(&["doctor", "--database-url", &url, "--site-root", &site_root], "");
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("ok    database reachable") && said.contains("FAIL  site assets missing"), "{said}");
    std::fs::create_dir_all(site.path().join("pkg")).unwrap();
    for f in ["roster.js", "roster.wasm", "roster.css"] {
        std::fs::write(site.path().join("pkg").join(f), "x").unwrap();
    }
    // Built without `--split`, or copied without the pages' modules: said, and failed.
    let out = roster(&["doctor", "--database-url", &url, "--site-root", &site_root], "");
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(!out.status.success() && said.contains("FAIL  page modules: no split modules' manifest"), "{said}");
    std::fs::write(
        site.path().join("pkg").join("__wasm_split_manifest.json"),
        r#"{"sign_in_page": ["chunk_1", "split_sign_in_page"], "overview_page": ["chunk_1", "chunk_2", "split_overview_page"]}"#,
    )
    .unwrap();
    for f in [
        "chunk_1.wasm",
        "split_sign_in_page.wasm",
        "split_overview_page.wasm",
        "__wasm_split.______________________.js",
    ] {
        std::fs::write(site.path().join("pkg").join(f), "x").unwrap();
    }
    let out = roster(&["doctor", "--database-url", &url, "--site-root", &site_root], "");
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        !out.status.success()
            && said.contains("FAIL  page modules: 1 file the manifest names is missing (/pkg/chunk_2.wasm)"),
        "{said}"
    );
    std::fs::write(site.path().join("pkg").join("chunk_2.wasm"), "x").unwrap();
    let said = ok(&roster(
        &["doctor", "--database-url", &url, "--site-root", &site_root, "--public-url", "https://roster.example.com"],
        "",
    ));
    assert!(
        said.contains("migrations current")
            && said.contains("ok    page modules: 2 in the manifest, every file present")
            && said.contains("email off")
            && said.contains("Everything looks right"),
        "{said}"
    );
    let out = roster(
        &["doctor", "--database-url", &url, "--site-root", &site_root, "--public-url", "http://roster.example.com/app"],
        "",
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("FAIL  public URL"));
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let out = roster(
        &[
            "doctor",
            "--database-url",
            &url,
            "--site-root",
            &site_root,
            "--smtp-host",
            "127.0.0.1",
            "--smtp-port",
            &closed.to_string(),
            "--smtp-security",
            "none",
        ],
        "",
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("FAIL  SMTP 127.0.0.1"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out =
        roster(&["doctor", "--database-url", "postgres://nobody@127.0.0.1:1/none", "--site-root", &site_root], "");
    assert!(String::from_utf8_lossy(&out.stdout).contains("FAIL  database"));

    // jobs list: the running instance's hourly maintenance.
    for _ in 0..100 {
        if app.raw_strings("SELECT state FROM jobs WHERE kind = 'maintenance'").await == vec!["done".to_string()] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let listed: Vec<Value> = ok(&roster(&["jobs", "list", "--database-url", &url, "--json"], ""))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(listed.iter().any(|j| j["kind"] == "maintenance" && j["state"] == "done"), "{listed:?}");
    let table = ok(&roster(&["jobs", "list", "--database-url", &url, "--state", "done"], ""));
    assert!(table.contains("maintenance"), "{table}");
}

async fn backups_under_write_load_keep_every_acknowledged_write() {
    let app = Arc::new(TestApp::new(Db::Sqlite).await);
    let url = app.db.url.clone();
    let t = Arc::new(app.scim_tenant("Backup").await);
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..4 {
        let (app, t, acked, stop) = (app.clone(), t.clone(), acked.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let name = format!("w{w}-{i}@backup.test");
                let (status, _, _) = app.scim("POST", &t.id, &t.token, "/Users", Some(user(&name))).await;
                if status == StatusCode::CREATED {
                    acked.lock().unwrap().push(name);
                }
                i += 1;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // Everything acknowledged before the backup starts must be in it.
    let before: Vec<String> = acked.lock().unwrap().clone();
    let dir = tempfile::tempdir().unwrap();
    let backup = dir.path().join("roster-backup.db");
    let started = Instant::now();
    let out = {
        let (url, backup) = (url.clone(), backup.display().to_string());
        tokio::task::spawn_blocking(move || roster(&["backup", "--database-url", &url, "--to", &backup], ""))
            .await
            .unwrap()
    };
    let took = started.elapsed();
    let said = ok(&out);
    let during = acked.lock().unwrap().len() - before.len();
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    let all: Vec<String> = acked.lock().unwrap().clone();
    eprintln!(
        "backup under load: {said:?} in {:.2} s; {} writes acknowledged before it, {during} while it ran, {} in all",
        took.as_secs_f64(),
        before.len(),
        all.len()
    );
    assert!(before.len() > 50, "the writers wrote: {}", before.len());
    let out = roster(&["backup", "--database-url", &url, "--to", &backup.display().to_string()], "");
    assert!(String::from_utf8_lossy(&out.stderr).contains("exists"), "a backup never overwrites a file");

    // Restored into a new place: every write acknowledged before the backup is there.
    let restored_url = format!("sqlite://{}", dir.path().join("restored.db").display());
    ok(&roster(&["restore", "--database-url", &restored_url, "--from", &backup.display().to_string()], ""));
    let restored = TestApp::new_on(TestDb::at(&restored_url)).await;
    let names: std::collections::HashSet<String> = restored
        .raw_strings(&format!("SELECT user_name FROM scim_users WHERE tenant_id = '{}'", t.id))
        .await
        .into_iter()
        .collect();
    let missing: Vec<&String> = before.iter().filter(|n| !names.contains(*n)).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged writes missing from the backup, e.g. {:?}",
        missing.len(),
        missing.first()
    );
    assert!(names.len() <= all.len() + 1);
    // The restored instance serves them.
    let (status, _, page) = restored.scim("GET", &t.id, &t.token, "/Users?count=1", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page["totalResults"].as_u64().unwrap() >= before.len() as u64);
    drop(restored);

    // Restored over the original (its server stopped): the replaced database is kept whole.
    let app = Arc::try_unwrap(app).ok().expect("the writers are done");
    app.store.close().await;
    let said = ok(&roster(&["restore", "--database-url", &url, "--from", &backup.display().to_string()], ""));
    let kept =
        said.lines().find_map(|l| l.strip_prefix("The replaced database is kept as ")).unwrap().trim_end_matches('.');
    let kept_app = TestApp::new_on(TestDb::at(&format!("sqlite://{kept}"))).await;
    let kept_names =
        kept_app.raw_strings(&format!("SELECT user_name FROM scim_users WHERE tenant_id = '{}'", t.id)).await;
    assert_eq!(kept_names.len(), all.len(), "the kept copy has every acknowledged write");
    // A file that is not a backup is refused, and nothing changes.
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, "not a database").unwrap();
    let out = roster(&["restore", "--database-url", &url, "--from", &junk.display().to_string()], "");
    assert!(!out.status.success());
    drop(app);
}

#[test]
fn sqlite_request_logs_name_the_tenant() {
    run("request_logs_name_the_tenant", async {
        use std::io::{BufRead, Write};
        let db = TestDb::new(Db::Sqlite).await;
        let url = db.url.clone();
        let out = roster(
            &[
                "tenant",
                "create",
                "--database-url",
                &url,
                "--name",
                "Logs",
                "--admin-email",
                "ops@logs.test",
                "--admin-password-stdin",
            ],
            &format!("{PASSWORD}\n"),
        );
        let tenant = ok(&out).trim().to_string();
        ok(&roster(&["scim", "enable", "--database-url", &url, "--tenant", &tenant], ""));
        let made: Value = serde_json::from_str(&ok(&roster(
            &["scim", "token", "create", "--database-url", &url, "--tenant", &tenant, "--name", "x", "--json"],
            "",
        )))
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_roster"))
            .args(["--log-format", "json", "serve", "--database-url", &url, "--bind", &format!("127.0.0.1:{port}")])
            .arg("--secret-key-file")
            .arg(dir.path().join("k"))
            .env("RUST_LOG", "info")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = server.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut answered = false;
        for _ in 0..100 {
            let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            let req = format!(
                "GET /scim/v2/{tenant}/Users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
                made["token"].as_str().unwrap()
            );
            s.write_all(req.as_bytes()).unwrap();
            let mut answer = String::new();
            let _ = std::io::Read::read_to_string(&mut s, &mut answer);
            answered = answer.starts_with("HTTP/1.1 200");
            break;
        }
        assert!(answered);
        let mut found = None;
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline && found.is_none() {
            if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
                let Ok(v) = serde_json::from_str::<Value>(&line) else { continue };
                if v["message"] == "response" && v["span"]["route"] == "/scim/v2/{tenant}/Users" {
                    found = Some(v);
                }
            }
        }
        let _ = server.kill();
        let _ = server.wait();
        let v = found.expect("a response log line for the SCIM request");
        assert_eq!(v["span"]["tenant"], tenant.as_str(), "{v}");
        assert!(!v.to_string().contains(made["token"].as_str().unwrap()), "never a token in the logs");
    });
}
