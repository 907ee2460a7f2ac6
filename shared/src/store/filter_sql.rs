//! SCIM filters compiled to SQL, one compiler with two dialects (SQLite's JSON1 functions and
//! PostgreSQL's jsonb operators), so a filter never loads a tenant's resources into memory.
//!
//! The in-memory evaluator in `scim::filter` is the reference; this compiler follows its
//! semantics (tests check both agree on the same data):
//! * every leaf is made two-valued with `COALESCE(…, FALSE)`, so `ne` is `NOT eq` and an absent
//!   attribute is "not equal";
//! * case-insensitive strings compare ASCII-lower-cased (SQLite's `lower`, PostgreSQL's `lower`
//!   under the "C" collation) and in byte order;
//! * multi-valued attributes and value paths become `EXISTS` over the JSON array's elements;
//! * the attributes IdPs filter and sort on use indexed columns normalized in Rust.
//!
//! Attribute names are written into the SQL text; they come from the schema after
//! resolution (letters, digits, `-`, `_`, `$`, and schema URNs), never from the client. Values
//! are always bound parameters.

use crate::scim::error::ScimError;
use crate::scim::filter::{CompValue, CompareOp, Filter};
use crate::scim::path::AttrPath;
use crate::scim::schema::{Attribute, AttributeType, ResourceSchema};

/// The SQL dialect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

/// A bound parameter.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Arg {
    Text(String),
    Int(i64),
    Real(f64),
    Bool(bool),
}

/// The parameters of SQL being built.
#[derive(Clone, Debug)]
pub(crate) struct Sql {
    pub dialect: Dialect,
    pub args: Vec<Arg>,
}

impl Sql {
    pub fn new(dialect: Dialect) -> Self {
        Sql { dialect, args: Vec::new() }
    }

    /// Adds a parameter; returns its placeholder.
    pub fn arg(&mut self, a: Arg) -> String {
        self.args.push(a);
        format!("${}", self.args.len())
    }
}

/// Which table a filter runs against (the row alias is `t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Table {
    Users,
    Groups,
}

/// ASCII lower-casing: the case folding both the evaluator and the SQL use.
pub(crate) fn fold(s: &str) -> String {
    s.to_ascii_lowercase()
}

fn like_pattern(s: &str, op: CompareOp) -> String {
    let mut escaped = String::with_capacity(s.len() + 2);
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    match op {
        CompareOp::Co => format!("%{escaped}%"),
        CompareOp::Sw => format!("{escaped}%"),
        _ => format!("%{escaped}"),
    }
}

fn quote_key(k: &str) -> String {
    k.replace('\'', "''").replace('"', "")
}

/// Where a value lives: the row's JSON document, or one element of a JSON array.
#[derive(Clone, Copy)]
enum Base<'a> {
    /// `t.data`
    Row,
    /// The element alias of an `EXISTS` over a JSON array (`e1`, `e2`, …).
    Element(&'a str),
}

struct Compiler<'s> {
    sql: Sql,
    schema: &'s ResourceSchema,
    table: Table,
    depth: usize,
    /// The estimated cost so far (see [`MAX_FILTER_COST`]).
    cost: u32,
    /// How many `EXISTS` over JSON arrays enclose the leaf being compiled.
    arrays: u32,
}

/// The most a filter may cost, in the units of [`Compiler::charge`]: a comparison on an indexed
/// column costs 1 (2 for `sw`, 3 for `co`/`ew`, which scan the column), one inside the JSON
/// document 4 (8 for substrings), and each enclosing multi-valued attribute multiplies by 3
/// (its elements are unpacked per row). A hundred indexed terms fit; about eight substring
/// searches over emails or addresses do. A tenant whose filter costs more gets `invalidFilter`
/// saying so, instead of holding a connection while it scans every row many times over.
pub(crate) const MAX_FILTER_COST: u32 = 200;

/// From this cost on a filter cannot be answered from an index alone: it scans the tenant's
/// rows, so it runs under the expensive-query limits (its own connections, a statement
/// timeout, a few at a time per tenant).
pub(crate) const EXPENSIVE_FILTER_COST: u32 = 3;

impl<'s> Compiler<'s> {
    fn d(&self) -> Dialect {
        self.sql.dialect
    }

