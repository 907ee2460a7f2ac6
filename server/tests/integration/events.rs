//! Events, the read API and webhooks: every change emits exactly its events, in order, with
//! none on rollback; API keys read one organization; webhooks arrive signed, in order, once per
//! endpoint across instances, after failures and after a crash.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use http::{Request, StatusCode};
use roster_shared::dto::{GroupRole, UserGroupInput};
use roster_shared::ids::TenantId;
use roster_shared::service::activity::Actor;
use roster_shared::service::{api_keys, user_groups, webhooks};
use serde_json::{json, Value};

use crate::both_backends;
use crate::common::*;

both_backends!(
    every_change_emits_exactly_its_events_in_order,
    a_rolled_back_write_has_no_events_and_a_committed_one_all,
    api_keys_read_their_own_organization_only,
    webhooks_arrive_signed_in_order_and_survive_failures,
    an_endpoint_failing_for_the_give_up_time_stops_until_retried,
    two_instances_deliver_each_event_once_in_order,
    a_killed_instance_loses_no_delivery,
    endpoints_get_only_their_types_test_events_and_resends,
    webhook_urls_to_private_addresses_are_refused,
    an_initial_sync_waits_for_a_dead_endpoint_and_arrives_in_full,
    an_expiring_credential_is_announced_once,
    concurrent_writes_on_two_instances_are_numbered_without_gaps_in_causal_order,
);

crate::postgres_only!(
    the_sequencer_reads_pending_events_by_index_in_every_plan,
    the_sequencer_vacuums_the_events_it_took,
    placement_reads_find_the_users_rows_on_stale_statistics,
);

const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

fn admin() -> Actor {
    Actor::admin("admin@events.test")
}

fn tenant_of(t: &ScimTenant) -> TenantId {
    TenantId::parse(&t.id).expect("tenant id")
}

async fn api_key(app: &TestApp, t: &ScimTenant) -> String {
    api_keys::create(&app.store, &tenant_of(t), &admin(), "test app").await.expect("key").1
}

/// `GET path` on the read API with `key`.
async fn api(app: &TestApp, key: Option<&str>, path: &str) -> (StatusCode, Value) {
    let mut req = Request::get(path);
    if let Some(k) = key {
        req = req.header("authorization", format!("Bearer {k}"));
    }
    let res = app.send(req.body(Body::empty()).unwrap()).await;
    let status = res.status();
    let text = body_text(res).await;
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// Every event of the organization, following the cursor.
async fn all_events(app: &TestApp, key: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut path = "/api/v1/events?limit=7".to_string();
    loop {
        let (s, page) = api(app, Some(key), &path).await;
        assert_eq!(s, StatusCode::OK, "{page}");
        out.extend(page["data"].as_array().expect("data").iter().cloned());
        if !page["has_more"].as_bool().expect("has_more") {
            return out;
        }
        path = format!("/api/v1/events?limit=7&after={}", page["next_cursor"].as_str().expect("cursor"));
    }
}

fn types(events: &[Value]) -> Vec<String> {
    events.iter().map(|e| e["type"].as_str().unwrap_or_default().to_string()).collect()
}

async fn patch_user(app: &TestApp, t: &ScimTenant, id: &str, ops: Value) {
    let (s, body) = app.patch_user(t, id, ops).await;
    assert_eq!(s, StatusCode::OK, "{body}");
}

async fn every_change_emits_exactly_its_events_in_order(db: Db) {
    let app = TestApp::new(db).await;
    let t = app.scim_tenant("Events").await;
    let key = api_key(&app, &t).await;
    let tenant = tenant_of(&t);

    let alice = app.create_user(&t, "alice@events.test").await;
    patch_user(&app, &t, &alice, json!([{"op": "add", "path": "title", "value": "Engineer"}])).await;
    // The same value again changes nothing: no event.
    patch_user(&app, &t, &alice, json!([{"op": "replace", "path": "title", "value": "Engineer"}])).await;
    patch_user(&app, &t, &alice, json!([{"op": "replace", "path": "active", "value": false}])).await;
    patch_user(&app, &t, &alice, json!([{"op": "replace", "path": "active", "value": true}])).await;
    // A refused write (the userName is taken) emits nothing.
    let (s, _, _) = app
        .scim("POST", &t.id, &t.token, "/Users", Some(json!({"schemas": [USER], "userName": "alice@events.test"})))
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, _, group) = app
        .scim(
            "POST",
            &t.id,
            &t.token,
            "/Groups",
            Some(json!({"schemas": [GROUP], "displayName": "Engineering", "members": [{"value": alice}]})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{group}");
    let group_id = group["id"].as_str().expect("id").to_string();
    let group_patch = |ops: Value| {
        let path = format!("/Groups/{group_id}");
        let app = &app;
        let t = &t;
        async move {
            let (s, _, body) =
                app.scim("PATCH", &t.id, &t.token, &path, Some(json!({"schemas": [PATCH], "Operations": ops}))).await;
            assert!(s.is_success(), "{body}");
        }
    };
    // Removing a member who is not there changes nothing.
    group_patch(json!([{"op": "remove", "path": "members[value eq \"nobody\"]"}])).await;
    group_patch(json!([{"op": "remove", "path": format!("members[value eq \"{alice}\"]")}])).await;
    group_patch(json!([{"op": "replace", "path": "displayName", "value": "Eng"}])).await;
    let (s, _, _) = app.scim("DELETE", &t.id, &t.token, &format!("/Groups/{group_id}"), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);

    let input = UserGroupInput { name: "Admins".into(), description: String::new(), role: GroupRole::Admin };
    let admins = user_groups::create(&app.store, &tenant, &admin(), &input).await.expect("user group");
    user_groups::assign(&app.store, &tenant, &admin(), &admins.id, std::slice::from_ref(&alice)).await.expect("assign");
    // Assigning again changes nothing.
    user_groups::assign(&app.store, &tenant, &admin(), &admins.id, std::slice::from_ref(&alice)).await.expect("assign");
    user_groups::unassign(&app.store, &tenant, &admin(), &admins.id, std::slice::from_ref(&alice))
        .await
        .expect("unassign");
    let (s, _, _) = app.scim("DELETE", &t.id, &t.token, &format!("/Users/{alice}"), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);

    let events = all_events(&app, &key).await;
    assert_eq!(
        types(&events),
        [
            "user.created",
            "user.updated",
            "user.deactivated",
            "user.reactivated",
            "group.created",
            "group.member_added",
            "group.member_removed",
            "group.updated",
            "group.deleted",
            "user_group.member_added",
            "user.role_changed",
            "user_group.member_removed",
            "user.role_changed",
            "user.deleted",
        ]
    );
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e["seq"], json!(i as i64 + 1), "{e}");
        assert_eq!(e["tenant"], json!(t.id));
        assert!(e["id"].as_str().is_some_and(|id| id.starts_with("evt_")), "{e}");
        assert!(e["created_at"].as_str().is_some_and(|c| c.ends_with('Z')), "{e}");
    }
    let created = &events[0];
    assert_eq!(created["data"]["user"]["id"], json!(alice));
    assert_eq!(created["data"]["user"]["userName"], json!("alice@events.test"));
    assert_eq!(created["cause"]["kind"], json!("scim"));
    assert!(created["cause"]["request_id"].as_str().is_some_and(|r| !r.is_empty()), "{created}");
    assert_eq!(events[1]["data"]["changed"], json!(["title"]));
    assert_eq!(events[1]["data"]["user"]["title"], json!("Engineer"));
    assert_eq!(events[2]["data"]["user"]["active"], json!(false));
    assert_eq!(events[5]["data"]["member"]["id"], json!(alice));
    assert_eq!(events[7]["data"]["group"]["displayName"], json!("Eng"));
    let added = &events[9];
    assert_eq!(added["data"]["user_group"]["name"], json!("Admins"));
    assert_eq!(added["data"]["reason"], json!("admin"));
    assert_eq!(added["cause"], json!({"kind": "admin", "actor": "admin@events.test"}));
    assert_eq!(events[10]["data"]["role"], json!("admin"));
    assert_eq!(events[10]["data"]["previous_role"], Value::Null);
    assert_eq!(events[12]["data"]["role"], Value::Null);

    // A type filter, and a cursor at the end that stays put until something happens.
    let (s, page) = api(&app, Some(&key), "/api/v1/events?types=user.deleted,user.created").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(types(page["data"].as_array().unwrap()), ["user.created", "user.deleted"]);
    let cursor = page["next_cursor"].as_str().unwrap().to_string();
    let (_, page) = api(&app, Some(&key), &format!("/api/v1/events?after={cursor}")).await;
    assert_eq!(page["data"], json!([]));
    assert_eq!(page["next_cursor"], json!(cursor));
    app.create_user(&t, "bob@events.test").await;
    let (_, page) = api(&app, Some(&key), &format!("/api/v1/events?after={cursor}")).await;
    assert_eq!(types(page["data"].as_array().unwrap()), ["user.created"]);
    assert_eq!(page["data"][0]["seq"], json!(15));
    let bob = page["data"][0]["data"]["user"]["id"].clone();
    // The default role is the role of users in no user group: theirs changes with it.
    user_groups::set_default_role(&app.store, &tenant, &admin(), Some(GroupRole::Viewer)).await.expect("default role");
    user_groups::set_default_role(&app.store, &tenant, &admin(), Some(GroupRole::Viewer)).await.expect("same again");
    let (_, page) =
        api(&app, Some(&key), &format!("/api/v1/events?after={}", page["next_cursor"].as_str().unwrap())).await;
    assert_eq!(types(page["data"].as_array().unwrap()), ["user.role_changed"]);
    assert_eq!(page["data"][0]["data"], json!({"user": {"id": bob}, "role": "viewer", "previous_role": null}));
}

