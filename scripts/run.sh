#!/usr/bin/env bash
# Builds Roster (server and wasm dashboard, release build) and starts it on
# http://127.0.0.1:3000 with an embedded SQLite database under ./data. Extra arguments go to
# `roster serve`.
source "$(dirname "$0")/lib.sh"

ensure_rust_tools
build_release
say "starting Roster (Ctrl-C to stop)"
LEPTOS_SITE_ROOT="$RELEASE_SITE_ROOT" exec "$ROOT/target/release/roster" serve "$@"