    /// A text-valued expression for a JSON path under a base.
    fn json_text(&self, base: Base<'_>, keys: &[&str]) -> String {
        match (self.d(), base) {
            (Dialect::Sqlite, Base::Row) => format!("json_extract(t.data, '{}')", sqlite_path(keys)),
            (Dialect::Sqlite, Base::Element(e)) if keys.is_empty() => format!("{e}.value"),
            (Dialect::Sqlite, Base::Element(e)) => format!("json_extract({e}.value, '{}')", sqlite_path(keys)),
            (Dialect::Postgres, Base::Row) => format!("(t.data #>> '{}')", pg_path(keys)),
            (Dialect::Postgres, Base::Element(e)) if keys.is_empty() => format!("({e}.v #>> '{{}}')"),
            (Dialect::Postgres, Base::Element(e)) => format!("({e}.v #>> '{}')", pg_path(keys)),
        }
    }

    /// The JSON type name of a path ('object', 'array', …, or NULL when absent).
    fn json_type(&self, base: Base<'_>, keys: &[&str]) -> String {
        match (self.d(), base) {
            (Dialect::Sqlite, Base::Row) => format!("json_type(t.data, '{}')", sqlite_path(keys)),
            (Dialect::Sqlite, Base::Element(e)) => format!("json_type({e}.value, '{}')", sqlite_path(keys)),
            (Dialect::Postgres, Base::Row) => format!("jsonb_typeof(t.data #> '{}')", pg_path(keys)),
            (Dialect::Postgres, Base::Element(e)) => format!("jsonb_typeof({e}.v #> '{}')", pg_path(keys)),
        }
    }

    /// `FROM <elements of the JSON array at keys> AS alias`, the element being JSON.
    fn elements(&self, base: Base<'_>, keys: &[&str], alias: &str) -> String {
        match (self.d(), base) {
            (Dialect::Sqlite, Base::Row) => format!("json_each(t.data, '{}') AS {alias}", sqlite_path(keys)),
            (Dialect::Sqlite, Base::Element(e)) => {
                format!("json_each({e}.value, '{}') AS {alias}", sqlite_path(keys))
            }
            (Dialect::Postgres, Base::Row) => {
                format!("jsonb_array_elements(CASE WHEN jsonb_typeof(t.data #> '{p}') = 'array' THEN t.data #> '{p}' ELSE '[]'::jsonb END) AS {alias}(v)", p = pg_path(keys))
            }
            (Dialect::Postgres, Base::Element(e)) => {
                format!("jsonb_array_elements(CASE WHEN jsonb_typeof({e}.v #> '{p}') = 'array' THEN {e}.v #> '{p}' ELSE '[]'::jsonb END) AS {alias}(v)", p = pg_path(keys))
            }
        }
    }

    /// Adds a leaf's cost, multiplied for each enclosing JSON array.
    fn charge(&mut self, base: u32) {
        self.cost = self.cost.saturating_add(base.saturating_mul(3u32.saturating_pow(self.arrays)));
    }

    fn next_alias(&mut self) -> String {
        self.depth += 1;
        format!("e{}", self.depth)
    }

    fn compile(&mut self, f: &Filter) -> Result<String, ScimError> {
        self.node(f, Scope::Resource)
    }

    fn node(&mut self, f: &Filter, scope: Scope<'s, '_>) -> Result<String, ScimError> {
        Ok(match f {
            Filter::And(terms) => self.chain(terms, " AND ", |c, t| c.node(t, scope))?,
            Filter::Or(terms) => self.chain(terms, " OR ", |c, t| c.node(t, scope))?,
            Filter::Not(a) => format!("(NOT {})", self.node(a, scope)?),
            Filter::Present(path) => self.present(path, scope)?,
            Filter::Compare { path, op: CompareOp::Eq, value: CompValue::Null } => {
                format!("(NOT {})", self.present(path, scope)?)
            }
            Filter::Compare { path, op: CompareOp::Ne, value } => {
                format!("(NOT {})", self.compare(path, CompareOp::Eq, value, scope)?)
            }
            Filter::Compare { path, op, value } => self.compare(path, *op, value, scope)?,
            Filter::ValuePath { path, filter } => self.value_path(path, filter, scope)?,
        })
    }

