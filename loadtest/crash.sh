#!/usr/bin/env bash
# The long kill -9 run, not part of CI: `bash loadtest/crash.sh [cycles]` (default 1000).
# Six writers insert, patch and delete on two shards while the release server is killed
# with SIGKILL at random moments; after every restart each acknowledged write must be there
# and no document half-applied (tests/crash.rs, which CI runs with 4 cycles). About 10 to
# 30 minutes on 2 cores. The result line is what docs/durability.md quotes.
set -euo pipefail
cd "$(dirname "$0")/.."
NIMBUS_CRASH_CYCLES=${1:-1000} cargo test --release --test crash -- --nocapture 2>&1 |
  grep -E "cycles|lost|panicked|test result"
