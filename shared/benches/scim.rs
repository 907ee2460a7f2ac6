//! Benchmarks of the SCIM core's hot paths: parsing a typical IdP filter, evaluating it on a
//! typical user, and applying a typical Entra ID PATCH. Run with
//! `cargo bench -p roster-shared --bench scim`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use roster_shared::scim::filter::Filter;
use roster_shared::scim::patch::{apply, parse_request};
use roster_shared::scim::schema::ResourceSchema;
use roster_shared::scim::validate::{validate_resource, Mode};
use serde_json::{json, Value};

const OKTA_FILTER: &str = r#"userName eq "bjensen@example.com""#;
const ENTRA_FILTER: &str = r#"externalId eq "701984" and emails[type eq "work"].value co "@example.com""#;

fn user() -> Value {
    let v: Value =
        serde_json::from_str(include_str!("../tests/data/rfc7643_8.3_enterprise_user.json")).expect("RFC example");
    validate_resource(&v, ResourceSchema::user(), Mode::Create).expect("valid")
}

fn benches(c: &mut Criterion) {
    let rs = ResourceSchema::user();
    c.bench_function("filter/parse+resolve okta userName eq", |b| {
        b.iter(|| Filter::parse_for(black_box(OKTA_FILTER), rs).expect("valid"))
    });
    c.bench_function("filter/parse+resolve entra compound", |b| {
        b.iter(|| Filter::parse_for(black_box(ENTRA_FILTER), rs).expect("valid"))
    });
    let user = user();
    let okta = Filter::parse_for(OKTA_FILTER, rs).expect("valid");
    let entra = Filter::parse_for(ENTRA_FILTER, rs).expect("valid");
    c.bench_function("filter/evaluate okta userName eq", |b| b.iter(|| black_box(&okta).matches(black_box(&user), rs)));
    c.bench_function("filter/evaluate entra compound", |b| b.iter(|| black_box(&entra).matches(black_box(&user), rs)));

    let body = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [
            {"op": "Replace", "path": "active", "value": "False"},
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "babs@contoso.com"},
            {"op": "Add", "value": {"name.givenName": "Barbara", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "Finance"}}
        ]
    });
    // The stored user arrives owned (decoded from the database), so its copy is set-up, not
    // part of the measurement.
    c.bench_function("patch/parse+apply entra 3 ops", |b| {
        b.iter_batched(
            || user.clone(),
            |u| {
                let ops = parse_request(black_box(&body)).expect("valid");
                apply(u, &ops, rs).expect("applies")
            },
            BatchSize::SmallInput,
        )
    });
    let ops = parse_request(&body).expect("valid");
    c.bench_function("patch/apply entra 3 ops (parsed)", |b| {
        b.iter_batched(|| user.clone(), |u| apply(u, black_box(&ops), rs).expect("applies"), BatchSize::SmallInput)
    });
}

criterion_group!(scim, benches);
criterion_main!(scim);