    /// `(a AND b AND …)` from the terms of an n-ary node.
    fn chain(
        &mut self,
        terms: &[Filter],
        sep: &str,
        mut each: impl FnMut(&mut Self, &Filter) -> Result<String, ScimError>,
    ) -> Result<String, ScimError> {
        let parts = terms.iter().map(|t| each(self, t)).collect::<Result<Vec<_>, _>>()?;
        Ok(format!("({})", parts.join(sep)))
    }

    fn attr_of(
        &self,
        path: &AttrPath,
        scope: Scope<'s, '_>,
    ) -> Result<(&'s Attribute, Option<&'s Attribute>), ScimError> {
        match scope {
            Scope::Resource => {
                let top = self
                    .schema
                    .find(path.urn.as_deref(), &path.name)
                    .ok_or_else(|| ScimError::invalid_filter(format!("unknown attribute '{path}'")))?
                    .attribute;
                let sub = match &path.sub {
                    Some(s) => Some(
                        top.sub(s).ok_or_else(|| ScimError::invalid_filter(format!("unknown attribute '{path}'")))?,
                    ),
                    None => None,
                };
                Ok((top, sub))
            }
            Scope::Element { parent, .. } => {
                let a = parent
                    .sub(&path.name)
                    .ok_or_else(|| ScimError::invalid_filter(format!("unknown attribute '{path}'")))?;
                Ok((a, None))
            }
        }
    }

    /// The JSON keys of a path within the row document.
    fn keys(path: &AttrPath) -> Vec<&str> {
        let mut keys = Vec::with_capacity(3);
        if let Some(urn) = &path.urn {
            keys.push(urn.as_str());
        }
        keys.push(path.name.as_str());
        keys
    }

    /// An indexed column for a top-level path, if there is one: (expression, kind).
    fn column(&self, path: &AttrPath) -> Option<(&'static str, ColumnKind)> {
        if path.urn.is_some() {
            return None;
        }
        let name = path.name.as_str();
        let sub = path.sub.as_deref();
        match (self.table, name, sub) {
            (_, "id", None) => Some(("t.id", ColumnKind::ExactText)),
            (_, "externalId", None) => Some(("t.external_id", ColumnKind::ExactText)),
            (_, "meta", Some("created")) => Some(("t.created_at", ColumnKind::EpochMs)),
            (Table::Users, "meta", Some("lastModified")) => Some(("t.updated_at", ColumnKind::UserLastChange)),
            (Table::Groups, "meta", Some("lastModified")) => Some(("t.updated_at", ColumnKind::EpochMs)),
            (Table::Users, "meta", Some("resourceType")) => Some(("'user'", ColumnKind::FoldedText)),
            (Table::Groups, "meta", Some("resourceType")) => Some(("'group'", ColumnKind::FoldedText)),
            (Table::Users, "userName", None) => Some(("t.user_name_norm", ColumnKind::FoldedText)),
            (Table::Users, "displayName", None) => Some(("t.display_name_norm", ColumnKind::FoldedText)),
            (Table::Users, "active", None) => Some(("t.active", ColumnKind::Bool)),
            (Table::Groups, "displayName", None) => Some(("t.display_name_norm", ColumnKind::FoldedText)),
            _ => None,
        }
    }

