//! PATCH (RFC 7644 section 3.5.2): `add`, `remove` and `replace`, with and without `path`, on
//! attributes, sub-attributes and filtered values of multi-valued attributes.
//!
//! Besides the RFC, it accepts what identity providers really send:
//! * op names in any case (`"Replace"`, `"Add"`: Entra ID);
//! * booleans as strings (`"active": "False"`: Entra ID);
//! * path-less operations whose value has dotted keys (`"name.givenName"`) or URN-qualified keys
//!   (`"urn:…:enterprise:2.0:User:department"`: Entra ID);
//! * read-only attributes repeated unchanged in a path-less value (`"id"` in Okta's group
//!   rename): ignored, while changing them is refused;
//! * a reference as a bare id: `add` of the enterprise `manager` with `"value": "<id>"` (Entra
//!   ID's default mapping), members as `"value": "<id>"` or `["<id>", …]`;
//! * `remove` of group members by `members[value eq "…"]`, and by a value list
//!   (`"path": "members", "value": [{"value": "…"}]`: Okta);
//! * `add`/`replace` on a filtered path that matches nothing, such as
//!   `emails[type eq "work"].value`, creates the value the filter describes (Entra ID sends this
//!   for users who have no work email yet).
//!
//! Setting `primary: true` on one value clears it on the others. Operations apply in order, all
//! or nothing: the result is returned only if every operation succeeded.

use serde_json::{Map, Value};

use super::error::ScimError;
use super::filter::{CompValue, CompareOp, Filter};
use super::path::{AttrPath, PatchPath};
use super::schema::{Attribute, AttributeType, Mutability, ResourceSchema, Returned};
use super::validate::{check_value, is_reference};

/// The PatchOp message URN.
pub const PATCH_OP_URN: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// The most operations one PATCH request may carry.
pub const MAX_OPERATIONS: usize = 1000;

/// `add`, `remove` or `replace`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchOpKind {
    /// add
    Add,
    /// remove
    Remove,
    /// replace
    Replace,
}

/// One operation of a PATCH request.
#[derive(Clone, Debug, PartialEq)]
pub struct PatchOperation {
    /// What to do.
    pub op: PatchOpKind,
    /// Where; `None` means the resource itself.
    pub path: Option<PatchPath>,
    /// The value (required for add and replace).
    pub value: Option<Value>,
}

impl PatchOperation {
    /// A one-line summary for activity records, e.g. `replace active` (values are left out:
    /// they may be personal data).
    pub fn summary(&self) -> String {
        let op = match self.op {
            PatchOpKind::Add => "add",
            PatchOpKind::Remove => "remove",
            PatchOpKind::Replace => "replace",
        };
        match (&self.path, &self.value) {
            (Some(p), _) => format!("{op} {p}"),
            (None, Some(Value::Object(m))) => {
                format!("{op} {}", m.keys().cloned().collect::<Vec<_>>().join(", "))
            }
            (None, _) => op.to_string(),
        }
    }
}

/// Parses a PatchOp request body.
pub fn parse_request(body: &Value) -> Result<Vec<PatchOperation>, ScimError> {
    let Value::Object(body) = body else {
        return Err(ScimError::invalid_syntax("the request body must be a JSON object"));
    };
    let schemas_ok = body
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("schemas"))
        .and_then(|(_, v)| v.as_array())
        .is_some_and(|a| a.iter().any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(PATCH_OP_URN))));
    if !schemas_ok {
        return Err(ScimError::invalid_syntax(format!("'schemas' must be [\"{PATCH_OP_URN}\"]")));
    }
    let ops = body
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("Operations"))
        .map(|(_, v)| v)
        .and_then(Value::as_array)
        .ok_or_else(|| ScimError::invalid_syntax("'Operations' must be a list of operations"))?;
    if ops.is_empty() {
        return Err(ScimError::invalid_syntax("'Operations' is empty"));
    }
    if ops.len() > MAX_OPERATIONS {
        return Err(ScimError::invalid_syntax(format!("at most {MAX_OPERATIONS} operations per request")));
    }
    ops.iter().enumerate().map(|(i, op)| parse_operation(i, op)).collect()
}

