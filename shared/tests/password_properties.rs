//! No password is ever kept: for generated requests that carry one in any shape a SCIM client
//! may send (POST/PUT bodies, the core schema's URN as a key, PATCH with and without `path` and
//! with key names in any case, Bulk), neither the resource Roster would store nor the request
//! body its activity log keeps contains it. The API's own answers are checked end to end in the
//! server's integration tests (`scim_api::passwords_are_never_stored_returned_or_logged`).

use proptest::prelude::*;
use roster_shared::scim::patch::{apply, parse_request};
use roster_shared::scim::schema::ResourceSchema;
use roster_shared::scim::validate::{validate_resource, Mode};
use serde_json::{json, Map, Value};

const CORE: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

/// A key name in one of the spellings a lenient parser accepts.
fn spelled(name: &'static str) -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        name.to_string(),
        name.to_ascii_uppercase(),
        format!("{}{}", name[..1].to_ascii_uppercase(), &name[1..]),
    ])
}

/// How a PATCH path can name the password.
fn password_path() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "password".to_string(),
        "Password".to_string(),
        " password ".to_string(),
        "PASSWORD".to_string(),
        format!("{CORE}:password"),
        format!("{CORE}:Password"),
    ])
}

fn object(pairs: Vec<(String, Value)>) -> Value {
    Value::Object(pairs.into_iter().collect::<Map<String, Value>>())
}

/// A POST/PUT body carrying the secret.
fn resource_body(secret: String) -> impl Strategy<Value = Value> {
    (spelled("password"), any::<bool>()).prop_map(move |(key, under_core_urn)| {
        let mut body = json!({"schemas": [CORE], "userName": "ada@example.com"});
        if under_core_urn {
            body[CORE] = object(vec![(key, Value::String(secret.clone())), ("title".into(), json!("Engineer"))]);
        } else {
            body[key.as_str()] = Value::String(secret.clone());
        }
        body
    })
}

/// A PatchOp body carrying the secret in one of its operations.
fn patch_body(secret: String) -> impl Strategy<Value = Value> {
    (spelled("op"), spelled("path"), spelled("value"), password_path(), spelled("password"), 0..4u8).prop_map(
        move |(op_key, path_key, value_key, path, pw_key, shape)| {
            let s = Value::String(secret.clone());
            let op = match shape {
                // {"op":"replace","path":"password","value":"…"}
                0 => object(vec![(op_key, json!("replace")), (path_key, json!(path)), (value_key, s)]),
                // {"op":"replace","value":{"password":"…"}} (Okta's password sync)
                1 => object(vec![(op_key, json!("Replace")), (value_key, object(vec![(pw_key, s)]))]),
                // {"op":"add","value":{"urn:…:User":{"password":"…"}}}
                2 => object(vec![(op_key, json!("add")), (value_key, json!({ CORE: object(vec![(pw_key, s)]) }))]),
                // {"op":"replace","path":"urn:…:User:password","value":"…"} next to a real change
                _ => object(vec![
                    (op_key, json!("replace")),
                    (path_key, json!(format!("{CORE}:password"))),
                    (value_key, s),
                ]),
            };
            json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "path": "title", "value": "Lead"}, op],
            })
        },
    )
}

/// A secret and a request carrying it.
fn carrying<S: Strategy<Value = Value>>(request: fn(String) -> S) -> impl Strategy<Value = (String, Value)> {
    "Pw[A-Za-z0-9]{12}".prop_flat_map(move |secret| (Just(secret.clone()), request(secret)))
}

fn stored() -> Value {
    json!({"schemas": [CORE], "userName": "ada@example.com", "title": "Engineer"})
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_posted_or_put_password_is_never_kept(put in any::<bool>(), (secret, body) in carrying(resource_body)) {
        let schema = ResourceSchema::user();
        let existing = stored();
        let mode = if put { Mode::Replace { existing: &existing } } else { Mode::Create };
        let out = validate_resource(&body, schema, mode).expect("a body with a password is accepted");
        prop_assert!(!out.to_string().contains(&secret), "kept: {out}");
        let recorded = roster_shared::service::activity::redacted_body(body.to_string().as_bytes()).unwrap_or_default();
        prop_assert!(!recorded.contains(&secret), "logged: {recorded}");
        // Inside a Bulk request too.
        let bulk = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
            "Operations": [{"method": "POST", "path": "/Users", "bulkId": "a", "data": body}]});
        let recorded = roster_shared::service::activity::redacted_body(bulk.to_string().as_bytes()).unwrap_or_default();
        prop_assert!(!recorded.contains(&secret), "logged in bulk: {recorded}");
    }

    #[test]
    fn a_patched_password_is_never_kept((secret, body) in carrying(patch_body)) {
        let text = body.to_string();
        let ops = parse_request(&body).expect("a PATCH with a password parses");
        let out = apply(stored(), &ops, ResourceSchema::user()).expect("a PATCH with a password applies");
        prop_assert!(!out.to_string().contains(&secret), "kept: {out}");
        prop_assert_eq!(out["title"].as_str(), Some("Lead"), "the rest of the request still applies");
        let recorded = roster_shared::service::activity::redacted_body(text.as_bytes()).unwrap_or_default();
        prop_assert!(!recorded.contains(&secret), "logged: {recorded}");
        let bulk = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
            "Operations": [{"method": "PATCH", "path": "/Users/1", "data": body}]});
        let recorded = roster_shared::service::activity::redacted_body(bulk.to_string().as_bytes()).unwrap_or_default();
        prop_assert!(!recorded.contains(&secret), "logged in bulk: {recorded}");
    }
}

#[test]
fn the_password_cannot_be_filtered_on() {
    use roster_shared::scim::filter::Filter;
    for f in [r#"password eq "x""#, "password pr", r#"urn:ietf:params:scim:schemas:core:2.0:User:password sw "a""#] {
        let e = Filter::parse_for(f, ResourceSchema::user()).expect_err(f);
        assert!(e.detail.contains("write-only"), "{f}: {}", e.detail);
    }
}
