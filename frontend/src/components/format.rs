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

#[cfg(test)]
mod tests {
    #[test]
    fn formats() {
        assert_eq!(super::datetime(0), "1970-01-01 00:00 UTC");
        assert_eq!(super::date(1_795_509_300_000), "24 Nov 2026");
    }
}
