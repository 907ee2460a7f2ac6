//! Which attributes a response carries (RFC 7644 section 3.9 and RFC 7643 section 7):
//! `attributes` (only these, plus those returned "always"), `excludedAttributes` (all but these,
//! except "always"), and the `returned` characteristic: "never" attributes are never sent,
//! "request" attributes only when asked for.

use serde_json::{Map, Value};

use super::error::ScimError;
use super::path::AttrPath;
use super::schema::{Attribute, AttributeType, ResourceSchema, Returned};

/// What the client asked for.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Projection {
    /// `attributes`, resolved; empty means "the default set".
    pub attributes: Vec<AttrPath>,
    /// `excludedAttributes`, resolved.
    pub excluded: Vec<AttrPath>,
}

impl Projection {
    /// Parses the comma-separated query parameters (or SearchRequest lists) and checks each
    /// path against the schema. Unknown attributes are an `invalidPath`... except that RFC 7644
    /// lets clients name attributes a server does not have, so they are ignored instead.
    pub fn parse(
        attributes: Option<&str>,
        excluded: Option<&str>,
        schema: &ResourceSchema,
    ) -> Result<Projection, ScimError> {
        Ok(Projection { attributes: parse_list(attributes, schema)?, excluded: parse_list(excluded, schema)? })
    }

    /// The same, from lists (a SearchRequest body).
    pub fn from_lists(
        attributes: &[String],
        excluded: &[String],
        schema: &ResourceSchema,
    ) -> Result<Projection, ScimError> {
        Self::parse(Some(&attributes.join(",")), Some(&excluded.join(",")), schema)
    }

