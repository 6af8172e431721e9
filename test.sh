#!/usr/bin/env bash
# The one test command (README, Development). It installs what is missing, then runs, in order:
#   1. cargo     `cargo test --workspace --locked --no-fail-fast`: unit tests and the black-box suite, each on
#                SQLite and on PostgreSQL (with CI set, a PostgreSQL test that cannot reach its
#                server fails instead of skipping);
#   2. drift     `npm run build` in dashboard/ must reproduce the committed dashboard/dist byte for
#                byte (the binary embeds it, and `cargo build` never runs Node);
#   3. browser   the browser suite in dashboard/tests/ (node --test, Debian's Chromium driven by
#                playwright-core) against target/debug/convio, built here by `cargo build --locked`;
#   4. conformance  the GraphQL-over-HTTP audit of the `graphql-http` npm package (one test per audit)
#                and the reference graphql-transport-ws client of the `graphql-ws` package
#                (tests/conformance/, node --test) against the same target/debug/convio;
#   5. metrics   Prometheus's own checks (Debian's `prometheus` package provides promtool): a scrape
#                of /metrics from the same target/debug/convio after real traffic must pass
#                `promtool check metrics`, and deploy/prometheus/alerts.test.yml must pass
#                `promtool test rules` (each counts as one test);
#   6. contract  Schemathesis (PyPI, pinned below) against the REST contract: every operation of
#                the same target/debug/convio's /openapi.json with every check, a fixed seed
#                (tests/contract/run.sh, tests/contract/schemathesis.toml); counts as one test.
# It closes with one line, 'N passed, M failed', over all five (the drift check counts as one test;
# a step that fails without reporting a failed test counts as one failure) and exits non-zero if
# anything failed.
#
# Usage: ./test.sh [cargo] [drift] [browser] [conformance] [metrics] [contract]   (no argument: all six)
# Installs, when missing: PostgreSQL (started on 127.0.0.1:5432, trust auth for TCP from 127.0.0.1),
# Chromium (Debian's package, /usr/bin/chromium), node and npm, the npm packages of dashboard/
# and tests/conformance/ (`npm ci` when a node_modules is missing or older than its package-lock.json),
# promtool and curl (Debian's `prometheus` and `curl`), and Schemathesis (`pip install`).
set -uo pipefail
cd "$(dirname "$0")"
export DEBIAN_FRONTEND=noninteractive

