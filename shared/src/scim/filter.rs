//! SCIM filters (RFC 7644 section 3.4.2.2), the whole grammar: `eq ne co sw ew pr gt ge lt le`,
//! `and`, `or`, `not (…)` with the RFC's precedence (not, then and, then or), parentheses, and
//! value paths (`emails[type eq "work" and value co "@example.com"]`).
//!
//! [`Filter::parse`] checks syntax and returns the AST; [`Filter::resolve`] checks it against a
//! resource type's schema (attributes exist, operators and literals fit their types) and returns
//! it with canonical attribute names: the form the SQL compiler and [`Filter::matches`] take.
//! `Display` prints a filter that parses back to the same AST.
//!
//! Beyond the RFC, a value path may be followed by a sub-attribute comparison,
//! `addresses[type eq "work"].country eq "US"`, read as "some work address has country US"; it
//! is stored as `addresses[type eq "work" and country eq "US"]`.
//!
//! Semantics of the evaluator (the reference the SQL compiler must agree with):
//! a comparison on a multi-valued attribute matches if any value matches; `ne` is the negation
//! of `eq` (so an absent attribute is "not equal"); `eq null` means "not present"; strings
//! compare case-insensitively unless the attribute is `caseExact`; dateTimes compare as
//! instants; `pr` is false for null, empty strings, empty lists and empty objects.

use std::cmp::Ordering;
use std::fmt;

use serde_json::{Number, Value};

use super::error::ScimError;
use super::path::AttrPath;
use super::schema::{Attribute, AttributeType, Mutability, ResourceSchema, Returned};
use super::value::{is_present, loose_bool, parse_datetime};

/// The longest filter accepted, in bytes.
pub const MAX_FILTER_LEN: usize = 8 * 1024;
/// The deepest nesting of parentheses, `not` and value paths accepted.
pub const MAX_DEPTH: usize = 32;
/// The most comparisons (`eq`, `pr`, …) one filter may hold, value paths included.
///
/// Together with [`MAX_DEPTH`] this bounds every recursion over a filter (parser, schema check,
/// evaluator, SQL compiler, `Drop`): `and`/`or` chains are n-ary nodes, not nested pairs, so a
/// chain of terms adds breadth, never depth. IdPs send one to three terms; mapping rules a few
/// dozen at most.
pub const MAX_TERMS: usize = 100;

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CompareOp {
    /// equal
    Eq,
    /// not equal
    Ne,
    /// contains
    Co,
    /// starts with
    Sw,
    /// ends with
    Ew,
    /// greater than
    Gt,
    /// greater than or equal
    Ge,
    /// less than
    Lt,
    /// less than or equal
    Le,
}

impl CompareOp {
    fn parse(word: &str) -> Option<CompareOp> {
        Some(match word.to_ascii_lowercase().as_str() {
            "eq" => CompareOp::Eq,
            "ne" => CompareOp::Ne,
            "co" => CompareOp::Co,
            "sw" => CompareOp::Sw,
            "ew" => CompareOp::Ew,
            "gt" => CompareOp::Gt,
            "ge" => CompareOp::Ge,
            "lt" => CompareOp::Lt,
            "le" => CompareOp::Le,
            _ => return None,
        })
    }

    /// The operator's keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        }
    }

    fn is_substring(self) -> bool {
        matches!(self, CompareOp::Co | CompareOp::Sw | CompareOp::Ew)
    }
}

/// A literal on the right of a comparison.
#[derive(Clone, Debug, PartialEq)]
pub enum CompValue {
    /// A JSON string (dateTimes are strings too).
    Str(String),
    /// A JSON number.
    Num(Number),
    /// `true` or `false`.
    Bool(bool),
    /// `null`.
    Null,
}

impl fmt::Display for CompValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompValue::Str(s) => f.write_str(&serde_json::to_string(s).map_err(|_| fmt::Error)?),
            CompValue::Num(n) => write!(f, "{n}"),
            CompValue::Bool(b) => write!(f, "{b}"),
            CompValue::Null => f.write_str("null"),
        }
    }
}

