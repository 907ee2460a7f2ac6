//! Small helpers on JSON values shared by the filter evaluator, PATCH and validation.

use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Whether a JSON body holds a NUL character (U+0000) in any string or member name. JSON can
/// write one only as the escape `\u0000`, so a body without that sequence (nearly every body)
/// is not walked. Roster refuses such values: PostgreSQL's text cannot hold one (a write failed
/// there with an internal error) and SQLite would keep it, so the two would disagree.
pub fn holds_nul(body: &[u8], value: &Value) -> bool {
    fn walk(v: &Value) -> bool {
        match v {
            Value::String(s) => s.contains('\0'),
            Value::Array(a) => a.iter().any(walk),
            Value::Object(o) => o.iter().any(|(k, v)| k.contains('\0') || walk(v)),
            _ => false,
        }
    }
    may_hold_nul(body) && walk(value)
}

/// Whether a JSON body's bytes hold the escape `\u0000` (or a literal backslash followed by
/// `u0000`): the cheap test before [`holds_nul`] walks the parsed value.
pub fn may_hold_nul(body: &[u8]) -> bool {
    body.windows(6).any(|w| w == b"\\u0000")
}

/// Parses an xsd:dateTime (RFC 3339) string.
pub(crate) fn parse_datetime(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

/// A boolean as IdPs send it: `true`, or the strings `"True"`/`"true"` (Entra ID).
pub(crate) fn loose_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// Whether a value counts as "present" (RFC 7644 `pr`): not null, not an empty string, array or
/// object.
pub(crate) fn is_present(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => a.iter().any(is_present),
        Value::Object(o) => o.values().any(is_present),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    #[test]
    fn a_nul_is_found_in_any_string_or_member_name_and_only_then() {
        for (body, nul) in [
            (r#"{"userName": "a\u0000b"}"#, true),
            (r#"{"name": {"givenName": ["x", "\u0000"]}}"#, true),
            (r#"{"a\u0000": 1}"#, true),
            (r#"{"userName": "a\\u0000b"}"#, false),
            (r#"{"userName": "ab", "n": 0}"#, false),
        ] {
            let v: Value = serde_json::from_str(body).expect("json");
            assert_eq!(super::holds_nul(body.as_bytes(), &v), nul, "{body}");
        }
    }
}