fn parse_operation(i: usize, op: &Value) -> Result<PatchOperation, ScimError> {
    let Value::Object(op) = op else {
        return Err(ScimError::invalid_syntax(format!("operation {} must be an object", i + 1)));
    };
    let field = |name: &str| op.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v);
    let kind = match field("op").and_then(Value::as_str).map(str::to_ascii_lowercase).as_deref() {
        Some("add") => PatchOpKind::Add,
        Some("remove") => PatchOpKind::Remove,
        Some("replace") => PatchOpKind::Replace,
        _ => {
            return Err(ScimError::invalid_syntax(format!(
                "operation {}: 'op' must be \"add\", \"remove\" or \"replace\"",
                i + 1
            )))
        }
    };
    let path = match field("path") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => Some(PatchPath::parse(s)?),
        Some(_) => return Err(ScimError::invalid_path(format!("operation {}: 'path' must be a string", i + 1))),
    };
    let value = field("value").cloned();
    match kind {
        PatchOpKind::Remove if path.is_none() => {
            return Err(ScimError::no_target(format!("operation {}: 'remove' needs a 'path'", i + 1)));
        }
        PatchOpKind::Add | PatchOpKind::Replace if value.is_none() => {
            return Err(ScimError::invalid_value(
                format!("operation {}: '{:?}' needs a 'value'", i + 1, kind).to_lowercase(),
            ));
        }
        _ => {}
    }
    Ok(PatchOperation { op: kind, path, value })
}

/// Applies the operations to `resource` (canonical form) and returns the result. On error the
/// half-changed resource is dropped: callers keep the stored version (the database's) and write
/// nothing.
pub fn apply(resource: Value, ops: &[PatchOperation], schema: &ResourceSchema) -> Result<Value, ScimError> {
    let Value::Object(mut res) = resource else {
        return Err(ScimError::status(500, "stored resource is not an object"));
    };
    for op in ops {
        apply_one(&mut res, op, schema)?;
    }
    // Required attributes must survive.
    for attr in schema.core.attributes.iter() {
        if attr.required && !res.contains_key(&attr.name) {
            return Err(ScimError::mutability(format!("'{}' is required and cannot be removed", attr.name)));
        }
    }
    refresh_schemas(&mut res, schema);
    Ok(Value::Object(res))
}

fn refresh_schemas(res: &mut Map<String, Value>, schema: &ResourceSchema) {
    let mut schemas: Vec<Value> = vec![Value::String(schema.core.id.clone())];
    for (ext, _) in &schema.extensions {
        match res.get(&ext.id) {
            Some(Value::Object(m)) if !m.is_empty() => schemas.push(Value::String(ext.id.clone())),
            Some(_) => {
                res.remove(&ext.id);
            }
            None => {}
        }
    }
    if let Some(Value::Array(old)) = res.get("schemas") {
        for s in old {
            if let Some(u) = s.as_str() {
                if !schema.knows_schema(u) && res.contains_key(u) {
                    schemas.push(s.clone());
                }
            }
        }
    }
    res.insert("schemas".into(), Value::Array(schemas));
}

fn apply_one(res: &mut Map<String, Value>, op: &PatchOperation, schema: &ResourceSchema) -> Result<(), ScimError> {
    match &op.path {
        Some(path) => apply_path(res, op.op, path, op.value.as_ref(), schema, false),
        None => {
            let Some(Value::Object(values)) = &op.value else {
                return Err(ScimError::invalid_value("a PATCH operation without 'path' needs an object 'value'"));
            };
            for (key, v) in values {
                if key.eq_ignore_ascii_case("schemas") {
                    continue;
                }
                // Core attributes as one object keyed by the core schema's URN.
                if key.eq_ignore_ascii_case(&schema.core.id) {
                    let Value::Object(inner) = v else {
                        return Err(ScimError::invalid_value(format!("'{key}' must be an object")));
                    };
                    for (k, v2) in inner {
                        if k.eq_ignore_ascii_case("schemas") {
                            continue;
                        }
                        let path = PatchPath {
                            attr: AttrPath::parse(k)
                                .map_err(|e| ScimError::invalid_path(format!("'{key}:{k}': {e}")))?,
                            filter: None,
                            sub_after_filter: None,
                        };
                        apply_path(res, op.op, &path, Some(v2), schema, true)?;
                    }
                    continue;
                }
                // An extension's attributes as one object.
                if let Some(ext) = schema.extension(key) {
                    let Value::Object(inner) = v else {
                        return Err(ScimError::invalid_value(format!("'{key}' must be an object")));
                    };
                    for (k, v2) in inner {
                        let path = PatchPath {
                            attr: AttrPath::parse(k)
                                .map(|mut p| {
                                    p.urn = Some(ext.id.clone());
                                    p
                                })
                                .map_err(|e| ScimError::invalid_path(format!("'{key}:{k}': {e}")))?,
                            filter: None,
                            sub_after_filter: None,
                        };
                        apply_path(res, op.op, &path, Some(v2), schema, true)?;
                    }
                    continue;
                }
                let path = PatchPath {
                    attr: AttrPath::parse(key).map_err(|e| ScimError::invalid_path(format!("'{key}': {e}")))?,
                    filter: None,
                    sub_after_filter: None,
                };
                apply_path(res, op.op, &path, Some(v), schema, true)?;
            }
            Ok(())
        }
    }
}

