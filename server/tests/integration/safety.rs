//! Provisioning safety: the mass-deprovisioning brake (held changes, applied or discarded by an
//! admin) and the delete policy (soft delete, restore, purge).

use http::StatusCode;
use roster_shared::ids::TenantId;
use roster_shared::store::Backend;
use serde_json::{json, Value};

use crate::both_backends;
use crate::common::*;

both_backends!(
    a_burst_of_deactivations_is_held_beyond_the_limit_and_admins_decide,
    the_brake_counts_active_users_only_and_can_be_switched_off,
    soft_deleted_users_are_gone_for_scim_and_restorable,
    concurrent_deprovisioning_on_two_instances_never_passes_the_limit,
    marked_manual_users_are_adopted_by_the_idps_create,
    seat_limits_refuse_placements_beyond_them_from_every_source,
    a_hold_in_one_statement_writes_only_over_the_limit,
    a_held_change_asked_again_keeps_its_id_and_applies_the_latest_request,
    a_restored_user_is_not_written_from_a_copy_read_before_the_deletion,
    the_brake_decides_on_the_stored_user_not_an_instances_copy,
    a_hold_is_made_only_while_the_user_is_at_the_version_it_was_decided_on,
);

const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// An organization with an admin (the cookie) and SCIM on (a token).
async fn organization(app: &TestApp, name: &str) -> (ScimTenant, String) {
    let email = format!("admin-{}@{}.test", uuid::Uuid::new_v4().simple(), name.to_ascii_lowercase());
    let cookie = app.sign_up(name, &email, PASSWORD).await;
    let viewer = app.viewer(Some(&cookie)).await;
    let id = viewer["tenant"]["id"].as_str().expect("tenant").to_string();
    let tenant = TenantId::parse(&id).expect("tenant id");
    roster_shared::service::credentials::set_scim_enabled(&app.store, &tenant, true).await.expect("enable");
    let (record, secret) = roster_shared::service::credentials::create_token(&app.store, &tenant, "IdP", "test", None)
        .await
        .expect("token");
    (ScimTenant { id, token: secret.expose().to_string(), token_id: record.id.to_string() }, cookie)
}

/// Entra ID's deactivation.
async fn deactivate(app: &TestApp, t: &ScimTenant, id: &str) -> (StatusCode, Value) {
    let (s, _, body) = app
        .scim(
            "PATCH",
            &t.id,
            &t.token,
            &format!("/Users/{id}"),
            Some(json!({"schemas": [PATCH], "Operations": [{"op": "Replace", "path": "active", "value": "False"}]})),
        )
        .await;
    (s, body)
}

async fn inactive_count(app: &TestApp, t: &ScimTenant) -> u64 {
    let (_, _, body) = app.scim("GET", &t.id, &t.token, "/Users?filter=active%20eq%20false&count=0", None).await;
    body["totalResults"].as_u64().expect("totalResults")
}

async fn is_active(app: &TestApp, t: &ScimTenant, id: &str) -> bool {
    let (s, _, body) = app.scim("GET", &t.id, &t.token, &format!("/Users/{id}"), None).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    body["active"].as_bool().expect("active")
}

async fn held(app: &TestApp, cookie: &str) -> Value {
    app.ok_json("held_changes", json!({}), cookie).await
}

async fn decide(app: &TestApp, cookie: &str, decision: &str, ids: &[String]) -> (StatusCode, Value) {
    let mut fields = vec![("decision", decision)];
    fields.extend(ids.iter().map(|id| ("ids[]", id.as_str())));
    let res = app.call("form/held_decide", &fields, Some(cookie)).await;
    let status = res.status();
    let text = body_text(res).await;
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn users(app: &TestApp, t: &ScimTenant, n: usize, prefix: &str) -> Vec<String> {
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        ids.push(app.create_user(t, &format!("{prefix}{i:03}@brake.test")).await);
    }
    ids
}

