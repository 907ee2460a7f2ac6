//! The admin dashboard's server functions: SCIM setup, users, user groups, activity, and that an
//! admin can never reach another tenant's data.

use http::StatusCode;
use serde_json::{json, Value};

use crate::both_backends;
use crate::common::*;

both_backends!(
    scim_setup_switch_tokens_rotate_and_revoke,
    users_table_searches_filters_sorts_and_pages,
    kept_user_counts_follow_concurrent_writes_and_folds,
    user_groups_assign_unassign_default_and_delete,
    user_detail_explains_memberships_and_timeline,
    manual_users_are_created_edited_removed_and_never_taken_by_scim,
    activity_lists_filters_and_shows_one_record,
    admin_functions_need_a_session,
    csv_export_and_import_round_trip,
    csv_export_walks_every_row_in_the_tables_order,
    the_order_of_last_change_follows_every_write,
    another_tenants_data_is_never_reached,
    overview_says_where_the_organization_stands,
    scim_traffic_counts_the_window_from_its_minutes_as_the_records_say,
    activity_pages_walk_every_record_once_newest_first,
    an_admin_change_and_its_activity_record_commit_together,
    membership_filters_page_what_walking_every_user_finds,
);

const CORE: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

/// Signs up an organization and returns (cookie, tenant id).
async fn admin(app: &TestApp, org: &str) -> (String, String) {
    let email = format!("admin-{}@{}.test", uuid::Uuid::new_v4().simple(), org.to_ascii_lowercase());
    let cookie = app.sign_up(org, &email, PASSWORD).await;
    let viewer = app.viewer(Some(&cookie)).await;
    (cookie, viewer["tenant"]["id"].as_str().expect("tenant").to_string())
}

/// Switches SCIM on and makes a token through the dashboard; returns (base URL, token).
async fn scim_on(app: &TestApp, cookie: &str) -> (String, String) {
    app.ok_json("scim_enable", json!({"enabled": true}), cookie).await;
    let made = app
        .ok_json("scim_credential_create", json!({"kind": "bearer", "name": "Okta", "expires_in_days": 30}), cookie)
        .await;
    (made["scim_base_url"].as_str().unwrap().to_string(), made["secret"].as_str().unwrap().to_string())
}

/// A SCIM request to the tenant of `base` (a SCIM base URL); returns the status and JSON body.
async fn scim(app: &TestApp, base: &str, token: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let tenant = base.rsplit('/').next().unwrap_or_default();
    let (status, _, json) = app.scim(method, tenant, token, path, body).await;
    (status.as_u16(), json)
}

async fn push_user(app: &TestApp, base: &str, token: &str, user_name: &str, given: &str, family: &str) -> String {
    let (status, body) = scim(
        app,
        base,
        token,
        "POST",
        "/Users",
        Some(json!({
            "schemas": [CORE],
            "userName": user_name,
            "name": {"givenName": given, "familyName": family},
            "emails": [{"value": user_name, "primary": true}],
            "externalId": format!("ext-{user_name}"),
        })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_string()
}

async fn scim_status(app: &TestApp, base: &str, token: &str) -> u16 {
    scim(app, base, token, "GET", "/Users", None).await.0
}

async fn scim_setup_switch_tokens_rotate_and_revoke(db: Db) {
    let app = TestApp::new(db).await;
    let (cookie, tenant) = admin(&app, "Acme").await;
    let setup = app.ok_json("scim_setup", json!({}), &cookie).await;
    assert_eq!(setup["enabled"], false);
    assert_eq!(setup["scim_base_url"], format!("{PUBLIC_URL}/scim/v2/{tenant}"));
    assert_eq!(setup["credentials"], json!([]));
    assert_eq!(setup["health"]["last_request_at_ms"], Value::Null);

    // A token made while SCIM is off does not work until SCIM is on.
    let made = app.ok_json("scim_credential_create", json!({"kind": "bearer", "name": "Okta"}), &cookie).await;
    let token = made["secret"].as_str().unwrap().to_string();
    let base = made["scim_base_url"].as_str().unwrap().to_string();
    assert!(token.starts_with("rst_"));
    assert_eq!(made["credential"]["created_by"], app.viewer(Some(&cookie)).await["email"]);
    assert_eq!(scim_status(&app, &base, &token).await, 401);
    app.ok_json("scim_enable", json!({"enabled": true}), &cookie).await;
    assert_eq!(scim_status(&app, &base, &token).await, 200);

    // The list never holds a secret.
    let setup = app.ok_json("scim_setup", json!({}), &cookie).await;
    assert_eq!(setup["enabled"], true);
    assert_eq!(setup["credentials"].as_array().unwrap().len(), 1);
    assert!(!setup.to_string().contains(&token), "the secret is never listed");
    assert_eq!(setup["health"]["requests_24h"], 1, "one accepted SCIM request: {}", setup["health"]);

    // Rotation: a second token; both work until the old one is revoked.
    let old_id = made["credential"]["id"].as_str().unwrap().to_string();
    let rotated = app.ok_json("scim_credential_rotate", json!({"id": old_id}), &cookie).await;
    let new_token = rotated["secret"].as_str().unwrap().to_string();
    assert_ne!(new_token, token);
    // Old and new are told apart: the new one is named for the rotation, the old one says it is
    // replaced and by which.
    let new_name = rotated["credential"]["name"].as_str().unwrap().to_string();
    assert!(new_name.starts_with("Okta (rotated 20"), "{new_name}");
    let setup = app.ok_json("scim_setup", json!({}), &cookie).await;
    let old_view =
        setup["credentials"].as_array().unwrap().iter().find(|c| c["id"] == old_id.as_str()).unwrap().clone();
    assert_eq!(old_view["replaced_by"], new_name.as_str());
    assert_eq!(old_view["revoked_at_ms"], Value::Null, "still working until revoked");
    assert_eq!(scim_status(&app, &base, &token).await, 200);
    assert_eq!(scim_status(&app, &base, &new_token).await, 200);
    // Rotating the new one again keeps one date in the name.
    let again = app.ok_json("scim_credential_rotate", json!({"id": rotated["credential"]["id"]}), &cookie).await;
    assert_eq!(again["credential"]["name"].as_str().unwrap().matches("rotated").count(), 1);
    app.ok_json("scim_credential_revoke", json!({"id": again["credential"]["id"]}), &cookie).await;
    app.ok_json("scim_credential_revoke", json!({"id": old_id}), &cookie).await;
    assert_eq!(scim_status(&app, &base, &token).await, 401);
    assert_eq!(scim_status(&app, &base, &new_token).await, 200);
    let (status, err) = app.call_json("scim_credential_revoke", json!({"id": old_id}), Some(&cookie)).await;
    assert!(status.is_server_error() || status.is_client_error());
    assert!(err.to_string().contains("already revoked"), "{err}");

    // An OAuth client: the token endpoint comes with it.
    let client =
        app.ok_json("scim_credential_create", json!({"kind": "oauth_client", "name": "PingOne"}), &cookie).await;
    assert!(client["secret"].as_str().unwrap().starts_with("rsc_"));
    assert_eq!(client["token_endpoint"], format!("{base}/oauth/token"));
    // Bad input changes nothing.
    let (_, err) =
        app.call_json("scim_credential_create", json!({"kind": "bearer", "name": "  "}), Some(&cookie)).await;
    assert!(err.to_string().contains("name"), "{err}");
    let (_, err) = app.call_json("scim_credential_create", json!({"kind": "magic", "name": "x"}), Some(&cookie)).await;
    assert!(err.to_string().contains("Unknown kind"), "{err}");
    assert_eq!(app.ok_json("scim_setup", json!({}), &cookie).await["credentials"].as_array().unwrap().len(), 4);

    // Switching off refuses the IdP again; each change is in the activity log.
    app.ok_json("scim_enable", json!({"enabled": false}), &cookie).await;
    assert_eq!(scim_status(&app, &base, &new_token).await, 401);
    let log = app.ok_json("activity", json!({"query": {"actor": "admin", "outcome": "", "resource_type": "", "resource_id": "", "credential_id": ""}}), &cookie).await;
    let summaries: Vec<&str> =
        log["records"].as_array().unwrap().iter().map(|r| r["summary"].as_str().unwrap()).collect();
    for wanted in [
        "SCIM provisioning switched on",
        "SCIM provisioning switched off",
        "revoked \"Okta\"",
        "created OAuth client \"PingOne\"",
    ] {
        assert!(summaries.iter().any(|s| s.contains(wanted)), "{wanted} in {summaries:?}");
    }
}

fn users_query(extra: Value) -> Value {
    let mut q = json!({"search": "", "filter": "all", "sort": "created", "descending": false, "page": 1, "page_size": 50, "user_group": null});
    if let (Value::Object(q), Value::Object(e)) = (&mut q, extra) {
        q.extend(e);
    }
    json!({"query": q})
}

async fn users_table_searches_filters_sorts_and_pages(db: Db) {
    let app = TestApp::new(db).await;
    let (cookie, _) = admin(&app, "Acme").await;
    let empty = app.ok_json("users", users_query(json!({})), &cookie).await;
    assert_eq!(empty["total"], 0);
    let (base, token) = scim_on(&app, &cookie).await;
    let mut ids = Vec::new();
    for (u, g, f) in
        [("zoe@acme.test", "Zoe", "Zebra"), ("amy@acme.test", "Amy", "Apple"), ("bob@acme.test", "Bob", "Liskov")]
    {
        ids.push(push_user(&app, &base, &token, u, g, f).await);
    }
    // Deactivate bob over SCIM.
    let (s, _) = scim(&app, &base, &token, "PATCH", &format!("/Users/{}", ids[2]), Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "path": "active", "value": false}]})))
        .await;
    assert_eq!(s, 200);

    let all = app.ok_json("users", users_query(json!({})), &cookie).await;
    assert_eq!(all["total"], 3);
    assert_eq!(all["rows"][0]["user_name"], "zoe@acme.test", "created order");
    assert_eq!(all["rows"][0]["display_name"], "Zoe Zebra");
    assert_eq!(all["rows"][0]["source"], "scim");
    let by_name = app.ok_json("users", users_query(json!({"sort": "user_name"})), &cookie).await;
    let names: Vec<&str> =
        by_name["rows"].as_array().unwrap().iter().map(|r| r["user_name"].as_str().unwrap()).collect();
    assert_eq!(names, ["amy@acme.test", "bob@acme.test", "zoe@acme.test"]);
    let desc = app.ok_json("users", users_query(json!({"sort": "user_name", "descending": true})), &cookie).await;
    assert_eq!(desc["rows"][0]["user_name"], "zoe@acme.test");

    // Search: userName, family name, email, externalId; case-insensitive; LIKE characters are literal.
    // (Terms of three characters or more go through the trigram index; `_` in "ext_amy" is
    // literal there too.)
    for (q, n) in [
        ("ZOE", 1),
        ("liskov", 1),
        ("acme.test", 3),
        ("ext-amy", 1),
        ("%", 0),
        ("_", 0),
        ("nobody", 0),
        ("oe zeb", 1),
        ("ext_amy", 0),
        ("t-a", 1),
        ("e@", 1),
        // Text, whatever it looks like: SQLite's index query syntax, a quote, a NUL.
        ("\"acme\" OR \"zzz\"", 0),
        ("NEAR(amy acme)", 0),
        ("amy*", 0),
    ] {
        let r = app.ok_json("users", users_query(json!({"search": q})), &cookie).await;
        assert_eq!(r["total"], n, "search {q:?}");
    }
    // Filters.
    // Deactivated bob is no unassigned work: not listed there, not counted in the navigation.
    for (f, n) in [("deactivated", 1), ("unassigned", 2), ("scim", 3), ("manual", 0), ("jit", 0)] {
        let r = app.ok_json("users", users_query(json!({"filter": f})), &cookie).await;
        assert_eq!(r["total"], n, "filter {f}");
    }
    assert_eq!(app.ok_json("nav_counts", json!({}), &cookie).await["unassigned"], 2);
    // Pages.
    let p2 = app.ok_json("users", users_query(json!({"sort": "user_name", "page": 2, "page_size": 2})), &cookie).await;
    assert_eq!(p2["total"], 3);
    assert_eq!(p2["rows"].as_array().unwrap().len(), 1);
    assert_eq!(p2["rows"][0]["user_name"], "zoe@acme.test");
    let capped = app.ok_json("users", users_query(json!({"page_size": 100000})), &cookie).await;
    assert_eq!(capped["page_size"], 200);
    let (status, err) = app.call_json("users", users_query(json!({"search": "x".repeat(300)})), Some(&cookie)).await;
    assert_ne!(status, StatusCode::OK);
    assert!(err.to_string().contains("200 characters"), "{err}");
    assert_eq!(app.ok_json("users", users_query(json!({"search": "x".repeat(200)})), &cookie).await["total"], 0);
    // A NUL character, which no name holds (PostgreSQL's text cannot): refused with the reason,
    // on the page and in the export, where PostgreSQL's driver failed the page with a 500.
    let (status, err) = app.call_json("users", users_query(json!({"search": "acme\u{0}.test"})), Some(&cookie)).await;
    assert_ne!(status, StatusCode::OK);
    assert!(err.to_string().contains("NUL"), "{err}");
    let res = app.page("/export/users.csv?search=acme%00.test", Some(&cookie)).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(body_text(res).await.contains("NUL"));
    // The search follows renames and deletions.
    let (s, _) = scim(&app, &base, &token, "PATCH", &format!("/Users/{}", ids[0]), Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "path": "name.familyName", "value": "Quagga"}]})))
        .await;
    assert_eq!(s, 200);
    let (s, _) = scim(&app, &base, &token, "DELETE", &format!("/Users/{}", ids[2]), None).await;
    assert_eq!(s, 204);
    for (q, n) in [("quagga", 1), ("zebra", 0), ("liskov", 0), ("acme.test", 2)] {
        let r = app.ok_json("users", users_query(json!({"search": q})), &cookie).await;
        assert_eq!(r["total"], n, "search {q:?} after the writes");
        assert_eq!(r["total_capped"], false);
    }
    // The totals come from counts the writes keep (PostgreSQL: rows of differences, folded now
    // and then): they follow creates, deactivations and deletes, and a fold changes none.
    let (s, _) = scim(&app, &base, &token, "PATCH", &format!("/Users/{}", ids[1]), Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "path": "active", "value": false}]})))
        .await;
    assert_eq!(s, 200);
    push_user(&app, &base, &token, "cy@acme.test", "Cy", "Young").await;
    for fold in [false, true] {
        if fold {
            app.store.fold_all_user_counts().await.unwrap();
        }
        for (f, n) in [("all", 3), ("deactivated", 1), ("unassigned", 2), ("scim", 3), ("manual", 0)] {
            let r = app.ok_json("users", users_query(json!({"filter": f})), &cookie).await;
            assert_eq!(r["total"], n, "filter {f} (folded: {fold})");
        }
        assert_eq!(app.ok_json("nav_counts", json!({}), &cookie).await["unassigned"], 2);
        let (s, list) = scim(&app, &base, &token, "GET", "/Users?startIndex=1&count=1", None).await;
        assert_eq!(s, 200);
        assert_eq!(list["totalResults"], 3, "{list}");
    }
}

