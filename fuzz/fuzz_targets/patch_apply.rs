//! Any bytes as a PATCH request body against a stored user: no panic, and no read-only
//! attribute ever changes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use roster_shared::scim::patch::{apply, parse_request};
use roster_shared::scim::schema::ResourceSchema;
use roster_shared::scim::validate::{validate_resource, Mode};
use serde_json::{json, Value};

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<Value>(data) else { return };
    let Ok(ops) = parse_request(&body) else { return };
    let input: Value =
        serde_json::from_str(include_str!("../../shared/tests/data/rfc7643_8.3_enterprise_user.json")).expect("example");
    let mut user = validate_resource(&input, ResourceSchema::user(), Mode::Create).expect("valid example");
    user["id"] = json!("2819c223-7f76-453a-919d-413861904646");
    user["meta"] = json!({"resourceType": "User", "created": "2010-01-23T04:56:22Z", "version": "W/\"1\""});
    user["groups"] = json!([{"value": "g1", "type": "direct"}]);
    if let Ok(after) = apply(user.clone(), &ops, ResourceSchema::user()) {
        for key in ["id", "meta", "groups"] {
            assert_eq!(after.get(key), user.get(key), "{key} changed");
        }
        assert!(after.get("userName").is_some());
    }
});
