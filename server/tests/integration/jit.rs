//! Just-in-time provisioning at SSO sign-in, combined with SCIM: users created and updated from
//! a connection's claims through the one user write path (placed by the mapping rules and the
//! default user group), every linking and precedence rule ("one identity, never a takeover"),
//! and the SCIM adoption of a just-in-time user. SAML responses are signed by the test IdP of
//! `sso.rs` (xmlsec), as real IdPs sign them.

use http::StatusCode;
use serde_json::{json, Value};

use crate::both_backends;
use crate::common::*;
use crate::sso::{
    org, post_acs, push_user, save_jit, scim_user_linked_by_external_id, sign_ins, start, verified_domain, Idp, Org,
};

both_backends!(
    jit_creates_places_and_updates_users_from_their_claims,
    linking_rules_one_identity_never_a_takeover,
    scim_adopts_a_just_in_time_user,
    a_groups_claim_feeds_the_idp_group_rules_by_name,
    two_first_sign_ins_at_once_make_one_user,
    a_disabled_organization_refuses_sign_ins_and_writes_nothing,
    a_seat_limit_keeps_a_just_in_time_user_out_of_a_full_default_group,
    a_soft_deleted_user_loses_their_session_and_signs_in_again_once_restored,
);

const ENTRA: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims";
const OID: &str = "http://schemas.microsoft.com/identity/claims/objectidentifier";