async fn a_burst_of_deactivations_is_held_beyond_the_limit_and_admins_decide(db: Db) {
    let app = TestApp::new(db).await;
    let (t, cookie) = organization(&app, "Brake").await;
    let ids = users(&app, &t, 100, "u").await;
    // Two of them in a SCIM group: one whose deactivation goes through, one whose is held.
    let (s, _, g) = app
        .scim("POST", &t.id, &t.token, "/Groups", Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Night shift", "members": [{"value": ids[0]}, {"value": ids[29]}]})))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{g}");

    // 30 of 100 deactivated in a burst: the default brake (10%, at least 10, per hour) lets 10
    // through and holds 20, each answered 200 with the user as the IdP asked for it, and their
    // groups.
    for id in &ids[..30] {
        let (s, body) = deactivate(&app, &t, id).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        assert_eq!(body["active"], false, "answered as done: {body}");
        let groups: Vec<&str> =
            body["groups"].as_array().into_iter().flatten().filter_map(|g| g["display"].as_str()).collect();
        let expected: &[&str] = if id == &ids[0] || id == &ids[29] { &["Night shift"] } else { &[] };
        assert_eq!(groups, expected, "{body}");
    }
    assert_eq!(inactive_count(&app, &t).await, 10);
    for id in &ids[10..30] {
        assert!(is_active(&app, &t, id).await, "held users keep their access");
    }
    let h = held(&app, &cookie).await;
    assert_eq!(h["total"], 20, "{h}");
    assert_eq!(h["deprovisioned_in_window"], 10);
    assert_eq!(h["limit"], 10);
    let changes = h["changes"].as_array().unwrap();
    // Oldest first. Requests a millisecond apart can be held at the same time, and those come
    // in any order: each held change is named by its user below, not by its place.
    let at: Vec<i64> = changes.iter().map(|c| c["created_at_ms"].as_i64().unwrap()).collect();
    assert!(at.windows(2).all(|w| w[0] <= w[1]), "oldest first: {at:?}");
    assert!(changes.iter().all(|c| c["kind"] == "Deactivate" && c["method"] == "PATCH"), "{h}");
    let held_of = |user: &str| -> String {
        let c = changes.iter().find(|c| c["user_id"] == user).unwrap_or_else(|| panic!("{user} held: {h}"));
        c["id"].as_str().unwrap().to_string()
    };
    // The held changes of users 10 to 29, in that order.
    let held_ids: Vec<String> = ids[10..30].iter().map(|id| held_of(id)).collect();

    // The dashboard says so on every page, and the navigation counts them.
    let counts = app.ok_json("nav_counts", json!({}), &cookie).await;
    assert_eq!(counts["held"], 20);

    // A held DELETE too: 204, the user is still there.
    let (s, _, _) = app.scim("DELETE", &t.id, &t.token, &format!("/Users/{}", ids[30]), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert!(is_active(&app, &t, &ids[30]).await);
    assert_eq!(held(&app, &cookie).await["total"], 21);

    // Apply five: their stored requests are replayed.
    let (s, body) = decide(&app, &cookie, "apply", &held_ids[..5]).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert!(body.as_str().unwrap_or_default().contains("Applied 5 changes"), "{body}");
    assert_eq!(inactive_count(&app, &t).await, 15);
    for id in &ids[10..15] {
        assert!(!is_active(&app, &t, id).await);
    }

    // The IdP changes its mind for one (it re-activates after fixing its scope): applying that
    // held change later does nothing, and says why.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let (s, _, _) = app
        .scim(
            "PATCH",
            &t.id,
            &t.token,
            &format!("/Users/{}", ids[15]),
            Some(
                json!({"schemas": [PATCH], "Operations": [{"op": "Replace", "path": "displayName", "value": "Back"}]}),
            ),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, body) = decide(&app, &cookie, "apply", &held_ids[5..6]).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert!(body.as_str().unwrap_or_default().contains("changed this user after the change was held"), "{body}");
    assert!(is_active(&app, &t, &ids[15]).await);

    // Nothing chosen, or a decision that does not exist: refused, nothing changes.
    let (s, body) = decide(&app, &cookie, "apply", &[]).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    let (s, _) = decide(&app, &cookie, "explode", &held_ids[6..7]).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // Another organization's admin cannot touch them.
    let (_, other) = organization(&app, "Other").await;
    let (s, body) = decide(&app, &other, "apply", &held_ids[6..]).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert!(body.as_str().unwrap_or_default().contains("Applied 0 changes"), "{body}");
    assert_eq!(held(&app, &cookie).await["total"], 15);

    // Discard the rest: those users stay active, and the deletion is dropped.
    let (s, body) = decide(&app, &cookie, "discard_all", &[]).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert!(body.as_str().unwrap_or_default().contains("Discarded 15 changes"), "{body}");
    assert!(body.as_str().unwrap_or_default().contains("identity provider still considers them removed"));
    assert_eq!(held(&app, &cookie).await["total"], 0);
    assert_eq!(inactive_count(&app, &t).await, 15);
    for id in ids[15..31].iter() {
        assert!(is_active(&app, &t, id).await);
    }

    // The window is still full: the next deactivation is held again.
    let (s, _) = deactivate(&app, &t, &ids[50]).await;
    assert_eq!(s, StatusCode::OK);
    assert!(is_active(&app, &t, &ids[50]).await);
    assert_eq!(held(&app, &cookie).await["total"], 1);
    // The IdP repeating a held request holds it once.
    deactivate(&app, &t, &ids[50]).await;
    assert_eq!(held(&app, &cookie).await["total"], 1);

    // Everything is in the activity log.
    let tenant = TenantId::parse(&t.id).unwrap();
    let log = app.activity(&tenant, 500).await;
    let count = |needle: &str| log.iter().filter(|a| a.summary.contains(needle)).count();
    // (The IdP's repeat is a second request, so a second record.)
    assert_eq!(count("held the deactivation of"), 22);
    assert_eq!(count("held the deletion of"), 1);
    assert_eq!(count("applied the held deactivation"), 5);
    assert_eq!(count("discarded the held"), 15);
    assert_eq!(count("could not apply the held deactivation"), 1);
    assert_eq!(count("(held by the deprovisioning brake)"), 23, "the SCIM requests' records say it too");
}

async fn the_brake_counts_active_users_only_and_can_be_switched_off(db: Db) {
    let app = TestApp::new(db).await;
    let (t, cookie) = organization(&app, "Switch").await;
    let ids = users(&app, &t, 40, "s").await;
    // Deleting users already inactive takes nobody's access: not counted.
    for id in &ids[..10] {
        assert_eq!(deactivate(&app, &t, id).await.0, StatusCode::OK);
    }
    for id in &ids[..10] {
        let (s, _, _) = app.scim("DELETE", &t.id, &t.token, &format!("/Users/{id}"), None).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (s, _, _) = app.scim("GET", &t.id, &t.token, &format!("/Users/{id}"), None).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "deleted, not held");
    }
    assert_eq!(held(&app, &cookie).await["total"], 0);

    // Bad settings are refused in words and change nothing.
    let save = |fields: Vec<(&'static str, &'static str)>| {
        let (app, cookie) = (&app, &cookie);
        async move {
            let res = app.call("form/safety_save", &fields, Some(cookie)).await;
            let s = res.status();
            (s, body_text(res).await)
        }
    };
    let (s, body) = save(vec![
        ("brake_percent", "0"),
        ("brake_min_users", "10"),
        ("brake_window_minutes", "60"),
        ("delete_policy", "delete"),
        ("soft_delete_days", "30"),
    ])
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("between 1 and 100 percent"), "{body}");
    let settings = app.ok_json("safety_settings", json!({}), &cookie).await;
    assert_eq!(settings["brake_enabled"], true);

    // Settings are cached per instance (every deprovisioning write reads them): another
    // instance that cached them hears of the change below (PostgreSQL NOTIFY).
    let tenant = TenantId::parse(&t.id).unwrap();
    let other = app.second_instance().await;
    let postgres = app.db.url.starts_with("postgres");
    let instances: &[&TestApp] = if postgres { &[&app, &other] } else { &[&app] };
    for instance in instances {
        let mut tx = instance.store.tenant(&tenant).begin().await.unwrap();
        assert!(tx.safety_settings().await.unwrap().brake_enabled);
        drop(tx);
        assert!(instance.store.tenant_cache().safety_cached(&t.id));
    }

    // Switched off: a burst goes through.
    let (s, body) = save(vec![
        ("brake_percent", "10"),
        ("brake_min_users", "10"),
        ("brake_window_minutes", "60"),
        ("delete_policy", "delete"),
        ("soft_delete_days", "30"),
    ])
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(app.ok_json("safety_settings", json!({}), &cookie).await["brake_enabled"], false);
    assert!(!app.store.tenant_cache().safety_cached(&t.id), "dropped here at once");
    if postgres {
        for _ in 0..500 {
            if !other.store.tenant_cache().safety_cached(&t.id) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(!other.store.tenant_cache().safety_cached(&t.id), "dropped by the notification");
    }
    // Half of the burst through the other instance on PostgreSQL.
    for (i, id) in ids[10..40].iter().enumerate() {
        let instance = if postgres && i % 2 == 1 { &other } else { &app };
        assert_eq!(deactivate(instance, &t, id).await.0, StatusCode::OK);
    }
    assert_eq!(inactive_count(&app, &t).await, 30);
    assert_eq!(held(&app, &cookie).await["total"], 0);
    let log = app.activity(&tenant, 500).await;
    assert!(log.iter().any(|a| a.summary.contains("changed provisioning safety: brake off")));
}

