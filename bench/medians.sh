#!/usr/bin/env bash
# Runs one convio-bench scenario N times, each against a freshly started release server (so each
# peak RSS is its own), and prints the median of each figure (docs/performance.md).
#
# Usage: bench/medians.sh RUNS DATABASE_URL SCENARIO [convio-bench options…]
#   e.g. bench/medians.sh 3 "sqlite:///tmp/convio-bench.db?mode=rwc" ingest-rest --concurrency 256 --ceilings
#        bench/medians.sh 3 "postgres://postgres@127.0.0.1:5432/bench" ingest-rest --concurrency 256
# Needs: cargo build --release -p convio -p convio-bench; python3 (to read the JSON reports).
# The server runs with no rate limit and warn-level logs, on 127.0.0.1:18080.
# Environment: CONVIO_BIN, the server binary (default target/release/convio; set it to compare two
# builds on the same machine); SERVER_FLAGS, extra flags for the server (word-split).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=$1 url=$2; shift 2
export CONVIO_ADMIN_KEY=${CONVIO_ADMIN_KEY:-bench-admin-key-0123456789}
out=$(mktemp -d)
for i in $(seq "$runs"); do
  # shellcheck disable=SC2086 # SERVER_FLAGS is a list of flags
  RUST_LOG=convio=warn "${CONVIO_BIN:-target/release/convio}" --bind 127.0.0.1:18080 \
    --database-url "$url" --rate-limit-per-hour 0 ${SERVER_FLAGS:-} &
  pid=$!
  for _ in $(seq 100); do curl -sf http://127.0.0.1:18080/healthz >/dev/null && break; sleep 0.1; done
  target/release/convio-bench --url http://127.0.0.1:18080 --server-pid $pid --json "$out/$i.json" "$@" \
    > "$out/$i.txt"
  kill $pid; wait $pid 2>/dev/null || true
  echo "run $i of $runs:" >&2; cat "$out/$i.txt" >&2
done
python3 - "$out" "$runs" <<'EOF'
import json, statistics, sys
out, runs = sys.argv[1], int(sys.argv[2])
reports = [json.load(open(f"{out}/{i}.json")) for i in range(1, runs + 1)]
med = lambda xs: statistics.median(xs) if xs else float("nan")
def lat(op, key):
    return med([o["latency"][key] / 1000 for o in op if o and o.get("latency")])
print(f"medians of {runs} runs: {reports[0]['scenario']}")
for name in [o["name"] for o in reports[0]["operations"]]:
    ops = [next((o for o in r["operations"] if o["name"] == name), None) for r in reports]
    print(f"  {name:<36} {med([o['ok_per_s'] for o in ops if o]):>9.1f} ok/s"
          f"  p50 {lat(ops, 'p50_us'):.2f}  p95 {lat(ops, 'p95_us'):.2f}  p99 {lat(ops, 'p99_us'):.2f} ms"
          f"  errors {med([sum(o['errors'].values()) for o in ops if o]):.0f}")
for i, c in enumerate(reports[0].get("ceilings", [])):
    cs = [r["ceilings"][i] for r in reports]
    print(f"  ceiling {c['reference']:<28} {med([c['ok_per_s'] for c in cs]):>9.1f} ok/s"
          f"  p99 {lat(cs, 'p99_us'):.2f} ms  convio = {med([c['convio_ratio'] for c in cs]):.3f}×")
feeds = [r["feed"] for r in reports if r.get("feed")]
if feeds:
    for key in ("created_to_receipt", "send_to_receipt"):
        xs = [f[key] for f in feeds if f.get(key)]
        print(f"  feed {key}: p50 {med([x['p50_us'] / 1000 for x in xs]):.2f}  p99 {med([x['p99_us'] / 1000 for x in xs]):.2f} ms"
              f"  lost {sum(f['lost'] for f in feeds)}  duplicates {sum(f['duplicates'] for f in feeds)}")
floors = [r["floor_ratio"] for r in reports if r.get("floor_ratio")]
if floors:
    print(f"  feed over its floor: p50 {med([f['p50'] for f in floors]):.2f}×  p99 {med([f['p99'] for f in floors]):.2f}×")
rss = [r["server"]["peak_rss_kb"] / 1024 for r in reports if r["server"].get("peak_rss_kb")]
stmts = [r["server"]["db_statements"] / max(r["total_ok"], 1) for r in reports if r["server"].get("db_statements") is not None]
cpus = [(r["server"]["cpu_ms_by_thread"], max(r["total_ok"], 1)) for r in reports if r["server"].get("cpu_ms_by_thread")]
if cpus:
    names = sorted({n for c, _ in cpus for n in c})
    each = ", ".join(f"{n} {med([c.get(n, 0) * 1000 / ok for c, ok in cpus]):.0f}" for n in names)
    print(f"  server CPU per ok request: {med([sum(c.values()) * 1000 / ok for c, ok in cpus]):.0f} µs ({each})")
print(f"  server peak RSS {med(rss):.1f} MB (max {max(rss, default=0):.1f}) · {med(stmts):.2f} SQL statements per ok request")
EOF