    fn present(&mut self, path: &AttrPath, scope: Scope<'s, '_>) -> Result<String, ScimError> {
        let (top, sub) = self.attr_of(path, scope)?;
        if let (Scope::Resource, Some((col, _))) = (scope, self.column(path)) {
            self.charge(1);
            return Ok(format!("COALESCE(({col}) IS NOT NULL AND CAST(({col}) AS TEXT) <> '', FALSE)"));
        }
        self.unsupported(path, top)?;
        let target = sub.unwrap_or(top);
        self.leaf(
            path,
            scope,
            top,
            sub,
            &mut |c: &mut Compiler<'s>, expr: &str, kind: LeafKind| {
                c.charge(4);
                Ok(match kind {
                    LeafKind::Scalar => {
                        format!("COALESCE(({expr}) IS NOT NULL AND CAST(({expr}) AS TEXT) <> '', FALSE)")
                    }
                    LeafKind::Object(t) => format!("COALESCE({t} = 'object', FALSE)"),
                })
            },
            target.ty == AttributeType::Complex,
        )
    }

    fn unsupported(&self, path: &AttrPath, top: &Attribute) -> Result<(), ScimError> {
        if path.urn.is_none() && matches!(top.name.as_str(), "groups" | "members" | "meta") {
            return Err(ScimError::invalid_filter(format!("filtering on '{path}' is not supported here")));
        }
        Ok(())
    }

    fn compare(
        &mut self,
        path: &AttrPath,
        op: CompareOp,
        value: &CompValue,
        scope: Scope<'s, '_>,
    ) -> Result<String, ScimError> {
        let (top, sub) = self.attr_of(path, scope)?;
        let target = sub.unwrap_or(top);
        if let (Scope::Resource, Some((col, kind))) = (scope, self.column(path)) {
            return self.compare_column(col, kind, op, value);
        }
        if self.table == Table::Groups && scope.is_resource() && path.urn.is_none() && top.name == "members" {
            return self.members_exists(&Filter::Compare {
                path: AttrPath::attr(path.sub.as_deref().unwrap_or("value")),
                op,
                value: value.clone(),
            });
        }
        self.unsupported(path, top)?;
        self.leaf(
            path,
            scope,
            top,
            sub,
            &mut |c: &mut Compiler<'s>, expr: &str, _kind: LeafKind| c.compare_expr(expr, target, op, value),
            false,
        )
    }

    /// Builds the condition for the scalar(s) a path yields, with `EXISTS` over arrays.
    #[allow(clippy::type_complexity)]
    fn leaf(
        &mut self,
        path: &AttrPath,
        scope: Scope<'s, '_>,
        top: &Attribute,
        sub: Option<&Attribute>,
        cond: &mut dyn FnMut(&mut Compiler<'s>, &str, LeafKind) -> Result<String, ScimError>,
        object_target: bool,
    ) -> Result<String, ScimError> {
        let (base, mut keys): (Base<'_>, Vec<&str>) = match scope {
            Scope::Resource => (Base::Row, Self::keys(path)),
            Scope::Element { alias, .. } => (Base::Element(alias), vec![path.name.as_str()]),
        };
        if top.multi_valued {
            let alias = self.next_alias();
            let from = self.elements(base, &keys, &alias);
            let inner_keys: Vec<&str> = sub.map(|s| vec![s.name.as_str()]).unwrap_or_default();
            let el = Base::Element(&alias);
            let expr = self.json_text(el, &inner_keys);
            let kind = if object_target { LeafKind::Object(self.json_type(el, &inner_keys)) } else { LeafKind::Scalar };
            self.arrays += 1;
            let c = cond(self, &expr, kind);
            self.arrays -= 1;
            let c = c?;
            return Ok(format!("EXISTS (SELECT 1 FROM {from} WHERE {c})"));
        }
        if let Some(s) = sub {
            keys.push(s.name.as_str());
        }
        let expr = self.json_text(base, &keys);
        let kind = if object_target { LeafKind::Object(self.json_type(base, &keys)) } else { LeafKind::Scalar };
        cond(self, &expr, kind)
    }

    fn value_path(&mut self, path: &AttrPath, inner: &Filter, scope: Scope<'s, '_>) -> Result<String, ScimError> {
        let (top, _) = self.attr_of(path, scope)?;
        if self.table == Table::Groups && scope.is_resource() && path.urn.is_none() && top.name == "members" {
            return self.members_exists(inner);
        }
        self.unsupported(path, top)?;
        let (base, keys): (Base<'_>, Vec<&str>) = match scope {
            Scope::Resource => (Base::Row, Self::keys(path)),
            Scope::Element { alias, .. } => (Base::Element(alias), vec![path.name.as_str()]),
        };
        let alias = self.next_alias();
        if top.multi_valued {
            let from = self.elements(base, &keys, &alias);
            self.arrays += 1;
            let c = self.node(inner, Scope::Element { parent: top, alias: &alias });
            self.arrays -= 1;
            let c = c?;
            Ok(format!("EXISTS (SELECT 1 FROM {from} WHERE {c})"))
        } else {
            // A single complex attribute: the inner filter applies to the object itself.
            let obj = match (self.d(), base) {
                (Dialect::Sqlite, Base::Row) => {
                    format!("(SELECT json_extract(t.data, '{}') AS value)", sqlite_path(&keys))
                }
                (Dialect::Sqlite, Base::Element(e)) => {
                    format!("(SELECT json_extract({e}.value, '{}') AS value)", sqlite_path(&keys))
                }
                (Dialect::Postgres, Base::Row) => format!("(SELECT t.data #> '{}' AS v)", pg_path(&keys)),
                (Dialect::Postgres, Base::Element(e)) => format!("(SELECT {e}.v #> '{}' AS v)", pg_path(&keys)),
            };
            let c = self.node(inner, Scope::Element { parent: top, alias: &alias })?;
            Ok(format!("EXISTS (SELECT 1 FROM {obj} AS {alias} WHERE {c})"))
        }
    }

    /// Group members live in `scim_group_members`: `value` is `member_id`, `type` is
    /// `member_type`.
    fn members_exists(&mut self, inner: &Filter) -> Result<String, ScimError> {
        let c = self.member_cond(inner)?;
        Ok(format!(
            "EXISTS (SELECT 1 FROM scim_group_members m WHERE m.tenant_id = t.tenant_id AND m.group_id = t.id AND {c})"
        ))
    }

    fn member_cond(&mut self, f: &Filter) -> Result<String, ScimError> {
        Ok(match f {
            Filter::And(terms) => self.chain(terms, " AND ", Self::member_cond)?,
            Filter::Or(terms) => self.chain(terms, " OR ", Self::member_cond)?,
            Filter::Not(a) => format!("(NOT {})", self.member_cond(a)?),
            Filter::Present(p) => match p.name.as_str() {
                "value" | "type" => "TRUE".to_string(),
                other => {
                    return Err(ScimError::invalid_filter(format!("filtering on members.{other} is not supported")))
                }
            },
            Filter::Compare { path, op, value } => {
                let (col, kind) = match path.name.as_str() {
                    "value" => ("m.member_id", ColumnKind::ExactText),
                    "type" => ("m.member_type", ColumnKind::FoldedColumn),
                    other => {
                        return Err(ScimError::invalid_filter(format!("filtering on members.{other} is not supported")))
                    }
                };
                match (op, value) {
                    (CompareOp::Eq, CompValue::Null) => "FALSE".to_string(),
                    (CompareOp::Ne, CompValue::Null) => "TRUE".to_string(),
                    (CompareOp::Ne, v) => format!("(NOT {})", self.compare_column(col, kind, CompareOp::Eq, v)?),
                    (op, v) => self.compare_column(col, kind, *op, v)?,
                }
            }
            Filter::ValuePath { .. } => return Err(ScimError::invalid_filter("value filters cannot be nested")),
        })
    }

    fn text_op(&mut self, lhs: &str, op: CompareOp, lit: String) -> String {
        // Byte order for ordering comparisons on PostgreSQL whatever the database's locale;
        // equality is the same under every deterministic collation, and without the COLLATE
        // clause it can use the column's index.
        let pg = self.d() == Dialect::Postgres && !matches!(op, CompareOp::Eq | CompareOp::Ne);
        let c = if pg { " COLLATE \"C\"" } else { "" };
        match op {
            CompareOp::Co | CompareOp::Sw | CompareOp::Ew => {
                // Both sides are already folded where case is ignored; case-exact substring tests
                // never get here on SQLite (its LIKE ignores ASCII case), see exact_text.
                let p = self.sql.arg(Arg::Text(like_pattern(&lit, op)));
                format!("({lhs}) LIKE {p} ESCAPE '\\'")
            }
            _ => {
                let p = self.sql.arg(Arg::Text(lit));
                let sym = sql_op(op);
                format!("({lhs}){c} {sym} {p}{c}")
            }
        }
    }

    fn compare_column(
        &mut self,
        col: &str,
        kind: ColumnKind,
        op: CompareOp,
        value: &CompValue,
    ) -> Result<String, ScimError> {
        self.charge(match op {
            CompareOp::Co | CompareOp::Ew => 3,
            CompareOp::Sw => 2,
            _ => 1,
        });
        let cond = match (kind, value) {
            (ColumnKind::FoldedText, CompValue::Str(s)) => self.text_op(col, op, fold(s)),
            (ColumnKind::FoldedColumn, CompValue::Str(s)) => {
                let lhs = self.lower(col);
                self.text_op(&lhs, op, fold(s))
            }
            (ColumnKind::ExactText, CompValue::Str(s)) => self.exact_text(col, op, s),
            (ColumnKind::Bool, CompValue::Bool(b)) => {
                let p = self.sql.arg(Arg::Bool(*b));
                format!("{col} {} {p}", sql_op(op))
            }
            (ColumnKind::EpochMs | ColumnKind::UserLastChange, CompValue::Str(s)) => {
                let ms = crate::scim::filter::datetime_ms(s)
                    .ok_or_else(|| ScimError::invalid_filter(format!("'{s}' is not a dateTime")))?;
                let p = self.sql.arg(Arg::Int(ms));
                if matches!(kind, ColumnKind::UserLastChange) && self.d() == Dialect::Postgres {
                    // PostgreSQL keeps the users' order of last change in `user_updated`
                    // (migration 0033), not in an index of the row. The same test twice (the
                    // same transaction writes both columns; neither is ever NULL): the semi-join
                    // lets a count start from a range of `user_updated_order`, and the row's own
                    // column lets a page that walks another order test each row without a probe.
                    // At a million users and 6,300 matches: count 26 ms, page 23 ms; the
                    // semi-join alone took 227 ms for the page, the row's column alone 89 ms for
                    // the count (a scan of the tenant).
                    let o = sql_op(op);
                    return Ok(format!(
                        "({col} {o} {p} AND EXISTS (SELECT 1 FROM user_updated w WHERE w.tenant_id = t.tenant_id \
                         AND w.user_id = t.id AND w.updated_at {o} {p}))"
                    ));
                }
                format!("{col} {} {p}", sql_op(op))
            }
            _ => "FALSE".to_string(),
        };
        // Two-valued like the other leaves, but written so that the planner can still use the
        // column's index (it cannot see through COALESCE): the comparison's right side is never
        // NULL, so the result is NULL only when the column is.
        Ok(format!("({cond} AND {col} IS NOT NULL)"))
    }

    fn lower(&self, expr: &str) -> String {
        match self.d() {
            Dialect::Sqlite => format!("lower({expr})"),
            Dialect::Postgres => format!("lower(({expr}) COLLATE \"C\")"),
        }
    }

    /// Case-sensitive text comparison (LIKE folds case in SQLite, so substring tests use
    /// `instr`/`substr` there).
    fn exact_text(&mut self, lhs: &str, op: CompareOp, s: &str) -> String {
        match (self.d(), op) {
            (Dialect::Sqlite, CompareOp::Co) => {
                let p = self.sql.arg(Arg::Text(s.to_string()));
                format!("instr({lhs}, {p}) > 0")
            }
            (Dialect::Sqlite, CompareOp::Sw) => {
                let p = self.sql.arg(Arg::Text(s.to_string()));
                format!("substr({lhs}, 1, length({p})) = {p}")
            }
            (Dialect::Sqlite, CompareOp::Ew) => {
                let p = self.sql.arg(Arg::Text(s.to_string()));
                format!("(length({lhs}) >= length({p}) AND substr({lhs}, -length({p})) = {p})")
            }
            _ => self.text_op(lhs, op, s.to_string()),
        }
    }

    fn compare_expr(
        &mut self,
        expr: &str,
        attr: &Attribute,
        op: CompareOp,
        value: &CompValue,
    ) -> Result<String, ScimError> {
        self.charge(if matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew) { 8 } else { 4 });
        let cond = match (attr.ty, value) {
            (AttributeType::Boolean, CompValue::Bool(b)) => {
                // Canonical data stores JSON booleans: SQLite extracts 1/0, PostgreSQL 'true'/'false'.
                match self.d() {
                    Dialect::Sqlite => format!("({expr}) {} {}", sql_op(op), if *b { 1 } else { 0 }),
                    Dialect::Postgres => format!("({expr}) {} '{}'", sql_op(op), b),
                }
            }
            (AttributeType::Integer | AttributeType::Decimal, CompValue::Num(n)) => {
                let p = match (n.as_i64(), n.as_f64()) {
                    (Some(i), _) => self.sql.arg(Arg::Int(i)),
                    (None, Some(f)) => self.sql.arg(Arg::Real(f)),
                    _ => return Ok("FALSE".into()),
                };
                let lhs = match self.d() {
                    Dialect::Sqlite => expr.to_string(),
                    Dialect::Postgres => format!("CAST({expr} AS DOUBLE PRECISION)"),
                };
                let p = match self.d() {
                    Dialect::Sqlite => p,
                    Dialect::Postgres => format!("CAST({p} AS DOUBLE PRECISION)"),
                };
                format!("{lhs} {} {p}", sql_op(op))
            }
            (_, CompValue::Str(s)) if attr.case_exact => self.exact_text(expr, op, s),
            (_, CompValue::Str(s)) => {
                let lhs = self.lower(expr);
                self.text_op(&lhs, op, fold(s))
            }
            _ => "FALSE".to_string(),
        };
        Ok(format!("COALESCE({cond}, FALSE)"))
    }
}

