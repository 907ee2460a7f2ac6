//! Email through a real SMTP server on loopback (`end2end/idp/smtp.py`, PyPI aiosmtpd): the
//! tests read the mail it received and follow its links.

use std::time::Duration;

use http::StatusCode;
use roster_shared::clock::now_ms;
use roster_shared::ids::TenantId;
use roster_shared::service::email::{EmailSettings, Mailer};
use roster_shared::service::jobs::{self, Notices};
use roster_shared::store::NewActivity;
use serde_json::{json, Value};

use crate::both_backends;
use crate::common::*;

both_backends!(
    invitations_and_password_resets_arrive_by_email,
    notices_reach_the_admins_who_want_them,
    without_email_the_pages_say_what_to_do
);

/// The SMTP server; stopped when dropped.
struct Smtp {
    child: std::process::Child,
    port: u16,
    dir: tempfile::TempDir,
    _stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Smtp {
    fn start() -> Smtp {
        use std::io::BufRead;
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let python = root.join(".tools/test-venv/bin/python");
        assert!(python.exists(), "{} is missing: run ./scripts/test.sh once (it installs aiosmtpd)", python.display());
        let dir = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new(python)
            .arg(root.join("end2end/idp/smtp.py"))
            .arg(dir.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("the SMTP server");
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let port: u16 = line.trim().strip_prefix("listening ").expect("listening <port>").parse().unwrap();
        Smtp { child, port, dir, _stdout: stdout }
    }

    fn mailer(&self) -> Mailer {
        Mailer::from_settings(&EmailSettings {
            host: Some("127.0.0.1".into()),
            port: self.port,
            security: "none".into(),
            from: "Roster <roster@roster.test>".into(),
            ..Default::default()
        })
        .unwrap()
        .unwrap()
    }

    /// Every message received so far, in order.
    fn messages(&self) -> Vec<Value> {
        let mut names: Vec<_> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        names.sort();
        names.iter().map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()).collect()
    }

    /// Waits for the `n`th message (1-based).
    async fn wait_for(&self, n: usize) -> Value {
        for _ in 0..500 {
            if let Some(m) = self.messages().get(n - 1) {
                return m.clone();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("message {n} never arrived; got {:?}", self.messages());
    }
}

/// The first link in a text that starts with `prefix`.
fn link(text: &str, prefix: &str) -> String {
    let start = text.find(prefix).unwrap_or_else(|| panic!("no {prefix} link in {text}"));
    text[start..].split_whitespace().next().unwrap().to_string()
}

async fn with_email(db: Db, smtp: &Smtp) -> TestApp {
    let mailer = smtp.mailer();
    TestApp::with_services(db, move |s| s.email = Some(mailer)).await
}

async fn invitations_and_password_resets_arrive_by_email(db: Db) {
    let smtp = Smtp::start();
    let app = with_email(db, &smtp).await;
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let admin = format!("ada-{suffix}@acme.test");
    let cookie = app.sign_up("Acme <b>Widgets</b>", &admin, PASSWORD).await;

    // An invitation is emailed, and its link works.
    let invitee = format!("grace-{suffix}@acme.test");
    let res = app.call("form/invite", &[("email", &invitee)], Some(&cookie)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let made: Value = serde_json::from_str(&body_text(res).await).unwrap();
    assert_eq!(made["emailed"], true);
    let mail = smtp.wait_for(1).await;
    assert_eq!(mail["to"], json!([invitee]));
    assert_eq!(mail["from"], "roster@roster.test");
    assert_eq!(mail["subject"], "You are invited to administer Acme <b>Widgets</b> on Roster");
    assert!(mail["html"].as_str().unwrap().contains("Acme &lt;b&gt;Widgets&lt;/b&gt;"), "{}", mail["html"]);
    let invitation = link(mail["text"].as_str().unwrap(), "http://roster.test/invite/");
    assert_eq!(invitation, made["link"]);
    let token = invitation.rsplit('/').next().unwrap();
    let res =
        app.call("form/accept_invitation", &[("token", token), ("name", "Grace"), ("password", PASSWORD)], None).await;
    assert!(session_cookie(&res).is_some(), "accepting signs in: {}", res.status());

    // Forgot password: an unknown address and a known one get the same answer; only the
    // known one gets mail.
    for email in [format!("nobody-{suffix}@acme.test"), admin.clone()] {
        let res = app.call("form/forgot_password", &[("email", &email)], None).await;
        assert_eq!(res.status(), StatusCode::OK, "{}", body_text(res).await);
    }
    let mail = smtp.wait_for(2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(smtp.messages().len(), 2, "one reset mail, to the account: {:?}", smtp.messages());
    assert_eq!(mail["to"], json!([admin]));
    assert_eq!(mail["subject"], "Reset your Roster password");
    let reset = link(mail["text"].as_str().unwrap(), "http://roster.test/reset-password/");
    let path = reset.trim_start_matches("http://roster.test");
    let token = path.rsplit('/').next().unwrap().to_string();
    let page = app.page(path, None).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(body_text(page).await.contains("data-testid=\"reset-password\""));

    // A weak password is refused; a good one is set, and the link is then used up.
    let new_password = "a brand new passphrase for ada";
    let res = app.call("form/reset_password", &[("token", &token), ("password", "short")], None).await;
    assert!(invalid_message(res).await.contains("at least"), "password rules apply");
    let res = app.call("form/reset_password", &[("token", &token), ("password", new_password)], None).await;
    assert!(res.status().is_success() || res.status().is_redirection(), "{}", res.status());
    let res = app.call("form/reset_password", &[("token", &token), ("password", new_password)], None).await;
    assert!(invalid_message(res).await.contains("not valid"), "the link works once");
    let res = app.call("sign_in", &[("email", &admin), ("password", PASSWORD)], None).await;
    assert!(invalid_message(res).await.contains("not correct"), "the old password is gone");
    let res = app.call("sign_in", &[("email", &admin), ("password", new_password)], None).await;
    let fresh = session_cookie(&res).expect("the new password signs in");
    assert!(app.viewer(Some(&fresh)).await.is_object());
    // The session that signed in with the old password ended with the reset.
    assert!(app.viewer(Some(&cookie)).await.is_null(), "sessions from before the reset end");
    let res = app.page("/export/users.csv", Some(&cookie)).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    // Changing one's own password keeps that session and ends the others.
    let other =
        session_cookie(&app.call("sign_in", &[("email", &admin), ("password", new_password)], None).await).unwrap();
    let res = app
        .call(
            "form/change_password",
            &[("current", new_password), ("new", "yet another passphrase here")],
            Some(&fresh),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK, "{}", body_text(res).await);
    assert!(app.viewer(Some(&fresh)).await.is_object(), "the session that changed it stays");
    assert!(app.viewer(Some(&other)).await.is_null(), "the other session ends");
    let page = app.page(&format!("/reset-password/{token}"), None).await;
    assert!(body_text(page).await.contains("not valid"));

    // At most three links an hour per account; further requests are answered the same.
    for _ in 0..4 {
        let res = app.call("form/forgot_password", &[("email", &admin)], None).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    smtp.wait_for(4).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(smtp.messages().len(), 4, "1 + 2 more links within the hour: {:?}", smtp.messages().len());
}

async fn notices_reach_the_admins_who_want_them(db: Db) {
    let smtp = Smtp::start();
    let app = with_email(db, &smtp).await;
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let first = format!("ada-{suffix}@acme.test");
    let second = format!("grace-{suffix}@acme.test");
    let cookie = app.sign_up("Acme", &first, PASSWORD).await;
    let tenant = TenantId::parse(
        &app.raw_strings(&format!("SELECT tenant_id FROM console_accounts WHERE email_normalized = '{first}'")).await
            [0],
    )
    .unwrap();
    // A second admin, who wants no credential notices.
    let made: Value =
        serde_json::from_str(&body_text(app.call("form/invite", &[("email", &second)], Some(&cookie)).await).await)
            .unwrap();
    let token = made["link"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
    let res =
        app.call("form/accept_invitation", &[("token", &token), ("name", "Grace"), ("password", PASSWORD)], None).await;
    let grace = session_cookie(&res).unwrap();
    assert_eq!(app.ok_json("notices", json!({}), &grace).await, json!([true, true, true]));
    let res = app.call("form/notices", &[("idp_failures", "on")], Some(&grace)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(app.ok_json("notices", json!({}), &grace).await, json!([false, true, false]));
    let before = smtp.messages().len();

    let notices = Notices { mailer: smtp.mailer(), public_url: PUBLIC_URL.into() };
    // A token that expires in 10 days, one in 30 (too early to tell), one revoked.
    let store = &app.store;
    let creds = roster_shared::service::credentials::create_token;
    let (soon, _) = creds(store, &tenant, "Okta <production>", "test", Some(10)).await.unwrap();
    creds(store, &tenant, "Later", "test", Some(30)).await.unwrap();
    let (gone, _) = creds(store, &tenant, "Revoked", "test", Some(5)).await.unwrap();
    roster_shared::service::credentials::revoke(store, &tenant, &gone.id).await.unwrap();
    jobs::maintain(store, &jobs::Retention::default(), Some(&notices), None).await.unwrap();
    let mail = smtp.wait_for(before + 1).await;
    assert_eq!(mail["to"], json!([first]), "only the admin who wants credential notices");
    assert_eq!(mail["subject"], "Acme: the SCIM credential \"Okta <production>\" expires in 10 days");
    assert!(mail["html"].as_str().unwrap().contains("Okta &lt;production&gt;"));
    assert!(mail["text"].as_str().unwrap().contains("http://roster.test/scim"));
    // Once per credential.
    jobs::maintain(store, &jobs::Retention::default(), Some(&notices), None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(smtp.messages().len(), before + 1);
    let _ = soon;

    // The IdP's requests mostly fail: both admins hear of it, once a day.
    let now = now_ms();
    let records: Vec<_> = (0..25)
        .map(|i| {
            (
                tenant.clone(),
                NewActivity {
                    at: now - 60_000,
                    actor: "scim".into(),
                    method: Some("POST".into()),
                    path: Some("/scim/v2/x/Users".into()),
                    status: Some(if i < 20 { 400 } else { 201 }),
                    detail: (i < 20).then(|| "attribute 'emails' is malformed".into()),
                    summary: "create".into(),
                    ..Default::default()
                },
            )
        })
        .collect();
    store.insert_activity(&records).await.unwrap();
    jobs::maintain(store, &jobs::Retention::default(), Some(&notices), None).await.unwrap();
    smtp.wait_for(before + 3).await;
    let failing: Vec<Value> = smtp.messages()[before + 1..].to_vec();
    let mut to: Vec<String> = failing.iter().map(|m| m["to"][0].as_str().unwrap().to_string()).collect();
    to.sort();
    let mut want = vec![first.clone(), second.clone()];
    want.sort();
    assert_eq!(to, want);
    let text = failing[0]["text"].as_str().unwrap();
    assert!(text.contains("20 of 25 SCIM requests"), "{text}");
    assert!(text.contains("attribute 'emails' is malformed"), "{text}");
    jobs::maintain(store, &jobs::Retention::default(), Some(&notices), None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(smtp.messages().len(), before + 3, "at most one failure notice a day");

    // The deprovisioning brake holds changes: the admin who wants that notice (not Grace) hears
    // of it once, from the background job, with a link to review them.
    roster_shared::service::credentials::set_scim_enabled(store, &tenant, true).await.unwrap();
    let (_, secret) = creds(store, &tenant, "IdP", "test", None).await.unwrap();
    let t = ScimTenant { id: tenant.to_string(), token: secret.expose().to_string(), token_id: String::new() };
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(app.create_user(&t, &format!("brake{i}@acme.test")).await);
    }
    for id in &ids[..13] {
        let (s, _, _) = app
            .scim(
                "PATCH",
                &t.id,
                &t.token,
                &format!("/Users/{id}"),
                Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "value": {"active": false}}]})),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
    }
    let mail = smtp.wait_for(before + 4).await;
    assert_eq!(mail["to"], json!([first]));
    assert_eq!(mail["subject"], "Acme: deprovisioning is held for your review");
    assert!(mail["text"].as_str().unwrap().contains("Roster holds the changes (for "), "{mail}");
    assert!(mail["text"].as_str().unwrap().contains("http://roster.test/safety"), "{mail}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(smtp.messages().len(), before + 4, "one notice for the hold");
}

async fn without_email_the_pages_say_what_to_do(db: Db) {
    let app = TestApp::new(db).await;
    let admin = format!("ada-{}@acme.test", uuid::Uuid::new_v4().simple());
    let cookie = app.sign_up("Acme", &admin, PASSWORD).await;
    let res = app.call("form/forgot_password", &[("email", &admin)], None).await;
    assert!(invalid_message(res).await.contains("not set up"));
    let made: Value = serde_json::from_str(
        &body_text(app.call("form/invite", &[("email", "someone@acme.test")], Some(&cookie)).await).await,
    )
    .unwrap();
    assert!(made["emailed"].is_null(), "{made}");
    assert!(made["link"].as_str().unwrap().starts_with("http://roster.test/invite/rsi_"));
    assert_eq!(app.ok_json("notices", json!({}), &cookie).await, Value::Null);
    // A made-up reset link.
    let page = app.page("/reset-password/rsr_madeup", None).await;
    assert!(body_text(page).await.contains("not valid"));
}
