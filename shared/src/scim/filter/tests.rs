use serde_json::{json, Value};

use super::*;
use crate::scim::schema::ResourceSchema;
use crate::scim::ScimType;

fn enterprise_user() -> Value {
    serde_json::from_str(include_str!("../../../tests/data/rfc7643_8.3_enterprise_user.json")).unwrap()
}

fn group() -> Value {
    serde_json::from_str(include_str!("../../../tests/data/rfc7643_8.4_group.json")).unwrap()
}

fn user_matches(filter: &str, user: &Value) -> bool {
    let rs = ResourceSchema::user();
    let f = Filter::parse_for(filter, rs).unwrap_or_else(|e| panic!("{filter}: {e}"));
    f.matches(user, rs)
}

/// Every filter example of RFC 7644 section 3.4.2.2, with whether the RFC 7643 section 8.3
/// user (Babs Jensen, work email bjensen@example.com, userType Employee, title Tour Guide)
/// matches it.
const RFC_EXAMPLES: &[(&str, bool)] = &[
    (r#"userName eq "bjensen""#, false),
    (r#"name.familyName co "O'Malley""#, false),
    (r#"userName sw "J""#, false),
    (r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#, false),
    (r#"title pr"#, true),
    (r#"meta.lastModified gt "2011-05-13T04:42:34Z""#, false),
    (r#"meta.lastModified ge "2011-05-13T04:42:34Z""#, true),
    (r#"meta.lastModified lt "2011-05-13T04:42:34Z""#, false),
    (r#"meta.lastModified le "2011-05-13T04:42:34Z""#, true),
    (r#"title pr and userType eq "Employee""#, true),
    (r#"title pr or userType eq "Intern""#, true),
    (r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#, true),
    (r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#, true),
    (r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#, false),
    (r#"userType eq "Employee" and (emails.type eq "work")"#, true),
    (r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#, true),
    (r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#, true),
];

#[test]
fn every_rfc_7644_example_parses_resolves_and_evaluates() {
    let user = enterprise_user();
    for (filter, expected) in RFC_EXAMPLES {
        assert_eq!(user_matches(filter, &user), *expected, "{filter}");
    }
}

#[test]
fn printing_round_trips_the_rfc_examples() {
    for (filter, _) in RFC_EXAMPLES {
        let f = Filter::parse(filter).unwrap();
        let printed = f.to_string();
        assert_eq!(Filter::parse(&printed).unwrap(), f, "{filter} printed as {printed}");
    }
}

#[test]
fn precedence_is_not_then_and_then_or() {
    let f = Filter::parse(r#"a pr or b pr and c pr"#).unwrap();
    assert!(matches!(f, Filter::Or(ref t) if matches!(t[1], Filter::And(..))), "{f:?}");
    let f = Filter::parse(r#"(a pr or b pr) and c pr"#).unwrap();
    assert!(matches!(f, Filter::And(ref t) if matches!(t[0], Filter::Or(..))), "{f:?}");
    assert_eq!(f.to_string(), "(a pr or b pr) and c pr");
    let f = Filter::parse(r#"a pr and (b pr and c pr)"#).unwrap();
    assert_eq!(f.to_string(), "a pr and (b pr and c pr)");
}

#[test]
fn keywords_and_operators_ignore_case_and_literals_decode() {
    let f = Filter::parse(r#"userName EQ "a\"b\\c\u00e9" AND active Eq TRUE Or x Pr"#).unwrap();
    let printed = f.to_string();
    assert_eq!(printed, r#"userName eq "a\"b\\cé" and active eq true or x pr"#);
    match Filter::parse("x gt -1.5e3").unwrap() {
        Filter::Compare { value: CompValue::Num(n), .. } => assert_eq!(n.as_f64(), Some(-1500.0)),
        other => panic!("{other:?}"),
    }
    assert!(matches!(Filter::parse("x eq null").unwrap(), Filter::Compare { value: CompValue::Null, .. }));
}

#[test]
fn syntax_errors_name_the_position_and_the_reason() {
    let cases: &[(&str, &str)] = &[
        ("", "position 1"),
        ("userName", "expected an operator"),
        ("userName eq", "expected a value"),
        ("userName xx \"a\"", "'xx' is not an operator"),
        ("userName eq bjensen", "'bjensen' is not a value"),
        ("userName eq \"bjensen", "not closed"),
        ("(userName pr", "missing ')'"),
        ("userName pr)", "unmatched ')'"),
        ("userName pr userType pr", "unexpected 'userType'"),
        ("not userName pr", "'not' must be followed"),
        ("emails[type eq \"work\"", "missing ']'"),
        ("emails[type eq \"work\" and ims[type pr]]", "cannot be nested"),
        ("1name pr", "not a valid attribute name"),
        ("userName eq \"\\x\"", "invalid string literal"),
    ];
    for (filter, expected) in cases {
        let e = Filter::parse(filter).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidFilter));
        assert_eq!(e.status, 400);
        assert!(e.detail.contains(expected), "{filter:?}: {:?} should contain {expected:?}", e.detail);
    }
    let e = Filter::parse("userName eq \"x\" and (").unwrap_err();
    assert!(e.detail.contains("position 22"), "{}", e.detail);
}

#[test]
fn limits_on_length_and_depth() {
    let long = format!("userName eq \"{}\"", "x".repeat(MAX_FILTER_LEN));
    assert!(Filter::parse(&long).unwrap_err().detail.contains("limit"));
    let deep = format!("{}userName pr{}", "(".repeat(MAX_DEPTH + 1), ")".repeat(MAX_DEPTH + 1));
    assert!(Filter::parse(&deep).unwrap_err().detail.contains("nested"));
    let ok = format!("{}userName pr{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
    assert!(Filter::parse(&ok).is_ok());
}

#[test]
fn schema_check_rejects_what_cannot_match() {
    let rs = ResourceSchema::user();
    let cases: &[(&str, &str)] = &[
        ("nope eq \"x\"", "unknown attribute 'nope'"),
        ("name.nope eq \"x\"", "unknown attribute 'name.nope'"),
        ("urn:example:unknown:1.0:User:x eq \"x\"", "unknown schema"),
        ("active gt true", "boolean"),
        ("active eq \"maybe\"", "boolean"),
        ("userName eq 5", "string"),
        ("meta.created gt \"yesterday\"", "dateTime"),
        ("meta.created co \"2011\"", "dateTime"),
        ("name eq \"x\"", "complex"),
        ("userName[value eq \"x\"]", "not a complex attribute"),
        ("emails[nope eq \"x\"]", "no sub-attribute 'nope'"),
        ("userName gt null", "null"),
    ];
    for (filter, expected) in cases {
        let e = Filter::parse_for(filter, rs).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidFilter));
        assert!(e.detail.contains(expected), "{filter}: {:?} should contain {expected:?}", e.detail);
    }
}

#[test]
fn resolution_canonicalizes_names_and_literals() {
    let rs = ResourceSchema::user();
    let f = Filter::parse_for(r#"USERNAME eq "x" and Active eq "True" and EMAILS co "@x" and urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:DEPARTMENT eq "Sales""#, rs).unwrap();
    assert_eq!(
        f.to_string(),
        r#"userName eq "x" and active eq true and emails.value co "@x" and urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "Sales""#
    );
}

#[test]
fn evaluation_semantics() {
    let user = enterprise_user();
    let cases: &[(&str, bool)] = &[
        // caseExact: userName is not, id and externalId are.
        (r#"userName eq "BJENSEN@EXAMPLE.COM""#, true),
        (r#"externalId eq "701984""#, true),
        (r#"id eq "2819C223-7F76-453A-919D-413861904646""#, false),
        (r#"emails.value ew "@JENSEN.ORG""#, true),
        (r#"emails[type eq "home"].value sw "babs""#, true),
        (r#"emails[type eq "home"].value sw "bjensen""#, false),
        (r#"addresses[type eq "work"].country eq "USA""#, true),
        (r#"addresses[type eq "home" and primary eq true]"#, false),
        (r#"emails[primary eq true].value eq "bjensen@example.com""#, true),
        // Extension attributes.
        (r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "Tour Operations""#, true),
        (
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "26118915-6090-4610-87e4-49d8ca9f808d""#,
            true,
        ),
        (r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager[displayName sw "John"]"#, true),
        (r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter pr"#, true),
        // ne is "not eq"; eq null is "not present".
        (r#"nickName ne "Babs""#, false),
        (r#"userType ne "Intern""#, true),
        (r#"name.honorificPrefix eq null"#, false),
        (r#"name.honorificPrefix ne null"#, true),
        (r#"nickName eq null"#, false),
        (r#"profileUrl pr and not (timezone eq null)"#, true),
        (r#"not (title pr)"#, false),
        // dateTime ordering is by instant, across offsets.
        (r#"meta.created lt "2010-01-23T05:56:22+01:00""#, false),
        (r#"meta.created le "2010-01-23T05:56:22+01:00""#, true),
        (r#"meta.created gt "2010-01-23T04:56:21.999Z""#, true),
        // Booleans.
        (r#"active eq true"#, true),
        (r#"active ne true"#, false),
        // String ordering.
        (r#"userName gt "a""#, true),
        (r#"userName lt "a""#, false),
        (r#"groups.display co "tour""#, true),
        (r#"x509Certificates.value eq "MIIDQzCCAqygAwIBAgICEAAwDQYJKoZIhvcNAQEFBQAwTjELMAkGA1UEBhMCVVMx""#, true),
    ];
    for (filter, expected) in cases {
        assert_eq!(user_matches(filter, &user), *expected, "{filter}");
    }
    // An absent attribute: ne true, eq/co/pr false.
    let minimal: Value =
        serde_json::from_str(include_str!("../../../tests/data/rfc7643_8.1_minimal_user.json")).unwrap();
    assert!(user_matches(r#"title ne "x""#, &minimal));
    assert!(!user_matches(r#"title eq "x""#, &minimal));
    assert!(!user_matches(r#"title pr"#, &minimal));
    assert!(user_matches(r#"title eq null"#, &minimal));
    assert!(!user_matches(r#"emails[type eq "work"]"#, &minimal));
    // Empty strings and lists are not present.
    assert!(!user_matches("title pr", &json!({"title": ""})));
    assert!(!user_matches("emails pr", &json!({"emails": []})));
}

#[test]
fn group_filters() {
    let rs = ResourceSchema::group();
    let g = group();
    for (filter, expected) in [
        (r#"displayName eq "tour guides""#, true),
        (r#"members[value eq "2819c223-7f76-453a-919d-413861904646"]"#, true),
        (r#"members[value eq "2819C223-7F76-453A-919D-413861904646"]"#, false),
        (r#"members.display co "Mandy""#, true),
        (r#"members eq "902c246b-6245-4190-8e05-00816be7344a""#, true),
    ] {
        let f = Filter::parse_for(filter, rs).unwrap_or_else(|e| panic!("{filter}: {e}"));
        assert_eq!(f.matches(&g, rs), expected, "{filter}");
    }
}

#[test]
fn idp_filters() {
    // What Okta and Entra ID send when they look a user or group up.
    let rs = ResourceSchema::user();
    let user = enterprise_user();
    for filter in [
        r#"userName eq "bjensen@example.com""#,
        r#"externalId eq "701984""#,
        r#"userName eq "bjensen@example.com" and externalId eq "701984""#,
        r#"emails[type eq "work"].value eq "bjensen@example.com""#,
    ] {
        assert!(Filter::parse_for(filter, rs).unwrap().matches(&user, rs), "{filter}");
    }
    let g = group();
    let f = Filter::parse_for(r#"displayName eq "Tour Guides""#, ResourceSchema::group()).unwrap();
    assert!(f.matches(&g, ResourceSchema::group()));
}

#[test]
fn long_chains_are_refused_with_the_limit_and_never_recurse_deeply() {
    // 450 × `id pr` joined by `or` (4 KB) used to overflow the stack and abort the server.
    let attack = vec!["id pr"; 450].join(" or ");
    let e = Filter::parse(&attack).unwrap_err();
    assert_eq!(e.scim_type, Some(crate::scim::ScimType::InvalidFilter));
    assert!(e.detail.contains(&format!("more than {MAX_TERMS} comparisons")), "{}", e.detail);
    let mixed = (0..MAX_TERMS + 1).map(|i| format!("title eq \"{i}\"")).collect::<Vec<_>>().join(" and ");
    assert!(Filter::parse(&mixed).is_err());

    // At the limit, a chain is one n-ary node: parsing, checking, printing and evaluating it go
    // one level deep, whatever its length.
    let at_limit = vec!["id pr"; MAX_TERMS].join(" or ");
    let f = Filter::parse(&at_limit).unwrap();
    assert!(matches!(&f, Filter::Or(terms) if terms.len() == MAX_TERMS));
    let resolved = f.resolve(ResourceSchema::user()).unwrap();
    assert!(resolved.matches(&json!({"id": "1"}), ResourceSchema::user()));
    assert_eq!(Filter::parse(&f.to_string()).unwrap(), f);

    // Nesting stays bounded by MAX_DEPTH, and value paths count their terms too.
    let deep = format!("{}id pr{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
    assert!(Filter::parse(&deep).is_ok());
    let deeper = format!("{}id pr{}", "(".repeat(MAX_DEPTH + 1), ")".repeat(MAX_DEPTH + 1));
    assert!(Filter::parse(&deeper).unwrap_err().detail.contains("nested more than"));
    let in_brackets = format!("emails[{}]", vec!["type eq \"w\""; MAX_TERMS + 1].join(" or "));
    assert!(Filter::parse(&in_brackets).unwrap_err().detail.contains("comparisons"));
}

#[test]
fn value_path_extension_keeps_one_and_chain() {
    let f = Filter::parse(r#"addresses[type eq "work" and primary eq true].country eq "US""#).unwrap();
    assert_eq!(f.to_string(), r#"addresses[type eq "work" and primary eq true and country eq "US"]"#);
}