/// A filter expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Filter {
    /// `path op value`
    Compare {
        /// The attribute.
        path: AttrPath,
        /// The operator.
        op: CompareOp,
        /// The literal.
        value: CompValue,
    },
    /// `path pr`
    Present(AttrPath),
    /// `a and b and …` (two or more terms; a chain is one node, so it adds no depth)
    And(Vec<Filter>),
    /// `a or b or …` (two or more terms)
    Or(Vec<Filter>),
    /// `not (a)`
    Not(Box<Filter>),
    /// `path[filter]`: some value of the (complex) attribute matches the inner filter, whose
    /// paths name sub-attributes.
    ValuePath {
        /// The complex attribute (no sub-attribute).
        path: AttrPath,
        /// The filter each value is checked against.
        filter: Box<Filter>,
    },
}

// ---------------------------------------------------------------------------------------------
// Lexer

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Open,
    Close,
    LBracket,
    RBracket,
    Str(String),
    Word(String),
}

#[derive(Clone, Debug)]
struct Token {
    tok: Tok,
    /// 1-based character position of the token's start.
    pos: usize,
}

fn err_at(pos: usize, msg: impl fmt::Display) -> ScimError {
    ScimError::invalid_filter(format!("invalid filter at position {pos}: {msg}"))
}

fn lex(text: &str) -> Result<(Vec<Token>, usize), ScimError> {
    let mut tokens = Vec::new();
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut i = 0;
    while i < chars.len() {
        let (byte, c) = chars[i];
        let pos = i + 1;
        match c {
            c if c.is_whitespace() => i += 1,
            '(' | ')' | '[' | ']' => {
                tokens.push(Token {
                    tok: match c {
                        '(' => Tok::Open,
                        ')' => Tok::Close,
                        '[' => Tok::LBracket,
                        _ => Tok::RBracket,
                    },
                    pos,
                });
                i += 1;
            }
            '"' => {
                let mut j = i + 1;
                let mut closed = false;
                while j < chars.len() {
                    match chars[j].1 {
                        '\\' => j += 2,
                        '"' => {
                            closed = true;
                            break;
                        }
                        _ => j += 1,
                    }
                }
                if !closed {
                    return Err(err_at(pos, "the string is not closed with '\"'"));
                }
                let end = chars[j].0 + 1;
                let s: String = serde_json::from_str(&text[byte..end])
                    .map_err(|e| err_at(pos, format!("invalid string literal ({e})")))?;
                tokens.push(Token { tok: Tok::Str(s), pos });
                i = j + 1;
            }
            _ => {
                let mut j = i;
                while j < chars.len()
                    && !chars[j].1.is_whitespace()
                    && !matches!(chars[j].1, '(' | ')' | '[' | ']' | '"')
                {
                    j += 1;
                }
                let end = if j < chars.len() { chars[j].0 } else { text.len() };
                tokens.push(Token { tok: Tok::Word(text[byte..end].to_string()), pos });
                i = j;
            }
        }
    }
    Ok((tokens, chars.len() + 1))
}

// ---------------------------------------------------------------------------------------------
// Parser

