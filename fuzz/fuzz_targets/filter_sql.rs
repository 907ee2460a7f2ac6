//! Any text given to the whole filter path of a SCIM search: parse, check against the schema,
//! compile to SQL in both dialects for both tables. It must not panic or recurse without bound;
//! what compiles stays within the cost budget and binds exactly the parameters its SQL names.
#![no_main]

use libfuzzer_sys::fuzz_target;
use roster_shared::store::filter_sql;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for users in [true, false] {
        for postgres in [false, true] {
            let Ok((sql, args, cost)) = filter_sql(text, users, postgres) else { continue };
            assert!(cost <= 200, "cost {cost} over the budget for {text:?}");
            // Every placeholder $1..$args is used, and none beyond.
            let highest = sql
                .match_indices('$')
                .filter_map(|(i, _)| {
                    let digits: String = sql[i + 1..].chars().take_while(char::is_ascii_digit).collect();
                    digits.parse::<usize>().ok()
                })
                .max()
                .unwrap_or(0);
            assert_eq!(highest, args, "placeholders of {sql:?} for {text:?}");
            // Attribute names come from the schema (no parentheses) and values are bound, so the
            // SQL's parentheses always pair up.
            assert_eq!(sql.matches('(').count(), sql.matches(')').count(), "{sql}");
        }
    }
});