/// The kept user counts (see `store::counts`) under writers running side by side, and on
/// PostgreSQL a fold running between them: every total is what the writes left.
async fn kept_user_counts_follow_concurrent_writes_and_folds(db: Db) {
    let app = std::sync::Arc::new(TestApp::new(db).await);
    let (cookie, _) = admin(&app, "Acme").await;
    let (base, token) = scim_on(&app, &cookie).await;
    // The deprovisioning brake off: a quarter of the users deleted and a quarter deactivated
    // would trip it.
    let fields = [
        ("brake_percent", "10"),
        ("brake_min_users", "10"),
        ("brake_window_minutes", "60"),
        ("delete_policy", "delete"),
        ("soft_delete_days", "30"),
    ];
    assert_eq!(app.call("form/safety_save", &fields, Some(&cookie)).await.status(), StatusCode::OK);
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let folder = {
        let (app, done) = (app.clone(), done.clone());
        tokio::spawn(async move {
            let mut folds = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                app.store.fold_all_user_counts().await.expect("fold");
                folds += 1;
                tokio::task::yield_now().await;
            }
            folds
        })
    };
    let mut writers = Vec::new();
    for w in 0..6 {
        let (app, base, token) = (app.clone(), base.clone(), token.clone());
        writers.push(tokio::spawn(async move {
            for i in 0..8 {
                let id = push_user(&app, &base, &token, &format!("u{w}-{i}@acme.test"), "U", "Ser").await;
                let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "path": "active", "value": false}]});
                match i % 4 {
                    // Deactivated.
                    1 => assert_eq!(scim(&app, &base, &token, "PATCH", &format!("/Users/{id}"), Some(patch)).await.0, 200),
                    // Deleted.
                    2 => assert_eq!(scim(&app, &base, &token, "DELETE", &format!("/Users/{id}"), None).await.0, 204),
                    _ => {}
                }
            }
        }));
    }
    for w in writers {
        w.await.expect("writer");
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(folder.await.expect("folder") > 0);
    app.store.fold_all_user_counts().await.expect("fold");
    // 6 writers × 8 users, 2 of each 8 deleted, 2 of each 8 deactivated.
    for (f, n) in [("all", 36), ("deactivated", 12), ("unassigned", 24), ("scim", 36)] {
        let r = app.ok_json("users", users_query(json!({"filter": f})), &cookie).await;
        assert_eq!(r["total"], n, "filter {f}");
    }
    let (_, list) = scim(&app, &base, &token, "GET", "/Users?count=0", None).await;
    assert_eq!(list["totalResults"], 36, "{list}");
}