/// A full SP-initiated sign-in of `subject` with these attributes: (Location, session cookie).
async fn sign_in(
    app: &TestApp,
    idp: &Idp,
    o: &Org,
    subject: &str,
    attrs: &[(String, Vec<String>)],
) -> (String, Option<String>) {
    let (request, flow) = start(app, &o.connection).await;
    let mut answer = idp.answer(&o.connection, Some(&request), subject);
    answer.attributes = attrs.to_vec();
    let (status, location, session) = post_acs(app, &o.connection, &idp.xml(&answer), Some(&flow)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    (location, session)
}

/// Attributes with one value each.
fn a(pairs: &[(&str, &str)]) -> Vec<(String, Vec<String>)> {
    pairs.iter().map(|(k, v)| (k.to_string(), vec![v.to_string()])).collect()
}

async fn user_count(app: &TestApp) -> String {
    app.raw_strings("SELECT CAST(COUNT(*) AS TEXT) FROM scim_users").await.remove(0)
}

async fn user_json(app: &TestApp, id: &str) -> Value {
    let data = app.raw_strings(&format!("SELECT CAST(data AS TEXT) FROM scim_users WHERE id = '{id}'")).await;
    serde_json::from_str(&data[0]).unwrap()
}

async fn groups_of(app: &TestApp, id: &str) -> Vec<String> {
    app.raw_strings(&format!(
        "SELECT g.name FROM user_group_members m JOIN user_groups g ON g.id = m.group_id WHERE m.user_id = '{id}' ORDER BY g.name"
    ))
    .await
}

async fn last_reason(app: &TestApp, o: &Org) -> Value {
    sign_ins(app, &o.cookie).await[0]["reason"].clone()
}

async fn jit_creates_places_and_updates_users_from_their_claims(db: Db) {
    let app = TestApp::new(db).await;
    let idp = Idp::new(&format!("https://idp.test/jit-{}", uuid::Uuid::new_v4().simple()));
    let o = org(&app, &idp).await;
    let research = app
        .ok_json(
            "user_group_create",
            json!({"input": {"name": "Research", "description": "", "role": "admin"}}),
            &o.cookie,
        )
        .await["id"]
        .clone();
    let everyone = app
        .ok_json(
            "user_group_create",
            json!({"input": {"name": "Everyone", "description": "", "role": "member"}}),
            &o.cookie,
        )
        .await["id"]
        .clone();
    app.ok_json("user_group_default", json!({"id": everyone}), &o.cookie).await;
    app.ok_json(
        "mapping_rule_create",
        json!({"rule": {"id": "", "condition": {"kind": "attribute", "filter": "department eq \"Research\""}, "user_group_id": research, "enabled": true}}),
        &o.cookie,
    )
    .await;
    app.wait_for_mapping_run(&o.cookie).await;
    let before = user_count(&app).await;
    let grace = a(&[
        (OID, "oid-grace"),
        (&format!("{ENTRA}/givenname"), "Grace"),
        (&format!("{ENTRA}/surname"), "Hopper"),
        (&format!("{ENTRA}/emailaddress"), "grace@acme.test"),
        ("dept", "Research"),
    ]);
    let with = |key: &str, value: &str| -> Vec<(String, Vec<String>)> {
        grace
            .iter()
            .map(|(k, v)| if k.ends_with(key) { (k.clone(), vec![value.to_string()]) } else { (k.clone(), v.clone()) })
            .collect()
    };

    // JIT off (the default): an unknown person has no access, and nothing is written.
    let (location, session) = sign_in(&app, &idp, &o, "grace@acme.test", &grace).await;
    assert!(location.starts_with("/sign-in?sso_error="), "{location}");
    assert!(location.contains("not+been+given+access"), "{location}");
    assert!(session.is_none());
    assert_eq!(last_reason(&app, &o).await, "no_access");
    assert_eq!(user_count(&app).await, before);

    // On, with the Entra ID preset and a further attribute.
    save_jit(
        &app,
        &o,
        &[
            ("enabled", "on"),
            ("update", "every_sign_in"),
            ("link_key", "user_name"),
            ("preset", "entra"),
            ("attributes", "dept = department"),
        ],
    )
    .await;
    let setup = app.ok_json("sso_setup", json!({}), &o.cookie).await;
    let settings = &setup["connections"][0]["jit"];
    assert_eq!(settings["enabled"], true);
    assert_eq!(settings["claims"]["unique_user_id"][0], OID, "{settings}");
    assert_eq!(settings["claims"]["attributes"][0]["attribute"], "department");

    // A required claim missing: refused with the names, nothing written.
    let no_id: Vec<(String, Vec<String>)> = grace.iter().filter(|(k, _)| k != OID).cloned().collect();
    let (location, _) = sign_in(&app, &idp, &o, "grace@acme.test", &no_id).await;
    assert!(location.starts_with("/sign-in?sso_error="));
    let log = sign_ins(&app, &o.cookie).await;
    assert_eq!(log[0]["reason"], "missing_claim");
    assert!(log[0]["message"].as_str().unwrap().contains(OID), "{}", log[0]["message"]);
    assert_eq!(user_count(&app).await, before);

    // An email outside the verified domains: nobody is created.
    let outsider = with("emailaddress", "grace@elsewhere.test");
    sign_in(&app, &idp, &o, "grace@elsewhere.test", &outsider).await;
    assert_eq!(last_reason(&app, &o).await, "unverified_domain");
    assert_eq!(user_count(&app).await, before);

    // Created just in time, placed by the attribute rule in the same write, signed in as Admin.
    let (location, session) = sign_in(&app, &idp, &o, "grace@acme.test", &grace).await;
    assert_eq!(location, "/", "an Admin lands in the dashboard");
    let session = session.expect("session");
    let viewer = app.viewer(Some(&session)).await;
    assert_eq!(viewer["role"], "org_admin");
    let id = viewer["account_id"].as_str().unwrap().to_string();
    let user = user_json(&app, &id).await;
    assert_eq!(user["userName"], "grace@acme.test");
    assert_eq!(user["externalId"], "oid-grace");
    assert_eq!(user["name"]["givenName"], "Grace");
    assert_eq!(user["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["department"], "Research");
    assert_eq!(app.raw_strings(&format!("SELECT source FROM scim_users WHERE id = '{id}'")).await, ["jit"]);
    assert_eq!(groups_of(&app, &id).await, ["Research"]);
    let log = sign_ins(&app, &o.cookie).await;
    assert!(log[0]["message"].as_str().unwrap().contains("created just in time"), "{}", log[0]["message"]);
    let summaries = app.raw_strings("SELECT summary FROM activity WHERE actor = 'sso' ORDER BY at").await;
    assert!(
        summaries.iter().any(|s| s.contains("created just in time") && s.contains("grace@acme.test")),
        "{summaries:?}"
    );
    assert!(summaries.iter().any(|s| s.contains("refused (missing_claim)")), "{summaries:?}");
    // The users table lists them as just in time.
    let listed = app.ok_json("users", json!({"query": {"search": "grace", "filter": "jit", "sort": "created", "descending": true, "page": 1, "page_size": 10, "user_group": null}}), &o.cookie).await;
    assert!(listed.to_string().contains("grace@acme.test"), "{listed}");

    // The next sign-in updates the attributes from the claims and places the user again.
    let moved = with("dept", "Sales");
    let (location, _) = sign_in(&app, &idp, &o, "grace@acme.test", &moved).await;
    assert_eq!(location, "/me", "a Member lands on My access");
    assert_eq!(
        user_json(&app, &id).await["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["department"],
        "Sales"
    );
    assert_eq!(groups_of(&app, &id).await, ["Everyone"]);
    assert_eq!(user_count(&app).await, (before.parse::<i64>().unwrap() + 1).to_string(), "one user, not two");

    // "Create only": the claims no longer change the user.
    save_jit(
        &app,
        &o,
        &[
            ("enabled", "on"),
            ("update", "create_only"),
            ("link_key", "user_name"),
            ("preset", "entra"),
            ("attributes", "dept = department"),
        ],
    )
    .await;
    sign_in(&app, &idp, &o, "grace@acme.test", &grace).await;
    assert_eq!(
        user_json(&app, &id).await["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["department"],
        "Sales"
    );

    // The default role: a user in no user group has it (JIT and SCIM users alike).
    app.ok_json("user_group_default", json!({"id": null}), &o.cookie).await;
    app.wait_for_mapping_run(&o.cookie).await;
    assert!(groups_of(&app, &id).await.is_empty());
    let fresh = sign_in(&app, &idp, &o, "grace@acme.test", &grace).await.1.expect("session");
    assert_eq!(app.viewer(Some(&fresh)).await["role"], "no_access");
    let res = app.call("form/default_role", &[("role", "viewer")], Some(&o.cookie)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(app.viewer(Some(&fresh)).await["role"], "org_viewer");
    assert_eq!(app.ok_json("my_access", json!({}), &fresh).await["role"], "viewer");
    assert_eq!(app.ok_json("default_role", json!({}), &o.cookie).await, "viewer");
    // The users table says so too, and its role filter finds them.
    let q = |role: &str| json!({"query": {"search": "grace", "filter": "all", "sort": "created", "descending": true, "page": 1, "page_size": 10, "user_group": null, "role": role}});
    let listed = app.ok_json("users", q("viewer"), &o.cookie).await;
    assert_eq!((listed["total"].as_i64(), listed["rows"][0]["role"].as_str()), (Some(1), Some("viewer")), "{listed}");
    assert_eq!(app.ok_json("users", q("member"), &o.cookie).await["total"], 0);
    assert_eq!(app.ok_json("user", json!({"id": id}), &o.cookie).await["effective_role"], "viewer");
    let res = app.call("form/default_role", &[("role", "owner")], Some(&o.cookie)).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    // Only admins set it.
    let res = app.call("form/default_role", &[("role", "admin")], Some(&fresh)).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    // A bad mapping is refused with its reason, and the settings stay.
    let res = app
        .call(
            "form/sso_connection_jit",
            &[
                ("id", &o.connection),
                ("enabled", "on"),
                ("update", "every_sign_in"),
                ("link_key", "user_name"),
                ("preset", "custom"),
                ("unique_user_id", ""),
                ("email", "mail"),
            ],
            Some(&o.cookie),
        )
        .await;
    assert!(invalid_message(res).await.contains("unique user id"));
    let res = app
        .call(
            "form/sso_connection_jit",
            &[
                ("id", &o.connection),
                ("update", "every_sign_in"),
                ("link_key", "user_name"),
                ("preset", "custom"),
                ("unique_user_id", "uid"),
                ("email", "mail"),
                ("attributes", "x = password"),
            ],
            Some(&o.cookie),
        )
        .await;
    assert!(invalid_message(res).await.contains("not an attribute"));
}

async fn linking_rules_one_identity_never_a_takeover(db: Db) {
    let app = TestApp::new(db).await;
    let idp = Idp::new(&format!("https://idp.test/link-{}", uuid::Uuid::new_v4().simple()));
    let o = org(&app, &idp).await;
    save_jit(
        &app,
        &o,
        &[("enabled", "on"), ("update", "every_sign_in"), ("link_key", "user_name"), ("preset", "generic")],
    )
    .await;
    let claims =
        |id: &str, first: &str, email: &str| a(&[("uniqueUserId", id), ("firstName", first), ("email", email)]);
    let before = user_count(&app).await;

    // Rule 2 + SCIM wins: the SCIM user Ada is linked (not duplicated), and her claims do not
    // overwrite what SCIM wrote.
    let (_, session) = sign_in(&app, &idp, &o, "ada@acme.test", &claims("u-ada", "Eve", "ada@acme.test")).await;
    assert_eq!(app.viewer(Some(&session.expect("session"))).await["account_id"], o.ada);
    assert_eq!(user_count(&app).await, before);
    assert_eq!(user_json(&app, &o.ada).await["name"]["givenName"], "Ada");
    let summaries = app.raw_strings("SELECT summary FROM activity WHERE actor = 'sso'").await;
    assert!(summaries.iter().any(|s| s.contains("linked to ada@acme.test")), "{summaries:?}");

    // Rule 1: the linked identity signs in as Ada even when its email changes.
    let (_, session) = sign_in(&app, &idp, &o, "ada@acme.test", &claims("u-ada", "Ada", "ada.l@acme.test")).await;
    let ada_session = session.expect("session");
    assert_eq!(app.viewer(Some(&ada_session)).await["account_id"], o.ada);

    // A manual user is never linked or taken over: refused, with the user named for the admin.
    let manual = app
        .ok_json(
            "user_create",
            json!({"input": {"user_name": "mia@acme.test", "given_name": "Mia", "family_name": "Manual", "email": "mia@acme.test", "external_id": "", "active": true}}),
            &o.cookie,
        )
        .await;
    let manual = manual.as_str().unwrap().to_string();
    let (location, session) = sign_in(&app, &idp, &o, "mia@acme.test", &claims("u-mia", "Mia", "mia@acme.test")).await;
    assert!(location.starts_with("/sign-in?sso_error=") && session.is_none(), "{location}");
    let log = sign_ins(&app, &o.cookie).await;
    assert_eq!((log[0]["reason"].as_str(), log[0]["user_id"].as_str()), (Some("manual_user"), Some(manual.as_str())));
    assert_eq!(user_count(&app).await, (before.parse::<i64>().unwrap() + 1).to_string(), "nothing created");
    assert_eq!(app.raw_strings(&format!("SELECT source FROM scim_users WHERE id = '{manual}'")).await, ["manual"]);
    // The user's page offers the refused identity; the admin links it, and Mia signs in.
    let detail = app.ok_json("user", json!({"id": manual}), &o.cookie).await;
    assert_eq!(detail["sso"]["sign_ins"][0]["reason"], "manual_user");
    let res = app
        .call(
            "form/sso_link_identity",
            &[("user_id", &manual), ("connection_id", &o.connection), ("subject", "mia@acme.test")],
            Some(&o.cookie),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK, "{}", body_text(res).await);
    let (_, session) = sign_in(&app, &idp, &o, "mia@acme.test", &claims("u-mia", "Mimi", "mia@acme.test")).await;
    assert_eq!(app.viewer(Some(&session.expect("session"))).await["account_id"], manual.as_str());
    assert_eq!(user_json(&app, &manual).await["name"]["givenName"], "Mia", "claims never write a manual user");
    let detail = app.ok_json("user", json!({"id": manual}), &o.cookie).await;
    assert_eq!(detail["sso"]["identities"][0]["subject"], "mia@acme.test");

    // The link key externalId: a SCIM user with another userName is found by the unique id.
    let ed = scim_user_linked_by_external_id(&app, &o).await;
    let (_, session) = sign_in(&app, &idp, &o, "ed-subject", &claims("emp-7", "Ed", "ed.other@acme.test")).await;
    assert_eq!(app.viewer(Some(&session.expect("session"))).await["account_id"], ed.as_str());

    // SCIM deactivates Ada: her open session ends at once, the next sign-in is refused before
    // anything is written, and no second user appears.
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "value": {"active": false}}]});
    let (status, _, _) = app.scim("PATCH", &o.tenant, &o.token, &format!("/Users/{}", o.ada), Some(patch)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(app.viewer(Some(&ada_session)).await.is_null(), "the deactivated user's session is over");
    let count = user_count(&app).await;
    let (location, session) = sign_in(&app, &idp, &o, "ada@acme.test", &claims("u-ada", "Ada", "ada@acme.test")).await;
    assert!(location.starts_with("/sign-in?sso_error=") && session.is_none());
    assert_eq!(last_reason(&app, &o).await, "user_inactive");
    assert_eq!(user_count(&app).await, count);

    // SCIM deletes a linked user: their identity is refused, never re-created just in time.
    // (With the externalId link key, a SCIM user without one is not found, and JIT does not
    // make a second user with their userName: refused.)
    let bo = push_user(&app, &o, "bo@acme.test").await;
    let count = user_count(&app).await;
    let (_, session) = sign_in(&app, &idp, &o, "bo@acme.test", &claims("u-bo", "Bo", "bo@acme.test")).await;
    assert!(session.is_none());
    assert_eq!(last_reason(&app, &o).await, "user_name_taken");
    assert_eq!(user_count(&app).await, count);
    save_jit(
        &app,
        &o,
        &[("enabled", "on"), ("update", "every_sign_in"), ("link_key", "user_name"), ("preset", "generic")],
    )
    .await;
    let (_, session) = sign_in(&app, &idp, &o, "bo@acme.test", &claims("u-bo", "Bo", "bo@acme.test")).await;
    assert!(session.is_some());
    let (status, _, _) = app.scim("DELETE", &o.tenant, &o.token, &format!("/Users/{bo}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let count = user_count(&app).await;
    let (location, _) = sign_in(&app, &idp, &o, "bo@acme.test", &claims("u-bo", "Bo", "bo@acme.test")).await;
    assert!(location.starts_with("/sign-in?sso_error="));
    assert_eq!(last_reason(&app, &o).await, "user_deleted");
    assert_eq!(user_count(&app).await, count);

    // Linking needs a verified domain too: a SCIM user at another domain is not linked.
    push_user(&app, &o, "cy@other.test").await;
    save_jit(&app, &o, &[("update", "every_sign_in"), ("link_key", "user_name"), ("preset", "generic")]).await;
    sign_in(&app, &idp, &o, "cy@other.test", &claims("u-cy", "Cy", "cy@other.test")).await;
    assert_eq!(last_reason(&app, &o).await, "unverified_domain");
    verified_domain(&app, &o.tenant, "other.test").await;
    let (_, session) = sign_in(&app, &idp, &o, "cy@other.test", &claims("u-cy", "Cy", "cy@other.test")).await;
    assert!(session.is_some());

    // Another organization's admin cannot link an identity to this organization's user.
    let email = format!("admin-{}@globex.test", uuid::Uuid::new_v4().simple());
    let other = app.sign_up("Globex", &email, PASSWORD).await;
    let res = app
        .call(
            "form/sso_link_identity",
            &[("user_id", &manual), ("connection_id", &o.connection), ("subject", "x")],
            Some(&other),
        )
        .await;
    assert!(invalid_message(res).await.contains("no longer exists"), "as if it did not exist");
    assert!(app.raw_strings("SELECT subject FROM sso_identities WHERE subject = 'x'").await.is_empty());
}

async fn scim_adopts_a_just_in_time_user(db: Db) {
    let app = TestApp::new(db).await;
    let idp = Idp::new(&format!("https://idp.test/adopt-{}", uuid::Uuid::new_v4().simple()));
    let o = org(&app, &idp).await;
    save_jit(
        &app,
        &o,
        &[("enabled", "on"), ("update", "every_sign_in"), ("link_key", "user_name"), ("preset", "okta")],
    )
    .await;
    let zoe = a(&[("user.id", "00u-zoe"), ("user.firstName", "Zoe"), ("user.email", "zoe@acme.test")]);
    let (_, session) = sign_in(&app, &idp, &o, "zoe@acme.test", &zoe).await;
    let zoe_id = app.viewer(Some(&session.expect("session"))).await["account_id"].as_str().unwrap().to_string();

    // SCIM sees the JIT user, and a create with the same userName adopts it: 201, same id.
    let (status, _, body) = app
        .scim(
            "POST",
            &o.tenant,
            &o.token,
            "/Users",
            Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "zoe@acme.test",
                "name": {"givenName": "Zoë", "familyName": "Okta"}, "emails": [{"value": "zoe@acme.test", "primary": true}]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["id"], zoe_id.as_str());
    assert_eq!(app.raw_strings(&format!("SELECT source FROM scim_users WHERE id = '{zoe_id}'")).await, ["scim"]);
    // Now SCIM-managed: her next sign-in (still linked) writes nothing.
    let (_, session) = sign_in(&app, &idp, &o, "zoe@acme.test", &zoe).await;
    assert_eq!(app.viewer(Some(&session.expect("session"))).await["account_id"], zoe_id.as_str());
    assert_eq!(user_json(&app, &zoe_id).await["name"]["givenName"], "Zoë");

    // By externalId: a JIT user whose unique id the IdP's create names, under another userName.
    let yan = a(&[("user.id", "00u-yan"), ("user.firstName", "Yan"), ("user.email", "yan@acme.test")]);
    let (_, session) = sign_in(&app, &idp, &o, "yan@acme.test", &yan).await;
    let yan_id = app.viewer(Some(&session.expect("session"))).await["account_id"].as_str().unwrap().to_string();
    let (status, _, body) = app
        .scim(
            "POST",
            &o.tenant,
            &o.token,
            "/Users",
            Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "yan.w@acme.test", "externalId": "00u-yan"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["id"], yan_id.as_str());
    assert_eq!(body["userName"], "yan.w@acme.test");
    // A SCIM user's userName still conflicts (409): only JIT users are adopted.
    let (status, _, _) = app
        .scim(
            "POST",
            &o.tenant,
            &o.token,
            "/Users",
            Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "yan.w@acme.test"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
}

async fn a_groups_claim_feeds_the_idp_group_rules_by_name(db: Db) {
    let app = TestApp::new(db).await;
    let idp = Idp::new(&format!("https://idp.test/groups-{}", uuid::Uuid::new_v4().simple()));
    let o = org(&app, &idp).await;
    let (status, _, group) = app
        .scim(
            "POST",
            &o.tenant,
            &o.token,
            "/Groups",
            Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Engineering"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    let engineers = app
        .ok_json(
            "user_group_create",
            json!({"input": {"name": "Engineers", "description": "", "role": "member"}}),
            &o.cookie,
        )
        .await["id"]
        .clone();
    app.ok_json(
        "mapping_rule_create",
        json!({"rule": {"id": "", "condition": {"kind": "idp_group", "group_id": group["id"]}, "user_group_id": engineers, "enabled": true}}),
        &o.cookie,
    )
    .await;
    app.wait_for_mapping_run(&o.cookie).await;
    save_jit(
        &app,
        &o,
        &[("enabled", "on"), ("update", "every_sign_in"), ("link_key", "user_name"), ("preset", "generic")],
    )
    .await;

    // The groups claim names the SCIM group (in another case): the IdP group rule places the
    // just-in-time user in the same write.
    let mut kai = a(&[("uniqueUserId", "u-kai"), ("email", "kai@acme.test")]);
    kai.push(("groups".to_string(), vec!["engineering".to_string(), "Not pushed".to_string()]));
    let (_, session) = sign_in(&app, &idp, &o, "kai@acme.test", &kai).await;
    let session = session.expect("session");
    let id = app.viewer(Some(&session)).await["account_id"].as_str().unwrap().to_string();
    assert_eq!(groups_of(&app, &id).await, ["Engineers"]);
    assert_eq!(app.viewer(Some(&session)).await["role"], "member");

    // Out of the group at the IdP: the next sign-in takes the user out of the user group.
    sign_in(&app, &idp, &o, "kai@acme.test", &a(&[("uniqueUserId", "u-kai"), ("email", "kai@acme.test")])).await;
    assert!(groups_of(&app, &id).await.is_empty());
    // And a whole-tenant evaluation reads the claim groups too (back in, then re-run).
    sign_in(&app, &idp, &o, "kai@acme.test", &kai).await;
    app.raw_execute(&format!("DELETE FROM user_group_members WHERE user_id = '{id}'")).await;
    app.ok_json("mapping_reevaluate", json!({}), &o.cookie).await;
    app.wait_for_mapping_run(&o.cookie).await;
    assert_eq!(groups_of(&app, &id).await, ["Engineers"]);
}

async fn two_first_sign_ins_at_once_make_one_user(db: Db) {
    let app = TestApp::new(db).await;
    let idp = Idp::new(&format!("https://idp.test/race-{}", uuid::Uuid::new_v4().simple()));
    let o = org(&app, &idp).await;
    save_jit(
        &app,
        &o,
        &[("enabled", "on"), ("update", "every_sign_in"), ("link_key", "user_name"), ("preset", "generic")],
    )
    .await;
    let before: i64 = user_count(&app).await.parse().unwrap();
    // The same new person finishes two sign-ins (two tabs) at the same moment.
    let claims = a(&[("uniqueUserId", "u-twin"), ("email", "twin@acme.test")]);
    let mut answers = Vec::new();
    for _ in 0..2 {
        let (request, flow) = start(&app, &o.connection).await;
        let mut answer = idp.answer(&o.connection, Some(&request), "twin@acme.test");
        answer.attributes.clone_from(&claims);
        answers.push((idp.xml(&answer), flow));
    }
    let (one, two) = tokio::join!(
        post_acs(&app, &o.connection, &answers[0].0, Some(&answers[0].1)),
        post_acs(&app, &o.connection, &answers[1].0, Some(&answers[1].1)),
    );
    let (one, two) = (one.2.expect("first signed in"), two.2.expect("second signed in"));
    let (a1, a2) =
        (app.viewer(Some(&one)).await["account_id"].clone(), app.viewer(Some(&two)).await["account_id"].clone());
    assert_eq!(a1, a2, "both tabs are the same user");
    assert_eq!(user_count(&app).await, (before + 1).to_string(), "one user, not two");
}

async fn a_disabled_organization_refuses_sign_ins_and_writes_nothing(db: Db) {
    let app = TestApp::new(db).await;
    let idp = Idp::new(&format!("https://idp.test/disabled-{}", uuid::Uuid::new_v4().simple()));
    let o = org(&app, &idp).await;
    save_jit(
        &app,
        &o,
        &[("enabled", "on"), ("update", "every_sign_in"), ("link_key", "user_name"), ("preset", "generic")],
    )
    .await;
    let claims = |id: &str, email: &str| a(&[("uniqueUserId", id), ("firstName", "New"), ("email", email)]);
    // Ada is signed in before the operator disables the organization.
    let (_, ada) = sign_in(&app, &idp, &o, "ada@acme.test", &claims("u-ada", "ada@acme.test")).await;
    let ada = ada.expect("session");
    assert_eq!(app.viewer(Some(&ada)).await["account_id"], o.ada);
    let tenant = roster_shared::ids::TenantId::parse(&o.tenant).unwrap();
    roster_shared::service::tenants::set_disabled(&app.store, &tenant, true, "test operator").await.unwrap();

    let count = |table: &'static str| {
        let app = &app;
        async move { app.raw_strings(&format!("SELECT CAST(COUNT(*) AS TEXT) FROM {table}")).await.remove(0) }
    };
    let (users, identities) = (count("scim_users").await, count("sso_identities").await);
    let reason = || async {
        app.raw_strings("SELECT reason FROM sso_sign_ins ORDER BY at DESC, id DESC LIMIT 1").await.remove(0)
    };
    // A new person (who would be created just in time) and Ada (linked) are refused; nobody is
    // created, linked or signed in, and Ada's open session no longer counts.
    for (subject, id) in [("new@acme.test", "u-new"), ("ada@acme.test", "u-ada")] {
        let (location, session) = sign_in(&app, &idp, &o, subject, &claims(id, subject)).await;
        assert!(location.starts_with("/sign-in?sso_error="), "{location}");
        assert!(location.contains("disabled"), "{location}");
        assert!(session.is_none(), "{subject} got a session");
        assert_eq!(reason().await, "organization_disabled");
    }
    assert_eq!((count("scim_users").await, count("sso_identities").await), (users.clone(), identities));
    assert!(app.viewer(Some(&ada)).await.is_null(), "open sessions end while disabled");

    // Enabled again, the same sign-in creates the new person.
    roster_shared::service::tenants::set_disabled(&app.store, &tenant, false, "test operator").await.unwrap();
    let (location, session) = sign_in(&app, &idp, &o, "new@acme.test", &claims("u-new", "new@acme.test")).await;
    assert!(session.is_some(), "{location}");
    assert_ne!(count("scim_users").await, users);
}

/// Just-in-time creation places new users in the default group, up to its seat limit: beyond it
/// the user is created and signed in, without the group, and their page says why.
async fn a_seat_limit_keeps_a_just_in_time_user_out_of_a_full_default_group(db: Db) {
    let app = TestApp::new(db).await;
    let idp = Idp::new(&format!("https://idp.test/seats-{}", uuid::Uuid::new_v4().simple()));
    let o = org(&app, &idp).await;
    let everyone = app
        .ok_json(
            "user_group_create",
            json!({"input": {"name": "Everyone", "description": "", "role": "member"}}),
            &o.cookie,
        )
        .await["id"]
        .clone();
    let res = app
        .call(
            "form/user_group_seats",
            &[("group_id", everyone.as_str().unwrap()), ("seat_limit", "2")],
            Some(&o.cookie),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    app.ok_json("user_group_default", json!({"id": everyone}), &o.cookie).await;
    app.wait_for_mapping_run(&o.cookie).await;
    save_jit(
        &app,
        &o,
        &[("enabled", "on"), ("update", "every_sign_in"), ("link_key", "user_name"), ("preset", "entra")],
    )
    .await;
    let person = |oid: &str, email: &str| {
        a(&[
            (OID, oid),
            (&format!("{ENTRA}/givenname"), "Pat"),
            (&format!("{ENTRA}/surname"), "Doe"),
            (&format!("{ENTRA}/emailaddress"), email),
        ])
    };
    let (_, first) = sign_in(&app, &idp, &o, "first@acme.test", &person("oid-1", "first@acme.test")).await;
    let first = app.viewer(first.as_deref()).await["account_id"].as_str().unwrap().to_string();
    assert_eq!(groups_of(&app, &first).await, ["Everyone"]);
    let (_, second) = sign_in(&app, &idp, &o, "second@acme.test", &person("oid-2", "second@acme.test")).await;
    let viewer = app.viewer(second.as_deref()).await;
    let second = viewer["account_id"].as_str().unwrap().to_string();
    assert!(groups_of(&app, &second).await.is_empty(), "both seats are taken (Ada from SCIM, and the first)");
    let detail = app.ok_json("user", json!({"id": second}), &o.cookie).await;
    assert_eq!(detail["refused"][0][2], "seat limit of Everyone reached (2 users)", "{detail}");
}

/// Under the soft-delete policy the IdP's DELETE ends the person's session at once and refuses
/// their sign-ins, like a delete; an admin's restore lets them in again.
async fn a_soft_deleted_user_loses_their_session_and_signs_in_again_once_restored(db: Db) {
    let app = TestApp::new(db).await;
    let idp = Idp::new(&format!("https://idp.test/soft-{}", uuid::Uuid::new_v4().simple()));
    let o = org(&app, &idp).await;
    app.soft_delete_policy(&o.cookie).await;
    save_jit(
        &app,
        &o,
        &[("enabled", "on"), ("update", "every_sign_in"), ("link_key", "user_name"), ("preset", "generic")],
    )
    .await;
    let claims =
        |id: &str, first: &str, email: &str| a(&[("uniqueUserId", id), ("firstName", first), ("email", email)]);
    let bo = push_user(&app, &o, "bo@acme.test").await;
    let (_, session) = sign_in(&app, &idp, &o, "bo@acme.test", &claims("u-bo", "Bo", "bo@acme.test")).await;
    let session = session.expect("signed in");
    assert_eq!(app.viewer(Some(&session)).await["account_id"], bo.as_str());

    let (status, _, _) = app.scim("DELETE", &o.tenant, &o.token, &format!("/Users/{bo}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(app.viewer(Some(&session)).await.is_null(), "the session ends at once");
    let count = user_count(&app).await;
    let (_, again) = sign_in(&app, &idp, &o, "bo@acme.test", &claims("u-bo", "Bo", "bo@acme.test")).await;
    assert!(again.is_none());
    assert_eq!(last_reason(&app, &o).await, "user_deleted");
    assert_eq!(user_count(&app).await, count, "not re-created just in time");

    let res = app.call("form/deleted_restore", &[("id", &bo)], Some(&o.cookie)).await;
    assert_eq!(res.status(), StatusCode::OK, "{}", body_text(res).await);
    let (_, back) = sign_in(&app, &idp, &o, "bo@acme.test", &claims("u-bo", "Bo", "bo@acme.test")).await;
    assert_eq!(app.viewer(Some(&back.expect("signed in again"))).await["account_id"], bo.as_str());
}
