//! The dashboard's main actions as HTML forms posted by a browser without JavaScript: each
//! does its work and sends the browser back to the page it came from, which shows the result
//! (errors in words, a new secret once).

use axum::body::Body;
use http::{header, Request, StatusCode};
use serde_json::json;

use crate::both_backends;
use crate::common::*;

both_backends!(
    scim_forms_switch_generate_rotate_and_revoke_without_javascript,
    group_assign_and_rule_forms_work_without_javascript,
    form_errors_come_back_in_words_and_change_nothing,
    sign_out_is_the_browsers_own_form_post,
);

/// Posts a form as a browser does without JavaScript (it wants a page back).
async fn post_form(app: &TestApp, endpoint: &str, body: &str, cookie: &str, from: &str) -> http::Response<Body> {
    post_to(app, &format!("/api/form/{endpoint}"), body, cookie, from).await
}

/// Posts a form to `path` as a browser does without JavaScript.
async fn post_to(app: &TestApp, path: &str, body: &str, cookie: &str, from: &str) -> http::Response<Body> {
    let req = Request::post(path)
        .header(header::HOST, "roster.test")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ACCEPT, "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
        .header(header::ORIGIN, "http://roster.test")
        .header("sec-fetch-site", "same-origin")
        .header(header::REFERER, format!("http://roster.test{from}"))
        .header(header::COOKIE, cookie)
        .body(Body::from(body.to_string()))
        .unwrap();
    app.send(req).await
}

/// Where the browser is sent next (Leptos leaves an empty query, `/scim?`, after a success).
fn location(res: &http::Response<Body>) -> String {
    assert!(res.status().is_redirection(), "a form post is answered with a redirect, got {}", res.status());
    let to = res.headers().get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or_default();
    to.trim_end_matches('?').to_string()
}

async fn admin(app: &TestApp, org: &str) -> String {
    let email = format!("admin-{}@{}.test", uuid::Uuid::new_v4().simple(), org.to_ascii_lowercase());
    app.sign_up(org, &email, PASSWORD).await
}

async fn page_html(app: &TestApp, path: &str, cookie: &str) -> String {
    let res = app.page(path, Some(cookie)).await;
    assert_eq!(res.status(), StatusCode::OK, "{path}");
    body_text(res).await
}