struct Parser {
    tokens: Vec<Token>,
    i: usize,
    end_pos: usize,
    depth: usize,
    terms: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.i)
    }

    fn pos(&self) -> usize {
        self.peek().map(|t| t.pos).unwrap_or(self.end_pos)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.i).cloned();
        self.i += 1;
        t
    }

    fn peek_keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Token { tok: Tok::Word(w), .. }) if w.eq_ignore_ascii_case(kw))
    }

    fn enter(&mut self) -> Result<(), ScimError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(err_at(self.pos(), format!("nested more than {MAX_DEPTH} levels deep")));
        }
        Ok(())
    }

    fn or(&mut self, in_value_path: bool) -> Result<Filter, ScimError> {
        let mut terms = vec![self.and(in_value_path)?];
        while self.peek_keyword("or") {
            self.next();
            terms.push(self.and(in_value_path)?);
        }
        Ok(if terms.len() == 1 { terms.remove(0) } else { Filter::Or(terms) })
    }

    fn and(&mut self, in_value_path: bool) -> Result<Filter, ScimError> {
        let mut terms = vec![self.unary(in_value_path)?];
        while self.peek_keyword("and") {
            self.next();
            terms.push(self.unary(in_value_path)?);
        }
        Ok(if terms.len() == 1 { terms.remove(0) } else { Filter::And(terms) })
    }

    /// Counts one comparison against [`MAX_TERMS`].
    fn count_term(&mut self, pos: usize) -> Result<(), ScimError> {
        self.terms += 1;
        if self.terms > MAX_TERMS {
            return Err(err_at(
                pos,
                format!("the filter has more than {MAX_TERMS} comparisons; the limit is {MAX_TERMS}"),
            ));
        }
        Ok(())
    }

    fn expect_close(&mut self, open_pos: usize) -> Result<(), ScimError> {
        match self.next() {
            Some(Token { tok: Tok::Close, .. }) => Ok(()),
            Some(t) => Err(err_at(t.pos, format!("expected ')' to close the '(' at position {open_pos}"))),
            None => Err(err_at(self.end_pos, format!("missing ')' for the '(' at position {open_pos}"))),
        }
    }

    fn unary(&mut self, in_value_path: bool) -> Result<Filter, ScimError> {
        if self.peek_keyword("not") {
            let not_pos = self.pos();
            self.next();
            match self.next() {
                Some(Token { tok: Tok::Open, pos }) => {
                    self.enter()?;
                    let inner = self.or(in_value_path)?;
                    self.expect_close(pos)?;
                    self.depth -= 1;
                    return Ok(Filter::Not(Box::new(inner)));
                }
                _ => {
                    return Err(err_at(
                        not_pos,
                        "'not' must be followed by a parenthesized filter, as in not (title pr)",
                    ))
                }
            }
        }
        match self.peek().cloned() {
            Some(Token { tok: Tok::Open, pos }) => {
                self.next();
                self.enter()?;
                let inner = self.or(in_value_path)?;
                self.expect_close(pos)?;
                self.depth -= 1;
                Ok(inner)
            }
            Some(Token { tok: Tok::Word(w), pos }) => {
                self.next();
                self.attr_expr(&w, pos, in_value_path)
            }
            Some(t) => Err(err_at(t.pos, "expected an attribute name, 'not' or '('")),
            None => Err(err_at(self.end_pos, "the filter ends where an expression was expected")),
        }
    }

    fn attr_expr(&mut self, word: &str, pos: usize, in_value_path: bool) -> Result<Filter, ScimError> {
        let path = AttrPath::parse(word).map_err(|e| err_at(pos, e))?;
        if let Some(Token { tok: Tok::LBracket, pos: bpos }) = self.peek().cloned() {
            if in_value_path {
                return Err(err_at(bpos, "value filters cannot be nested"));
            }
            if path.sub.is_some() {
                return Err(err_at(bpos, "a value filter applies to an attribute, not a sub-attribute"));
            }
            self.next();
            self.enter()?;
            let inner = self.or(true)?;
            match self.next() {
                Some(Token { tok: Tok::RBracket, .. }) => {}
                Some(t) => return Err(err_at(t.pos, format!("expected ']' to close the '[' at position {bpos}"))),
                None => return Err(err_at(self.end_pos, format!("missing ']' for the '[' at position {bpos}"))),
            }
            self.depth -= 1;
            // Extension: `attr[filter].sub op value` / `attr[filter].sub pr`.
            if let Some(Token { tok: Tok::Word(w), pos: spos }) = self.peek().cloned() {
                if let Some(sub) = w.strip_prefix('.') {
                    self.next();
                    let sub_path = AttrPath::parse(sub).map_err(|e| err_at(spos, e))?;
                    if sub_path.urn.is_some() || sub_path.sub.is_some() {
                        return Err(err_at(spos, "expected a sub-attribute name after ']'"));
                    }
                    let cond = self.comparison(sub_path, spos)?;
                    let filter = match inner {
                        Filter::And(mut terms) => {
                            terms.push(cond);
                            Filter::And(terms)
                        }
                        other => Filter::And(vec![other, cond]),
                    };
                    return Ok(Filter::ValuePath { path, filter: Box::new(filter) });
                }
            }
            return Ok(Filter::ValuePath { path, filter: Box::new(inner) });
        }
        self.comparison(path, pos)
    }

    fn comparison(&mut self, path: AttrPath, path_pos: usize) -> Result<Filter, ScimError> {
        self.count_term(path_pos)?;
        let (op_word, op_pos) = match self.next() {
            Some(Token { tok: Tok::Word(w), pos }) => (w, pos),
            Some(t) => {
                return Err(err_at(
                    t.pos,
                    format!("expected an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr) after '{path}'"),
                ))
            }
            None => {
                return Err(err_at(self.end_pos, format!("expected an operator after '{path}' at position {path_pos}")))
            }
        };
        if op_word.eq_ignore_ascii_case("pr") {
            return Ok(Filter::Present(path));
        }
        let op = CompareOp::parse(&op_word).ok_or_else(|| {
            err_at(op_pos, format!("'{op_word}' is not an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr)"))
        })?;
        let value = match self.next() {
            Some(Token { tok: Tok::Str(s), .. }) => CompValue::Str(s),
            Some(Token { tok: Tok::Word(w), pos }) => match w.as_str() {
                w if w.eq_ignore_ascii_case("true") => CompValue::Bool(true),
                w if w.eq_ignore_ascii_case("false") => CompValue::Bool(false),
                w if w.eq_ignore_ascii_case("null") => CompValue::Null,
                w => match parse_number(w) {
                    Some(n) => CompValue::Num(n),
                    None => {
                        return Err(err_at(
                            pos,
                            format!("'{w}' is not a value: use a \"quoted string\", a number, true, false or null"),
                        ))
                    }
                },
            },
            Some(t) => return Err(err_at(t.pos, format!("expected a value after '{}'", op.as_str()))),
            None => return Err(err_at(self.end_pos, format!("expected a value after '{}'", op.as_str()))),
        };
        Ok(Filter::Compare { path, op, value })
    }
}