#[derive(Clone, Copy)]
enum Scope<'s, 'a> {
    Resource,
    Element { parent: &'s Attribute, alias: &'a str },
}

impl Scope<'_, '_> {
    fn is_resource(&self) -> bool {
        matches!(self, Scope::Resource)
    }
}

#[derive(Clone, Copy, Debug)]
enum ColumnKind {
    /// Stored ASCII-lower-cased.
    FoldedText,
    /// Stored as sent; compared folded.
    FoldedColumn,
    /// Case-exact text.
    ExactText,
    /// Boolean.
    Bool,
    /// Epoch milliseconds (compared with dateTime literals).
    EpochMs,
    /// A user's time of last change, epoch milliseconds: on PostgreSQL its order is kept in
    /// `user_updated` (migration 0033), not in an index of the row.
    UserLastChange,
}

enum LeafKind {
    Scalar,
    Object(String),
}

fn sql_op(op: CompareOp) -> &'static str {
    match op {
        CompareOp::Eq => "=",
        CompareOp::Ne => "<>",
        CompareOp::Gt => ">",
        CompareOp::Ge => ">=",
        CompareOp::Lt => "<",
        CompareOp::Le => "<=",
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => "LIKE",
    }
}

/// A SQLite JSON path: `$` or `$."a"."b"`.
fn sqlite_path(keys: &[&str]) -> String {
    let mut p = String::from("$");
    for k in keys {
        p.push_str(&format!(".\"{}\"", quote_key(k)));
    }
    p
}