async fn soft_deleted_users_are_gone_for_scim_and_restorable(db: Db) {
    let app = TestApp::new(db).await;
    let (t, cookie) = organization(&app, "Soft").await;
    app.soft_delete_policy(&cookie).await;
    let group = app
        .ok_json(
            "user_group_create",
            json!({"input": {"name": "Engineering", "description": "", "role": "member"}}),
            &cookie,
        )
        .await;
    let group_id = group["id"].as_str().unwrap().to_string();
    let ada = app.create_user(&t, "ada@soft.test").await;
    app.ok_json("user_group_assign", json!({"group_id": group_id, "user_ids": [ada]}), &cookie).await;
    let (_, _, g) = app
        .scim("POST", &t.id, &t.token, "/Groups", Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Staff", "members": [{"value": ada}]})))
        .await;
    let scim_group = g["id"].as_str().unwrap().to_string();

    // Gone for SCIM: 404, not found by userName, the userName is free.
    let (s, _, _) = app.scim("DELETE", &t.id, &t.token, &format!("/Users/{ada}"), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _, _) = app.scim("GET", &t.id, &t.token, &format!("/Users/{ada}"), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, _, found) =
        app.scim("GET", &t.id, &t.token, "/Users?filter=userName%20eq%20%22ada%40soft.test%22", None).await;
    assert_eq!(found["totalResults"], 0);
    let deleted = app.ok_json("deleted_users", json!({}), &cookie).await;
    assert_eq!(deleted.as_array().unwrap().len(), 1);
    assert_eq!(deleted[0]["id"], ada.as_str());
    let again = app.create_user(&t, "ada@soft.test").await;
    assert_ne!(again, ada);

    // Restoring while the IdP has another user with the userName is refused in words.
    let res = app.call("form/deleted_restore", &[("id", &ada)], Some(&cookie)).await;
    let status = res.status();
    let body = body_text(res).await;
    assert!(status.is_client_error(), "{status} {body}");
    assert!(body.contains("ada@soft.test"), "{body}");
    assert_eq!(app.ok_json("deleted_users", json!({}), &cookie).await.as_array().unwrap().len(), 1, "still kept");

    // Once that one is deleted too, the first comes back whole: id, user group, SCIM group.
    let (s, _, _) = app.scim("DELETE", &t.id, &t.token, &format!("/Users/{again}"), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let res = app.call("form/deleted_restore", &[("id", &ada)], Some(&cookie)).await;
    assert_eq!(res.status(), StatusCode::OK, "{}", body_text(res).await);
    let (s, _, user) = app.scim("GET", &t.id, &t.token, &format!("/Users/{ada}"), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(user["userName"], "ada@soft.test");
    assert!(user["groups"].as_array().unwrap().iter().any(|g| g["value"] == scim_group.as_str()), "{user}");
    let detail = app.ok_json("user", json!({"id": ada}), &cookie).await;
    assert!(detail.to_string().contains("Engineering"), "{detail}");
    // Another organization cannot restore or see them.
    let (_, other) = organization(&app, "Elsewhere").await;
    assert_eq!(app.ok_json("deleted_users", json!({}), &other).await, json!([]));
    let res = app.call("form/deleted_restore", &[("id", &again)], Some(&other)).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(body_text(res).await.contains("no longer exists"));
    assert_eq!(app.ok_json("deleted_users", json!({}), &cookie).await.as_array().unwrap().len(), 1);

    // Past its retention the kept user is purged by the maintenance.
    let later = roster_shared::clock::now_ms() + 31 * 86_400_000;
    let purged = app.store.purge_safety(later, 0, 1000).await.expect("purge");
    assert!(purged >= 1);
    assert_eq!(app.ok_json("deleted_users", json!({}), &cookie).await, json!([]));
    let tenant = TenantId::parse(&t.id).unwrap();
    let log = app.activity(&tenant, 500).await;
    assert!(log.iter().any(|a| a.summary == "restored ada@soft.test (deleted by the identity provider)"));
}

/// 30 deactivations at once, through two instances of one database: the brake's count and the
/// writes are serialized per tenant, so exactly the limit goes through.
async fn concurrent_deprovisioning_on_two_instances_never_passes_the_limit(db: Db) {
    let app = TestApp::new(db).await;
    let other = app.second_instance().await;
    let (t, cookie) = organization(&app, "Race").await;
    let ids = users(&app, &t, 100, "r").await;
    let answers = futures_util::future::join_all(ids[..30].iter().enumerate().map(|(i, id)| {
        let instance = if i % 2 == 0 { &app } else { &other };
        let t = &t;
        async move { deactivate(instance, t, id).await.0 }
    }))
    .await;
    assert!(answers.iter().all(|s| *s == StatusCode::OK), "{answers:?}");
    assert_eq!(inactive_count(&app, &t).await, 10);
    assert_eq!(held(&app, &cookie).await["total"], 20);
    // Over the limit, held writes do not wait for each other: the IdP repeating one user's
    // deactivation at once on both instances still leaves that user one held change.
    let repeats = futures_util::future::join_all((0..10).map(|i| {
        let instance = if i % 2 == 0 { &app } else { &other };
        let t = &t;
        let id = &ids[50];
        async move { deactivate(instance, t, id).await.0 }
    }))
    .await;
    assert!(repeats.iter().all(|s| *s == StatusCode::OK), "{repeats:?}");
    assert!(is_active(&app, &t, &ids[50]).await);
    assert_eq!(inactive_count(&app, &t).await, 10);
    let h = held(&app, &cookie).await;
    assert_eq!(h["total"], 21, "{h}");
    let of_user = h["changes"].as_array().unwrap().iter().filter(|c| c["user_id"] == ids[50].as_str()).count();
    assert_eq!(of_user, 1, "{h}");
}

async fn manual(app: &TestApp, cookie: &str, user_name: &str, email: &str) -> String {
    let input = json!({"user_name": user_name, "given_name": "", "family_name": "", "email": email, "external_id": "", "active": true});
    app.ok_json("user_create", json!({"input": input}), cookie).await.as_str().expect("id").to_string()
}

async fn scim_create(app: &TestApp, t: &ScimTenant, user_name: &str, email: Option<&str>) -> (StatusCode, Value) {
    let mut body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": user_name, "active": true, "externalId": format!("ext-{user_name}")});
    if let Some(e) = email {
        body["emails"] = json!([{"value": e, "type": "work", "primary": true}]);
    }
    let (s, _, b) = app.scim("POST", &t.id, &t.token, "/Users", Some(body)).await;
    (s, b)
}

async fn marked_manual_users_are_adopted_by_the_idps_create(db: Db) {
    let app = TestApp::new(db).await;
    let (t, cookie) = organization(&app, "Adopt").await;
    let ada = manual(&app, &cookie, "ada@adopt.test", "ada@adopt.test").await;
    let dan = manual(&app, &cookie, "dan", "dan@adopt.test").await;
    let bob = manual(&app, &cookie, "bob", "shared@adopt.test").await;
    manual(&app, &cookie, "bob2", "shared@adopt.test").await;
    let carl = manual(&app, &cookie, "carl", "carl@adopt.test").await;
    manual(&app, &cookie, "erin@adopt.test", "").await;
    // The IdP already provisioned Carl separately.
    assert_eq!(scim_create(&app, &t, "carl@adopt.test", None).await.0, StatusCode::CREATED);
    let group = app
        .ok_json("user_group_create", json!({"input": {"name": "Staff", "description": "", "role": "member"}}), &cookie)
        .await;
    app.ok_json("user_group_assign", json!({"group_id": group["id"], "user_ids": [ada]}), &cookie).await;

    // Unmarked, a clash is refused as before.
    let (s, body) = scim_create(&app, &t, "ada@adopt.test", None).await;
    assert_eq!((s, body["scimType"].as_str()), (StatusCode::CONFLICT, Some("uniqueness")), "{body}");

    // The view by userName lists everyone, and the IdP's refused create.
    let view = app.ok_json("adoption", json!({"by": "user_name"}), &cookie).await;
    let row = |v: &Value, name: &str| {
        v["candidates"].as_array().unwrap().iter().find(|c| c["user_name"] == name).cloned().unwrap()
    };
    assert_eq!(row(&view, "ada@adopt.test")["status"], "Ready");
    assert!(row(&view, "ada@adopt.test")["idp_tried_at_ms"].is_i64(), "{view}");
    // By email: the two Bobs cannot be told apart, Carl is already provisioned, Erin has none.
    let view = app.ok_json("adoption", json!({"by": "email"}), &cookie).await;
    assert_eq!(row(&view, "bob")["status"], json!({"Duplicate": "bob2"}));
    assert_eq!(row(&view, "carl")["status"], json!({"Provisioned": "carl@adopt.test"}));
    assert_eq!(row(&view, "erin@adopt.test")["status"], "NoKey");
    assert_eq!(row(&view, "dan")["status"], "Ready");

    // Mark Ada by userName and Dan by email (ticking Bob and Carl too changes nothing for them).
    let res = app.call("form/adopt_mark", &[("by", "user_name"), ("ids[]", &ada)], Some(&cookie)).await;
    assert_eq!(body_text(res).await, "1");
    let res = app
        .call("form/adopt_mark", &[("by", "email"), ("ids[]", &dan), ("ids[]", &bob), ("ids[]", &carl)], Some(&cookie))
        .await;
    assert_eq!(body_text(res).await, "1");
    let res = app.call("form/adopt_set", &[("user_id", &bob), ("by", "email")], Some(&cookie)).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(body_text(res).await.contains("bob2 has the same email"));
    let detail = app.ok_json("user", json!({"id": dan}), &cookie).await;
    assert_eq!(detail["adopt"], json!(["Email", "dan@adopt.test"]));
    // Another organization's admin cannot mark them.
    let (_, other) = organization(&app, "Stranger").await;
    let res = app.call("form/adopt_set", &[("user_id", &ada), ("by", "user_name")], Some(&other)).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);

    // The IdP's create adopts Ada: 201, her id, her user group kept, now from the IdP.
    let (s, body) = scim_create(&app, &t, "ada@adopt.test", Some("ada@adopt.test")).await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    assert_eq!(body["id"], ada.as_str());
    assert_eq!(body["externalId"], "ext-ada@adopt.test");
    let detail = app.ok_json("user", json!({"id": ada}), &cookie).await;
    assert_eq!(detail["user"]["source"], "scim");
    assert!(detail["user_groups"].to_string().contains("Staff"), "{detail}");
    assert_eq!(detail["adopt"], Value::Null);
    let (s, _, got) = app.scim("GET", &t.id, &t.token, &format!("/Users/{ada}"), None).await;
    assert_eq!((s, got["userName"].as_str()), (StatusCode::OK, Some("ada@adopt.test")));
    // Dan is adopted by his email as the IdP's userName (Okta, Entra ID's UPN): renamed.
    let (s, body) = scim_create(&app, &t, "dan@adopt.test", None).await;
    assert_eq!((s, body["id"].as_str()), (StatusCode::CREATED, Some(dan.as_str())), "{body}");
    assert_eq!(body["userName"], "dan@adopt.test");
    // Erin was not marked: still refused.
    assert_eq!(scim_create(&app, &t, "erin@adopt.test", None).await.0, StatusCode::CONFLICT);

    let tenant = TenantId::parse(&t.id).unwrap();
    let log = app.activity(&tenant, 500).await;
    assert!(log.iter().any(|a| a.summary.contains("the identity provider adopted manual user ada@adopt.test")));
    assert!(log.iter().any(|a| a
        .summary
        .contains("marked manual user dan adoptable by the identity provider (by email dan@adopt.test)")));
}

async fn scim_user_in(app: &TestApp, t: &ScimTenant, user_name: &str, department: &str) -> String {
    let (s, _, body) = app
        .scim(
            "POST",
            &t.id,
            &t.token,
            "/Users",
            Some(json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
                "userName": user_name,
                "active": true,
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": department}
            })),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    body["id"].as_str().unwrap().to_string()
}

async fn seats(app: &TestApp, cookie: &str, group: &Value, limit: &str) -> (StatusCode, String) {
    let res = app
        .call("form/user_group_seats", &[("group_id", group.as_str().unwrap()), ("seat_limit", limit)], Some(cookie))
        .await;
    let s = res.status();
    (s, body_text(res).await)
}

async fn groups_of(app: &TestApp, cookie: &str, user: &str) -> Vec<String> {
    let detail = app.ok_json("user", json!({"id": user}), cookie).await;
    let mut names: Vec<String> = detail["user_groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["group_name"].as_str().unwrap_or_default().to_string())
        .collect();
    names.sort();
    names.dedup();
    names
}

async fn seat_limits_refuse_placements_beyond_them_from_every_source(db: Db) {
    let app = TestApp::new(db).await;
    let (t, cookie) = organization(&app, "Seats").await;
    let create = |name: &'static str| {
        let (app, cookie) = (&app, &cookie);
        async move {
            app.ok_json(
                "user_group_create",
                json!({"input": {"name": name, "description": "", "role": "member"}}),
                cookie,
            )
            .await["id"]
                .clone()
        }
    };
    let licensed = create("Licensed").await;
    let eng = create("Engineering").await;
    let everyone = create("Everyone").await;
    assert_eq!(seats(&app, &cookie, &licensed, "0").await.0, StatusCode::BAD_REQUEST);
    assert_eq!(seats(&app, &cookie, &licensed, "lots").await.0, StatusCode::BAD_REQUEST);
    assert_eq!(seats(&app, &cookie, &licensed, "2").await.0, StatusCode::OK);
    let u: Vec<String> = {
        let mut v = Vec::new();
        for i in 0..3 {
            v.push(scim_user_in(&app, &t, &format!("admin{i}@seats.test"), "Sales").await);
        }
        v
    };

    // An admin: three into two seats is refused whole, in words; two fit; a third is refused.
    let (s, body) =
        app.call_json("user_group_assign", json!({"group_id": licensed, "user_ids": u}), Some(&cookie)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(body.to_string().contains("has a seat limit of 2"), "{body}");
    assert!(groups_of(&app, &cookie, &u[0]).await.is_empty());
    app.ok_json("user_group_assign", json!({"group_id": licensed, "user_ids": [u[0], u[1]]}), &cookie).await;
    let (s, _) =
        app.call_json("user_group_assign", json!({"group_id": licensed, "user_ids": [u[2]]}), Some(&cookie)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let detail = app.ok_json("user", json!({"id": u[2]}), &cookie).await;
    assert_eq!(detail["refused"][0][1], "Licensed", "{detail}");
    assert_eq!(detail["refused"][0][2], "seat limit of Licensed reached (2 users)");
    // Once placed, the reason goes away.
    let detail = app.ok_json("user", json!({"id": u[0]}), &cookie).await;
    assert_eq!(detail["refused"], json!([]), "{detail}");
    let list = app.ok_json("user_groups", json!({}), &cookie).await;
    let row = list.as_array().unwrap().iter().find(|g| g["name"] == "Licensed").unwrap().clone();
    assert_eq!((row["member_count"].as_i64(), row["seat_limit"].as_i64()), (Some(2), Some(2)));

    // A rule: Engineering has 2 seats; three engineers arrive, the third stays out.
    assert_eq!(seats(&app, &cookie, &eng, "2").await.0, StatusCode::OK);
    app.ok_json(
        "mapping_rule_create",
        json!({"rule": {"id": "", "condition": {"kind": "attribute", "filter": "department eq \"Engineering\""}, "user_group_id": eng, "enabled": true}}),
        &cookie,
    )
    .await;
    app.wait_for_mapping_run(&cookie).await;
    let e: Vec<String> = {
        let mut v = Vec::new();
        for i in 0..3 {
            v.push(scim_user_in(&app, &t, &format!("eng{i}@seats.test"), "Engineering").await);
        }
        v
    };
    assert_eq!(groups_of(&app, &cookie, &e[0]).await, ["Engineering"]);
    assert_eq!(groups_of(&app, &cookie, &e[1]).await, ["Engineering"]);
    assert!(groups_of(&app, &cookie, &e[2]).await.is_empty());
    let detail = app.ok_json("user", json!({"id": e[2]}), &cookie).await;
    assert_eq!(detail["refused"][0][2], "seat limit of Engineering reached (2 users)");
    // One leaves Engineering (their department changes): the next placement finds a free seat.
    let (s, _, _) = app
        .scim(
            "PATCH",
            &t.id,
            &t.token,
            &format!("/Users/{}", e[0]),
            Some(json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "Sales"}]})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(groups_of(&app, &cookie, &e[0]).await.is_empty());
    // Raising the limit evaluates the tenant again: the one kept out comes in.
    assert_eq!(seats(&app, &cookie, &eng, "5").await.0, StatusCode::OK);
    app.wait_for_mapping_run(&cookie).await;
    assert_eq!(groups_of(&app, &cookie, &e[2]).await, ["Engineering"]);
    assert_eq!(app.ok_json("user", json!({"id": e[2]}), &cookie).await["refused"], json!([]));

    // The default group: one seat, so the next new user stays unassigned.
    assert_eq!(seats(&app, &cookie, &everyone, "1").await.0, StatusCode::OK);
    app.ok_json("user_group_default", json!({"id": everyone}), &cookie).await;
    app.wait_for_mapping_run(&cookie).await;
    let members = app.ok_json("user_groups", json!({}), &cookie).await;
    let row = members.as_array().unwrap().iter().find(|g| g["name"] == "Everyone").unwrap().clone();
    assert_eq!(row["member_count"], 1, "{row}");
    let late = scim_user_in(&app, &t, "late@seats.test", "Sales").await;
    assert!(groups_of(&app, &cookie, &late).await.is_empty());
    let detail = app.ok_json("user", json!({"id": late}), &cookie).await;
    assert_eq!(detail["refused"][0][2], "seat limit of Everyone reached (1 user)");

    let tenant = TenantId::parse(&t.id).unwrap();
    let log = app.activity(&tenant, 1000).await;
    assert!(log.iter().any(|a| a.summary == "not placed: seat limit of Engineering reached (2 users)"));
    assert!(log.iter().any(|a| a.summary.starts_with("not assigned to user group \"Licensed\"")));
    assert!(log.iter().any(|a| a.summary == "set the seat limit of user group \"Engineering\" to 5"));
}

/// The summary of the activity record of the tests' holds (see [`test_hold_record`]).
const TEST_HOLD: &str = "held the deactivation of a user (a test)";

/// A held deactivation of `user` with the id `id`, decided on the version `user` has.
fn test_hold<'a>(id: &'a str, user: &'a roster_shared::store::UserRow) -> roster_shared::store::NewHeld<'a> {
    roster_shared::store::NewHeld {
        id,
        user_id: &user.id,
        user_name: &user.user_name,
        kind: roster_shared::dto::HeldKind::Deactivate,
        method: "PATCH",
        body: Some("{}"),
        credential_id: None,
        version: user.read_version(),
    }
}

/// The brake's activity record of a test's hold of `user`.
fn test_hold_record(user: &roster_shared::store::UserRow) -> roster_shared::store::NewActivity {
    let actor = roster_shared::service::activity::Actor { kind: "system", name: "deprovisioning brake".into() };
    roster_shared::service::activity::action(&actor, "User", Some(&user.id), TEST_HOLD, 1)
}

/// How many activity records of the tests' holds the tenant has.
async fn test_hold_records(store: &roster_shared::store::TenantStore<'_>) -> usize {
    let rows = store.recent_activity(100).await.expect("activity");
    rows.iter().filter(|r| r.summary == TEST_HOLD).count()
}

/// The storm's hold in one statement (PostgreSQL; SQLite decides in the write's transaction):
/// below the limit it writes nothing (neither the held change nor its record) and says so, so
/// that the write's transaction decides; at the limit it holds, with the record, and says
/// whether the hold began.
async fn a_hold_in_one_statement_writes_only_over_the_limit(db: Db) {
    let app = TestApp::new(db).await;
    let (t, cookie) = organization(&app, "Statement").await;
    let ids = users(&app, &t, 2, "s").await;
    // The user is in Team directly and in Org through Team: the hold reads both for its answer.
    let group = |name: &'static str, member: String| {
        let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name, "members": [{"value": member}]});
        let (app, t) = (&app, &t);
        async move {
            let (s, _, body) = app.scim("POST", &t.id, &t.token, "/Groups", Some(body)).await;
            assert_eq!(s, StatusCode::CREATED, "{body}");
            body["id"].as_str().expect("group id").to_string()
        }
    };
    let team = group("Team", ids[0].clone()).await;
    let org = group("Org", team.clone()).await;
    let tenant = TenantId::parse(&t.id).expect("tenant id");
    let store = app.store.tenant(&tenant);
    let user = store.user(&ids[0]).await.expect("read").expect("user");
    let record = test_hold_record(&user);
    let held_change = |id: &'static str| test_hold(id, &user);
    let records = || test_hold_records(&store);
    // Nobody lost access yet: a limit of one is not reached.
    let below = store.hold_when_over(&held_change("h1"), 0, 1, &record, 1).await.expect("statement");
    assert_eq!(below, None);
    assert_eq!(held(&app, &cookie).await["total"], 0);
    assert_eq!(records().await, 0);
    let over = store.hold_when_over(&held_change("h2"), 0, 0, &record, 2).await.expect("statement");
    let again = store.hold_when_over(&held_change("h3"), 0, 0, &record, 3).await.expect("statement");
    if app.store.backend() == roster_shared::store::Backend::Postgres {
        let began = |r: &Option<(bool, Vec<roster_shared::store::UserGroupRow>)>| r.as_ref().map(|(b, _)| *b);
        assert_eq!((began(&over), began(&again)), (Some(true), Some(false)), "held, and the hold began with the first");
        for (_, groups) in [over, again].iter().flatten() {
            let got: Vec<_> = groups.iter().map(|g| (g.display.as_str(), g.group_id.as_str(), g.direct)).collect();
            assert_eq!(
                got,
                [("Org", org.as_str(), false), ("Team", team.as_str(), true)],
                "the user's groups, by name"
            );
        }
        let h = held(&app, &cookie).await;
        assert_eq!(h["total"], 1, "the user's held change replaced: {h}");
        // Asked for again (the same kind): the held change keeps its id and first time, and
        // takes the new request's time.
        assert_eq!(h["changes"][0]["id"], "h2", "{h}");
        assert_eq!(
            (h["changes"][0]["created_at_ms"].as_i64(), h["changes"][0]["asked_at_ms"].as_i64()),
            (Some(2), Some(3))
        );
        assert_eq!(records().await, 2);
        // A change of another kind is a new held change, with its own id.
        let delete = roster_shared::store::NewHeld {
            kind: roster_shared::dto::HeldKind::Delete,
            method: "DELETE",
            body: None,
            ..held_change("h4")
        };
        let other = store.hold_when_over(&delete, 0, 0, &record, 4).await.expect("statement");
        assert_eq!(other.as_ref().map(|(b, _)| *b), Some(false), "the hold went on");
        let h = held(&app, &cookie).await;
        assert_eq!(h["total"], 1, "{h}");
        assert_eq!(
            (
                &h["changes"][0]["id"],
                &h["changes"][0]["kind"],
                h["changes"][0]["created_at_ms"].as_i64(),
                h["changes"][0]["asked_at_ms"].as_i64()
            ),
            (&json!("h4"), &json!("Delete"), Some(4), Some(4)),
            "{h}"
        );
    } else {
        assert!(over.is_none() && again.is_none(), "SQLite decides in the write's transaction");
        assert_eq!(held(&app, &cookie).await["total"], 0);
        assert_eq!(records().await, 0);
    }
}

