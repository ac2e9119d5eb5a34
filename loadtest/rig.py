#!/usr/bin/env python3
"""The whole-server load test. Run it through loadtest/run.sh, which installs and builds
what it needs first.

Starts nginx and Redis references and two Nimbus servers (durable, and --fsync off) on
fresh data directories, seeds the data, then runs every scenario at each concurrency with
its reference run right before it, and prints one table: requests/s, p50, p99, server CPU
time per request (utime+stime of the server's processes over the run, from /proc, divided
by successful responses), the reference's figures and the ratio. Everything it starts is
stopped on exit; every load run is bounded in time.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DURATION = os.environ.get("DURATION", "5s")
ROUNDS = int(os.environ.get("ROUNDS", "3"))
CONCURRENCY = [int(c) for c in os.environ.get("CONCURRENCY", "64 256").split()]
SHARDS = int(os.environ.get("SHARDS", os.cpu_count() or 2))
BIG_DOCS = int(os.environ.get("BIG_DOCS", "1000000"))
ITEMS = int(os.environ.get("ITEMS", "100000"))
FANOUT_CONNS = [int(c) for c in os.environ.get("FANOUT_CONNS", "1000 10000").split()]
TICKS = os.sysconf("SC_CLK_TCK")
RELEASE = os.path.join(ROOT, "target", "release")

work = tempfile.mkdtemp(prefix="nimbus-rig-")
children = []


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def spawn(args, log, **kw):
    p = subprocess.Popen(args, stdout=open(log, "w"), stderr=subprocess.STDOUT, **kw)
    children.append(p)
    return p


def cleanup():
    for p in children:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in children:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
    pid_file = os.path.join(work, "nginx.pid")
    if os.path.exists(pid_file):
        try:
            os.kill(int(open(pid_file).read()), signal.SIGTERM)
        except (OSError, ValueError):
            pass
    shutil.rmtree(work, ignore_errors=True)


def cpu_ticks(pids):
    total = 0
    for pid in pids:
        try:
            # Fields after the parenthesised command: utime is the 14th field, stime the 15th.
            stat = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            total += int(stat[11]) + int(stat[12])
        except (OSError, IndexError, ValueError):
            pass
    return total


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Nimbus:
    def __init__(self, name, extra=()):
        self.dir = os.path.join(work, name)
        self.log = os.path.join(work, name + ".log")
        self.proc = spawn(
            [os.path.join(RELEASE, "nimbus"), "start", "--port", "0", "--shards", str(SHARDS),
             "--data-dir", self.dir, *extra], self.log)
        for _ in range(300):
            m = re.search(r"http://[^:]+:(\d+) ", open(self.log).read())
            if m:
                break
            time.sleep(0.05)
        else:
            sys.exit(f"{name} did not start: {open(self.log).read()}")
        self.port = int(m.group(1))
        self.base = f"http://127.0.0.1:{self.port}"
        self.token = json.load(open(os.path.join(self.dir, "auth", "token")))["token"]
        self.auth = f"Authorization: Bearer {self.token}"

    def pids(self):
        return [self.proc.pid]

    def call(self, method, path, body=None):
        req = urllib.request.Request(self.base + path, method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": f"Bearer {self.token}",
                                              "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as r:
            text = r.read()
            return json.loads(text) if text else None


def oha(url, conc, pids, *args):
    """One bounded oha run; returns its figures and the servers' CPU per response."""
    before = cpu_ticks(pids)
    out = subprocess.run(["oha", "-z", DURATION, "-c", str(conc), "--no-tui", "--output-format",
                          "json", *args, url], capture_output=True, text=True)
    after = cpu_ticks(pids)
    if out.returncode != 0:
        sys.exit(f"oha failed: {out.stderr}")
    d = json.loads(out.stdout)
    codes = d.get("statusCodeDistribution", {})
    ok = sum(v for k, v in codes.items() if k.startswith("2"))
    bad = sum(v for k, v in codes.items() if not k.startswith("2"))
    p = d["latencyPercentiles"]
    return {"rps": d["summary"]["requestsPerSec"], "p50": (p["p50"] or 0) * 1000,
            "p99": (p["p99"] or 0) * 1000, "bad": bad,
            "cpu_us": (after - before) / TICKS * 1e6 / max(ok, 1)}