async fn user_groups_assign_unassign_default_and_delete(db: Db) {
    let app = TestApp::new(db).await;
    let (cookie, _) = admin(&app, "Acme").await;
    let (base, token) = scim_on(&app, &cookie).await;
    let a = push_user(&app, &base, &token, "a@acme.test", "A", "One").await;
    let b = push_user(&app, &base, &token, "b@acme.test", "B", "Two").await;
    let c = push_user(&app, &base, &token, "c@acme.test", "C", "Three").await;
    assert_eq!(app.ok_json("nav_counts", json!({}), &cookie).await["unassigned"], 3);

    let eng = app
        .ok_json(
            "user_group_create",
            json!({"input": {"name": "Engineers", "description": "Builds", "role": "member"}}),
            &cookie,
        )
        .await;
    let eng_id = eng["id"].as_str().unwrap().to_string();
    assert_eq!(eng["role"], "member");
    assert_eq!(eng["member_count"], 0);
    let (_, err) = app
        .call_json(
            "user_group_create",
            json!({"input": {"name": " engineers ", "description": "", "role": "admin"}}),
            Some(&cookie),
        )
        .await;
    assert!(err.to_string().contains("already exists"), "{err}");
    let (_, err) = app
        .call_json(
            "user_group_create",
            json!({"input": {"name": "", "description": "", "role": "admin"}}),
            Some(&cookie),
        )
        .await;
    assert!(err.to_string().contains("name"), "{err}");
    let (status, err) = app
        .call_json(
            "user_group_create",
            json!({"input": {"name": "nul\u{0}group", "description": "", "role": "admin"}}),
            Some(&cookie),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    assert!(err.to_string().contains("NUL"), "{err}");
    let admins = app
        .ok_json("user_group_create", json!({"input": {"name": "Admins", "description": "", "role": "admin"}}), &cookie)
        .await;
    let admins_id = admins["id"].as_str().unwrap().to_string();

    // Assign two at once; they leave the unassigned list.
    let assigned = app.ok_json("user_group_assign", json!({"group_id": eng_id, "user_ids": [a, b]}), &cookie).await;
    assert_eq!(assigned, json!({"added": 2, "group_name": "Engineers"}));
    assert_eq!(app.ok_json("nav_counts", json!({}), &cookie).await["unassigned"], 1);
    let unassigned = app.ok_json("users", users_query(json!({"filter": "unassigned"})), &cookie).await;
    assert_eq!(unassigned["rows"][0]["id"], c.as_str());
    let members = app.ok_json("users", users_query(json!({"user_group": eng_id})), &cookie).await;
    assert_eq!(members["total"], 2);
    // Each row has its role (the highest of its groups'); the table filters by role.
    app.ok_json("user_group_assign", json!({"group_id": admins_id, "user_ids": [a]}), &cookie).await;
    let rows = app.ok_json("users", users_query(json!({"sort": "user_name"})), &cookie).await["rows"].clone();
    let roles: Vec<&Value> = rows.as_array().unwrap().iter().map(|r| &r["role"]).collect();
    assert_eq!(roles, [&json!("admin"), &json!("member"), &Value::Null], "{rows}");
    let by_role = |role: &'static str| {
        let app = &app;
        let cookie = &cookie;
        async move {
            let page = app.ok_json("users", users_query(json!({"role": role, "sort": "user_name"})), cookie).await;
            page["rows"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["user_name"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(by_role("admin").await, ["a@acme.test"]);
    assert_eq!(by_role("member").await, ["b@acme.test"], "a is an admin: their highest role counts");
    assert!(by_role("viewer").await.is_empty());
    let csv = body_text(app.page("/export/users.csv?role=member&user_group=", Some(&cookie)).await).await;
    assert_eq!(csv.lines().count(), 2, "the export filters as the table does: {csv}");
    app.ok_json("user_group_unassign", json!({"group_id": admins_id, "user_ids": [a]}), &cookie).await;
    // Assigning again adds nothing; unknown ids are skipped.
    let again =
        app.ok_json("user_group_assign", json!({"group_id": eng_id, "user_ids": [a, "no-such-user"]}), &cookie).await;
    assert_eq!(again["added"], 0);
    let (_, err) = app.call_json("user_group_assign", json!({"group_id": eng_id, "user_ids": []}), Some(&cookie)).await;
    assert!(err.to_string().contains("at least one"), "{err}");

    // Rename and change role; the list shows counts.
    let renamed = app
        .ok_json(
            "user_group_update",
            json!({"id": eng_id, "input": {"name": "Engineering", "description": "Builds things", "role": "viewer"}}),
            &cookie,
        )
        .await;
    assert_eq!(renamed["name"], "Engineering");
    assert_eq!(renamed["role"], "viewer");
    let list = app.ok_json("user_groups", json!({}), &cookie).await;
    let eng_row = list.as_array().unwrap().iter().find(|g| g["id"] == eng_id.as_str()).unwrap();
    assert_eq!(eng_row["member_count"], 2);

    // Default group: one at a time.
    app.ok_json("user_group_default", json!({"id": eng_id}), &cookie).await;
    app.wait_for_mapping_run(&cookie).await;
    app.ok_json("user_group_default", json!({"id": admins_id}), &cookie).await;
    app.wait_for_mapping_run(&cookie).await;
    let list = app.ok_json("user_groups", json!({}), &cookie).await;
    let defaults: Vec<&Value> = list.as_array().unwrap().iter().filter(|g| g["is_default"] == true).collect();
    assert_eq!(defaults.len(), 1);
    assert_eq!(defaults[0]["id"], admins_id.as_str());
    app.ok_json("user_group_default", json!({"id": null}), &cookie).await;
    app.wait_for_mapping_run(&cookie).await;
    assert!(app
        .ok_json("user_groups", json!({}), &cookie)
        .await
        .as_array()
        .unwrap()
        .iter()
        .all(|g| g["is_default"] == false));

    // Unassign one; delete the group and see how many lost it.
    assert_eq!(app.ok_json("user_group_unassign", json!({"group_id": eng_id, "user_ids": [b]}), &cookie).await, 1);
    assert_eq!(app.ok_json("user_group_delete", json!({"id": eng_id}), &cookie).await, 1);
    assert_eq!(app.ok_json("nav_counts", json!({}), &cookie).await["unassigned"], 3);
    let (_, err) = app.call_json("user_group", json!({"id": eng_id}), Some(&cookie)).await;
    assert!(err.to_string().contains("no longer exists"), "{err}");

    // A user deleted over SCIM leaves their user groups.
    app.ok_json("user_group_assign", json!({"group_id": admins_id, "user_ids": [c]}), &cookie).await;
    assert_eq!(scim(&app, &base, &token, "DELETE", &format!("/Users/{c}"), None).await.0, 204);
    assert_eq!(app.ok_json("user_group", json!({"id": admins_id}), &cookie).await["member_count"], 0);
}

async fn user_detail_explains_memberships_and_timeline(db: Db) {
    let app = TestApp::new(db).await;
    let (cookie, _) = admin(&app, "Acme").await;
    let (base, token) = scim_on(&app, &cookie).await;
    let id = push_user(&app, &base, &token, "ada@acme.test", "Ada", "Lovelace").await;
    let (s, _) = scim(&app, &base, &token, "POST", "/Groups", Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Okta Engineering", "members": [{"value": id}]})))
        .await;
    assert_eq!(s, 201);
    let g = app
        .ok_json("user_group_create", json!({"input": {"name": "Admins", "description": "", "role": "admin"}}), &cookie)
        .await;
    let v = app
        .ok_json(
            "user_group_create",
            json!({"input": {"name": "Readers", "description": "", "role": "viewer"}}),
            &cookie,
        )
        .await;
    for grp in [&g, &v] {
        app.ok_json("user_group_assign", json!({"group_id": grp["id"], "user_ids": [id]}), &cookie).await;
    }
    let detail = app.ok_json("user", json!({"id": id}), &cookie).await;
    assert_eq!(detail["user"]["user_name"], "ada@acme.test");
    assert_eq!(detail["effective_role"], "admin", "the highest role wins");
    assert_eq!(detail["idp_groups"][0][1], "Okta Engineering");
    let groups = detail["user_groups"].as_array().unwrap();
    assert_eq!(groups.len(), 2);
    assert_eq!(groups[0]["reasons"][0]["reason"], "admin");
    assert!(groups[0]["reasons"][0]["added_by"].as_str().unwrap().starts_with("admin-"));
    let attrs: Vec<(String, String)> = serde_json::from_value(detail["attributes"].clone()).unwrap();
    assert!(attrs.contains(&("name.familyName".into(), "Lovelace".into())), "{attrs:?}");
    assert!(detail["resource_json"].as_str().unwrap().contains("\"userName\": \"ada@acme.test\""));
    let timeline: Vec<&str> =
        detail["timeline"].as_array().unwrap().iter().map(|a| a["summary"].as_str().unwrap()).collect();
    assert!(timeline.iter().any(|s| s.starts_with("create ada@acme.test")), "{timeline:?}");
    assert!(timeline.contains(&"assigned to user group \"Admins\""), "{timeline:?}");
    let (_, err) = app.call_json("user", json!({"id": "nope"}), Some(&cookie)).await;
    assert!(err.to_string().contains("no longer exists"), "{err}");
}

fn manual(user_name: &str) -> Value {
    json!({"user_name": user_name, "given_name": "Max", "family_name": "Manual", "email": user_name, "external_id": "", "active": true})
}

async fn manual_users_are_created_edited_removed_and_never_taken_by_scim(db: Db) {
    let app = TestApp::new(db).await;
    let (cookie, _) = admin(&app, "Acme").await;
    let (base, token) = scim_on(&app, &cookie).await;
    let id = app.ok_json("user_create", json!({"input": manual("max@acme.test")}), &cookie).await;
    let id = id.as_str().unwrap().to_string();
    let listed = app.ok_json("users", users_query(json!({"filter": "manual"})), &cookie).await;
    assert_eq!(listed["total"], 1);
    assert_eq!(listed["rows"][0]["display_name"], "Max Manual");

    // SCIM neither sees nor takes over the manual user; the 409 says why and is recorded.
    let (s, body) =
        scim(&app, &base, &token, "POST", "/Users", Some(json!({"schemas": [CORE], "userName": "MAX@acme.test"})))
            .await;
    assert_eq!(s, 409, "{body}");
    assert_eq!(body["scimType"], "uniqueness");
    assert!(body["detail"].as_str().unwrap().contains("dashboard"), "{body}");
    let (s, body) = scim(&app, &base, &token, "GET", &format!("/Users/{id}"), None).await;
    assert_eq!(s, 404, "{body}");
    let (_, list) = scim(&app, &base, &token, "GET", "/Users?filter=userName%20eq%20%22max@acme.test%22", None).await;
    assert_eq!(list["totalResults"], 0);
    let errors = app.ok_json("activity", json!({"query": {"outcome": "error", "actor": "scim", "resource_type": "", "resource_id": "", "credential_id": ""}}), &cookie).await;
    let refused =
        errors["records"].as_array().unwrap().iter().find(|r| r["status"] == 409).expect("the 409 is recorded");
    assert!(refused["detail"].as_str().unwrap().contains("dashboard"), "{refused}");
    assert_eq!(refused["scim_type"], "uniqueness");

    // Edit, clash, validation, remove.
    let mut edited = manual("max.m@acme.test");
    edited["active"] = json!(false);
    app.ok_json("user_update", json!({"id": id, "input": edited}), &cookie).await;
    let d = app.ok_json("user", json!({"id": id}), &cookie).await;
    assert_eq!(d["user"]["user_name"], "max.m@acme.test");
    assert_eq!(d["user"]["active"], false);
    app.ok_json("user_create", json!({"input": manual("other@acme.test")}), &cookie).await;
    let (_, err) =
        app.call_json("user_update", json!({"id": id, "input": manual("OTHER@acme.test")}), Some(&cookie)).await;
    assert!(err.to_string().contains("already exists"), "{err}");
    // A new user whose name is taken, by a manual or an IdP's user: said in words, with the name.
    // The answer links to the user who has the name.
    let other = app.ok_json("users", json!({"query": {"search": "other@acme.test", "filter": "all", "sort": "created", "descending": true, "page": 1, "page_size": 10, "user_group": null}}), &cookie).await["rows"][0]["id"].as_str().unwrap().to_string();
    let (status, err) = app.call_json("user_create", json!({"input": manual("Other@acme.test")}), Some(&cookie)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    assert!(err.to_string().contains("already exists"), "{err}");
    assert_eq!(err["Exists"]["href"], format!("/users/{other}"), "{err}");
    let pushed = push_user(&app, &base, &token, "pushed@acme.test", "Pushed", "User").await;
    let (status, err) = app.call_json("user_create", json!({"input": manual("PUSHED@acme.test")}), Some(&cookie)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    assert!(err.to_string().contains("already exists"), "{err}");
    assert_eq!(err["Exists"]["href"], format!("/users/{pushed}"), "{err}");
    let (_, err) = app.call_json("user_create", json!({"input": manual("")}), Some(&cookie)).await;
    assert!(err.to_string().contains("user name"), "{err}");
    let mut bad = manual("x@acme.test");
    bad["email"] = json!("not an email");
    let (_, err) = app.call_json("user_create", json!({"input": bad}), Some(&cookie)).await;
    assert!(err.to_string().contains("valid email"), "{err}");

    // SCIM users cannot be edited or removed here.
    let scim_user = push_user(&app, &base, &token, "idp@acme.test", "I", "Dp").await;
    let (_, err) =
        app.call_json("user_update", json!({"id": scim_user, "input": manual("idp@acme.test")}), Some(&cookie)).await;
    assert!(err.to_string().contains("identity provider"), "{err}");
    let (_, err) = app.call_json("user_delete", json!({"id": scim_user}), Some(&cookie)).await;
    assert!(err.to_string().contains("identity provider"), "{err}");

    app.ok_json("user_delete", json!({"id": id}), &cookie).await;
    let (_, err) = app.call_json("user", json!({"id": id}), Some(&cookie)).await;
    assert!(err.to_string().contains("no longer exists"), "{err}");
}

async fn activity_lists_filters_and_shows_one_record(db: Db) {
    let app = TestApp::new(db).await;
    let (cookie, _) = admin(&app, "Acme").await;
    let (base, token) = scim_on(&app, &cookie).await;
    let id = push_user(&app, &base, &token, "ada@acme.test", "Ada", "L").await;
    scim(&app, &base, &token, "GET", "/Users/nope", None).await;
    let q = |extra: Value| {
        let mut q = json!({"outcome": "", "actor": "", "resource_type": "", "resource_id": "", "credential_id": ""});
        if let (Value::Object(q), Value::Object(e)) = (&mut q, extra) {
            q.extend(e);
        }
        json!({"query": q})
    };
    let all = app.ok_json("activity", q(json!({})), &cookie).await;
    assert!(all["records"].as_array().unwrap().len() >= 4, "{all}");
    let errors = app.ok_json("activity", q(json!({"outcome": "error"})), &cookie).await;
    assert_eq!(errors["records"].as_array().unwrap().len(), 1);
    assert_eq!(errors["records"][0]["status"], 404);
    let one = app.ok_json("activity", q(json!({"resource_id": id})), &cookie).await;
    assert_eq!(one["records"][0]["summary"], "create ada@acme.test");
    let recent = app.ok_json("activity", q(json!({"since_ms": -3_600_000})), &cookie).await;
    assert_eq!(recent["records"].as_array().unwrap().len(), all["records"].as_array().unwrap().len());
    let old = app.ok_json("activity", q(json!({"until_ms": 1000})), &cookie).await;
    assert_eq!(old["records"], json!([]));
    let record_id = errors["records"][0]["id"].clone();
    let record = app.ok_json("activity_record", json!({"id": record_id}), &cookie).await;
    assert_eq!(record["method"], "GET");
    assert_eq!(record["scim_type"], Value::Null);
    assert!(record["detail"].as_str().unwrap().contains("nope"));
    assert_eq!(record["actor_name"], "Okta", "the credential's name");

    // Search by the user's name or email (and by text in the summary), case-insensitively.
    let grace = push_user(&app, &base, &token, "grace@acme.test", "Grace", "Hopper").await;
    scim(
        &app,
        &base,
        &token,
        "PATCH",
        &format!("/Users/{grace}"),
        Some(json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "active", "value": false}]
        })),
    )
    .await;
    scim(&app, &base, &token, "GET", &format!("/Users/{grace}"), None).await;
    let found = app.ok_json("activity", q(json!({"search": "GRACE@acme"})), &cookie).await;
    let found = found["records"].as_array().unwrap();
    assert!(found.len() >= 3, "create, patch and get of grace: {found:?}");
    assert!(found.iter().all(|r| r["resource_id"] == grace.as_str()), "{found:?}");
    let none = app.ok_json("activity", q(json!({"search": "100%_"})), &cookie).await;
    assert_eq!(none["records"], json!([]), "LIKE's wildcards are matched literally");
    for bad in [json!({"search": "grace\u{0}"}), json!({"search": "x".repeat(201)}), json!({"resource_id": "a\u{0}b"})]
    {
        let (status, err) = app.call_json("activity", q(bad.clone()), Some(&cookie)).await;
        assert_ne!(status, StatusCode::OK, "{bad}");
        assert!(err.to_string().contains("NUL") || err.to_string().contains("200 characters"), "{bad}: {err}");
    }
    let res = app.page("/export/activity.csv?search=grace%00", Some(&cookie)).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);

    // The user's timeline shows what changed, not the IdP's lookups.
    let detail = app.ok_json("user", json!({"id": grace}), &cookie).await;
    let timeline = detail["timeline"].as_array().unwrap();
    assert!(timeline.len() >= 2, "{timeline:?}");
    assert!(timeline.iter().all(|r| r["method"] != "GET"), "{timeline:?}");

    // The log as CSV, filtered as the page is.
    let res = app.page("/export/activity.csv?search=grace&outcome=success", Some(&cookie)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()[http::header::CONTENT_TYPE].to_str().unwrap().starts_with("text/csv"));
    let csv = body_text(res).await;
    let mut lines = csv.lines();
    assert!(lines.next().unwrap().starts_with("time,actor,actorName,credentialId,method,path,status"));
    assert_eq!(lines.clone().count(), found.len(), "{csv}");
    assert!(lines.all(|l| l.contains(&grace)), "{csv}");
    let res = app.page("/export/activity.csv", None).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

async fn admin_functions_need_a_session(db: Db) {
    let app = TestApp::new(db).await;
    let calls = [
        ("scim_setup", json!({})),
        ("scim_enable", json!({"enabled": true})),
        ("scim_credential_create", json!({"kind": "bearer", "name": "x"})),
        ("users", users_query(json!({}))),
        ("user_groups", json!({})),
        ("user_group_create", json!({"input": {"name": "x", "description": "", "role": "admin"}})),
        (
            "activity",
            json!({"query": {"outcome": "", "actor": "", "resource_type": "", "resource_id": "", "credential_id": ""}}),
        ),
        ("nav_counts", json!({})),
        ("user_create", json!({"input": manual("x@acme.test")})),
    ];
    for (endpoint, args) in calls {
        let (status, body) = app.call_json(endpoint, args, None).await;
        assert_ne!(status, StatusCode::OK, "{endpoint} without a session: {body}");
        assert_eq!(body, json!("Unauthenticated"), "{endpoint}: {status}");
    }
    // A cross-site request is refused before anything runs.
    let (cookie, _) = admin(&app, "Acme").await;
    let req = http::Request::post("/api/user_group_create")
        .header(http::header::HOST, "roster.test")
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::COOKIE, &cookie)
        .header("sec-fetch-site", "cross-site")
        .body(axum::body::Body::from(json!({"input": {"name": "x", "description": "", "role": "admin"}}).to_string()))
        .unwrap();
    assert_eq!(app.send(req).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.ok_json("user_groups", json!({}), &cookie).await, json!([]));
}

async fn another_tenants_data_is_never_reached(db: Db) {
    let app = TestApp::new(db).await;
    let (alice, _) = admin(&app, "Alpha").await;
    let (mallory, _) = admin(&app, "Beta").await;
    let (base, token) = scim_on(&app, &alice).await;
    let user = push_user(&app, &base, &token, "secret@alpha.test", "S", "Ecret").await;
    let group = app
        .ok_json(
            "user_group_create",
            json!({"input": {"name": "Alpha admins", "description": "", "role": "admin"}}),
            &alice,
        )
        .await;
    let group_id = group["id"].as_str().unwrap().to_string();
    let setup = app.ok_json("scim_setup", json!({}), &alice).await;
    let cred_id = setup["credentials"][0]["id"].as_str().unwrap().to_string();
    let log = app
        .ok_json(
            "activity",
            json!({"query": {"outcome": "", "actor": "", "resource_type": "", "resource_id": "", "credential_id": ""}}),
            &alice,
        )
        .await;
    let record_id = log["records"][0]["id"].clone();

    // Mallory (another organization's admin) uses Alpha's ids everywhere.
    let mine = app.ok_json("users", users_query(json!({})), &mallory).await;
    assert_eq!(mine["total"], 0, "Beta sees none of Alpha's users");
    let mine = app.ok_json("users", users_query(json!({"user_group": group_id})), &mallory).await;
    assert_eq!(mine["total"], 0);
    assert_eq!(app.ok_json("user_groups", json!({}), &mallory).await, json!([]));
    assert_eq!(app.ok_json("scim_setup", json!({}), &mallory).await["credentials"], json!([]));
    for (endpoint, args) in [
        ("user", json!({"id": user})),
        ("user_group", json!({"id": group_id})),
        ("user_group_update", json!({"id": group_id, "input": {"name": "Owned", "description": "", "role": "viewer"}})),
        ("user_group_delete", json!({"id": group_id})),
        ("user_group_default", json!({"id": group_id})),
        ("user_group_assign", json!({"group_id": group_id, "user_ids": [user]})),
        ("user_group_unassign", json!({"group_id": group_id, "user_ids": [user]})),
        ("scim_credential_revoke", json!({"id": cred_id})),
        ("scim_credential_rotate", json!({"id": cred_id})),
        ("activity_record", json!({"id": record_id})),
        ("user_update", json!({"id": user, "input": manual("x@beta.test")})),
        ("user_delete", json!({"id": user})),
    ] {
        let (status, body) = app.call_json(endpoint, args, Some(&mallory)).await;
        assert_ne!(status, StatusCode::OK, "{endpoint} reached Alpha's data: {body}");
        assert!(!body.to_string().contains("secret@alpha.test"), "{endpoint} leaked: {body}");
    }
    // Mallory's own group cannot take Alpha's user either.
    let beta_group = app
        .ok_json("user_group_create", json!({"input": {"name": "Beta", "description": "", "role": "admin"}}), &mallory)
        .await;
    let added =
        app.ok_json("user_group_assign", json!({"group_id": beta_group["id"], "user_ids": [user]}), &mallory).await;
    assert_eq!(added["added"], 0);

    // Nothing of Alpha's changed.
    assert_eq!(scim_status(&app, &base, &token).await, 200);
    let g = app.ok_json("user_group", json!({"id": group_id}), &alice).await;
    assert_eq!(g["name"], "Alpha admins");
    assert_eq!(g["is_default"], false);
    let d = app.ok_json("user", json!({"id": user}), &alice).await;
    assert_eq!(d["user_groups"], json!([]));
    assert_eq!(d["user"]["user_name"], "secret@alpha.test");
}

async fn export(app: &TestApp, query: &str, cookie: Option<&str>) -> (StatusCode, String, Option<String>) {
    let mut b = http::Request::get(format!("/export/users.csv{query}")).header(http::header::HOST, "roster.test");
    if let Some(c) = cookie {
        b = b.header(http::header::COOKIE, c);
    }
    let res = app.send(b.body(axum::body::Body::empty()).unwrap()).await;
    let status = res.status();
    let disposition =
        res.headers().get(http::header::CONTENT_DISPOSITION).and_then(|v| v.to_str().ok()).map(str::to_string);
    (status, body_text(res).await, disposition)
}

async fn csv_export_and_import_round_trip(db: Db) {
    let app = TestApp::new(db).await;
    let (cookie, _) = admin(&app, "Acme").await;
    let (base, token) = scim_on(&app, &cookie).await;
    push_user(&app, &base, &token, "zed@acme.test", "Zed", "Quote, \"Jr\"").await;

    // The template imports as is.
    let template = roster_shared::service::directory::import_template();
    let report = app.ok_json("users_import", json!({"csv": template}), &cookie).await;
    assert_eq!(report, json!({"created": 1, "errors": []}));

    // A file with problems imports nothing and says which lines.
    let bad = "userName,givenName,email,active\nok@acme.test,Ok,ok@acme.test,true\n,NoName,,true\nzed@acme.test,Dup,,true\nx@acme.test,X,not-an-email,true\ny@acme.test,Y,,maybe\nok@acme.test,Again,,false\n";
    let report = app.ok_json("users_import", json!({"csv": bad}), &cookie).await;
    assert_eq!(report["created"], 0);
    let lines: Vec<u64> = report["errors"].as_array().unwrap().iter().map(|e| e[0].as_u64().unwrap()).collect();
    assert_eq!(lines, [3, 4, 5, 6, 7], "{report}");
    let text = report.to_string();
    assert!(
        text.contains("already exists") && text.contains("also on line 2") && text.contains("true or false"),
        "{text}"
    );
    let manual = app.ok_json("users", users_query(json!({"filter": "manual"})), &cookie).await;
    assert_eq!(manual["total"], 1, "nothing half-imported");
    let report = app.ok_json("users_import", json!({"csv": "email,nickname\na@b.test,x\n"}), &cookie).await;
    assert!(report.to_string().contains("Unknown column"), "{report}");

    // Export: everyone, then the current filter; quotes and commas survive.
    let (status, body, disposition) = export(&app, "", Some(&cookie)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(disposition.unwrap().contains("users.csv"));
    let mut reader = csv::Reader::from_reader(body.as_bytes());
    let headers = reader.headers().unwrap().clone();
    assert_eq!(headers.iter().collect::<Vec<_>>(), roster_shared::service::directory::CSV_COLUMNS);
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2);
    let zed = rows.iter().find(|r| &r[0] == "zed@acme.test").expect("zed exported");
    assert_eq!((&zed[1], &zed[2]), ("Zed", "Quote, \"Jr\""));
    assert_eq!(&zed[6], "Zed Quote, \"Jr\"");
    let (_, body, _) = export(&app, "?filter=manual", Some(&cookie)).await;
    assert_eq!(body.lines().count(), 2, "{body}");
    assert!(body.contains("ada@example.com"));

    // Round trip: the export itself imports into another organization (the columns Roster sets
    // are read past), names and all.
    let (other, _) = admin(&app, "Other").await;
    assert_eq!(app.ok_json("users_import", json!({"csv": body}), &other).await, json!({"created": 1, "errors": []}));
    let (_, again, _) = export(&app, "?filter=manual", Some(&other)).await;
    let cells = |text: &str| text.lines().nth(1).unwrap().split(',').take(6).map(str::to_string).collect::<Vec<_>>();
    assert_eq!(cells(&again), cells(&body), "the same user comes out again");

    // No session, no export; another admin exports only their own users.
    let (status, _, _) = export(&app, "", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (_, body, _) = export(&app, "", Some(&other)).await;
    assert!(!body.contains("zed@acme.test"));
}

/// The export walks the table in chunks by keyset: every matching row once, in the table's order,
/// for each sort and direction, across chunk boundaries (ties in the sort key included).
async fn csv_export_walks_every_row_in_the_tables_order(db: Db) {
    use roster_shared::dto::{UserFilter, UserQuery, UserSort};
    let app = TestApp::new(db).await;
    let (_cookie, tenant) = admin(&app, "Acme").await;
    let tenant = roster_shared::ids::TenantId::parse(&tenant).unwrap();
    let bodies: Vec<Value> = (0..2_345)
        .map(|i| {
            json!({"schemas": [CORE], "userName": format!("user{i:05}@acme.test"),
                   // Many users share a name, so the walk must break ties by id.
                   "name": {"givenName": format!("Name{}", i % 7), "familyName": "X"},
                   "active": i % 3 != 0})
        })
        .collect();
    let scim = roster_shared::service::provisioning::Scim { store: &app.store, tenant: &tenant, base_url: "http://x" };
    scim.create_users(&bodies).await.expect("seed");
    for (sort, descending, filter, expected) in [
        (UserSort::UserName, false, UserFilter::All, 2_345),
        (UserSort::Name, true, UserFilter::All, 2_345),
        (UserSort::Created, true, UserFilter::Deactivated, 782),
        (UserSort::Updated, false, UserFilter::All, 2_345),
    ] {
        let q = UserQuery { sort, descending, filter, page: 1, page_size: 200, ..Default::default() };
        let csv = roster_shared::service::directory::export_csv(&app.store, &tenant, &q, 1_000_000).await.unwrap();
        let mut reader = csv::Reader::from_reader(csv.as_bytes());
        let at = reader.headers().unwrap().iter().position(|h| h == "id").expect("an id column");
        let ids: Vec<String> = reader.records().map(|r| r.unwrap()[at].to_string()).collect();
        assert_eq!(ids.len(), expected, "{sort:?} {descending}");
        let unique: std::collections::HashSet<&String> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len(), "no row twice");
        // The same order as the table's pages.
        let mut table = Vec::new();
        for page in 1.. {
            let p = roster_shared::service::directory::list(&app.store, &tenant, &UserQuery { page, ..q.clone() })
                .await
                .unwrap();
            if p.rows.is_empty() {
                break;
            }
            table.extend(p.rows.into_iter().map(|r| r.id));
        }
        assert_eq!(ids, table, "{sort:?} {descending}");
    }
    // A limit cuts the walk.
    let q = UserQuery { page: 1, ..Default::default() };
    let csv = roster_shared::service::directory::export_csv(&app.store, &tenant, &q, 1_500).await.unwrap();
    assert_eq!(csv.lines().count(), 1 + 1_500);
}

/// The users table sorted by last change, its deep pages, the export's walk and the SCIM filter on
/// `meta.lastModified` follow every kind of write (created in a batch, PATCH, PUT, deactivated,
/// deleted): each agrees with the users' rows. On PostgreSQL that order is kept in a table of
/// its own by triggers (migration 0033), checked row for row here.
async fn the_order_of_last_change_follows_every_write(db: Db) {
    use roster_shared::dto::{UserQuery, UserSort};
    use roster_shared::service::directory;
    let app = TestApp::new(db).await;
    let (cookie, tenant) = admin(&app, "Acme").await;
    let (base, token) = scim_on(&app, &cookie).await;
    let tenant_id = roster_shared::ids::TenantId::parse(&tenant).unwrap();
    // More than a deep page's offset (1,000), made in one statement: many share a millisecond.
    let bodies: Vec<Value> =
        (0..1_130).map(|i| json!({"schemas": [CORE], "userName": format!("user{i:05}@acme.test")})).collect();
    let scim_api =
        roster_shared::service::provisioning::Scim { store: &app.store, tenant: &tenant_id, base_url: "http://x" };
    scim_api.create_users(&bodies).await.expect("seed");
    let ids = app
        .raw_strings(&format!(
            "SELECT CAST(id AS TEXT) FROM scim_users WHERE tenant_id = '{tenant}' ORDER BY user_name_norm"
        ))
        .await;
    assert_eq!(ids.len(), 1_130);
    let mut since = None;
    for (i, id) in ids.iter().enumerate().filter(|(i, _)| i % 37 == 5) {
        let (status, body) = if i % 2 == 0 {
            let ops = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                             "Operations": [{"op": "replace", "path": "title", "value": format!("T{i}")}]});
            scim(&app, &base, &token, "PATCH", &format!("/Users/{id}"), Some(ops)).await
        } else {
            let user = json!({"schemas": [CORE], "userName": format!("user{i:05}@acme.test"), "active": i % 3 != 0});
            scim(&app, &base, &token, "PUT", &format!("/Users/{id}"), Some(user)).await
        };
        assert_eq!(status, 200, "{body}");
        // Every write after this one was made at or after its time.
        if i > 500 && since.is_none() {
            since = Some(body["meta"]["lastModified"].as_str().expect("lastModified").to_string());
        }
    }
    for id in ids.iter().skip(3).step_by(101) {
        assert_eq!(scim(&app, &base, &token, "DELETE", &format!("/Users/{id}"), None).await.0, 204);
    }
    // The truth: the users' rows.
    let truth = |dir: &str| {
        format!(
            "SELECT CAST(id AS TEXT) FROM scim_users WHERE tenant_id = '{tenant}' ORDER BY updated_at {dir}, id {dir}"
        )
    };
    app.assert_update_order_kept(&tenant).await;
    for descending in [true, false] {
        let want = app.raw_strings(&truth(if descending { "DESC" } else { "ASC" })).await;
        assert_eq!(want.len(), 1_130 - 12);
        let q = UserQuery { sort: UserSort::Updated, descending, page_size: 50, ..Default::default() };
        // Every page, the deep ones (offset 1,000 and on) included.
        let mut paged = Vec::new();
        for page in 1.. {
            let p = directory::list(&app.store, &tenant_id, &UserQuery { page, ..q.clone() }).await.unwrap();
            if p.rows.is_empty() {
                break;
            }
            paged.extend(p.rows.into_iter().map(|r| r.id));
        }
        assert_eq!(paged, want, "pages, descending: {descending}");
        // The export's keyset walk.
        let csv = directory::export_csv(&app.store, &tenant_id, &q, 1_000_000).await.unwrap();
        let mut reader = csv::Reader::from_reader(csv.as_bytes());
        let at = reader.headers().unwrap().iter().position(|h| h == "id").expect("an id column");
        let walked: Vec<String> = reader.records().map(|r| r.unwrap()[at].to_string()).collect();
        assert_eq!(walked, want, "export, descending: {descending}");
    }
    // The SCIM filter on the time of last change, alone, negated and beside another term.
    let since = since.expect("a write after the 500th user");
    let written = |cond: &str| {
        let ms = roster_shared::scim::filter::datetime_ms(&since).expect("a dateTime");
        format!(
            "SELECT CAST(user_name AS TEXT) FROM scim_users WHERE tenant_id = '{tenant}' AND {}",
            cond.replace("X", &ms.to_string())
        )
    };
    for (filter, cond) in [
        (format!("meta.lastModified ge \"{since}\""), "updated_at >= X"),
        (format!("meta.lastModified gt \"{since}\""), "updated_at > X"),
        (format!("not (meta.lastModified lt \"{since}\")"), "updated_at >= X"),
        (format!("meta.lastModified ge \"{since}\" and active eq false"), "updated_at >= X AND NOT active"),
        (format!("meta.lastModified ge \"{since}\" or title pr"), "(updated_at >= X OR data::text LIKE '%title%')"),
    ] {
        let cond =
            if app.db.url.starts_with("postgres") { cond.to_string() } else { cond.replace("data::text", "data") };
        let mut want = app.raw_strings(&written(&cond)).await;
        want.sort();
        let path = format!(
            "/Users?count=1000&attributes=userName&filter={}",
            url::form_urlencoded::byte_serialize(filter.as_bytes()).collect::<String>()
        );
        let (status, body) = scim(&app, &base, &token, "GET", &path, None).await;
        assert_eq!(status, 200, "{filter}: {body}");
        let mut got: Vec<String> = body["Resources"]
            .as_array()
            .expect("resources")
            .iter()
            .map(|u| u["userName"].as_str().expect("userName").to_string())
            .collect();
        got.sort();
        assert!(!want.is_empty(), "{filter}");
        assert_eq!(got, want, "{filter}");
        assert_eq!(body["totalResults"], want.len(), "{filter}");
    }
}

