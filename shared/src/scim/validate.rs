//! Checking resources that clients create (POST) or replace (PUT) against their schema.
//!
//! The result is the resource in canonical form: attribute names as the schema spells them,
//! `readOnly` attributes dropped (RFC 7643 section 7: ignored on input), string booleans
//! (`"True"`, as Entra ID sends them) made booleans, single values of multi-valued attributes
//! wrapped in a list, a reference given by its bare id (`"manager": "26118915-…"`) made
//! `{"value": …}`, `schemas` listing the core schema and the extensions present. The
//! `password` attribute is dropped too: Roster signs people in through their IdP and never
//! stores a password it cannot use.
//!
//! Extensions a tenant has not registered are kept as they came, if the client lists their URN
//! in `schemas`: what the IdP sent is not thrown away.

use std::fmt::Display;

use serde_json::{Map, Value};

use super::error::ScimError;
use super::schema::{Attribute, AttributeType, Mutability, ResourceSchema};
use super::value::{loose_bool, parse_datetime};

/// Whether the resource is new or replaces an existing one.
#[derive(Clone, Copy, Debug)]
pub enum Mode<'a> {
    /// POST.
    Create,
    /// PUT over `existing` (immutable attributes must not change).
    Replace {
        /// The stored resource.
        existing: &'a Value,
    },
}

fn type_error(label: &dyn Display, what: &str) -> ScimError {
    ScimError::invalid_value(format!("'{label}' must be {what}"))
}

/// Checks one attribute's value and returns it canonical; `Value::Null` means "unassigned".
pub fn check_value(attr: &Attribute, value: &Value, label: &dyn Display) -> Result<Value, ScimError> {
    if value.is_null() {
        return Ok(Value::Null);
    }
    if attr.multi_valued {
        let items: Vec<&Value> = match value {
            Value::Array(items) => items.iter().collect(),
            single => vec![single],
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let v = check_single(attr, item, label)?;
            if !v.is_null() {
                out.push(v);
            }
        }
        let primaries = out.iter().filter(|v| v.get("primary") == Some(&Value::Bool(true))).count();
        if primaries > 1 {
            return Err(ScimError::invalid_value(format!("at most one value of '{label}' may be primary")));
        }
        return Ok(if out.is_empty() { Value::Null } else { Value::Array(out) });
    }
    if value.is_array() {
        return Err(type_error(label, "a single value, not a list"));
    }
    check_single(attr, value, label)
}

fn check_single(attr: &Attribute, value: &Value, label: &dyn Display) -> Result<Value, ScimError> {
    Ok(match (attr.ty, value) {
        (_, Value::Null) => Value::Null,
        (AttributeType::String, Value::String(_)) => value.clone(),
        // Some IdPs send employee numbers and the like as JSON numbers.
        (AttributeType::String, Value::Number(n)) => Value::String(n.to_string()),
        (AttributeType::String, _) => return Err(type_error(label, "a string")),
        (AttributeType::Reference | AttributeType::Binary, Value::String(_)) => value.clone(),
        (AttributeType::Reference | AttributeType::Binary, _) => return Err(type_error(label, "a string")),
        (AttributeType::Boolean, v) => Value::Bool(loose_bool(v).ok_or_else(|| type_error(label, "true or false"))?),
        (AttributeType::Integer, Value::Number(n)) if n.is_i64() || n.is_u64() => value.clone(),
        (AttributeType::Integer, _) => return Err(type_error(label, "an integer")),
        (AttributeType::Decimal, Value::Number(_)) => value.clone(),
        (AttributeType::Decimal, _) => return Err(type_error(label, "a number")),
        (AttributeType::DateTime, Value::String(s)) if parse_datetime(s).is_some() => value.clone(),
        (AttributeType::DateTime, _) => return Err(type_error(label, "a dateTime such as \"2024-01-23T04:56:22Z\"")),
        (AttributeType::Complex, Value::Object(map)) => {
            let mut out = Map::new();
            for (k, v) in map {
                let sub = attr
                    .sub(k)
                    .ok_or_else(|| ScimError::invalid_syntax(format!("'{label}' has no sub-attribute '{k}'")))?;
                if sub.mutability == Mutability::ReadOnly {
                    continue;
                }
                let v = check_value(sub, v, &format_args!("{label}.{}", sub.name))?;
                if !v.is_null() {
                    out.insert(sub.name.clone(), v);
                }
            }
            if out.is_empty() {
                Value::Null
            } else {
                Value::Object(out)
            }
        }
        // A reference given by its bare id: `"manager": "26118915-…"` (Entra ID's `Add` of the
        // enterprise manager) or `"members": ["2819c223-…"]`. Only attributes that point at a
        // resource (with a `value` and a `$ref`) take this form, so no other guess is made.
        (AttributeType::Complex, Value::String(id)) if is_reference(attr) => {
            let id = id.trim();
            if id.is_empty() {
                Value::Null
            } else {
                Value::Object(Map::from_iter([("value".to_string(), Value::String(id.to_string()))]))
            }
        }
        (AttributeType::Complex, _) => return Err(type_error(label, "an object")),
    })
}

