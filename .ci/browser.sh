#!/usr/bin/env bash
# The browser tests: tests/browser/cors.mjs (headless Chromium loads a page from an origin
# in --allowed-origins and calls the API with a read key over fetch and WebSocket; a page
# from an origin not allowed is refused) and tests/browser/sse.mjs (Chromium's EventSource
# follows the change feed through a cut connection, resuming with Last-Event-ID, and a live
# query over SSE). Installs Debian's chromium and the pinned playwright-core when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v node >/dev/null && command -v npm >/dev/null || { echo "browser: node and npm are needed"; exit 1; }

if ! command -v chromium >/dev/null; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get install -y --no-install-recommends chromium >/dev/null 2>&1 ||
    { $sudo apt-get update >/dev/null && $sudo apt-get install -y --no-install-recommends chromium >/dev/null; }
fi
export CHROMIUM
CHROMIUM=$(command -v chromium)
(cd tests/browser && npm ci --no-audit --no-fund --silent)
cargo build --release --quiet
# The server's own log lines go to a file; the test's verdict to the terminal.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for t in cors sse; do
  if ! (cd tests/browser && timeout 120 node "$t.mjs" ../../target/release/nimbus 2>"$log"); then
    echo "browser: $t failed"; cat "$log"; exit 1
  fi
done
