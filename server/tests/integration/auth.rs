//! Sign-up, sign-in, sign-out, sessions, CSRF and throttling, through the real router.

use http::{header, Request, StatusCode};
use roster_shared::store::SignInOutcome;

use crate::both_backends;
use crate::common::*;

both_backends!(
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
