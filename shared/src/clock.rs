//! Time as the store writes it: Unix epoch milliseconds.

use time::OffsetDateTime;

/// Now, in Unix epoch milliseconds.
pub fn now_ms() -> i64 {
    let now = OffsetDateTime::now_utc();
    (now.unix_timestamp_nanos() / 1_000_000) as i64
}