/// PATCH `id` as Entra ID deactivates, with a new displayName.
async fn deactivate_as(app: &TestApp, t: &ScimTenant, id: &str, name: &str) -> (StatusCode, Value) {
    let ops = json!([{"op": "Replace", "path": "active", "value": false}, {"op": "Replace", "path": "displayName", "value": name}]);
    let (s, _, body) = app
        .scim("PATCH", &t.id, &t.token, &format!("/Users/{id}"), Some(json!({"schemas": [PATCH], "Operations": ops})))
        .await;
    (s, body)
}

/// The held change of `user`, as the dashboard lists it.
async fn held_of(app: &TestApp, cookie: &str, user: &str) -> Option<Value> {
    let h = held(app, cookie).await;
    h["changes"].as_array().and_then(|c| c.iter().find(|c| c["user_id"] == user).cloned())
}

/// An IdP resending a held deactivation (Entra ID repeats its requests) replaces the held
/// request, keeps the held change (its id, the time it was first held: what an admin chose
/// stays chosen) and says when it was asked again; applying it replays the latest request, even
/// after the IdP wrote the user between the two. A change of another kind (a delete after a
/// deactivation) is a new held change: a decision taken on the old one finds nothing.
async fn a_held_change_asked_again_keeps_its_id_and_applies_the_latest_request(db: Db) {
    let app = TestApp::new(db).await;
    let (t, cookie) = organization(&app, "Again").await;
    let ids = users(&app, &t, 40, "a").await;
    // The default brake lets 10 through in the hour.
    for id in &ids[..10] {
        assert_eq!(deactivate(&app, &t, id).await.0, StatusCode::OK);
    }
    let pause = || tokio::time::sleep(std::time::Duration::from_millis(5));

    // Held, then asked again with a newer request.
    let x = &ids[10];
    assert_eq!(deactivate_as(&app, &t, x, "First").await.0, StatusCode::OK);
    let first = held_of(&app, &cookie, x).await.expect("held");
    assert_eq!(first["created_at_ms"], first["asked_at_ms"], "{first}");
    pause().await;
    let (s, body) = deactivate_as(&app, &t, x, "Second").await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["displayName"], "Second", "answered as the IdP asked: {body}");
    let again = held_of(&app, &cookie, x).await.expect("still held");
    assert_eq!(held(&app, &cookie).await["total"], 1);
    assert_eq!(again["id"], first["id"], "the same held change: {again}");
    assert_eq!(again["created_at_ms"], first["created_at_ms"], "held since the first request");
    assert!(again["asked_at_ms"].as_i64() > first["asked_at_ms"].as_i64(), "asked again later: {again}");
    assert!(is_active(&app, &t, x).await, "still held");

    // Held, the IdP writes the user (not a removal: it passes), then asks again: the latest
    // request is newer than the write, so it applies.
    let z = &ids[11];
    assert_eq!(deactivate_as(&app, &t, z, "Zed").await.0, StatusCode::OK);
    let held_z = held_of(&app, &cookie, z).await.expect("held");
    pause().await;
    let rename = json!({"schemas": [PATCH], "Operations": [{"op": "Replace", "path": "title", "value": "Moved"}]});
    let (s, _, body) = app.scim("PATCH", &t.id, &t.token, &format!("/Users/{z}"), Some(rename)).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    pause().await;
    assert_eq!(deactivate_as(&app, &t, z, "Zed again").await.0, StatusCode::OK);
    assert_eq!(held_of(&app, &cookie, z).await.expect("held")["id"], held_z["id"]);

    // A deactivation held, then the IdP deletes the user: a new held change replaces it.
    let y = &ids[12];
    assert_eq!(deactivate(&app, &t, y).await.0, StatusCode::OK);
    let deactivation = held_of(&app, &cookie, y).await.expect("held");
    let (s, _, _) = app.scim("DELETE", &t.id, &t.token, &format!("/Users/{y}"), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let deletion = held_of(&app, &cookie, y).await.expect("held");
    assert_eq!(deletion["kind"], "Delete", "{deletion}");
    assert_ne!(deletion["id"], deactivation["id"], "a new held change");
    assert_eq!(held(&app, &cookie).await["total"], 3);
    let id_of = |v: &Value| v["id"].as_str().expect("id").to_string();
    // Applying the deactivation an admin saw before the delete came in: nothing happens.
    let (s, body) = decide(&app, &cookie, "apply", &[id_of(&deactivation)]).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert!(body.as_str().unwrap_or_default().contains("Applied 0 changes"), "{body}");
    assert!(is_active(&app, &t, y).await);

    // Apply the rest: the latest requests are replayed.
    let (s, body) = decide(&app, &cookie, "apply", &[id_of(&again), id_of(&held_z), id_of(&deletion)]).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert!(body.as_str().unwrap_or_default().contains("Applied 3 changes"), "{body}");
    let (s, _, user) = app.scim("GET", &t.id, &t.token, &format!("/Users/{x}"), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!((&user["active"], &user["displayName"]), (&json!(false), &json!("Second")), "{user}");
    let (_, _, user) = app.scim("GET", &t.id, &t.token, &format!("/Users/{z}"), None).await;
    assert_eq!(
        (&user["active"], &user["displayName"], &user["title"]),
        (&json!(false), &json!("Zed again"), &json!("Moved")),
        "{user}"
    );
    let (s, _, _) = app.scim("GET", &t.id, &t.token, &format!("/Users/{y}"), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "deleted");
    assert_eq!(held(&app, &cookie).await["total"], 0);
}

/// A user deleted and restored starts its versions again (1, at the restore), so an instance's
/// copy from before the deletion may have the restored user's version number: a write from that
/// copy would put back what the user was before it (losing what the IdP wrote since). The write
/// replaces only the version it started from, number and time.
async fn a_restored_user_is_not_written_from_a_copy_read_before_the_deletion(db: Db) {
    let app = TestApp::new(db).await;
    let (t, cookie) = organization(&app, "Again").await;
    app.soft_delete_policy(&cookie).await;
    let other = app.second_instance().await;
    let ada = app.create_user(&t, "ada@again.test").await;
    let path = format!("/Users/{ada}");
    // This instance has version 1 (it created the user and reads them).
    let (s, _, user) = app.scim("GET", &t.id, &t.token, &path, None).await;
    assert_eq!((s, user["meta"]["version"].as_str()), (StatusCode::OK, Some("W/\"1\"")));
    // Elsewhere: a new title (version 2), a deletion, a restore (version 1 again, with the title).
    let (s, body) = other.patch_user(&t, &ada, json!([{"op": "replace", "path": "title", "value": "Engineer"}])).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (s, _, _) = other.scim("DELETE", &t.id, &t.token, &path, None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let res = other.call("form/deleted_restore", &[("id", &ada)], Some(&cookie)).await;
    assert_eq!(res.status(), StatusCode::OK, "{}", body_text(res).await);
    let (_, _, user) = other.scim("GET", &t.id, &t.token, &path, None).await;
    assert_eq!((user["title"].as_str(), user["meta"]["version"].as_str()), (Some("Engineer"), Some("W/\"1\"")));

    // Here: a PATCH of another attribute keeps the title.
    let (s, body) = app.patch_user(&t, &ada, json!([{"op": "replace", "path": "nickName", "value": "Ada"}])).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!((body["title"].as_str(), body["nickName"].as_str()), (Some("Engineer"), Some("Ada")), "{body}");
    let (_, _, user) = other.scim("GET", &t.id, &t.token, &path, None).await;
    assert_eq!((user["title"].as_str(), user["meta"]["version"].as_str()), (Some("Engineer"), Some("W/\"2\"")));
}

/// Whether a deactivation goes to the brake depends on the user being active: an instance whose
/// copy still says active, of a user another instance has deactivated since, must not hold the
/// IdP's repeated deactivation (nothing would be taken away), over the limit or not.
async fn the_brake_decides_on_the_stored_user_not_an_instances_copy(db: Db) {
    let app = TestApp::new(db).await;
    let (t, cookie) = organization(&app, "Stored").await;
    let other = app.second_instance().await;
    let mut ids = Vec::new();
    for i in 0..12 {
        ids.push(app.create_user(&t, &format!("u{i}@stored.test")).await);
    }
    // This instance has every user as active (it created them).
    // The other deactivates ten: the limit (ten, the minimum) is reached.
    for id in &ids[..10] {
        assert_eq!(deactivate(&other, &t, id).await.0, StatusCode::OK);
    }
    assert_eq!(inactive_count(&app, &t).await, 10);
    assert_eq!(held(&app, &cookie).await["total"], 0);

    // The IdP asks this instance again for one of them: done, nothing held.
    let (s, body) = deactivate(&app, &t, &ids[0]).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["active"], false, "{body}");
    assert_eq!(held(&app, &cookie).await["total"], 0, "an inactive user's deactivation is not held");
    // A user who is active is held (the brake is on).
    let (s, body) = deactivate(&app, &t, &ids[10]).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(held(&app, &cookie).await["total"], 1);
    assert!(is_active(&app, &t, &ids[10]).await);
}

/// A hold is decided on a copy of the user (an instance's, or the write's own read): it is made
/// only while the stored user is still at that version, in one statement or in the write's
/// transaction; else nothing is written (neither the held change nor its record) and the write
/// is told so, to read the user again.
async fn a_hold_is_made_only_while_the_user_is_at_the_version_it_was_decided_on(db: Db) {
    let app = TestApp::new(db).await;
    let (t, cookie) = organization(&app, "Versions").await;
    let ids = users(&app, &t, 1, "v").await;
    let tenant = TenantId::parse(&t.id).expect("tenant id");
    let store = app.store.tenant(&tenant);
    let read = store.user(&ids[0]).await.expect("read").expect("user");
    // Changed since that read: a new title.
    let (s, body) = app.patch_user(&t, &ids[0], json!([{"op": "replace", "path": "title", "value": "Chef"}])).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let now = store.user(&ids[0]).await.expect("read").expect("user");
    assert_ne!(now.read_version(), read.read_version());

    let record = test_hold_record(&read);
    let change = |user| test_hold("h1", user);
    let records = || test_hold_records(&store);
    // In one statement (PostgreSQL; SQLite leaves it to the transaction), over the limit.
    match store.hold_when_over(&change(&read), 0, 0, &record, 1).await {
        Err(roster_shared::error::DomainError::Stale) => assert!(app.store.backend() == Backend::Postgres),
        Ok(None) => assert!(app.store.backend() == Backend::Sqlite),
        other => panic!("a hold of an old version: {other:?}"),
    }
    assert_eq!((held(&app, &cookie).await["total"].as_u64(), records().await), (Some(0), 0));
    // In the write's transaction.
    let mut tx = store.begin().await.expect("begin");
    let got = tx.hold(&change(&read), 2).await;
    assert!(matches!(got, Err(roster_shared::error::DomainError::Stale)), "{got:?}");
    drop(tx);
    assert_eq!(held(&app, &cookie).await["total"], 0);
    // At the user's version it holds.
    let mut tx = store.begin().await.expect("begin");
    assert!(tx.hold(&change(&now), 3).await.expect("held"), "the hold began");
    tx.commit().await.expect("commit");
    assert_eq!(held(&app, &cookie).await["total"], 1);
    if app.store.backend() == Backend::Postgres {
        let again = store.hold_when_over(&change(&now), 0, 0, &record, 4).await.expect("statement");
        assert_eq!(again.map(|(began, _)| began), Some(false), "held again, the hold went on");
        assert_eq!((held(&app, &cookie).await["total"].as_u64(), records().await), (Some(1), 1));
    }
}
