//! Single sign-on over SAML 2.0 against a test identity provider that signs with xmlsec, as
//! real IdPs do: the SP-initiated round trip (AuthnRequest → signed Response → session with the
//! role of the user's groups), and every forged or stale response refused with its reason in the
//! sign-in log and nothing signed in.

use std::io::Read;

use axum::body::Body;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{Duration, Utc};
use http::{header, Request, StatusCode};
use samael::crypto::{CertificateDer, Crypto, CryptoProvider};
use samael::idp::{CertificateParams, IdentityProvider, KeyType, Rsa};
use samael::schema::{
    Assertion, AudienceRestriction, Conditions, Issuer, Response, Status, StatusCode as SamlStatus, Subject,
    SubjectConfirmation, SubjectConfirmationData, SubjectNameID,
};
use samael::signature::Signature;
use samael::traits::ToXml;
use serde_json::{json, Value};

use crate::both_backends;
use crate::common::*;

both_backends!(
    saml_sign_in_lands_by_role_and_roles_take_effect,
    forged_and_stale_saml_responses_are_refused_with_their_reason,
    refused_responses_create_nobody_even_with_just_in_time_creation_on,
    refused_responses_never_link_or_update_a_user_by_external_id,
    connections_are_per_organization_and_admin_only,
    oidc_sign_in_through_a_real_provider_with_pkce_state_and_nonce,
    domains_are_verified_by_dns_and_route_the_sign_in,
);

/// A SAML identity provider for tests: an RSA-2048 key and its self-signed certificate.
pub(crate) struct Idp {
    entity_id: String,
    key: Vec<u8>,
    cert: CertificateDer,
}

/// What a test Response says; the defaults are a valid answer to `request_id`.
#[derive(Clone)]
pub(crate) struct Answer {
    in_response_to: Option<String>,
    subject: String,
    audience: Option<String>,
    recipient: String,
    not_on_or_after: chrono::DateTime<Utc>,
    assertion_id: String,
    sign_assertion: bool,
    sign_response: bool,
    sha1: bool,
    /// Attributes of the assertion: (name, values).
    pub(crate) attributes: Vec<(String, Vec<String>)>,
}

impl Idp {
    pub(crate) fn new(entity_id: &str) -> Idp {
        let idp = IdentityProvider::generate_new(KeyType::Rsa(Rsa::Rsa2048)).expect("key");
        let cert = idp
            .create_certificate(&CertificateParams {
                common_name: "test-idp",
                issuer_name: "test-idp",
                days_until_expiration: 30,
            })
            .expect("certificate");
        Idp { entity_id: entity_id.to_string(), key: idp.export_private_key_der().expect("key der"), cert }
    }

    fn metadata(&self) -> String {
        format!(
            r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{}"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.test/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>"#,
            self.entity_id,
            STANDARD.encode(self.cert.der_data())
        )
    }

    pub(crate) fn answer(&self, connection: &str, request_id: Option<&str>, subject: &str) -> Answer {
        Answer {
            in_response_to: request_id.map(str::to_string),
            subject: subject.to_string(),
            audience: Some(format!("{PUBLIC_URL}/sso/saml/{connection}/metadata")),
            recipient: format!("{PUBLIC_URL}/sso/saml/{connection}/acs"),
            not_on_or_after: Utc::now() + Duration::minutes(5),
            assertion_id: format!("_a{}", uuid::Uuid::new_v4().simple()),
            sign_assertion: true,
            sign_response: false,
            sha1: false,
            attributes: Vec::new(),
        }
    }

    /// The Response XML, signed as `a` says (unsigned when neither is set).
    pub(crate) fn xml(&self, a: &Answer) -> String {
        let issuer = Issuer { value: Some(self.entity_id.clone()), ..Default::default() };
        let response_id = format!("_r{}", uuid::Uuid::new_v4().simple());
        let assertion = Assertion {
            id: a.assertion_id.clone(),
            issue_instant: Utc::now(),
            version: "2.0".into(),
            issuer: issuer.clone(),
            signature: a.sign_assertion.then(|| Signature::template(&a.assertion_id, &self.cert)),
            subject: Some(Subject {
                name_id: Some(SubjectNameID {
                    format: Some("urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress".into()),
                    value: a.subject.clone(),
                }),
                subject_confirmations: Some(vec![SubjectConfirmation {
                    method: Some("urn:oasis:names:tc:SAML:2.0:cm:bearer".into()),
                    name_id: None,
                    subject_confirmation_data: Some(SubjectConfirmationData {
                        not_before: None,
                        not_on_or_after: Some(a.not_on_or_after),
                        recipient: Some(a.recipient.clone()),
                        in_response_to: a.in_response_to.clone(),
                        address: None,
                        content: None,
                    }),
                }]),
            }),
            conditions: Some(Conditions {
                not_before: Some(Utc::now() - Duration::minutes(1)),
                not_on_or_after: Some(a.not_on_or_after),
                audience_restrictions: a.audience.clone().map(|aud| vec![AudienceRestriction { audience: vec![aud] }]),
                one_time_use: None,
                proxy_restriction: None,
            }),
            authn_statements: None,
            attribute_statements: (!a.attributes.is_empty()).then(|| {
                vec![samael::schema::AttributeStatement {
                    attributes: a
                        .attributes
                        .iter()
                        .map(|(name, values)| samael::attribute::Attribute {
                            friendly_name: None,
                            name: Some(name.clone()),
                            name_format: None,
                            values: values
                                .iter()
                                .map(|v| samael::attribute::AttributeValue {
                                    attribute_type: Some("xs:string".into()),
                                    value: Some(v.clone()),
                                })
                                .collect(),
                        })
                        .collect(),
                }]
            }),
        };
        let response = Response {
            id: response_id.clone(),
            in_response_to: a.in_response_to.clone(),
            version: "2.0".into(),
            issue_instant: Utc::now(),
            destination: Some(a.recipient.clone()),
            consent: None,
            issuer: Some(issuer),
            signature: a.sign_response.then(|| Signature::template(&response_id, &self.cert)),
            status: Some(Status {
                status_code: SamlStatus { value: Some("urn:oasis:names:tc:SAML:2.0:status:Success".into()) },
                status_message: None,
                status_detail: None,
            }),
            encrypted_assertion: None,
            assertion: Some(assertion),
        };
        let mut xml = response.to_string().expect("response xml");
        if !a.sha1 {
            // samael's template digests with SHA-1; real IdPs (and Roster) use SHA-256.
            xml = xml.replace("http://www.w3.org/2000/09/xmldsig#sha1", "http://www.w3.org/2001/04/xmlenc#sha256");
        }
        if a.sign_assertion || a.sign_response {
            Crypto::sign_xml(&xml, &self.key).expect("sign")
        } else {
            xml
        }
    }
}

/// An admin, a SCIM token, a SCIM user `ada@acme.test`, a SAML connection to `idp`, and the
/// verified domain acme.test.
pub(crate) struct Org {
    pub(crate) cookie: String,
    pub(crate) tenant: String,
    pub(crate) connection: String,
    pub(crate) ada: String,
    pub(crate) token: String,
}

/// Verifies a domain of the organization on an operator's word (the DNS round trip has a test
/// of its own).
pub(crate) async fn verified_domain(app: &TestApp, tenant: &str, domain: &str) {
    use roster_shared::service::activity::Actor;
    use roster_shared::service::sso::domains;
    let tenant = roster_shared::ids::TenantId::parse(tenant).unwrap();
    let operator = Actor { kind: "system", name: "test".into() };
    domains::add(&app.store, &tenant, &operator, domain).await.expect("domain added");
    domains::verify(&app.store, None, &tenant, &operator, domain, true).await.expect("domain verified");
}