/// A dateTime literal as Unix epoch milliseconds (for comparisons with stored timestamps).
pub fn datetime_ms(s: &str) -> Option<i64> {
    parse_datetime(s).map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
}

/// A JSON number literal, read exactly: integers as integers, others with Rust's correctly
/// rounded float parser (serde_json's default parser may be off in the last digit).
fn parse_number(w: &str) -> Option<Number> {
    if let Ok(i) = w.parse::<i64>() {
        return Some(i.into());
    }
    if let Ok(u) = w.parse::<u64>() {
        return Some(u.into());
    }
    match serde_json::from_str::<Value>(w) {
        Ok(Value::Number(_)) => w.parse::<f64>().ok().and_then(Number::from_f64),
        _ => None,
    }
}

impl Filter {
    /// Parses a filter (syntax only; see [`Filter::resolve`] for the schema check).
    pub fn parse(text: &str) -> Result<Filter, ScimError> {
        if text.len() > MAX_FILTER_LEN {
            return Err(ScimError::invalid_filter(format!(
                "the filter is {} bytes long; the limit is {MAX_FILTER_LEN}",
                text.len()
            )));
        }
        if text.contains('\0') {
            // No stored value holds one (see `crate::scim::holds_nul`), and PostgreSQL's
            // text cannot: refused here rather than failing the query.
            return Err(ScimError::invalid_filter("the filter contains a NUL character (U+0000)"));
        }
        let (tokens, end_pos) = lex(text)?;
        let mut p = Parser { tokens, i: 0, end_pos, depth: 0, terms: 0 };
        let f = p.or(false)?;
        if let Some(t) = p.peek() {
            let what = match &t.tok {
                Tok::Close => "unmatched ')'".to_string(),
                Tok::RBracket => "unmatched ']'".to_string(),
                Tok::Word(w) => format!("unexpected '{w}' (expected 'and', 'or' or the end)"),
                _ => "unexpected input (expected 'and', 'or' or the end)".to_string(),
            };
            return Err(err_at(t.pos, what));
        }
        Ok(f)
    }

    /// Parses and checks a filter against a resource type in one step.
    pub fn parse_for(text: &str, schema: &ResourceSchema) -> Result<Filter, ScimError> {
        Filter::parse(text)?.resolve(schema)
    }

    /// Checks the filter against a resource type's schemas; returns it with canonical names,
    /// complex attributes compared by their `value`, and boolean literals sent as strings made
    /// booleans.
    pub fn resolve(&self, schema: &ResourceSchema) -> Result<Filter, ScimError> {
        resolve(self, Scope::Resource(schema))
    }

    /// Whether the resource matches (the reference semantics; see the module doc). The filter
    /// should be resolved against `schema`.
    pub fn matches(&self, resource: &Value, schema: &ResourceSchema) -> bool {
        eval(self, resource, Scope::Resource(schema))
    }

    /// Whether one value of the complex attribute `parent` matches this filter, whose paths name
    /// `parent`'s sub-attributes (the inner filter of a resolved value path).
    pub fn matches_value(&self, value: &Value, parent: &Attribute) -> bool {
        eval(self, value, Scope::Complex(parent))
    }

