// Headless Chromium's own EventSource against a real Nimbus server (DECISIONS §12): a page
// follows a tenant's change feed at /events while 400 documents are inserted in a burst. A
// proxy between the page and the server cuts the first stream part way through the burst;
// the browser reconnects by itself, sending Last-Event-ID, and the page must end up with
// every change exactly once, in order. A live query over SSE (/live) must see the result
// grow too.
//
// Usage: node sse.mjs <path to the nimbus binary>. Run by .ci/browser.sh.
import { chromium } from "playwright-core";
import { spawn } from "node:child_process";
import { createServer, request } from "node:http";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const binary = process.argv[2];
if (!binary) {
  console.error("usage: node sse.mjs <nimbus binary>");
  process.exit(2);
}
const BURST = 400;
// The first /events stream is cut after this many bytes (about 40 changes).
const CUT_AFTER = 10_000;

const PAGE = `<!doctype html><html><body><script>
const key = new URLSearchParams(location.search).get("key");
window.outcome = { changes: [], errors: 0, live: [] };
const es = new EventSource("/api/tenants/feed/events?token=" + key);
es.addEventListener("change", (e) => {
  window.outcome.changes.push({ id: e.lastEventId, seq: JSON.parse(e.data).seq });
});
es.onerror = () => { window.outcome.errors++; };
const q = encodeURIComponent(JSON.stringify({ table: "items", filters: [{ field: "n", op: "lt", value: 3 }] }));
const live = new EventSource("/api/tenants/feed/live?token=" + key + "&query=" + q);
live.addEventListener("result", (e) => {
  const r = JSON.parse(e.data);
  window.outcome.live.push({ id: e.lastEventId, version: r.version, size: r.data.length });
});
</script></body></html>`;

function fail(why) {
  throw new Error(why);
}

/** The page at /, everything else passed to Nimbus; the first /events stream is cut. */
function proxy(apiPort, seen) {
  return new Promise((resolve) => {
    const server = createServer((req, res) => {
      if (req.url.startsWith("/?")) {
        res.writeHead(200, { "Content-Type": "text/html" });
        res.end(PAGE);
        return;
      }
      const events = req.url.includes("/events");
      if (events) seen.push(req.headers["last-event-id"] ?? null);
      const cut = events && seen.length === 1;
      const up = request(
        { host: "127.0.0.1", port: apiPort, path: req.url, method: req.method, headers: req.headers },
        (answer) => {
          res.writeHead(answer.statusCode, answer.headers);
          let bytes = 0;
          answer.on("data", (d) => {
            bytes += d.length;
            if (cut && bytes > CUT_AFTER) {
              res.write(d.subarray(0, d.length - (bytes - CUT_AFTER)));
              res.socket.destroy();
              answer.destroy();
              return;
            }
            res.write(d);
          });
          answer.on("end", () => res.end());
        },
      );
      up.on("error", () => res.destroy());
      req.pipe(up);
    });
    server.listen(0, "127.0.0.1", () => resolve(server));
  });
}

async function waitFor(what, page, predicate, ms = 60000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const outcome = await page.evaluate(() => window.outcome);
    if (predicate(outcome)) return outcome;
    await new Promise((r) => setTimeout(r, 100));
  }
  const o = await page.evaluate(() => window.outcome);
  fail(`${what}: ${o.changes.length} changes, ${o.errors} errors, live ${JSON.stringify(o.live)}`);
}

const dataDir = mkdtempSync(join(tmpdir(), "nimbus-sse-"));
const nimbus = spawn(binary, ["start", "--port", "0", "--shards", "2", "--data-dir", dataDir], {
  stdio: ["ignore", "pipe", "inherit"],
});
let browser, server;
try {
  const port = await new Promise((resolve, reject) => {
    let out = "";
    nimbus.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/listening on http:\/\/[^:]+:(\d+)/);
      if (m) resolve(m[1]);
    });
    nimbus.on("exit", (code) => reject(new Error(`nimbus exited (${code}) before listening`)));
  });
  const api = `http://127.0.0.1:${port}`;
  const token = JSON.parse(readFileSync(join(dataDir, "auth", "token"))).token;
  const admin = (method, path, body) =>
    fetch(api + path, {
      method,
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
      body: body && JSON.stringify(body),
    });
  (await admin("POST", "/api/tenants", { id: "feed" })).status === 201 || fail("no tenant");
  const made = await (await admin("POST", "/api/tenants/feed/keys", { name: "sse", scope: "read" })).json();
  const seen = [];
  server = await proxy(port, seen);
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
  });
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${server.address().port}/?key=${encodeURIComponent(made.key)}`);
  await waitFor("the live query's first result", page, (o) => o.live.length >= 1, 10000);
  // The burst: 8 writers, BURST inserts.
  let next = 0;
  const writer = async () => {
    while (next < BURST) {
      const n = next++;
      const r = await admin("POST", "/api/tenants/feed/documents", { table: "items", fields: { n } });
      r.status === 201 || fail(`insert ${n}: ${r.status}`);
    }
  };
  await Promise.all(Array.from({ length: 8 }, writer));
  const outcome = await waitFor("every change", page, (o) => o.changes.length >= BURST);
  const seqs = outcome.changes.map((c) => c.seq);
  const expected = Array.from({ length: BURST }, (_, i) => i + 1);
  JSON.stringify(seqs) === JSON.stringify(expected) ||
    fail(`changes out of order, missing or repeated: ${JSON.stringify(seqs)}`);
  outcome.changes.every((c) => c.id === String(c.seq)) || fail("an event's id is not its seq");
  seen.length >= 2 || fail(`the browser did not reconnect: ${JSON.stringify(seen)}`);
  seen[0] === null || fail(`the first stream sent Last-Event-ID ${seen[0]}`);
  const resumed = Number(seen[1]);
  resumed > 0 && resumed < BURST || fail(`the reconnect sent Last-Event-ID ${seen[1]}`);
  outcome.errors >= 1 || fail("the cut was not seen");
  console.log(`sse: ${BURST} changes once each, in order; cut after ${resumed}, resumed with Last-Event-ID`);
  const live = await waitFor("the live result with n < 3", page, (o) => o.live.some((l) => l.size === 3));
  const versions = live.live.map((l) => l.version);
  versions.every((v, i) => i === 0 || v > versions[i - 1]) || fail(`live versions: ${versions}`);
  live.live.every((l) => l.id === String(l.version)) || fail("a live event's id is not its version");
  console.log(`sse: live query over SSE grew ${live.live.map((l) => l.size).join(" -> ")}`);
  console.log("sse: ok");
} finally {
  await browser?.close();
  server?.close();
  nimbus.kill("SIGKILL");
  rmSync(dataDir, { recursive: true, force: true });
}
