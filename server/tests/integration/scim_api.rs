//! The SCIM API's protocol behaviour: errors, credentials, tenant isolation, queries (SQL
//! against the reference evaluator), discovery, ETags, concurrency.

use axum::body::Body;
use http::{header, Request, StatusCode};
use roster_shared::scim::filter::Filter;
use roster_shared::scim::schema::ResourceSchema;
use serde_json::{json, Value};

use crate::both_backends;
use crate::common::*;

both_backends!(
    a_revocation_reaches_every_instance,
    a_write_never_starts_from_another_instances_old_copy,
    bad_requests_get_scim_errors_and_change_nothing,
    credentials_are_checked_and_never_reveal_a_tenant,
    tenants_are_isolated_on_every_endpoint,
    sql_filters_agree_with_the_reference_evaluator,
    sorting_and_paging,
    etags_and_conditional_requests,
    nested_groups_show_in_user_groups,
    discovery_endpoints,
    concurrent_writes_lose_nothing,
    busy_credentials_are_rate_limited,
    old_activity_is_deleted,
    bulk_requests_resolve_bulk_ids_and_report_each_operation,
    http_basic_credentials,
    oauth_client_credentials,
    wrong_methods_get_scim_errors,
    a_group_write_checks_hundreds_of_members_at_once,
);

async fn wrong_methods_get_scim_errors(db: Db) {
    let app = TestApp::new(db).await;
    let t = app.scim_tenant("Acme").await;
    for (method, path) in
        [("GET", "/Bulk"), ("DELETE", "/Users"), ("PUT", "/ServiceProviderConfig"), ("GET", "/.search")]
    {
        let (status, _, body) = app.scim(method, &t.id, &t.token, path, None).await;
        assert_eq!(status.as_u16(), 405, "{method} {path}: {body}");
        assert_eq!(body["status"], "405", "{method} {path}: {body}");
        assert_eq!(body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error");
    }
}

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

fn q(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn user_count(app: &TestApp, t: &ScimTenant) -> u64 {
    let (_, _, body) = app.scim("GET", &t.id, &t.token, "/Users?count=0", None).await;
    body["totalResults"].as_u64().unwrap()
}

async fn bad_requests_get_scim_errors_and_change_nothing(db: Db) {
    let app = TestApp::new(db).await;
    let t = app.scim_tenant("Errors").await;
    let (s, _, u) =
        app.scim("POST", &t.id, &t.token, "/Users", Some(json!({"schemas": [USER], "userName": "bjensen"}))).await;
    assert_eq!(s, StatusCode::CREATED);
    let id = u["id"].as_str().unwrap().to_string();

    type Case<'a> = (&'a str, String, Option<Value>, u16, Option<&'a str>);
    let cases: Vec<Case> = vec![
        ("POST", "/Users".into(), Some(json!({"schemas": [USER], "userName": "BJENSEN"})), 409, Some("uniqueness")),
        ("POST", "/Users".into(), Some(json!({"schemas": [USER]})), 400, Some("invalidValue")),
        ("POST", "/Users".into(), Some(json!({"userName": "x"})), 400, Some("invalidSyntax")),
        (
            "POST",
            "/Users".into(),
            Some(json!({"schemas": [USER], "userName": "x", "shoe": 1})),
            400,
            Some("invalidSyntax"),
        ),
        (
            "POST",
            "/Users".into(),
            Some(json!({"schemas": [USER], "userName": "x", "active": "maybe"})),
            400,
            Some("invalidValue"),
        ),
        ("GET", format!("/Users?filter={}", q("userName eq")), None, 400, Some("invalidFilter")),
        ("GET", format!("/Users?filter={}", q("shoeSize gt 3")), None, 400, Some("invalidFilter")),
        ("GET", "/Users?startIndex=abc".into(), None, 400, Some("invalidValue")),
        ("GET", format!("/Users?sortBy={}", q("emails[type eq \"work\"]")), None, 400, Some("invalidValue")),
        ("GET", "/Users/does-not-exist".into(), None, 404, None),
        // A NUL character in a value or a filter (PostgreSQL's text cannot hold one).
        (
            "POST",
            "/Users".into(),
            Some(json!({"schemas": [USER], "userName": "nul\u{0}name"})),
            400,
            Some("invalidValue"),
        ),
        (
            "POST",
            "/Users".into(),
            Some(json!({"schemas": [USER], "userName": "nul", "name": {"givenName": "a\u{0}b"}})),
            400,
            Some("invalidValue"),
        ),
        ("GET", format!("/Users?filter={}", q("userName eq \"a\u{0}b\"")), None, 400, Some("invalidFilter")),
        ("GET", "/Users/a%00b".into(), None, 404, None),
        ("GET", "/Groups/a%00b".into(), None, 404, None),
        (
            "PATCH",
            format!("/Users/{id}"),
            Some(json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "title", "value": "a\u{0}"}]})),
            400,
            Some("invalidValue"),
        ),
        ("PUT", "/Users/does-not-exist".into(), Some(json!({"schemas": [USER], "userName": "y"})), 404, None),
        (
            "PATCH",
            format!("/Users/{id}"),
            Some(json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "id", "value": "x"}]})),
            400,
            Some("mutability"),
        ),
        (
            "PATCH",
            format!("/Users/{id}"),
            Some(json!({"schemas": [PATCH], "Operations": [{"op": "remove", "path": "userName"}]})),
            400,
            Some("mutability"),
        ),
        (
            "PATCH",
            format!("/Users/{id}"),
            Some(json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "nope", "value": 1}]})),
            400,
            Some("invalidPath"),
        ),
        ("PATCH", format!("/Users/{id}"), Some(json!({"Operations": []})), 400, Some("invalidSyntax")),
        (
            "POST",
            "/Groups".into(),
            Some(json!({"schemas": [GROUP], "displayName": "G", "members": [{"value": "no-such-user"}]})),
            400,
            Some("invalidValue"),
        ),
        ("GET", "/Nope".into(), None, 404, None),
        ("GET", "/Me".into(), None, 501, None),
        ("POST", "/Bulk".into(), Some(json!({})), 400, Some("invalidSyntax")),
    ];
    for (method, path, body, status, scim_type) in cases {
        let (s, h, res) = app.scim(method, &t.id, &t.token, &path, body.clone()).await;
        assert_eq!(s.as_u16(), status, "{method} {path} {body:?}: {res}");
        assert_eq!(h.get("content-type").unwrap(), "application/scim+json", "{method} {path}");
        assert_eq!(res["schemas"], json!(["urn:ietf:params:scim:api:messages:2.0:Error"]), "{method} {path}");
        assert_eq!(res["status"], status.to_string());
        assert_eq!(res["scimType"].as_str(), scim_type, "{method} {path}: {res}");
        assert!(res["detail"].as_str().is_some_and(|d| !d.is_empty()));
    }

    // Malformed JSON, the wrong media type, a huge body.
    let base = |m: &str, p: &str| {
        Request::builder()
            .method(m)
            .uri(format!("/scim/v2/{}{p}", t.id))
            .header(header::AUTHORIZATION, format!("Bearer {}", t.token))
    };
    let res = app
        .scim_raw(
            base("POST", "/Users").header(header::CONTENT_TYPE, "application/scim+json"),
            Body::from("{\"schemas\": ["),
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(body_text(res).await.contains("invalidSyntax"));
    let res =
        app.scim_raw(base("POST", "/Users").header(header::CONTENT_TYPE, "text/plain"), Body::from("hello")).await;
    assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let huge = format!("{{\"schemas\": [\"{USER}\"], \"userName\": \"{}\"}}", "x".repeat(2 * 1024 * 1024));
    let res =
        app.scim_raw(base("POST", "/Users").header(header::CONTENT_TYPE, "application/json"), Body::from(huge)).await;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(body_text(res).await.contains("\"413\""));

    assert_eq!(user_count(&app, &t).await, 1, "no failed request created anything");
    let (_, _, u) = app.scim("GET", &t.id, &t.token, &format!("/Users/{id}"), None).await;
    assert_eq!(u["meta"]["version"], "W/\"1\"", "no failed request changed the user");

    // A PATCH or PUT to a userName another user has (in another case) is a conflict, and the
    // user stays as it was.
    let (_, _, other) =
        app.scim("POST", &t.id, &t.token, "/Users", Some(json!({"schemas": [USER], "userName": "ojensen"}))).await;
    let path = format!("/Users/{}", other["id"].as_str().unwrap());
    let rename = json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "userName", "value": "BJensen"}]});
    for (method, body) in [("PATCH", rename), ("PUT", json!({"schemas": [USER], "userName": "bJENSEN"}))] {
        let (s, _, res) = app.scim(method, &t.id, &t.token, &path, Some(body)).await;
        assert_eq!(s, StatusCode::CONFLICT, "{method}: {res}");
        assert_eq!(res["scimType"], "uniqueness", "{method}: {res}");
    }
    let (_, _, now) = app.scim("GET", &t.id, &t.token, &path, None).await;
    assert_eq!(now, other, "the refused renames changed nothing");
}

