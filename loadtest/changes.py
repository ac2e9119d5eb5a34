#!/usr/bin/env python3
"""The change feed under load (DECISIONS §12).

Two Nimbus servers (durable, SHARDS shards): one keeping the change feed (the default), one
without it (`--changes-retention-ms 0`). Then:

- inserts with oha for DURATION into each, alternating, ROUNDS times: requests/s and p99,
  and the ratio with the feed against without it;
- SSE_STREAMS Server-Sent Event streams on one tenant while 16 writers commit documents at
  each of SSE_RATES a second (together) for SSE_SECONDS: the rate reached, delivery latency
  commit -> event, p50/p99, and how many events arrived of those due; the feed's files grow
  by what those commits wrote, so bytes per change, and a day of retention at that rate;
- one reader paging through FEED_DOCS changes from the start (`GET /changes`, 1000 a page;
  all but the newest are read from the feed's files): changes/s, ROUNDS times.

    bash loadtest/run.sh changes        # installs and builds first
"""

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rig  # noqa: E402

ROUNDS = int(os.environ.get("ROUNDS", "3"))
CONC = int(os.environ.get("INSERT_CONC", "16"))
FEED_DOCS = int(os.environ.get("FEED_DOCS", "1000000"))
SSE_STREAMS = int(os.environ.get("SSE_STREAMS", "1000"))
SSE_RATES = [int(r) for r in os.environ.get("SSE_RATES", "500 1000").split()]
SSE_SECONDS = int(os.environ.get("SSE_SECONDS", "10"))
FEED = os.path.join(rig.RELEASE, "examples", "feed")


def feed_tool(*args):
    out = subprocess.run([FEED, *map(str, args)], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"feed {args[0]} failed: {out.stderr}")
    print(out.stdout.strip(), file=sys.stderr)
    line = [l for l in out.stdout.splitlines() if l.startswith("RESULT")][-1]
    return {k: float(v) for k, v in (kv.split("=") for kv in line.split()[1:])}


def feed_bytes(server):
    total = 0
    for root, _, files in os.walk(os.path.join(server.dir, "shards")):
        if os.path.basename(root) == "changes":
            total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    return total


def inserts(server):
    return rig.oha(f"{server.base}/api/tenants/writes/documents", CONC, server.pids(), "-m",
                   "POST", "-H", server.auth, "-H", "Content-Type: application/json",
                   "-d", '{"table":"writes","fields":{"n":1,"text":"written during the test"}}')


def main():
    on = rig.Nimbus("feed-on")
    off = rig.Nimbus("feed-off", ["--changes-retention-ms", "0"])
    for s in (on, off):
        s.call("POST", "/api/tenants", {"id": "writes"})
    runs = {"on": [], "off": []}
    for n in range(ROUNDS):
        for name, s in (("on", on), ("off", off)) if n % 2 == 0 else (("off", off), ("on", on)):
            r = inserts(s)
            runs[name].append(r)
            print(f"  inserts, feed {name}: {r['rps']:.0f}/s p99 {r['p99']:.2f} ms", file=sys.stderr)
    off.call("DELETE", "/api/tenants/writes")
    on.call("DELETE", "/api/tenants/writes")

    sses = []
    for n, rate in enumerate(SSE_RATES):
        on.call("POST", "/api/tenants", {"id": f"sse{n}"})
        before = feed_bytes(on)
        sse = feed_tool("sse", on.base, on.token, f"sse{n}", SSE_STREAMS, rate, SSE_SECONDS)
        sse["per_change"] = (feed_bytes(on) - before) / max(sse["commits"], 1)
        sse["target"] = rate
        sses.append(sse)

    on.call("POST", "/api/tenants", {"id": "bench"})
    rig.tool("seed", on.base, on.token, "bench", "items", FEED_DOCS, 16)
    reads = [feed_tool("read", on.base, on.token, "bench") for _ in range(ROUNDS)]

    m_on = rig.medians(runs["on"])
    m_off = rig.medians(runs["off"])
    print()
    print(f"change feed: {rig.SHARDS} shards, {os.cpu_count()} cores, medians of {ROUNDS} rounds")
    print()
    print(f"| inserts, oha -c {CONC} -z {rig.DURATION} | req/s | p99 ms | CPU us/req |")
    print("|---|---|---|---|")
    print(f"| change feed on (default) | {m_on['rps']:.0f} | {m_on['p99']:.2f} | "
          f"{m_on['cpu_us']:.1f} |")
    print(f"| change feed off (`--changes-retention-ms 0`) | {m_off['rps']:.0f} | "
          f"{m_off['p99']:.2f} | {m_off['cpu_us']:.1f} |")
    print(f"| ratio on/off | {m_on['rps'] / m_off['rps']:.3f} | | |")
    print()
    print(f"| SSE, {SSE_STREAMS} streams on one tenant, {SSE_SECONDS} s | commits/s | events "
          f"delivered / due | p50 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|---|")
    for sse in sses:
        print(f"| {sse['target']} commits/s asked | {sse['rate']:.0f} | {sse['events']:.0f} / "
              f"{sse['expected']:.0f} | {sse['p50']:.2f} | {sse['p99']:.2f} | {sse['max']:.2f} |")
    per_change = rig.median([s["per_change"] for s in sses])
    print()
    print(f"feed files: {per_change:.0f} bytes per change; a day at 1000 commits/s: "
          f"{per_change * 1000 * 86400 / 1e9:.1f} GB")
    print()
    per_s = rig.median([r["per_s"] for r in reads])
    each = ", ".join(f"{r['per_s']:.0f}" for r in reads)
    print(f"one reader, {FEED_DOCS} changes from the start, 1000 a page: {per_s:.0f} changes/s "
          f"({each})")


if __name__ == "__main__":
    try:
        main()
    finally:
        rig.cleanup()
