//! Attribute paths (RFC 7644 section 3.10): `userName`, `name.givenName`,
//! `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value`, and, for PATCH,
//! value-filtered paths such as `emails[type eq "work"].value`.

use std::fmt;

use serde_json::{Map, Value};

use super::error::ScimError;
use super::filter::Filter;
use super::schema::{Attribute, ResourceSchema, USER_URN};

/// A path to an attribute or a sub-attribute.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AttrPath {
    /// The schema URN, for URN-qualified paths. After [`AttrPath::resolve`] it is set only for
    /// extension attributes (core attributes need none).
    pub urn: Option<String>,
    /// The attribute name.
    pub name: String,
    /// The sub-attribute name, if any.
    pub sub: Option<String>,
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() => chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        Some('$') => s.eq_ignore_ascii_case("$ref"),
        _ => false,
    }
}

impl AttrPath {
    /// A path to a top-level attribute without URN.
    pub fn attr(name: &str) -> Self {
        AttrPath { urn: None, name: name.to_string(), sub: None }
    }

    /// A path to a sub-attribute without URN.
    pub fn sub_attr(name: &str, sub: &str) -> Self {
        AttrPath { urn: None, name: name.to_string(), sub: Some(sub.to_string()) }
    }

    /// Parses the syntax (not checked against a schema): `[URN ":"] name ["." sub]`.
    pub fn parse(text: &str) -> Result<AttrPath, String> {
        let text = text.trim();
        let (urn, rest) = if text.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:")) {
            match text.rfind(':') {
                Some(i) if i + 1 < text.len() => (Some(text[..i].to_string()), &text[i + 1..]),
                _ => return Err(format!("'{text}' names a schema but no attribute")),
            }
        } else {
            (None, text)
        };
        let (name, sub) = match rest.split_once('.') {
            Some((n, s)) => (n, Some(s)),
            None => (rest, None),
        };
        if !is_name(name) {
            return Err(format!("'{name}' is not a valid attribute name"));
        }
        if let Some(s) = sub {
            if !is_name(s) {
                return Err(format!("'{s}' is not a valid sub-attribute name"));
            }
        }
        Ok(AttrPath { urn, name: name.to_string(), sub: sub.map(str::to_string) })
    }

    /// Checks the path against a resource type's schemas and returns it with canonical names,
    /// and the attribute definitions it names.
    pub fn resolve<'s>(&self, schema: &'s ResourceSchema) -> Result<Resolved<'s>, String> {
        let located = schema.find(self.urn.as_deref(), &self.name).ok_or_else(|| match &self.urn {
            Some(urn) if !schema.knows_schema(urn) => format!("unknown schema '{urn}'"),
            _ => format!("unknown attribute '{}'", self.display_name()),
        })?;
        let attr = located.attribute;
        let sub = match &self.sub {
            None => None,
            Some(s) => Some(attr.sub(s).ok_or_else(|| format!("unknown attribute '{}'", self.display_name()))?),
        };
        let urn = if located.in_extension { located.schema.map(|s| s.id.clone()) } else { None };
        Ok(Resolved { path: AttrPath { urn, name: attr.name.clone(), sub: sub.map(|s| s.name.clone()) }, attr, sub })
    }

    fn display_name(&self) -> String {
        match &self.sub {
            Some(s) => format!("{}.{s}", self.name),
            None => self.name.clone(),
        }
    }

    /// The path without its sub-attribute.
    pub fn parent(&self) -> AttrPath {
        AttrPath { urn: self.urn.clone(), name: self.name.clone(), sub: None }
    }

    /// The value of the top-level attribute in a resource (canonical names assumed; extension
    /// attributes live under their URN key).
    pub fn top_value<'v>(&self, resource: &'v Value) -> Option<&'v Value> {
        let container = match &self.urn {
            Some(urn) if !urn.eq_ignore_ascii_case(USER_URN) => resource.get(urn.as_str())?,
            _ => resource,
        };
        container.get(self.name.as_str())
    }

    /// The key of the resource's top level that [`Self::top_value`] reads: the attribute's name,
    /// or for an extension attribute its schema's URN (the object that holds it).
    pub fn top_key(&self) -> &str {
        match &self.urn {
            Some(urn) if !urn.eq_ignore_ascii_case(USER_URN) => urn,
            _ => &self.name,
        }
    }

    /// The object that holds the top-level attribute, created if missing (extensions).
    pub fn container_mut<'v>(&self, resource: &'v mut Map<String, Value>) -> &'v mut Map<String, Value> {
        match &self.urn {
            Some(urn) if !urn.eq_ignore_ascii_case(USER_URN) => {
                let entry = resource.entry(urn.clone()).or_insert_with(|| Value::Object(Map::new()));
                if !entry.is_object() {
                    *entry = Value::Object(Map::new());
                }
                match entry {
                    Value::Object(m) => m,
                    _ => unreachable!("just made an object"),
                }
            }
            _ => resource,
        }
    }
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(urn) = &self.urn {
            write!(f, "{urn}:")?;
        }
        f.write_str(&self.name)?;
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

/// A path checked against a schema.
#[derive(Clone, Debug)]
pub struct Resolved<'s> {
    /// The path with canonical names.
    pub path: AttrPath,
    /// The top-level attribute.
    pub attr: &'s Attribute,
    /// The sub-attribute, if the path names one.
    pub sub: Option<&'s Attribute>,
}