    /// Adds to `keys` each key of a resource's top level that [`Self::matches`] reads (see
    /// [`AttrPath::top_key`]); a filter reads nothing else of the resource.
    pub fn top_keys(&self, keys: &mut Vec<String>) {
        match self {
            // A value path's inner filter names the attribute's sub-attributes.
            Filter::Compare { path, .. } | Filter::Present(path) | Filter::ValuePath { path, .. } => {
                if !keys.iter().any(|k| k == path.top_key()) {
                    keys.push(path.top_key().to_string());
                }
            }
            Filter::And(terms) | Filter::Or(terms) => terms.iter().for_each(|t| t.top_keys(keys)),
            Filter::Not(a) => a.top_keys(keys),
        }
    }

    fn precedence(&self) -> u8 {
        match self {
            Filter::Or(..) => 1,
            Filter::And(..) => 2,
            _ => 3,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Printing

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn child(f: &mut fmt::Formatter<'_>, c: &Filter, min: u8) -> fmt::Result {
            if c.precedence() < min {
                write!(f, "({c})")
            } else {
                write!(f, "{c}")
            }
        }
        match self {
            Filter::Compare { path, op, value } => write!(f, "{path} {} {value}", op.as_str()),
            Filter::Present(path) => write!(f, "{path} pr"),
            // A nested chain of the same kind keeps its parentheses, so that printing and
            // parsing again gives the same tree.
            Filter::And(terms) => {
                for (i, t) in terms.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" and ")?;
                    }
                    child(f, t, 3)?;
                }
                Ok(())
            }
            Filter::Or(terms) => {
                for (i, t) in terms.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" or ")?;
                    }
                    child(f, t, 2)?;
                }
                Ok(())
            }
            Filter::Not(a) => write!(f, "not ({a})"),
            Filter::ValuePath { path, filter } => write!(f, "{path}[{filter}]"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Schema check

#[derive(Clone, Copy)]
enum Scope<'s> {
    Resource(&'s ResourceSchema),
    /// Inside a value path: names are sub-attributes of this complex attribute.
    Complex(&'s Attribute),
}

/// The attribute a (resolved or raw) path names within a scope. Attributes that are never
/// returned (`password`) cannot be filtered on either: a filter would be an oracle for them.
fn lookup<'s>(path: &AttrPath, scope: Scope<'s>) -> Result<(AttrPath, &'s Attribute, Option<&'s Attribute>), String> {
    let found = lookup_any(path, scope)?;
    let hidden = |a: &Attribute| a.returned == Returned::Never || a.mutability == Mutability::WriteOnly;
    if hidden(found.1) || found.2.is_some_and(hidden) {
        return Err(format!("'{}' is write-only and cannot be filtered on", found.0));
    }
    Ok(found)
}

fn lookup_any<'s>(
    path: &AttrPath,
    scope: Scope<'s>,
) -> Result<(AttrPath, &'s Attribute, Option<&'s Attribute>), String> {
    match scope {
        Scope::Resource(schema) => {
            let r = path.resolve(schema)?;
            Ok((r.path, r.attr, r.sub))
        }
        Scope::Complex(parent) => {
            if path.urn.is_some() || path.sub.is_some() {
                return Err(format!(
                    "'{path}' inside a value filter must be a sub-attribute name of '{}'",
                    parent.name
                ));
            }
            let a = parent
                .sub(&path.name)
                .ok_or_else(|| format!("'{}' has no sub-attribute '{}'", parent.name, path.name))?;
            Ok((AttrPath::attr(&a.name), a, None))
        }
    }
}