def redis_set(port, conc, pid):
    before = cpu_ticks([pid])
    out = subprocess.run(["redis-benchmark", "-p", str(port), "-t", "set", "-c", str(conc),
                          "-n", os.environ.get("REDIS_REQUESTS", "200000"), "-d", "100",
                          "--csv"], capture_output=True, text=True).stdout
    after = cpu_ticks([pid])
    row = [r.strip('"') for r in out.strip().splitlines()[-1].split(",")]
    rps = float(row[1])
    n = int(os.environ.get("REDIS_REQUESTS", "200000"))
    return {"rps": rps, "p50": float(row[4]), "p99": float(row[6]), "bad": 0,
            "cpu_us": (after - before) / TICKS * 1e6 / n}


def tool(*args):
    out = subprocess.run([os.path.join(RELEASE, "examples", "loadtool"), *map(str, args)],
                         capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"loadtool {args[0]} failed: {out.stderr}")
    line = [l for l in out.stdout.splitlines() if l.startswith("RESULT")][-1]
    return {k: float(v) for k, v in (kv.split("=") for kv in line.split()[1:])}


def fanout(server, conns, rate, seconds):
    out = subprocess.run([os.path.join(RELEASE, "examples", "fanout"), server.base, server.token,
                          "fan", str(conns), str(rate), str(seconds), str(server.proc.pid)],
                         capture_output=True, text=True)
    print(out.stdout.strip(), file=sys.stderr)
    line = [l for l in out.stdout.splitlines() if l.startswith("RESULT")][-1]
    return {k: float(v) for k, v in (kv.split("=") for kv in line.split()[1:])}


rows = {}  # (name, conc) -> {"runs": [(r, ref)], "ref_name", "target", "check"}


def row(name, conc, r, ref=None, ref_name="", target="", check=None):
    """Records one run of a scenario; `check(median r, median ref, median ratio)` says
    whether the target is met."""
    entry = rows.setdefault((name, conc), {"runs": [], "ref_name": ref_name, "target": target,
                                           "check": check})
    entry["runs"].append((r, ref))
    print(f"  {name} c={conc}: {r['rps']:.0f}/s p99 {r['p99']:.2f} ms "
          f"cpu {r['cpu_us']:.1f} us/req", file=sys.stderr)


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def medians(results):
    return {k: median([r[k] for r in results]) for k in ("rps", "p50", "p99", "cpu_us", "bad")}


def fmt_ok(met):
    return "" if met is None else ("yes" if met else "**no**")