fn pg_path(keys: &[&str]) -> String {
    format!("{{{}}}", keys.iter().map(|k| format!("\"{}\"", quote_key(k))).collect::<Vec<_>>().join(","))
}

/// A filter compiled to SQL.
#[derive(Clone, Debug)]
pub(crate) struct Compiled {
    /// The WHERE condition over the table aliased `t`.
    pub cond: String,
    /// Its parameters.
    pub sql: Sql,
    /// Its estimated cost (see [`MAX_FILTER_COST`]).
    pub cost: u32,
}

impl Compiled {
    /// Whether it scans the tenant's rows instead of reading an index (see
    /// [`EXPENSIVE_FILTER_COST`]).
    pub fn is_expensive(&self) -> bool {
        self.cost >= EXPENSIVE_FILTER_COST
    }
}

/// Compiles a resolved filter into a WHERE condition over the table aliased `t`; a filter
/// over the cost budget is refused with `invalidFilter`.
pub(crate) fn compile(filter: &Filter, schema: &ResourceSchema, table: Table, sql: Sql) -> Result<Compiled, ScimError> {
    let mut c = Compiler { sql, schema, table, depth: 0, cost: 0, arrays: 0 };
    let cond = c.compile(filter)?;
    if c.cost > MAX_FILTER_COST {
        return Err(ScimError::invalid_filter(format!(
            "the filter is too expensive to run (cost {}, the limit is {MAX_FILTER_COST}): use fewer \
             comparisons, above all fewer substring searches (co, sw, ew) on multi-valued attributes \
             such as emails or addresses",
            c.cost
        )));
    }
    Ok(Compiled { cond, sql: c.sql, cost: c.cost })
}

