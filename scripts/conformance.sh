#!/usr/bin/env bash
# SCIM conformance: scim2-tester (from PyPI, in a local virtualenv) against a freshly started
# roster with a new tenant and token. Needs target/debug/roster (scripts/test.sh builds it).
source "$(dirname "$0")/lib.sh"

VENV="$ROOT/.tools/scim-venv"
if [ ! -x "$VENV/bin/python" ] || ! cmp -s conformance/requirements.txt "$VENV/requirements.txt"; then
  say "installing scim2-tester into $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r conformance/requirements.txt
  cp conformance/requirements.txt "$VENV/requirements.txt"
fi

ROSTER="$ROOT/target/debug/roster"
WORK="$(mktemp -d)"
PORT="${ROSTER_CONFORMANCE_PORT:-3108}"
DB="sqlite://$WORK/conformance.db"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

export RUST_LOG=warn
TENANT="$(printf '%s\n' 'conformance-password-1' | "$ROSTER" tenant create --database-url "$DB" --name Conformance \
  --admin-email conformance@example.test --admin-password-stdin)"
"$ROSTER" scim enable --database-url "$DB" --tenant "$TENANT" >/dev/null
TOKEN="$("$ROSTER" scim token create --database-url "$DB" --tenant "$TENANT" --name scim2-tester --json |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])')"

# scim2-tester deactivates and deletes many of its few users within a minute, by design: the
# mass-deprovisioning brake (on by default) would hold those changes, as it should for an IdP.
"$ROSTER" tenant safety --database-url "$DB" --tenant "$TENANT" --brake off >/dev/null

# No rate limit: scim2-tester sends its checks back to back, faster than any IdP.
"$ROSTER" serve --database-url "$DB" --bind "127.0.0.1:$PORT" --public-url "http://127.0.0.1:$PORT" --scim-rate-limit 0 --webhook-allow-loopback >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done

"$VENV/bin/python" conformance/check.py "http://127.0.0.1:$PORT/scim/v2/$TENANT" "$TOKEN"

# The load benchmark's scenarios, tiny and untimed, against the same server: every request of
# every scenario must succeed (the figures themselves come from scripts/bench.sh).
say "load benchmark smoke run (roster bench, 300 users, 1 s per scenario)"
"$ROSTER" bench --database-url "$DB" --url "http://127.0.0.1:$PORT" --users 300 --duration 1 \
  --sync-users 300 --concurrency 4 --server-pid "$SERVER_PID" >"$WORK/bench.txt" 2>&1 ||
  { cat "$WORK/bench.txt"; exit 1; }