fn apply_path(
    res: &mut Map<String, Value>,
    kind: PatchOpKind,
    path: &PatchPath,
    value: Option<&Value>,
    schema: &ResourceSchema,
    pathless: bool,
) -> Result<(), ScimError> {
    // A path naming a whole extension: its attributes, as one object.
    if path.filter.is_none() && path.attr.sub.is_none() {
        if let Some(ext) = path.attr.urn.as_ref().and_then(|u| schema.extension(&format!("{u}:{}", path.attr.name))) {
            let ext_id = ext.id.clone();
            if kind == PatchOpKind::Remove {
                res.remove(&ext_id);
                return Ok(());
            }
            let Some(Value::Object(inner)) = value else {
                return Err(ScimError::invalid_value(format!("'{ext_id}' takes an object of its attributes")));
            };
            for (k, v) in inner {
                if k.eq_ignore_ascii_case("schemas") {
                    continue;
                }
                let attr = AttrPath::parse(k)
                    .map(|mut p| {
                        p.urn = Some(ext_id.clone());
                        p
                    })
                    .map_err(|e| ScimError::invalid_path(format!("'{ext_id}:{k}': {e}")))?;
                apply_path(
                    res,
                    kind,
                    &PatchPath { attr, filter: None, sub_after_filter: None },
                    Some(v),
                    schema,
                    true,
                )?;
            }
            return Ok(());
        }
    }
    let resolved = path.attr.resolve(schema).map_err(|e| ScimError::invalid_path(format!("'{path}': {e}")))?;
    let attr = resolved.attr;
    let canonical = resolved.path.clone();
    let target = resolved.target();

    // Write-only attributes (`password`) are accepted and dropped, as on POST and PUT: Roster
    // signs people in through their IdP and never keeps a password (Okta's password sync sends
    // `{"op":"replace","value":{"password":"…"}}`).
    let write_only = |a: &Attribute| a.mutability == Mutability::WriteOnly || a.returned == Returned::Never;
    if write_only(attr) || write_only(target) {
        return Ok(());
    }

    // Read-only attributes: refused, except unchanged repeats in path-less values (Okta).
    if attr.mutability == Mutability::ReadOnly || target.mutability == Mutability::ReadOnly || attr.name == "schemas" {
        if pathless && kind != PatchOpKind::Remove {
            let current = current_value(res, &canonical);
            if current.is_some() && current == value {
                return Ok(());
            }
            if attr.name == "schemas" {
                return Ok(());
            }
        }
        return Err(ScimError::mutability(format!("'{canonical}' is read-only")));
    }

    let filter = match &path.filter {
        Some(f) => {
            if attr.ty != AttributeType::Complex {
                return Err(ScimError::invalid_path(format!(
                    "'{canonical}' is not complex, so it takes no value filter"
                )));
            }
            Some(wrap_filter(f, &canonical).resolve(schema).map_err(|e| ScimError::invalid_path(e.detail))?)
        }
        None => None,
    };
    let sub_after = match &path.sub_after_filter {
        Some(s) => {
            let sub = attr
                .sub(s)
                .ok_or_else(|| ScimError::invalid_path(format!("'{canonical}' has no sub-attribute '{s}'")))?;
            if sub.mutability == Mutability::ReadOnly {
                return Err(ScimError::mutability(format!("'{canonical}.{}' is read-only", sub.name)));
            }
            Some(sub)
        }
        None => None,
    };

    let container = canonical.container_mut(res);
    match (filter, resolved.sub) {
        (Some(filter), _) => {
            let Filter::ValuePath { filter: inner, .. } = filter else {
                unreachable!("wrap_filter builds a value path")
            };
            apply_filtered(container, kind, attr, &inner, sub_after, value, &canonical)
        }
        (None, Some(sub)) => apply_sub(container, kind, attr, sub, value, &canonical),
        (None, None) => apply_attr(container, kind, attr, value, &canonical),
    }
}