steps=("$@")
[ ${#steps[@]} -eq 0 ] && steps=(cargo drift browser conformance metrics contract)
wants() { [[ " ${steps[*]} " == *" $1 "* ]]; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }
apt_updated=false
apt_install() {
  echo "installing $* (apt-get)" >&2
  if ! $apt_updated; then as_root apt-get update -qq </dev/null; apt_updated=true; fi
  as_root apt-get install -y -qq "$@" </dev/null >/dev/null
}

# --- PostgreSQL, for cargo's suite ---------------------------------------------------------------
PG_HOST=127.0.0.1
PG_PORT=5432
export CONVIO_TEST_POSTGRES_URL="${CONVIO_TEST_POSTGRES_URL:-postgres://postgres@$PG_HOST:$PG_PORT/postgres?sslmode=disable}"
pg_up() { command -v pg_isready >/dev/null && pg_isready -q -h "$PG_HOST" -p "$PG_PORT"; }
start_postgres() {
  pg_up && return 0
  command -v pg_ctlcluster >/dev/null || apt_install postgresql || return 1
  local version hba
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  hba="/etc/postgresql/$version/main/pg_hba.conf"
  # Tests connect over TCP as postgres without a password, as on the developer machines.
  if ! grep -qE '^host\s+all\s+all\s+127\.0\.0\.1/32\s+trust' "$hba"; then
    as_root sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
  fi
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start ||
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main reload
  for _ in $(seq 1 30); do pg_up && return 0; sleep 1; done
  return 1
}

# --- Node, npm packages and Chromium, for the dashboard ------------------------------------------
ensure_node() {
  command -v node >/dev/null && command -v npm >/dev/null && return 0
  apt_install nodejs npm
}
ensure_npm_packages() {
  # npm ci in $1 (default dashboard) when node_modules is missing or stale: npm's own record of
  # the installed tree (node_modules/.package-lock.json) is missing or older than package-lock.json,
  # or the installed tree does not satisfy package.json (`npm ls` fails).
  local dir=${1:-dashboard}
  local hidden=$dir/node_modules/.package-lock.json
  if [ -f "$hidden" ] && [ ! "$dir/package-lock.json" -nt "$hidden" ] &&
    (cd "$dir" && npm ls --all >/dev/null 2>&1 </dev/null); then
    return 0
  fi
  echo "npm ci in $dir/" >&2
  (cd "$dir" && npm ci --no-audit --no-fund </dev/null)
}
ensure_chromium() {
  [ -x /usr/bin/chromium ] || apt_install chromium
}

status=0
passed=0
failed=0
fail_step() { echo "FAILED: $1" >&2; status=1; }
# The binary the browser and conformance steps run, built once for both.
built=false
build_binary() { $built || { cargo build --locked && built=true; }; }
# Where that binary is, for the steps in this script (CONVIO_BIN overrides it, as for the node
# suites, which find it the same way).
convio_bin="${CONVIO_BIN:-${CARGO_TARGET_DIR:-target}/debug/convio}"
# Adds the counts of a node --test TAP report ($1) to the totals, and leaves them in p and f.
count_tap() {
  read -r p f < <(awk '/^# pass / { p += $3 } /^# (fail|cancelled) / { f += $3 } END { printf "%d %d\n", p, f }' "$1" 2>/dev/null || echo "0 0")
  passed=$((passed + p))
  failed=$((failed + f))
}
log_dir=$(mktemp -d)
trap 'rm -rf "$log_dir"' EXIT

# --- 1. cargo ----------------------------------------------------------------------------------------
if wants cargo; then
  command -v cargo >/dev/null || { echo "cargo is required (the machine's Rust toolchain)" >&2; exit 1; }
  # The docs' shell examples run with bash and curl (tests/api/docs_examples.rs).
  command -v curl >/dev/null || apt_install curl
  if start_postgres; then
    echo "PostgreSQL ready at $PG_HOST:$PG_PORT"
  else
    echo "PostgreSQL is not available: its tests skip (or fail with CI set)" >&2
  fi
  cargo --version
  # --no-fail-fast: a failing test binary must not hide the results of the others from the count.
  cargo test --workspace --locked --no-fail-fast 2>&1 | tee "$log_dir/cargo.log"
  cargo_status=${PIPESTATUS[0]}
  read -r p f < <(awk '/^test result:/ { p += $4; f += $6 } END { printf "%d %d\n", p, f }' "$log_dir/cargo.log")
  passed=$((passed + p))
  failed=$((failed + f))
  if [ "$cargo_status" -ne 0 ]; then
    [ "$f" -eq 0 ] && failed=$((failed + 1))
    fail_step "cargo test (exit $cargo_status)"
  fi
fi

# --- 2. drift ----------------------------------------------------------------------------------------
node_ready=false
if wants drift || wants browser; then
  if ensure_node && ensure_npm_packages; then node_ready=true; else fail_step "installing node and the dashboard's npm packages"; fi
fi
if wants drift; then
  echo "dashboard asset drift check: npm run build, then compare with the committed dashboard/dist"
  drift_ok=false
  if $node_ready && (cd dashboard && npm run build --silent </dev/null); then
    untracked=$(git ls-files --others --exclude-standard -- dashboard/dist)
    if git diff --exit-code --stat -- dashboard/dist && [ -z "$untracked" ]; then
      drift_ok=true
    else
      [ -n "$untracked" ] && printf 'not committed:\n%s\n' "$untracked"
      echo "dashboard/dist differs from a rebuild: run 'npm run build' in dashboard/ and commit dashboard/dist" >&2
    fi
  fi
  if $drift_ok; then passed=$((passed + 1)); echo "drift check: ok"; else failed=$((failed + 1)); fail_step "dashboard asset drift check"; fi
fi

# --- 3. browser --------------------------------------------------------------------------------------
if wants browser; then
  browser_ok=false
  if ! $node_ready; then
    failed=$((failed + 1))
  elif ! ensure_chromium; then
    failed=$((failed + 1)); fail_step "installing chromium"
  elif ! build_binary; then
    failed=$((failed + 1)); fail_step "cargo build (the binary the browser suite runs)"
  else
    tap="$log_dir/browser.tap"
    # Files run one at a time: each starts its own convio and Chromium, and the machine has 2 cores.
    (cd dashboard && timeout 900 node --test --test-concurrency=1 \
      --test-reporter=spec --test-reporter-destination=stdout \
      --test-reporter=tap --test-reporter-destination="$tap" \
      tests/ </dev/null)
    browser_status=$?
    count_tap "$tap"
    if [ "$browser_status" -ne 0 ]; then
      [ "$f" -eq 0 ] && failed=$((failed + 1))
      fail_step "browser suite (exit $browser_status)"
    elif [ "$p" -eq 0 ]; then
      failed=$((failed + 1)); fail_step "browser suite ran no test"
    fi
  fi
fi

# --- 4. conformance ----------------------------------------------------------------------------------
if wants conformance; then
  if ! ensure_node || ! ensure_npm_packages tests/conformance; then
    failed=$((failed + 1)); fail_step "installing node and the conformance suite's npm packages"
  elif ! build_binary; then
    failed=$((failed + 1)); fail_step "cargo build (the binary the conformance audit runs)"
  else
    tap="$log_dir/conformance.tap"
    (cd tests/conformance && timeout 300 node --test \
      --test-reporter=spec --test-reporter-destination=stdout \
      --test-reporter=tap --test-reporter-destination="$tap" \
      graphql-http.test.mjs graphql-ws.test.mjs </dev/null)
    conformance_status=$?
    count_tap "$tap"
    if [ "$conformance_status" -ne 0 ]; then
      [ "$f" -eq 0 ] && failed=$((failed + 1))
      fail_step "GraphQL conformance: graphql-http audit, graphql-ws client (exit $conformance_status)"
    elif [ "$p" -eq 0 ]; then
      failed=$((failed + 1)); fail_step "GraphQL conformance ran no test"
    fi
  fi
fi

# --- 5. metrics --------------------------------------------------------------------------------------
# Starts target/debug/convio on a fresh SQLite file, sends it a little of everything (workspaces, a
# contact handed over, a conversion, GraphQL, a 404), scrapes /metrics and lets promtool judge it.
scrape_metrics() {
  local dir=$1 port="" base key ok=true
  local admin="convio_admin_metrics_step_0123456789abcdef"
  "$convio_bin" --bind 127.0.0.1:0 --database-url "sqlite://$dir/convio.db?mode=rwc" \
    --admin-key "$admin" >"$dir/convio.log" 2>&1 </dev/null &
  local pid=$!
  for _ in $(seq 1 300); do
    port=$(grep -o 'http://127.0.0.1:[0-9]*' "$dir/convio.log" | head -n 1 | cut -d: -f3)
    [ -n "$port" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$port" ]; then cat "$dir/convio.log" >&2; kill "$pid" 2>/dev/null; return 1; fi
  base="http://127.0.0.1:$port"
  post() {
    curl -fsS -X POST "$base$1" -H "Authorization: Bearer $2" -H 'Content-Type: application/json' -d "$3"
  }
  api_key() { sed -n 's/.*"api_key":"\([^"]*\)".*/\1/p' "$1"; }
  post /workspaces/register "$admin" '{"workspace_id":"lead_gen","workspace_name":"Lead gen"}' \
    >"$dir/lead_gen.json" &&
    post /workspaces/register "$admin" '{"workspace_id":"sales","workspace_name":"Sales"}' \
      >"$dir/sales.json" || ok=false
  if $ok; then
    key=$(api_key "$dir/lead_gen.json")
    post /contacts "$key" '{"id":1,"name":"Jane Roe"}' >/dev/null &&
      post /contacts/1/send "$key" '{"to_workspace_id":"sales"}' >/dev/null || ok=false
    key=$(api_key "$dir/sales.json")
    post /conversions/log "$key" \
      '{"contact_id":1,"converted_by":"rep","conversion_type":"sale","conversion_value":"250.00"}' \
      >/dev/null && post /graphql "$key" '{"query":"{ contact(id: 1) { id } }"}' >/dev/null || ok=false
    curl -s -o /dev/null "$base/no/such/path"
    curl -fsS "$base/metrics" >"$dir/metrics.txt" || ok=false
  fi
  kill "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  $ok || cat "$dir/convio.log" >&2
  $ok
}
if wants metrics; then
  command -v promtool >/dev/null || apt_install prometheus
  command -v curl >/dev/null || apt_install curl
  if ! command -v promtool >/dev/null; then
    failed=$((failed + 1)); fail_step "installing promtool (Debian's prometheus package)"
  elif ! build_binary; then
    failed=$((failed + 1)); fail_step "cargo build (the binary whose /metrics promtool checks)"
  else
    metrics_dir="$log_dir/metrics"
    mkdir -p "$metrics_dir"
    echo "promtool check metrics: a scrape of target/debug/convio after traffic"
    if scrape_metrics "$metrics_dir" && promtool check metrics <"$metrics_dir/metrics.txt"; then
      passed=$((passed + 1))
      echo "promtool check metrics: ok ($(grep -vc '^#' "$metrics_dir/metrics.txt") samples)"
    else
      failed=$((failed + 1)); fail_step "promtool check metrics"
    fi
    echo "promtool test rules deploy/prometheus/alerts.test.yml"
    if (cd deploy/prometheus && promtool test rules alerts.test.yml); then
      passed=$((passed + 1))
    else
      failed=$((failed + 1)); fail_step "promtool test rules deploy/prometheus/alerts.test.yml"
    fi
  fi
fi

# --- 6. contract -------------------------------------------------------------------------------------
SCHEMATHESIS_VERSION=4.32.5
if wants contract; then
  command -v curl >/dev/null || apt_install curl
  if [ "$(schemathesis --version 2>/dev/null)" != "schemathesis, version $SCHEMATHESIS_VERSION" ]; then
    echo "pip install schemathesis==$SCHEMATHESIS_VERSION" >&2
    python3 -m pip install -q "schemathesis==$SCHEMATHESIS_VERSION" </dev/null >&2
  fi
  if ! command -v schemathesis >/dev/null; then
    failed=$((failed + 1)); fail_step "installing Schemathesis (pip)"
  elif ! build_binary; then
    failed=$((failed + 1)); fail_step "cargo build (the binary Schemathesis runs against)"
  elif timeout 600 tests/contract/run.sh; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1)); fail_step "Schemathesis: the REST contract (tests/contract/run.sh)"
  fi
fi

[ "$failed" -gt 0 ] && status=1
echo "$passed passed, $failed failed"
exit "$status"