/// The Overview's data follow the setup: SCIM off and nothing else at first; then on, a
/// credential, the IdP's first request, users, unassigned users and the first assignment.
async fn overview_says_where_the_organization_stands(db: Db) {
    let app = TestApp::new(db).await;
    let (cookie, tenant) = admin(&app, "Acme").await;
    let o = app.ok_json("overview", json!({}), &cookie).await;
    assert_eq!(o["state"]["tenant"]["id"], tenant.as_str());
    assert_eq!(o["state"]["scim"]["enabled"], false);
    assert_eq!((o["state"]["users"].as_i64(), o["state"]["unassigned"].as_i64()), (Some(0), Some(0)));
    assert_eq!(
        (o["rules"].as_u64(), o["user_groups"].as_u64(), o["any_assigned"].as_bool()),
        (Some(0), Some(0), Some(false))
    );
    assert!(o["state"]["scim"]["health"]["last_request_at_ms"].is_null());
    assert_eq!(o["state"]["scim"]["unrevoked_credentials"], 0);
    // Only what the page shows: the support console's inspection keeps the rest.
    for heavy in ["webhooks", "held"] {
        assert!(o["state"].get(heavy).is_none(), "{heavy}");
    }
    assert!(o["state"]["scim"].get("diagnostics").is_none() && o["state"]["scim"].get("credentials").is_none());

    let (base, token) = scim_on(&app, &cookie).await;
    let a = push_user(&app, &base, &token, "a@acme.test", "A", "One").await;
    push_user(&app, &base, &token, "b@acme.test", "B", "Two").await;
    let o = app.ok_json("overview", json!({}), &cookie).await;
    assert_eq!(o["state"]["scim"]["enabled"], true);
    assert!(o["state"]["scim"]["health"]["last_request_at_ms"].is_i64());
    assert_eq!(o["state"]["scim"]["unrevoked_credentials"], 1);
    assert!(o["state"]["scim"]["health"]["requests_24h"].as_i64() >= Some(2));
    assert_eq!((o["state"]["users"].as_i64(), o["state"]["unassigned"].as_i64()), (Some(2), Some(2)));

    // The credentials it counts are the SCIM page's unrevoked ones: an OAuth client counts, the
    // access tokens issued to it do not (the SCIM page does not list them), a revoked one not.
    let client =
        app.ok_json("scim_credential_create", json!({"kind": "oauth_client", "name": "PingOne"}), &cookie).await;
    let basic = {
        use base64::Engine;
        let pair = format!("{}:{}", client["credential"]["id"].as_str().unwrap(), client["secret"].as_str().unwrap());
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair))
    };
    let tenant_id = base.rsplit('/').next().unwrap();
    let issued = app
        .send(
            http::Request::post(format!("/scim/v2/{tenant_id}/oauth/token"))
                .header(http::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(http::header::AUTHORIZATION, basic)
                .body(axum::body::Body::from("grant_type=client_credentials"))
                .unwrap(),
        )
        .await;
    assert_eq!(issued.status(), StatusCode::OK, "an access token is issued");
    let setup = app.ok_json("scim_setup", json!({}), &cookie).await;
    let first =
        setup["credentials"].as_array().unwrap().iter().find(|c| c["name"] == "Okta").expect("Okta")["id"].clone();
    app.ok_json("scim_credential_create", json!({"kind": "bearer", "name": "Okta 2", "expires_in_days": 30}), &cookie)
        .await;
    app.ok_json("scim_credential_revoke", json!({"id": first}), &cookie).await;
    let setup = app.ok_json("scim_setup", json!({}), &cookie).await;
    let listed = setup["credentials"].as_array().unwrap();
    assert!(listed.iter().any(|c| c["id"] == first && c["revoked_at_ms"].is_i64()), "the first is revoked: {setup}");
    let unrevoked = listed.iter().filter(|c| c["revoked_at_ms"].is_null()).count();
    assert_eq!(unrevoked, 2, "the OAuth client and the second token: {setup}");
    let o = app.ok_json("overview", json!({}), &cookie).await;
    assert_eq!(o["state"]["scim"]["unrevoked_credentials"], unrevoked);

    let g = app
        .ok_json("user_group_create", json!({"input": {"name": "Eng", "description": "", "role": "member"}}), &cookie)
        .await;
    app.ok_json("user_group_assign", json!({"group_id": g["id"], "user_ids": [a]}), &cookie).await;
    let o = app.ok_json("overview", json!({}), &cookie).await;
    assert_eq!((o["user_groups"].as_u64(), o["any_assigned"].as_bool()), (Some(1), Some(true)));
    assert_eq!(o["state"]["unassigned"].as_i64(), Some(1));

    // Another organization's admin sees only their own.
    let (other, _) = admin(&app, "Globex").await;
    let o = app.ok_json("overview", json!({}), &other).await;
    assert_eq!(o["state"]["users"].as_i64(), Some(0));
    let (status, _) = app.call_json("overview", json!({}), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

/// An admin's change and its activity record are one transaction: when the record cannot be
/// written (the database refuses it), the change is not made either, and the admin is told it
/// failed. Nothing happens that the log does not show.
async fn an_admin_change_and_its_activity_record_commit_together(db: Db) {
    let app = TestApp::new(db).await;
    let (cookie, _) = admin(&app, "Acme").await;
    let group = app
        .ok_json("user_group_create", json!({"input": {"name": "Eng", "description": "", "role": "member"}}), &cookie)
        .await;
    let (refuse, allow) = match db {
        Db::Sqlite => (
            "CREATE TRIGGER no_activity BEFORE INSERT ON activity BEGIN SELECT RAISE(ABORT, 'activity refused'); END;",
            "DROP TRIGGER no_activity;",
        ),
        Db::Postgres => (
            "CREATE FUNCTION no_activity() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'activity refused'; END $$ LANGUAGE plpgsql; \
             CREATE TRIGGER no_activity BEFORE INSERT ON activity FOR EACH ROW EXECUTE FUNCTION no_activity();",
            "DROP TRIGGER no_activity ON activity; DROP FUNCTION no_activity();",
        ),
    };
    app.raw_execute(refuse).await;
    for (endpoint, args) in [
        ("user_group_create", json!({"input": {"name": "Sales", "description": "", "role": "member"}})),
        (
            "user_group_update",
            json!({"id": group["id"], "input": {"name": "Renamed", "description": "", "role": "admin"}}),
        ),
        ("user_group_delete", json!({"id": group["id"]})),
        ("scim_enable", json!({"enabled": true})),
        ("scim_credential_create", json!({"kind": "bearer", "name": "Okta"})),
        (
            "user_create",
            json!({"input": {"user_name": "max@acme.test", "given_name": "Max", "family_name": "P", "email": "", "external_id": "", "active": true}}),
        ),
        (
            "mapping_rule_create",
            json!({"rule": {"id": "", "condition": {"kind": "attribute", "filter": "userName pr"}, "user_group_id": group["id"], "enabled": true}}),
        ),
    ] {
        let (status, body) = app.call_json(endpoint, args, Some(&cookie)).await;
        assert_ne!(status, StatusCode::OK, "{endpoint} succeeded without its record: {body}");
    }
    app.raw_execute(allow).await;
    // Nothing of it happened.
    let groups = app.ok_json("user_groups", json!({}), &cookie).await;
    let names: Vec<&str> = groups.as_array().unwrap().iter().map(|g| g["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Eng"], "{groups}");
    assert_eq!(groups[0]["role"], "member");
    let setup = app.ok_json("scim_setup", json!({}), &cookie).await;
    assert_eq!((setup["enabled"].as_bool(), setup["credentials"].as_array().map(Vec::len)), (Some(false), Some(0)));
    let users = app.ok_json("users", users_query(json!({})), &cookie).await;
    assert_eq!(users["total"], 0, "{users}");
    assert_eq!(app.ok_json("mapping_rules", json!({}), &cookie).await, json!([]));
    // With the log writable again, the same change is made and recorded.
    app.ok_json("scim_enable", json!({"enabled": true}), &cookie).await;
    let log = app.ok_json("activity", json!({"query": {"actor": "admin", "outcome": "", "resource_type": "", "resource_id": "", "credential_id": ""}}), &cookie).await;
    let summaries: Vec<&str> =
        log["records"].as_array().unwrap().iter().map(|r| r["summary"].as_str().unwrap()).collect();
    assert_eq!(summaries.first(), Some(&"SCIM provisioning switched on"), "{summaries:?}");
}

/// The users page filtered by user group, IdP group or role finds its users from the
/// memberships when they are few: for every such filter (alone, together, with deactivated
/// users, the default role), every sort and direction, page after page, the pages hold exactly
/// what the keyset walk testing every user finds, in its order, and the total counts them.
async fn membership_filters_page_what_walking_every_user_finds(db: Db) {
    use roster_shared::dto::{GroupRole, UserFilter, UserQuery, UserSort};
    let app = TestApp::new(db).await;
    let (cookie, tenant) = admin(&app, "Acme").await;
    let (base, token) = scim_on(&app, &cookie).await;
    let mut ids = Vec::new();
    for k in 0..30 {
        ids.push(
            push_user(
                &app,
                &base,
                &token,
                &format!("u{:02}@acme.test", (k * 7) % 30),
                &format!("G{k}"),
                &format!("F{}", k % 4),
            )
            .await,
        );
    }
    let group = |name: &str, role: &str| {
        let (app, cookie) = (&app, &cookie);
        let input = json!({"input": {"name": name, "description": "", "role": role}});
        async move { app.ok_json("user_group_create", input, cookie).await["id"].as_str().unwrap().to_string() }
    };
    let (admins, eng, readers) =
        (group("Admins", "admin").await, group("Eng", "member").await, group("Readers", "viewer").await);
    for (g, members) in [(&admins, &ids[0..4]), (&eng, &ids[2..20]), (&readers, &ids[15..27])] {
        app.ok_json("user_group_assign", json!({"group_id": g, "user_ids": members}), &cookie).await;
    }
    let members: Vec<Value> = ids.iter().step_by(3).map(|id| json!({"value": id})).collect();
    let (status, idp) = scim(&app, &base, &token, "POST", "/Groups", Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Staff", "members": members}))).await;
    assert_eq!(status, 201, "{idp}");
    let idp = idp["id"].as_str().unwrap().to_string();
    for id in ids.iter().skip(1).step_by(5) {
        let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "path": "active", "value": false}]});
        assert_eq!(scim(&app, &base, &token, "PATCH", &format!("/Users/{id}"), Some(patch)).await.0, 200);
    }

    let tenant = roster_shared::ids::TenantId::parse(&tenant).unwrap();
    let t = app.store.tenant(&tenant);
    let mut checked = 0;
    for (user_group, idp_group, role) in [
        (Some(&admins), None, None),
        (Some(&eng), None, None),
        (None, Some(&idp), None),
        (Some(&readers), Some(&idp), None),
        (None, None, Some(GroupRole::Admin)),
        (None, None, Some(GroupRole::Member)),
        (None, None, Some(GroupRole::Viewer)),
        (Some(&eng), None, Some(GroupRole::Member)),
        (None, Some(&idp), Some(GroupRole::Viewer)),
    ] {
        for filter in [UserFilter::All, UserFilter::Deactivated, UserFilter::Unassigned] {
            for sort in UserSort::ALL {
                for descending in [false, true] {
                    let q = UserQuery {
                        filter,
                        sort,
                        descending,
                        user_group: user_group.cloned(),
                        idp_group: idp_group.cloned(),
                        role,
                        ..Default::default()
                    };
                    let walked: Vec<String> =
                        t.directory_after(&q, None, 1000).await.expect("walk").into_iter().map(|(_, r)| r.id).collect();
                    let mut paged = Vec::new();
                    for page in 0.. {
                        let got = t.directory_page(&q, page * 4, 4, None).await.expect("page");
                        assert_eq!(got.total, walked.len() as i64, "{q:?}");
                        if got.rows.is_empty() {
                            break;
                        }
                        paged.extend(got.rows.into_iter().map(|r| r.id));
                    }
                    assert_eq!(paged, walked, "{q:?}");
                    checked += usize::from(!walked.is_empty());
                }
            }
        }
    }
    assert!(checked >= 100, "most of the queries find users ({checked})");
}

