#!/usr/bin/env bash
# WebSocket fan-out: starts a release server on a fresh data dir and runs the fan-out
# generator (loadtest/fanout.rs) with 1,000 and 10,000 subscribed connections.
#   loadtest/fanout.sh            CONNS="1000 10000" RATE=10 SECONDS=10 by default
set -euo pipefail
cd "$(dirname "$0")/.."
CONNS=${CONNS:-"1000 10000"}
RATE=${RATE:-10}
SECONDS_RUN=${SECONDS_RUN:-10}
SHARDS=${SHARDS:-$(nproc)}
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
work=$(mktemp -d)
cleanup() { [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
cargo build --release --quiet --bin nimbus --example fanout
for n in $CONNS; do
  rm -rf "$work/data"
  ./target/release/nimbus start --port 0 --shards "$SHARDS" --data-dir "$work/data" >"$work/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do grep -q listening "$work/server.log" && break; sleep 0.1; done
  port=$(sed -n 's/.*http:\/\/[^:]*:\([0-9]*\) .*/\1/p' "$work/server.log" | head -1)
  token=$(python3 -c "import json,sys;print(json.load(open(sys.argv[1]))['token'])" "$work/data/auth/token")
  curl -sf -X POST "http://127.0.0.1:$port/api/tenants" -H "Authorization: Bearer $token" -d '{"id":"bench"}' >/dev/null
  echo "== $n connections, $RATE commits/s for $SECONDS_RUN s, $SHARDS shards"
  ./target/release/examples/fanout "http://127.0.0.1:$port" "$token" bench "$n" "$RATE" "$SECONDS_RUN" "$pid"
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
done