async fn a_rolled_back_write_has_no_events_and_a_committed_one_all(db: Db) {
    let app = TestApp::new(db).await;
    let t = app.scim_tenant("Outbox").await;
    let key = api_key(&app, &t).await;
    let tenant = tenant_of(&t);
    let event = |kind: &str| roster_shared::store::NewEvent {
        id: roster_shared::service::events::new_id(),
        kind: kind.into(),
        at: roster_shared::clock::now_ms(),
        data: "{}".into(),
        cause: "{}".into(),
    };
    {
        let mut tx = app.store.tenant(&tenant).begin().await.expect("begin");
        tx.emit(event("user.created"));
        tx.emit(event("user.updated"));
        // Dropped without commit: rolled back.
    }
    let mut tx = app.store.tenant(&tenant).begin().await.expect("begin");
    tx.emit(event("user.deleted"));
    tx.emit(event("group.deleted"));
    tx.commit().await.expect("commit");
    // A write the database refuses after its events were queued leaves none of them.
    let (s, _, _) = app
        .scim("POST", &t.id, &t.token, "/Users", Some(json!({"schemas": [USER], "userName": "x@outbox.test"})))
        .await;
    assert_eq!(s, StatusCode::CREATED);
    // (PostgreSQL: a write's events go to `pending_events`, numbered soon after; SQLite: to
    // `events`, where a second `user.created` breaks this index.)
    let postgres = app.store.backend() == roster_shared::store::Backend::Postgres;
    if postgres {
        app.raw_execute(
            // NOT VALID: only new rows are checked (the first user's event may still be
            // waiting for the sequencer, which raced this statement's check of existing rows).
            "ALTER TABLE pending_events ADD CONSTRAINT events_test_no_create CHECK (type <> 'user.created') NOT VALID",
        )
        .await;
    } else {
        app.raw_execute("CREATE UNIQUE INDEX events_test_one_type ON events (tenant_id, type)").await;
    }
    let (s, _, _) = app
        .scim("POST", &t.id, &t.token, "/Users", Some(json!({"schemas": [USER], "userName": "y@outbox.test"})))
        .await;
    assert!(s.is_server_error(), "{s}");
    if postgres {
        app.raw_execute("ALTER TABLE pending_events DROP CONSTRAINT events_test_no_create").await;
    } else {
        app.raw_execute("DROP INDEX events_test_one_type").await;
    }
    let (s, _, body) =
        app.scim("GET", &t.id, &t.token, "/Users?filter=userName%20eq%20%22y@outbox.test%22", None).await;
    assert_eq!((s, body["totalResults"].as_u64()), (StatusCode::OK, Some(0)), "the user went with its event");
    let events = all_events(&app, &key).await;
    assert_eq!(types(&events), ["user.deleted", "group.deleted", "user.created"]);
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, [1, 2, 3], "no gap where the rolled-back writes were");
}

