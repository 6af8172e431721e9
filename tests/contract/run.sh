#!/usr/bin/env bash
# The REST contract, judged by Schemathesis: starts target/debug/convio (or $CONVIO_BIN, or the
# one under $CARGO_TARGET_DIR) on a fresh SQLite file
# with an admin key, seeds the objects the document's examples name (workspace `workspace_123`,
# contact 123456), and runs every operation of its /openapi.json with every check
# (tests/contract/schemathesis.toml says where a documented rule adds 422). No rate limits, so
# the fuzzing is not throttled. Exits non-zero on any failure.
#
# Usage: tests/contract/run.sh [extra schemathesis arguments]
set -uo pipefail
cd "$(dirname "$0")/../.."
dir=$(mktemp -d)
admin="convio_admin_contract_step_0123456789abcdef"
bin="${CONVIO_BIN:-${CARGO_TARGET_DIR:-target}/debug/convio}"
"$bin" --bind 127.0.0.1:0 --database-url "sqlite://$dir/convio.db?mode=rwc" \
  --admin-key "$admin" --rate-limit-per-hour 0 --auth-failure-limit 0 \
  >"$dir/convio.log" 2>&1 </dev/null &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
port=""
for _ in $(seq 1 300); do
  port=$(grep -o 'http://127.0.0.1:[0-9]*' "$dir/convio.log" | head -n 1 | cut -d: -f3)
  [ -n "$port" ] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
[ -n "$port" ] || { cat "$dir/convio.log" >&2; exit 1; }
base="http://127.0.0.1:$port"
post() {
  curl -fsS -o /dev/null -X POST "$base$1" -H "Authorization: Bearer $admin" \
    -H 'Content-Type: application/json' -d "$2"
}
post /workspaces/register '{"workspace_id":"workspace_123","workspace_name":"Sales Team Alpha"}' &&
  post /contacts '{"id":123456,"name":"Jane Roe","workspace_id":"workspace_123"}' || exit 1
schemathesis --config-file tests/contract/schemathesis.toml run "$base/openapi.json" \
  -H "Authorization: Bearer $admin" --checks all \
  --phases examples,coverage,fuzzing --max-examples 25 --seed 1 -w 1 --no-color "$@"