/// The ORDER BY expression for `sortBy` (resolved path), or an error if it cannot be sorted on.
pub(crate) fn sort_expr(
    path: &AttrPath,
    schema: &ResourceSchema,
    table: Table,
    dialect: Dialect,
) -> Result<String, ScimError> {
    let c = Compiler { sql: Sql::new(dialect), schema, table, depth: 0, cost: 0, arrays: 0 };
    if let Some((col, _)) = c.column(path) {
        return Ok(col.to_string());
    }
    let (top, sub) = c.attr_of(path, Scope::Resource)?;
    if table == Table::Users && path.urn.is_none() && top.name == "emails" {
        return Ok("t.primary_email_norm".into());
    }
    if top.multi_valued || sub.unwrap_or(top).ty == AttributeType::Complex {
        return Err(ScimError::invalid_value(format!("cannot sort by '{path}'")));
    }
    let mut keys = Compiler::keys(path);
    if let Some(s) = sub {
        keys.push(s.name.as_str());
    }
    let expr = c.json_text(Base::Row, &keys);
    Ok(if sub.unwrap_or(top).case_exact { expr } else { c.lower(&expr) })
}

/// What [`filter_sql`] returns: the WHERE condition, how many parameters it binds, its cost.
pub type FilterSql = (String, usize, u32);

