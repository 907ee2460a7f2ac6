use serde_json::{json, Value};

use super::*;
use crate::scim::schema::{ResourceSchema, ENTERPRISE_USER_URN, GROUP_URN, USER_URN};
use crate::scim::validate::{validate_resource, Mode};
use crate::scim::ScimType;

fn stored_user() -> Value {
    let v: Value = serde_json::from_str(include_str!("../../../tests/data/rfc7643_8.3_enterprise_user.json")).unwrap();
    validate_resource(&v, ResourceSchema::user(), Mode::Create).unwrap()
}

fn stored_group() -> Value {
    let v: Value = serde_json::from_str(include_str!("../../../tests/data/rfc7643_8.4_group.json")).unwrap();
    validate_resource(&v, ResourceSchema::group(), Mode::Create).unwrap()
}

fn patch(resource: &Value, ops: Value, schema: &ResourceSchema) -> Result<Value, ScimError> {
    let body = json!({"schemas": [PATCH_OP_URN], "Operations": ops});
    let ops = parse_request(&body)?;
    apply(resource.clone(), &ops, schema)
}

fn user_patch(ops: Value) -> Result<Value, ScimError> {
    patch(&stored_user(), ops, ResourceSchema::user())
}

fn group_patch(ops: Value) -> Result<Value, ScimError> {
    patch(&stored_group(), ops, ResourceSchema::group())
}