impl Resolved<'_> {
    /// The attribute the path ends at.
    pub fn target(&self) -> &Attribute {
        self.sub.unwrap_or(self.attr)
    }
}

/// A PATCH path (RFC 7644 section 3.5.2): an attribute path, optionally with a value filter on
/// a multi-valued attribute and a sub-attribute after it (`emails[type eq "work"].value`).
#[derive(Clone, Debug, PartialEq)]
pub struct PatchPath {
    /// The attribute (with `sub` set when there is no filter and a sub-attribute is named).
    pub attr: AttrPath,
    /// The value filter, evaluated against each value of the multi-valued attribute.
    pub filter: Option<Filter>,
    /// The sub-attribute after the filter.
    pub sub_after_filter: Option<String>,
}

impl PatchPath {
    /// Parses a PATCH path.
    pub fn parse(text: &str) -> Result<PatchPath, ScimError> {
        let text = text.trim();
        let Some(open) = text.find('[') else {
            let attr =
                AttrPath::parse(text).map_err(|e| ScimError::invalid_path(format!("invalid path '{text}': {e}")))?;
            return Ok(PatchPath { attr, filter: None, sub_after_filter: None });
        };
        let close = text
            .rfind(']')
            .filter(|&c| c > open)
            .ok_or_else(|| ScimError::invalid_path(format!("invalid path '{text}': '[' without ']'")))?;
        let attr = AttrPath::parse(&text[..open])
            .map_err(|e| ScimError::invalid_path(format!("invalid path '{text}': {e}")))?;
        if attr.sub.is_some() {
            return Err(ScimError::invalid_path(format!(
                "invalid path '{text}': a value filter applies to an attribute, not a sub-attribute"
            )));
        }
        let filter = Filter::parse(&text[open + 1..close])
            .map_err(|e| ScimError::invalid_path(format!("invalid filter in path '{text}': {}", e.detail)))?;
        let after = &text[close + 1..];
        let sub_after_filter = if after.is_empty() {
            None
        } else {
            let sub = after.strip_prefix('.').filter(|s| is_name(s)).ok_or_else(|| {
                ScimError::invalid_path(format!("invalid path '{text}': unexpected '{after}' after the filter"))
            })?;
            Some(sub.to_string())
        };
        Ok(PatchPath { attr, filter: Some(filter), sub_after_filter })
    }
}

impl fmt::Display for PatchPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.attr)?;
        if let Some(filter) = &self.filter {
            write!(f, "[{filter}]")?;
        }
        if let Some(sub) = &self.sub_after_filter {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::schema::ENTERPRISE_USER_URN;

    #[test]
    fn parses_paths() {
        assert_eq!(AttrPath::parse("userName").unwrap(), AttrPath::attr("userName"));
        assert_eq!(AttrPath::parse("name.givenName").unwrap(), AttrPath::sub_attr("name", "givenName"));
        let p = AttrPath::parse("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value").unwrap();
        assert_eq!(p.urn.as_deref(), Some(ENTERPRISE_USER_URN));
        assert_eq!((p.name.as_str(), p.sub.as_deref()), ("manager", Some("value")));
        assert_eq!(AttrPath::parse("members.$ref").unwrap().sub.as_deref(), Some("$ref"));
        for bad in ["", "1abc", "a b", "name.", ".x", "urn:foo:", "a.b.c", "na*me"] {
            assert!(AttrPath::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn resolves_case_insensitively_to_canonical_names() {
        let rs = ResourceSchema::user();
        let r = AttrPath::parse("NAME.GIVENNAME").unwrap().resolve(rs).unwrap();
        assert_eq!(r.path.to_string(), "name.givenName");
        let r = AttrPath::parse("urn:ietf:params:scim:schemas:core:2.0:User:userName").unwrap().resolve(rs).unwrap();
        assert_eq!(r.path.to_string(), "userName");
        let r = AttrPath::parse("urn:ietf:params:scim:schemas:extension:enterprise:2.0:user:Department")
            .unwrap()
            .resolve(rs)
            .unwrap();
        assert_eq!(r.path.to_string(), format!("{ENTERPRISE_USER_URN}:department"));
        assert!(AttrPath::parse("nickname.x").unwrap().resolve(rs).unwrap_err().contains("unknown attribute"));
        assert!(AttrPath::parse("urn:x:y:z").unwrap().resolve(rs).unwrap_err().contains("unknown schema"));
    }

    #[test]
    fn parses_patch_paths() {
        let p = PatchPath::parse(r#"emails[type eq "work"].value"#).unwrap();
        assert_eq!(p.attr, AttrPath::attr("emails"));
        assert_eq!(p.sub_after_filter.as_deref(), Some("value"));
        assert_eq!(p.to_string(), r#"emails[type eq "work"].value"#);
        let p = PatchPath::parse(r#"members[value eq "2819c223-7f76-453a-919d-413861904646"]"#).unwrap();
        assert!(p.filter.is_some() && p.sub_after_filter.is_none());
        for bad in ["emails[type eq \"work\"", "emails[type eq]", "name.givenName[x eq 1]", "emails[type eq \"w\"]x"] {
            let e = PatchPath::parse(bad).unwrap_err();
            assert_eq!(e.scim_type, Some(crate::scim::ScimType::InvalidPath), "{bad}");
        }
    }
}
