//! Property tests of the SCIM core: invariants that must hold for every input, not just the
//! examples.

use proptest::prelude::*;
use roster_shared::scim::filter::{CompValue, CompareOp, Filter};
use roster_shared::scim::patch::{apply, PatchOpKind, PatchOperation};
use roster_shared::scim::path::{AttrPath, PatchPath};
use roster_shared::scim::schema::ResourceSchema;
use roster_shared::scim::validate::{validate_resource, Mode};
use serde_json::{json, Number, Value};

const NAMES: &[&str] = &["userName", "title", "emails", "name", "active", "meta", "x", "a-b_c1"];
const SUBS: &[&str] = &["value", "type", "givenName", "created", "$ref"];

fn path() -> impl Strategy<Value = AttrPath> {
    (
        prop::option::weighted(0.15, Just("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User".to_string())),
        prop::sample::select(NAMES),
        prop::option::weighted(0.3, prop::sample::select(SUBS)),
    )
        .prop_map(|(urn, name, sub)| AttrPath { urn, name: name.to_string(), sub: sub.map(str::to_string) })
}

fn comp_value() -> impl Strategy<Value = CompValue> {
    prop_oneof![
        any::<String>().prop_map(CompValue::Str),
        any::<i64>().prop_map(|n| CompValue::Num(n.into())),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| CompValue::Num(Number::from_f64(f).expect("finite"))),
        any::<bool>().prop_map(CompValue::Bool),
        Just(CompValue::Null),
    ]
}

fn op() -> impl Strategy<Value = CompareOp> {
    prop::sample::select(vec![
        CompareOp::Eq,
        CompareOp::Ne,
        CompareOp::Co,
        CompareOp::Sw,
        CompareOp::Ew,
        CompareOp::Gt,
        CompareOp::Ge,
        CompareOp::Lt,
        CompareOp::Le,
    ])
}

fn leaf() -> impl Strategy<Value = Filter> {
    prop_oneof![
        (path(), op(), comp_value()).prop_map(|(path, op, value)| Filter::Compare { path, op, value }),
        path().prop_map(Filter::Present),
    ]
}

fn logic(inner: BoxedStrategy<Filter>) -> BoxedStrategy<Filter> {
    inner
        .prop_recursive(4, 24, 2, |inner| {
            prop_oneof![
                (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::And(vec![a, b])),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::Or(vec![a, b])),
                inner.prop_map(|a| Filter::Not(Box::new(a))),
            ]
        })
        .boxed()
}

fn filter() -> impl Strategy<Value = Filter> {
    // Value paths hold plain sub-attribute names and cannot nest.
    let sub_leaf = (prop::sample::select(SUBS), op(), comp_value())
        .prop_map(|(n, op, value)| Filter::Compare { path: AttrPath::attr(n), op, value })
        .boxed();
    let value_path = (prop::sample::select(NAMES), logic(sub_leaf))
        .prop_map(|(n, f)| Filter::ValuePath { path: AttrPath::attr(n), filter: Box::new(f) });
    logic(prop_oneof![3 => leaf(), 1 => value_path].boxed())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

    /// Printing a filter and parsing it back yields the same AST.
    #[test]
    fn print_then_parse_is_identity(f in filter()) {
        let printed = f.to_string();
        let parsed = Filter::parse(&printed);
        prop_assert_eq!(parsed.as_ref().ok(), Some(&f), "printed: {}", printed);
    }

    /// The parser never panics, whatever it is given.
    #[test]
    fn parsing_never_panics(text in ".{0,200}") {
        let _ = Filter::parse(&text);
        let _ = PatchPath::parse(&text);
    }

    /// `not (f)` matches exactly the resources `f` does not.
    #[test]
    fn not_is_negation(name in prop::sample::select(vec!["userName", "title", "nickName"]), needle in "[a-c]{0,2}") {
        let rs = ResourceSchema::user();
        let user = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "abc", "title": "cab"});
        let f = Filter::parse_for(&format!("{name} co {}", serde_json::to_string(&needle).unwrap()), rs).unwrap();
        let not_f = Filter::Not(Box::new(f.clone()));
        prop_assert_ne!(f.matches(&user, rs), not_f.matches(&user, rs));
    }
}

fn stored_user() -> Value {
    let input: Value = serde_json::from_str(include_str!("data/rfc7643_8.3_enterprise_user.json")).unwrap();
    let mut user = validate_resource(&input, ResourceSchema::user(), Mode::Create).unwrap();
    // The server-set attributes a PATCH must never change.
    user["id"] = json!("2819c223-7f76-453a-919d-413861904646");
    user["meta"] = json!({"resourceType": "User", "created": "2010-01-23T04:56:22Z", "lastModified": "2011-05-13T04:42:34Z", "version": "W/\"1\""});
    user["groups"] = json!([{"value": "g1", "display": "Tour Guides", "type": "direct"}]);
    user
}

