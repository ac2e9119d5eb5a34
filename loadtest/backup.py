#!/usr/bin/env python3
"""Backups, restores and exports of a big tenant, and what a backup costs the writes that go
on during it (DECISIONS §11).

One Nimbus (durable, SHARDS shards) with BIG_DOCS documents in one tenant. Each round:

- a backup alone (`nimbus backup --out`): MB/s and documents/s;
- `nimbus restore` of it into a fresh data dir, then a server started there until it
  listens (recovery): MB/s and documents/s for each;
- an export of the tenant (`GET .../export` read to the end): MB/s, and the server's
  resident memory before and at its peak during the export;
- inserts with oha for DURATION, once with nothing else running and once while backups
  run back to back: requests/s and p99 of both.

Medians over ROUNDS rounds.

    bash loadtest/run.sh backup        # installs and builds first
"""

import os
import subprocess
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rig  # noqa: E402

ROUNDS = int(os.environ.get("ROUNDS", "3"))
DOCS = rig.BIG_DOCS
CONC = int(os.environ.get("INSERT_CONC", "16"))
NIMBUS = os.path.join(rig.RELEASE, "nimbus")


def backup(server, out):
    t = time.monotonic()
    subprocess.run([NIMBUS, "backup", "--url", server.base, "--out", out], check=True,
                   env={**os.environ, "NIMBUS_TOKEN": server.token})
    return time.monotonic() - t


def restore_and_start(archive, n):
    target = os.path.join(rig.work, f"restored-{n}")
    t = time.monotonic()
    subprocess.run([NIMBUS, "restore", archive, "--data-dir", target], check=True,
                   capture_output=True)
    restore_s = time.monotonic() - t
    t = time.monotonic()
    log = target + ".log"
    p = subprocess.Popen([NIMBUS, "start", "--port", "0", "--shards", str(rig.SHARDS),
                          "--data-dir", target], stdout=open(log, "w"), stderr=subprocess.STDOUT)
    while "listening" not in open(log).read():
        if p.poll() is not None:
            sys.exit(f"the restored server did not start: {open(log).read()}")
        time.sleep(0.01)
    start_s = time.monotonic() - t
    p.terminate()
    p.wait()
    subprocess.run(["rm", "-rf", target])
    return restore_s, start_s


def export(server):
    """Reads a whole export; its seconds, bytes, and the server's RSS before and at peak."""
    peak = [rig.rss_kib(server.proc.pid)]
    before = peak[0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rig.rss_kib(server.proc.pid))
            time.sleep(0.02)

    th = threading.Thread(target=sample)
    th.start()
    req = urllib.request.Request(server.base + "/api/tenants/bench/export",
                                 headers={"Authorization": f"Bearer {server.token}"})
    t = time.monotonic()
    size = 0
    with urllib.request.urlopen(req, timeout=600) as r:
        while True:
            piece = r.read(1 << 20)
            if not piece:
                break
            size += len(piece)
    secs = time.monotonic() - t
    done.set()
    th.join()
    return secs, size, before, peak[0]


def inserts(server, during_backup):
    url = f"{server.base}/api/tenants/writes/documents"
    stop = threading.Event()
    count = [0]

    def loop():
        out = os.path.join(rig.work, "loop.tar")
        while not stop.is_set():
            backup(server, out)
            count[0] += 1

    th = threading.Thread(target=loop) if during_backup else None
    if th:
        th.start()
        time.sleep(0.2)
    r = rig.oha(url, CONC, server.pids(), "-m", "POST", "-H", server.auth,
                "-H", "Content-Type: application/json",
                "-d", '{"table":"writes","fields":{"n":1,"text":"written during the test"}}')
    if th:
        stop.set()
        th.join()
    r["backups"] = count[0]
    return r


def main():
    server = rig.Nimbus("backup")
    server.call("POST", "/api/tenants", {"id": "bench"})
    rig.tool("seed", server.base, server.token, "bench", "items", DOCS, 16)
    archive = os.path.join(rig.work, "bench.tar")
    rows = []
    for n in range(ROUNDS):
        docs = server.call("GET", "/api/tenants/bench/usage")["documents"]
        assert docs == DOCS, docs
        b = backup(server, archive)
        size = os.path.getsize(archive)
        rs, ss = restore_and_start(archive, n)
        es, esize, rss0, rss1 = export(server)
        # The inserts go to their own tenant, dropped after each run: every backup is of
        # the same DOCS documents.
        runs = []
        for during in (False, True):
            server.call("POST", "/api/tenants", {"id": "writes"})
            runs.append(inserts(server, during))
            server.call("DELETE", "/api/tenants/writes")
        quiet, busy = runs
        rows.append({"docs": docs, "backup_s": b, "size": size, "restore_s": rs, "start_s": ss,
                     "export_s": es, "export_size": esize, "rss0": rss0, "rss1": rss1,
                     "quiet_rps": quiet["rps"], "quiet_p99": quiet["p99"],
                     "busy_rps": busy["rps"], "busy_p99": busy["p99"],
                     "backups": busy["backups"]})
        print(rows[-1], file=sys.stderr)
    m = {k: rig.median([r[k] for r in rows]) for k in rows[0]}
    mb, docs = m["size"] / 1e6, m["docs"]
    print()
    print(f"backup, restore and export of {docs:.0f} documents: {rig.SHARDS} shards, "
          f"{os.cpu_count()} cores, medians of {ROUNDS} rounds")
    print()
    print("| what | seconds | MB/s | documents/s |")
    print("|---|---|---|---|")
    print(f"| backup ({mb:.0f} MB archive) | {m['backup_s']:.2f} | {mb / m['backup_s']:.0f} | "
          f"{docs / m['backup_s']:.0f} |")
    print(f"| restore (check + write) | {m['restore_s']:.2f} | {mb / m['restore_s']:.0f} | "
          f"{docs / m['restore_s']:.0f} |")
    print(f"| start on the restored dir (recovery) | {m['start_s']:.2f} | "
          f"{mb / m['start_s']:.0f} | {docs / m['start_s']:.0f} |")
    print(f"| export ({m['export_size'] / 1e6:.0f} MB of lines) | {m['export_s']:.2f} | "
          f"{m['export_size'] / 1e6 / m['export_s']:.0f} | {docs / m['export_s']:.0f} |")
    print()
    print(f"server RSS before an export {m['rss0'] / 1024:.0f} MiB, peak during it "
          f"{m['rss1'] / 1024:.0f} MiB")
    print()
    print(f"| inserts, oha -c {CONC} -z {rig.DURATION} | req/s | p99 ms |")
    print("|---|---|---|")
    print(f"| nothing else running | {m['quiet_rps']:.0f} | {m['quiet_p99']:.2f} |")
    print(f"| backups back to back ({m['backups']:.0f} in the run) | {m['busy_rps']:.0f} | "
          f"{m['busy_p99']:.2f} |")


if __name__ == "__main__":
    try:
        main()
    finally:
        rig.cleanup()
