#!/usr/bin/env bash
# Builds Roster (server and wasm dashboard) and starts it on http://127.0.0.1:3000 with an
# embedded SQLite database under ./data. Extra arguments go to `roster serve`.
source "$(dirname "$0")/lib.sh"

ensure_rust_tools
build_site
say "starting Roster (Ctrl-C to stop)"
exec "$ROOT/target/debug/roster" serve "$@"