async fn credentials_are_checked_and_never_reveal_a_tenant(db: Db) {
    let app = TestApp::new(db).await;
    let t = app.scim_tenant("Creds").await;
    let other = app.scim_tenant("Other").await;
    let tenant = roster_shared::ids::TenantId::parse(&t.id).unwrap();
    let body = json!({"schemas": [USER], "userName": "x@creds.test"});

    let unknown_tenant = roster_shared::ids::TenantId::random().to_string();
    let attempts: Vec<(String, String)> = vec![
        (t.id.clone(), "rst_wrongwrongwrongwrongwrongwrongwrongwrong".into()),
        (t.id.clone(), "not-even-a-token".into()),
        (t.id.clone(), other.token.clone()),
        (unknown_tenant.clone(), t.token.clone()),
        ("acme".into(), t.token.clone()),
    ];
    let mut bodies = Vec::new();
    for (tenant_key, token) in &attempts {
        let (s, h, res) = app.scim("POST", tenant_key, token, "/Users", Some(body.clone())).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{tenant_key} {token}");
        assert!(h.get("www-authenticate").is_some());
        bodies.push(res);
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "every refusal looks the same: {bodies:?}");
    // No Authorization header at all.
    let res = app.send(Request::get(format!("/scim/v2/{}/Users", t.id)).body(Body::empty()).unwrap()).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    // SCIM switched off: refused; back on: accepted.
    roster_shared::service::credentials::set_scim_enabled(&app.store, &tenant, false).await.unwrap();
    let (s, _, _) = app.scim("POST", &t.id, &t.token, "/Users", Some(body.clone())).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    roster_shared::service::credentials::set_scim_enabled(&app.store, &tenant, true).await.unwrap();
    let (s, _, _) = app.scim("GET", &t.id, &t.token, "/Users", None).await;
    assert_eq!(s, StatusCode::OK);

    // Revoked: refused.
    let id = roster_shared::ids::CredentialId::parse(&t.token_id).unwrap();
    assert!(roster_shared::service::credentials::revoke(&app.store, &tenant, &id).await.unwrap());
    let (s, _, _) = app.scim("POST", &t.id, &t.token, "/Users", Some(body.clone())).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // A second token works; it records its last use.
    let (record, secret) =
        roster_shared::service::credentials::create_token(&app.store, &tenant, "second", "test", Some(30))
            .await
            .unwrap();
    assert!(record.expires_at.is_some() && record.last_used_at.is_none());
    let (s, _, _) = app.scim("POST", &t.id, secret.expose(), "/Users", Some(body.clone())).await;
    assert_eq!(s, StatusCode::CREATED);
    let used = app.store.tenant(&tenant).credential(&record.id).await.unwrap().unwrap();
    assert!(used.last_used_at.is_some());
    assert_eq!(user_count(&app, &t.clone_with(secret.expose())).await, 1, "only the accepted request wrote");

    // Refused requests leave no activity for the tenant; accepted ones do.
    let log = app.activity(&tenant, 100).await;
    assert!(log.iter().all(|a| a.status != Some(401)));
}

trait CloneWith {
    fn clone_with(&self, token: &str) -> ScimTenant;
}

impl CloneWith for ScimTenant {
    fn clone_with(&self, token: &str) -> ScimTenant {
        ScimTenant { id: self.id.clone(), token: token.to_string(), token_id: self.token_id.clone() }
    }
}