/// `members[value eq "x"]` as the filter `members[value eq "x"]`, so the filter module resolves
/// the inner expression against the attribute's sub-attributes.
fn wrap_filter(inner: &Filter, path: &AttrPath) -> Filter {
    Filter::ValuePath { path: path.parent(), filter: Box::new(inner.clone()) }
}

fn current_value<'v>(res: &'v Map<String, Value>, path: &AttrPath) -> Option<&'v Value> {
    let container = match &path.urn {
        Some(urn) => res.get(urn)?.as_object()?,
        None => res,
    };
    let top = container.get(&path.name)?;
    match &path.sub {
        Some(s) => top.get(s),
        None => Some(top),
    }
}

fn check_mutable(attr: &Attribute, existing: Option<&Value>, new: &Value, label: &AttrPath) -> Result<(), ScimError> {
    if attr.mutability == Mutability::Immutable && !attr.multi_valued {
        if let Some(old) = existing {
            if old != new {
                return Err(ScimError::mutability(format!("'{label}' is immutable and cannot be changed")));
            }
        }
    }
    Ok(())
}

/// Whole attribute: `path: "emails"`, `"nickName"`, `"name"`, or a key of a path-less value.
fn apply_attr(
    container: &mut Map<String, Value>,
    kind: PatchOpKind,
    attr: &Attribute,
    value: Option<&Value>,
    label: &AttrPath,
) -> Result<(), ScimError> {
    let name = attr.name.clone();
    if kind == PatchOpKind::Remove {
        if attr.required {
            return Err(ScimError::mutability(format!("'{label}' is required and cannot be removed")));
        }
        match (attr.multi_valued, value) {
            // Okta: remove these values.
            (true, Some(v)) if !v.is_null() => {
                let remove = check_value(attr, v, label)?;
                let remove: Vec<Value> = remove.as_array().cloned().unwrap_or_default();
                if let Some(Value::Array(items)) = container.get_mut(&name) {
                    items.retain(|item| !remove.iter().any(|r| same_value(attr, item, r)));
                    if items.is_empty() {
                        container.remove(&name);
                    }
                }
            }
            _ => {
                container.remove(&name);
            }
        }
        return Ok(());
    }
    let value = value.ok_or_else(|| ScimError::invalid_value(format!("'{label}' needs a value")))?;
    let new = check_value(attr, value, label)?;
    check_mutable(attr, container.get(&name), &new, label)?;
    if new.is_null() {
        // Setting null unassigns (RFC 7644 section 3.5.2.3 for replace; add of null is a no-op).
        if kind == PatchOpKind::Replace {
            container.remove(&name);
        }
        return Ok(());
    }
    match (attr.multi_valued, attr.ty, kind) {
        (true, _, PatchOpKind::Add) => {
            let new_items = new.as_array().cloned().unwrap_or_default();
            let sets_primary = new_items.iter().any(is_primary);
            let entry = container.entry(name).or_insert_with(|| Value::Array(Vec::new()));
            let items = ensure_array(entry);
            if sets_primary {
                clear_primary(items);
            }
            for item in new_items {
                if let Some(existing) = items.iter_mut().find(|e| same_value(attr, e, &item)) {
                    if let (Value::Object(e), Value::Object(n)) = (existing, &item) {
                        for (k, v) in n {
                            e.insert(k.clone(), v.clone());
                        }
                    }
                } else {
                    items.push(item);
                }
            }
        }
        (true, _, _) => {
            container.insert(name, new);
        }
        (false, AttributeType::Complex, _) => {
            // Sub-attributes given replace or add; the others stay (RFC 7644 3.5.2.1 and 3.5.2.3).
            let entry = container.entry(name).or_insert_with(|| Value::Object(Map::new()));
            // A reference to another resource (`manager`) is replaced whole: its `$ref` would
            // still point at the previous one.
            if !entry.is_object()
                || (is_reference(attr) && new.get("value").is_some() && entry.get("value") != new.get("value"))
            {
                *entry = Value::Object(Map::new());
            }
            if let (Value::Object(e), Value::Object(n)) = (entry, new) {
                for (k, v) in n {
                    e.insert(k, v);
                }
            }
        }
        (false, _, _) => {
            container.insert(name, new);
        }
    }
    Ok(())
}

