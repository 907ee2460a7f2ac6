#!/usr/bin/env bash
# Runs every test: unit tests, integration tests against SQLite and a throwaway PostgreSQL,
# and the browser tests in Chromium. Set ROSTER_TEST_POSTGRES_URL to use an existing
# PostgreSQL server instead of starting one.
source "$(dirname "$0")/lib.sh"

ensure_rust_tools
ensure_test_tools
build_site

say "unit and integration tests (SQLite and PostgreSQL)"
cargo test --workspace

say "browser tests (Playwright, Chromium)"
(cd end2end && CI="${CI:-1}" npx playwright test)

say "all tests passed"