    /// The resource as the client should see it.
    pub fn apply(&self, resource: &Value, schema: &ResourceSchema) -> Value {
        let Value::Object(res) = resource else {
            return resource.clone();
        };
        let mut out = Map::new();
        for (key, value) in res {
            if let Some(ext) = schema.extension(key) {
                let Value::Object(inner) = value else {
                    continue;
                };
                let mut ext_out = Map::new();
                for (k, v) in inner {
                    if let Some(attr) = ext.attribute(k) {
                        let path = AttrPath { urn: Some(ext.id.clone()), name: attr.name.clone(), sub: None };
                        if let Some(v) = self.project_attr(attr, &path, v) {
                            ext_out.insert(k.clone(), v);
                        }
                    }
                }
                if !ext_out.is_empty() {
                    out.insert(key.clone(), Value::Object(ext_out));
                }
                continue;
            }
            match schema.find(None, key) {
                Some(located) => {
                    let path = AttrPath::attr(&located.attribute.name);
                    if let Some(v) = self.project_attr(located.attribute, &path, value) {
                        out.insert(key.clone(), v);
                    }
                }
                // Data of extensions the schema does not know: returned by default.
                None => {
                    if self.attributes.is_empty()
                        && !self.excluded.iter().any(|p| p.urn.as_deref() == Some(key.as_str()))
                    {
                        out.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        Value::Object(out)
    }

    /// [`Projection::apply`] on a resource it may consume: the default projection (nothing
    /// asked for, nothing excluded: what nearly every request gets) moves what it keeps instead
    /// of copying it; any other projection is [`Projection::apply`].
    pub fn apply_owned(&self, resource: Value, schema: &ResourceSchema) -> Value {
        if !self.attributes.is_empty() || !self.excluded.is_empty() {
            return self.apply(&resource, schema);
        }
        let Value::Object(res) = resource else {
            return resource;
        };
        let mut out = Map::new();
        for (key, value) in res {
            if let Some(ext) = schema.extension(&key) {
                let Value::Object(inner) = value else {
                    continue;
                };
                let ext_out: Map<String, Value> = inner
                    .into_iter()
                    .filter_map(|(k, v)| ext.attribute(&k).and_then(|attr| by_default(attr, v)).map(|v| (k, v)))
                    .collect();
                if !ext_out.is_empty() {
                    out.insert(key, Value::Object(ext_out));
                }
                continue;
            }
            match schema.find(None, &key) {
                Some(located) => {
                    if let Some(v) = by_default(located.attribute, value) {
                        out.insert(key, v);
                    }
                }
                // Data of extensions the schema does not know: returned by default.
                None => {
                    out.insert(key, value);
                }
            }
        }
        Value::Object(out)
    }

    fn project_attr(&self, attr: &Attribute, path: &AttrPath, value: &Value) -> Option<Value> {
        match attr.returned {
            Returned::Never | Returned::Request => return None,
            Returned::Always => return Some(value.clone()),
            _ => {}
        }
        let same = |p: &AttrPath| p.urn == path.urn && p.name == path.name;
        if self.excluded.iter().any(|p| same(p) && p.sub.is_none()) {
            return None;
        }
        let requested: Vec<&AttrPath> = self.attributes.iter().filter(|p| same(p)).collect();
        let value = if !self.attributes.is_empty() {
            if requested.is_empty() {
                // Sub-attributes returned "always" still come (e.g. none in the core schemas).
                return None;
            }
            if requested.iter().any(|p| p.sub.is_none()) || attr.ty != AttributeType::Complex {
                strip_subs(attr, value, |sub| {
                    sub.returned == Returned::Request && !requested.iter().any(|p| p.sub.as_deref() == Some(&sub.name))
                })
            } else {
                let wanted: Vec<&str> = requested.iter().filter_map(|p| p.sub.as_deref()).collect();
                strip_subs(attr, value, |sub| sub.returned != Returned::Always && !wanted.contains(&sub.name.as_str()))
            }
        } else {
            if attr.returned == Returned::Request {
                return None;
            }
            let excluded_subs: Vec<&str> =
                self.excluded.iter().filter(|p| same(p)).filter_map(|p| p.sub.as_deref()).collect();
            strip_subs(attr, value, |sub| {
                sub.returned == Returned::Never
                    || sub.returned == Returned::Request
                    || (sub.returned != Returned::Always && excluded_subs.contains(&sub.name.as_str()))
            })
        };
        match &value {
            Value::Object(o) if o.is_empty() => None,
            Value::Array(a) if a.is_empty() => None,
            _ => Some(value),
        }
    }
}

/// An attribute's value as the default projection returns it (what [`Projection::project_attr`]
/// does with no `attributes` and no `excludedAttributes`), in place.
fn by_default(attr: &Attribute, mut value: Value) -> Option<Value> {
    match attr.returned {
        Returned::Never | Returned::Request => return None,
        Returned::Always => return Some(value),
        _ => {}
    }
    if attr.ty == AttributeType::Complex {
        let strip = |o: &mut Map<String, Value>| {
            o.retain(|k, _| attr.sub(k).is_none_or(|s| !matches!(s.returned, Returned::Never | Returned::Request)))
        };
        match &mut value {
            Value::Array(items) => {
                for item in items.iter_mut() {
                    if let Value::Object(o) = item {
                        strip(o);
                    }
                }
                items.retain(|v| v.as_object().is_none_or(|o| !o.is_empty()));
            }
            Value::Object(o) => strip(o),
            _ => {}
        }
    }
    match &value {
        Value::Object(o) if o.is_empty() => None,
        Value::Array(a) if a.is_empty() => None,
        _ => Some(value),
    }
}

/// The value with the sub-attributes `drop` selects removed (for complex attributes).
fn strip_subs(attr: &Attribute, value: &Value, drop: impl Fn(&Attribute) -> bool) -> Value {
    if attr.ty != AttributeType::Complex {
        return value.clone();
    }
    let strip_one = |v: &Value| match v {
        Value::Object(o) => Value::Object(
            o.iter()
                .filter(|(k, _)| attr.sub(k).is_none_or(|s| !drop(s)))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    };
    match value {
        Value::Array(items) => {
            Value::Array(items.iter().map(strip_one).filter(|v| v.as_object().is_none_or(|o| !o.is_empty())).collect())
        }
        other => strip_one(other),
    }
}

fn parse_list(list: Option<&str>, schema: &ResourceSchema) -> Result<Vec<AttrPath>, ScimError> {
    let Some(list) = list else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        // A bare extension URN names the whole extension.
        if let Some(ext) = schema.extension(item) {
            for a in &ext.attributes {
                out.push(AttrPath { urn: Some(ext.id.clone()), name: a.name.clone(), sub: None });
            }
            continue;
        }
        let path =
            AttrPath::parse(item).map_err(|e| ScimError::invalid_path(format!("invalid attribute '{item}': {e}")))?;
        if let Ok(r) = path.resolve(schema) {
            out.push(r.path);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::scim::schema::ENTERPRISE_USER_URN;

    fn user() -> Value {
        let mut u: Value =
            serde_json::from_str(include_str!("../../tests/data/rfc7643_8.3_enterprise_user.json")).unwrap();
        u["password"] = json!("secret");
        u
    }

    fn keys(v: &Value) -> Vec<String> {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    }

    #[test]
    fn default_set_never_includes_the_password() {
        let rs = ResourceSchema::user();
        let out = Projection::default().apply(&user(), rs);
        assert!(out.get("password").is_none());
        assert_eq!(out["userName"], "bjensen@example.com");
        assert_eq!(out[ENTERPRISE_USER_URN]["department"], "Tour Operations");
    }

    #[test]
    fn attributes_selects_plus_always() {
        let rs = ResourceSchema::user();
        let p = Projection::parse(Some("userName,name.givenName,emails.value,password"), None, rs).unwrap();
        let out = p.apply(&user(), rs);
        assert_eq!(keys(&out), vec!["emails", "id", "name", "schemas", "userName"]);
        assert_eq!(out["name"], json!({"givenName": "Barbara"}));
        assert_eq!(out["emails"], json!([{"value": "bjensen@example.com"}, {"value": "babs@jensen.org"}]));
        let p =
            Projection::parse(Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"), None, rs)
                .unwrap();
        let out = p.apply(&user(), rs);
        assert_eq!(out[ENTERPRISE_USER_URN], json!({"department": "Tour Operations"}));
    }

    #[test]
    fn excluded_attributes_drop_all_but_always() {
        let rs = ResourceSchema::user();
        let p = Projection::parse(
            None,
            Some("emails,name.familyName,id,urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"),
            rs,
        )
        .unwrap();
        let out = p.apply(&user(), rs);
        assert!(out.get("emails").is_none());
        assert!(out["name"].get("familyName").is_none() && out["name"].get("givenName").is_some());
        assert!(out.get("id").is_some(), "id is returned always");
        assert!(out.get(ENTERPRISE_USER_URN).is_none());
        // Entra ID: GET /Groups?excludedAttributes=members
        let g: Value = serde_json::from_str(include_str!("../../tests/data/rfc7643_8.4_group.json")).unwrap();
        let p = Projection::parse(None, Some("members"), ResourceSchema::group()).unwrap();
        let out = p.apply(&g, ResourceSchema::group());
        assert_eq!(keys(&out), vec!["displayName", "id", "meta", "schemas"]);
    }

    #[test]
    fn unknown_names_are_ignored_and_malformed_ones_refused() {
        let rs = ResourceSchema::user();
        assert!(Projection::parse(Some("shoeSize"), None, rs).unwrap().attributes.is_empty());
        assert_eq!(
            Projection::parse(Some("bad name"), None, rs).unwrap_err().scim_type,
            Some(crate::scim::ScimType::InvalidPath)
        );
    }
}
