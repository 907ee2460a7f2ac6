//! The `roster` binary's commands, run as a process.

use std::io::Write;
use std::process::{Command, Stdio};

use http::StatusCode;

use crate::both_backends;
use crate::common::*;

both_backends!(
    tenant_create_prints_the_id_and_the_admin_can_sign_in,
    tenant_create_refuses_bad_input,
    staff_accounts_are_made_listed_and_disabled_on_the_command_line
);

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

async fn staff_accounts_are_made_listed_and_disabled_on_the_command_line(db: Db) {
    let test_db = TestDb::new(db).await;
    let url = test_db.url.clone();
    let create = |email: &str, password: &str| {
        roster(
            &["staff", "create", "--database-url", &url, "--email", email, "--name", "Sam Support", "--password-stdin"],
            &format!("{password}\n"),
        )
    };
    let out = create("sam@roster.test", PASSWORD);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!String::from_utf8_lossy(&out.stdout).trim().is_empty(), "prints the account id");
    // Bad input: a short password, a taken address, a missing --password-stdin.
    let out = create("pat@roster.test", "short");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("12 characters"));
    let out = create("SAM@roster.test", PASSWORD);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    let out = roster(&["staff", "create", "--database-url", &url, "--email", "x@roster.test"], PASSWORD);
    assert!(!out.status.success());

    let list = roster(&["staff", "list", "--database-url", &url, "--json"], "");
    assert!(list.status.success());
    let line: serde_json::Value = serde_json::from_slice(&list.stdout).expect("one JSON line");
    assert_eq!((line["email"].as_str(), line["disabled"].as_bool()), (Some("sam@roster.test"), Some(false)));

    // They sign in on the usual page and land in the support console.
    let app = TestApp::new_on(test_db).await;
    let res = app.call("sign_in", &[("email", "sam@roster.test"), ("password", PASSWORD)], None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers().get("location").and_then(|v| v.to_str().ok()), Some("/support"));
    let cookie = session_cookie(&res).expect("cookie");
    assert_eq!(app.viewer(Some(&cookie)).await["role"], "support");

    // Disabled: the session ends, sign-in is refused; enabled again: it works.
    let out = roster(&["staff", "disable", "--database-url", &url, "--email", "sam@roster.test"], "");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(app.viewer(Some(&cookie)).await, serde_json::Value::Null);
    let res = app.call("sign_in", &[("email", "sam@roster.test"), ("password", PASSWORD)], None).await;
    assert!(invalid_message(res).await.contains("disabled"));
    let out = roster(&["staff", "disable", "--database-url", &url, "--email", "nobody@roster.test"], "");
    assert!(!out.status.success());
    let out = roster(&["staff", "enable", "--database-url", &url, "--email", "sam@roster.test"], "");
    assert!(out.status.success());
    let res = app.call("sign_in", &[("email", "sam@roster.test"), ("password", PASSWORD)], None).await;
    assert_eq!(res.status(), StatusCode::OK);
}
