//! Okta's and Microsoft Entra ID's provisioning flows, end to end, as their documentation
//! describes the requests.

use http::StatusCode;
use serde_json::{json, Value};

use crate::both_backends;
use crate::common::*;

both_backends!(
    okta_user_lifecycle,
    okta_group_push,
    entra_user_lifecycle,
    entra_group_lifecycle,
    entra_adds_the_manager_as_a_bare_id,
    members_as_bare_ids,
    endpoint_names_as_idps_spell_them,
    diagnostics_tell_the_idp_and_entra_mode_from_replayed_traffic
);

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

fn q(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn okta_user_lifecycle(db: Db) {
    let app = TestApp::new(db).await;
    let t = app.scim_tenant("Okta Co").await;
    let scim = |m: &'static str, p: String, b: Option<Value>| {
        let app = &app;
        let t = &t;
        async move { app.scim(m, &t.id, &t.token, &p, b).await }
    };

    // 1. Okta looks the user up first.
    let (s, h, body) =
        scim("GET", format!("/Users?filter={}&startIndex=1&count=100", q(r#"userName eq "isabella@okta.test""#)), None)
            .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h.get("content-type").unwrap(), "application/scim+json");
    assert_eq!(body["totalResults"], 0);
    assert_eq!(body["Resources"], json!([]));

    // 2. Create.
    let (s, h, created) = scim(
        "POST",
        "/Users".into(),
        Some(json!({
            "schemas": [USER],
            "userName": "isabella@okta.test",
            "name": {"givenName": "Isabella", "familyName": "Rossi"},
            "emails": [{"primary": true, "value": "isabella@okta.test", "type": "work"}],
            "displayName": "Isabella Rossi",
            "locale": "en-US",
            "externalId": "00u1abcd",
            "groups": [],
            "password": "never stored",
            "active": true
        })),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(h.get("location").unwrap().to_str().unwrap(), format!("{PUBLIC_URL}/scim/v2/{}/Users/{id}", t.id));
    assert_eq!(h.get("etag").unwrap(), "W/\"1\"");
    assert_eq!(created["meta"]["resourceType"], "User");
    assert_eq!(created["meta"]["version"], "W/\"1\"");
    assert!(created.get("password").is_none());

    // 3. Get, and find by filter.
    let (s, _, got) = scim("GET", format!("/Users/{id}"), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(got["userName"], "isabella@okta.test");
    let (_, _, found) =
        scim("GET", format!("/Users?filter={}&startIndex=1&count=100", q(r#"userName eq "ISABELLA@okta.test""#)), None)
            .await;
    assert_eq!(found["totalResults"], 1);
    assert_eq!(found["Resources"][0]["id"], id.as_str());

    // 4. PUT replace (Okta sends the whole user).
    let mut replaced = got.clone();
    replaced["name"]["familyName"] = json!("Rossi-Bianchi");
    replaced["title"] = json!("Engineer");
    let (s, h, body) = scim("PUT", format!("/Users/{id}"), Some(replaced)).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["name"]["familyName"], "Rossi-Bianchi");
    assert_eq!(h.get("etag").unwrap(), "W/\"2\"");

    // 5. Deactivate, 6. reactivate.
    let (s, _, body) = scim(
        "PATCH",
        format!("/Users/{id}"),
        Some(json!({"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": false}}]})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["active"], false);
    let (_, _, body) = scim("GET", format!("/Users?filter={}", q("active eq false")), None).await;
    assert_eq!(body["totalResults"], 1);
    let (s, _, body) = scim(
        "PATCH",
        format!("/Users/{id}"),
        Some(json!({"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": true}}]})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body["active"], true);
    assert_eq!(body["title"], "Engineer");

    // The activity log has one record per request, with readable summaries.
    let tenant = roster_shared::ids::TenantId::parse(&t.id).unwrap();
    let log = app.activity(&tenant, 50).await;
    assert_eq!(log.len(), 8, "{log:#?}");
    assert!(log
        .iter()
        .any(|a| a.summary == "replace active" && a.status == Some(200) && a.resource_id.as_deref() == Some(&id)));
    assert!(log.iter().any(|a| a.summary == "create isabella@okta.test" && a.status == Some(201)));
    assert!(log
        .iter()
        .all(|a| a.user_agent.as_deref() == Some("roster-tests")
            && a.credential_id.as_deref() == Some(t.token_id.as_str())));
    let dump = format!("{log:?}");
    assert!(!dump.contains(&t.token) && !dump.contains("never stored"), "no secrets in the log");
}

async fn okta_group_push(db: Db) {
    let app = TestApp::new(db).await;
    let t = app.scim_tenant("Okta Groups").await;
    let mut users = Vec::new();
    for name in ["ann", "bob", "cid"] {
        let (s, _, u) = app
            .scim(
                "POST",
                &t.id,
                &t.token,
                "/Users",
                Some(json!({"schemas": [USER], "userName": format!("{name}@okta.test")})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED);
        users.push(u["id"].as_str().unwrap().to_string());
    }
    // Okta looks the group up, then creates it with its members.
    let (_, _, body) = app
        .scim("GET", &t.id, &t.token, &format!("/Groups?filter={}", q(r#"displayName eq "Engineering""#)), None)
        .await;
    assert_eq!(body["totalResults"], 0);
    let (s, _, g) = app
        .scim("POST", &t.id, &t.token, "/Groups", Some(json!({"schemas": [GROUP], "displayName": "Engineering", "members": [{"value": users[0], "display": "ann@okta.test"}]})))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{g}");
    let gid = g["id"].as_str().unwrap().to_string();
    assert_eq!(g["members"][0]["value"], users[0].as_str());
    assert!(g["members"][0].get("display").is_none(), "display is returned on request only");
    let (_, _, with_display) = app
        .scim(
            "GET",
            &t.id,
            &t.token,
            &format!("/Groups/{}?attributes=members.value,members.display", g["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(with_display["members"][0]["display"], "ann@okta.test");
    assert_eq!(g["members"][0]["type"], "User");

    // Rename (Okta sends the id along), add members, remove one.
    let (s, _, body) = app
        .scim("PATCH", &t.id, &t.token, &format!("/Groups/{gid}"), Some(json!({"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"id": gid, "displayName": "Engineering EU"}}]})))
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{body}");
    let (_, _, body) = app.scim("GET", &t.id, &t.token, &format!("/Groups/{gid}?attributes=displayName"), None).await;
    assert_eq!(body["displayName"], "Engineering EU");
    assert!(body.get("members").is_none(), "attributes projects");
    let (s, _, _) = app
        .scim("PATCH", &t.id, &t.token, &format!("/Groups/{gid}"), Some(json!({"schemas": [PATCH], "Operations": [{"op": "add", "path": "members", "value": [{"value": users[1], "display": "bob"}, {"value": users[2], "display": "cid"}]}]})))
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _, _) = app
        .scim("PATCH", &t.id, &t.token, &format!("/Groups/{gid}"), Some(json!({"schemas": [PATCH], "Operations": [{"op": "remove", "path": format!("members[value eq \"{}\"]", users[0])}]})))
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, _, g) = app.scim("GET", &t.id, &t.token, &format!("/Groups/{gid}"), None).await;
    let mut members: Vec<String> =
        g["members"].as_array().unwrap().iter().map(|m| m["value"].as_str().unwrap().to_string()).collect();
    members.sort();
    let mut expected = vec![users[1].clone(), users[2].clone()];
    expected.sort();
    assert_eq!(members, expected);
    // The user sees the group.
    let (_, _, u) = app.scim("GET", &t.id, &t.token, &format!("/Users/{}", users[1]), None).await;
    assert_eq!(
        u["groups"],
        json!([{"value": gid, "$ref": format!("{PUBLIC_URL}/scim/v2/{}/Groups/{gid}", t.id), "display": "Engineering EU", "type": "direct"}])
    );

    // Delete.
    let (s, _, _) = app.scim("DELETE", &t.id, &t.token, &format!("/Groups/{gid}"), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _, body) = app.scim("GET", &t.id, &t.token, &format!("/Groups/{gid}"), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(body["status"], "404");
    let (_, _, u) = app.scim("GET", &t.id, &t.token, &format!("/Users/{}", users[1]), None).await;
    assert!(u.get("groups").is_none());
}

async fn entra_user_lifecycle(db: Db) {
    let app = TestApp::new(db).await;
    let t = app.scim_tenant("Contoso").await;
    // Entra ID checks the connection with a random filter, then looks users up by externalId
    // or userName.
    let (s, _, body) = app
        .scim("GET", &t.id, &t.token, &format!("/Users?filter={}", q(r#"userName eq "non-existent user 7c3a""#)), None)
        .await;
    assert_eq!((s, body["totalResults"].clone()), (StatusCode::OK, json!(0)));
    let (_, _, body) = app
        .scim(
            "GET",
            &t.id,
            &t.token,
            &format!("/Users?filter={}", q(r#"externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef""#)),
            None,
        )
        .await;
    assert_eq!(body["totalResults"], 0);

    let (s, _, u) = app
        .scim(
            "POST",
            &t.id,
            &t.token,
            "/Users",
            Some(json!({
                "schemas": [USER, ENTERPRISE],
                "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
                "userName": "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1@contoso.test",
                "active": true,
                "addresses": [{"primary": true, "type": "work", "country": "NL", "locality": "Amsterdam"}],
                "displayName": "Test User",
                "emails": [{"primary": true, "type": "work", "value": "test.user@contoso.test"}],
                "meta": {"resourceType": "User"},
                "name": {"familyName": "User", "givenName": "Test"},
                "title": "Developer",
                ENTERPRISE: {"employeeNumber": "1234", "department": "Engineering", "manager": {"value": "m-1"}}
            })),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{u}");
    let id = u["id"].as_str().unwrap().to_string();
    assert_eq!(u[ENTERPRISE]["department"], "Engineering");
    assert_eq!(u["schemas"], json!([USER, ENTERPRISE]));

    let (_, _, body) = app
        .scim(
            "GET",
            &t.id,
            &t.token,
            &format!("/Users?filter={}", q(r#"externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef""#)),
            None,
        )
        .await;
    assert_eq!(body["totalResults"], 1);

    // Entra's PATCH: capitalized ops, string booleans, path-less dotted and URN keys.
    let (s, _, body) = app
        .scim(
            "PATCH",
            &t.id,
            &t.token,
            &format!("/Users/{id}"),
            Some(json!({"schemas": [PATCH], "Operations": [
                {"op": "Replace", "path": "displayName", "value": "Test User 2"},
                {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "updated@contoso.test"},
                {"op": "Add", "value": {"name.givenName": "Testy", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "Sales"}},
                {"op": "Replace", "path": "addresses[type eq \"work\"].locality", "value": "Utrecht"},
            ]})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["displayName"], "Test User 2");
    assert_eq!(body["emails"][0]["value"], "updated@contoso.test");
    assert_eq!(body["name"]["givenName"], "Testy");
    assert_eq!(body[ENTERPRISE]["department"], "Sales");
    assert_eq!(body["addresses"][0]["locality"], "Utrecht");
    // Filters see the new values (indexed columns were updated).
    let (_, _, found) = app
        .scim("GET", &t.id, &t.token, &format!("/Users?filter={}", q(r#"displayName eq "test user 2""#)), None)
        .await;
    assert_eq!(found["totalResults"], 1);

    let (s, _, body) = app
        .scim(
            "PATCH",
            &t.id,
            &t.token,
            &format!("/Users/{id}"),
            Some(json!({"schemas": [PATCH], "Operations": [{"op": "Replace", "path": "active", "value": "False"}]})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body["active"], false);

    let (s, _, _) = app.scim("DELETE", &t.id, &t.token, &format!("/Users/{id}"), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _, _) = app.scim("GET", &t.id, &t.token, &format!("/Users/{id}"), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

async fn entra_group_lifecycle(db: Db) {
    let app = TestApp::new(db).await;
    let t = app.scim_tenant("Contoso Groups").await;
    let (_, _, u1) = app
        .scim("POST", &t.id, &t.token, "/Users", Some(json!({"schemas": [USER], "userName": "u1@contoso.test"})))
        .await;
    let (_, _, u2) = app
        .scim("POST", &t.id, &t.token, "/Users", Some(json!({"schemas": [USER], "userName": "u2@contoso.test"})))
        .await;
    let (u1, u2) = (u1["id"].as_str().unwrap().to_string(), u2["id"].as_str().unwrap().to_string());

    let (s, _, g) = app
        .scim("POST", &t.id, &t.token, "/Groups", Some(json!({"schemas": [GROUP], "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159", "displayName": "Group1DisplayName", "meta": {"resourceType": "Group"}})))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{g}");
    let gid = g["id"].as_str().unwrap().to_string();

    let (s, _, _) = app
        .scim("PATCH", &t.id, &t.token, &format!("/Groups/{gid}"), Some(json!({"schemas": [PATCH], "Operations": [{"op": "Add", "path": "members", "value": [{"value": u1}, {"value": u2}]}]})))
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _, _) = app
        .scim("PATCH", &t.id, &t.token, &format!("/Groups/{gid}"), Some(json!({"schemas": [PATCH], "Operations": [{"op": "Remove", "path": format!("members[value eq \"{u1}\"]")}]})))
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);

    // Entra reads groups without members.
    let (s, _, body) =
        app.scim("GET", &t.id, &t.token, &format!("/Groups/{gid}?excludedAttributes=members"), None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(body.get("members").is_none());
    assert_eq!(body["displayName"], "Group1DisplayName");
    let (_, _, body) = app
        .scim(
            "GET",
            &t.id,
            &t.token,
            &format!("/Groups?excludedAttributes=members&filter={}", q(r#"displayName eq "Group1DisplayName""#)),
            None,
        )
        .await;
    assert_eq!(body["totalResults"], 1);
    assert!(body["Resources"][0].get("members").is_none());
    // Is u2 a member? (Entra asks with a members filter.)
    let (_, _, body) = app
        .scim(
            "GET",
            &t.id,
            &t.token,
            &format!(
                "/Groups?filter={}&excludedAttributes=members",
                q(&format!(r#"id eq "{gid}" and members[value eq "{u2}"]"#))
            ),
            None,
        )
        .await;
    assert_eq!(body["totalResults"], 1);
    let (_, _, body) = app
        .scim(
            "GET",
            &t.id,
            &t.token,
            &format!("/Groups?filter={}", q(&format!(r#"id eq "{gid}" and members[value eq "{u1}"]"#))),
            None,
        )
        .await;
    assert_eq!(body["totalResults"], 0);

    let (s, _, _) = app.scim("DELETE", &t.id, &t.token, &format!("/Groups/{gid}"), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
}

/// Entra ID's default attribute mappings for a custom app include the manager; when it is set it
/// sends exactly this (Microsoft's "Update User [Add Manager]" example).
async fn entra_adds_the_manager_as_a_bare_id(db: Db) {
    let app = TestApp::new(db).await;
    let t = app.scim_tenant("Contoso").await;
    let manager = app.create_user(&t, "manager@contoso.test").await;
    let report = app.create_user(&t, "report@contoso.test").await;
    let (s, _, body) = app
        .scim(
            "PATCH",
            &t.id,
            &t.token,
            &format!("/Users/{report}"),
            Some(json!({
                "schemas": [PATCH],
                "Operations": [{
                    "op": "Add",
                    "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
                    "value": manager
                }]
            })),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body[ENTERPRISE]["manager"]["value"], manager.as_str());
    // Stored: a GET and a filter on it find it.
    let (_, _, got) = app.scim("GET", &t.id, &t.token, &format!("/Users/{report}"), None).await;
    assert_eq!(got[ENTERPRISE]["manager"]["value"], manager.as_str());
    let filter = format!(r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "{manager}""#);
    let (_, _, found) = app.scim("GET", &t.id, &t.token, &format!("/Users?filter={}", q(&filter)), None).await;
    assert_eq!(found["totalResults"], 1, "{found}");
    // Entra removes it with a path and no value.
    let (s, _, body) = app
        .scim(
            "PATCH",
            &t.id,
            &t.token,
            &format!("/Users/{report}"),
            Some(json!({
                "schemas": [PATCH],
                "Operations": [{"op": "Remove", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"}]
            })),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert!(body.get(ENTERPRISE).and_then(|e| e.get("manager")).is_none(), "{body}");
    // A value that is no id at all is still refused, and changes nothing.
    let (s, _, body) = app
        .scim(
            "PATCH",
            &t.id,
            &t.token,
            &format!("/Users/{report}"),
            Some(json!({
                "schemas": [PATCH],
                "Operations": [
                    {"op": "Replace", "path": "displayName", "value": "Changed"},
                    {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": 42}
                ]
            })),
        )
        .await;
    assert_eq!((s, body["scimType"].as_str()), (StatusCode::BAD_REQUEST, Some("invalidValue")), "{body}");
    let (_, _, got) = app.scim("GET", &t.id, &t.token, &format!("/Users/{report}"), None).await;
    assert_ne!(got["displayName"], "Changed");
}

/// Group members named by bare ids, as some IdPs send them.
async fn members_as_bare_ids(db: Db) {
    let app = TestApp::new(db).await;
    let t = app.scim_tenant("Bare").await;
    let a = app.create_user(&t, "a@bare.test").await;
    let b = app.create_user(&t, "b@bare.test").await;
    let c = app.create_user(&t, "c@bare.test").await;
    let (_, _, g) = app
        .scim("POST", &t.id, &t.token, "/Groups", Some(json!({"schemas": [GROUP], "displayName": "Bare ids"})))
        .await;
    let gid = g["id"].as_str().unwrap().to_string();
    let patch = |ops: Value| {
        let (app, t, gid) = (&app, &t, &gid);
        async move {
            app.scim(
                "PATCH",
                &t.id,
                &t.token,
                &format!("/Groups/{gid}"),
                Some(json!({"schemas": [PATCH], "Operations": ops})),
            )
            .await
        }
    };
    let (s, _, body) = patch(json!([{"op": "Add", "path": "members", "value": a}])).await;
    assert!(s.is_success(), "{s} {body}");
    let (s, _, body) = patch(json!([{"op": "Add", "path": "members", "value": [b, c]}])).await;
    assert!(s.is_success(), "{s} {body}");
    let (_, _, got) = app.scim("GET", &t.id, &t.token, &format!("/Groups/{gid}"), None).await;
    let mut ids: Vec<&str> = got["members"].as_array().unwrap().iter().map(|m| m["value"].as_str().unwrap()).collect();
    ids.sort();
    let mut want = vec![a.as_str(), b.as_str(), c.as_str()];
    want.sort();
    assert_eq!(ids, want);
    // Removing by a list of bare ids too.
    let (s, _, body) = patch(json!([{"op": "Remove", "path": "members", "value": [a]}])).await;
    assert!(s.is_success(), "{s} {body}");
    let (_, _, got) = app.scim("GET", &t.id, &t.token, &format!("/Groups/{gid}"), None).await;
    assert_eq!(got["members"].as_array().unwrap().len(), 2);
    // An id that is no user of this tenant is still refused.
    let (s, _, body) = patch(json!([{"op": "Add", "path": "members", "value": "no-such-user"}])).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
}

/// Endpoint names in any case and with a trailing slash, and SCIM 1.1's `/serviceConfiguration`.
async fn endpoint_names_as_idps_spell_them(db: Db) {
    let app = TestApp::new(db).await;
    let t = app.scim_tenant("Spelling").await;
    let (s, _, u) = app
        .scim(
            "POST",
            &t.id,
            &t.token,
            "/users/",
            Some(json!({"schemas": [USER], "userName": "lower@spelling.test", "active": true})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{u}");
    let id = u["id"].as_str().unwrap().to_string();
    for path in [format!("/users/{id}"), format!("/USERS/{id}/"), format!("/Users/{id}/")] {
        let (s, _, got) = app.scim("GET", &t.id, &t.token, &path, None).await;
        assert_eq!((s, got["id"].as_str()), (StatusCode::OK, Some(id.as_str())), "{path}");
    }
    let (s, _, list) = app
        .scim("GET", &t.id, &t.token, &format!("/users?filter={}", q(r#"userName eq "lower@spelling.test""#)), None)
        .await;
    assert_eq!((s, list["totalResults"].clone()), (StatusCode::OK, json!(1)));
    let (s, _, g) =
        app.scim("POST", &t.id, &t.token, "/groups", Some(json!({"schemas": [GROUP], "displayName": "Lower"}))).await;
    assert_eq!(s, StatusCode::CREATED, "{g}");
    let gid = g["id"].as_str().unwrap();
    let (s, _, body) = app
        .scim(
            "PATCH",
            &t.id,
            &t.token,
            &format!("/groups/{gid}/"),
            Some(
                json!({"schemas": [PATCH], "Operations": [{"op": "add", "path": "members", "value": [{"value": id}]}]}),
            ),
        )
        .await;
    assert!(s.is_success(), "{s} {body}");
    for path in ["/serviceConfiguration", "/ServiceProviderConfig/", "/serviceproviderconfig"] {
        let (s, _, spc) = app.scim("GET", &t.id, &t.token, path, None).await;
        assert_eq!(s, StatusCode::OK, "{path}");
        assert_eq!(spc["patch"]["supported"], true);
    }
    // Entra ID's flag rides in the Tenant URL's query, after the endpoint: ignored.
    let (s, _, created) = app
        .scim(
            "POST",
            &t.id,
            &t.token,
            "/Users?aadOptscim062020",
            Some(json!({"schemas": [USER], "userName": "flag@spelling.test", "active": true})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    let (s, _, list) = app
        .scim(
            "GET",
            &t.id,
            &t.token,
            &format!("/Users?aadOptscim062020&filter={}", q(r#"userName eq "flag@spelling.test""#)),
            None,
        )
        .await;
    assert_eq!((s, list["totalResults"].clone()), (StatusCode::OK, json!(1)));
    let (s, _, rt) = app.scim("GET", &t.id, &t.token, "/resourcetypes/user", None).await;
    assert_eq!((s, rt["name"].as_str()), (StatusCode::OK, Some("User")));
    // The id keeps its case: another spelling of an id is another (missing) resource.
    let (s, _, _) = app.scim("GET", &t.id, &t.token, &format!("/users/{}", id.to_uppercase()), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // Another tenant's token is refused on every spelling, as on the canonical one.
    let other = app.scim_tenant("Other").await;
    let (s, _, _) = app.scim("GET", &t.id, &other.token, "/users/", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // No endpoint is still SCIM's 404.
    let (s, _, body) = app.scim("GET", &t.id, &t.token, "/nothing/", None).await;
    assert_eq!((s, body["status"].as_str()), (StatusCode::NOT_FOUND, Some("404")));
}

/// A request with the IdP's own User-Agent.
async fn as_agent(
    app: &TestApp,
    t: &ScimTenant,
    agent: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> StatusCode {
    let req = http::Request::builder()
        .method(method)
        .uri(format!("/scim/v2/{}{path}", t.id))
        .header(http::header::AUTHORIZATION, format!("Bearer {}", t.token))
        .header(http::header::USER_AGENT, agent)
        .header(http::header::CONTENT_TYPE, "application/scim+json");
    let body = body.map(|b| axum::body::Body::from(b.to_string())).unwrap_or_else(axum::body::Body::empty);
    app.scim_raw(req, body).await.status()
}

async fn diagnostics_of(app: &TestApp, t: &ScimTenant) -> Value {
    let tenant = roster_shared::ids::TenantId::parse(&t.id).unwrap();
    app.services.activity.flush().await;
    let setup = roster_shared::service::scim_setup::setup(&app.store, &tenant, PUBLIC_URL).await.unwrap();
    serde_json::to_value(setup.diagnostics).unwrap()
}

/// The SCIM page names the IdP and, for Entra ID, the PATCH dialect its job speaks (with or
/// without `aadOptscim062020`), from the requests each sends as documented.
async fn diagnostics_tell_the_idp_and_entra_mode_from_replayed_traffic(db: Db) {
    let app = TestApp::new(db).await;
    let user = |name: &str| json!({"schemas": [USER], "userName": name, "active": true});

    // Okta: its User-Agent; deactivation as a path-less replace.
    let okta = app.scim_tenant("Okta traffic").await;
    let agent = "Okta SCIM Client 1.0.0";
    assert_eq!(as_agent(&app, &okta, agent, "POST", "/Users", Some(user("o@okta.test"))).await, StatusCode::CREATED);
    let (_, _, found) =
        app.scim("GET", &okta.id, &okta.token, "/Users?filter=userName%20eq%20%22o%40okta.test%22", None).await;
    let id = found["Resources"][0]["id"].as_str().unwrap().to_string();
    let deactivate = json!({"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": false}}]});
    assert_eq!(as_agent(&app, &okta, agent, "PATCH", &format!("/Users/{id}"), Some(deactivate)).await, StatusCode::OK);
    let d = diagnostics_of(&app, &okta).await;
    assert_eq!(d["idp"], "Okta", "{d}");
    assert_eq!(d["entra_mode"], Value::Null);

    // Entra ID without the flag (its default): capitalised ops, string booleans, members
    // removed by a value list. Told by those shapes alone.
    let legacy = app.scim_tenant("Entra legacy").await;
    let agent = "Mozilla/5.0 (compatible; provisioning)";
    for name in ["a@contoso.test", "b@contoso.test"] {
        assert_eq!(as_agent(&app, &legacy, agent, "POST", "/Users", Some(user(name))).await, StatusCode::CREATED);
    }
    let (_, _, all) = app.scim("GET", &legacy.id, &legacy.token, "/Users", None).await;
    let ids: Vec<String> =
        all["Resources"].as_array().unwrap().iter().map(|u| u["id"].as_str().unwrap().to_string()).collect();
    let (_, _, g) = app
        .scim(
            "POST",
            &legacy.id,
            &legacy.token,
            "/Groups",
            Some(
                json!({"schemas": [GROUP], "displayName": "Sales", "members": [{"value": ids[0]}, {"value": ids[1]}]}),
            ),
        )
        .await;
    let gid = g["id"].as_str().unwrap().to_string();
    let entra_disable =
        json!({"schemas": [PATCH], "Operations": [{"op": "Replace", "path": "active", "value": "False"}]});
    assert_eq!(
        as_agent(&app, &legacy, agent, "PATCH", &format!("/Users/{}", ids[0]), Some(entra_disable)).await,
        StatusCode::OK
    );
    let entra_remove =
        json!({"schemas": [PATCH], "Operations": [{"op": "Remove", "path": "members", "value": [{"value": ids[1]}]}]});
    assert!(as_agent(&app, &legacy, agent, "PATCH", &format!("/Groups/{gid}"), Some(entra_remove)).await.is_success());
    let d = diagnostics_of(&app, &legacy).await;
    assert_eq!((d["idp"].as_str(), d["entra_mode"].as_str()), (Some("EntraId"), Some("Legacy")), "{d}");
    assert!(d["entra_signals"][0].as_u64().unwrap() >= 3, "{d}");

    // Entra ID with the flag: RFC 7644 PATCH.
    let flagged = app.scim_tenant("Entra flagged").await;
    let agent = "Microsoft Azure AD provisioning";
    for name in ["c@contoso.test", "d@contoso.test"] {
        assert_eq!(as_agent(&app, &flagged, agent, "POST", "/Users", Some(user(name))).await, StatusCode::CREATED);
    }
    let d = diagnostics_of(&app, &flagged).await;
    assert_eq!((d["idp"].as_str(), d["entra_mode"].as_str()), (Some("EntraId"), Some("NotSeen")), "{d}");
    let (_, _, all) = app.scim("GET", &flagged.id, &flagged.token, "/Users", None).await;
    let ids: Vec<String> =
        all["Resources"].as_array().unwrap().iter().map(|u| u["id"].as_str().unwrap().to_string()).collect();
    let (_, _, g) = app
        .scim(
            "POST",
            &flagged.id,
            &flagged.token,
            "/Groups",
            Some(
                json!({"schemas": [GROUP], "displayName": "Sales", "members": [{"value": ids[0]}, {"value": ids[1]}]}),
            ),
        )
        .await;
    let gid = g["id"].as_str().unwrap().to_string();
    let disable = json!({"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": false}}]});
    assert_eq!(
        as_agent(&app, &flagged, agent, "PATCH", &format!("/Users/{}", ids[0]), Some(disable)).await,
        StatusCode::OK
    );
    let remove = json!({"schemas": [PATCH], "Operations": [{"op": "remove", "path": format!("members[value eq \"{}\"]", ids[1])}]});
    assert!(as_agent(&app, &flagged, agent, "PATCH", &format!("/Groups/{gid}"), Some(remove)).await.is_success());
    let d = diagnostics_of(&app, &flagged).await;
    assert_eq!(d["entra_mode"], "Compliant", "{d}");

    // Its most frequent error, with the fix: a clash with a manual user.
    let tenant = roster_shared::ids::TenantId::parse(&flagged.id).unwrap();
    roster_shared::service::directory::create_manual(
        &app.store,
        &tenant,
        &roster_shared::service::activity::Actor::admin("admin@contoso.test"),
        &[roster_shared::dto::ManualUserInput {
            user_name: "m@contoso.test".into(),
            active: true,
            ..Default::default()
        }],
    )
    .await
    .unwrap();
    for _ in 0..2 {
        assert_eq!(
            as_agent(&app, &flagged, agent, "POST", "/Users", Some(user("m@contoso.test"))).await,
            StatusCode::CONFLICT
        );
    }
    let d = diagnostics_of(&app, &flagged).await;
    assert_eq!(d["top_errors"][0]["count"], 2, "{d}");
    assert!(d["top_errors"][0]["fix"].as_str().unwrap().contains("mark it adoptable"), "{d}");

    // A credential in use that expires within 14 days.
    let (_, secret) =
        roster_shared::service::credentials::create_token(&app.store, &tenant, "Entra (expiring)", "test", Some(5))
            .await
            .unwrap();
    let soon = ScimTenant { id: flagged.id.clone(), token: secret.expose().to_string(), token_id: String::new() };
    assert_eq!(as_agent(&app, &soon, agent, "GET", "/Users", None).await, StatusCode::OK);
    let d = diagnostics_of(&app, &flagged).await;
    let expiring = d["expiring"].as_array().unwrap();
    assert_eq!(expiring.len(), 1, "{d}");
    assert_eq!(
        (expiring[0]["name"].as_str(), expiring[0]["days_left"].as_i64(), expiring[0]["in_use"].as_bool()),
        (Some("Entra (expiring)"), Some(5), Some(true))
    );
}