pub(crate) async fn org(app: &TestApp, idp: &Idp) -> Org {
    let email = format!("admin-{}@acme.test", uuid::Uuid::new_v4().simple());
    let cookie = app.sign_up("Acme", &email, PASSWORD).await;
    let tenant = app.viewer(Some(&cookie)).await["tenant"]["id"].as_str().unwrap().to_string();
    app.ok_json("scim_enable", json!({"enabled": true}), &cookie).await;
    let made = app
        .ok_json("scim_credential_create", json!({"kind": "bearer", "name": "Okta", "expires_in_days": 30}), &cookie)
        .await;
    let token = made["secret"].as_str().unwrap().to_string();
    let (status, _, body) = app
        .scim(
            "POST",
            &tenant,
            &token,
            "/Users",
            Some(json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "ada@acme.test",
                "name": {"givenName": "Ada", "familyName": "Lovelace"},
                "emails": [{"value": "ada@acme.test", "primary": true}],
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let ada = body["id"].as_str().unwrap().to_string();
    let res =
        app.call("form/sso_saml_create", &[("name", "Okta"), ("metadata_xml", &idp.metadata())], Some(&cookie)).await;
    let status = res.status();
    let text = body_text(res).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let connection: String = serde_json::from_str(&text).expect("connection id");
    verified_domain(app, &tenant, "acme.test").await;
    Org { cookie, tenant, connection, ada, token }
}

/// The `roster_sso_flow` cookie a sign-in start sets, as `name=value`.
pub(crate) fn flow_cookie(res: &http::Response<Body>) -> String {
    res.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("roster_sso_flow="))
        .map(|v| v.split(';').next().unwrap_or_default().to_string())
        .expect("flow cookie")
}

pub(crate) async fn push_user(app: &TestApp, o: &Org, user_name: &str) -> String {
    push_scim_user(
        app,
        o,
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": user_name,
            "emails": [{"value": user_name, "primary": true}],
        }),
    )
    .await
}

/// Creates the SCIM user `body` as the organization's IdP does; returns its id.
pub(crate) async fn push_scim_user(app: &TestApp, o: &Org, body: Value) -> String {
    let (status, _, body) = app.scim("POST", &o.tenant, &o.token, "/Users", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().unwrap().to_string()
}

/// SCIM user Ed (userName "E7", externalId "emp-7") and just-in-time linking by externalId,
/// updated at every sign-in; returns Ed's id.
pub(crate) async fn scim_user_linked_by_external_id(app: &TestApp, o: &Org) -> String {
    let ed = push_scim_user(
        app,
        o,
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "E7", "externalId": "emp-7",
            "name": {"givenName": "Ed"}, "emails": [{"value": "ed@acme.test", "primary": true}]}),
    )
    .await;
    save_jit(
        app,
        o,
        &[("enabled", "on"), ("update", "every_sign_in"), ("link_key", "external_id"), ("preset", "generic")],
    )
    .await;
    ed
}

/// Saves the connection's JIT settings through the SSO page's form.
pub(crate) async fn save_jit(app: &TestApp, o: &Org, fields: &[(&str, &str)]) {
    let mut all = vec![("id", o.connection.as_str())];
    all.extend_from_slice(fields);
    let res = app.call("form/sso_connection_jit", &all, Some(&o.cookie)).await;
    let status = res.status();
    assert_eq!(status, StatusCode::OK, "{}", body_text(res).await);
}

/// Starts an SP-initiated sign-in: returns the AuthnRequest's id and the flow cookie.
pub(crate) async fn start(app: &TestApp, connection: &str) -> (String, String) {
    let res = app.page(&format!("/sso/saml/{connection}/login"), None).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let location = res.headers()[header::LOCATION].to_str().unwrap().to_string();
    assert!(location.starts_with("https://idp.test/sso?SAMLRequest="), "{location}");
    let flow = flow_cookie(&res);
    // Read the AuthnRequest as an IdP does: base64, then raw DEFLATE.
    let url = url::Url::parse(&location).unwrap();
    let encoded = url.query_pairs().find(|(k, _)| k == "SAMLRequest").unwrap().1.to_string();
    let mut xml = String::new();
    flate2::read::DeflateDecoder::new(STANDARD.decode(encoded).unwrap().as_slice()).read_to_string(&mut xml).unwrap();
    let id = xml.split(" ID=\"").nth(1).and_then(|r| r.split('"').next()).expect("request ID").to_string();
    assert!(xml.contains(&format!("AssertionConsumerServiceURL=\"{PUBLIC_URL}/sso/saml/{connection}/acs\"")), "{xml}");
    (id, flow)
}

/// Posts a Response to the ACS as the browser does; returns (status, Location, session cookie).
pub(crate) async fn post_acs(
    app: &TestApp,
    connection: &str,
    xml: &str,
    flow: Option<&str>,
) -> (StatusCode, String, Option<String>) {
    let body = encode(&[("SAMLResponse", &STANDARD.encode(xml)), ("RelayState", "")]);
    let mut b = Request::post(format!("/sso/saml/{connection}/acs"))
        .header(header::HOST, "roster.test")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        // The IdP's page posts it: a cross-site request.
        .header("sec-fetch-site", "cross-site")
        .header(header::ORIGIN, "https://idp.test");
    if let Some(f) = flow {
        b = b.header(header::COOKIE, f);
    }
    let res = app.send(b.body(Body::from(body)).unwrap()).await;
    let status = res.status();
    let location = res.headers().get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    (status, location, session_cookie(&res))
}

pub(crate) async fn sign_ins(app: &TestApp, cookie: &str) -> Vec<Value> {
    app.ok_json("sso_setup", json!({}), cookie).await["sign_ins"].as_array().cloned().unwrap_or_default()
}

/// What an accepted sign-in writes, besides its line in the sign-in log: users, identity links,
/// the IdP group names it carried, dashboard sessions, user-group memberships, events (numbered
/// first: on PostgreSQL a write's events wait for the sequencer). A refusal leaves all of it as it
/// was.
pub(crate) async fn sign_in_footprint(app: &TestApp) -> Vec<String> {
    app.store.sequence_all_events().await.expect("sequence events");
    let mut out = Vec::new();
    for table in
        ["scim_users", "sso_identities", "sso_claim_groups", "console_sessions", "user_group_members", "events"]
    {
        let n = app.raw_strings(&format!("SELECT CAST(COUNT(*) AS TEXT) FROM {table}")).await;
        out.push(format!("{table}: {}", n.join("")));
    }
    out
}