/// Parses, resolves and compiles a filter for the users (or groups) table in one dialect, as a
/// SCIM search does, and returns the SQL text. For fuzzing and tests of the compiler; the
/// request path uses the same steps through the store.
pub fn filter_sql(text: &str, users: bool, postgres: bool) -> Result<FilterSql, ScimError> {
    let (schema, table) =
        if users { (ResourceSchema::user(), Table::Users) } else { (ResourceSchema::group(), Table::Groups) };
    let dialect = if postgres { Dialect::Postgres } else { Dialect::Sqlite };
    let filter = Filter::parse_for(text, schema)?;
    let c = compile(&filter, schema, table, Sql::new(dialect))?;
    Ok((c.cond, c.sql.args.len(), c.cost))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_chains_compile_without_deep_recursion_and_costs_add_up() {
        let chain = vec!["id pr"; crate::scim::filter::MAX_TERMS].join(" or ");
        let (sql, _, cost) = filter_sql(&chain, true, false).expect("a chain at the term limit compiles");
        assert_eq!(cost, crate::scim::filter::MAX_TERMS as u32);
        assert!(sql.starts_with('(') && sql.matches(" OR ").count() == crate::scim::filter::MAX_TERMS - 1);
        let over = vec!["id pr"; crate::scim::filter::MAX_TERMS + 1].join(" or ");
        let e = filter_sql(&over, true, false).unwrap_err();
        assert_eq!(e.scim_type, Some(crate::scim::ScimType::InvalidFilter));
        assert!(e.detail.contains("more than 100 comparisons"), "{}", e.detail);
    }

    #[test]
    fn indexed_lookups_are_cheap_and_scans_are_expensive() {
        for (filter, cost) in [
            (r#"userName eq "ada""#, 1),
            (r#"externalId eq "1" and active eq true"#, 2),
            (r#"userName co "ad""#, 3),
            (r#"title eq "x""#, 4),
            (r#"emails co "@example.com""#, 24),
            (r#"emails[type eq "work" and value co "@x"]"#, 36),
        ] {
            let (_, _, c) = filter_sql(filter, true, true).unwrap();
            assert_eq!(c, cost, "{filter}");
        }
        let c = |f: &str| {
            compile(
                &Filter::parse_for(f, ResourceSchema::user()).unwrap(),
                ResourceSchema::user(),
                Table::Users,
                Sql::new(Dialect::Sqlite),
            )
            .unwrap()
        };
        assert!(!c(r#"userName eq "ada""#).is_expensive());
        assert!(c(r#"displayName co "ad""#).is_expensive());
    }

    #[test]
    fn filters_over_the_cost_budget_are_refused() {
        let worst = [r#"emails co "a""#; 9].join(" or ");
        let e = filter_sql(&worst, true, false).unwrap_err();
        assert_eq!(e.scim_type, Some(crate::scim::ScimType::InvalidFilter));
        assert!(e.detail.contains("too expensive"), "{}", e.detail);
        let fits = [r#"emails co "a""#; 8].join(" or ");
        assert!(filter_sql(&fits, true, false).is_ok());
    }
}