const PATCH_PATHS: &[&str] = &[
    "id",
    "meta",
    "meta.created",
    "groups",
    "groups.value",
    "groups[value eq \"g1\"].display",
    "userName",
    "nickName",
    "name.givenName",
    "emails",
    "emails[type eq \"work\"].value",
    "emails[type eq \"home\"]",
    "active",
    "externalId",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
    "schemas",
    "members",
];

fn patch_value() -> impl Strategy<Value = Option<Value>> {
    prop::option::of(prop_oneof![
        Just(json!("x")),
        Just(json!(true)),
        Just(json!("False")),
        Just(json!({"givenName": "Ada", "value": "v"})),
        Just(json!([{"value": "a@b.c", "type": "work", "primary": true}])),
        Just(json!({"id": "other", "meta": {"created": "2020-01-01T00:00:00Z"}, "nickName": "N"})),
        Just(json!({"id": "2819c223-7f76-453a-919d-413861904646", "groups": [], "name.familyName": "J"})),
        Just(Value::Null),
    ])
}

fn patch_op() -> impl Strategy<Value = PatchOperation> {
    (
        prop::sample::select(vec![PatchOpKind::Add, PatchOpKind::Remove, PatchOpKind::Replace]),
        prop::option::weighted(0.8, prop::sample::select(PATCH_PATHS)),
        patch_value(),
    )
        .prop_map(|(op, path, value)| PatchOperation {
            op,
            path: path.and_then(|p| PatchPath::parse(p).ok()),
            value,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, .. ProptestConfig::default() })]

    /// No sequence of PATCH operations changes a read-only attribute (id, meta, groups).
    #[test]
    fn patch_never_changes_read_only_attributes(ops in prop::collection::vec(patch_op(), 1..5)) {
        let before = stored_user();
        if let Ok(after) = apply(before.clone(), &ops, ResourceSchema::user()) {
            for key in ["id", "meta", "groups"] {
                prop_assert_eq!(after.get(key), before.get(key), "{} changed by {:?}", key, ops);
            }
            prop_assert!(after.get("userName").is_some(), "userName is required");
        }
    }
}

/// Attribute names of both resource types, a few unknown ones, and sub-attribute names.
const KEYS: &[&str] = &[
    "userName",
    "password",
    "name",
    "emails",
    "groups",
    "members",
    "manager",
    "active",
    "id",
    "meta",
    "schemas",
    "externalId",
    "displayName",
    "x509Certificates",
    "unknownThing",
];
const INNER: &[&str] = &["value", "display", "type", "primary", "$ref", "givenName", "department", "managerId", "zz"];
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!("v")),
        Just(json!(1)),
        Just(json!(true)),
        Just(Value::Null),
        Just(json!({})),
        Just(json!([]))
    ]
}

fn json_object(depth: u32) -> BoxedStrategy<Value> {
    let leaf = json_leaf().boxed();
    let value = if depth == 0 {
        leaf
    } else {
        prop_oneof![
            2 => leaf,
            1 => json_object(depth - 1),
            1 => prop::collection::vec(prop_oneof![json_object(depth - 1), json_leaf()], 0..3).prop_map(Value::Array),
        ]
        .boxed()
    };
    prop::collection::btree_map(prop::sample::select(INNER).prop_map(str::to_string), value, 0..4)
        .prop_map(|m| Value::Object(m.into_iter().collect()))
        .boxed()
}

fn resource() -> impl Strategy<Value = Value> {
    let top = prop_oneof![
        3 => json_leaf(),
        2 => json_object(1),
        2 => prop::collection::vec(prop_oneof![json_object(1), json_leaf()], 0..3).prop_map(Value::Array),
    ];
    (
        prop::collection::btree_map(prop::sample::select(KEYS).prop_map(str::to_string), top, 0..8),
        prop::option::of(prop_oneof![json_object(1), json_leaf()]),
    )
        .prop_map(|(m, ext)| {
            let mut o: serde_json::Map<String, Value> = m.into_iter().collect();
            if let Some(e) = ext {
                o.insert(ENTERPRISE.into(), e);
            }
            Value::Object(o)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

    /// The projection that moves what it keeps answers what the copying one does, for any
    /// resource and any `attributes`/`excludedAttributes` (mostly none, as most requests ask).
    #[test]
    fn the_owned_projection_is_the_copying_one(
        res in resource(),
        group in any::<bool>(),
        lists in prop::option::weighted(0.3, (
            prop::collection::vec(prop::sample::select(KEYS), 0..3),
            prop::collection::vec(prop::sample::select(KEYS), 0..3),
        )),
    ) {
        use roster_shared::scim::projection::Projection;
        let rs = if group { ResourceSchema::group() } else { ResourceSchema::user() };
        let (attributes, excluded) = lists.unwrap_or_default();
        let p = Projection::parse(Some(&attributes.join(",")), Some(&excluded.join(",")), rs).unwrap();
        prop_assert_eq!(p.apply_owned(res.clone(), rs), p.apply(&res, rs));
    }
}
