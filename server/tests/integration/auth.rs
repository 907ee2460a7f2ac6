//! Sign-up, sign-in, sign-out, sessions, CSRF and throttling, through the real router.

use http::{header, Request, StatusCode};
use roster_shared::store::SignInOutcome;

use crate::both_backends;
use crate::common::*;

both_backends!(
    an_admin_invites_another_who_joins_once_and_passwords_change,
    sign_up_creates_the_organization_and_signs_in,
    duplicate_email_gets_a_clear_error_and_changes_nothing,
    weak_input_is_refused_with_a_message,
    sign_in_works_and_failures_share_one_message,
    cross_site_posts_are_refused_and_change_nothing,
    session_survives_a_restart,
    sign_out_ends_the_session,
    session_id_is_cycled_at_sign_in,
    repeated_failures_are_throttled_and_recorded,
    cookies_are_http_only_lax_and_secure_on_https,
    pages_need_a_session,
);

async fn sign_up_creates_the_organization_and_signs_in(db: Db) {
    let app = TestApp::new(db).await;
    let cookie = app.sign_up("Acme Corporation", "ada@acme.test", PASSWORD).await;

    let viewer = app.viewer(Some(&cookie)).await;
    assert_eq!(viewer["email"], "ada@acme.test");
    assert_eq!(viewer["role"], "org_admin");
    assert_eq!(viewer["tenant"]["name"], "Acme Corporation");
    assert_eq!(viewer["tenant"]["admin_count"], 1);
    assert_eq!(viewer["tenant"]["scim_enabled"], false);
    let tenant_id = viewer["tenant"]["id"].as_str().expect("tenant id");
    assert!(roster_shared::ids::TenantId::parse(tenant_id).is_some(), "tenant key is an opaque UUID: {tenant_id}");

    // The password is stored as an argon2id hash.
    let account = app.store.account_by_email("ada@acme.test").await.unwrap().expect("account");
    assert!(account.password_hash.starts_with("$argon2id$"), "{}", account.password_hash);

    // The home page is rendered for the signed-in admin with the organization's name.
    let res = app.page("/", Some(&cookie)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let html = body_text(res).await;
    assert!(html.contains("Acme Corporation"), "home page shows the organization");
}

async fn duplicate_email_gets_a_clear_error_and_changes_nothing(db: Db) {
    let app = TestApp::new(db).await;
    app.sign_up("Acme", "ada@acme.test", PASSWORD).await;
    let res = app
        .call(
            "sign_up",
            &[("organization", "Acme Two"), ("name", "Ada"), ("email", " ADA@Acme.TEST "), ("password", PASSWORD)],
            None,
        )
        .await;
    assert!(session_cookie(&res).is_none(), "no session for a failed sign-up");
    let msg = invalid_message(res).await;
    assert!(msg.contains("already exists"), "{msg}");
    let account = app.store.account_by_email("ada@acme.test").await.unwrap().expect("account");
    let tenant = account.tenant_id.expect("tenant");
    let summary = app.store.tenant(&tenant).summary().await.unwrap().expect("tenant");
    assert_eq!(summary.name, "Acme", "the first organization is untouched");
}

async fn weak_input_is_refused_with_a_message(db: Db) {
    let app = TestApp::new(db).await;
    let cases: [(&[(&str, &str)], &str); 4] = [
        (
            &[("organization", "Acme"), ("name", "Ada"), ("email", "ada@acme.test"), ("password", "short pass")],
            "at least 12",
        ),
        (
            &[("organization", "Acme"), ("name", "Ada"), ("email", "not-an-email"), ("password", PASSWORD)],
            "valid email",
        ),
        (
            &[("organization", "   "), ("name", "Ada"), ("email", "ada@acme.test"), ("password", PASSWORD)],
            "organization name",
        ),
        (&[("organization", "Acme"), ("name", ""), ("email", "ada@acme.test"), ("password", PASSWORD)], "your name"),
    ];
    for (fields, expected) in cases {
        let msg = invalid_message(app.call("sign_up", fields, None).await).await;
        assert!(msg.contains(expected), "{msg:?} should mention {expected:?}");
    }
    // A body that is not the form at all is refused too.
    let res = app.call("sign_up", &[("organization", "Acme")], None).await;
    assert!(!res.status().is_success());
    assert!(app.store.account_by_email("ada@acme.test").await.unwrap().is_none(), "nothing was created");
}

async fn sign_in_works_and_failures_share_one_message(db: Db) {
    let app = TestApp::new(db).await;
    app.sign_up("Acme", "ada@acme.test", PASSWORD).await;

    let res = app.call("sign_in", &[("email", "Ada@Acme.test"), ("password", PASSWORD)], None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let cookie = session_cookie(&res).expect("session cookie");
    assert_eq!(app.viewer(Some(&cookie)).await["tenant"]["name"], "Acme");

    let wrong = invalid_message(
        app.call("sign_in", &[("email", "ada@acme.test"), ("password", "wrong password!")], None).await,
    )
    .await;
    let unknown =
        invalid_message(app.call("sign_in", &[("email", "nobody@acme.test"), ("password", PASSWORD)], None).await)
            .await;
    assert_eq!(wrong, unknown, "the same message for an unknown email and a wrong password");
    assert!(wrong.contains("not correct"), "{wrong}");
}

async fn cross_site_posts_are_refused_and_change_nothing(db: Db) {
    let app = TestApp::new(db).await;
    let fields = [("organization", "Evil"), ("name", "Eve"), ("email", "eve@evil.test"), ("password", PASSWORD)];
    let attempts = [
        vec![("origin", "https://evil.test")],
        vec![("sec-fetch-site", "cross-site"), ("origin", "https://evil.test")],
        vec![("sec-fetch-site", "same-site")],
        vec![],
    ];
    for headers in attempts {
        let mut req = app.form_request("sign_up", &fields, None);
        for (k, v) in &headers {
            req = req.header(*k, *v);
        }
        let res = app.send(req.body(axum::body::Body::from(encode(&fields))).unwrap()).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{headers:?}");
    }
    assert!(app.store.account_by_email("eve@evil.test").await.unwrap().is_none());

    // The same request from the dashboard's own origin goes through.
    let req = app.form_request("sign_up", &fields, None).header("origin", "http://roster.test");
    let res = app.send(req.body(axum::body::Body::from(encode(&fields))).unwrap()).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(app.store.account_by_email("eve@evil.test").await.unwrap().is_some());
}

async fn session_survives_a_restart(db: Db) {
    let app = TestApp::new(db).await;
    let cookie = app.sign_up("Acme", "ada@acme.test", PASSWORD).await;
    let app = app.restart().await;
    assert_eq!(app.viewer(Some(&cookie)).await["tenant"]["name"], "Acme");
}

async fn sign_out_ends_the_session(db: Db) {
    let app = TestApp::new(db).await;
    let cookie = app.sign_up("Acme", "ada@acme.test", PASSWORD).await;
    let res = app.call("sign_out", &[], Some(&cookie)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let cleared = set_cookie_header(&res).expect("the cookie is cleared");
    assert!(
        cleared.contains("Max-Age=0") || cleared.to_ascii_lowercase().contains("expires=thu, 01 jan 1970"),
        "{cleared}"
    );
    // The old cookie is dead even if a client keeps sending it.
    assert!(app.viewer(Some(&cookie)).await.is_null());
}

async fn session_id_is_cycled_at_sign_in(db: Db) {
    let app = TestApp::new(db).await;
    let first = app.sign_up("Acme", "ada@acme.test", PASSWORD).await;
    let res = app.call("sign_in", &[("email", "ada@acme.test"), ("password", PASSWORD)], Some(&first)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let second = session_cookie(&res).expect("a new session cookie");
    assert_ne!(first, second, "a sign-in gets a new session id");
    assert!(app.viewer(Some(&first)).await.is_null(), "the old id no longer works");
    assert_eq!(app.viewer(Some(&second)).await["email"], "ada@acme.test");
}

async fn repeated_failures_are_throttled_and_recorded(db: Db) {
    let app = TestApp::new(db).await;
    app.sign_up("Acme", "ada@acme.test", PASSWORD).await;
    for _ in 0..roster_shared::service::accounts::MAX_FAILURES_PER_EMAIL {
        let msg = invalid_message(
            app.call("sign_in", &[("email", "ada@acme.test"), ("password", "wrong password!")], None).await,
        )
        .await;
        assert!(msg.contains("not correct"), "{msg}");
    }
    // Even the right password is refused now, without being checked.
    let msg =
        invalid_message(app.call("sign_in", &[("email", "ada@acme.test"), ("password", PASSWORD)], None).await).await;
    assert!(msg.contains("Too many failed sign-in attempts"), "{msg}");
    assert!(msg.contains("15 minutes"), "{msg}");

    let failures = app.store.count_sign_in_attempts("ada@acme.test", SignInOutcome::BadCredentials).await.unwrap();
    let throttled = app.store.count_sign_in_attempts("ada@acme.test", SignInOutcome::Throttled).await.unwrap();
    assert_eq!((failures, throttled), (roster_shared::service::accounts::MAX_FAILURES_PER_EMAIL, 1));

    // Another account is not affected by this one's failures.
    app.sign_up("Other", "grace@other.test", PASSWORD).await;
    let res = app.call("sign_in", &[("email", "grace@other.test"), ("password", PASSWORD)], None).await;
    assert_eq!(res.status(), StatusCode::OK);
}

async fn cookies_are_http_only_lax_and_secure_on_https(db: Db) {
    let app = TestApp::new(db).await;
    let res = app
        .call(
            "sign_up",
            &[("organization", "Acme"), ("name", "Ada"), ("email", "ada@acme.test"), ("password", PASSWORD)],
            None,
        )
        .await;
    let cookie = set_cookie_header(&res).expect("cookie");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain-http instance: {cookie}");

    let app = TestApp::with_public_url(db, "https://roster.example.com").await;
    let res = app
        .call(
            "sign_up",
            &[("organization", "Acme"), ("name", "Ada"), ("email", "ada@acme.test"), ("password", PASSWORD)],
            None,
        )
        .await;
    let cookie = set_cookie_header(&res).expect("cookie");
    assert!(cookie.contains("Secure") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
}

async fn pages_need_a_session(db: Db) {
    let app = TestApp::new(db).await;
    let res = app.page("/", None).await;
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(res.headers().get(header::LOCATION).unwrap(), "/sign-in");

    for path in ["/sign-in", "/sign-up"] {
        let res = app.page(path, None).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        let html = body_text(res).await;
        assert!(html.contains("<form"), "{path} renders its form");
    }
    let res = app.page("/sign-up", None).await;
    assert!(body_text(res).await.contains("Create your organization"));

    let res = app.page("/no/such/page", None).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    // A forged cookie is just "signed out".
    let res = app
        .send(
            Request::get("/")
                .header(header::ACCEPT, "text/html")
                .header(header::COOKIE, "roster_session=forged")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(res.status(), StatusCode::FOUND);
}

async fn an_admin_invites_another_who_joins_once_and_passwords_change(db: Db) {
    let app = TestApp::new(db).await;
    let email = format!("grace-{}@acme.test", uuid::Uuid::new_v4().simple());
    let grace = app.sign_up("Acme", &email, PASSWORD).await;
    let tenant = app.viewer(Some(&grace)).await["tenant"]["id"].clone();

    // An invitation: the link is shown once; only its hash is stored.
    let invited = format!("ada-{}@acme.test", uuid::Uuid::new_v4().simple());
    let res = app.call("form/invite", &[("email", &invited)], Some(&grace)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let made: serde_json::Value = serde_json::from_str(&body_text(res).await).unwrap();
    let link = made["link"].as_str().unwrap().to_string();
    let token = link.rsplit('/').next().unwrap().to_string();
    assert!(link.starts_with(&format!("{PUBLIC_URL}/invite/rsi_")), "{link}");
    let stored = app.raw_strings("SELECT token_hash FROM invitations").await;
    assert!(!stored.iter().any(|h| h.contains(&token)));
    let team = app.ok_json("team", serde_json::json!({}), &grace).await;
    assert_eq!(team["invitations"][0][0], invited.as_str());
    // Inviting an address that has an account is refused.
    let res = app.call("form/invite", &[("email", &email)], Some(&grace)).await;
    assert!(invalid_message(res).await.contains("already exists"));

    // The link shows the organization; a weak password is refused; then the invitee joins and
    // is signed in as an admin of the same organization.
    let info = app.call_json("invitation", serde_json::json!({"token": token}), None).await.1;
    assert_eq!(info["email"], invited.as_str());
    let res =
        app.call("form/accept_invitation", &[("token", &token), ("name", "Ada"), ("password", "short")], None).await;
    assert!(!res.status().is_success());
    let res =
        app.call("form/accept_invitation", &[("token", &token), ("name", "Ada"), ("password", PASSWORD)], None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let ada = session_cookie(&res).expect("signed in");
    let v = app.viewer(Some(&ada)).await;
    assert_eq!((v["role"].clone(), v["tenant"]["id"].clone()), (serde_json::json!("org_admin"), tenant));
    assert_eq!(app.ok_json("team", serde_json::json!({}), &ada).await["admins"].as_array().unwrap().len(), 2);
    // The link works once; a forged one is refused the same way.
    let res =
        app.call("form/accept_invitation", &[("token", &token), ("name", "Eve"), ("password", PASSWORD)], None).await;
    assert!(invalid_message(res).await.contains("not valid"));
    let (status, _) = app.call_json("invitation", serde_json::json!({"token": "rsi_forged"}), None).await;
    assert!(!status.is_success());
    // An expired invitation is refused.
    let res = app.call("form/invite", &[("email", "late@acme.test")], Some(&grace)).await;
    let late: serde_json::Value = serde_json::from_str(&body_text(res).await).unwrap();
    app.raw_execute("UPDATE invitations SET expires_at = 1 WHERE email = 'late@acme.test'").await;
    let late_token = late["link"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
    let res = app
        .call("form/accept_invitation", &[("token", &late_token), ("name", "Late"), ("password", PASSWORD)], None)
        .await;
    assert!(invalid_message(res).await.contains("not valid"));

    // Ada changes her password: the current one is checked, the new one signs in.
    let new = "a new and longer passphrase";
    let res = app.call("form/change_password", &[("current", "wrong password!"), ("new", new)], Some(&ada)).await;
    assert!(invalid_message(res).await.contains("not correct"));
    let res = app.call("form/change_password", &[("current", PASSWORD), ("new", new)], Some(&ada)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app.call("sign_in", &[("email", &invited), ("password", new)], None).await;
    assert_eq!(res.status(), StatusCode::OK);
    // Without a session, nothing.
    let res = app.call("form/invite", &[("email", "x@acme.test")], None).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}