fn resolve(filter: &Filter, scope: Scope<'_>) -> Result<Filter, ScimError> {
    let invalid = |msg: String| ScimError::invalid_filter(msg);
    Ok(match filter {
        Filter::And(terms) => Filter::And(terms.iter().map(|t| resolve(t, scope)).collect::<Result<_, _>>()?),
        Filter::Or(terms) => Filter::Or(terms.iter().map(|t| resolve(t, scope)).collect::<Result<_, _>>()?),
        Filter::Not(a) => Filter::Not(Box::new(resolve(a, scope)?)),
        Filter::Present(path) => {
            let (path, _, _) = lookup(path, scope).map_err(invalid)?;
            Filter::Present(path)
        }
        Filter::ValuePath { path, filter } => {
            let (path, attr, sub) = lookup(path, scope).map_err(invalid)?;
            if sub.is_some() || attr.ty != AttributeType::Complex {
                return Err(invalid(format!(
                    "'{path}' is not a complex attribute, so it cannot take a [value filter]"
                )));
            }
            Filter::ValuePath { path, filter: Box::new(resolve(filter, Scope::Complex(attr))?) }
        }
        Filter::Compare { path, op, value } => {
            let (mut path, attr, sub) = lookup(path, scope).map_err(invalid)?;
            let mut target = sub.unwrap_or(attr);
            if target.ty == AttributeType::Complex {
                // `emails co "@example.com"` compares the values' `value` sub-attribute.
                match target.sub("value") {
                    Some(v) if path.sub.is_none() && matches!(scope, Scope::Resource(_)) => {
                        path.sub = Some(v.name.clone());
                        target = v;
                    }
                    _ => {
                        return Err(invalid(format!(
                            "'{path}' is complex: compare one of its sub-attributes, as in {path}.value"
                        )))
                    }
                }
            }
            let value = check_literal(&path, target, *op, value).map_err(invalid)?;
            Filter::Compare { path, op: *op, value }
        }
    })
}

fn check_literal(path: &AttrPath, attr: &Attribute, op: CompareOp, value: &CompValue) -> Result<CompValue, String> {
    if matches!(value, CompValue::Null) {
        return match op {
            CompareOp::Eq | CompareOp::Ne => Ok(CompValue::Null),
            _ => Err(format!("'{}' cannot compare with null", op.as_str())),
        };
    }
    match attr.ty {
        AttributeType::String | AttributeType::Reference | AttributeType::Binary => match value {
            CompValue::Str(_) => {
                if attr.ty == AttributeType::Binary && op != CompareOp::Eq && op != CompareOp::Ne {
                    Err(format!("'{path}' is binary: only eq and ne apply"))
                } else {
                    Ok(value.clone())
                }
            }
            _ => Err(format!("'{path}' is a string: compare it with a \"quoted string\"")),
        },
        AttributeType::Boolean => {
            if op != CompareOp::Eq && op != CompareOp::Ne {
                return Err(format!("'{path}' is a boolean: only eq and ne apply"));
            }
            match value {
                CompValue::Bool(b) => Ok(CompValue::Bool(*b)),
                CompValue::Str(s) => loose_bool(&Value::String(s.clone()))
                    .map(CompValue::Bool)
                    .ok_or_else(|| format!("'{path}' is a boolean: compare it with true or false")),
                _ => Err(format!("'{path}' is a boolean: compare it with true or false")),
            }
        }
        AttributeType::Integer | AttributeType::Decimal => {
            if op.is_substring() {
                return Err(format!("'{path}' is a number: co, sw and ew do not apply"));
            }
            match value {
                CompValue::Num(n) if attr.ty == AttributeType::Integer && !(n.is_i64() || n.is_u64()) => {
                    Err(format!("'{path}' is an integer: {n} is not"))
                }
                CompValue::Num(_) => Ok(value.clone()),
                _ => Err(format!("'{path}' is a number: compare it with a number")),
            }
        }
        AttributeType::DateTime => {
            if op.is_substring() {
                return Err(format!("'{path}' is a dateTime: co, sw and ew do not apply"));
            }
            match value {
                CompValue::Str(s) if parse_datetime(s).is_some() => Ok(value.clone()),
                _ => Err(format!("'{path}' is a dateTime: compare it with a string such as \"2011-05-13T04:42:34Z\"")),
            }
        }
        AttributeType::Complex => Err(format!("'{path}' is complex")),
    }
}

// ---------------------------------------------------------------------------------------------
// Evaluation

/// The attribute definition a resolved path ends at, within a scope.
fn target_attr<'s>(path: &AttrPath, scope: Scope<'s>) -> Option<&'s Attribute> {
    match scope {
        Scope::Resource(schema) => {
            let top = schema.find(path.urn.as_deref(), &path.name)?.attribute;
            match &path.sub {
                Some(s) => top.sub(s),
                None => Some(top),
            }
        }
        Scope::Complex(parent) => parent.sub(&path.name),
    }
}