/// Sub-attribute without filter: `name.givenName`, `emails.value` (every value).
fn apply_sub(
    container: &mut Map<String, Value>,
    kind: PatchOpKind,
    attr: &Attribute,
    sub: &Attribute,
    value: Option<&Value>,
    label: &AttrPath,
) -> Result<(), ScimError> {
    let name = attr.name.clone();
    let new = match (kind, value) {
        (PatchOpKind::Remove, _) => None,
        (_, Some(v)) => Some(check_value(sub, v, label)?),
        (_, None) => return Err(ScimError::invalid_value(format!("'{label}' needs a value"))),
    };
    if attr.multi_valued {
        let Some(Value::Array(items)) = container.get_mut(&name) else {
            return match kind {
                PatchOpKind::Remove => Ok(()),
                _ => Err(ScimError::no_target(format!("'{label}': '{}' has no values to change", attr.name))),
            };
        };
        for item in items.iter_mut() {
            if let Value::Object(obj) = item {
                set_or_remove(obj, sub, new.clone(), label)?;
            }
        }
        items.retain(|i| i.as_object().is_some_and(|o| !o.is_empty()));
        if items.is_empty() {
            container.remove(&name);
        }
        if sub.name == "primary" {
            normalize_primary(container.get_mut(&name));
        }
        return Ok(());
    }
    let entry = container.entry(name.clone()).or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    if let Value::Object(obj) = entry {
        set_or_remove(obj, sub, new, label)?;
        if obj.is_empty() {
            container.remove(&name);
        }
    }
    Ok(())
}

fn set_or_remove(
    obj: &mut Map<String, Value>,
    sub: &Attribute,
    new: Option<Value>,
    label: &AttrPath,
) -> Result<(), ScimError> {
    match new {
        None | Some(Value::Null) => {
            obj.remove(&sub.name);
        }
        Some(v) => {
            check_mutable(sub, obj.get(&sub.name), &v, label)?;
            obj.insert(sub.name.clone(), v);
        }
    }
    Ok(())
}

/// Filtered: `emails[type eq "work"]`, `emails[type eq "work"].value`, `members[value eq "x"]`.
#[allow(clippy::too_many_arguments)]
fn apply_filtered(
    container: &mut Map<String, Value>,
    kind: PatchOpKind,
    attr: &Attribute,
    inner: &Filter,
    sub_after: Option<&Attribute>,
    value: Option<&Value>,
    label: &AttrPath,
) -> Result<(), ScimError> {
    let name = attr.name.clone();
    let display = || match sub_after {
        Some(s) => format!("{label}[{inner}].{}", s.name),
        None => format!("{label}[{inner}]"),
    };

    if !attr.multi_valued {
        // A single complex attribute with a filter: it is the target if it matches.
        let hit = container.get(&name).is_some_and(|v| inner.matches_value(v, attr));
        if !hit {
            return match kind {
                PatchOpKind::Remove => Ok(()),
                _ => Err(ScimError::no_target(format!("'{}' matches no value", display()))),
            };
        }
        return match sub_after {
            Some(sub) => apply_sub(container, kind, attr, sub, value, label),
            None => apply_attr(container, kind, attr, value, label),
        };
    }

    let items: Vec<Value> = match container.remove(&name) {
        Some(Value::Array(items)) => items,
        Some(other) => vec![other],
        None => Vec::new(),
    };
    let hits: Vec<usize> =
        items.iter().enumerate().filter(|(_, v)| inner.matches_value(v, attr)).map(|(i, _)| i).collect();
    let mut items = items;
    // The indices written by add/replace, for the primary rule.
    let mut written: Vec<usize> = hits.clone();

    match kind {
        PatchOpKind::Remove => {
            if let Some(sub) = sub_after {
                for &i in &hits {
                    if let Some(Value::Object(obj)) = items.get_mut(i) {
                        obj.remove(&sub.name);
                    }
                }
                items.retain(|i| i.as_object().is_some_and(|o| !o.is_empty()));
            } else {
                let mut i = 0;
                items.retain(|_| {
                    let keep = !hits.contains(&i);
                    i += 1;
                    keep
                });
            }
        }
        PatchOpKind::Add | PatchOpKind::Replace => {
            let value = value.ok_or_else(|| ScimError::invalid_value(format!("'{}' needs a value", display())))?;
            match sub_after {
                Some(sub) => {
                    let new = check_value(sub, value, &format_args!("{label}.{}", sub.name))?;
                    if hits.is_empty() {
                        // Create the value the filter describes (Entra ID).
                        let mut obj = implied_value(inner)
                            .ok_or_else(|| ScimError::no_target(format!("'{}' matches no value", display())))?;
                        if !new.is_null() {
                            obj.insert(sub.name.clone(), new);
                        }
                        written = vec![items.len()];
                        items.push(Value::Object(obj));
                    } else {
                        for &i in &hits {
                            if let Some(Value::Object(obj)) = items.get_mut(i) {
                                set_or_remove(obj, sub, Some(new.clone()), label)?;
                            }
                        }
                    }
                }
                None => {
                    let new = check_value(attr, value, label)?;
                    let new_items: Vec<Value> = new.as_array().cloned().unwrap_or_default();
                    let Some(first) = new_items.into_iter().next() else {
                        return Err(ScimError::invalid_value(format!("'{}' needs a value", display())));
                    };
                    if hits.is_empty() {
                        if kind == PatchOpKind::Replace && implied_value(inner).is_none() {
                            return Err(ScimError::no_target(format!("'{}' matches no value", display())));
                        }
                        let mut obj = implied_value(inner).unwrap_or_default();
                        if let Value::Object(n) = first {
                            obj.extend(n);
                        }
                        written = vec![items.len()];
                        items.push(Value::Object(obj));
                    } else {
                        for &i in &hits {
                            let slot = &mut items[i];
                            match (kind, slot, &first) {
                                (PatchOpKind::Add, Value::Object(e), Value::Object(n)) => {
                                    e.extend(n.clone());
                                }
                                (_, slot, _) => *slot = first.clone(),
                            }
                        }
                    }
                }
            }
            // Setting `primary: true` on the values written clears it on the others.
            if written.iter().any(|&i| items.get(i).is_some_and(is_primary)) {
                for (i, item) in items.iter_mut().enumerate() {
                    if !written.contains(&i) {
                        if let Value::Object(o) = item {
                            o.remove("primary");
                        }
                    }
                }
            }
        }
    }
    if items.is_empty() {
        container.remove(&name);
    } else {
        container.insert(name, Value::Array(items));
    }
    Ok(())
}