async fn tenants_are_isolated_on_every_endpoint(db: Db) {
    let app = TestApp::new(db).await;
    let a = app.scim_tenant("Tenant A").await;
    let b = app.scim_tenant("Tenant B").await;
    let (_, _, bu) = app
        .scim("POST", &b.id, &b.token, "/Users", Some(json!({"schemas": [USER], "userName": "secret@b.test"})))
        .await;
    let (_, _, bg) =
        app.scim("POST", &b.id, &b.token, "/Groups", Some(json!({"schemas": [GROUP], "displayName": "B only"}))).await;
    let (bu, bg) = (bu["id"].as_str().unwrap().to_string(), bg["id"].as_str().unwrap().to_string());
    let user_body = json!({"schemas": [USER], "userName": "intruder@a.test"});
    let patch = json!({"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"displayName": "pwned"}}]});
    let group_body = json!({"schemas": [GROUP], "displayName": "x", "members": [{"value": bu}]});
    let endpoints: Vec<(&str, String, Option<Value>)> = vec![
        ("GET", "/Users".into(), None),
        ("POST", "/Users".into(), Some(user_body.clone())),
        (
            "POST",
            "/Users/.search".into(),
            Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"]})),
        ),
        ("GET", format!("/Users/{bu}"), None),
        ("PUT", format!("/Users/{bu}"), Some(user_body.clone())),
        ("PATCH", format!("/Users/{bu}"), Some(patch.clone())),
        ("DELETE", format!("/Users/{bu}"), None),
        ("GET", "/Groups".into(), None),
        ("POST", "/Groups".into(), Some(group_body.clone())),
        ("GET", format!("/Groups/{bg}"), None),
        ("PUT", format!("/Groups/{bg}"), Some(group_body.clone())),
        ("PATCH", format!("/Groups/{bg}"), Some(patch.clone())),
        ("DELETE", format!("/Groups/{bg}"), None),
        ("POST", "/.search".into(), Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"]}))),
        ("GET", "/ServiceProviderConfig".into(), None),
        ("GET", "/ResourceTypes".into(), None),
        ("GET", "/Schemas".into(), None),
    ];
    // A's credential on B's URL: refused everywhere.
    for (m, p, body) in &endpoints {
        let (s, _, _) = app.scim(m, &b.id, &a.token, p, body.clone()).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{m} {p}");
    }
    // A's credential on A's URL with B's ids: B's resources do not exist for A.
    for (m, p, body) in &endpoints {
        if !(p.contains(&bu) || p.contains(&bg) || (m == &"POST" && p == "/Groups")) {
            continue;
        }
        let (s, _, res) = app.scim(m, &a.id, &a.token, p, body.clone()).await;
        let expected = if m == &"POST" { StatusCode::BAD_REQUEST } else { StatusCode::NOT_FOUND };
        assert_eq!(s, expected, "{m} {p}: {res}");
    }
    let (_, _, list) = app.scim("GET", &a.id, &a.token, "/Users", None).await;
    assert_eq!(list["totalResults"], 0);
    // B is untouched.
    let (s, _, u) = app.scim("GET", &b.id, &b.token, &format!("/Users/{bu}"), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(u["meta"]["version"], "W/\"1\"");
    let (_, _, g) = app.scim("GET", &b.id, &b.token, &format!("/Groups/{bg}"), None).await;
    assert_eq!(g["displayName"], "B only");
}

async fn sql_filters_agree_with_the_reference_evaluator(db: Db) {
    let app = TestApp::new(db).await;
    let t = app.scim_tenant("Filters").await;
    let people = [
        json!({"userName": "Ada.Lovelace@Example.com", "displayName": "Ada Lovelace", "title": "Countess", "active": true, "externalId": "E-1",
               "name": {"givenName": "Ada", "familyName": "Lovelace"},
               "emails": [{"value": "ada@example.com", "type": "work", "primary": true}, {"value": "ada@home.org", "type": "home"}],
               "addresses": [{"type": "work", "country": "GB", "locality": "London"}],
               "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Analytics", "employeeNumber": "001"}}),
        json!({"userName": "grace@example.com", "displayName": "Grace Hopper", "title": "Rear Admiral", "active": false, "externalId": "e-2",
               "emails": [{"value": "grace@navy.mil", "type": "work"}],
               "addresses": [{"type": "work", "country": "US"}, {"type": "home", "country": "GB"}],
               "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Navy"}}),
        json!({"userName": "linus@kernel.org", "nickName": "torvalds", "emails": [{"value": "LINUS@kernel.org", "type": "home"}],
               "phoneNumbers": [{"value": "+1 555 0100", "type": "mobile"}]}),
        json!({"userName": "nobody", "active": true, "title": ""}),
        json!({"userName": "percent%_under\\score", "displayName": "Weird_Chars 100%"}),
    ];
    for p in &people {
        let mut body = p.clone();
        body["schemas"] = json!([USER, "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]);
        let (s, _, res) = app.scim("POST", &t.id, &t.token, "/Users", Some(body)).await;
        assert_eq!(s, StatusCode::CREATED, "{res}");
    }
    let (_, _, all) = app.scim("GET", &t.id, &t.token, "/Users?count=100", None).await;
    let all: Vec<Value> = all["Resources"].as_array().unwrap().clone();
    assert_eq!(all.len(), people.len());

    let filters = [
        r#"userName eq "ada.lovelace@example.com""#,
        r#"userName co "EXAMPLE""#,
        r#"userName sw "g""#,
        r#"userName ew ".org""#,
        r#"userName co "%""#,
        r#"userName co "_u""#,
        r#"userName co "\\""#,
        r#"userName gt "h""#,
        r#"userName le "grace@example.com""#,
        r#"displayName co "100%""#,
        r#"displayName pr"#,
        r#"not (displayName pr)"#,
        r#"title pr"#,
        r#"title eq null"#,
        r#"title ne "Countess""#,
        r#"nickName eq "TORVALDS""#,
        r#"externalId eq "e-1""#,
        r#"externalId eq "E-1""#,
        r#"externalId sw "e""#,
        r#"externalId co "-""#,
        r#"active eq true"#,
        r#"active ne true"#,
        r#"active eq false or title sw "count""#,
        r#"name.givenName eq "ada""#,
        r#"name.familyName pr"#,
        r#"name[givenName sw "A"]"#,
        r#"emails co "example.com""#,
        r#"emails.value ew "KERNEL.ORG""#,
        r#"emails[type eq "work" and value co "navy"]"#,
        r#"emails[type eq "home"]"#,
        r#"emails[primary eq true]"#,
        r#"emails.type eq "home" and not (emails.type eq "work")"#,
        r#"addresses[type eq "work"].country eq "US""#,
        r#"addresses.country eq "GB""#,
        r#"addresses[type eq "home" and country eq "GB"] or phoneNumbers pr"#,
        r#"phoneNumbers[type eq "mobile"].value sw "+1""#,
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "navy""#,
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber pr"#,
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department ne "Navy""#,
        r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
        r#"meta.created ge "2000-01-01T00:00:00Z""#,
        r#"meta.lastModified lt "2000-01-01T00:00:00Z""#,
        r#"meta.resourceType eq "User""#,
        r#"id pr and userName ne "nobody""#,
    ];
    let rs = ResourceSchema::user();
    for f in filters {
        let parsed = Filter::parse_for(f, rs).unwrap_or_else(|e| panic!("{f}: {e}"));
        let mut expected: Vec<String> =
            all.iter().filter(|u| parsed.matches(u, rs)).map(|u| u["userName"].as_str().unwrap().to_string()).collect();
        expected.sort();
        let (s, _, body) = app.scim("GET", &t.id, &t.token, &format!("/Users?count=100&filter={}", q(f)), None).await;
        assert_eq!(s, StatusCode::OK, "{f}: {body}");
        let mut got: Vec<String> =
            body["Resources"].as_array().unwrap().iter().map(|u| u["userName"].as_str().unwrap().to_string()).collect();
        got.sort();
        assert_eq!(got, expected, "filter {f}");
        assert_eq!(body["totalResults"].as_u64().unwrap() as usize, expected.len(), "{f}");
    }
}

async fn sorting_and_paging(db: Db) {
    let app = TestApp::new(db).await;
    let t = app.scim_tenant("Paging").await;
    for i in 0..25 {
        let (s, _, _) = app
            .scim("POST", &t.id, &t.token, "/Users", Some(json!({"schemas": [USER], "userName": format!("user{i:02}@paging.test"), "displayName": format!("D{}", 24 - i)})))
            .await;
        assert_eq!(s, StatusCode::CREATED);
    }
    let (_, _, p) = app.scim("GET", &t.id, &t.token, "/Users?startIndex=11&count=10&sortBy=userName", None).await;
    assert_eq!(p["totalResults"], 25);
    assert_eq!(p["startIndex"], 11);
    assert_eq!(p["itemsPerPage"], 10);
    assert_eq!(p["Resources"][0]["userName"], "user10@paging.test");
    let (_, _, p) = app
        .scim("GET", &t.id, &t.token, "/Users?startIndex=21&count=10&sortBy=userName&sortOrder=descending", None)
        .await;
    assert_eq!(p["itemsPerPage"], 5);
    assert_eq!(p["Resources"][0]["userName"], "user04@paging.test");
    let (_, _, p) =
        app.scim("GET", &t.id, &t.token, "/Users?count=3&sortBy=displayName&attributes=displayName", None).await;
    assert_eq!(p["Resources"][0]["displayName"], "D0");
    assert!(p["Resources"][0].get("userName").is_none(), "attributes projects");
    assert!(p["Resources"][0].get("id").is_some(), "id is always returned");
    let (_, _, p) = app.scim("GET", &t.id, &t.token, "/Users?startIndex=0&count=-5", None).await;
    assert_eq!(
        (p["startIndex"].clone(), p["itemsPerPage"].clone(), p["totalResults"].clone()),
        (json!(1), json!(0), json!(25))
    );
    let (_, _, p) = app.scim("GET", &t.id, &t.token, "/Users?startIndex=100", None).await;
    assert_eq!(p["Resources"], json!([]));
    // POST .search is the same query in a body.
    let (s, _, p) = app
        .scim("POST", &t.id, &t.token, "/Users/.search", Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": "userName sw \"user1\"", "sortBy": "userName", "count": 3, "attributes": ["userName"]})))
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(p["totalResults"], 10);
    assert_eq!(p["Resources"].as_array().unwrap().len(), 3);

    // RFC 9865 cursors: walk every user, ten at a time; every user once, no counting.
    let mut seen = std::collections::HashSet::new();
    let mut cursor = String::new();
    let mut pages = 0;
    loop {
        let (s, _, p) = app.scim("GET", &t.id, &t.token, &format!("/Users?count=10&cursor={}", q(&cursor)), None).await;
        assert_eq!(s, StatusCode::OK, "{p}");
        assert!(p.get("startIndex").is_none(), "{p}");
        // The first page counts the matches; later pages do not (constant cost per page).
        assert_eq!(p.get("totalResults").is_some(), cursor.is_empty(), "{p}");
        pages += 1;
        for u in p["Resources"].as_array().unwrap() {
            assert!(seen.insert(u["id"].as_str().unwrap().to_string()), "a user came twice");
        }
        match p.get("nextCursor").and_then(Value::as_str) {
            Some(next) => cursor = next.to_string(),
            None => break,
        }
    }
    assert_eq!((seen.len(), pages), (25, 3));
    let (s, _, e) = app.scim("GET", &t.id, &t.token, "/Users?cursor=garbage", None).await;
    assert_eq!((s, e["scimType"].as_str()), (StatusCode::BAD_REQUEST, Some("invalidCursor")));
    let (s, _, _) = app.scim("GET", &t.id, &t.token, "/Users?cursor=&sortBy=userName", None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // A filter naming one user by a unique key counts by reading its page when it can: the
    // total is the same on every page shape, found or not.
    for (filter, found) in [
        ("userName eq \"USER07@paging.test\"", 1),
        ("userName eq \"user07@paging.test\" and active eq true", 1),
        ("userName eq \"nobody@paging.test\"", 0),
    ] {
        for (paging, items) in
            [("", found), ("&count=1", found), ("&count=0", 0), ("&startIndex=2", 0), ("&cursor=", found)]
        {
            let (s, _, p) =
                app.scim("GET", &t.id, &t.token, &format!("/Users?filter={}{paging}", q(filter)), None).await;
            assert_eq!(s, StatusCode::OK, "{filter} {paging}: {p}");
            assert_eq!(p["totalResults"], found, "{filter} {paging}: {p}");
            assert_eq!(p["Resources"].as_array().map_or(0, Vec::len), items, "{filter} {paging}: {p}");
        }
    }
    let (_, _, p) =
        app.scim("GET", &t.id, &t.token, "/Users?filter=userName%20eq%20%22user07%40paging.test%22", None).await;
    let id = p["Resources"][0]["id"].as_str().unwrap().to_string();
    let (_, _, p) =
        app.scim("GET", &t.id, &t.token, &format!("/Users?filter={}", q(&format!("id eq \"{id}\""))), None).await;
    assert_eq!(
        (p["totalResults"].clone(), p["Resources"][0]["userName"].clone()),
        (json!(1), json!("user07@paging.test"))
    );
    // A page reads each user's stored document as it is (on PostgreSQL the `jsonb` column in
    // its binary form, not cast to text in the query): every listed user is what a GET of it
    // answers, escapes and characters outside ASCII included.
    let tricky = "Zoë \"Q\" \\ <b>✓</b> \u{1F600}";
    let (s, _, _) = app
        .scim(
            "POST",
            &t.id,
            &t.token,
            "/Users",
            Some(
                json!({"schemas": [USER], "userName": "tricky@paging.test", "displayName": tricky, "title": "a\nb\tc"}),
            ),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (_, _, p) = app.scim("GET", &t.id, &t.token, "/Users?startIndex=20&count=10", None).await;
    let listed = p["Resources"].as_array().unwrap();
    assert_eq!(listed.len(), 7);
    assert!(listed.iter().any(|u| u["displayName"] == tricky), "{p}");
    for u in listed {
        let (_, _, one) =
            app.scim("GET", &t.id, &t.token, &format!("/Users/{}", u["id"].as_str().unwrap()), None).await;
        assert_eq!(u, &one);
    }
}

async fn etags_and_conditional_requests(db: Db) {
    let app = TestApp::new(db).await;
    let t = app.scim_tenant("ETags").await;
    let (_, h, u) =
        app.scim("POST", &t.id, &t.token, "/Users", Some(json!({"schemas": [USER], "userName": "etag@test"}))).await;
    let id = u["id"].as_str().unwrap().to_string();
    let etag = h.get("etag").unwrap().to_str().unwrap().to_string();
    let req = |m: &str, extra: (&str, &str), body: Option<Value>| {
        let mut b = Request::builder()
            .method(m)
            .uri(format!("/scim/v2/{}/Users/{id}", t.id))
            .header(header::AUTHORIZATION, format!("Bearer {}", t.token))
            .header(extra.0, extra.1);
        if body.is_some() {
            b = b.header(header::CONTENT_TYPE, "application/scim+json");
        }
        (b, body.map(|v| Body::from(v.to_string())).unwrap_or_else(Body::empty))
    };
    let (b, body) = req("GET", ("if-none-match", &etag), None);
    assert_eq!(app.scim_raw(b, body).await.status(), StatusCode::NOT_MODIFIED);
    let patch = json!({"schemas": [PATCH], "Operations": [{"op": "add", "path": "title", "value": "T"}]});
    let (b, body) = req("PATCH", ("if-match", "W/\"999\""), Some(patch.clone()));
    let res = app.scim_raw(b, body).await;
    assert_eq!(res.status(), StatusCode::PRECONDITION_FAILED);
    let (b, body) = req("PATCH", ("if-match", &etag), Some(patch.clone()));
    let res = app.scim_raw(b, body).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers().get("etag").unwrap(), "W/\"2\"");
    let (b, body) = req("DELETE", ("if-match", &etag), None);
    assert_eq!(app.scim_raw(b, body).await.status(), StatusCode::PRECONDITION_FAILED);
    let (b, body) = req("GET", ("if-none-match", &etag), None);
    assert_eq!(app.scim_raw(b, body).await.status(), StatusCode::OK);
}

async fn nested_groups_show_in_user_groups(db: Db) {
    let app = TestApp::new(db).await;
    let t = app.scim_tenant("Nested").await;
    let (_, _, u) =
        app.scim("POST", &t.id, &t.token, "/Users", Some(json!({"schemas": [USER], "userName": "n@test"}))).await;
    let uid = u["id"].as_str().unwrap().to_string();
    let (_, _, inner) = app
        .scim(
            "POST",
            &t.id,
            &t.token,
            "/Groups",
            Some(json!({"schemas": [GROUP], "displayName": "Inner", "members": [{"value": uid}]})),
        )
        .await;
    let inner_id = inner["id"].as_str().unwrap().to_string();
    let (s, _, outer) = app
        .scim(
            "POST",
            &t.id,
            &t.token,
            "/Groups",
            Some(
                json!({"schemas": [GROUP], "displayName": "Outer", "members": [{"value": inner_id, "type": "Group"}]}),
            ),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{outer}");
    assert_eq!(outer["members"][0]["type"], "Group");
    let (_, _, u) = app.scim("GET", &t.id, &t.token, &format!("/Users/{uid}"), None).await;
    let groups: Vec<(String, String)> = u["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["display"].as_str().unwrap().into(), g["type"].as_str().unwrap().into()))
        .collect();
    assert_eq!(
        groups,
        vec![("Inner".to_string(), "direct".to_string()), ("Outer".to_string(), "indirect".to_string())]
    );
    // The lookup by userName (one statement on PostgreSQL) and a list page agree with the GET.
    for path in [format!("/Users?filter={}", q("userName eq \"N@TEST\"")), "/Users?count=5".to_string()] {
        let (_, _, p) = app.scim("GET", &t.id, &t.token, &path, None).await;
        assert_eq!(p["totalResults"], 1, "{path}: {p}");
        assert_eq!(p["Resources"][0], u, "{path}");
    }
    let (_, _, p) = app
        .scim(
            "GET",
            &t.id,
            &t.token,
            &format!("/Users?filter={}&attributes=userName", q("userName eq \"n@test\"")),
            None,
        )
        .await;
    assert!(p["Resources"][0].get("groups").is_none(), "{p}");
    // A PATCH and a PUT answer the user as written with the same groups (on PostgreSQL the
    // write reads them in its one statement), and a GET then shows what they answered.
    let path = format!("/Users/{uid}");
    let title = json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "title", "value": "Boss"}]});
    let put = json!({"schemas": [USER], "userName": "n@test", "title": "Chief"});
    for (method, body, version) in [("PATCH", title, "W/\"2\""), ("PUT", put, "W/\"3\"")] {
        let (s, _, written) = app.scim(method, &t.id, &t.token, &path, Some(body)).await;
        assert_eq!(s, StatusCode::OK, "{method}: {written}");
        assert_eq!(written["groups"], u["groups"], "{method}");
        assert_eq!(written["meta"]["version"], version, "{method}");
        let (_, _, read) = app.scim("GET", &t.id, &t.token, &path, None).await;
        assert_eq!(read, written, "{method}");
    }
    // Deleting the user removes its memberships.
    app.scim("DELETE", &t.id, &t.token, &format!("/Users/{uid}"), None).await;
    let (_, _, inner) = app.scim("GET", &t.id, &t.token, &format!("/Groups/{inner_id}"), None).await;
    assert!(inner.get("members").is_none());
}