def main():
    started = time.time()
    # nginx: as many workers as Nimbus has shards, answering a constant.
    nport = free_port()
    os.makedirs(os.path.join(work, "nginx"))
    conf = os.path.join(work, "nginx.conf")
    open(conf, "w").write(f"""
worker_processes {SHARDS};
pid {work}/nginx.pid;
error_log {work}/nginx/error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {work}/nginx; proxy_temp_path {work}/nginx;
  fastcgi_temp_path {work}/nginx; uwsgi_temp_path {work}/nginx; scgi_temp_path {work}/nginx;
  server {{
    listen 127.0.0.1:{nport} reuseport;
    location = /health {{ default_type application/json; return 200 '{{"ok":true}}'; }}
  }}
}}""")
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    subprocess.run([nginx, "-c", conf, "-p", os.path.join(work, "nginx")], check=True)
    time.sleep(0.3)
    master = int(open(os.path.join(work, "nginx.pid")).read())
    nginx_pids = [master] + [int(p) for p in subprocess.run(
        ["pgrep", "-P", str(master)], capture_output=True, text=True).stdout.split()]

    # Redis with appendfsync always: durable SETs; also the PUBLISH fan-out reference.
    rport = free_port()
    os.makedirs(os.path.join(work, "redis"))
    redis = spawn(["redis-server", "--port", str(rport), "--bind", "127.0.0.1", "--dir",
                   os.path.join(work, "redis"), "--save", "", "--appendonly", "yes",
                   "--appendfsync", "always", "--daemonize", "no"],
                  os.path.join(work, "redis.log"))
    for _ in range(100):
        if subprocess.run(["redis-cli", "-p", str(rport), "ping"],
                          capture_output=True).returncode == 0:
            break
        time.sleep(0.1)

    durable = Nimbus("durable")
    nofsync = Nimbus("nofsync", ["--fsync", "off"])
    for s in (durable, nofsync):
        s.call("POST", "/api/tenants", {"id": "bench"})
        s.call("POST", "/api/tenants", {"id": "fan"})

    # Seed: `items` (get, patch, walk) and `big` (indexed queries), ~200 B per document.
    rss0 = rss_kib(durable.proc.pid)
    seeded = tool("seed", durable.base, durable.token, "bench", "items", ITEMS, 16)
    big = tool("seed", durable.base, durable.token, "bench", "big", BIG_DOCS, 16)
    time.sleep(1)
    rss1 = rss_kib(durable.proc.pid)
    json_bytes = seeded["json_bytes"] + big["json_bytes"]
    print(f"seeded {ITEMS + BIG_DOCS} documents ({json_bytes / 1e6:.0f} MB of JSON) at "
          f"{(ITEMS + BIG_DOCS) / (seeded['seconds'] + big['seconds']):.0f}/s", file=sys.stderr)

    # Indexes on the big table, built while get-one load runs against the same shard.
    first = durable.call("POST", "/api/tenants/bench/query",
                         {"table": "items", "filters": [], "limit": 1})["data"][0]["_id"]
    get_url = f"{durable.base}/api/tenants/bench/documents/items/{first}"
    t_build = time.time()
    durable.call("PUT", "/api/tenants/bench/schema/big", {
        "table": "big", "fields": [],
        "indexes": [{"name": "by_author", "fields": ["author"]},
                    {"name": "by_votes", "fields": ["votes"]}]})
    during = oha(get_url, 64, durable.pids(), "-H", durable.auth)
    while any(i["state"] != "enabled"
              for i in durable.call("GET", "/api/tenants/bench/schema/big")["indexes"]):
        time.sleep(0.05)
    build_s = time.time() - t_build
    rss2 = rss_kib(durable.proc.pid)

    eq = json.dumps({"table": "big", "limit": 10,
                     "filters": [{"field": "author", "op": "eq", "value": "user0042"}]})
    ordered = json.dumps({"table": "big", "filters": [], "limit": 10,
                          "order": {"field": "votes", "direction": "desc"}})
    plan = durable.call("POST", "/api/tenants/bench/query", {**json.loads(eq), "explain": True})
    print(f"eq plan: {plan['plan']}", file=sys.stderr)
    insert = json.dumps({"table": "writes",
                         "fields": {"author": "bench", "n": 1, "text": "hello"}})
    patch = json.dumps({"patch": {"votes": 7}})
    post = ["-m", "POST", "-T", "application/json"]
    # Rounds: every scenario runs ROUNDS times, each time right after its reference, and the
    # table quotes medians, so drift on a shared machine hits Nimbus and references alike.
    for _ in range(ROUNDS):
        for c in CONCURRENCY:
            ref = oha(f"http://127.0.0.1:{nport}/health", c, nginx_pids)
            row("nginx GET /health (ref)", c, ref)
            r = oha(f"{durable.base}/health", c, durable.pids())
            row("GET /health", c, r, ref, "nginx", ">= 1.0x, CPU <= 1.0x",
                lambda r, ref, x: x >= 1.0 and r["cpu_us"] <= ref["cpu_us"])
            get = oha(get_url, c, durable.pids(), "-H", durable.auth)
            row(f"get one document ({ITEMS // 1000}k docs)", c, get, ref, "nginx", ">= 0.9x, CPU <= 1.5x",
                lambda r, ref, x: x >= 0.9 and r["cpu_us"] <= 1.5 * ref["cpu_us"])
            r = oha(f"{durable.base}/api/tenants/bench/query", c, durable.pids(),
                    "-H", durable.auth, *post, "-d", eq)
            row(f"indexed eq, limit 10 ({BIG_DOCS // 1000}k docs)", c, r, get, "get one", ">= 0.5x, p99 < 5 ms",
                lambda r, ref, x: x >= 0.5 and r["p99"] < 5)
            r = oha(f"{durable.base}/api/tenants/bench/query", c, durable.pids(),
                    "-H", durable.auth, *post, "-d", ordered)
            row(f"indexed order desc, limit 10 ({BIG_DOCS // 1000}k docs)", c, r, get, "get one", ">= 0.5x",
                lambda r, ref, x: x >= 0.5)
            r = oha(f"{durable.base}/api/tenants/bench/documents/items/{first}", c,
                    durable.pids(), "-H", durable.auth, "-m", "PATCH", "-T", "application/json",
                    "-d", patch)
            row("patch (durable)", c, r)
            ref = redis_set(rport, c, redis.pid)
            row("redis SET, appendfsync always (ref)", c, ref)
            r = oha(f"{durable.base}/api/tenants/bench/documents", c, durable.pids(),
                    "-H", durable.auth, *post, "-d", insert)
            row("insert (durable)", c, r, ref, "redis SET", ">= 1.0x" if c == 64 else "",
                (lambda r, ref, x: x >= 1.0) if c == 64 else None)
            r = oha(f"{nofsync.base}/api/tenants/bench/documents", c, nofsync.pids(),
                    "-H", nofsync.auth, *post, "-d", insert)
            row("insert (--fsync off)", c, r, ref, "redis SET")

    walk = tool("walk", durable.base, durable.token, "bench", "items", 100)

    # Fan-out: latency to 1k and 10k subscribers, then throughput to 128 against Redis.
    fan = {n: fanout(durable, n, 2, 5) for n in FANOUT_CONNS}
    pub = tool("pubsub", rport, 128, 5)
    thr = fanout(durable, 128, 0, 5)
    for p in children:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)  # the counting bench below wants the cores

    # Heap allocations per request, counted in an in-process server (benches/allocations.rs).
    allocs = subprocess.run(["cargo", "bench", "--quiet", "--bench", "allocations"], cwd=ROOT,
                            capture_output=True, text=True).stdout

    # The table.
    print()
    print(f"Nimbus load test: {SHARDS} shards, {os.cpu_count()} cores, oha -z {DURATION}, "
          f"medians of {ROUNDS} rounds, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"{(time.time() - started) / 60:.1f} min")
    print()
    print("| scenario | conc | req/s | p50 ms | p99 ms | CPU µs/req | reference | ratio | "
          "ref CPU µs/req | target | met |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for (name, conc), e in sorted(rows.items(), key=lambda kv: kv[0][1]):
        r = medians([run[0] for run in e["runs"]])
        refs = [run[1] for run in e["runs"] if run[1]]
        ref = medians(refs) if refs else None
        x = median([a["rps"] / b["rps"] for a, b in e["runs"]]) if refs else None
        met = e["check"](r, ref, x) if e["check"] else None
        ratio = f"{x:.2f}" if refs else ""
        ref_cpu = f"{ref['cpu_us']:.1f}" if ref else ""
        bad = f" ({r['bad']:.0f} non-2xx)" if r["bad"] else ""
        print(f"| {name}{bad} | {conc} | {r['rps']:.0f} | {r['p50']:.2f} | {r['p99']:.2f} | "
              f"{r['cpu_us']:.1f} | {e['ref_name']} | {ratio} | {ref_cpu} | {e['target']} | "
              f"{fmt_ok(met)} |")
    print()
    print(f"| other | figure |")
    print("|---|---|")
    print(f"| seeding ({ITEMS + BIG_DOCS} docs, 16 pipelined conns, durable) | "
          f"{(ITEMS + BIG_DOCS) / (seeded['seconds'] + big['seconds']):.0f} inserts/s |")
    print(f"| RSS after seeding, no indexes | {rss1 / 1024:.0f} MiB for {json_bytes / 2**20:.0f} "
          f"MiB of JSON: {rss1 * 1024 / json_bytes:.2f}x (target < 2x; "
          f"{rss0 / 1024:.0f} MiB at start) |")
    print(f"| RSS with by_author + by_votes on {BIG_DOCS} docs | {rss2 / 1024:.0f} MiB "
          f"({(rss2 - rss1) * 1024 / BIG_DOCS:.0f} B per document for both indexes) |")
    print(f"| building both indexes on {BIG_DOCS} docs | {build_s:.2f} s; get-one meanwhile: "
          f"{during['rps']:.0f}/s, p99 {during['p99']:.2f} ms |")
    print(f"| paginated walk of {ITEMS} docs, page 100 | {walk['docs_per_s']:.0f} docs/s, "
          f"{walk['pages_per_s']:.0f} pages/s, page p50 {walk['p50_ms']:.2f} ms, "
          f"p99 {walk['p99_ms']:.2f} ms |")
    for n, f in fan.items():
        print(f"| fan-out to {int(f['subscribed'])}/{n} subscribers, 2 commits/s | "
              f"{f['delivered_pct']:.1f}% delivered, commit→receipt p50 {f['p50_ms']:.1f} ms, "
              f"p99 {f['p99_ms']:.1f} ms, max {f['max_ms']:.1f} ms (target p99 < 50 ms: "
              f"{fmt_ok(f['p99_ms'] < 50 and f['delivered_pct'] >= 100)}); "
              f"{f['kib_per_conn']:.1f} KiB RSS per idle subscribed connection |")
    print(f"| fan-out throughput, 128 subscribers, `limit 1` | {thr['frames_per_s']:.0f} frames/s "
          f"vs Redis PUBLISH to 128: {pub['messages_per_s']:.0f} msgs/s = "
          f"{thr['frames_per_s'] / pub['messages_per_s']:.2f}x (target >= 1.0x: "
          f"{fmt_ok(thr['frames_per_s'] >= pub['messages_per_s'])}) |")
    print()
    print("Heap allocations per request (whole server process, `cargo bench --bench allocations`;"
          " target for get one: <= 4):")
    print()
    print("\n".join(l for l in allocs.splitlines() if l.startswith("|")))


if __name__ == "__main__":
    try:
        main()
    finally:
        cleanup()
