//! The `roster` binary's commands, run as a process.

use std::io::Write;
use std::process::{Command, Stdio};

use http::StatusCode;

use crate::both_backends;
use crate::common::*;

both_backends!(
    tenant_create_prints_the_id_and_the_admin_can_sign_in,
    tenant_create_refuses_bad_input,
    staff_accounts_are_made_listed_and_disabled_on_the_command_line,
    sigterm_stops_the_server_within_its_grace_period,
    sso_connections_are_made_and_listed_on_the_command_line,
    an_operator_resets_a_locked_out_admins_password,
    an_operator_sets_an_organizations_provisioning_safety
);

pub(crate) fn roster(args: &[&str], stdin: &str) -> std::process::Output {
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

/// After SIGTERM, a request that never finishes (a body trickled by a client) does not keep the
/// server from stopping: it stops once the grace period is over, with exit status 0.
async fn sigterm_stops_the_server_within_its_grace_period(db: Db) {
    use std::io::Read;
    let test_db = TestDb::new(db).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut server = Command::new(env!("CARGO_BIN_EXE_roster"))
        .args([
            "serve",
            "--database-url",
            &test_db.url,
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--shutdown-grace",
            "1",
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run roster serve");
    let mut up = false;
    for _ in 0..300 {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            let mut answer = String::new();
            let _ = s.read_to_string(&mut answer);
            if answer.starts_with("HTTP/1.1 200") {
                up = true;
                break;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(up, "the server came up");
    // A request whose body never arrives in full (the dashboard's own timeout is 30 s).
    let mut stuck = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stuck
        .write_all(b"POST /api/sign_in HTTP/1.1\r\nHost: x\r\nsec-fetch-site: same-origin\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nemail=a")
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let killed = Command::new("kill").args(["-TERM", &server.id().to_string()]).status().expect("kill");
    assert!(killed.success());
    // Generous: the grace period is 1 s; without it, the stuck request would hold the server
    // for the dashboard's 30 s timeout.
    let mut status = None;
    for _ in 0..200 {
        if let Some(s) = server.try_wait().expect("wait") {
            status = Some(s);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let Some(status) = status else {
        let _ = server.kill();
        panic!("the server was still running 20 s after SIGTERM");
    };
    assert!(status.success(), "{status}");
    drop(stuck);
}

async fn sso_connections_are_made_and_listed_on_the_command_line(db: Db) {
    let test_db = TestDb::new(db).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let key_file = dir.path().join("secret.key");
    let key = key_file.to_str().unwrap();
    let out = roster(
        &[
            "tenant",
            "create",
            "--database-url",
            &test_db.url,
            "--name",
            "Initech",
            "--admin-email",
            "sso@initech.test",
            "--admin-password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let tenant = String::from_utf8_lossy(&out.stdout).trim().to_string();
    // A real certificate: made with openssl, as an IdP's would be.
    let pem = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "30",
            "-subj",
            "/CN=cli-idp",
            "-keyout",
            "/dev/null",
        ])
        .output()
        .expect("openssl");
    let pem = String::from_utf8_lossy(&pem.stdout).to_string();
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let metadata = dir.path().join("idp.xml");
    std::fs::write(
        &metadata,
        format!(
            r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://idp.initech.test"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>{b64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.initech.test/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>"#
        ),
    )
    .unwrap();
    let common = [
        "--database-url",
        &test_db.url,
        "--tenant",
        &tenant,
        "--public-url",
        "https://roster.initech.test",
        "--secret-key-file",
        key,
        "--json",
    ];
    let mut args = vec!["sso", "saml", "create", "--name", "Okta", "--metadata-file", metadata.to_str().unwrap()];
    args.extend(common);
    let out = roster(&args, "");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let made: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let id = made["id"].as_str().unwrap().to_string();
    assert_eq!(made["acs_url"], format!("https://roster.initech.test/sso/saml/{id}/acs"));
    assert_eq!(made["sp_entity_id"], format!("https://roster.initech.test/sso/saml/{id}/metadata"));
    // The same IdP twice: refused, with the reason.
    let out = roster(&args, "");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("already exists"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // An OIDC issuer that cannot be reached is refused before anything is stored.
    let mut args = vec![
        "sso",
        "oidc",
        "create",
        "--name",
        "Entra",
        "--issuer",
        "https://10.255.255.1/",
        "--client-id",
        "x",
        "--client-secret-stdin",
    ];
    args.extend(common);
    let out = roster(&args, "secret\n");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("private or local address"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut args = vec!["sso", "list"];
    args.extend(common);
    let out = roster(&args, "");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<serde_json::Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["id"], id.as_str());
    assert_eq!(lines[0]["idp"], "https://idp.initech.test");
    // The key file was made, private to its owner.
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777, 0o600);
}

async fn an_operator_resets_a_locked_out_admins_password(db: Db) {
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
            "locked@initech.test",
            "--admin-password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let new = "the operator's new passphrase";
    let out = roster(
        &[
            "account",
            "reset-password",
            "--database-url",
            &test_db.url,
            "--email",
            "LOCKED@initech.test",
            "--password-stdin",
        ],
        &format!("{new}\n"),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = roster(
        &[
            "account",
            "reset-password",
            "--database-url",
            &test_db.url,
            "--email",
            "nobody@initech.test",
            "--password-stdin",
        ],
        &format!("{new}\n"),
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("No account"));
    let out = roster(
        &[
            "account",
            "reset-password",
            "--database-url",
            &test_db.url,
            "--email",
            "locked@initech.test",
            "--password-stdin",
        ],
        "short\n",
    );
    assert!(!out.status.success());
    let app = TestApp::new_on(test_db).await;
    let res = app.call("sign_in", &[("email", "locked@initech.test"), ("password", new)], None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app.call("sign_in", &[("email", "locked@initech.test"), ("password", PASSWORD)], None).await;
    assert!(!res.status().is_success());
}

async fn an_operator_sets_an_organizations_provisioning_safety(db: Db) {
    let test_db = TestDb::new(db).await;
    let out = roster(
        &[
            "tenant",
            "create",
            "--database-url",
            &test_db.url,
            "--name",
            "Safe",
            "--admin-email",
            "ops@safe.test",
            "--admin-password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let tenant = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let show = roster(&["tenant", "safety", "--database-url", &test_db.url, "--tenant", &tenant], "");
    assert_eq!(
        String::from_utf8_lossy(&show.stdout).trim(),
        "brake on at 10% of active users (at least 10) per 60 minutes; SCIM DELETE deletes"
    );
    let set = roster(
        &[
            "tenant",
            "safety",
            "--database-url",
            &test_db.url,
            "--tenant",
            &tenant,
            "--brake",
            "off",
            "--delete-policy",
            "soft",
            "--soft-delete-days",
            "7",
            "--json",
        ],
        "",
    );
    assert!(set.status.success(), "{}", String::from_utf8_lossy(&set.stderr));
    let json: serde_json::Value = serde_json::from_slice(&set.stdout).unwrap();
    assert_eq!(
        (json["brake_enabled"].as_bool(), json["delete_policy"].as_str(), json["soft_delete_days"].as_u64()),
        (Some(false), Some("Soft"), Some(7))
    );
    // Out of range: refused in words, nothing changes.
    let bad =
        roster(&["tenant", "safety", "--database-url", &test_db.url, "--tenant", &tenant, "--brake-percent", "0"], "");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("between 1 and 100 percent"));
    let unknown = roster(
        &["tenant", "safety", "--database-url", &test_db.url, "--tenant", "00000000-0000-4000-8000-000000000000"],
        "",
    );
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("there is no organization"));
}
