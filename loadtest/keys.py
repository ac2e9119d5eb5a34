#!/usr/bin/env python3
"""What a tenant key costs: get-one with a `read` key against get-one with the admin token,
on the same server in the same run (DECISIONS §10 asks for a hash and a lookup, no more).

One Nimbus (durable, SHARDS shards), ITEMS documents in `items`, a read key of the tenant.
Each round runs oha on get-one with the admin token, then with the key, at each
concurrency; the table quotes medians over ROUNDS rounds of requests/s, p99 and server CPU
per request, and the key/admin ratios.

    bash loadtest/run.sh keys        # installs and builds first
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rig  # noqa: E402  (shares the rig's server, oha and tool helpers)

ROUNDS = int(os.environ.get("ROUNDS", "5"))
ITEMS = int(os.environ.get("ITEMS", "100000"))


def main():
    server = rig.Nimbus("keys")
    server.call("POST", "/api/tenants", {"id": "bench"})
    rig.tool("seed", server.base, server.token, "bench", "items", ITEMS, 16)
    key = server.call("POST", "/api/tenants/bench/keys", {"name": "bench", "scope": "read"})["key"]
    first = server.call("POST", "/api/tenants/bench/query",
                        {"table": "items", "filters": [], "limit": 1})["data"][0]["_id"]
    url = f"{server.base}/api/tenants/bench/documents/items/{first}"
    runs = {}
    for _ in range(ROUNDS):
        for c in rig.CONCURRENCY:
            admin = rig.oha(url, c, server.pids(), "-H", server.auth)
            keyed = rig.oha(url, c, server.pids(), "-H", f"Authorization: Bearer {key}")
            runs.setdefault(c, []).append((admin, keyed))
    print()
    print(f"get one document, admin token vs read key: {rig.SHARDS} shards, {os.cpu_count()} "
          f"cores, oha -z {rig.DURATION}, medians of {ROUNDS} rounds")
    print()
    print("| conc | admin req/s | key req/s | ratio | admin p99 ms | key p99 ms | "
          "admin CPU µs/req | key CPU µs/req | CPU ratio | non-2xx |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for c, pairs in runs.items():
        a = rig.medians([p[0] for p in pairs])
        k = rig.medians([p[1] for p in pairs])
        x = rig.median([p[1]["rps"] / p[0]["rps"] for p in pairs])
        cx = rig.median([p[1]["cpu_us"] / p[0]["cpu_us"] for p in pairs])
        print(f"| {c} | {a['rps']:.0f} | {k['rps']:.0f} | {x:.3f} | {a['p99']:.2f} | "
              f"{k['p99']:.2f} | {a['cpu_us']:.1f} | {k['cpu_us']:.1f} | {cx:.3f} | {a['bad'] + k['bad']:.0f} |")


if __name__ == "__main__":
    try:
        main()
    finally:
        rig.cleanup()
