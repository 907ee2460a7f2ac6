//! Formatting of values for people.

use time::macros::format_description;
use time::OffsetDateTime;

/// An epoch-milliseconds time as `2026-11-24 08:35 UTC`.
pub fn datetime(ms: i64) -> String {
    let fmt = format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&fmt).ok())
        .unwrap_or_else(|| "—".to_string())
}

/// An epoch-milliseconds time as `24 Nov 2026`.
pub fn date(ms: i64) -> String {
    let fmt = format_description!("[day padding:none] [month repr:short] [year]");
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&fmt).ok())
        .unwrap_or_else(|| "—".to_string())
}

/// A count as people read it: `203,001`.
pub fn count(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// The badge that shows a SCIM health state.
pub fn health_badge(state: roster_shared::dto::HealthState) -> &'static str {
    use roster_shared::dto::HealthState;
    match state {
        HealthState::Failing => "badge-danger",
        HealthState::SomeErrors => "badge-warning",
        HealthState::Healthy => "badge-ok",
        HealthState::Idle | HealthState::NoTraffic => "badge-muted",
    }
}

/// The enterprise extension's URN as the attribute list writes it (`urn:…:User.department`).
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User.";

/// Attribute paths admins read as words; everything else is spelled out from its name.
const LABELS: &[(&str, &str)] = &[
    ("userName", "User name"),
    ("displayName", "Display name"),
    ("nickName", "Nickname"),
    ("title", "Job title"),
    ("active", "Active"),
    ("externalId", "External ID"),
    ("id", "Roster ID"),
    ("userType", "User type"),
    ("profileUrl", "Profile URL"),
    ("name.givenName", "First name"),
    ("name.familyName", "Last name"),
    ("name.middleName", "Middle name"),
    ("name.formatted", "Full name"),
    ("name.honorificPrefix", "Name prefix"),
    ("name.honorificSuffix", "Name suffix"),
    ("meta.created", "Created"),
    ("meta.lastModified", "Last modified"),
    ("meta.location", "SCIM location"),
    ("meta.resourceType", "Resource type"),
    ("meta.version", "Version"),
    ("manager.value", "Manager (ID)"),
    ("manager.displayName", "Manager"),
];

/// A readable label for an attribute path of the user page (`name.givenName` → "First name",
/// `emails[0].type` → "Email 1 · type", the enterprise extension's `department` → "Department").
/// Paths of other extensions stay as they are: their URN is what tells them apart.
pub fn attribute_label(path: &str) -> String {
    let rest = path.strip_prefix(ENTERPRISE).unwrap_or(path);
    if let Some((_, label)) = LABELS.iter().find(|(k, _)| *k == rest) {
        return (*label).to_string();
    }
    if rest.starts_with("urn:") {
        return rest.to_string();
    }
    if let Some((attr, tail)) = rest.split_once('[') {
        let (index, sub) = tail.split_once(']').unwrap_or((tail, ""));
        let n = index.parse::<usize>().map(|i| i + 1).unwrap_or(1);
        let base = match attr {
            "emails" => "Email".to_string(),
            "phoneNumbers" => "Phone".to_string(),
            "addresses" => "Address".to_string(),
            "ims" => "Messaging".to_string(),
            "photos" => "Photo".to_string(),
            "roles" => "Role".to_string(),
            "entitlements" => "Entitlement".to_string(),
            other => words(other),
        };
        return match sub.trim_start_matches('.') {
            "" | "value" => format!("{base} {n}"),
            sub => format!("{base} {n} · {}", words(sub).to_lowercase()),
        };
    }
    words(rest)
}

/// `employeeNumber` → "Employee number", `name.formatted` → "Name formatted".
fn words(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c == '.' || c == '_' {
            out.push(' ');
        } else if c.is_ascii_uppercase() && i > 0 {
            out.push(' ');
            out.push(c.to_ascii_lowercase());
        } else if i == 0 {
            out.push(c.to_ascii_uppercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Percent-encodes a query-string value.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats() {
        assert_eq!(super::datetime(0), "1970-01-01 00:00 UTC");
        assert_eq!(super::date(1_795_509_300_000), "24 Nov 2026");
        for (n, text) in [
            (0, "0"),
            (7, "7"),
            (999, "999"),
            (1_000, "1,000"),
            (203_001, "203,001"),
            (1_000_000, "1,000,000"),
            (-12_345, "-12,345"),
            (i64::MIN, "-9,223,372,036,854,775,808"),
        ] {
            assert_eq!(super::count(n), text);
        }
    }

    #[test]
    fn attribute_labels_read_as_words() {
        for (path, label) in [
            ("name.givenName", "First name"),
            ("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User.department", "Department"),
            ("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User.employeeNumber", "Employee number"),
            ("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User.manager.value", "Manager (ID)"),
            ("emails[0].value", "Email 1"),
            ("emails[1].type", "Email 2 · type"),
            ("addresses[0].streetAddress", "Address 1 · street address"),
            ("urn:example:custom:1.0.badge", "urn:example:custom:1.0.badge"),
            ("meta.lastModified", "Last modified"),
        ] {
            assert_eq!(super::attribute_label(path), label, "{path}");
        }
    }
}