/// The 24-hour SCIM figures (the Overview, the SCIM page, the support console) are read from the
/// traffic's minutes (`scim_traffic`, migration 0036) and the activity log's records of the
/// window's first, partial minute: for any start of the window they must say what counting the
/// records does, for every tenant apart; and the migration's count of records written before it
/// must agree with what the activity writer keeps.
async fn scim_traffic_counts_the_window_from_its_minutes_as_the_records_say(db: Db) {
    use roster_shared::store::NewActivity;
    let app = TestApp::new(db).await;
    let a = roster_shared::ids::TenantId::parse(&app.scim_tenant("Traffic A").await.id).unwrap();
    let b = roster_shared::ids::TenantId::parse(&app.scim_tenant("Traffic B").await.id).unwrap();
    let now = roster_shared::clock::now_ms();
    // A minute's first millisecond, ten minutes ago: records fall on both sides of minutes.
    let base = now - now % 60_000 - 600_000;
    // A small deterministic generator (no timing, no real randomness: the test is the same
    // every run).
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |n: u64| {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) % n
    };
    let methods = ["GET", "POST", "PATCH", "PUT", "DELETE"];
    let statuses = [200, 201, 204, 400, 404, 409, 429, 500];
    let mut records: Vec<(roster_shared::ids::TenantId, NewActivity)> = Vec::new();
    // Edges first: the last millisecond before a minute, its first, a GET answered 404 (not a
    // failure), a POST answered 404 (one), a record without status or method, and records of
    // other actors (not SCIM requests).
    for (at, actor, method, status) in [
        (base - 1, "scim", Some("GET"), Some(200)),
        (base, "scim", Some("GET"), Some(404)),
        (base + 1, "scim", Some("POST"), Some(404)),
        (base + 59_999, "scim", Some("PATCH"), Some(500)),
        (base + 60_000, "scim", None, None),
        (base + 60_000, "admin", Some("POST"), Some(500)),
        (base + 61_000, "system", None, None),
    ] {
        records.push((
            a.clone(),
            NewActivity {
                at,
                actor: actor.into(),
                method: method.map(str::to_string),
                status,
                summary: "edge".into(),
                ..Default::default()
            },
        ));
    }
    for _ in 0..400 {
        let tenant = if next(4) == 0 { b.clone() } else { a.clone() };
        let at = base - 120_000 + next(9 * 60_000) as i64;
        records.push((
            tenant,
            NewActivity {
                at,
                actor: if next(10) == 0 { "admin".into() } else { "scim".into() },
                method: Some(methods[next(5) as usize].into()),
                status: Some(statuses[next(8) as usize]),
                summary: "random".into(),
                ..Default::default()
            },
        ));
    }
    // Written in batches of uneven sizes, so that minutes are counted across commits.
    let mut rest = &records[..];
    while !rest.is_empty() {
        let n = (1 + next(150) as usize).min(rest.len());
        app.store.insert_activity(&rest[..n]).await.unwrap();
        rest = &rest[n..];
    }
    let expected = |tenant: &roster_shared::ids::TenantId, since: i64| {
        let mine = || records.iter().filter(|(t, r)| t == tenant && r.actor == "scim");
        let window: Vec<_> = mine().filter(|(_, r)| r.at >= since).collect();
        let errors = window
            .iter()
            .filter(|(_, r)| {
                r.status.is_some_and(|s| s >= 400) && !(r.method.as_deref() == Some("GET") && r.status == Some(404))
            })
            .count() as i64;
        (mine().map(|(_, r)| r.at).max(), window.len() as i64, errors)
    };
    let mut starts = vec![i64::MIN / 2, 0, base - 60_001, base - 60_000, base - 1, base, base + 1, base + 59_999];
    starts.extend([base + 60_000, base + 60_001, base + 61_000, now, now + 3_600_000]);
    for _ in 0..40 {
        starts.push(base - 180_000 + next(12 * 60_000) as i64);
    }
    for tenant in [&a, &b] {
        for &since in &starts {
            let got = app.store.tenant(tenant).scim_traffic(since).await.unwrap();
            assert_eq!(
                (got.last_at, got.requests, got.errors),
                expected(tenant, since),
                "since {since} (base {base}), tenant {}",
                tenant.as_str()
            );
        }
    }
    assert!(expected(&a, base).2 > 0 && expected(&b, base).1 > 0, "the window holds requests and failures");

    // Migration 0036 counted the records written before it: its statement, run on these
    // records, must give the minutes the activity writer kept.
    let minutes = "SELECT tenant_id || ' ' || CAST(minute_at AS TEXT) || ' ' || CAST(requests AS TEXT) || ' ' || \
                   CAST(errors AS TEXT) || ' ' || CAST(last_at AS TEXT) FROM scim_traffic ORDER BY tenant_id, minute_at";
    let kept = app.raw_strings(minutes).await;
    assert!(kept.len() >= 10, "{kept:?}");
    let migration = if app.db.url.starts_with("sqlite:") {
        include_str!("../../../migrations/sqlite/0036_scim_traffic.sql")
    } else {
        include_str!("../../../migrations/postgres/0036_scim_traffic.sql")
    };
    let backfill = migration
        .split(';')
        .map(str::trim)
        .map(|s| s.lines().filter(|l| !l.trim_start().starts_with("--")).collect::<Vec<_>>().join("\n"))
        .find(|s| s.starts_with("INSERT INTO scim_traffic") && s.contains("FROM activity"))
        .expect("the migration counts the records before it");
    app.raw_execute(&format!("DELETE FROM scim_traffic; {backfill}")).await;
    assert_eq!(app.raw_strings(minutes).await, kept);
}

