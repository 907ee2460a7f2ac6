#!/usr/bin/env bash
# Runs every test: unit tests, integration tests against SQLite and a throwaway PostgreSQL,
# the SCIM conformance checks of scim2-tester, the previous release against this release's schema
# (a rolling upgrade), and the browser tests in Chromium. Set ROSTER_TEST_POSTGRES_URL to use an existing
# PostgreSQL server instead of starting one.
source "$(dirname "$0")/lib.sh"

ensure_rust_tools
ensure_test_tools
ensure_test_venv

say "formatting and lints (rustfmt, clippy with warnings as errors)"
cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings

build_previous_release
build_site

say "the SCIM core compiles for wasm32 (no I/O in the pure part)"
cargo build -p roster-shared --target wasm32-unknown-unknown --target-dir target/front

say "unit and integration tests (SQLite and PostgreSQL)"
cargo test --workspace

say "fuzzing the filter parser, the filter → SQL compiler and the PATCH engine (fixed number of inputs)"
fuzz filter_parse 100000
fuzz patch_apply 100000
fuzz filter_sql 50000

say "SCIM conformance (scim2-tester against a running roster)"
./scripts/conformance.sh

say "browser tests (Playwright, Chromium)"
(cd end2end && CI="${CI:-1}" npx playwright test)

say "all tests passed"