fn member_ids(g: &Value) -> Vec<String> {
    g.get("members")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(|m| m["value"].as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

const BABS: &str = "2819c223-7f76-453a-919d-413861904646";
const MANDY: &str = "902c246b-6245-4190-8e05-00816be7344a";

// ----- The examples of RFC 7644 section 3.5.2, as data -----

#[test]
fn rfc_add_a_member() {
    let g = patch(
        &json!({"schemas": [GROUP_URN], "displayName": "Tour Guides"}),
        json!([{
            "op": "add",
            "path": "members",
            "value": [{"display": "Babs Jensen", "$ref": "https://example.com/v2/Users/2819c223-7f76-453a-919d-413861904646", "value": BABS}]
        }]),
        ResourceSchema::group(),
    )
    .unwrap();
    assert_eq!(member_ids(&g), vec![BABS]);
    assert!(g["members"][0].get("display").is_none(), "display is read-only, computed by the server");
}

#[test]
fn rfc_add_without_path() {
    let u = patch(
        &json!({"schemas": [USER_URN], "userName": "bjensen"}),
        json!([{"op": "add", "value": {"emails": [{"value": "babs@jensen.org", "type": "home"}], "nickname": "Babs"}}]),
        ResourceSchema::user(),
    )
    .unwrap();
    assert_eq!(u["emails"], json!([{"value": "babs@jensen.org", "type": "home"}]));
    assert_eq!(u["nickName"], "Babs");
}

#[test]
fn rfc_remove_one_member() {
    let g = group_patch(json!([{"op": "remove", "path": format!("members[value eq \"{BABS}\"]")}])).unwrap();
    assert_eq!(member_ids(&g), vec![MANDY]);
}

#[test]
fn rfc_remove_all_members() {
    let g = group_patch(json!([{"op": "remove", "path": "members"}])).unwrap();
    assert!(g.get("members").is_none());
}

#[test]
fn rfc_remove_then_add_members() {
    let g = group_patch(json!([
        {"op": "remove", "path": "members[value eq \"2819c223...919d-413861904646\"]"},
        {"op": "add", "path": "members", "value": [
            {"display": "James Smith", "$ref": "https://example.com/v2/Users/08e1d05d...473d93df9210", "value": "08e1d05d...473d93df9210"}
        ]}
    ]))
    .unwrap();
    assert_eq!(member_ids(&g), vec![BABS, MANDY, "08e1d05d...473d93df9210"]);
}

#[test]
fn rfc_remove_a_value_by_filter() {
    let u =
        user_patch(json!([{"op": "remove", "path": "emails[type eq \"work\" and value ew \"example.com\"]"}])).unwrap();
    assert_eq!(u["emails"], json!([{"value": "babs@jensen.org", "type": "home"}]));
}

#[test]
fn rfc_replace_all_members() {
    let g = group_patch(json!([{"op": "replace", "path": "members", "value": [
        {"display": "Babs Jensen", "$ref": "…", "value": BABS},
        {"display": "James Smith", "$ref": "…", "value": "08e1d05d-121c-4561-8b96-473d93df9210"}
    ]}]))
    .unwrap();
    assert_eq!(member_ids(&g), vec![BABS, "08e1d05d-121c-4561-8b96-473d93df9210"]);
}

#[test]
fn rfc_replace_a_filtered_value() {
    let u = user_patch(json!([{"op": "replace", "path": "addresses[type eq \"work\"]", "value": {
        "type": "work", "streetAddress": "911 Universal City Plaza", "locality": "Hollywood", "region": "CA",
        "postalCode": "91608", "country": "US", "formatted": "911 Universal City Plaza\nHollywood, CA 91608 US", "primary": true
    }}]))
    .unwrap();
    let work = u["addresses"].as_array().unwrap().iter().find(|a| a["type"] == "work").unwrap();
    assert_eq!(work["streetAddress"], "911 Universal City Plaza");
    assert_eq!(work["country"], "US");
    assert_eq!(u["addresses"].as_array().unwrap().len(), 2);
}

#[test]
fn rfc_replace_a_filtered_sub_attribute() {
    let u = user_patch(
        json!([{"op": "replace", "path": "addresses[type eq \"work\"].streetAddress", "value": "1010 Broadway Ave"}]),
    )
    .unwrap();
    let work = u["addresses"].as_array().unwrap().iter().find(|a| a["type"] == "work").unwrap();
    assert_eq!(work["streetAddress"], "1010 Broadway Ave");
    assert_eq!(work["locality"], "Hollywood", "other sub-attributes stay");
}

#[test]
fn rfc_replace_without_path() {
    let u = user_patch(json!([{"op": "replace", "value": {
        "emails": [{"value": "bjensen@example.com", "type": "work", "primary": true}, {"value": "babs@jensen.org", "type": "home"}],
        "nickname": "Babs"
    }}]))
    .unwrap();
    assert_eq!(u["emails"].as_array().unwrap().len(), 2);
    assert_eq!(u["nickName"], "Babs");
}

// ----- Semantics -----

#[test]
fn add_merges_multi_valued_and_complex_attributes() {
    let u = user_patch(json!([
        {"op": "add", "path": "emails", "value": [{"value": "new@example.com", "type": "other"}]},
        {"op": "add", "path": "emails", "value": [{"value": "BABS@jensen.org", "type": "home", "display": "Home"}]},
        {"op": "add", "path": "name", "value": {"givenName": "Barb"}},
    ]))
    .unwrap();
    let emails = u["emails"].as_array().unwrap();
    assert_eq!(emails.len(), 3, "an existing value is merged, not duplicated: {emails:?}");
    assert!(emails.iter().any(|e| e["display"] == "Home"));
    assert_eq!(u["name"]["givenName"], "Barb");
    assert_eq!(u["name"]["familyName"], "Jensen", "complex add merges");
}

#[test]
fn primary_true_clears_the_other_values() {
    let u = user_patch(json!([{"op": "add", "path": "emails", "value": [{"value": "new@example.com", "type": "work", "primary": true}]}])).unwrap();
    let primaries: Vec<_> =
        u["emails"].as_array().unwrap().iter().filter(|e| e["primary"] == true).map(|e| e["value"].clone()).collect();
    assert_eq!(primaries, vec![json!("new@example.com")]);
    let u = user_patch(json!([{"op": "replace", "path": "emails[type eq \"home\"].primary", "value": true}])).unwrap();
    let primaries: Vec<_> =
        u["emails"].as_array().unwrap().iter().filter(|e| e["primary"] == true).map(|e| e["value"].clone()).collect();
    assert_eq!(primaries, vec![json!("babs@jensen.org")]);
}

#[test]
fn remove_whole_and_sub_attributes() {
    let u = user_patch(json!([
        {"op": "remove", "path": "name.middleName"},
        {"op": "remove", "path": "nickName"},
        {"op": "remove", "path": "emails[type eq \"home\"].type"},
        {"op": "remove", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"},
        {"op": "remove", "path": "title[value eq \"x\"]"},
    ]));
    // title is not complex: the last operation is refused, and nothing is applied.
    assert_eq!(u.unwrap_err().scim_type, Some(ScimType::InvalidPath));
    let u = user_patch(json!([
        {"op": "remove", "path": "name.middleName"},
        {"op": "remove", "path": "nickName"},
        {"op": "remove", "path": "emails[type eq \"home\"].type"},
        {"op": "remove", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"},
    ]))
    .unwrap();
    assert!(u["name"].get("middleName").is_none());
    assert!(u.get("nickName").is_none());
    assert!(u["emails"][1].get("type").is_none());
    assert!(u[ENTERPRISE_USER_URN].get("manager").is_none());
    assert_eq!(u[ENTERPRISE_USER_URN]["department"], "Tour Operations");
}

#[test]
fn removing_the_last_extension_attribute_drops_the_extension_from_schemas() {
    let u = patch(
        &json!({"schemas": [USER_URN, ENTERPRISE_USER_URN], "userName": "a", ENTERPRISE_USER_URN: {"department": "Sales"}}),
        json!([{"op": "remove", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"}]),
        ResourceSchema::user(),
    )
    .unwrap();
    assert_eq!(u, json!({"schemas": [USER_URN], "userName": "a"}));
}

#[test]
fn errors_as_the_rfc_assigns_them() {
    let cases: Vec<(Value, ScimType, &str)> = vec![
        (json!([{"op": "replace", "path": "id", "value": "x"}]), ScimType::Mutability, "read-only"),
        (json!([{"op": "add", "path": "groups", "value": [{"value": "x"}]}]), ScimType::Mutability, "read-only"),
        (
            json!([{"op": "replace", "path": "meta.created", "value": "2020-01-01T00:00:00Z"}]),
            ScimType::Mutability,
            "read-only",
        ),
        (json!([{"op": "remove", "path": "userName"}]), ScimType::Mutability, "required"),
        (json!([{"op": "remove"}]), ScimType::NoTarget, "needs a 'path'"),
        (json!([{"op": "replace", "path": "shoeSize", "value": 1}]), ScimType::InvalidPath, "unknown attribute"),
        (json!([{"op": "replace", "path": "emails[type eq]", "value": 1}]), ScimType::InvalidPath, "invalid filter"),
        (
            json!([{"op": "replace", "path": "emails[type eq \"work\" or type eq \"pager\"]", "value": {"value": "x"}}]),
            ScimType::InvalidValue,
            "",
        ),
        (
            json!([{"op": "replace", "path": "phoneNumbers[type eq \"pager\" or type eq \"fax\"]", "value": {"value": "x"}}]),
            ScimType::NoTarget,
            "matches no value",
        ),
        (json!([{"op": "replace", "path": "active", "value": "perhaps"}]), ScimType::InvalidValue, "true or false"),
        (json!([{"op": "add", "path": "name", "value": "Babs"}]), ScimType::InvalidValue, "object"),
        (json!([{"op": "add", "value": "Babs"}]), ScimType::InvalidValue, "object 'value'"),
        (json!([{"op": "replace", "path": "nickName"}]), ScimType::InvalidValue, "needs a 'value'"),
        (json!([{"op": "jump", "path": "nickName", "value": 1}]), ScimType::InvalidSyntax, "'op' must be"),
    ];
    for (ops, ty, expected) in cases {
        match user_patch(ops.clone()) {
            Ok(v) if ty == ScimType::InvalidValue && expected.is_empty() => {
                // A filter that matches: allowed. (Kept in the table to document the case.)
                assert!(v.is_object());
            }
            Ok(v) => panic!("{ops} should fail, got {v}"),
            Err(e) => {
                assert_eq!(e.scim_type, Some(ty), "{ops}: {}", e.detail);
                assert!(e.detail.contains(expected), "{ops}: {:?} should contain {expected:?}", e.detail);
            }
        }
    }
    let bad_bodies = [
        json!({"Operations": [{"op": "add", "path": "nickName", "value": "x"}]}),
        json!({"schemas": [PATCH_OP_URN]}),
        json!({"schemas": [PATCH_OP_URN], "Operations": []}),
        json!({"schemas": [PATCH_OP_URN], "Operations": ["add"]}),
        json!("add"),
    ];
    for body in bad_bodies {
        assert_eq!(parse_request(&body).unwrap_err().scim_type, Some(ScimType::InvalidSyntax), "{body}");
    }
}

// ----- What identity providers send -----

#[test]
fn entra_id_user_updates() {
    // Microsoft's "develop a SCIM endpoint" examples: capitalized ops, string booleans,
    // path-less values with dotted and URN-qualified keys, filtered paths on absent values.
    let u = user_patch(json!([
        {"op": "Replace", "path": "active", "value": "False"},
        {"op": "Add", "value": {
            "name.givenName": "Barbara Jane",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "Finance",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager": {"value": "c2b3"},
        }},
        {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "babs@contoso.com"},
        {"op": "Add", "path": "phoneNumbers[type eq \"fax\"].value", "value": "555-555-0000"},
        {"op": "Replace", "path": "addresses[type eq \"other\"].country", "value": "NL"},
        {"op": "Replace", "path": "displayName", "value": "Babs J"},
    ]))
    .unwrap();
    assert_eq!(u["active"], false);
    assert_eq!(u["name"]["givenName"], "Barbara Jane");
    assert_eq!(u[ENTERPRISE_USER_URN]["department"], "Finance");
    assert_eq!(u[ENTERPRISE_USER_URN]["manager"]["value"], "c2b3");
    let work = u["emails"].as_array().unwrap().iter().find(|e| e["type"] == "work").unwrap();
    assert_eq!(work["value"], "babs@contoso.com");
    assert!(u["phoneNumbers"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p == &json!({"type": "fax", "value": "555-555-0000"})));
    assert!(u["addresses"].as_array().unwrap().iter().any(|a| a == &json!({"type": "other", "country": "NL"})));
    assert_eq!(u["displayName"], "Babs J");

    let u = user_patch(json!([{"op": "replace", "value": {"active": "True"}}])).unwrap();
    assert_eq!(u["active"], true);
}

#[test]
fn entra_id_group_membership() {
    let g = group_patch(json!([
        {"op": "Add", "path": "members", "value": [{"value": "a1"}, {"value": "a2"}]},
        {"op": "Remove", "path": "members[value eq \"a1\"]"},
        {"op": "Replace", "path": "displayName", "value": "Guides"},
    ]))
    .unwrap();
    assert_eq!(member_ids(&g), vec![BABS, MANDY, "a2"]);
    assert_eq!(g["displayName"], "Guides");
}

#[test]
fn okta_group_push() {
    // Okta sends the group id along with a rename, and removes members by a value list.
    let id = "e9e30dba-f08f-4109-8486-d5c6a331660a";
    let mut stored = stored_group();
    stored["id"] = json!(id);
    let g = patch(
        &stored,
        json!([{"op": "replace", "value": {"id": id, "displayName": "Guides 2"}}]),
        ResourceSchema::group(),
    )
    .unwrap();
    assert_eq!(g["displayName"], "Guides 2");
    let e = patch(
        &stored,
        json!([{"op": "replace", "value": {"id": "other", "displayName": "x"}}]),
        ResourceSchema::group(),
    )
    .unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::Mutability));

    let g = group_patch(
        json!([{"op": "remove", "path": "members", "value": [{"value": BABS}, {"value": "not-a-member"}]}]),
    )
    .unwrap();
    assert_eq!(member_ids(&g), vec![MANDY]);
    // Removing a member that is not there is not an error (IdPs retry).
    let g = group_patch(json!([{"op": "remove", "path": "members[value eq \"not-a-member\"]"}])).unwrap();
    assert_eq!(member_ids(&g), vec![BABS, MANDY]);
    // Member ids are case-exact.
    let g = group_patch(json!([{"op": "remove", "path": format!("members[value eq \"{}\"]", BABS.to_uppercase())}]))
        .unwrap();
    assert_eq!(member_ids(&g), vec![BABS, MANDY]);
}

#[test]
fn okta_user_deactivation_and_reactivation() {
    let u = user_patch(json!([{"op": "replace", "value": {"active": false}}])).unwrap();
    assert_eq!(u["active"], false);
    let u = patch(&u, json!([{"op": "replace", "value": {"active": true}}]), ResourceSchema::user()).unwrap();
    assert_eq!(u["active"], true);
}

#[test]
fn failed_patches_change_nothing() {
    let before = stored_user();
    let ops = parse_request(&json!({"schemas": [PATCH_OP_URN], "Operations": [
        {"op": "replace", "path": "nickName", "value": "Changed"},
        {"op": "replace", "path": "id", "value": "x"},
    ]}))
    .unwrap();
    assert!(apply(before.clone(), &ops, ResourceSchema::user()).is_err());
    assert_eq!(before, stored_user());
}

#[test]
fn summaries_name_operations_without_values() {
    let ops = parse_request(&json!({"schemas": [PATCH_OP_URN], "Operations": [
        {"op": "Replace", "path": "active", "value": "False"},
        {"op": "add", "value": {"name.givenName": "Ada"}},
    ]}))
    .unwrap();
    assert_eq!(ops[0].summary(), "replace active");
    assert_eq!(ops[1].summary(), "add name.givenName");
}

#[test]
fn a_path_naming_a_whole_extension() {
    let u = user_patch(json!([{"op": "replace", "path": ENTERPRISE_USER_URN, "value": {"schemas": [ENTERPRISE_USER_URN], "department": "Legal", "costCenter": "9"}}])).unwrap();
    assert_eq!(u[ENTERPRISE_USER_URN]["department"], "Legal");
    assert_eq!(u[ENTERPRISE_USER_URN]["costCenter"], "9");
    assert_eq!(u[ENTERPRISE_USER_URN]["organization"], "Universal Studios", "other attributes stay");
    let u = user_patch(json!([{"op": "remove", "path": ENTERPRISE_USER_URN}])).unwrap();
    assert!(u.get(ENTERPRISE_USER_URN).is_none());
    assert_eq!(u["schemas"], json!([USER_URN]));
}

#[test]
fn entra_id_adds_the_manager_as_a_bare_id() {
    // Entra ID's default attribute mappings include the manager; it sends this exact operation.
    let u = user_patch(json!([{
        "op": "Add",
        "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
        "value": "2819c223-7f76-453a-919d-413861904646"
    }]))
    .unwrap();
    assert_eq!(u[ENTERPRISE_USER_URN]["manager"], json!({"value": BABS}));
    // Replacing it the same way, then removing it.
    let u = patch(
        &u,
        json!([{"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": MANDY}]),
        ResourceSchema::user(),
    )
    .unwrap();
    assert_eq!(u[ENTERPRISE_USER_URN]["manager"]["value"], MANDY);
    let u = patch(
        &u,
        json!([{"op": "Remove", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"}]),
        ResourceSchema::user(),
    )
    .unwrap();
    assert!(u.get(ENTERPRISE_USER_URN).and_then(|e| e.get("manager")).is_none());
    // Not every string becomes an object: emails have no `$ref`, so a bare string stays refused
    // where the schema wants an object, and a number is still no reference.
    assert!(user_patch(json!([{"op": "Add", "path": "name", "value": "Babs"}])).is_err());
    assert!(user_patch(
        json!([{"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": 7}])
    )
    .is_err());
}

#[test]
fn members_as_bare_ids() {
    let g = group_patch(json!([{"op": "add", "path": "members", "value": BABS}])).unwrap();
    assert!(member_ids(&g).contains(&BABS.to_string()));
    let g = patch(&stored_group(), json!([{"op": "remove", "path": "members"}]), ResourceSchema::group()).unwrap();
    let g =
        patch(&g, json!([{"op": "add", "path": "members", "value": [BABS, MANDY]}]), ResourceSchema::group()).unwrap();
    assert_eq!(member_ids(&g), vec![BABS.to_string(), MANDY.to_string()]);
}