/// The scalar values a path yields on a resource (or on one value of a complex attribute).
fn candidates<'v>(path: &AttrPath, node: &'v Value, scope: Scope<'_>, out: &mut Vec<&'v Value>) {
    let top = match scope {
        Scope::Resource(_) => path.top_value(node),
        Scope::Complex(_) => node.get(path.name.as_str()),
    };
    let Some(top) = top else { return };
    let mut push = |v: &'v Value| match (&path.sub, v) {
        (Some(sub), Value::Object(o)) => {
            if let Some(x) = o.get(sub.as_str()) {
                match x {
                    Value::Array(items) => out.extend(items.iter()),
                    other => out.push(other),
                }
            }
        }
        (Some(_), _) => {}
        (None, v) => out.push(v),
    };
    match top {
        Value::Array(items) => items.iter().for_each(&mut push),
        other => push(other),
    }
}

fn eval(filter: &Filter, node: &Value, scope: Scope<'_>) -> bool {
    match filter {
        Filter::And(terms) => terms.iter().all(|t| eval(t, node, scope)),
        Filter::Or(terms) => terms.iter().any(|t| eval(t, node, scope)),
        Filter::Not(a) => !eval(a, node, scope),
        Filter::Present(path) => {
            let mut c = Vec::new();
            candidates(path, node, scope, &mut c);
            c.into_iter().any(is_present)
        }
        Filter::ValuePath { path, filter } => {
            let Some(attr) = target_attr(path, scope) else {
                return false;
            };
            let top = match scope {
                Scope::Resource(_) => path.top_value(node),
                Scope::Complex(_) => node.get(path.name.as_str()),
            };
            match top {
                Some(Value::Array(items)) => items.iter().any(|v| eval(filter, v, Scope::Complex(attr))),
                Some(v @ Value::Object(_)) => eval(filter, v, Scope::Complex(attr)),
                _ => false,
            }
        }
        Filter::Compare { path, op, value } => {
            let mut c = Vec::new();
            candidates(path, node, scope, &mut c);
            let Some(attr) = target_attr(path, scope) else {
                return false;
            };
            match op {
                CompareOp::Ne => !c.iter().any(|v| compare(attr, CompareOp::Eq, v, value)),
                CompareOp::Eq if matches!(value, CompValue::Null) => !c.into_iter().any(is_present),
                _ => c.iter().any(|v| compare(attr, *op, v, value)),
            }
        }
    }
}

fn ordering_matches(op: CompareOp, ord: Ordering) -> bool {
    match op {
        CompareOp::Eq => ord == Ordering::Equal,
        CompareOp::Ne => ord != Ordering::Equal,
        CompareOp::Gt => ord == Ordering::Greater,
        CompareOp::Ge => ord != Ordering::Less,
        CompareOp::Lt => ord == Ordering::Less,
        CompareOp::Le => ord != Ordering::Greater,
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}

/// Compares one stored value with a literal, by the attribute's type.
fn compare(attr: &Attribute, op: CompareOp, actual: &Value, expected: &CompValue) -> bool {
    match (attr.ty, expected) {
        (_, CompValue::Null) => false,
        (AttributeType::Boolean, CompValue::Bool(b)) => {
            loose_bool(actual).is_some_and(|a| ordering_matches(op, a.cmp(b)))
        }
        (AttributeType::Integer | AttributeType::Decimal, CompValue::Num(n)) => match (actual.as_f64(), n.as_f64()) {
            (Some(a), Some(b)) => a.partial_cmp(&b).is_some_and(|ord| ordering_matches(op, ord)),
            _ => false,
        },
        (AttributeType::DateTime, CompValue::Str(s)) => {
            match (actual.as_str().and_then(parse_datetime), parse_datetime(s)) {
                (Some(a), Some(b)) => ordering_matches(op, a.cmp(&b)),
                _ => false,
            }
        }
        (_, CompValue::Str(s)) => {
            let Some(a) = actual.as_str() else {
                return false;
            };
            if attr.case_exact {
                compare_str(op, a, s)
            } else {
                // ASCII case folding: what SQL's lower() does on both backends.
                compare_str(op, &a.to_ascii_lowercase(), &s.to_ascii_lowercase())
            }
        }
        _ => false,
    }
}

fn compare_str(op: CompareOp, a: &str, b: &str) -> bool {
    match op {
        CompareOp::Co => a.contains(b),
        CompareOp::Sw => a.starts_with(b),
        CompareOp::Ew => a.ends_with(b),
        _ => ordering_matches(op, a.cmp(b)),
    }
}

#[cfg(test)]
mod tests;
