#!/usr/bin/env python3
"""Head-of-line blocking: how long one tenant's light request waits behind another tenant's
heavy queries on the same shard.

One shard (so both tenants share it), tenant `heavy` with HEAVY_DOCS documents (300,000 by
default, about 200 bytes each), tenant `light` with one. HEAVY_CLIENTS clients run, back to
back, a query that sorts the whole heavy table on a field without an index and has no limit
(the issue's example: 0.4-0.6 s and an 81 MB answer each when nothing bounds it), while oha
measures get-one on the light tenant. Run twice: once with the per-request bounds lifted
(`--query-docs-examined-max` and `--result-bytes-max` huge: the server as it was), once with
the defaults. Prints one table: heavy answers per second and their status, get-one req/s,
p50 and p99.

    bash loadtest/run.sh hol        # installs and builds first
"""

import http.client
import json
import os
import sys
import threading
import time

os.environ.setdefault("SHARDS", "1")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rig  # noqa: E402  (shares the rig's server, oha and tool helpers)

HEAVY_DOCS = int(os.environ.get("HEAVY_DOCS", "300000"))
HEAVY_CLIENTS = int(os.environ.get("HEAVY_CLIENTS", "2"))
SORT_ALL = json.dumps({"table": "big", "filters": [],
                       "order": {"field": "votes", "direction": "desc"}})


def heavy_loop(server, stop, seen):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    headers = {"Authorization": f"Bearer {server.token}", "Content-Type": "application/json"}
    while not stop.is_set():
        conn.request("POST", "/api/tenants/heavy/query", body=SORT_ALL, headers=headers)
        r = conn.getresponse()
        body = r.read()
        seen.append((r.status, len(body)))


def measure(name, extra):
    server = rig.Nimbus(name, ["--fsync", "off", *extra])
    server.call("POST", "/api/tenants", {"id": "heavy"})
    server.call("POST", "/api/tenants", {"id": "light"})
    rig.tool("seed", server.base, server.token, "heavy", "big", HEAVY_DOCS, 16)
    doc = server.call("POST", "/api/tenants/light/documents",
                      {"table": "m", "fields": {"text": "hello"}})["id"]
    url = f"{server.base}/api/tenants/light/documents/m/{doc}"
    alone = rig.oha(url, 16, server.pids(), "-H", server.auth)
    stop, seen = threading.Event(), []
    threads = [threading.Thread(target=heavy_loop, args=(server, stop, seen))
               for _ in range(HEAVY_CLIENTS)]
    for t in threads:
        t.start()
    time.sleep(1)
    started, before = time.time(), len(seen)
    under = rig.oha(url, 16, server.pids(), "-H", server.auth)
    heavy_rate = (len(seen) - before) / (time.time() - started)
    stop.set()
    for t in threads:
        t.join()
    statuses = sorted({s for s, _ in seen})
    size = max((n for _, n in seen), default=0)
    server.proc.terminate()
    server.proc.wait(timeout=10)
    return alone, under, heavy_rate, statuses, size


def main():
    runs = [("unbounded (as before)", ["--query-docs-examined-max", "1000000000",
                                       "--result-bytes-max", "1000000000"]),
            ("bounded (defaults)", []),
            ("bounded, 32,768 documents", ["--query-docs-examined-max", "32768"])]
    print(f"Head-of-line: 1 shard, {HEAVY_DOCS} heavy documents, {HEAVY_CLIENTS} heavy clients "
          f"sorting them all, oha -c 16 -z {rig.DURATION} get-one on another tenant, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print()
    print("| server | heavy answers/s | heavy status | largest heavy answer | get-one alone p99 ms "
          "| get-one req/s | p50 ms | p99 ms |")
    print("|---|---|---|---|---|---|---|---|")
    for n, (name, extra) in enumerate(runs):
        alone, under, rate, statuses, size = measure(f"hol{n}", extra)
        print(f"| {name} | {rate:.1f} | {statuses} | {size / 1e6:.1f} MB | {alone['p99']:.2f} "
              f"| {under['rps']:.0f} | {under['p50']:.2f} | {under['p99']:.2f} |", flush=True)


if __name__ == "__main__":
    try:
        main()
    finally:
        rig.cleanup()