/// A complex attribute that points at another resource (`manager`, `members`).
pub(crate) fn is_reference(attr: &Attribute) -> bool {
    attr.sub("value").is_some() && attr.sub("$ref").is_some()
}

/// Checks a resource a client sent and returns it in canonical form (see the module doc).
pub fn validate_resource(input: &Value, schema: &ResourceSchema, mode: Mode<'_>) -> Result<Value, ScimError> {
    let Value::Object(input) = input else {
        return Err(ScimError::invalid_syntax("the request body must be a JSON object"));
    };
    let declared: Vec<String> = match input.iter().find(|(k, _)| k.eq_ignore_ascii_case("schemas")).map(|(_, v)| v) {
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| ScimError::invalid_syntax("'schemas' must be a list of URNs"))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(ScimError::invalid_syntax("'schemas' must be a list of URNs")),
        None => return Err(ScimError::invalid_syntax(format!("'schemas' is missing: include \"{}\"", schema.core.id))),
    };
    if !declared.iter().any(|s| s.eq_ignore_ascii_case(&schema.core.id)) {
        return Err(ScimError::invalid_syntax(format!("'schemas' must include \"{}\"", schema.core.id)));
    }

    // Core attributes may also come inside an object keyed by the core schema's URN.
    let mut entries: Vec<(&String, &Value)> = Vec::with_capacity(input.len());
    for (key, value) in input {
        if key.eq_ignore_ascii_case(&schema.core.id) {
            match value {
                Value::Object(inner) => entries.extend(inner.iter()),
                Value::Null => {}
                _ => return Err(ScimError::invalid_syntax(format!("'{key}' must be an object of core attributes"))),
            }
        } else {
            entries.push((key, value));
        }
    }

    let mut out = Map::new();
    let mut kept_unknown: Vec<String> = Vec::new();
    for (key, value) in entries {
        if key.eq_ignore_ascii_case("schemas") {
            continue;
        }
        if let Some(ext) = schema.extension(key) {
            let Value::Object(ext_values) = value else {
                if value.is_null() {
                    continue;
                }
                return Err(ScimError::invalid_syntax(format!("'{key}' must be an object of extension attributes")));
            };
            let mut ext_out = Map::new();
            for (k, v) in ext_values {
                let attr = ext.attribute(k).ok_or_else(|| {
                    ScimError::invalid_syntax(format!("unknown attribute '{k}' in schema {}", ext.id))
                })?;
                if let Some(v) = accept(attr, v, &format!("{}:{}", ext.id, attr.name))? {
                    ext_out.insert(attr.name.clone(), v);
                }
            }
            if !ext_out.is_empty() {
                out.insert(ext.id.clone(), Value::Object(ext_out));
            }
            continue;
        }
        if key.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:")) {
            if declared.iter().any(|s| s == key) && value.is_object() {
                kept_unknown.push(key.clone());
                let mut kept = value.clone();
                drop_passwords(&mut kept);
                out.insert(key.clone(), kept);
                continue;
            }
            return Err(ScimError::invalid_syntax(format!(
                "unknown schema extension '{key}': list it in 'schemas' to keep its data, or remove it"
            )));
        }
        let located = schema.find(None, key).ok_or_else(|| {
            ScimError::invalid_syntax(format!(
                "unknown attribute '{key}' for a {} (schema {})",
                schema.name, schema.core.id
            ))
        })?;
        let attr = located.attribute;
        if let Some(v) = accept(attr, value, &attr.name)? {
            out.insert(attr.name.clone(), v);
        }
    }

    // Required attributes.
    for attr in schema.core.attributes.iter().chain(schema.common.iter()) {
        if attr.required
            && attr.mutability != Mutability::ReadOnly
            && attr.name != "schemas"
            && !out.contains_key(&attr.name)
        {
            return Err(ScimError::invalid_value(format!("'{}' is required", attr.name)));
        }
    }

    if let Mode::Replace { existing } = mode {
        for attr in schema.core.attributes.iter().chain(schema.common.iter()) {
            if attr.mutability != Mutability::Immutable {
                continue;
            }
            match (existing.get(&attr.name), out.get(&attr.name)) {
                (Some(old), Some(new)) if old != new => {
                    return Err(ScimError::mutability(format!("'{}' is immutable and cannot be changed", attr.name)));
                }
                (Some(old), None) => {
                    out.insert(attr.name.clone(), old.clone());
                }
                _ => {}
            }
        }
    }

    let mut schemas = vec![Value::String(schema.core.id.clone())];
    for (ext, _) in &schema.extensions {
        if out.contains_key(&ext.id) {
            schemas.push(Value::String(ext.id.clone()));
        }
    }
    schemas.extend(kept_unknown.into_iter().map(Value::String));
    out.insert("schemas".into(), Value::Array(schemas));
    Ok(Value::Object(out))
}

