#!/usr/bin/env bash
# Runs the guide's Node WebSocket example (tests/node/guide.mjs, with the `ws` package) as
# written, against a release server on the guide's port, and checks that a live result for
# a document inserted meanwhile reaches it.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v node >/dev/null && command -v npm >/dev/null || { echo "node-guide: node and npm are needed"; exit 1; }

home=$(mktemp -d)
out="$home/node.out"
cleanup() {
  [ -n "${node_pid:-}" ] && kill "$node_pid" 2>/dev/null
  [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null
  wait 2>/dev/null || true
  rm -rf "$home"
}
trap cleanup EXIT

(cd tests/node && npm ci --no-audit --no-fund --silent)
if (exec 3<>/dev/tcp/127.0.0.1/8080) 2>/dev/null; then
  echo "node-guide: port 8080 is taken; the guide's example uses it" >&2
  exit 1
fi
cargo build --release --quiet
HOME=$home XDG_DATA_HOME= ./target/release/nimbus start --shards 2 >"$home/server.log" 2>&1 &
pid=$!
for _ in $(seq 50); do grep -q "listening" "$home/server.log" && break; sleep 0.1; done
export NIMBUS_TOKEN
NIMBUS_TOKEN=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1])).token)' "$home/.local/share/nimbus/auth/token")
# Before its tenant exists, the example must say why it was refused, not crash.
if timeout 10 node tests/node/guide.mjs >"$out" 2>&1; then
  echo "node-guide: the example exited 0 with no tenant"; cat "$out"; exit 1
fi
grep -q "upgrade refused: HTTP 404" "$out" && ! grep -q "Unhandled\|node:events" "$out" ||
  { echo "node-guide: a missing tenant was not reported plainly:"; cat "$out"; exit 1; }
curl -sf -X POST http://localhost:8080/api/tenants -H "Authorization: Bearer $NIMBUS_TOKEN" -d '{"id":"demo"}' >/dev/null

node tests/node/guide.mjs >"$out" 2>&1 &
node_pid=$!
for _ in $(seq 50); do grep -q "subscription" "$out" && break; sleep 0.1; done
curl -sf -X POST http://localhost:8080/api/tenants/demo/documents -H "Authorization: Bearer $NIMBUS_TOKEN" \
  -d '{"table": "messages", "fields": {"text": "hello from curl"}}' >/dev/null
for _ in $(seq 50); do grep -q "hello from curl" "$out" && break; sleep 0.1; done

grep -q "subscription sub-1: \[\]" "$out" || { echo "node-guide: no first result:"; cat "$out"; exit 1; }
grep -q "hello from curl" "$out" || { echo "node-guide: the live result did not arrive:"; cat "$out"; exit 1; }
echo "node-guide: the guide's example subscribed and received a live result"