async fn saml_sign_in_lands_by_role_and_roles_take_effect(db: Db) {
    let app = TestApp::new(db).await;
    let idp = Idp::new("https://idp.test/acme");
    let o = org(&app, &idp).await;

    // Roster's SP metadata names the ACS.
    let res = app.page(&format!("/sso/saml/{}/metadata", o.connection), None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let md = body_text(res).await;
    assert!(md.contains(&format!("Location=\"{PUBLIC_URL}/sso/saml/{}/acs\"", o.connection)), "{md}");

    // No user group yet: signed in, and told they have no access.
    let (request, flow) = start(&app, &o.connection).await;
    let xml = idp.xml(&idp.answer(&o.connection, Some(&request), "ada@acme.test"));
    let (status, location, session) = post_acs(&app, &o.connection, &xml, Some(&flow)).await;
    assert_eq!((status, location.as_str()), (StatusCode::SEE_OTHER, "/me"));
    let session = session.expect("a session");
    let viewer = app.viewer(Some(&session)).await;
    assert_eq!(viewer["role"], "no_access");
    assert_eq!(viewer["account_id"], o.ada);
    let access = app.ok_json("my_access", json!({}), &session).await;
    assert_eq!(access["user_name"], "ada@acme.test");
    assert!(access["role"].is_null());
    // Not an admin: the dashboard's functions refuse.
    let (status, _) = app.call_json("users", json!({"query": {"search": "", "filter": "all", "sort": "created", "descending": true, "page": 1, "page_size": 10, "user_group": null}}), Some(&session)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Member: My access says so.
    let members = app
        .ok_json(
            "user_group_create",
            json!({"input": {"name": "Staff", "description": "", "role": "member"}}),
            &o.cookie,
        )
        .await;
    app.ok_json("user_group_assign", json!({"group_id": members["id"], "user_ids": [o.ada]}), &o.cookie).await;
    assert_eq!(app.viewer(Some(&session)).await["role"], "member");
    assert_eq!(app.ok_json("my_access", json!({}), &session).await["role"], "member");

    // Viewer (and Member): the highest role counts — still Member, as Member > Viewer.
    // Admin: the same session administers the organization at once.
    let admins = app
        .ok_json("user_group_create", json!({"input": {"name": "IT", "description": "", "role": "admin"}}), &o.cookie)
        .await;
    app.ok_json("user_group_assign", json!({"group_id": admins["id"], "user_ids": [o.ada]}), &o.cookie).await;
    assert_eq!(app.viewer(Some(&session)).await["role"], "org_admin");
    let made = app
        .ok_json(
            "user_group_create",
            json!({"input": {"name": "Made by Ada", "description": "", "role": "viewer"}}),
            &session,
        )
        .await;
    let viewers_id = made["id"].as_str().unwrap().to_string();

    // Viewer only: reads the dashboard, every write refused.
    app.ok_json("user_group_unassign", json!({"group_id": admins["id"], "user_ids": [o.ada]}), &o.cookie).await;
    app.ok_json("user_group_unassign", json!({"group_id": members["id"], "user_ids": [o.ada]}), &o.cookie).await;
    app.ok_json("user_group_assign", json!({"group_id": viewers_id, "user_ids": [o.ada]}), &o.cookie).await;
    assert_eq!(app.viewer(Some(&session)).await["role"], "org_viewer");
    let users = app.ok_json("users", json!({"query": {"search": "", "filter": "all", "sort": "created", "descending": true, "page": 1, "page_size": 10, "user_group": null}}), &session).await;
    assert!(users.to_string().contains("ada@acme.test"));
    for (endpoint, args) in [
        ("user_group_create", json!({"input": {"name": "Nope", "description": "", "role": "admin"}})),
        ("user_group_assign", json!({"group_id": admins["id"], "user_ids": [o.ada]})),
        ("scim_enable", json!({"enabled": false})),
    ] {
        let (status, _) = app.call_json(endpoint, args, Some(&session)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{endpoint}");
    }
    let res = app.call("form/sso_connection_delete", &[("id", &o.connection)], Some(&session)).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    // Deactivated by the IdP: the session is over at the next request.
    let (status, _, body) = app
        .scim(
            "PATCH",
            &o.tenant,
            &o.token,
            &format!("/Users/{}", o.ada),
            Some(json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "value": {"active": false}}],
            })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let v = app.viewer(Some(&session)).await;
    assert!(v.is_null(), "{v}");

    // The log has the sign-in.
    let log = sign_ins(&app, &o.cookie).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["outcome"], "signed_in");
    assert_eq!(log[0]["user_id"], o.ada);

    // And the events: the connection's activation, the sign-in (with the user and connection).
    let tenant = roster_shared::ids::TenantId::parse(&o.tenant).unwrap();
    let kinds = ["connection.activated".to_string(), "sso.signed_in".to_string()];
    let events = app.store.tenant(&tenant).events_after(0, &kinds, 100).await.unwrap();
    let seen: Vec<(String, String)> = events
        .iter()
        .map(|e| {
            let data: serde_json::Value = serde_json::from_str(&e.data).unwrap();
            (e.kind.clone(), data["connection"]["type"].as_str().unwrap_or("-").to_string())
        })
        .collect();
    let seen: Vec<(&str, &str)> = seen.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    assert!(
        seen.contains(&("connection.activated", "sso")) && seen.contains(&("connection.activated", "scim")),
        "{seen:?}"
    );
    assert_eq!(seen.last(), Some(&("sso.signed_in", "-")));
    let signed_in: serde_json::Value = serde_json::from_str(&events[events.len() - 1].data).unwrap();
    assert_eq!(signed_in["user"]["id"], json!(o.ada));
    assert_eq!(signed_in["connection"]["id"], json!(o.connection));
    assert_eq!(serde_json::from_str::<serde_json::Value>(&events[events.len() - 1].cause).unwrap()["kind"], "sign_in");
}