/// Removes every member named `password` (any case, URN-qualified or not) at any depth: data
/// of extensions we keep as they came may not smuggle in what the core schema never stores.
pub fn drop_passwords(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|k, _| !is_password_name(k));
            map.values_mut().for_each(drop_passwords);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_passwords),
        _ => {}
    }
}

/// Whether an attribute name or path names `password` (`password`, `Password `,
/// `urn:…:User:password`, `x.password`).
pub fn is_password_name(name: &str) -> bool {
    let name = name.trim();
    let last = name.rsplit([':', '.']).next().unwrap_or(name);
    last.trim().eq_ignore_ascii_case("password")
}

/// The canonical value to store for an input attribute, or `None` when it is not stored
/// (readOnly, writeOnly, or null).
fn accept(attr: &Attribute, value: &Value, label: &dyn Display) -> Result<Option<Value>, ScimError> {
    match attr.mutability {
        Mutability::ReadOnly | Mutability::WriteOnly => Ok(None),
        _ => {
            let v = check_value(attr, value, label)?;
            Ok(if v.is_null() { None } else { Some(v) })
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::scim::schema::{ENTERPRISE_USER_URN, GROUP_URN, USER_URN};
    use crate::scim::ScimType;

    fn user(v: Value) -> Result<Value, ScimError> {
        validate_resource(&v, ResourceSchema::user(), Mode::Create)
    }

    #[test]
    fn rfc_examples_validate() {
        for text in [
            include_str!("../../tests/data/rfc7643_8.1_minimal_user.json"),
            include_str!("../../tests/data/rfc7643_8.2_full_user.json"),
            include_str!("../../tests/data/rfc7643_8.3_enterprise_user.json"),
        ] {
            let input: Value = serde_json::from_str(text).unwrap();
            let out = user(input.clone()).unwrap();
            assert!(
                out.get("id").is_none() && out.get("meta").is_none() && out.get("groups").is_none(),
                "readOnly dropped"
            );
            assert!(out.get("password").is_none(), "password never kept");
            assert_eq!(out["userName"], input["userName"]);
        }
        let out =
            user(serde_json::from_str(include_str!("../../tests/data/rfc7643_8.3_enterprise_user.json")).unwrap())
                .unwrap();
        assert_eq!(out["schemas"], json!([USER_URN, ENTERPRISE_USER_URN]));
        assert_eq!(out[ENTERPRISE_USER_URN]["manager"]["value"], "26118915-6090-4610-87e4-49d8ca9f808d");
        assert!(out[ENTERPRISE_USER_URN]["manager"].get("displayName").is_none(), "readOnly sub-attribute dropped");
        let group: Value = serde_json::from_str(include_str!("../../tests/data/rfc7643_8.4_group.json")).unwrap();
        let out = validate_resource(&group, ResourceSchema::group(), Mode::Create).unwrap();
        assert_eq!(out["members"].as_array().unwrap().len(), 2);
        assert_eq!(out["schemas"], json!([GROUP_URN]));
    }

    #[test]
    fn canonicalizes_names_and_idp_values() {
        let out = user(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:user"],
            "USERNAME": "ada@example.com",
            "Active": "False",
            "emails": {"Value": "ada@example.com", "TYPE": "work", "primary": "true"},
            "name": {"givenname": "Ada"},
        }))
        .unwrap();
        assert_eq!(
            out,
            json!({
                "schemas": [USER_URN],
                "userName": "ada@example.com",
                "active": false,
                "emails": [{"value": "ada@example.com", "type": "work", "primary": true}],
                "name": {"givenName": "Ada"},
            })
        );
    }

    #[test]
    fn refuses_bad_resources_clearly() {
        let cases: Vec<(Value, ScimType, &str)> = vec![
            (json!([]), ScimType::InvalidSyntax, "JSON object"),
            (json!({"userName": "a"}), ScimType::InvalidSyntax, "'schemas' is missing"),
            (json!({"schemas": [GROUP_URN], "userName": "a"}), ScimType::InvalidSyntax, "must include"),
            (json!({"schemas": [USER_URN]}), ScimType::InvalidValue, "'userName' is required"),
            (
                json!({"schemas": [USER_URN], "userName": "a", "shoeSize": 42}),
                ScimType::InvalidSyntax,
                "unknown attribute 'shoeSize'",
            ),
            (
                json!({"schemas": [USER_URN], "userName": "a", "name": {"nick": "x"}}),
                ScimType::InvalidSyntax,
                "no sub-attribute 'nick'",
            ),
            (json!({"schemas": [USER_URN], "userName": true}), ScimType::InvalidValue, "'userName' must be a string"),
            (json!({"schemas": [USER_URN], "userName": "a", "active": "yes"}), ScimType::InvalidValue, "true or false"),
            (json!({"schemas": [USER_URN], "userName": "a", "name": "Ada"}), ScimType::InvalidValue, "an object"),
            (
                json!({"schemas": [USER_URN], "userName": "a", "displayName": ["a", "b"]}),
                ScimType::InvalidValue,
                "single value",
            ),
            (
                json!({"schemas": [USER_URN], "userName": "a", "emails": [{"value": "a", "primary": true}, {"value": "b", "primary": true}]}),
                ScimType::InvalidValue,
                "at most one",
            ),
            (
                json!({"schemas": [USER_URN], "userName": "a", "urn:example:ext:1.0": {"x": 1}}),
                ScimType::InvalidSyntax,
                "unknown schema extension",
            ),
            (
                json!({"schemas": [USER_URN], "userName": "a", ENTERPRISE_USER_URN: {"shoe": 1}}),
                ScimType::InvalidSyntax,
                "unknown attribute 'shoe'",
            ),
        ];
        for (input, ty, expected) in cases {
            let e = user(input.clone()).unwrap_err();
            assert_eq!(e.scim_type, Some(ty), "{input}: {}", e.detail);
            assert!(e.detail.contains(expected), "{input}: {:?} should contain {expected:?}", e.detail);
        }
    }

    #[test]
    fn unknown_but_declared_extensions_are_kept() {
        let out = user(json!({
            "schemas": [USER_URN, "urn:example:params:scim:schemas:extension:acme:2.0:User"],
            "userName": "a",
            "urn:example:params:scim:schemas:extension:acme:2.0:User": {"badge": "42"},
        }))
        .unwrap();
        assert_eq!(out["urn:example:params:scim:schemas:extension:acme:2.0:User"]["badge"], "42");
        assert_eq!(out["schemas"][1], "urn:example:params:scim:schemas:extension:acme:2.0:User");
    }
}
