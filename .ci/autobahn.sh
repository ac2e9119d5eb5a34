#!/usr/bin/env bash
# Autobahn|Testsuite fuzzing-client cases 1-10 (12-13, compression, excluded) against the
# echo session of a build with the `autobahn` feature: the same upgrade and frame code as
# /ws. kosoku (PyPI) drives Autobahn's own case files on Python 3.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
cleanup() { [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check kosoku
cargo build --release --quiet --features autobahn
port=$(python3 -c "import socket;s=socket.socket();s.bind(('127.0.0.1',0));print(s.getsockname()[1])")
./target/release/nimbus start --port "$port" --shards 2 --data-dir "$work/data" >"$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 50); do grep -q "listening" "$work/server.log" && break; sleep 0.1; done

"$work/venv/bin/kosoku" -x '12.*' -x '13.*' -p 4 -o "$work/reports" "127.0.0.1:$port" | tail -n 3
python3 - "$work/reports/index.json" <<'PY'
import collections, json, sys
report = json.load(open(sys.argv[1]))
counts = collections.Counter(v["behavior"] for cases in report.values() for v in cases.values())
bad = {k: v for k, v in counts.items() if k not in ("OK", "NON-STRICT", "INFORMATIONAL")}
print("autobahn: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
sys.exit(1 if bad else 0)
PY
