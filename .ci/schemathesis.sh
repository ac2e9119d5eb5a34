#!/usr/bin/env bash
# Checks docs/openapi.yaml against a running release server with schemathesis (from PyPI,
# into a virtualenv of its own): a bounded number of generated requests per operation, and
# every answer must be a non-5xx whose status, content type and body match the description.
# Services and sandboxes are left out: their bodies are commands the server would run.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${SCHEMATHESIS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/nimbus-schemathesis}
if [ ! -x "$venv/bin/schemathesis" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==4.32.5"
fi
home=$(mktemp -d)
cleanup() {
  [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null
  wait 2>/dev/null || true
  rm -rf "$home"
}
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cargo build --release --quiet
./target/release/nimbus start --port "$port" --data-dir "$home/data" --shards 2 >"$home/server.log" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q "listening" "$home/server.log" && break; sleep 0.1; done
token=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' "$home/data/auth/token")
curl -sf -X POST "http://127.0.0.1:$port/api/tenants" -H "Authorization: Bearer $token" -d '{"id":"demo"}' >/dev/null
"$venv/bin/schemathesis" run docs/openapi.yaml --url "http://127.0.0.1:$port" \
  -H "Authorization: Bearer $token" --no-color --seed 1 --workers 1 --request-timeout 30 \
  --max-examples "${SCHEMATHESIS_EXAMPLES:-25}" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --exclude-path-regex 'services|sandboxes' >"$home/run.log" 2>&1 || status=$?
# On success the summary is enough; on failure every line, since the details come first.
if [ "${status:-0}" != 0 ]; then cat "$home/run.log"; echo "schemathesis: failed"; exit 1; fi
tail -40 "$home/run.log"
kill -0 "$pid" || { echo "schemathesis: the server died"; cat "$home/server.log"; exit 1; }
echo "schemathesis: docs/openapi.yaml holds against the server"