/// The activity list's pages (the Activity page, the SCIM page's latest errors, the CSV export)
/// are newest first by time, then id, each page after the last record of the one before: walked
/// to the end, with many records sharing a millisecond and written out of time order, every
/// record of the tenant comes once, in that order, for each filter; a cursor that is another
/// tenant's record ends the list.
async fn activity_pages_walk_every_record_once_newest_first(db: Db) {
    use roster_shared::dto::ActivityQuery;
    use roster_shared::service::activity;
    use roster_shared::store::NewActivity;
    let app = TestApp::new(db).await;
    let a = roster_shared::ids::TenantId::parse(&app.scim_tenant("Pages A").await.id).unwrap();
    let b = roster_shared::ids::TenantId::parse(&app.scim_tenant("Pages B").await.id).unwrap();
    let base = roster_shared::clock::now_ms() - 3_600_000;
    let mut records = Vec::new();
    for i in 0..260i64 {
        // Ten records a millisecond, and every seventh written 5 ms earlier than its neighbours.
        let at = base + i / 10 - if i % 7 == 0 { 5 } else { 0 };
        let tenant = if i % 5 == 0 { b.clone() } else { a.clone() };
        let status = if i % 3 == 0 { 500 } else { 200 };
        let summary = format!("record {i}");
        records.push((
            tenant,
            NewActivity {
                at,
                actor: "scim".into(),
                method: Some("PATCH".into()),
                status: Some(status),
                summary,
                ..Default::default()
            },
        ));
    }
    for chunk in records.chunks(37) {
        app.store.insert_activity(chunk).await.unwrap();
    }
    let walk = |q: ActivityQuery| {
        let (app, a) = (&app, &a);
        async move {
            let mut q = q;
            let mut seen = Vec::new();
            loop {
                let page = activity::list(&app.store, a, &q).await.unwrap();
                seen.extend(page.records.iter().map(|r| (r.at_ms, r.id, r.summary.clone(), r.status)));
                match page.next_before_id {
                    Some(id) => q.before_id = Some(id),
                    None => return seen,
                }
            }
        }
    };
    for (outcome, wanted) in [("", None), ("error", Some(500)), ("success", Some(200))] {
        let seen = walk(ActivityQuery { outcome: outcome.into(), ..Default::default() }).await;
        let mut expected = seen.clone();
        expected.sort_by_key(|r| std::cmp::Reverse((r.0, r.1)));
        assert_eq!(seen, expected, "{outcome:?}: newest first by time, then id");
        let mut summaries: Vec<String> = seen.iter().map(|r| r.2.clone()).collect();
        summaries.sort();
        let mut mine: Vec<String> = records
            .iter()
            .filter(|(t, r)| t == &a && wanted.is_none_or(|s| r.status == Some(s)))
            .map(|(_, r)| r.summary.clone())
            .collect();
        mine.sort();
        assert_eq!(summaries, mine, "{outcome:?}: every record of the tenant, once");
    }
    // The SCIM page's latest errors: the five newest failures.
    let errors = activity::scim_health(&app.store, &a).await.unwrap().recent_errors;
    let newest: Vec<_> = walk(ActivityQuery { outcome: "error".into(), ..Default::default() })
        .await
        .into_iter()
        .take(5)
        .map(|r| r.1)
        .collect();
    assert_eq!(errors.iter().map(|r| r.id).collect::<Vec<_>>(), newest);
    // Another tenant's record as the cursor: nothing.
    let theirs = activity::list(&app.store, &b, &ActivityQuery::default()).await.unwrap().records[0].id;
    let page =
        activity::list(&app.store, &a, &ActivityQuery { before_id: Some(theirs), ..Default::default() }).await.unwrap();
    assert!(page.records.is_empty() && page.next_before_id.is_none(), "{page:?}");
}