async fn scim_forms_switch_generate_rotate_and_revoke_without_javascript(db: Db) {
    let app = TestApp::new(db).await;
    let cookie = admin(&app, "Acme").await;

    // The switch.
    let res = post_form(&app, "scim_enable", "enabled=true", &cookie, "/scim").await;
    assert_eq!(location(&res), "http://roster.test/scim");
    let setup = app.ok_json("scim_setup", json!({}), &cookie).await;
    assert_eq!(setup["enabled"], true);
    let html = page_html(&app, "/scim", &cookie).await;
    assert!(html.contains(r#"aria-checked="true""#), "the switch is on in the HTML as served");

    // Generate: the page the browser comes back to shows the secret, once.
    let res = post_form(&app, "credential_create", "name=Okta+prod&kind=bearer&expires=90", &cookie, "/scim").await;
    assert_eq!(location(&res), "http://roster.test/scim");
    let html = page_html(&app, "/scim", &cookie).await;
    assert!(html.contains(r#"data-testid="new-secret""#), "the new secret is shown");
    assert!(html.contains("Okta prod"));
    let token = html
        .split("rst_")
        .nth(1)
        .map(|t| format!("rst_{}", &t[..t.find(|c: char| !c.is_ascii_alphanumeric() && c != '_').unwrap_or(t.len())]))
        .expect("token in the page");
    let again = page_html(&app, "/scim", &cookie).await;
    assert!(!again.contains(r#"data-testid="new-secret""#), "a secret is shown once");
    assert!(!again.contains(&token));
    // It is a working credential.
    let setup = app.ok_json("scim_setup", json!({}), &cookie).await;
    let res = app
        .send(
            Request::get(format!(
                "{}/Users",
                setup["scim_base_url"].as_str().unwrap().trim_start_matches("http://roster.test")
            ))
            .header(header::HOST, "roster.test")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap(),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK, "the token shown works");
    let first_id = setup["credentials"][0]["id"].as_str().unwrap().to_string();

    // The page's own (JavaScript) submit gets the secret in its answer and leaves nothing behind.
    let (status, made) = app.call_json("form/credential_create", json!(null), Some(&cookie)).await;
    assert_ne!(status, StatusCode::OK, "JSON is not what these forms take: {made}");
    let req = app
        .form_request("form/credential_create", &[], Some(&cookie))
        .header("sec-fetch-site", "same-origin")
        .body(Body::from("name=Entra&kind=bearer&expires=never"))
        .unwrap();
    let res = app.send(req).await;
    assert_eq!(res.status(), StatusCode::OK);
    let made: serde_json::Value = serde_json::from_str(&body_text(res).await).unwrap();
    assert!(made["secret"].as_str().unwrap().starts_with("rst_"));
    assert!(made["credential"]["expires_at_ms"].is_null(), "never expires");
    assert!(!page_html(&app, "/scim", &cookie).await.contains(r#"data-testid="new-secret""#));

    // Rotate and revoke.
    let res = post_form(&app, "credential_rotate", &format!("id={first_id}"), &cookie, "/scim").await;
    assert_eq!(location(&res), "http://roster.test/scim");
    assert!(page_html(&app, "/scim", &cookie).await.contains("(rotated "));
    let res = post_form(&app, "credential_revoke", &format!("id={first_id}"), &cookie, "/scim").await;
    assert_eq!(location(&res), "http://roster.test/scim");
    let setup = app.ok_json("scim_setup", json!({}), &cookie).await;
    let first = setup["credentials"].as_array().unwrap().iter().find(|c| c["id"] == first_id.as_str()).unwrap().clone();
    assert!(!first["revoked_at_ms"].is_null(), "revoked: {first}");

    // And off again.
    post_form(&app, "scim_enable", "enabled=false", &cookie, "/scim").await;
    assert_eq!(app.ok_json("scim_setup", json!({}), &cookie).await["enabled"], false);
    assert!(page_html(&app, "/scim", &cookie).await.contains(r#"aria-checked="false""#));
}

fn manual(email: &str) -> serde_json::Value {
    json!({"user_name": email, "given_name": "Max", "family_name": "Muster", "email": email, "external_id": "", "active": true})
}

async fn group_assign_and_rule_forms_work_without_javascript(db: Db) {
    let app = TestApp::new(db).await;
    let cookie = admin(&app, "Acme").await;

    let res =
        post_form(&app, "user_group_create", "name=Engineering&role=admin&description=", &cookie, "/user-groups").await;
    assert_eq!(location(&res), "http://roster.test/user-groups");
    let groups = app.ok_json("user_groups", json!({}), &cookie).await;
    assert_eq!(groups[0]["name"], "Engineering");
    assert_eq!(groups[0]["role"], "admin");
    let group = groups[0]["id"].as_str().unwrap().to_string();
    assert!(page_html(&app, "/user-groups", &cookie).await.contains("Engineering"));

    // Ticked boxes arrive as user_ids[] (brackets percent-encoded, as browsers send them).
    let a = app.ok_json("user_create", json!({"input": manual("alpha@acme.test")}), &cookie).await;
    let b = app.ok_json("user_create", json!({"input": manual("bravo@acme.test")}), &cookie).await;
    app.ok_json("user_create", json!({"input": manual("charlie@acme.test")}), &cookie).await;
    let body =
        format!("group_id={group}&user_ids%5B%5D={}&user_ids%5B%5D={}", a.as_str().unwrap(), b.as_str().unwrap());
    let res = post_form(&app, "user_group_assign", &body, &cookie, "/unassigned").await;
    assert_eq!(location(&res), "http://roster.test/unassigned");
    let group_view = app.ok_json("user_group", json!({"id": group}), &cookie).await;
    assert_eq!(group_view["member_count"], 2, "{group_view}");
    let html = page_html(&app, "/unassigned", &cookie).await;
    // (Names no hex digit ends: the signed-in admin's address, admin-<hex>@acme.test, is on the page too.)
    assert!(html.contains("charlie@acme.test") && !html.contains("alpha@acme.test"), "only charlie is left unassigned");

    // A rule from the form.
    let body = format!("kind=attribute&user_group_id={group}&idp_group=&filter=userName+eq+%22charlie%40acme.test%22");
    let res = post_form(&app, "mapping_rule_create", &body, &cookie, "/mappings").await;
    assert_eq!(location(&res), "http://roster.test/mappings");
    let rules = app.ok_json("mapping_rules", json!({}), &cookie).await;
    assert_eq!(rules.as_array().unwrap().len(), 1, "{rules}");
    assert_eq!(rules[0]["condition"]["filter"], r#"userName eq "charlie@acme.test""#);
    // The page as served shows the rule switched on (not only after hydration).
    let html = page_html(&app, "/mappings", &cookie).await;
    let at = html.find(r#"aria-label="Rule on""#).expect("the rule's switch");
    let tag = &html[html[..at].rfind('<').unwrap()..at + html[at..].find('>').unwrap()];
    assert!(tag.contains(" checked"), "{tag}");
}

async fn form_errors_come_back_in_words_and_change_nothing(db: Db) {
    let app = TestApp::new(db).await;
    let cookie = admin(&app, "Acme").await;
    let other = admin(&app, "Globex").await;
    post_form(&app, "credential_create", "name=Okta&kind=bearer&expires=30", &other, "/scim").await;
    let theirs =
        app.ok_json("scim_setup", json!({}), &other).await["credentials"][0]["id"].as_str().unwrap().to_string();

    // Nothing ticked: back to the page with the error, which the page shows.
    post_form(&app, "user_group_create", "name=Eng&role=member", &cookie, "/user-groups").await;
    let group = app.ok_json("user_groups", json!({}), &cookie).await[0]["id"].as_str().unwrap().to_string();
    let res = post_form(&app, "user_group_assign", &format!("group_id={group}"), &cookie, "/unassigned").await;
    let back = location(&res);
    assert!(back.starts_with("http://roster.test/unassigned?") && back.contains("__err="), "{back}");
    let html = page_html(&app, back.trim_start_matches("http://roster.test"), &cookie).await;
    assert!(html.contains("Select the users to assign first."), "the page says what went wrong");

    // A duplicate group name, an unknown kind, a broken filter, nonsense for the switch.
    for (endpoint, body) in [
        ("user_group_create", "name=Eng&role=member".to_string()),
        ("user_group_create", "name=Ops&role=emperor".to_string()),
        ("credential_create", "name=X&kind=magic".to_string()),
        ("credential_create", "name=X&kind=bearer&expires=soon".to_string()),
        ("mapping_rule_create", format!("kind=attribute&user_group_id={group}&filter=userName+eq")),
        ("scim_enable", "enabled=maybe".to_string()),
        // Another organization's credential is not found here.
        ("credential_revoke", format!("id={theirs}")),
    ] {
        let res = post_form(&app, endpoint, &body, &cookie, "/scim").await;
        assert!(location(&res).contains("__err="), "{endpoint} {body} is refused");
    }
    // A NUL character in a field (PostgreSQL's text cannot hold one): back with the reason.
    let res = post_form(&app, "user_group_create", "name=Nul%00Group&role=member", &cookie, "/user-groups").await;
    let back = location(&res);
    assert!(back.starts_with("http://roster.test/user-groups?") && back.contains("__err="), "{back}");
    let html = page_html(&app, back.trim_start_matches("http://roster.test"), &cookie).await;
    assert!(html.contains("NUL character"), "the page says what went wrong");
    assert_eq!(app.ok_json("user_groups", json!({}), &cookie).await.as_array().unwrap().len(), 1);
    let mine = app.ok_json("scim_setup", json!({}), &cookie).await;
    assert_eq!(mine["credentials"].as_array().unwrap().len(), 0);
    assert_eq!(mine["enabled"], false);
    assert!(app.ok_json("mapping_rules", json!({}), &cookie).await.as_array().unwrap().is_empty());
    let theirs_now = app.ok_json("scim_setup", json!({}), &other).await;
    assert!(
        theirs_now["credentials"][0]["revoked_at_ms"].is_null(),
        "the other organization's credential is untouched"
    );

    // Without a session a form changes nothing either.
    let res = post_form(&app, "scim_enable", "enabled=true", "roster_session=forged", "/scim").await;
    assert!(location(&res).contains("__err="));
}

/// The top bar's "Sign out" is a plain form, with or without JavaScript: the page names the
/// server function's URL, and the browser's post ends the session and lands on the sign-in page.
async fn sign_out_is_the_browsers_own_form_post(db: Db) {
    let app = TestApp::new(db).await;
    let cookie = admin(&app, "Acme").await;
    let html = page_html(&app, "/", &cookie).await;
    assert!(html.contains(r#"<form method="post" action="/api/sign_out">"#), "the top bar's form posts to sign_out");

    let res = post_to(&app, "/api/sign_out", "", &cookie, "/").await;
    assert!(location(&res).ends_with("/sign-in"), "{}", location(&res));
    let cleared = set_cookie_header(&res).expect("the cookie is cleared");
    assert!(
        cleared.contains("Max-Age=0") || cleared.to_ascii_lowercase().contains("expires=thu, 01 jan 1970"),
        "{cleared}"
    );
    assert!(app.viewer(Some(&cookie)).await.is_null(), "the session is gone");
    let res = app.page("/", Some(&cookie)).await;
    assert!(res.status().is_redirection(), "the dashboard sends the old cookie to sign in");
}
