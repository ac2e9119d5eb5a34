#!/usr/bin/env bash
# Whole-server load test: builds the release binary, starts Nimbus on a fresh data dir, seeds
# data, and runs `oha` against each scenario at a few concurrencies, alternating with an nginx
# reference that answers a constant on the same box. Prints one table.
#
#   loadtest/run.sh                      # defaults below
#   DURATION=5s CONCURRENCY="64" loadtest/run.sh
#
# Everything it starts is stopped on exit. Each load run is bounded by DURATION.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
CONCURRENCY=${CONCURRENCY:-"16 64 256"}
SHARDS=${SHARDS:-$(nproc)}
SEED_DOCS=${SEED_DOCS:-10000}
# Pending scheduled jobs (due in a day) in a tenant of their own, to show they cost nothing.
PENDING_JOBS=${PENDING_JOBS:-0}

need() { command -v "$1" >/dev/null 2>&1; }
if ! need oha; then
  echo "installing oha (cargo install oha --locked)..." >&2
  cargo install oha --locked --quiet
  export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! need nginx && [ ! -x /usr/sbin/nginx ]; then
  echo "installing nginx from the distribution..." >&2
  apt-get update -qq && (apt-get install -y -qq nginx-light >/dev/null 2>&1 || apt-get install -y -qq nginx >/dev/null)
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
if ! need redis-server; then
  echo "installing redis-server from the distribution..." >&2
  apt-get update -qq && apt-get install -y -qq redis-server >/dev/null
  service redis-server stop >/dev/null 2>&1 || true
fi
need python3 || { echo "python3 is needed to read oha's JSON" >&2; exit 1; }

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

cargo build --release --quiet
./target/release/nimbus start --port 0 --shards "$SHARDS" --data-dir "$work/data" >"$work/nimbus.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q listening "$work/nimbus.log" && break; sleep 0.1; done
PORT=$(sed -n 's/.*http:\/\/[^:]*:\([0-9]*\) .*/\1/p' "$work/nimbus.log" | head -1)
TOKEN=$(python3 -c "import json,sys;print(json.load(open(sys.argv[1]))['token'])" "$work/data/auth/token")
BASE="http://127.0.0.1:$PORT"
AUTH="Authorization: Bearer $TOKEN"

# The reference: nginx with as many workers as Nimbus has shards, answering a constant.
NPORT=$(python3 -c "import socket;s=socket.socket();s.bind(('127.0.0.1',0));print(s.getsockname()[1])")
mkdir -p "$work/nginx"
cat >"$work/nginx.conf" <<CONF
worker_processes $SHARDS;
pid $work/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/nginx; proxy_temp_path $work/nginx; fastcgi_temp_path $work/nginx;
  uwsgi_temp_path $work/nginx; scgi_temp_path $work/nginx;
  server {
    listen 127.0.0.1:$NPORT reuseport;
    location = /health { default_type application/json; return 200 '{"ok":true}'; }
  }
}
CONF
"$NGINX" -c "$work/nginx.conf" -p "$work/nginx"

# Seed: a tenant, SEED_DOCS documents in `items` (10 distinct authors), 100 in `small`.
curl -sf -X POST "$BASE/api/tenants" -H "$AUTH" -d '{"id":"bench"}' >/dev/null
oha -n "$SEED_DOCS" -c 32 --no-tui -m POST -H "$AUTH" -T application/json \
  -d '{"table":"items","fields":{"author":"a7","title":"a load-test document of moderate size","n":42,"tags":["x","y"]}}' \
  "$BASE/api/tenants/bench/documents" >/dev/null
for i in $(seq 0 9); do
  curl -sf -X POST "$BASE/api/tenants/bench/documents" -H "$AUTH" \
    -d "{\"table\":\"items\",\"fields\":{\"author\":\"a$i\",\"n\":$i}}" >/dev/null
done
for i in $(seq 100); do
  curl -sf -X POST "$BASE/api/tenants/bench/documents" -H "$AUTH" \
    -d "{\"table\":\"small\",\"fields\":{\"i\":$i,\"text\":\"row $i\"}}" >/dev/null
done
ID=$(curl -sf -X POST "$BASE/api/tenants/bench/documents" -H "$AUTH" \
  -d '{"table":"items","fields":{"author":"one","n":1}}' | python3 -c "import json,sys;print(json.load(sys.stdin)['id'])")

if [ "$PENDING_JOBS" -gt 0 ]; then
  curl -sf -X POST "$BASE/api/tenants" -H "$AUTH" -d '{"id":"jobs"}' >/dev/null
  oha -n "$PENDING_JOBS" -c 64 --no-tui -m POST -H "$AUTH" -T application/json \
    -d '{"run_after_ms":86400000,"mutation":{"type":"insert","table":"later","fields":{"x":1}}}' \
    "$BASE/api/tenants/jobs/schedule" >/dev/null
  echo "pending jobs: $(curl -sf "$BASE/api/tenants/jobs/schedule" -H "$AUTH" | python3 -c 'import json,sys;print(len(json.load(sys.stdin)["jobs"]))')"
fi

