//! The support console's server functions: staff read any tenant, every look is recorded in
//! that tenant's activity, and every write is refused with 403 and recorded.

use http::StatusCode;
use serde_json::{json, Value};

use crate::both_backends;
use crate::common::*;

both_backends!(
    staff_read_every_tenant_and_each_look_is_recorded,
    staff_writes_are_refused_and_recorded,
    only_staff_reach_the_console,
);

const CORE: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

/// Signs up an organization, switches SCIM on and makes a token: (cookie, tenant, token).
async fn organization(app: &TestApp, org: &str) -> (String, String, String) {
    let email = format!("admin-{}@{}.test", uuid::Uuid::new_v4().simple(), org.to_ascii_lowercase());
    let cookie = app.sign_up(org, &email, PASSWORD).await;
    let tenant = app.viewer(Some(&cookie)).await["tenant"]["id"].as_str().expect("tenant").to_string();
    app.ok_json("scim_enable", json!({"enabled": true}), &cookie).await;
    let made = app.ok_json("scim_credential_create", json!({"kind": "bearer", "name": "Okta"}), &cookie).await;
    (cookie, tenant, made["secret"].as_str().expect("secret").to_string())
}

/// Creates a staff account and signs it in; returns the session cookie.
async fn staff(app: &TestApp, email: &str) -> String {
    roster_shared::service::support::create_staff(&app.store, email, "Sam Support", PASSWORD.to_string())
        .await
        .expect("staff account");
    let res = app.call("sign_in", &[("email", email), ("password", PASSWORD)], None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let location = res.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    assert_eq!(location, "/support", "staff land in the support console");
    session_cookie(&res).expect("cookie")
}

async fn push_user(app: &TestApp, tenant: &str, token: &str, user_name: &str) -> String {
    let (status, _, body) = app
        .scim(
            "POST",
            tenant,
            token,
            "/Users",
            Some(json!({
                "schemas": [CORE],
                "userName": user_name,
                "password": "Sup3r-secret-pw!",
                "emails": [{"value": format!("{user_name}.mail@example.test"), "primary": true}],
                "externalId": format!("ext-{user_name}"),
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().expect("id").to_string()
}

/// The support records of a tenant, as its admin sees them in the activity log.
async fn support_records(app: &TestApp, admin_cookie: &str) -> Vec<Value> {
    let page = app.ok_json("activity", json!({"query": {"actor": "support", "outcome": "", "resource_type": "", "resource_id": "", "credential_id": ""}}), admin_cookie).await;
    page["records"].as_array().expect("records").clone()
}

async fn staff_read_every_tenant_and_each_look_is_recorded(db: Db) {
    let app = TestApp::new(db).await;
    let (acme_admin, acme, acme_token) = organization(&app, "Acme").await;
    let (globex_admin, globex, _) = organization(&app, "Globex").await;
    let ada = push_user(&app, &acme, &acme_token, "ada@acme.test").await;
    push_user(&app, &acme, &acme_token, "bob@acme.test").await;
    // A failing SCIM request: the reason is what support must find.
    let (status, _, _) = app
        .scim("POST", &acme, &acme_token, "/Users", Some(json!({"schemas": [CORE], "name": {"givenName": "No"}})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Looking up a user who is gone is routine for an IdP, not a failure of it.
    let (status, _, _) = app.scim("GET", &acme, &acme_token, "/Users/2819c223-7f76-453a-919d-413861904646", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let sam = staff(&app, "sam@roster.test").await;
    assert_eq!(app.viewer(Some(&sam)).await["role"], "support");

    // The overview: both tenants, with figures and never a secret; failing first.
    let tenants = app
        .ok_json("support_tenants", json!({"query": {"search": "", "sort": "health", "reverse": false}}), &sam)
        .await;
    let list = tenants.as_array().expect("list");
    assert_eq!(list.len(), 2, "{tenants}");
    let a = &list[0];
    assert_eq!(a["id"], acme.as_str(), "the tenant with errors comes first: {tenants}");
    assert_eq!((a["users"].as_i64(), a["unassigned"].as_i64()), (Some(2), Some(2)));
    assert_eq!(
        (a["requests_24h"].as_i64(), a["errors_24h"].as_i64()),
        (Some(4), Some(1)),
        "the 404 lookup is no error"
    );
    assert_eq!(a["health"], "failing", "1 of 4 requests failed");
    assert_eq!((a["scim_enabled"].as_bool(), a["active_credentials"].as_i64()), (Some(true), Some(1)));
    assert!(a["credential_last_used_ms"].is_i64());
    assert_eq!(list[1]["health"], "no_traffic");
    assert!(!tenants.to_string().contains(&acme_token));
    // Searchable and sortable.
    let found = app
        .ok_json("support_tenants", json!({"query": {"search": "glob", "sort": "name", "reverse": false}}), &sam)
        .await;
    assert_eq!(found.as_array().map(|l| l.len()), Some(1));
    assert_eq!(found[0]["id"], globex.as_str());
    let by_users =
        app.ok_json("support_tenants", json!({"query": {"search": "", "sort": "users", "reverse": true}}), &sam).await;
    assert_eq!(by_users[0]["id"], globex.as_str(), "fewest users first when reversed");

    // Search across tenants: by userName (any case), primary email, externalId.
    for text in ["ADA@acme.test", "ada@acme.test.mail@example.test", "ext-ada@acme.test"] {
        let hits = app.ok_json("support_find_users", json!({"text": text}), &sam).await;
        assert_eq!(hits.as_array().map(|h| h.len()), Some(1), "{text}: {hits}");
        assert_eq!(hits[0]["tenant_id"], acme.as_str());
        assert_eq!(hits[0]["tenant_name"], "Acme");
        assert_eq!(hits[0]["user"]["id"], ada.as_str());
    }
    let none = app.ok_json("support_find_users", json!({"text": "nobody@nowhere.test"}), &sam).await;
    assert_eq!(none, json!([]));
    // Bad input is the client's mistake: 400 with the message, not a server error.
    let (status, err) = app.call_json("support_find_users", json!({"text": "  "}), Some(&sam)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    assert!(err["Invalid"].as_str().is_some_and(|m| m.contains("userName")), "{err}");

    // Drill-down into Acme, read-only.
    let inspection = app.ok_json("support_tenant", json!({"tenant": acme}), &sam).await;
    assert_eq!(inspection["tenant"]["name"], "Acme");
    assert_eq!(inspection["scim"]["credentials"].as_array().map(|c| c.len()), Some(1));
    assert_eq!(inspection["scim"]["health"]["errors_24h"], 1);
    assert!(!inspection.to_string().contains(&acme_token), "no secret");
    let unassigned = app
        .ok_json("support_users", json!({"tenant": acme, "query": {"search": "", "filter": "unassigned", "sort": "user_name", "descending": false, "page": 1, "page_size": 50, "user_group": null}}), &sam)
        .await;
    assert_eq!(unassigned["total"], 2);
    let user = app.ok_json("support_user", json!({"tenant": acme, "id": ada}), &sam).await;
    assert_eq!(user["user"]["user_name"], "ada@acme.test");
    assert!(!user["timeline"].as_array().expect("timeline").is_empty());
    assert!(!user.to_string().contains("Sup3r-secret-pw!"));
    let groups = app.ok_json("support_groups", json!({"tenant": acme}), &sam).await;
    assert_eq!(groups, json!([[], []]));
    let mappings = app.ok_json("support_mappings", json!({"tenant": acme}), &sam).await;
    assert_eq!(mappings["rules"], json!([]));
    let errors = app
        .ok_json("support_activity", json!({"tenant": acme, "query": {"outcome": "error", "actor": "scim", "resource_type": "", "resource_id": "", "credential_id": ""}}), &sam)
        .await;
    // The log lists every error, the routine 404 lookup too; the failure is the 400.
    let failed = errors["records"].as_array().unwrap().iter().find(|r| r["status"] == 400).expect("the 400");
    assert_eq!(failed["status"], 400, "{errors}");
    assert!(failed["detail"].as_str().is_some_and(|d| d.contains("userName")), "{failed}");
    let record = app.ok_json("support_activity_record", json!({"tenant": acme, "id": failed["id"]}), &sam).await;
    assert!(record["request_body"].as_str().is_some_and(|b| b.contains("givenName")), "{record}");
    // Request bodies keep no password.
    let created = app
        .ok_json("support_activity", json!({"tenant": acme, "query": {"outcome": "success", "actor": "scim", "resource_type": "User", "resource_id": ada, "credential_id": ""}}), &sam)
        .await;
    let post = created["records"]
        .as_array()
        .expect("records")
        .iter()
        .find(|r| r["method"] == "POST")
        .expect("the POST")
        .clone();
    let body = app.ok_json("support_activity_record", json!({"tenant": acme, "id": post["id"]}), &sam).await;
    let body = body["request_body"].as_str().expect("body");
    assert!(
        body.contains("ada@acme.test") && body.contains("[removed]") && !body.contains("Sup3r-secret-pw!"),
        "{body}"
    );

    // An unknown or malformed tenant key: a clear error, nothing recorded anywhere.
    let (status, err) = app.call_json("support_tenant", json!({"tenant": "' or 1=1 --"}), Some(&sam)).await;
    assert!(status.is_client_error() || status.is_server_error());
    assert!(err.to_string().contains("no organization"), "{err}");

    // Acme's admins see every look, by whom; Globex's see only the search that showed nothing of
    // theirs — i.e. nothing.
    let records = support_records(&app, &acme_admin).await;
    let summaries: Vec<&str> = records.iter().filter_map(|r| r["summary"].as_str()).collect();
    for expected in [
        "support viewed the SCIM setup and health",
        "support viewed unassigned users",
        "support viewed a user",
        "support viewed SCIM groups and user groups",
        "support viewed mapping rules",
        "support viewed the activity log",
    ] {
        assert!(summaries.contains(&expected), "{expected} missing from {summaries:?}");
    }
    assert!(
        summaries.iter().any(|s| s.starts_with("support viewed users in a search for “ADA@acme.test”")),
        "{summaries:?}"
    );
    assert!(records.iter().all(|r| r["actor_name"] == "sam@roster.test" && r["actor"] == "support"));
    let viewed_user = records.iter().find(|r| r["summary"] == "support viewed a user").expect("user view");
    assert_eq!(viewed_user["resource_id"], ada.as_str(), "the user's own timeline shows the look");
    assert_eq!(support_records(&app, &globex_admin).await, Vec::<Value>::new());
}

async fn staff_writes_are_refused_and_recorded(db: Db) {
    let app = TestApp::new(db).await;
    let (admin, acme, _) = organization(&app, "Acme").await;
    // Something of each kind for staff to try to change.
    let group = app
        .ok_json(
            "user_group_create",
            json!({"input": {"name": "Engineers", "description": "", "role": "member"}}),
            &admin,
        )
        .await["id"]
        .as_str()
        .expect("group")
        .to_string();
    let manual = json!({"user_name": "eve@acme.test", "given_name": "Eve", "family_name": "X", "email": "eve@acme.test", "external_id": "", "active": true});
    let user = app.ok_json("user_create", json!({"input": manual}), &admin).await.as_str().expect("user").to_string();
    let rule_def = |id: &str| json!({"id": id, "condition": {"kind": "attribute", "filter": "active eq true"}, "user_group_id": group, "enabled": true});
    let rule = app
        .ok_json("mapping_rule_create", json!({"rule": rule_def("")}), &admin)
        .await
        .as_str()
        .expect("rule")
        .to_string();
    app.wait_for_mapping_run(&admin).await;
    let credential =
        app.ok_json("scim_setup", json!({}), &admin).await["credentials"][0]["id"].as_str().expect("cred").to_string();
    let before = (
        app.ok_json("scim_setup", json!({}), &admin).await,
        app.ok_json("user_groups", json!({}), &admin).await,
        app.ok_json("user", json!({"id": user}), &admin).await["user"].clone(),
        app.ok_json("mapping_rules", json!({}), &admin).await,
    );

    let sam = staff(&app, "sam@roster.test").await;
    app.ok_json("support_tenant", json!({"tenant": acme}), &sam).await;
    let group_input = json!({"name": "Pwned", "description": "", "role": "admin"});
    let writes = [
        ("scim_enable", json!({"enabled": false})),
        ("scim_credential_create", json!({"kind": "bearer", "name": "Sneaky"})),
        ("scim_credential_revoke", json!({"id": credential})),
        ("scim_credential_rotate", json!({"id": credential})),
        ("user_group_create", json!({"input": group_input})),
        ("user_group_update", json!({"id": group, "input": group_input})),
        ("user_group_delete", json!({"id": group})),
        ("user_group_default", json!({"id": group})),
        ("user_group_assign", json!({"group_id": group, "user_ids": [user]})),
        ("user_group_unassign", json!({"group_id": group, "user_ids": [user]})),
        ("user_create", json!({"input": manual})),
        ("user_update", json!({"id": user, "input": manual})),
        ("user_delete", json!({"id": user})),
        ("users_import", json!({"csv": "userName\nmallory@acme.test\n"})),
        ("mapping_rule_create", json!({"rule": rule_def("")})),
        ("mapping_rule_update", json!({"rule": rule_def(&rule)})),
        ("mapping_rule_delete", json!({"id": rule})),
        ("mapping_rules_reorder", json!({"ids": [rule]})),
        ("mapping_reevaluate", json!({})),
        // Admin reads are not staff's either: they read through the support functions.
        (
            "users",
            json!({"query": {"search": "", "filter": "all", "sort": "user_name", "descending": false, "page": 1, "page_size": 50, "user_group": null}}),
        ),
        ("scim_setup", json!({})),
    ];
    for (endpoint, args) in &writes {
        let (status, body) = app.call_json(endpoint, args.clone(), Some(&sam)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{endpoint}: {body}");
        assert_eq!(body, json!("Forbidden"), "{endpoint}");
    }
    // Nothing changed.
    let after = (
        app.ok_json("scim_setup", json!({}), &admin).await,
        app.ok_json("user_groups", json!({}), &admin).await,
        app.ok_json("user", json!({"id": user}), &admin).await["user"].clone(),
        app.ok_json("mapping_rules", json!({}), &admin).await,
    );
    let strip = |mut setup: Value| {
        // The admin's own reads move the traffic figures; the setup itself must not move.
        setup["health"] = Value::Null;
        setup
    };
    assert_eq!(strip(after.0.clone()), strip(before.0.clone()));
    assert_eq!((&after.1, &after.2, &after.3), (&before.1, &before.2, &before.3));
    // Each refusal is in the tenant's activity.
    let records = support_records(&app, &admin).await;
    for (endpoint, _) in &writes {
        let expected = format!("support refused: {endpoint} (support is read-only)");
        assert!(records.iter().any(|r| r["summary"] == expected.as_str()), "{expected} missing: {records:?}");
    }

    // A disabled staff account is signed out at once and cannot sign in again.
    roster_shared::service::support::set_staff_disabled(&app.store, "SAM@roster.test", true).await.expect("disable");
    let (status, body) = app
        .call_json("support_tenants", json!({"query": {"search": "", "sort": "name", "reverse": false}}), Some(&sam))
        .await;
    assert_ne!(status, StatusCode::OK);
    assert_eq!(body, json!("Unauthenticated"));
    let res = app.call("sign_in", &[("email", "sam@roster.test"), ("password", PASSWORD)], None).await;
    assert!(invalid_message(res).await.contains("disabled"));
    assert!(roster_shared::service::support::set_staff_disabled(&app.store, "nobody@roster.test", true).await.is_err());
}

async fn only_staff_reach_the_console(db: Db) {
    let app = TestApp::new(db).await;
    let (admin, acme, _) = organization(&app, "Acme").await;
    let calls = [
        ("support_tenants", json!({"query": {"search": "", "sort": "name", "reverse": false}})),
        ("support_find_users", json!({"text": "ada@acme.test"})),
        ("support_tenant", json!({"tenant": acme})),
        ("support_groups", json!({"tenant": acme})),
        ("support_mappings", json!({"tenant": acme})),
    ];
    for (endpoint, args) in &calls {
        let (status, body) = app.call_json(endpoint, args.clone(), Some(&admin)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "an org admin: {endpoint}: {body}");
        let (status, body) = app.call_json(endpoint, args.clone(), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "no session: {endpoint}");
        assert_eq!(body, json!("Unauthenticated"), "{endpoint}");
    }
    // The console's pages send admins to their dashboard and staff away from the admin pages.
    let res = app.page("/support", Some(&admin)).await;
    assert!(res.status().is_redirection(), "{}", res.status());
    assert_eq!(res.headers().get("location").and_then(|v| v.to_str().ok()), Some("/"));
    let sam = staff(&app, "sam@roster.test").await;
    let res = app.page("/users", Some(&sam)).await;
    assert_eq!(res.headers().get("location").and_then(|v| v.to_str().ok()), Some("/support"));
    let res = app.page("/support", Some(&sam)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(body_text(res).await.contains("Organizations"));
    // Staff accounts cannot be made through sign-up: the address is taken.
    let res = app
        .call(
            "sign_up",
            &[("organization", "X"), ("name", "X"), ("email", "sam@roster.test"), ("password", PASSWORD)],
            None,
        )
        .await;
    assert!(invalid_message(res).await.contains("already exists"));
}
