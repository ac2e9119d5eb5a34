#!/usr/bin/env bash
# Runs the README's walkthrough exactly as printed, against a release server started with the
# default data directory of a throwaway HOME, and checks what the steps answered.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v jq >/dev/null; then
  # The README uses jq as the guide does; install it from the distribution when we can.
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && apt-get install -y -qq jq >/dev/null
  else
    echo "walkthrough: jq is needed (apt-get install jq)"; exit 1
  fi
fi

home=$(mktemp -d)
out=$(mktemp)
cleanup() { [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$home" "$out"; }
trap cleanup EXIT

if (exec 3<>/dev/tcp/127.0.0.1/8080) 2>/dev/null; then
  echo "walkthrough: port 8080 is taken; it runs on the README's port" >&2
  exit 1
fi
cargo build --release --quiet
HOME=$home XDG_DATA_HOME= ./target/release/nimbus start --shards 2 >"$home/server.log" 2>&1 &
pid=$!
for _ in $(seq 50); do grep -q "listening" "$home/server.log" && break; sleep 0.1; done

script=$(sed -n '/<!-- walkthrough:start -->/,/<!-- walkthrough:end -->/p' README.md | sed '/^```/d;/^<!--/d')
HOME=$home bash -euo pipefail -c "$script" >"$out"

expect() { grep -qF -- "$1" "$out" || { echo "walkthrough: missing $1 in:"; cat "$out"; exit 1; }; }
expect '{"ok":true}'
expect '{"id":"demo"}'
expect '"text":"edited"'
expect '"text":"hello world","author":"you"'
expect '"has_more":true'
expect '"code":"schema.validation_failed"'
expect 'invalid document id `abc`'
expect 'needs scope `write`; this key has scope `read`'
echo "walkthrough: every step ran as printed"
