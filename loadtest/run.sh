#!/usr/bin/env bash
# The whole-server load test, one command: installs what it needs (oha from crates.io, nginx
# and redis-server from the distribution), builds the release binary and the load tools, and
# runs loadtest/rig.py, which starts everything on fresh data dirs, seeds, runs every scenario
# against its reference, prints one table, and stops everything it started.
#
#   loadtest/run.sh                          # the full run (about 8 minutes on 2 cores)
#   DURATION=3s BIG_DOCS=100000 loadtest/run.sh   # a quick one
#   loadtest/run.sh hol                      # head-of-line: light requests beside heavy queries
#   loadtest/run.sh keys                     # get-one with a tenant key against the admin token
#   loadtest/run.sh backup                   # backup/restore/export of BIG_DOCS, inserts during backups
#   loadtest/run.sh changes                  # change feed: inserts with/without it, SSE delivery, reads
#
# Knobs (environment): DURATION (per load run, default 5s), ROUNDS (3; medians are quoted),
# CONCURRENCY ("64 256"),
# SHARDS (nproc), ITEMS (100000), BIG_DOCS (1000000), FANOUT_CONNS ("1000 10000").
set -euo pipefail
cd "$(dirname "$0")/.."

need() { command -v "$1" >/dev/null 2>&1; }
export PATH="$HOME/.cargo/bin:$PATH"
if ! need oha; then
  echo "installing oha (cargo install oha --locked)..." >&2
  cargo install oha --locked --quiet
fi
if ! need nginx && [ ! -x /usr/sbin/nginx ]; then
  echo "installing nginx from the distribution..." >&2
  apt-get update -qq && (apt-get install -y -qq nginx-light >/dev/null 2>&1 || apt-get install -y -qq nginx >/dev/null)
fi
if ! need redis-server || ! need redis-benchmark; then
  echo "installing redis-server from the distribution..." >&2
  apt-get update -qq && apt-get install -y -qq redis-server redis-tools >/dev/null
  service redis-server stop >/dev/null 2>&1 || true
fi
need python3 || { echo "python3 is needed to drive the rig" >&2; exit 1; }
# 10,000 WebSocket subscribers need as many descriptors, in the server and the generator.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

cargo build --release --quiet --bin nimbus --example loadtool --example fanout --example feed
echo "this disk: $(python3 loadtest/fsync_rate.py "${TMPDIR:-/tmp}" 2) append+fdatasync rounds/s from one writer" >&2
if [ "${1:-}" = hol ]; then
  exec python3 loadtest/hol.py
fi
if [ "${1:-}" = keys ]; then
  exec python3 loadtest/keys.py
fi
if [ "${1:-}" = backup ]; then
  exec python3 loadtest/backup.py
fi
if [ "${1:-}" = changes ]; then
  exec python3 loadtest/changes.py
fi
exec python3 loadtest/rig.py