async fn api_keys_read_their_own_organization_only(db: Db) {
    let app = TestApp::new(db).await;
    let a = app.scim_tenant("Org A").await;
    let b = app.scim_tenant("Org B").await;
    let key_a = api_key(&app, &a).await;
    let key_b = api_key(&app, &b).await;
    let ada = app.create_user(&a, "ada@a.test").await;
    let bea = app.create_user(&b, "bea@b.test").await;
    for i in 0..4 {
        app.create_user(&a, &format!("user{i}@a.test")).await;
    }

    let (s, body) = api(&app, None, "/api/v1/events").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], json!("unauthorized"));
    let (s, _) = api(&app, Some("rk_not-a-key"), "/api/v1/users").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // A SCIM token is not an API key.
    let (s, _) = api(&app, Some(&a.token), "/api/v1/users").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    let (s, events) = api(&app, Some(&key_a), "/api/v1/events").await;
    assert_eq!(s, StatusCode::OK);
    assert!(events["data"].as_array().unwrap().iter().all(|e| e["tenant"] == json!(a.id)), "{events}");
    assert_eq!(events["data"].as_array().unwrap().len(), 5);

    // Another organization's ids are not found.
    let (s, u) = api(&app, Some(&key_a), &format!("/api/v1/users/{ada}")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(u["userName"], json!("ada@a.test"));
    assert_eq!(u["role"], Value::Null);
    assert_eq!(u["user_groups"], json!([]));
    let (s, body) = api(&app, Some(&key_a), &format!("/api/v1/users/{bea}")).await;
    assert_eq!((s, &body["error"]["code"]), (StatusCode::NOT_FOUND, &json!("not_found")));
    let (s, _) = api(&app, Some(&key_b), &format!("/api/v1/users/{ada}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Users: a filter, and cursor pages that together hold each user once.
    let (s, page) = api(&app, Some(&key_a), "/api/v1/users?filter=userName%20sw%20%22user%22&limit=3").await;
    assert_eq!(s, StatusCode::OK, "{page}");
    assert_eq!(page["data"].as_array().unwrap().len(), 3);
    let cursor = page["next_cursor"].as_str().expect("more").to_string();
    let (_, next) =
        api(&app, Some(&key_a), &format!("/api/v1/users?filter=userName%20sw%20%22user%22&limit=3&cursor={cursor}"))
            .await;
    assert_eq!(next["data"].as_array().unwrap().len(), 1);
    assert_eq!(next["next_cursor"], Value::Null);

    // User groups and their members, with the effective role.
    let tenant = tenant_of(&a);
    let input = UserGroupInput { name: "Editors".into(), description: String::new(), role: GroupRole::Member };
    let editors = user_groups::create(&app.store, &tenant, &admin(), &input).await.expect("group");
    user_groups::assign(&app.store, &tenant, &admin(), &editors.id, std::slice::from_ref(&ada)).await.expect("assign");
    let (_, u) = api(&app, Some(&key_a), &format!("/api/v1/users/{ada}")).await;
    assert_eq!(u["role"], json!("member"));
    assert_eq!(u["user_groups"][0]["name"], json!("Editors"));
    assert_eq!(u["user_groups"][0]["reasons"], json!(["admin"]));
    let (_, list) = api(&app, Some(&key_a), "/api/v1/user_groups").await;
    assert_eq!(list["data"][0]["member_count"], json!(1));
    let (s, members) = api(&app, Some(&key_a), &format!("/api/v1/user_groups/{}/members", editors.id)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(members["data"], json!([{"user_id": ada, "reasons": ["admin"]}]));
    let (s, _) = api(&app, Some(&key_b), &format!("/api/v1/user_groups/{}/members", editors.id)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Bad input is a clear 400.
    for bad in [
        "/api/v1/events?after=not-a-cursor",
        "/api/v1/events?limit=0",
        "/api/v1/events?limit=100000",
        "/api/v1/events?types=user.exploded",
        "/api/v1/users?filter=userName%20eq",
        "/api/v1/users?cursor=%%%",
        "/api/v1/users?filter=userName%20eq%20%22a%00b%22",
    ] {
        let (s, body) = api(&app, Some(&key_a), bad).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert_eq!(body["error"]["code"], json!("invalid_request"), "{bad}");
    }
    // A NUL character in an id names nothing (PostgreSQL's text cannot hold one).
    for missing in ["/api/v1/users/a%00b", "/api/v1/groups/a%00b", "/api/v1/user_groups/a%00b/members"] {
        let (s, body) = api(&app, Some(&key_a), missing).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{missing}: {body}");
    }

    // A revoked key stops at once; the other organization's key works on.
    let keys = api_keys::list(&app.store, &tenant).await.unwrap();
    api_keys::revoke(&app.store, &tenant, &admin(), &keys[0].id).await.expect("revoke");
    let (s, _) = api(&app, Some(&key_a), "/api/v1/events").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = api(&app, Some(&key_b), "/api/v1/events").await;
    assert_eq!(s, StatusCode::OK);
    let keys = api_keys::list(&app.store, &tenant).await.unwrap();
    assert!(keys[0].last_used_at.is_some() && keys[0].revoked_at.is_some());

    // The OpenAPI document is served without a key and names every route.
    let (s, doc) = api(&app, None, "/api/v1/openapi.json").await;
    assert_eq!(s, StatusCode::OK);
    for path in ["/api/v1/events", "/api/v1/users", "/api/v1/users/{id}", "/api/v1/groups", "/api/v1/user_groups"] {
        assert!(doc["paths"].get(path).is_some(), "{path}");
    }
    assert!(doc["components"]["schemas"].get("EventView").is_some());
}

/// One request a receiver got.
#[derive(Clone, Debug)]
struct Got {
    ok: bool,
    signature: String,
    event_id: String,
    body: Vec<u8>,
    json: Value,
}

/// A webhook receiver on loopback: records every request; answers 500 while `fail` is set,
/// after `delay`.
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Got>>>,
    fail: Arc<AtomicBool>,
    delay_ms: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receiver() -> Receiver {
    let got: Arc<Mutex<Vec<Got>>> = Default::default();
    let fail = Arc::new(AtomicBool::new(false));
    let delay_ms = Arc::new(AtomicU64::new(0));
    let (g, f, d) = (got.clone(), fail.clone(), delay_ms.clone());
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: http::HeaderMap, body: axum::body::Bytes| {
            let (g, f, d) = (g.clone(), f.clone(), d.clone());
            async move {
                let wait = d.load(Ordering::SeqCst);
                if wait > 0 {
                    tokio::time::sleep(Duration::from_millis(wait)).await;
                }
                let ok = !f.load(Ordering::SeqCst);
                let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
                g.lock().unwrap().push(Got {
                    ok,
                    signature: header("roster-signature"),
                    event_id: header("roster-event-id"),
                    json: serde_json::from_slice(&body).unwrap_or(Value::Null),
                    body: body.to_vec(),
                });
                if ok {
                    (StatusCode::OK, "thanks")
                } else {
                    (StatusCode::INTERNAL_SERVER_ERROR, "down for maintenance")
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Receiver { url, got, fail, delay_ms, task }
}

impl Receiver {
    fn delivered(&self) -> Vec<Got> {
        self.got.lock().unwrap().iter().filter(|g| g.ok).cloned().collect()
    }

    /// The deliveries once `n` distinct events arrived, waiting for them (not a timing assertion:
    /// a generous deadline); `None` past the deadline.
    async fn arrived(&self, n: usize) -> Option<Vec<Got>> {
        for _ in 0..600 {
            let got = self.delivered();
            if distinct(&got) >= n {
                return Some(got);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        None
    }

    /// Waits until `n` distinct events arrived (see [`Receiver::arrived`]).
    async fn wait_for(&self, n: usize) -> Vec<Got> {
        match self.arrived(n).await {
            Some(got) => got,
            None => {
                let got = self.delivered();
                panic!("{} distinct events arrived ({} deliveries), {n} expected", distinct(&got), got.len())
            }
        }
    }

    /// As [`Receiver::wait_for`], but a timeout reports the endpoints' delivery state (seq
    /// delivered, lease, retry), the tenant's last seq and the events not numbered yet: what a
    /// stalled delivery needs to be explained.
    async fn wait_for_or_explain(&self, app: &TestApp, n: usize) -> Vec<Got> {
        if let Some(got) = self.arrived(n).await {
            return got;
        }
        let endpoints = app
            .raw_strings(
                "SELECT id || ' delivered_seq=' || CAST(delivered_seq AS TEXT) || ' lease_owner=' || COALESCE(lease_owner, '-') \
                 || ' lease_until=' || COALESCE(CAST(lease_until AS TEXT), '-') || ' next_attempt_at=' || CAST(next_attempt_at AS TEXT) \
                 || ' attempts=' || CAST(attempts AS TEXT) || ' failing=' || CAST(failing AS TEXT) || ' last_error=' || COALESCE(last_error, '-') \
                 FROM webhook_endpoints",
            )
            .await;
        let seqs =
            app.raw_strings("SELECT tenant_id || ' last_seq=' || CAST(last_seq AS TEXT) FROM event_sequences").await;
        let numbered = app.raw_strings("SELECT CAST(COUNT(*) AS TEXT) FROM events").await;
        let pending = if app.store.backend() == roster_shared::store::Backend::Postgres {
            app.raw_strings("SELECT CAST(COUNT(*) AS TEXT) FROM pending_events").await
        } else {
            Vec::new()
        };
        let got = self.delivered();
        let seen: Vec<i64> = got.iter().filter_map(|g| g.json["seq"].as_i64()).collect();
        panic!(
            "{n} events expected; deliveries (seq) {seen:?} at {} ms; endpoints {endpoints:?}; sequences {seqs:?}; \
             events {numbered:?}; not numbered yet {pending:?}",
            roster_shared::clock::now_ms()
        );
    }
}

/// How many distinct events `got` holds (a delivery may come twice, with the same event id).
fn distinct(got: &[Got]) -> usize {
    got.iter().map(|g| g.event_id.as_str()).collect::<std::collections::HashSet<_>>().len()
}

async fn endpoint(app: &TestApp, t: &ScimTenant, url: &str, types: &[&str]) -> (String, String) {
    let types: Vec<String> = types.iter().map(|s| s.to_string()).collect();
    webhooks::create(&app.store, &app.services.sso.key, true, &tenant_of(t), &admin(), url, "test", &types)
        .await
        .expect("endpoint")
}

/// The README's receiver snippet (Python), run on a delivery: prints `ok` when it verifies.
fn verify_with_documented_snippet(secret: &str, got: &Got) -> bool {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).expect("README");
    let start = readme.find("<!-- verify-snippet -->").expect("snippet marker");
    let code = &readme[start..];
    let code = &code[code.find("```python\n").expect("python block") + 10..];
    let code = &code[..code.find("```").expect("block end")];
    let script = format!(
        "{code}\nimport os, sys\nbody = sys.stdin.buffer.read()\nprint('ok' if verify(os.environ['SECRET'], os.environ['SIG'], body) else 'bad')\n"
    );
    let mut child = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .env("SECRET", secret)
        .env("SIG", &got.signature)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    use std::io::Write;
    child.stdin.take().expect("stdin").write_all(&got.body).expect("write");
    let out = child.wait_with_output().expect("python3 ran");
    String::from_utf8_lossy(&out.stdout).trim() == "ok"
}

async fn webhooks_arrive_signed_in_order_and_survive_failures(db: Db) {
    let app = TestApp::new(db).await;
    let t = app.scim_tenant("Hooks").await;
    // Events before the endpoint existed are not sent to it.
    app.create_user(&t, "before@hooks.test").await;
    let r = receiver().await;
    let (endpoint_id, secret) = endpoint(&app, &t, &r.url, &[]).await;
    assert!(secret.starts_with("whsec_"));
    for i in 0..10 {
        app.create_user(&t, &format!("u{i}@hooks.test")).await;
    }
    let got = r.wait_for(10).await;
    let seqs: Vec<i64> = got.iter().map(|g| g.json["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (2..=11).collect::<Vec<_>>(), "in order, each once, from the endpoint's creation");
    for g in &got {
        assert_eq!(g.json["type"], json!("user.created"));
        assert_eq!(g.event_id, g.json["id"].as_str().unwrap());
        assert!(webhooks::verify(&secret, &g.signature, &g.body, roster_shared::clock::now_ms() / 1000, 300));
    }
    assert!(verify_with_documented_snippet(&secret, &got[0]), "the README's snippet verifies a real delivery");
    let mut forged = got[0].clone();
    forged.body = forged.body.iter().map(|b| if *b == b'1' { b'2' } else { *b }).collect();
    assert!(!verify_with_documented_snippet(&secret, &forged), "and refuses a changed body");
    assert!(!verify_with_documented_snippet("whsec_wrong", &got[0]), "and another secret");

    // The endpoint goes down: SCIM writes go on at once, deliveries wait and retry, in order.
    r.fail.store(true, Ordering::SeqCst);
    for i in 10..15 {
        app.create_user(&t, &format!("u{i}@hooks.test")).await;
    }
    let tenant = tenant_of(&t);
    for _ in 0..300 {
        let e = app.store.tenant(&tenant).endpoint(&endpoint_id).await.unwrap().unwrap();
        if e.attempts >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let e = app.store.tenant(&tenant).endpoint(&endpoint_id).await.unwrap().unwrap();
    assert!(e.attempts >= 3 && !e.failing, "{e:?}");
    assert_eq!(e.last_error.as_deref(), Some("The endpoint answered HTTP 500."));
    let failed: Vec<Got> = r.got.lock().unwrap().iter().filter(|g| !g.ok).cloned().collect();
    assert!(failed.iter().all(|g| g.json["seq"] == json!(12)), "only the first waiting event is tried");
    r.fail.store(false, Ordering::SeqCst);
    let got = r.wait_for(15).await;
    let seqs: Vec<i64> = got.iter().map(|g| g.json["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (2..=16).collect::<Vec<_>>());
    // The page's view: deliveries with their attempts, status and answer (successes are
    // recorded in batches, just after they arrive).
    let mut page = webhooks::integrations(&app.store, &tenant, "http://roster.test", 30).await.unwrap();
    for _ in 0..200 {
        if page.endpoints[0].backlog == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        page = webhooks::integrations(&app.store, &tenant, "http://roster.test", 30).await.unwrap();
    }
    let view = &page.endpoints[0];
    assert_eq!((view.backlog, view.attempts, view.failing), (0, 0, false));
    let retried: Vec<_> = view.deliveries.iter().filter(|d| !d.ok).collect();
    assert!(retried.len() >= 3);
    assert!(retried
        .iter()
        .all(|d| d.status_code == Some(500) && d.response.as_deref() == Some("down for maintenance")));
    let mut attempts: Vec<i64> = retried.iter().map(|d| d.attempt).collect();
    attempts.sort();
    assert_eq!(attempts[..3], [1, 2, 3]);
    assert!(view.deliveries.iter().any(|d| d.ok && d.response.as_deref() == Some("thanks")));
}

async fn an_endpoint_failing_for_the_give_up_time_stops_until_retried(db: Db) {
    let mut app = TestApp::new(db).await;
    if let Some(d) = app.webhooks.0.take() {
        d.abort();
    }
    let settings = webhooks::WebhookSettings { give_up_after: Duration::from_millis(600), ..test_webhook_settings() };
    app.webhooks =
        WebhooksGuard(Some(webhooks::Dispatcher::start(app.store.clone(), app.services.sso.key.clone(), settings)));
    let t = app.scim_tenant("Giving up").await;
    let r = receiver().await;
    r.fail.store(true, Ordering::SeqCst);
    let (endpoint_id, _) = endpoint(&app, &t, &r.url, &[]).await;
    app.create_user(&t, "a@giveup.test").await;
    let tenant = tenant_of(&t);
    let mut failing = false;
    for _ in 0..300 {
        failing = app.store.tenant(&tenant).endpoint(&endpoint_id).await.unwrap().unwrap().failing;
        if failing {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(failing, "marked failing after the give-up time");
    let tries = r.got.lock().unwrap().len();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(r.got.lock().unwrap().len(), tries, "no attempts while failing");
    let page = webhooks::integrations(&app.store, &tenant, "http://roster.test", 30).await.unwrap();
    assert!(page.endpoints[0].failing && page.endpoints[0].backlog == 1);
    r.fail.store(false, Ordering::SeqCst);
    webhooks::retry(&app.store, &tenant, &admin(), &endpoint_id).await.expect("retry");
    let got = r.wait_for(1).await;
    assert_eq!(got[0].json["type"], json!("user.created"));
}

async fn two_instances_deliver_each_event_once_in_order(db: Db) {
    let app = TestApp::new(db).await;
    let other = app.second_instance().await;
    let t = app.scim_tenant("Two").await;
    let r1 = receiver().await;
    let r2 = receiver().await;
    endpoint(&app, &t, &r1.url, &[]).await;
    endpoint(&other, &t, &r2.url, &[]).await;
    r1.delay_ms.store(5, Ordering::SeqCst);
    let writes = (0..40).map(|i| {
        let (app, other, t) = (&app, &other, &t);
        async move {
            let instance = if i % 2 == 0 { app } else { other };
            instance.create_user(t, &format!("u{i}@two.test")).await;
        }
    });
    futures_util::future::join_all(writes).await;
    for r in [&r1, &r2] {
        let got = r.wait_for(40).await;
        let seqs: Vec<i64> = got.iter().map(|g| g.json["seq"].as_i64().unwrap()).collect();
        assert_eq!(seqs, (1..=40).collect::<Vec<_>>(), "each event once per endpoint, in order");
    }
}

async fn a_killed_instance_loses_no_delivery(db: Db) {
    let mut app = TestApp::new(db).await;
    let t = app.scim_tenant("Crash").await;
    let r = receiver().await;
    endpoint(&app, &t, &r.url, &[]).await;
    r.delay_ms.store(150, Ordering::SeqCst);
    for i in 0..12 {
        app.create_user(&t, &format!("u{i}@crash.test")).await;
    }
    r.wait_for(2).await;
    // Killed mid-delivery (its lease stays until it runs out), and more writes while no
    // instance delivers: committed events wait in the outbox.
    if let Some(d) = app.webhooks.0.take() {
        d.abort();
    }
    let before: Vec<i64> = r.delivered().iter().map(|g| g.json["seq"].as_i64().unwrap()).collect();
    for i in 12..20 {
        app.create_user(&t, &format!("u{i}@crash.test")).await;
    }
    r.delay_ms.store(0, Ordering::SeqCst);
    let other = app.second_instance().await;
    let got = r.wait_for_or_explain(&app, 20).await;
    let mut first_seen: Vec<i64> = Vec::new();
    let mut count: HashMap<i64, usize> = HashMap::new();
    for g in &got {
        let seq = g.json["seq"].as_i64().unwrap();
        *count.entry(seq).or_default() += 1;
        if !first_seen.contains(&seq) {
            first_seen.push(seq);
        }
    }
    assert_eq!(first_seen, (1..=20).collect::<Vec<_>>(), "every event, in order");
    // Only events sent just before the instance died (not yet recorded, or in flight) arrive
    // twice, with the same id.
    let limit = before.iter().max().copied().unwrap_or(0) + 1;
    assert!(count.iter().filter(|(_, n)| **n > 1).all(|(seq, _)| *seq <= limit), "{count:?} {before:?}");
    drop(other);
}

async fn endpoints_get_only_their_types_test_events_and_resends(db: Db) {
    let app = TestApp::new(db).await;
    let t = app.scim_tenant("Types").await;
    let r = receiver().await;
    let (endpoint_id, secret) = endpoint(&app, &t, &r.url, &["user.deleted"]).await;
    let id = app.create_user(&t, "gone@types.test").await;
    app.create_user(&t, "stays@types.test").await;
    let (s, _, _) = app.scim("DELETE", &t.id, &t.token, &format!("/Users/{id}"), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let got = r.wait_for(1).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].json["type"], json!("user.deleted"));
    assert_eq!(got[0].json["data"]["user"]["userName"], json!("gone@types.test"));
    let tenant = tenant_of(&t);
    // Skipped events still move the endpoint on: nothing is waiting.
    for _ in 0..100 {
        let page = webhooks::integrations(&app.store, &tenant, "http://roster.test", 30).await.unwrap();
        if page.endpoints[0].backlog == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let page = webhooks::integrations(&app.store, &tenant, "http://roster.test", 30).await.unwrap();
    assert_eq!(page.endpoints[0].backlog, 0);

    let sent =
        webhooks::send_test(&app.store, &app.services.sso.key, &app.services.webhooks, &tenant, &admin(), &endpoint_id)
            .await
            .expect("test event");
    assert!(sent.ok && sent.kind == "test" && sent.status_code == Some(200), "{sent:?}");
    let delivered = r.delivered();
    let test = delivered.last().unwrap();
    assert_eq!(test.json["type"], json!("webhook.test"));
    assert!(webhooks::verify(&secret, &test.signature, &test.body, roster_shared::clock::now_ms() / 1000, 300));

    let first = page.endpoints[0].deliveries.iter().find(|d| d.event_type == "user.deleted").unwrap().id.clone();
    let again = webhooks::resend(&app.store, &app.services.sso.key, &app.services.webhooks, &tenant, &first)
        .await
        .expect("resend");
    assert_eq!(again.kind, "resend");
    let delivered = r.delivered();
    assert_eq!(delivered.last().unwrap().event_id, got[0].event_id, "the same event, again");
    // Another organization's delivery or endpoint is not found.
    let other = app.scim_tenant("Other").await;
    let other_tenant = tenant_of(&other);
    assert!(webhooks::resend(&app.store, &app.services.sso.key, &app.services.webhooks, &other_tenant, &first)
        .await
        .is_err());
    assert!(webhooks::send_test(
        &app.store,
        &app.services.sso.key,
        &app.services.webhooks,
        &other_tenant,
        &admin(),
        &endpoint_id
    )
    .await
    .is_err());
}

async fn webhook_urls_to_private_addresses_are_refused(db: Db) {
    let app = TestApp::new(db).await;
    let t = app.scim_tenant("SSRF").await;
    let tenant = tenant_of(&t);
    for (allow, url) in [
        (false, "http://127.0.0.1:9/hook"),
        (false, "https://localhost/hook"),
        (true, "https://10.1.2.3/hook"),
        (true, "https://169.254.169.254/latest/meta-data"),
        (true, "https://[::ffff:192.168.0.1]/hook"),
        (true, "http://hooks.example.com/hook"),
        (true, "file:///etc/passwd"),
    ] {
        let r = webhooks::create(&app.store, &app.services.sso.key, allow, &tenant, &admin(), url, "", &[]).await;
        assert!(matches!(r, Err(roster_shared::error::DomainError::Invalid(_))), "{url}: {r:?}");
    }
    assert!(webhooks::integrations(&app.store, &tenant, "http://roster.test", 30).await.unwrap().endpoints.is_empty());
    // The sender checks again at every request (an endpoint stored under a looser setting).
    let strict = webhooks::Sender::new(&webhooks::WebhookSettings::default());
    let r = receiver().await;
    let event = roster_shared::dto::EventView {
        id: "evt_x".into(),
        kind: "user.created".into(),
        tenant: t.id.clone(),
        seq: 1,
        created_at: String::new(),
        data: json!({}),
        cause: json!({}),
    };
    let sent = strict.post(&r.url, "whsec_x", &event, "dlv_x").await;
    assert!(!sent.ok && sent.status.is_none(), "{sent:?}");
    assert!(r.got.lock().unwrap().is_empty(), "nothing reached the loopback receiver");
}

async fn an_initial_sync_waits_for_a_dead_endpoint_and_arrives_in_full(db: Db) {
    const USERS: usize = 10_000;
    let app = TestApp::new(db).await;
    let t = app.scim_tenant("Initial sync").await;
    let r = receiver().await;
    endpoint(&app, &t, &r.url, &[]).await;
    // The endpoint hangs longer than a delivery's time limit: every attempt times out.
    r.delay_ms.store(8_000, Ordering::SeqCst);
    r.fail.store(true, Ordering::SeqCst);
    // The IdP's initial sync goes on meanwhile: SCIM creates one by one, then the rest as the
    // batch create writes them (the same rows and events as POST /Users).
    for i in 0..20 {
        app.create_user(&t, &format!("first{i}@sync.test")).await;
    }
    let tenant = tenant_of(&t);
    let base_url = roster_shared::service::scim_setup::base_url(&app.public_url, &tenant);
    let scim = roster_shared::service::provisioning::Scim { store: &app.store, tenant: &tenant, base_url: &base_url };
    for chunk in (20..USERS).collect::<Vec<_>>().chunks(2_000) {
        let bodies: Vec<Value> = chunk
            .iter()
            .map(|i| json!({"schemas": [USER], "userName": format!("u{i}@sync.test"), "active": true}))
            .collect();
        scim.create_users(&bodies).await.expect("batch create");
    }
    // Back: everything arrives, in order, once.
    r.delay_ms.store(0, Ordering::SeqCst);
    r.fail.store(false, Ordering::SeqCst);
    let endpoint_id =
        webhooks::integrations(&app.store, &tenant, "http://roster.test", 30).await.unwrap().endpoints[0].id.clone();
    webhooks::retry(&app.store, &tenant, &admin(), &endpoint_id).await.expect("retry now");
    let got = r.wait_for(USERS).await;
    let seqs: Vec<i64> = got.iter().map(|g| g.json["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (1..=USERS as i64).collect::<Vec<_>>());
    let mut backlog = -1;
    for _ in 0..200 {
        backlog =
            webhooks::integrations(&app.store, &tenant, "http://roster.test", 30).await.unwrap().endpoints[0].backlog;
        if backlog == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(backlog, 0, "the deliveries are recorded");
}

async fn an_expiring_credential_is_announced_once(db: Db) {
    let app = TestApp::new(db).await;
    let t = app.scim_tenant("Expiring").await;
    let key = api_key(&app, &t).await;
    let tenant = tenant_of(&t);
    let (soon, _) = roster_shared::service::credentials::create_token(&app.store, &tenant, "Okta", "test", Some(3))
        .await
        .expect("token");
    roster_shared::service::credentials::create_token(&app.store, &tenant, "Later", "test", Some(60))
        .await
        .expect("token");
    let retention = roster_shared::service::jobs::Retention::default();
    roster_shared::service::jobs::maintain(&app.store, &retention, None, None).await.expect("maintenance");
    roster_shared::service::jobs::maintain(&app.store, &retention, None, None).await.expect("maintenance again");
    let (_, page) = api(&app, Some(&key), "/api/v1/events?types=credential.expiring").await;
    let events = page["data"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{page}");
    assert_eq!(events[0]["data"]["credential"]["id"], json!(soon.id.to_string()));
    assert_eq!(events[0]["data"]["credential"]["name"], json!("Okta"));
    assert_eq!(events[0]["cause"]["kind"], json!("system"));
}

/// Concurrent writes on two instances (PostgreSQL numbers them after commit, by the sequencer):
/// the events API shows every event once, seqs without gaps, and each user's later change after
/// its earlier one (the update was sent after the create was answered).
async fn concurrent_writes_on_two_instances_are_numbered_without_gaps_in_causal_order(db: Db) {
    let app = TestApp::new(db).await;
    let other = app.second_instance().await;
    let t = app.scim_tenant("Causal").await;
    let key = api_key(&app, &t).await;
    let writes = (0..30).map(|i| {
        let (app, other, t) = (&app, &other, &t);
        async move {
            let (first, second) = if i % 2 == 0 { (app, other) } else { (other, app) };
            let id = first.create_user(t, &format!("c{i}@causal.test")).await;
            patch_user(second, t, &id, json!([{"op": "replace", "path": "displayName", "value": format!("C {i}")}]))
                .await;
            id
        }
    });
    let ids = futures_util::future::join_all(writes).await;
    let events = all_events(&app, &key).await;
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().expect("seq")).collect();
    assert_eq!(seqs, (1..=60).collect::<Vec<_>>(), "every event once, no gap");
    for id in &ids {
        let of_user: Vec<&str> = events
            .iter()
            .filter(|e| e["data"]["user"]["id"] == json!(id))
            .map(|e| e["type"].as_str().unwrap_or_default())
            .collect();
        assert_eq!(of_user, ["user.created", "user.updated"], "user {id}");
    }
    // The other instance reads the same numbers.
    let (s, page) = api(&other, Some(&key), "/api/v1/events?limit=500").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(page["data"].as_array().map(Vec::len), Some(60));
}

/// PostgreSQL may run a prepared statement with a generic plan, one made without its
/// parameters' values and kept as the table grows: the sequencer's statements must walk an
/// index of `pending_events` in that plan too, not read every pending event per batch.
async fn the_sequencer_reads_pending_events_by_index_in_every_plan(db: Db) {
    use sqlx::{Connection, Executor};
    let app = TestApp::new(db).await;
    let mut conn = sqlx::PgConnection::connect(&app.db.url).await.expect("connect");
    let mut tenants = Vec::new();
    for name in ["Plans A", "Plans B", "Plans C", "Plans D"] {
        tenants.push(app.scim_tenant(name).await.id);
    }
    // Pending events of four tenants that the planner knows of (analyzed in a transaction that
    // is rolled back, so the running sequencer never sees them): a few, then 20,000.
    conn.execute("BEGIN").await.expect("begin");
    conn.execute("SET LOCAL plan_cache_mode = force_generic_plan").await.expect("generic plans");
    conn.execute(roster_shared::store::SEQUENCER_SETTINGS).await.expect("the sequencer's settings");
    // (pending events per tenant when analyzed, added after): a few, 5,000, and a few with
    // 5,000 more that the statistics do not know of (a queue that filled up since).
    for (round, (per_tenant, added)) in [(5, 0), (5000, 0), (5, 5000)].into_iter().enumerate() {
        conn.execute("SAVEPOINT plans").await.expect("savepoint");
        for (n, analyze) in [(per_tenant, true), (added, false)] {
            for t in &tenants {
                sqlx::query(
                    "INSERT INTO pending_events (tenant_id, id, type, at, data, cause) \
                     SELECT $1, 'evt_' || g, 'user.created', g, repeat('x', 500), '{}' FROM generate_series(1, $2) g",
                )
                .bind(t)
                .bind(n)
                .execute(&mut conn)
                .await
                .expect("pending events");
            }
            if analyze {
                conn.execute("ANALYZE pending_events").await.expect("analyze");
            }
        }
        for (i, (sql, types)) in roster_shared::store::SEQUENCER_STATEMENTS.iter().enumerate() {
            let name = format!("seq{round}_{i}");
            let types = if types.is_empty() { String::new() } else { format!("({types})") };
            conn.execute(format!("PREPARE {name}{types} AS {sql}").as_str()).await.expect("prepare");
            let args = match types.matches(',').count() + usize::from(!types.is_empty()) {
                0 => String::new(),
                1 => "('x')".to_string(),
                _ => "('x', 5000)".to_string(),
            };
            let plan: Vec<String> = sqlx::query_scalar(&format!("EXPLAIN EXECUTE {name}{args}"))
                .fetch_all(&mut conn)
                .await
                .expect("explain");
            let text = plan.join("\n");
            // Index walks and lookups only: no scan of the table, no hash or aggregate of it…
            for whole in ["Seq Scan", "Hash", "Aggregate", "Unique", "Sort"] {
                assert!(!text.contains(whole), "{per_tenant}+{added} per tenant, {sql}:\n{text}");
            }
            // …and `(tenant_id, pending_id)` not searched by its second column alone (which
            // reads all of it).
            for (at, line) in plan.iter().enumerate() {
                if line.contains("using pending_events_tenant") {
                    let cond =
                        plan[at + 1..].iter().take_while(|l| !l.contains("->")).find(|l| l.contains("Index Cond:"));
                    let by_second_alone = cond.is_some_and(|c| c.contains("pending_id") && !c.contains("tenant_id ="));
                    assert!(!by_second_alone, "{per_tenant}+{added} per tenant, {sql}:\n{text}");
                }
            }
        }
        conn.execute("ROLLBACK TO SAVEPOINT plans").await.expect("rollback to savepoint");
    }
    conn.execute("ROLLBACK").await.expect("rollback");
}

/// Events the sequencer took leave dead index entries at the head of the queue, which every
/// walk from the head steps over until `pending_events` is vacuumed (a million of them made
/// each walk cost 38 ms in a benchmark): past `VACUUM_AFTER` taken events, the sequencer
/// vacuums the table, and the head is a few index pages again.
async fn the_sequencer_vacuums_the_events_it_took(db: Db) {
    use sqlx::{Connection, Executor};
    let mut app = TestApp::new(db).await;
    let t = app.scim_tenant("Drained").await;
    let tenant = tenant_of(&t);
    // One sequencer (this test's): a second one, waiting for the tenant's event lock, holds a
    // snapshot from before the batch it waits for, whose taken events a vacuum then keeps
    // (the next vacuum takes them).
    if let Some(d) = app.webhooks.0.take() {
        d.stop(Duration::from_secs(5)).await;
    }
    let mut conn = sqlx::PgConnection::connect(&app.db.url).await.expect("connect");
    const MANUAL_VACUUMS: &str = "SELECT vacuum_count FROM pg_stat_user_tables WHERE relname = 'pending_events'";
    let before: i64 = sqlx::query_scalar(MANUAL_VACUUMS).fetch_one(&mut conn).await.expect("vacuum count");
    let n = roster_shared::store::VACUUM_AFTER + 2_000;
    sqlx::query(
        "INSERT INTO pending_events (tenant_id, id, type, at, data, cause) \
         SELECT $1, 'evt_drained_' || g, 'user.created', g, '{}', '{}' FROM generate_series(1, $2) g",
    )
    .bind(&t.id)
    .bind(n)
    .execute(&mut conn)
    .await
    .expect("pending events");
    app.store.tenant(&tenant).sequence_events().await.expect("sequence");
    let left: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM pending_events").fetch_one(&mut conn).await.expect("count");
    assert_eq!(left, 0);
    // The vacuum runs in the background: wait for it (a bound on a hang, not a timing).
    let mut vacuumed = before;
    for _ in 0..600 {
        vacuumed = sqlx::query_scalar(MANUAL_VACUUMS).fetch_one(&mut conn).await.expect("vacuum count");
        if vacuumed > before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(vacuumed > before, "no vacuum of pending_events after {n} events were taken");
    // The head of the queue holds only the entries of the events taken after the vacuum
    // started (the last batch, 2,000): the skip scan over tenants steps over a few dozen
    // index and heap pages, not the 287 of all 12,000 taken events.
    conn.execute("SET enable_seqscan = off").await.expect("setting");
    let sql = roster_shared::store::SEQUENCER_STATEMENTS[2].0;
    let plan: Vec<String> =
        sqlx::query_scalar(&format!("EXPLAIN (ANALYZE, BUFFERS) {sql}")).fetch_all(&mut conn).await.expect("explain");
    let top = plan.iter().find(|l| l.contains("Buffers:")).expect("buffers");
    let pages: i64 =
        top.split([' ', ',']).filter_map(|w| w.split_once('=').and_then(|(_, v)| v.parse::<i64>().ok())).sum();
    assert!(pages < 120, "the skip scan read {pages} pages:\n{}", plan.join("\n"));
}

/// The access read before and after a placement (`events::Access`) finds the users' memberships
/// by user, also when `user_group_members` was analyzed nearly empty and a rule run has filled
/// it since: the planner then walked each user group's memberships (20,135 buffers for ten
/// users among 20,000 memberships).
async fn placement_reads_find_the_users_rows_on_stale_statistics(db: Db) {
    use roster_shared::store::{
        direct_groups_sql, rule_memberships_sql, user_group_access_sql, DIRECT_GROUPS_RANGE_SQL,
        RULE_MEMBERSHIPS_RANGE_SQL,
    };
    use sqlx::{Connection, Executor};
    let app = TestApp::new(db).await;
    let t = app.scim_tenant("Stale statistics").await;
    let tenant = tenant_of(&t);
    let input = UserGroupInput { name: "Department 7".into(), description: String::new(), role: GroupRole::Member };
    let group = user_groups::create(&app.store, &tenant, &admin(), &input).await.expect("group");
    let (s, _, scim_group) = app
        .scim("POST", &t.id, &t.token, "/Groups", Some(json!({"schemas": [GROUP], "displayName": "Everyone"})))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{scim_group}");
    let mut conn = sqlx::PgConnection::connect(&app.db.url).await.expect("connect");
    // In a transaction that is rolled back: both membership tables analyzed (nearly) empty, as
    // before a first sync or rule run fills them, then 20,000 rows in each.
    conn.execute("BEGIN").await.expect("begin");
    conn.execute("ANALYZE user_group_members, scim_group_members").await.expect("analyze");
    sqlx::query(
        "INSERT INTO user_group_members (tenant_id, group_id, user_id, reason, rule_id, added_at) \
         SELECT $1, $2, md5(g::text), 'rule', 'r1', 0 FROM generate_series(1, 20000) g",
    )
    .bind(&t.id)
    .bind(&group.id)
    .execute(&mut conn)
    .await
    .expect("memberships");
    sqlx::query(
        "INSERT INTO scim_group_members (tenant_id, group_id, member_id, member_type, added_at) \
         SELECT $1, $2, md5(g::text), 'User', 0 FROM generate_series(1, 20000) g",
    )
    .bind(&t.id)
    .bind(scim_group["id"].as_str().expect("id"))
    .execute(&mut conn)
    .await
    .expect("members");
    // Ten of the users, spread over the groups (ids are hex, so quoting them is safe), and a
    // range of ids holding about 80 of them (a whole-tenant run's batch).
    let users: Vec<String> = sqlx::query_scalar("SELECT md5((g * 1999)::text) FROM generate_series(1, 10) g")
        .fetch_all(&mut conn)
        .await
        .expect("ids");
    let users: Vec<String> = users.iter().map(|u| format!("'{u}'")).collect();
    let listed = format!("'{}', {}", t.id, users.join(", "));
    let ranged = format!("'{}', '0a', '0b'", t.id);
    let list_types = vec!["text"; users.len() + 1].join(", ");
    let reads = [
        ("access", user_group_access_sql(users.len()), &listed, "user_group_members"),
        ("rule", rule_memberships_sql(users.len()), &listed, "user_group_members"),
        ("rule_range", RULE_MEMBERSHIPS_RANGE_SQL.to_string(), &ranged, "user_group_members"),
        ("direct", direct_groups_sql(users.len()), &listed, "scim_group_members"),
        ("direct_range", DIRECT_GROUPS_RANGE_SQL.to_string(), &ranged, "scim_group_members"),
    ];
    let mut wrong = Vec::new();
    for mode in ["auto", "force_generic_plan"] {
        conn.execute(format!("SET LOCAL plan_cache_mode = {mode}").as_str()).await.expect("mode");
        for (read, sql, args, table) in &reads {
            let name = format!("{read}_{}", mode.len());
            let types = if args.as_str() == ranged { "text, text, text" } else { list_types.as_str() };
            conn.execute(format!("PREPARE {name}({types}) AS {sql}").as_str()).await.expect("prepare");
            let plan: Vec<String> = sqlx::query_scalar(&format!("EXPLAIN (ANALYZE, BUFFERS) EXECUTE {name}({args})"))
                .fetch_all(&mut conn)
                .await
                .expect("explain");
            let text = plan.join("\n");
            // Found on (tenant_id, user), not by walking a group's (or a reason's) rows.
            let by_user =
                if *table == "user_group_members" { "user_group_members_user" } else { "scim_group_members_member" };
            let top = plan.iter().find(|l| l.contains("Buffers:")).expect("buffers");
            let pages: i64 =
                top.split([' ', ',']).filter_map(|w| w.split_once('=').and_then(|(_, v)| v.parse::<i64>().ok())).sum();
            if !text.contains(by_user)
                || text.contains(&format!("{table}_pkey"))
                || text.contains("user_group_members_rule")
                || pages >= 300
            {
                wrong.push(format!("{read}, {mode}: {pages} pages:\n{text}"));
            }
        }
    }
    conn.execute("ROLLBACK").await.expect("rollback");
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
}