async fn discovery_endpoints(db: Db) {
    let app = TestApp::new(db).await;
    let t = app.scim_tenant("Discovery").await;
    let (s, _, spc) = app.scim("GET", &t.id, &t.token, "/ServiceProviderConfig", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(spc["patch"]["supported"], true);
    assert_eq!(spc["filter"]["supported"], true);
    assert_eq!(spc["etag"]["supported"], true);
    assert_eq!(spc["authenticationSchemes"][0]["type"], "oauthbearertoken");
    let (_, _, rts) = app.scim("GET", &t.id, &t.token, "/ResourceTypes", None).await;
    assert_eq!(rts["totalResults"], 2);
    let (s, _, rt) = app.scim("GET", &t.id, &t.token, "/ResourceTypes/User", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(rt["schemaExtensions"][0]["schema"], "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User");
    let (_, _, schemas) = app.scim("GET", &t.id, &t.token, "/Schemas", None).await;
    assert_eq!(schemas["totalResults"], 3);
    let (s, _, user) = app.scim("GET", &t.id, &t.token, &format!("/Schemas/{USER}"), None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(user["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["name"] == "userName" && a["uniqueness"] == "server"));
    let (s, _, _) = app.scim("GET", &t.id, &t.token, "/Schemas/urn:nope", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

async fn concurrent_writes_lose_nothing(db: Db) {
    let app = std::sync::Arc::new(TestApp::new(db).await);
    let t = std::sync::Arc::new(app.scim_tenant("Concurrency").await);
    // Ten simultaneous creates of one userName: exactly one 201.
    let creates = (0..10).map(|_| {
        app.scim("POST", &t.id, &t.token, "/Users", Some(json!({"schemas": [USER], "userName": "race@test"})))
    });
    let results = futures_join_all(creates).await;
    let created = results.iter().filter(|(s, _, _)| *s == StatusCode::CREATED).count();
    let conflicts = results.iter().filter(|(s, _, _)| *s == StatusCode::CONFLICT).count();
    assert_eq!((created, conflicts), (1, 9), "{:?}", results.iter().map(|r| r.0).collect::<Vec<_>>());

    // Twenty simultaneous member additions to one group: all twenty are members.
    let mut ids = Vec::new();
    for i in 0..20 {
        let (_, _, u) = app
            .scim("POST", &t.id, &t.token, "/Users", Some(json!({"schemas": [USER], "userName": format!("m{i}@test")})))
            .await;
        ids.push(u["id"].as_str().unwrap().to_string());
    }
    let (_, _, g) =
        app.scim("POST", &t.id, &t.token, "/Groups", Some(json!({"schemas": [GROUP], "displayName": "Busy"}))).await;
    let gid = g["id"].as_str().unwrap().to_string();
    let path = format!("/Groups/{gid}");
    let adds = ids.iter().map(|id| {
        app.scim(
            "PATCH",
            &t.id,
            &t.token,
            &path,
            Some(
                json!({"schemas": [PATCH], "Operations": [{"op": "add", "path": "members", "value": [{"value": id}]}]}),
            ),
        )
    });
    for (s, h, body) in futures_join_all(adds).await {
        assert_eq!(s, StatusCode::NO_CONTENT, "{body}");
        assert!(h.get("etag").is_some());
    }
    let (_, _, g) = app.scim("GET", &t.id, &t.token, &format!("/Groups/{gid}"), None).await;
    assert_eq!(g["members"].as_array().unwrap().len(), 20);
    assert_eq!(g["meta"]["version"], "W/\"21\"");

    // Ten simultaneous PATCHes of one user, each adding an email, five times over: every one is
    // answered 200 and is in the user (this instance's writes of a user take turns; before, a
    // write that found the user changed read it again and gave up after five tries, 409), and
    // the version counts the writes.
    let path = format!("/Users/{}", ids[0]);
    let mut written = Vec::new();
    for round in 0..5 {
        let patches: Vec<_> = (0..10)
            .map(|i| {
                let (app, t, id) = (app.clone(), t.clone(), ids[0].clone());
                let email = json!([{"value": format!("e{round}-{i}@test"), "type": "work"}]);
                let ops = json!([{"op": "add", "path": "emails", "value": email}]);
                tokio::spawn(async move { app.patch_user(&t, &id, ops).await })
            })
            .collect();
        for (i, patch) in patches.into_iter().enumerate() {
            let (s, body) = patch.await.expect("PATCH task");
            assert_eq!(s, StatusCode::OK, "round {round}, PATCH {i}: {body}");
            written.push(format!("e{round}-{i}@test"));
        }
    }
    let (_, _, u) = app.scim("GET", &t.id, &t.token, &path, None).await;
    let mut emails: Vec<String> =
        u["emails"].as_array().unwrap().iter().map(|e| e["value"].as_str().unwrap().to_string()).collect();
    emails.sort();
    written.sort();
    assert_eq!(emails, written, "{u}");
    assert_eq!(u["meta"]["version"], "W/\"51\"", "{u}");
}

/// Runs futures concurrently (no extra dependency for one helper).
async fn futures_join_all<F: std::future::Future>(futs: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let handles: Vec<_> = futs.into_iter().map(Box::pin).collect();
    let mut outputs = Vec::with_capacity(handles.len());
    // Polling them all together: tokio::join! needs a fixed count, so select in a loop.
    let mut pending: Vec<Option<std::pin::Pin<Box<F>>>> = handles.into_iter().map(Some).collect();
    let mut results: Vec<Option<F::Output>> = (0..pending.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut all_done = true;
        for (i, slot) in pending.iter_mut().enumerate() {
            if let Some(f) = slot {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(out) => {
                        results[i] = Some(out);
                        *slot = None;
                    }
                    std::task::Poll::Pending => all_done = false,
                }
            }
        }
        if all_done {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    outputs.extend(results.into_iter().flatten());
    outputs
}

async fn busy_credentials_are_rate_limited(db: Db) {
    let app = TestApp::with_rate_limit(db, 1).await;
    let t = app.scim_tenant("Busy").await;
    let other = app.scim_tenant("Quiet").await;
    let mut limited = None;
    for _ in 0..10 {
        let (s, h, body) = app.scim("GET", &t.id, &t.token, "/Users", None).await;
        if s == StatusCode::TOO_MANY_REQUESTS {
            limited = Some((h, body));
            break;
        }
        assert_eq!(s, StatusCode::OK);
    }
    let (h, body) = limited.expect("ten requests at once exceed one per second");
    assert!(h
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|s| s >= 1));
    assert_eq!(body["status"], "429");
    // Another tenant's credential has its own budget.
    let (s, _, _) = app.scim("GET", &other.id, &other.token, "/Users", None).await;
    assert_eq!(s, StatusCode::OK);
}

async fn old_activity_is_deleted(db: Db) {
    let app = TestApp::new(db).await;
    let t = app.scim_tenant("Retention").await;
    app.scim("GET", &t.id, &t.token, "/Users", None).await;
    let tenant = roster_shared::ids::TenantId::parse(&t.id).unwrap();
    assert_eq!(app.activity(&tenant, 10).await.len(), 1);
    assert_eq!(app.store.delete_activity_before(0).await.unwrap(), 0, "nothing older than 1970");
    let n = app.store.delete_activity_before(roster_shared::clock::now_ms() + 1).await.unwrap();
    assert!(n >= 1);
    assert!(app.activity(&tenant, 10).await.is_empty());
}

async fn bulk_requests_resolve_bulk_ids_and_report_each_operation(db: Db) {
    let app = TestApp::new(db).await;
    let t = app.scim_tenant("Bulk").await;
    const BULK: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
    // RFC 7644 3.7.2: a user and a group that references it by bulkId, in one request.
    let (s, _, res) = app
        .scim(
            "POST",
            &t.id,
            &t.token,
            "/Bulk",
            Some(json!({"schemas": [BULK], "Operations": [
                {"method": "POST", "path": "/Users", "bulkId": "qwerty", "data": {"schemas": [USER], "userName": "Alice"}},
                {"method": "POST", "path": "/Groups", "bulkId": "ytrewq", "data": {"schemas": [GROUP], "displayName": "Tour Guides", "members": [{"type": "User", "value": "bulkId:qwerty"}]}},
                {"method": "PATCH", "path": "/Users/bulkId:qwerty", "data": {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": false}]}},
                {"method": "POST", "path": "/Users", "data": {"schemas": [USER], "userName": "ALICE"}},
                {"method": "POST", "path": "/Groups", "data": {"schemas": [GROUP], "displayName": "x", "members": [{"value": "bulkId:nope"}]}},
                {"method": "GET", "path": "/Users"}
            ]})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{res}");
    assert_eq!(res["schemas"], json!(["urn:ietf:params:scim:api:messages:2.0:BulkResponse"]));
    let ops = res["Operations"].as_array().unwrap();
    let statuses: Vec<&str> = ops.iter().map(|o| o["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, vec!["201", "201", "200", "409", "400", "400"]);
    assert_eq!(ops[0]["bulkId"], "qwerty");
    let user_id = ops[0]["location"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
    let group_loc = ops[1]["location"].as_str().unwrap();
    let (_, _, g) =
        app.scim("GET", &t.id, &t.token, &format!("/Groups/{}", group_loc.rsplit('/').next().unwrap()), None).await;
    assert_eq!(g["members"][0]["value"], user_id.as_str(), "bulkId resolved to the new user");
    let (_, _, u) = app.scim("GET", &t.id, &t.token, &format!("/Users/{user_id}"), None).await;
    assert_eq!(u["active"], false);
    assert_eq!(ops[3]["response"]["scimType"], "uniqueness");

    // failOnErrors stops after that many errors.
    let (_, _, res) = app
        .scim(
            "POST",
            &t.id,
            &t.token,
            "/Bulk",
            Some(json!({"schemas": [BULK], "failOnErrors": 1, "Operations": [
                {"method": "DELETE", "path": "/Users/nope"},
                {"method": "POST", "path": "/Users", "data": {"schemas": [USER], "userName": "never"}}
            ]})),
        )
        .await;
    assert_eq!(res["Operations"].as_array().unwrap().len(), 1);
    let (_, _, list) =
        app.scim("GET", &t.id, &t.token, &format!("/Users?filter={}", q("userName eq \"never\"")), None).await;
    assert_eq!(list["totalResults"], 0);

    // Too many operations: 413, nothing done.
    let many: Vec<Value> = (0..1001)
        .map(|i| json!({"method": "POST", "path": "/Users", "data": {"schemas": [USER], "userName": format!("u{i}")}}))
        .collect();
    let (s, _, res) =
        app.scim("POST", &t.id, &t.token, "/Bulk", Some(json!({"schemas": [BULK], "Operations": many}))).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{res}");
    assert_eq!(user_count(&app, &t).await, 1);
    let (_, _, spc) = app.scim("GET", &t.id, &t.token, "/ServiceProviderConfig", None).await;
    assert_eq!(spc["bulk"]["supported"], true);
    assert_eq!(spc["bulk"]["maxOperations"], 1000);
}

async fn http_basic_credentials(db: Db) {
    use base64::Engine;
    let app = TestApp::new(db).await;
    let t = app.scim_tenant("Basic").await;
    let tenant = roster_shared::ids::TenantId::parse(&t.id).unwrap();
    let (record, secret) =
        roster_shared::service::credentials::create_basic(&app.store, &tenant, "legacy client", "test", None)
            .await
            .unwrap();
    let basic = |user: &str, pass: &str| {
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}")))
    };
    let get = |auth: String| {
        Request::get(format!("/scim/v2/{}/Users", t.id))
            .header(header::AUTHORIZATION, auth)
            .body(Body::empty())
            .unwrap()
    };
    assert_eq!(app.send(get(basic(record.id.as_str(), secret.expose()))).await.status(), StatusCode::OK);
    // Wrong password, wrong user, a bearer token as password, the password as a bearer token.
    for auth in [
        basic(record.id.as_str(), "rsp_wrongwrongwrongwrongwrongwrongwrongwrong"),
        basic(&t.token_id, secret.expose()),
        basic(record.id.as_str(), &t.token),
        format!("Bearer {}", secret.expose()),
        "Basic not-base64!".to_string(),
    ] {
        assert_eq!(app.send(get(auth.clone())).await.status(), StatusCode::UNAUTHORIZED, "{auth}");
    }
    // Revoked: refused.
    roster_shared::service::credentials::revoke(&app.store, &tenant, &record.id).await.unwrap();
    assert_eq!(app.send(get(basic(record.id.as_str(), secret.expose()))).await.status(), StatusCode::UNAUTHORIZED);
}

async fn oauth_client_credentials(db: Db) {
    use base64::Engine;
    let app = TestApp::new(db).await;
    let t = app.scim_tenant("OAuth").await;
    let other = app.scim_tenant("OAuth other").await;
    let tenant = roster_shared::ids::TenantId::parse(&t.id).unwrap();
    let (client, secret) =
        roster_shared::service::credentials::create_oauth_client(&app.store, &tenant, "Entra", "test").await.unwrap();
    let token_req = |tenant: &str, auth: Option<String>, form: String| {
        let mut b = Request::post(format!("/scim/v2/{tenant}/oauth/token"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(a) = auth {
            b = b.header(header::AUTHORIZATION, a);
        }
        b.body(Body::from(form)).unwrap()
    };
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", client.id, secret.expose()))
    );

    // Client authentication by Basic header, and by form fields.
    let res = app.send(token_req(&t.id, Some(basic.clone()), "grant_type=client_credentials".into())).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = serde_json::from_str(&body_text(res).await).unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    let access = body["access_token"].as_str().unwrap().to_string();
    let form = format!("grant_type=client_credentials&client_id={}&client_secret={}", client.id, secret.expose());
    assert_eq!(app.send(token_req(&t.id, None, form.clone())).await.status(), StatusCode::OK);

    // The access token works for SCIM; the client secret itself does not.
    let (s, _, _) = app.scim("GET", &t.id, &access, "/Users", None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _, _) = app.scim("GET", &t.id, secret.expose(), "/Users", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // Wrong grant, wrong secret, another tenant's URL: OAuth errors.
    let res = app.send(token_req(&t.id, Some(basic.clone()), "grant_type=password".into())).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(body_text(res).await.contains("unsupported_grant_type"));
    let res = app
        .send(token_req(
            &t.id,
            None,
            format!("grant_type=client_credentials&client_id={}&client_secret=rsc_wrong", client.id),
        ))
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(body_text(res).await.contains("invalid_client"));
    assert_eq!(
        app.send(token_req(&other.id, Some(basic.clone()), "grant_type=client_credentials".into())).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let (s, _, _) = app.scim("GET", &other.id, &access, "/Users", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "an access token belongs to its tenant");

    // Revoking the client revokes its access tokens.
    roster_shared::service::credentials::revoke(&app.store, &tenant, &client.id).await.unwrap();
    let (s, _, _) = app.scim("GET", &t.id, &access, "/Users", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.send(token_req(&t.id, Some(basic), "grant_type=client_credentials".into())).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

/// Credentials are cached per instance; a revocation made on one instance drops them on the
/// others at once (PostgreSQL NOTIFY), not only after the cache's lifetime.
async fn a_revocation_reaches_every_instance(db: Db) {
    let app = TestApp::new(db).await;
    let t = app.scim_tenant("Acme").await;
    let tenant = roster_shared::ids::TenantId::parse(&t.id).unwrap();
    // A second instance on the same database.
    let other = roster_shared::store::Store::connect(&app.db.url).await.expect("second instance");
    other.listen_for_tenant_changes();
    if app.db.url.starts_with("postgres") {
        // A change made before the listener is connected is not heard (what was cached before
        // is dropped when it connects): wait for it, however slow the machine.
        for _ in 0..1000 {
            if other.tenant_cache().is_listening() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(other.tenant_cache().is_listening(), "the second instance listens");
    }
    let ok = roster_shared::service::credentials::authenticate_bearer(&other, &tenant, &t.token).await.unwrap();
    assert!(ok.is_some());
    assert_eq!(other.tenant_cache().cached_for(&t.id), 1, "the second instance caches the credential");
    // The first instance's own cache, too; a revocation there drops it at once.
    let (status, _, _) = app.scim("GET", &t.id, &t.token, "/Users", None).await;
    assert_eq!(status.as_u16(), 200);
    let id = roster_shared::ids::CredentialId::parse(&t.token_id).unwrap();
    assert!(roster_shared::service::credentials::revoke(&app.store, &tenant, &id).await.unwrap());
    assert_eq!(app.store.tenant_cache().cached_for(&t.id), 0);
    let (status, _, _) = app.scim("GET", &t.id, &t.token, "/Users", None).await;
    assert_eq!(status.as_u16(), 401);
    if app.db.url.starts_with("postgres") {
        // The other instance hears of it (the notification takes a moment to arrive).
        for _ in 0..500 {
            if other.tenant_cache().cached_for(&t.id) == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(other.tenant_cache().cached_for(&t.id), 0, "dropped by the notification");
        let refused =
            roster_shared::service::credentials::authenticate_bearer(&other, &tenant, &t.token).await.unwrap();
        assert!(refused.is_none());
    }
}

/// A write starts from the user as its instance last read or wrote them, and that copy is out of
/// date once another instance (or process) writes the user: the write must then change nothing
/// and start again from the stored user — no change of the other instance's is lost, a PATCH
/// whose target only the stored user has still applies, and `If-Match` is checked against the
/// stored version.
async fn a_write_never_starts_from_another_instances_old_copy(db: Db) {
    let app = TestApp::new(db).await;
    let t = app.scim_tenant("Copies").await;
    let other = app.second_instance().await;
    let (s, _, created) = app
        .scim(
            "POST",
            &t.id,
            &t.token,
            "/Users",
            Some(json!({"schemas": [USER], "userName": "ada@copies.test", "title": "One",
                "emails": [{"type": "work", "value": "ada@copies.test", "primary": true}]})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let path = format!("/Users/{id}");
    // This instance has the user (it created and read them); the other writes them.
    let (s, _, _) = app.scim("GET", &t.id, &t.token, &path, None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, body) =
        other.patch_user(&t, &id, json!([{"op": "replace", "path": "displayName", "value": "Ada Two"}])).await;
    assert_eq!(s, StatusCode::OK, "{body}");

    // A PATCH here keeps the other instance's change.
    let (s, body) = app.patch_user(&t, &id, json!([{"op": "replace", "path": "title", "value": "Two"}])).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!((body["displayName"].as_str(), body["title"].as_str()), (Some("Ada Two"), Some("Two")), "{body}");
    assert_eq!(body["meta"]["version"], "W/\"3\"", "{body}");

    // A PATCH whose target only the stored user has (the other instance added it) applies (on
    // the copy it matches nothing, which is an error).
    let (s, body) = other
        .patch_user(
            &t,
            &id,
            json!([{"op": "add", "path": "emails", "value": [{"type": "home", "value": "ada@home.test"}]}]),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (s, body) = app
        .patch_user(
            &t,
            &id,
            json!([{"op": "replace", "path": "emails[value co \"@home.\"].value", "value": "ada@house.test"}]),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let emails: Vec<&str> = body["emails"].as_array().unwrap().iter().filter_map(|e| e["value"].as_str()).collect();
    assert_eq!(emails, ["ada@copies.test", "ada@house.test"], "{body}");

    // A PUT here keeps nothing of its own copy but what it sends; its answer is the stored user.
    let (s, body) = other.patch_user(&t, &id, json!([{"op": "replace", "path": "title", "value": "Three"}])).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (s, _, body) = app
        .scim(
            "PUT",
            &t.id,
            &t.token,
            &path,
            Some(json!({"schemas": [USER], "userName": "ada@copies.test", "nickName": "Ada"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["meta"]["version"], "W/\"7\"", "{body}");
    assert!(body.get("title").is_none(), "{body}");

    // `If-Match` is checked against the stored version, not the copy: the other instance's
    // write makes this instance's copy (version 7) out of date.
    let (s, body) = other.patch_user(&t, &id, json!([{"op": "replace", "path": "title", "value": "Four"}])).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let if_match = |etag: &str| {
        Request::builder()
            .method("PATCH")
            .uri(format!("/scim/v2/{}{path}", t.id))
            .header(header::AUTHORIZATION, format!("Bearer {}", t.token))
            .header(header::CONTENT_TYPE, "application/scim+json")
            .header(header::IF_MATCH, etag)
    };
    let body = || {
        Body::from(
            json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "title", "value": "Five"}]})
                .to_string(),
        )
    };
    let res = app.scim_raw(if_match("W/\"7\""), body()).await;
    assert_eq!(res.status(), StatusCode::PRECONDITION_FAILED);
    let res = app.scim_raw(if_match("W/\"8\""), body()).await;
    assert_eq!(res.status(), StatusCode::OK);

    // Both instances read the same user, every change in it.
    for instance in [&app, &other] {
        let (_, _, user) = instance.scim("GET", &t.id, &t.token, &path, None).await;
        assert_eq!(user["title"], "Five", "{user}");
        assert_eq!(user["nickName"], "Ada", "{user}");
        assert_eq!(user["meta"]["version"], "W/\"9\"", "{user}");
    }
}

/// A PATCH adding 600 members checks them in chunks of 500 keys (two statements of hundreds of
/// parameters, in place on SQLite): one unknown id, or another tenant's, refuses the whole
/// request and adds nobody; without them, every member is added with its type.
async fn a_group_write_checks_hundreds_of_members_at_once(db: Db) {
    const BULK: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
    let app = TestApp::new(db).await;
    let t = app.scim_tenant("Big").await;
    let other = app.scim_tenant("Other").await;
    let stranger = app.create_user(&other, "stranger@other.test").await;
    let ops: Vec<Value> = (0..600)
        .map(|i| json!({"method": "POST", "path": "/Users", "bulkId": format!("u{i}"), "data": {"schemas": [USER], "userName": format!("member{i:03}@big.test")}}))
        .collect();
    let (s, _, res) =
        app.scim("POST", &t.id, &t.token, "/Bulk", Some(json!({"schemas": [BULK], "Operations": ops}))).await;
    assert_eq!(s, StatusCode::OK, "{res}");
    let users: Vec<String> = res["Operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            assert_eq!(o["status"], "201", "{o}");
            o["location"].as_str().unwrap().rsplit('/').next().unwrap().to_string()
        })
        .collect();
    assert_eq!(users.len(), 600);
    let group = |name: &str| json!({"schemas": [GROUP], "displayName": name});
    let (_, _, big) = app.scim("POST", &t.id, &t.token, "/Groups", Some(group("Big"))).await;
    let (_, _, sub) = app.scim("POST", &t.id, &t.token, "/Groups", Some(group("Sub"))).await;
    let (big, sub) = (big["id"].as_str().unwrap().to_string(), sub["id"].as_str().unwrap().to_string());
    let add = |extra: &[&str]| {
        let mut values: Vec<Value> = users.iter().map(|u| json!({"value": u})).collect();
        values.push(json!({"value": sub}));
        values.extend(extra.iter().map(|e| json!({"value": e})));
        json!({"schemas": [PATCH], "Operations": [{"op": "add", "path": "members", "value": values}]})
    };
    let members = |v: &Value| v["members"].as_array().map_or(0, Vec::len);
    for bad in ["no-such-id", stranger.as_str()] {
        let (s, _, res) = app.scim("PATCH", &t.id, &t.token, &format!("/Groups/{big}"), Some(add(&[bad]))).await;
        assert_eq!((s, res["scimType"].as_str()), (StatusCode::BAD_REQUEST, Some("invalidValue")), "{res}");
        assert!(res["detail"].as_str().unwrap().contains(bad), "{res}");
        let (_, _, now) = app.scim("GET", &t.id, &t.token, &format!("/Groups/{big}"), None).await;
        assert_eq!(members(&now), 0, "nobody added: {now}");
    }
    let (s, _, res) = app.scim("PATCH", &t.id, &t.token, &format!("/Groups/{big}"), Some(add(&[]))).await;
    assert!(s.is_success(), "{s} {res}");
    let (_, _, now) = app.scim("GET", &t.id, &t.token, &format!("/Groups/{big}"), None).await;
    assert_eq!(members(&now), 601, "{now}");
    let kind =
        |id: &str| now["members"].as_array().unwrap().iter().find(|m| m["value"] == id).map(|m| m["type"].clone());
    assert_eq!(kind(&sub), Some(json!("Group")));
    assert_eq!(kind(&users[599]), Some(json!("User")));
}