QUERY='{"table":"items","filters":[{"field":"author","op":"eq","value":"a3"}],"limit":10}'
INSERT='{"table":"writes","fields":{"author":"bench","n":1,"text":"hello"}}'

# run NAME CONC ARGS... : one bounded oha run, one table row.
run() {
  local name=$1 conc=$2; shift 2
  oha -z "$DURATION" -c "$conc" --no-tui --output-format json "$@" >"$work/out.json" 2>/dev/null ||
    oha -z "$DURATION" -c "$conc" --no-tui -j "$@" >"$work/out.json"
  python3 - "$name" "$conc" "$work/out.json" <<'PY'
import json, sys
name, conc, path = sys.argv[1], sys.argv[2], sys.argv[3]
d = json.load(open(path))
s = d["summary"]; p = d["latencyPercentiles"]
codes = d.get("statusCodeDistribution", {})
ok = sum(v for k, v in codes.items() if k.startswith("2"))
bad = sum(v for k, v in codes.items() if not k.startswith("2"))
print(f"| {name:<28} | {conc:>5} | {s['requestsPerSec']:>10.0f} | {p['p50']*1000:>8.3f} | {p['p99']*1000:>8.3f} | {bad:>6} |")
with open(path + ".rps", "w") as f:
    f.write(str(s["requestsPerSec"]))
PY
}

FSYNCS=$(python3 loadtest/fsync_rate.py "$work" 3)

echo
echo "shards=$SHARDS duration=$DURATION cores=$(nproc) seeded=$SEED_DOCS docs  $(date -u +%Y-%m-%dT%H:%MZ)"
echo "this disk: $FSYNCS append+fdatasync rounds/s from one writer (durable writes without group commit)"
echo "| scenario                     | conc  |  req/s     | p50 ms   | p99 ms   | non-2xx |"
echo "|------------------------------|-------|------------|----------|----------|--------|"
for c in $CONCURRENCY; do
  run "nginx GET /health (ref)" "$c" "http://127.0.0.1:$NPORT/health"
  ref=$(cat "$work/out.json.rps")
  run "GET /health" "$c" "$BASE/health"
  mine=$(cat "$work/out.json.rps")
  python3 -c "print(f'|   nimbus/nginx ratio         | {$c:>5} | {$mine/$ref:>10.2f} |          |          |        |')"
  run "get one document" "$c" -H "$AUTH" "$BASE/api/tenants/bench/documents/items/$ID"
  run "list 100 documents" "$c" -H "$AUTH" "$BASE/api/tenants/bench/documents/small"
  run "query eq+limit 10 (scan)" "$c" -m POST -H "$AUTH" -T application/json -d "$QUERY" "$BASE/api/tenants/bench/query"
  run "insert" "$c" -m POST -H "$AUTH" -T application/json -d "$INSERT" "$BASE/api/tenants/bench/documents"
done

# The durable-write reference: Redis with appendfsync always, SET at the same concurrency.
RPORT=$(python3 -c "import socket;s=socket.socket();s.bind(('127.0.0.1',0));print(s.getsockname()[1])")
mkdir -p "$work/redis"
redis-server --port "$RPORT" --bind 127.0.0.1 --dir "$work/redis" --save '' --appendonly yes \
  --appendfsync always --daemonize no >"$work/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do redis-cli -p "$RPORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
redis_set() {
  local conc=$1
  redis-benchmark -p "$RPORT" -t set -c "$conc" -n "${REDIS_REQUESTS:-100000}" -d 100 --csv 2>/dev/null | python3 -c '
import csv, sys
rows = [r for r in csv.reader(sys.stdin) if r and r[0] == "SET"]
r = rows[-1]
name = "redis SET appendfsync always (ref)"
print(f"| {name:<28} | {sys.argv[1]:>5} | {float(r[1]):>10.0f} | {float(r[4]):>8.3f} | {float(r[6]):>8.3f} |      0 |")
' "$conc"
}

# Durable inserts against the same load with --fsync off (acknowledged before the disk has it).
./target/release/nimbus start --port 0 --shards "$SHARDS" --data-dir "$work/data-nofsync" --fsync off >"$work/nofsync.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q listening "$work/nofsync.log" && break; sleep 0.1; done
NF_PORT=$(sed -n 's/.*http:\/\/[^:]*:\([0-9]*\) .*/\1/p' "$work/nofsync.log" | head -1)
NF_TOKEN=$(python3 -c "import json,sys;print(json.load(open(sys.argv[1]))['token'])" "$work/data-nofsync/auth/token")
curl -sf -X POST "http://127.0.0.1:$NF_PORT/api/tenants" -H "Authorization: Bearer $NF_TOKEN" -d '{"id":"bench"}' >/dev/null
for c in $CONCURRENCY; do
  redis_set "$c"
  run "insert (durable)" "$c" -m POST -H "$AUTH" -T application/json -d "$INSERT" "$BASE/api/tenants/bench/documents"
  run "insert (--fsync off)" "$c" -m POST -H "Authorization: Bearer $NF_TOKEN" -T application/json -d "$INSERT" \
    "http://127.0.0.1:$NF_PORT/api/tenants/bench/documents"
done
