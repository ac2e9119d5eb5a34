#!/usr/bin/env bash
# Runs each fuzz target for a while: `bash tests/fuzz/run.sh [seconds per target] [target...]`
# (default 60 s, every target). Needs the nightly toolchain; installs cargo-fuzz if it is
# missing. A crash stops the run with the input saved under tests/fuzz/artifacts/<target>/;
# pin it as a regression test next to the code it broke (docs/reliability.md).
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-60}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(http_head chunked ws_wire json_ops cursor wal_record)
fi
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "seeds/$t"
  echo "== $t: ${secs}s"
  cargo +nightly fuzz run --fuzz-dir . -O "$t" "corpus/$t" "seeds/$t" -- \
    -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 -print_final_stats=1 2>&1 |
    grep -E '^(#[0-9]+.*DONE|stat::|==[0-9]+==|SUMMARY|Done|thread|panicked|artifact_prefix|Test unit)' || true
  if ls "artifacts/$t"/crash-* "artifacts/$t"/oom-* "artifacts/$t"/timeout-* >/dev/null 2>&1; then
    echo "!! $t found a failing input: $(ls artifacts/$t)"
    exit 1
  fi
done
