//! The `roster` binary's commands, run as a process.

use std::io::Write;
use std::process::{Command, Stdio};

use http::StatusCode;

use crate::both_backends;
use crate::common::*;

both_backends!(tenant_create_prints_the_id_and_the_admin_can_sign_in, tenant_create_refuses_bad_input);

fn roster(args: &[&str], stdin: &str) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_roster"))
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run roster");
    child.stdin.take().expect("stdin").write_all(stdin.as_bytes()).expect("write stdin");
    child.wait_with_output().expect("roster finished")
}

async fn tenant_create_prints_the_id_and_the_admin_can_sign_in(db: Db) {
    let test_db = TestDb::new(db).await;
    let migrate = roster(&["migrate", "--database-url", &test_db.url], "");
    assert!(migrate.status.success(), "{}", String::from_utf8_lossy(&migrate.stderr));

    let out = roster(
        &[
            "tenant",
            "create",
            "--database-url",
            &test_db.url,
            "--name",
            "Initech",
            "--admin-email",
            "bill@initech.test",
            "--admin-password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(roster_shared::ids::TenantId::parse(&id).is_some(), "prints the tenant id: {id:?}");

    let out = roster(
        &[
            "tenant",
            "create",
            "--database-url",
            &test_db.url,
            "--name",
            "Globex",
            "--admin-email",
            "hank@globex.test",
            "--admin-name",
            "Hank Scorpio",
            "--admin-password-stdin",
            "--json",
        ],
        PASSWORD,
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON output");
    assert_eq!(json["name"], "Globex");
    assert_eq!(json["admin_email"], "hank@globex.test");
    assert!(json["tenant_id"].as_str().is_some_and(|t| t != id));

    // The admin created on the command line signs in to the dashboard.
    let app = TestApp::new_on(test_db).await;
    let res = app.call("sign_in", &[("email", "bill@initech.test"), ("password", PASSWORD)], None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let cookie = session_cookie(&res).expect("cookie");
    let viewer = app.viewer(Some(&cookie)).await;
    assert_eq!(viewer["tenant"]["id"], id.as_str());
    assert_eq!(viewer["tenant"]["name"], "Initech");
}

async fn tenant_create_refuses_bad_input(db: Db) {
    let test_db = TestDb::new(db).await;
    let out = roster(
        &[
            "tenant",
            "create",
            "--database-url",
            &test_db.url,
            "--name",
            "Initech",
            "--admin-email",
            "bill@initech.test",
            "--admin-password-stdin",
        ],
        "short\n",
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 12"), "{}", String::from_utf8_lossy(&out.stderr));
    // Without --admin-password-stdin the command does not run.
    let out =
        roster(&["tenant", "create", "--database-url", &test_db.url, "--name", "X", "--admin-email", "x@x.test"], "");
    assert!(!out.status.success());
}