/// The value a filter of `eq` comparisons joined by `and` describes: `type eq "work"` is
/// `{"type": "work"}`. `None` for any other filter.
fn implied_value(filter: &Filter) -> Option<Map<String, Value>> {
    let mut out = Map::new();
    fn walk(f: &Filter, out: &mut Map<String, Value>) -> bool {
        match f {
            Filter::And(terms) => terms.iter().all(|t| walk(t, out)),
            Filter::Compare { path, op: CompareOp::Eq, value } if path.urn.is_none() && path.sub.is_none() => {
                let v = match value {
                    CompValue::Str(s) => Value::String(s.clone()),
                    CompValue::Num(n) => Value::Number(n.clone()),
                    CompValue::Bool(b) => Value::Bool(*b),
                    CompValue::Null => return false,
                };
                out.insert(path.name.clone(), v);
                true
            }
            _ => false,
        }
    }
    walk(filter, &mut out).then_some(out)
}

fn ensure_array(v: &mut Value) -> &mut Vec<Value> {
    if !v.is_array() {
        let old = std::mem::take(v);
        *v = Value::Array(if old.is_null() { Vec::new() } else { vec![old] });
    }
    match v {
        Value::Array(a) => a,
        _ => unreachable!("just made an array"),
    }
}

fn is_primary(v: &Value) -> bool {
    v.get("primary") == Some(&Value::Bool(true))
}

fn clear_primary(items: &mut [Value]) {
    for item in items {
        if let Value::Object(o) = item {
            o.remove("primary");
        }
    }
}

fn normalize_primary(v: Option<&mut Value>) {
    if let Some(Value::Array(items)) = v {
        let mut seen = false;
        for item in items.iter_mut().rev() {
            if is_primary(item) {
                if seen {
                    if let Value::Object(o) = item {
                        o.remove("primary");
                    }
                }
                seen = true;
            }
        }
    }
}

/// Whether two values of a multi-valued attribute are the same value: complex values with a
/// `value` sub-attribute are compared by it (respecting caseExact), others as a whole.
fn same_value(attr: &Attribute, a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => match (attr.sub("value"), x.get("value"), y.get("value")) {
            (Some(sub), Some(Value::String(vx)), Some(Value::String(vy))) => {
                if sub.case_exact {
                    vx == vy
                } else {
                    vx.eq_ignore_ascii_case(vy) && x.get("type") == y.get("type")
                }
            }
            (_, Some(vx), Some(vy)) => vx == vy,
            _ => x == y,
        },
        (Value::String(x), Value::String(y)) if !attr.case_exact => x.eq_ignore_ascii_case(y),
        _ => a == b,
    }
}

#[cfg(test)]
mod tests;