async fn forged_and_stale_saml_responses_are_refused_with_their_reason(db: Db) {
    let app = TestApp::new(db).await;
    let idp = Idp::new("https://idp.test/forgery");
    let o = org(&app, &idp).await;
    let c = o.connection.as_str();
    let mallory_idp = Idp::new("https://idp.test/forgery");

    let mut cases: Vec<(&str, &str, String, bool)> = Vec::new(); // (name, reason, xml, with flow)
    let (r, flow) = start(&app, c).await;
    let unsigned = Answer { sign_assertion: false, ..idp.answer(c, Some(&r), "ada@acme.test") };
    cases.push(("unsigned assertion", "bad_signature", idp.xml(&unsigned), true));
    cases.push((
        "wrong certificate",
        "bad_signature",
        mallory_idp.xml(&mallory_idp.answer(c, Some(&r), "ada@acme.test")),
        true,
    ));
    let sha1 = Answer { sha1: true, ..idp.answer(c, Some(&r), "ada@acme.test") };
    cases.push(("SHA-1 digest", "bad_signature", idp.xml(&sha1), true));
    let expired =
        Answer { not_on_or_after: Utc::now() - Duration::minutes(10), ..idp.answer(c, Some(&r), "ada@acme.test") };
    cases.push(("expired", "expired", idp.xml(&expired), true));
    let audience =
        Answer { audience: Some("https://other.example/sp".into()), ..idp.answer(c, Some(&r), "ada@acme.test") };
    cases.push(("wrong audience", "wrong_audience", idp.xml(&audience), true));
    let no_audience = Answer { audience: None, ..idp.answer(c, Some(&r), "ada@acme.test") };
    cases.push(("no audience", "wrong_audience", idp.xml(&no_audience), true));
    let recipient =
        Answer { recipient: format!("{PUBLIC_URL}/sso/saml/other/acs"), ..idp.answer(c, Some(&r), "ada@acme.test") };
    cases.push(("wrong recipient", "wrong_", idp.xml(&recipient), true));
    cases.push((
        "unknown InResponseTo",
        "unknown_request",
        idp.xml(&idp.answer(c, Some("_not-a-request"), "ada@acme.test")),
        true,
    ));
    cases.push((
        "another browser's flow",
        "unknown_request",
        idp.xml(&idp.answer(c, Some(&r), "ada@acme.test")),
        false,
    ));
    cases.push((
        "IdP-initiated, not allowed",
        "idp_initiated_not_allowed",
        idp.xml(&idp.answer(c, None, "ada@acme.test")),
        true,
    ));
    cases.push(("not base64", "malformed", "%%%".into(), true));

    let before = sign_in_footprint(&app).await;
    for (name, reason, xml, with_flow) in &cases {
        let body_xml = if *name == "not base64" { None } else { Some(xml.as_str()) };
        let (status, location, session) = match body_xml {
            Some(x) => post_acs(&app, c, x, with_flow.then_some(flow.as_str())).await,
            None => {
                let res = app
                    .send(
                        Request::post(format!("/sso/saml/{c}/acs"))
                            .header(header::HOST, "roster.test")
                            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                            .header(header::COOKIE, flow.as_str())
                            .body(Body::from("SAMLResponse=%25%25%25"))
                            .unwrap(),
                    )
                    .await;
                let l =
                    res.headers().get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
                (res.status(), l, session_cookie(&res))
            }
        };
        assert_eq!(status, StatusCode::SEE_OTHER, "{name}");
        assert!(location.starts_with("/sign-in?sso_error="), "{name}: {location}");
        if let Some(s) = session {
            assert!(app.viewer(Some(&s)).await.is_null(), "{name}: signed someone in");
        }
        let last = sign_ins(&app, &o.cookie).await.into_iter().next().expect("logged");
        assert_eq!(last["outcome"], "refused", "{name}: {last}");
        let got = last["reason"].as_str().unwrap_or_default();
        assert!(got.starts_with(reason), "{name}: expected {reason}, got {got}: {}", last["message"]);
        assert!(last["user_id"].is_null(), "{name}");
        assert_eq!(sign_in_footprint(&app).await, before, "{name}: a refusal wrote something");
    }

    // None of those refusals linked an identity or signed anyone in.
    assert_eq!(app.raw_strings("SELECT CAST(COUNT(*) AS TEXT) FROM sso_identities").await, vec!["0".to_string()]);

    // Signature wrapping: an unsigned assertion for Mallory (a real user here) is put before
    // the signed one for Ada — with its own ID, and with the signed one's ID. What is read is
    // what was signed: never Mallory.
    push_user(&app, &o, "mallory@acme.test").await;
    for same_id in [false, true] {
        let (r2, flow2) = start(&app, c).await;
        let genuine = idp.answer(c, Some(&r2), "ada@acme.test");
        let signed = idp.xml(&genuine);
        let mut evil_answer = Answer { sign_assertion: false, ..idp.answer(c, Some(&r2), "mallory@acme.test") };
        if same_id {
            evil_answer.assertion_id = genuine.assertion_id.clone();
        }
        let evil = idp.xml(&evil_answer);
        let evil_assertion =
            &evil[evil.find("<saml2:Assertion").unwrap()..evil.find("</saml2:Assertion>").unwrap() + 18];
        let at = signed.find("<saml2:Assertion").unwrap();
        let wrapped = format!("{}{}{}", &signed[..at], evil_assertion, &signed[at..]);
        let before = sign_in_footprint(&app).await;
        let (_, location, session) = post_acs(&app, c, &wrapped, Some(&flow2)).await;
        if location.starts_with("/sign-in?sso_error=") {
            assert_eq!(sign_in_footprint(&app).await, before, "refused wrapping (same id {same_id}) wrote something");
        }
        let who = match session {
            Some(s) => app.viewer(Some(&s)).await["email"].clone(),
            None => Value::Null,
        };
        assert_ne!(who, json!("mallory@acme.test"), "wrapping (same id {same_id}) signed Mallory in");
        assert!(location == "/me" || location.starts_with("/sign-in?sso_error="), "{location}");
    }

    // The first flow is still unused: a genuine answer signs Ada in, once.
    let good = idp.xml(&idp.answer(c, Some(&r), "ada@acme.test"));
    let (_, location, session) = post_acs(&app, c, &good, Some(&flow)).await;
    assert_eq!(location, "/me");
    assert_eq!(app.viewer(session.as_deref()).await["account_id"], o.ada);
    // Replayed: the same Response again (its flow is used up, its assertion seen).
    let before = sign_in_footprint(&app).await;
    let (_, location, _) = post_acs(&app, c, &good, Some(&flow)).await;
    assert_eq!(sign_in_footprint(&app).await, before, "a replay wrote something");
    assert!(location.starts_with("/sign-in?sso_error="), "{location}");
    let last = sign_ins(&app, &o.cookie).await.into_iter().next().unwrap();
    assert_eq!(last["reason"], "unknown_request", "{last}");
    // IdP-initiated allowed: a second post of the same assertion is a replay.
    let res = app
        .call(
            "form/sso_connection_flags",
            &[("id", c), ("enabled", "on"), ("allow_idp_initiated", "on")],
            Some(&o.cookie),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let unsolicited = idp.xml(&idp.answer(c, None, "ada@acme.test"));
    let (_, location, _) = post_acs(&app, c, &unsolicited, None).await;
    assert_eq!(location, "/me");
    let before = sign_in_footprint(&app).await;
    let (_, location, _) = post_acs(&app, c, &unsolicited, None).await;
    assert!(location.starts_with("/sign-in?sso_error="));
    assert_eq!(sign_ins(&app, &o.cookie).await[0]["reason"], "replayed");
    assert_eq!(sign_in_footprint(&app).await, before, "an IdP-initiated replay wrote something");
    // Unknown subject and a disabled connection are refused too, writing nothing but the log.
    let (_, location, _) = post_acs(&app, c, &idp.xml(&idp.answer(c, None, "nobody@acme.test")), None).await;
    assert!(location.starts_with("/sign-in?sso_error="));
    assert_eq!(sign_ins(&app, &o.cookie).await[0]["reason"], "no_access");
    assert_eq!(sign_in_footprint(&app).await, before, "an unknown subject's sign-in wrote something");
    app.call("form/sso_connection_flags", &[("id", c), ("allow_idp_initiated", "on")], Some(&o.cookie)).await;
    // (Switching the connection off is an event of its own.)
    let before = sign_in_footprint(&app).await;
    let (_, location, _) = post_acs(&app, c, &idp.xml(&idp.answer(c, None, "ada@acme.test")), None).await;
    assert!(location.starts_with("/sign-in?sso_error="));
    assert_eq!(sign_ins(&app, &o.cookie).await[0]["reason"], "connection_disabled");
    assert_eq!(sign_in_footprint(&app).await, before, "a disabled connection's sign-in wrote something");
    // Support staff read the same log (read-only), reasons included.
    roster_shared::service::support::create_staff(&app.store, "sam@roster.test", "Sam", PASSWORD.to_string())
        .await
        .unwrap();
    let res = app.call("sign_in", &[("email", "sam@roster.test"), ("password", PASSWORD)], None).await;
    let sam = session_cookie(&res).expect("staff session");
    let seen = app.ok_json("support_sso", json!({"tenant": o.tenant}), &sam).await;
    assert_eq!(seen["connections"][0]["id"], c);
    assert_eq!(seen["sign_ins"][0]["reason"], "connection_disabled");
    assert_eq!(seen["connections"][0]["jit"]["enabled"], false, "support sees the JIT settings");
    let (status, _) = app.call_json("form/sso_connection_delete", json!({"id": c}), Some(&sam)).await;
    assert!(!status.is_success());
    let res = app
        .call(
            "form/sso_connection_jit",
            &[
                ("id", c),
                ("enabled", "on"),
                ("update", "every_sign_in"),
                ("link_key", "user_name"),
                ("preset", "generic"),
            ],
            Some(&sam),
        )
        .await;
    assert!(!res.status().is_success(), "support cannot switch JIT on");
    // Nothing but the log and Ada's one link was written: no user was created.
    let mut users = app.raw_strings("SELECT user_name FROM scim_users").await;
    users.sort();
    assert_eq!(users, vec!["ada@acme.test".to_string(), "mallory@acme.test".to_string()]);
    // And no refused response left an event: one sign-in event per accepted sign-in, all Ada's
    // (on PostgreSQL, numbered by the sequencer first: see `store::events`).
    app.store.sequence_all_events().await.expect("sequence events");
    let signed_in = app.raw_strings("SELECT data FROM events WHERE type = 'sso.signed_in'").await;
    let accepted = app.raw_strings("SELECT id FROM sso_sign_ins WHERE outcome = 'signed_in' AND test_by IS NULL").await;
    let refused = app.raw_strings("SELECT id FROM sso_sign_ins WHERE outcome = 'refused'").await;
    assert!(refused.len() >= 5, "{refused:?}");
    assert_eq!(signed_in.len(), accepted.len(), "{signed_in:?}");
    assert!(signed_in.iter().all(|e| e.contains("\"subject\":\"ada@acme.test\"")), "{signed_in:?}");
}

/// With just-in-time creation on, a response for someone new would create them: every refused
/// one (bad signature, wrong certificate, wrapping, wrong audience, expired, unknown
/// InResponseTo, a replay) creates nobody and writes nothing a sign-in writes. The genuine one
/// does, which shows the footprint sees a sign-in.
async fn refused_responses_create_nobody_even_with_just_in_time_creation_on(db: Db) {
    let app = TestApp::new(db).await;
    let entity = format!("https://idp.test/jit-refusals-{}", uuid::Uuid::new_v4().simple());
    let (idp, forger) = (Idp::new(&entity), Idp::new(&entity));
    let o = org(&app, &idp).await;
    let c = o.connection.as_str();
    save_jit(
        &app,
        &o,
        &[("enabled", "on"), ("update", "every_sign_in"), ("link_key", "user_name"), ("preset", "generic")],
    )
    .await;
    let new = "newcomer@acme.test";

    let (r, flow) = start(&app, c).await;
    let claims = |id: &str, email: &str| -> Vec<(String, Vec<String>)> {
        [("uniqueUserId", id), ("firstName", "New"), ("email", email)]
            .iter()
            .map(|(k, v)| (k.to_string(), vec![v.to_string()]))
            .collect()
    };
    let genuine = Answer { attributes: claims("u-newcomer", new), ..idp.answer(c, Some(&r), new) };
    let signed = idp.xml(&genuine);
    let cases = [
        ("unsigned", idp.xml(&Answer { sign_assertion: false, ..genuine.clone() })),
        ("wrong certificate", forger.xml(&genuine)),
        ("wrong audience", idp.xml(&Answer { audience: Some("https://other.example/sp".into()), ..genuine.clone() })),
        ("expired", idp.xml(&Answer { not_on_or_after: Utc::now() - Duration::minutes(10), ..genuine.clone() })),
        ("unknown InResponseTo", idp.xml(&Answer { in_response_to: Some("_not-a-request".into()), ..genuine.clone() })),
    ];
    let before = sign_in_footprint(&app).await;
    for (name, xml) in &cases {
        let (_, location, session) = post_acs(&app, c, xml, Some(&flow)).await;
        assert!(location.starts_with("/sign-in?sso_error="), "{name}: {location}");
        assert!(session.is_none() || app.viewer(session.as_deref()).await.is_null(), "{name}: signed in");
        assert_eq!(sign_ins(&app, &o.cookie).await[0]["outcome"], "refused", "{name}");
        assert_eq!(sign_in_footprint(&app).await, before, "{name}: a refusal wrote something");
    }
    assert_eq!(app.raw_strings("SELECT user_name FROM scim_users").await, vec!["ada@acme.test".to_string()]);

    // Signature wrapping (another flow): an unsigned assertion for Eve before the signed one
    // for the newcomer. What is read is what was signed: Eve is never created; refused, it
    // writes nothing.
    let (r2, flow2) = start(&app, c).await;
    let signed2 = idp.xml(&Answer { attributes: claims("u-newcomer", new), ..idp.answer(c, Some(&r2), new) });
    let eve = Answer { attributes: claims("u-eve", "eve@acme.test"), ..idp.answer(c, Some(&r2), "eve@acme.test") };
    let evil = idp.xml(&Answer { sign_assertion: false, ..eve });
    let evil_assertion = &evil[evil.find("<saml2:Assertion").unwrap()..evil.find("</saml2:Assertion>").unwrap() + 18];
    let at = signed2.find("<saml2:Assertion").unwrap();
    let wrapped = format!("{}{}{}", &signed2[..at], evil_assertion, &signed2[at..]);
    let (_, location, _) = post_acs(&app, c, &wrapped, Some(&flow2)).await;
    let users = app.raw_strings("SELECT user_name FROM scim_users").await;
    assert!(!users.iter().any(|u| u == "eve@acme.test"), "wrapping created Eve: {users:?}");
    if location.starts_with("/sign-in?sso_error=") {
        assert_eq!(sign_in_footprint(&app).await, before, "a refused wrapping wrote something");
    }

    // The genuine response (its flow still unused) creates the newcomer: the footprint moves.
    let (_, location, _) = post_acs(&app, c, &signed, Some(&flow)).await;
    let after = sign_in_footprint(&app).await;
    assert_ne!(after, before, "an accepted sign-in is seen by the footprint ({location})");
    let mut users = app.raw_strings("SELECT user_name FROM scim_users").await;
    users.sort();
    assert_eq!(users, vec!["ada@acme.test".to_string(), new.to_string()]);
    // Replayed, it is refused and writes nothing.
    let (_, location, _) = post_acs(&app, c, &signed, Some(&flow)).await;
    assert!(location.starts_with("/sign-in?sso_error="), "{location}");
    assert_eq!(sign_in_footprint(&app).await, after, "a replay wrote something");
}

/// With just-in-time sign-in linking by externalId, a response naming an existing SCIM user's
/// externalId would link that user (and sign in as them): every refused one (unsigned, wrong
/// certificate, wrong audience, expired, unknown InResponseTo, another browser's flow, a replay)
/// links nobody, changes nobody and writes nothing a sign-in writes; wrapping never reaches the
/// user the unsigned assertion names. The genuine one links them, which shows the checks see a
/// sign-in.
async fn refused_responses_never_link_or_update_a_user_by_external_id(db: Db) {
    let app = TestApp::new(db).await;
    let entity = format!("https://idp.test/ext-refusals-{}", uuid::Uuid::new_v4().simple());
    let (idp, forger) = (Idp::new(&entity), Idp::new(&entity));
    let o = org(&app, &idp).await;
    let c = o.connection.as_str();
    let ed = scim_user_linked_by_external_id(&app, &o).await;
    let ed_row = format!("SELECT CAST(version AS TEXT) || ' ' || CAST(data AS TEXT) FROM scim_users WHERE id = '{ed}'");
    let ed_before = app.raw_strings(&ed_row).await;
    let links_of_ed = format!("SELECT CAST(COUNT(*) AS TEXT) FROM sso_identities WHERE user_id = '{ed}'");

    let (r, flow) = start(&app, c).await;
    let claims = |id: &str, email: &str| -> Vec<(String, Vec<String>)> {
        [("uniqueUserId", id), ("firstName", "Changed"), ("email", email)]
            .iter()
            .map(|(k, v)| (k.to_string(), vec![v.to_string()]))
            .collect()
    };
    let genuine = Answer { attributes: claims("emp-7", "ed.other@acme.test"), ..idp.answer(c, Some(&r), "ed-subject") };
    let signed = idp.xml(&genuine);
    let cases = [
        ("unsigned", idp.xml(&Answer { sign_assertion: false, ..genuine.clone() }), true),
        ("wrong certificate", forger.xml(&genuine), true),
        (
            "wrong audience",
            idp.xml(&Answer { audience: Some("https://other.example/sp".into()), ..genuine.clone() }),
            true,
        ),
        ("expired", idp.xml(&Answer { not_on_or_after: Utc::now() - Duration::minutes(10), ..genuine.clone() }), true),
        (
            "unknown InResponseTo",
            idp.xml(&Answer { in_response_to: Some("_not-a-request".into()), ..genuine.clone() }),
            true,
        ),
        ("another browser's flow", signed.clone(), false),
    ];
    let before = sign_in_footprint(&app).await;
    for (name, xml, with_flow) in &cases {
        let (_, location, session) = post_acs(&app, c, xml, with_flow.then_some(flow.as_str())).await;
        assert!(location.starts_with("/sign-in?sso_error="), "{name}: {location}");
        assert!(session.is_none() || app.viewer(session.as_deref()).await.is_null(), "{name}: signed in");
        assert_eq!(sign_ins(&app, &o.cookie).await[0]["outcome"], "refused", "{name}");
        assert_eq!(sign_in_footprint(&app).await, before, "{name}: a refusal wrote something");
        assert_eq!(app.raw_strings(&ed_row).await, ed_before, "{name}: a refusal changed Ed");
        assert_eq!(app.raw_strings(&links_of_ed).await, ["0"], "{name}: a refusal linked Ed");
    }

    // Signature wrapping (another flow): an unsigned assertion naming Ed's externalId before
    // a signed one for a stranger. What is read is what was signed: Ed is never linked or
    // changed, and a refusal writes nothing.
    let (r2, flow2) = start(&app, c).await;
    let stranger =
        Answer { attributes: claims("u-stranger", "stranger@acme.test"), ..idp.answer(c, Some(&r2), "stranger") };
    let signed2 = idp.xml(&stranger);
    let evil = idp.xml(&Answer {
        sign_assertion: false,
        attributes: claims("emp-7", "ed.other@acme.test"),
        ..idp.answer(c, Some(&r2), "ed-subject")
    });
    let evil_assertion = &evil[evil.find("<saml2:Assertion").unwrap()..evil.find("</saml2:Assertion>").unwrap() + 18];
    let at = signed2.find("<saml2:Assertion").unwrap();
    let wrapped = format!("{}{}{}", &signed2[..at], evil_assertion, &signed2[at..]);
    let before_wrapping = sign_in_footprint(&app).await;
    let (_, location, session) = post_acs(&app, c, &wrapped, Some(&flow2)).await;
    if location.starts_with("/sign-in?sso_error=") {
        assert_eq!(sign_in_footprint(&app).await, before_wrapping, "a refused wrapping wrote something");
    }
    if let Some(s) = session {
        assert_ne!(app.viewer(Some(&s)).await["account_id"], ed.as_str(), "wrapping signed in as Ed");
    }
    assert_eq!(app.raw_strings(&ed_row).await, ed_before, "wrapping changed Ed");
    assert_eq!(app.raw_strings(&links_of_ed).await, ["0"], "wrapping linked Ed");

    // The genuine response (its flow still unused) links Ed.
    let (_, location, session) = post_acs(&app, c, &signed, Some(&flow)).await;
    assert_eq!(location, "/me");
    assert_eq!(app.viewer(session.as_deref()).await["account_id"], ed.as_str());
    assert_eq!(app.raw_strings(&links_of_ed).await, ["1"]);
    let after = sign_in_footprint(&app).await;
    let ed_after = app.raw_strings(&ed_row).await;
    assert_ne!(after, before, "an accepted sign-in is seen by the footprint");
    // Ed is SCIM-managed: the accepted sign-in links him and leaves his row to SCIM.
    assert_eq!(ed_after, ed_before);
    // Replayed, it is refused and writes nothing.
    let (_, location, _) = post_acs(&app, c, &signed, Some(&flow)).await;
    assert!(location.starts_with("/sign-in?sso_error="), "{location}");
    assert_eq!(sign_in_footprint(&app).await, after, "a replay wrote something");
    assert_eq!(app.raw_strings(&ed_row).await, ed_after, "a replay changed Ed");
}

async fn connections_are_per_organization_and_admin_only(db: Db) {
    let app = TestApp::new(db).await;
    let idp = Idp::new("https://idp.test/shared");
    let a = org(&app, &idp).await;
    // The same IdP cannot be claimed by another organization.
    let email = format!("admin-{}@globex.test", uuid::Uuid::new_v4().simple());
    let other = app.sign_up("Globex", &email, PASSWORD).await;
    let res =
        app.call("form/sso_saml_create", &[("name", "Okta"), ("metadata_xml", &idp.metadata())], Some(&other)).await;
    assert!(invalid_message(res).await.contains("already exists"));
    // Another organization's admin cannot see, switch or delete it.
    assert_eq!(app.ok_json("sso_setup", json!({}), &other).await["connections"], json!([]));
    for endpoint in ["form/sso_connection_delete", "form/sso_connection_flags"] {
        let res = app.call(endpoint, &[("id", &a.connection)], Some(&other)).await;
        assert!(!res.status().is_success(), "{endpoint}");
    }
    assert_eq!(app.ok_json("sso_setup", json!({}), &a.cookie).await["connections"][0]["enabled"], true);
    // Without a session, nothing.
    let res = app
        .call("form/sso_saml_create", &[("name", "X"), ("metadata_xml", &Idp::new("https://x").metadata())], None)
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // A test sign-in is an admin's: others get 403.
    let res = app.page(&format!("/sso/saml/{}/login?test=1", a.connection), Some(&other)).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = app.page(&format!("/sso/saml/{}/login?test=1", a.connection), Some(&a.cookie)).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    // Bad metadata is refused with a reason.
    let res = app
        .call("form/sso_saml_create", &[("name", "Bad"), ("metadata_xml", "<html>no</html>")], Some(&a.cookie))
        .await;
    assert!(invalid_message(res).await.contains("metadata"));
}

/// The test OIDC provider (`end2end/idp/oidc.mjs`, npm oidc-provider), stopped when dropped.
struct OidcIdp {
    child: std::process::Child,
    issuer: String,
    // Kept open: the provider writes notices to stdout, and a closed pipe would stop it.
    _stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl Drop for OidcIdp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn oidc_idp() -> OidcIdp {
    use std::io::BufRead;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut child = std::process::Command::new("node")
        .arg(root.join("end2end/idp/oidc.mjs"))
        .current_dir(root.join("end2end"))
        .env("OIDC_PORT", "0")
        .env("OIDC_REDIRECT_PREFIX", format!("{PUBLIC_URL}/sso/oidc/"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("node end2end/idp/oidc.mjs (npm ci in end2end)");
    let mut stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("the provider's port");
    let port = line.trim().strip_prefix("listening ").expect("listening <port>").to_string();
    OidcIdp { child, issuer: format!("http://127.0.0.1:{port}"), _stdout: stdout }
}

/// A browser at the IdP: follows its redirects, keeps its cookies, fills its login form; returns
/// the URL it sends the browser back to (Roster's redirect URI with code and state).
async fn idp_login(start: &str, user: &str) -> String {
    idp_login_form(start, &[("username", user)]).await
}

/// [`idp_login`], the IdP sending these further claims (JSON) for the user.
async fn idp_login_with(start: &str, user: &str, claims: &str) -> String {
    idp_login_form(start, &[("username", user), ("claims", claims)]).await
}

/// [`idp_login`] with the login form's fields as given (`tamper` spoils the ID token, see
/// `end2end/idp/oidc.mjs`).
async fn idp_login_form(start: &str, fields: &[(&str, &str)]) -> String {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    // (name, value, path), as a browser keeps them.
    let mut cookies: Vec<(String, String, String)> = Vec::new();
    let mut url = start.to_string();
    let mut post: Option<String> = None;
    for _ in 0..10 {
        if url.starts_with(PUBLIC_URL) {
            return url;
        }
        let path = url::Url::parse(&url).unwrap().path().to_string();
        let cookie = cookies
            .iter()
            .filter(|(_, _, p)| path.starts_with(p.as_str()))
            .map(|(k, v, _)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let req = match post.take() {
            Some(body) => client.post(&url).header("content-type", "application/x-www-form-urlencoded").body(body),
            None => client.get(&url),
        };
        let res = req.header("cookie", cookie).send().await.expect("IdP request");
        for v in res.headers().get_all("set-cookie") {
            let text = v.to_str().unwrap();
            let mut parts = text.split(';');
            let pair = parts.next().unwrap().trim().to_string();
            let cookie_path = parts.filter_map(|a| a.trim().strip_prefix("path=")).next().unwrap_or("/").to_string();
            if let Some((k, val)) = pair.split_once('=') {
                cookies.retain(|(name, _, p)| !(name == k && *p == cookie_path));
                if !val.is_empty() {
                    cookies.push((k.to_string(), val.to_string(), cookie_path));
                }
            }
        }
        let base = url::Url::parse(&url).unwrap();
        if res.status().is_redirection() {
            let location = res.headers()["location"].to_str().unwrap().to_string();
            url = base.join(&location).unwrap().to_string();
        } else {
            let status = res.status();
            let html = res.text().await.unwrap();
            assert_eq!(status, 200, "{html}");
            assert!(html.contains("<form"), "{html}");
            post = Some(encode(fields));
        }
    }
    panic!("the IdP did not send the browser back");
}

async fn oidc_begin(app: &TestApp, c: &str) -> (String, String) {
    let res = app.page(&format!("/sso/oidc/{c}/login"), None).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let location = res.headers()[header::LOCATION].to_str().unwrap().to_string();
    let flow = flow_cookie(&res);
    (location, flow)
}

async fn oidc_callback(app: &TestApp, back: String, flow: Option<String>) -> (String, Option<String>) {
    let path = back.strip_prefix(PUBLIC_URL).expect("back at Roster").to_string();
    let mut b = Request::get(path).header(header::HOST, "roster.test");
    if let Some(f) = flow {
        b = b.header(header::COOKIE, f);
    }
    let res = app.send(b.body(Body::empty()).unwrap()).await;
    let location = res.headers().get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    (location, session_cookie(&res))
}

async fn oidc_sign_in_through_a_real_provider_with_pkce_state_and_nonce(db: Db) {
    let app = TestApp::new(db).await;
    let idp = oidc_idp();
    let saml_idp = Idp::new(&format!("https://idp.test/oidc-{}", uuid::Uuid::new_v4().simple()));
    let o = org(&app, &saml_idp).await;
    let res = app
        .call(
            "form/sso_oidc_create",
            &[
                ("name", "Test OIDC"),
                ("issuer", &idp.issuer),
                ("client_id", "roster"),
                ("client_secret", "roster-secret"),
                ("scopes", "openid email profile"),
            ],
            Some(&o.cookie),
        )
        .await;
    let status = res.status();
    let text = body_text(res).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let c: String = serde_json::from_str(&text).unwrap();
    // The secret is sealed at rest.
    let config = app.raw_strings(&format!("SELECT config FROM sso_connections WHERE id = '{c}'")).await;
    assert!(!config[0].contains("roster-secret") && config[0].contains("v1:"), "{config:?}");
    let setup = app.ok_json("sso_setup", json!({}), &o.cookie).await;
    let view = setup["connections"].as_array().unwrap().iter().find(|v| v["id"] == c.as_str()).unwrap().clone();
    assert_eq!(view["sp"]["redirect_uri"], format!("{PUBLIC_URL}/sso/oidc/{c}/callback"));
    assert!(!view.to_string().contains("roster-secret"));

    // The authorization request carries PKCE (S256), state and nonce.
    let (auth, _other_browser) = oidc_begin(&app, &c).await;
    let auth_url = url::Url::parse(&auth).unwrap();
    let params: std::collections::HashMap<String, String> = auth_url.query_pairs().into_owned().collect();
    assert!(auth.starts_with(&idp.issuer));
    assert_eq!(params.get("code_challenge_method").map(String::as_str), Some("S256"));
    assert!(params.contains_key("state") && params.contains_key("nonce"), "{auth}");
    let back = idp_login(&auth, "ada@acme.test").await;
    // Another browser (no flow cookie) cannot use the code.
    let before = sign_in_footprint(&app).await;
    let (location, _) = oidc_callback(&app, back.clone(), None).await;
    assert!(location.starts_with("/sign-in?sso_error="), "{location}");
    assert_eq!(sign_ins(&app, &o.cookie).await[0]["reason"], "bad_state");
    assert_eq!(sign_in_footprint(&app).await, before, "another browser's callback wrote something");

    // A fresh sign-in: Ada is signed in, with claims from userinfo in the log.
    let (auth, flow) = oidc_begin(&app, &c).await;
    let back = idp_login(&auth, "ada@acme.test").await;
    let (location, session) = oidc_callback(&app, back.clone(), Some(flow.clone())).await;
    assert_eq!(location, "/me");
    let viewer = app.viewer(session.as_deref()).await;
    assert_eq!(viewer["account_id"], o.ada);
    let last = sign_ins(&app, &o.cookie).await[0].clone();
    assert_eq!(last["outcome"], "signed_in", "{last}");
    let detail = last["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("userinfo") && detail.contains("ada@acme.test"), "{detail}");
    assert!(!detail.contains("roster-secret"));
    // The same callback again: its state is used up.
    let before = sign_in_footprint(&app).await;
    let (location, _) = oidc_callback(&app, back, Some(flow.clone())).await;
    assert!(location.starts_with("/sign-in?sso_error="));
    assert_eq!(sign_ins(&app, &o.cookie).await[0]["reason"], "bad_state");
    assert_eq!(sign_in_footprint(&app).await, before, "a replayed callback wrote something");

    // A nonce that is not the one sent (the flow's stored nonce changed) is refused.
    let (auth, flow) = oidc_begin(&app, &c).await;
    let back = idp_login(&auth, "ada@acme.test").await;
    app.raw_execute("UPDATE sso_flows SET nonce = 'not-the-nonce-sent'").await;
    let before = sign_in_footprint(&app).await;
    let (location, _) = oidc_callback(&app, back, Some(flow)).await;
    assert!(location.starts_with("/sign-in?sso_error="), "{location}");
    assert_eq!(sign_ins(&app, &o.cookie).await[0]["reason"], "bad_nonce");
    assert_eq!(sign_in_footprint(&app).await, before, "a bad nonce wrote something");

    // A tampered state is refused.
    let (auth, flow) = oidc_begin(&app, &c).await;
    let back = idp_login(&auth, "ada@acme.test").await;
    let mut tampered = url::Url::parse(&back).unwrap();
    let pairs: Vec<(String, String)> = tampered
        .query_pairs()
        .into_owned()
        .map(|(k, v)| if k == "state" { (k, format!("{v}x")) } else { (k, v) })
        .collect();
    tampered.query_pairs_mut().clear().extend_pairs(pairs);
    let before = sign_in_footprint(&app).await;
    let (location, _) = oidc_callback(&app, tampered.to_string(), Some(flow)).await;
    assert!(location.starts_with("/sign-in?sso_error="));
    assert_eq!(sign_ins(&app, &o.cookie).await[0]["reason"], "bad_state");
    assert_eq!(sign_in_footprint(&app).await, before, "a tampered state wrote something");

    // The refusals above linked nothing: Ada's one successful sign-in is the only link.
    assert_eq!(app.raw_strings("SELECT CAST(COUNT(*) AS TEXT) FROM sso_identities").await, vec!["1".to_string()]);

    // An unknown person at the IdP is refused: nobody is created.
    let (auth, flow) = oidc_begin(&app, &c).await;
    let back = idp_login(&auth, "eve@acme.test").await;
    let before = sign_in_footprint(&app).await;
    let (location, _) = oidc_callback(&app, back, Some(flow)).await;
    assert_eq!(sign_in_footprint(&app).await, before, "an unknown person's sign-in wrote something");
    assert!(location.starts_with("/sign-in?sso_error="));
    assert_eq!(sign_ins(&app, &o.cookie).await[0]["reason"], "no_access");
    assert_eq!(app.raw_strings("SELECT user_name FROM scim_users").await, vec!["ada@acme.test".to_string()]);
    assert_eq!(app.raw_strings("SELECT CAST(COUNT(*) AS TEXT) FROM sso_identities").await, vec!["1".to_string()]);

    // Just in time: a claim holding a NUL character (JSON can carry one; no stored text may,
    // PostgreSQL's cannot) refuses the sign-in with its reason and writes nothing but the log.
    let jit = [
        ("id", c.as_str()),
        ("enabled", "on"),
        ("update", "every_sign_in"),
        ("link_key", "user_name"),
        ("preset", "oidc"),
        ("attributes", "department = department"),
    ];
    let res = app.call("form/sso_connection_jit", &jit, Some(&o.cookie)).await;
    assert_eq!(res.status(), StatusCode::OK, "{}", body_text(res).await);
    for claims in [r#"{"department": "Sa\u0000les"}"#, r#"{"groups": ["Staff", "Sa\u0000les"]}"#] {
        let (auth, flow) = oidc_begin(&app, &c).await;
        let back = idp_login_with(&auth, "eve@acme.test", claims).await;
        let before = sign_in_footprint(&app).await;
        let (location, session) = oidc_callback(&app, back, Some(flow)).await;
        assert!(
            location.starts_with("/sign-in?sso_error="),
            "{claims}: {location} {}",
            sign_ins(&app, &o.cookie).await[0]
        );
        assert!(location.contains("NUL"), "{location}");
        assert!(session.is_none());
        let last = sign_ins(&app, &o.cookie).await[0].clone();
        assert_eq!(last["reason"], "invalid_claims", "{last}");
        assert!(last["message"].as_str().unwrap().contains("NUL character"), "{last}");
        assert_eq!(sign_in_footprint(&app).await, before, "{claims}: a refused sign-in wrote something");
    }
    // An ID token that does not verify — its signature, audience, issuer or expiry — is refused
    // with its reason before anything is decided: nobody is created, linked or signed in.
    for (tamper, reason) in [
        ("signature", "bad_signature"),
        ("audience", "wrong_audience"),
        ("issuer", "wrong_issuer"),
        ("expired", "expired"),
    ] {
        let (auth, flow) = oidc_begin(&app, &c).await;
        let back = idp_login_form(&auth, &[("username", "eve@acme.test"), ("tamper", tamper)]).await;
        let before = sign_in_footprint(&app).await;
        let (location, session) = oidc_callback(&app, back, Some(flow)).await;
        assert!(location.starts_with("/sign-in?sso_error="), "{tamper}: {location}");
        assert!(session.is_none(), "{tamper}");
        let last = sign_ins(&app, &o.cookie).await[0].clone();
        assert_eq!(last["reason"], reason, "{tamper}: {last}");
        assert_eq!(sign_in_footprint(&app).await, before, "{tamper}: a refused ID token wrote something");
    }
    // The same person with the claims as they should be is created, with the further claims
    // the provider sends in userinfo only (its ID token is minimal): a mapped attribute, groups.
    let (auth, flow) = oidc_begin(&app, &c).await;
    let back = idp_login_with(&auth, "eve@acme.test", r#"{"department": "Sales", "groups": ["Staff"]}"#).await;
    let (location, session) = oidc_callback(&app, back, Some(flow)).await;
    assert_eq!(location, "/me", "{:?}", sign_ins(&app, &o.cookie).await[0]);
    assert!(session.is_some());
    let eve = app.raw_strings("SELECT CAST(data AS TEXT) FROM scim_users WHERE user_name = 'eve@acme.test'").await;
    assert!(eve[0].contains("Sales"), "{eve:?}");
    assert_eq!(app.raw_strings("SELECT name_norm FROM sso_claim_groups").await, vec!["staff".to_string()]);
}

/// The tests' DNS server (`end2end/idp/dns.py`, PyPI dnslib), answering TXT questions from a
/// JSON file the test rewrites; stopped when dropped.
struct Dns {
    child: std::process::Child,
    addr: std::net::SocketAddr,
    records: std::path::PathBuf,
    _dir: tempfile::TempDir,
    _stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl Drop for Dns {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Dns {
    fn start() -> Dns {
        use std::io::BufRead;
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let python = root.join(".tools/test-venv/bin/python");
        assert!(python.exists(), "{} is missing: run ./scripts/test.sh once (it installs dnslib)", python.display());
        let dir = tempfile::tempdir().unwrap();
        let records = dir.path().join("records.json");
        std::fs::write(&records, "{}").unwrap();
        let mut child = std::process::Command::new(python)
            .arg(root.join("end2end/idp/dns.py"))
            .arg(&records)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("the DNS server");
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let port: u16 = line.trim().strip_prefix("listening ").expect("listening <port>").parse().unwrap();
        Dns { child, addr: std::net::SocketAddr::from(([127, 0, 0, 1], port)), records, _dir: dir, _stdout: stdout }
    }

    fn publish(&self, records: Value) {
        std::fs::write(&self.records, records.to_string()).unwrap();
    }
}

async fn domains_are_verified_by_dns_and_route_the_sign_in(db: Db) {
    use roster_shared::service::activity::Actor;
    use roster_shared::service::sso::domains;
    let app = TestApp::new(db).await;
    let dns = Dns::start();
    let idp = Idp::new(&format!("https://idp.test/domains-{}", uuid::Uuid::new_v4().simple()));
    let o = org(&app, &idp).await;
    let tenant = roster_shared::ids::TenantId::parse(&o.tenant).unwrap();
    let domain = format!("acme-{}.test", uuid::Uuid::new_v4().simple());

    // Added through the page's form: pending, with the TXT record to create.
    let res = app.call("form/sso_domain_add", &[("domain", &domain.to_uppercase())], Some(&o.cookie)).await;
    assert_eq!(res.status(), StatusCode::OK, "{}", body_text(res).await);
    let setup = app.ok_json("sso_setup", json!({}), &o.cookie).await;
    let d = setup["domains"][0].clone();
    assert_eq!(d["domain"], domain.as_str());
    assert!(d["verified_at_ms"].is_null());
    assert_eq!(d["txt_name"], format!("_roster-verification.{domain}"));
    let value = d["txt_value"].as_str().unwrap().to_string();
    let res = app.call("form/sso_domain_add", &[("domain", "<script>.com")], Some(&o.cookie)).await;
    assert!(invalid_message(res).await.contains("not a domain name"));

    // Not verified yet: the sign-in page cannot route the address.
    let start = |email: &str| {
        format!("/sso/start?email={}", url::form_urlencoded::byte_serialize(email.as_bytes()).collect::<String>())
    };
    let res = app.page(&start(&format!("ada@{domain}")), None).await;
    let location = res.headers()[header::LOCATION].to_str().unwrap().to_string();
    assert!(location.starts_with("/sign-in?sso_error="), "{location}");

    // No record, then a wrong one: refused with what was found.
    let admin = Actor::admin("admin@acme.test");
    let e = domains::verify(&app.store, Some(dns.addr), &tenant, &admin, &domain, false).await.unwrap_err().to_string();
    assert!(e.contains("No TXT record"), "{e}");
    dns.publish(json!({ format!("_roster-verification.{domain}."): ["roster-verification=wrong", "v=spf1 -all"] }));
    let e = domains::verify(&app.store, Some(dns.addr), &tenant, &admin, &domain, false).await.unwrap_err().to_string();
    assert!(e.contains("do not include") && e.contains("roster-verification=wrong"), "{e}");
    // The right record: verified.
    dns.publish(json!({ format!("_roster-verification.{domain}."): ["v=spf1 -all", value] }));
    domains::verify(&app.store, Some(dns.addr), &tenant, &admin, &domain, false).await.expect("verified");
    let setup = app.ok_json("sso_setup", json!({}), &o.cookie).await;
    assert!(setup["domains"][0]["verified_at_ms"].is_i64());

    // Now an address at the domain (any case) goes to the organization's connections.
    let res = app.page(&start(&format!("Ada@{}", domain.to_uppercase())), None).await;
    assert_eq!(res.headers()[header::LOCATION], format!("/sign-in/sso/{}", o.tenant).as_str());

    // Another organization cannot verify it too, even on an operator's word.
    let email = format!("admin-{}@globex.test", uuid::Uuid::new_v4().simple());
    let other = app.sign_up("Globex", &email, PASSWORD).await;
    let other_tenant = app.viewer(Some(&other)).await["tenant"]["id"].as_str().unwrap().to_string();
    let other_tenant = roster_shared::ids::TenantId::parse(&other_tenant).unwrap();
    domains::add(&app.store, &other_tenant, &admin, &domain).await.expect("added (pending)");
    let e = domains::verify(&app.store, None, &other_tenant, &admin, &domain, true).await.unwrap_err().to_string();
    assert!(e.contains("already exists"), "{e}");
    // And the verification is in the activity log.
    let log = app.raw_strings("SELECT summary FROM activity WHERE resource_type = 'Domain'").await;
    assert!(log.iter().any(|s| s.contains("verified the domain") && s.contains("DNS TXT")), "{log:?}");
}
