//! Any text given to the filter parser: it must not panic; what parses must print and parse back
//! to the same AST, resolve or fail cleanly, and evaluate without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use roster_shared::scim::filter::Filter;
use roster_shared::scim::schema::ResourceSchema;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(filter) = Filter::parse(text) else { return };
    let printed = filter.to_string();
    let reparsed = Filter::parse(&printed).expect("a printed filter parses");
    assert_eq!(reparsed, filter, "round trip of {printed}");
    let user: serde_json::Value =
        serde_json::from_str(include_str!("../../shared/tests/data/rfc7643_8.3_enterprise_user.json")).expect("example");
    for schema in [ResourceSchema::user(), ResourceSchema::group()] {
        if let Ok(resolved) = filter.resolve(schema) {
            let _ = resolved.matches(&user, schema);
        }
    }
});
