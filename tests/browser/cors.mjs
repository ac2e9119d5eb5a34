// Headless Chromium against a real Nimbus server (DECISIONS §10): a page served from an
// origin in --allowed-origins, on another port, calls the API with a `read` key over fetch
// (a preflighted request: it sends Authorization and a JSON Content-Type) and subscribes
// over WebSocket with ?token=; a live result for a document inserted meanwhile must reach
// it. The same page served from an origin that is not allowed must get nothing.
//
// Usage: node cors.mjs <path to the nimbus binary>. Run by .ci/browser.sh.
import { chromium } from "playwright-core";
import { spawn } from "node:child_process";
import { createServer } from "node:http";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const binary = process.argv[2];
if (!binary) {
  console.error("usage: node cors.mjs <nimbus binary>");
  process.exit(2);
}

// The page: its script reads the API address and the key from its own URL.
const PAGE = `<!doctype html><html><body><script>
const params = new URLSearchParams(location.search);
const api = params.get("api"), key = params.get("key");
window.outcome = { fetch: null, ws: [], wsError: null };
(async () => {
  try {
    const r = await fetch(api + "/api/tenants/demo/query", {
      method: "POST",
      headers: { Authorization: "Bearer " + key, "Content-Type": "application/json" },
      body: JSON.stringify({ table: "messages", filters: [] }),
    });
    window.outcome.fetch = { status: r.status, body: await r.json(), requestId: r.headers.get("X-Request-Id") };
  } catch (e) {
    window.outcome.fetch = { failed: String(e) };
  }
  const ws = new WebSocket(api.replace("http", "ws") + "/ws?tenant_id=demo&token=" + key, ["nimbus.v2"]);
  ws.onmessage = (m) => {
    const frame = JSON.parse(m.data);
    window.outcome.ws.push(frame);
    if (frame.type === "hello") {
      ws.send(JSON.stringify({ type: "client_hello", protocol: "nimbus.v2" }));
      ws.send(JSON.stringify({ type: "subscribe", request_id: "m", query: { table: "messages", filters: [] } }));
    }
  };
  ws.onerror = () => { window.outcome.wsError = "error"; };
  ws.onclose = (e) => { window.outcome.wsClosed = e.code; };
})();
</script></body></html>`;

function servePage() {
  return new Promise((resolve) => {
    const server = createServer((_req, res) => {
      res.writeHead(200, { "Content-Type": "text/html" });
      res.end(PAGE);
    });
    server.listen(0, "127.0.0.1", () => resolve(server));
  });
}

function fail(why) {
  throw new Error(why);
}

async function waitFor(what, page, predicate, ms = 10000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const outcome = await page.evaluate(() => window.outcome);
    if (outcome && predicate(outcome)) return outcome;
    await new Promise((r) => setTimeout(r, 50));
  }
  fail(`${what}: ${JSON.stringify(await page.evaluate(() => window.outcome))}`);
}

const allowedPage = await servePage();
const refusedPage = await servePage();
const allowedOrigin = `http://127.0.0.1:${allowedPage.address().port}`;
const refusedOrigin = `http://127.0.0.1:${refusedPage.address().port}`;
const dataDir = mkdtempSync(join(tmpdir(), "nimbus-browser-"));
const nimbus = spawn(
  binary,
  ["start", "--port", "0", "--shards", "2", "--data-dir", dataDir, "--allowed-origins", allowedOrigin],
  { stdio: ["ignore", "pipe", "inherit"] },
);
let browser;
try {
  const port = await new Promise((resolve, reject) => {
    let seen = "";
    nimbus.stdout.on("data", (d) => {
      seen += d;
      const m = seen.match(/listening on http:\/\/[^:]+:(\d+)/);
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
  (await admin("POST", "/api/tenants", { id: "demo" })).status === 201 || fail("no tenant");
  await admin("POST", "/api/tenants/demo/documents", { table: "messages", fields: { text: "first" } });
  const made = await (await admin("POST", "/api/tenants/demo/keys", { name: "browser", scope: "read" })).json();
  made.key?.startsWith("nimbus_r_") || fail(`no read key: ${JSON.stringify(made)}`);

  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  const query = `?api=${encodeURIComponent(api)}&key=${encodeURIComponent(made.key)}`;

  // The allowed origin: the preflighted fetch answers, the socket subscribes and goes live.
  const page = await browser.newPage();
  await page.goto(allowedOrigin + "/" + query);
  let outcome = await waitFor("the fetch from the allowed origin", page, (o) => o.fetch);
  outcome.fetch.status === 200 || fail(`fetch: ${JSON.stringify(outcome.fetch)}`);
  outcome.fetch.body.data?.[0]?.text === "first" || fail(`fetch body: ${JSON.stringify(outcome.fetch)}`);
  outcome.fetch.requestId?.startsWith("req-") || fail("X-Request-Id is not exposed to the page");
  await waitFor("the first live result", page, (o) => o.ws.some((f) => f.type === "subscription_result"));
  await admin("POST", "/api/tenants/demo/documents", { table: "messages", fields: { text: "live" } });
  outcome = await waitFor("the live result", page, (o) =>
    o.ws.some((f) => f.type === "subscription_result" && f.data.some((d) => d.text === "live")),
  );
  console.log(`browser: allowed origin ${allowedOrigin}: fetch 200, live result over WebSocket`);

  // The refused origin: the browser blocks the fetch (its preflight got a 403) and the
  // upgrade is refused.
  const other = await browser.newPage();
  await other.goto(refusedOrigin + "/" + query);
  outcome = await waitFor("the refused origin", other, (o) => o.fetch && (o.wsError || o.wsClosed));
  outcome.fetch.failed || fail(`a refused origin's fetch succeeded: ${JSON.stringify(outcome.fetch)}`);
  outcome.ws.length === 0 || fail(`a refused origin's socket got frames: ${JSON.stringify(outcome.ws)}`);
  const preflight = await fetch(api + "/api/tenants/demo/query", {
    method: "OPTIONS",
    headers: { Origin: refusedOrigin, "Access-Control-Request-Method": "POST" },
  });
  preflight.status === 403 || fail(`the refused origin's preflight got ${preflight.status}`);
  console.log(`browser: refused origin ${refusedOrigin}: fetch blocked, socket refused`);
  console.log("browser: ok");
} finally {
  await browser?.close();
  nimbus.kill("SIGKILL");
  allowedPage.close();
  refusedPage.close();
  rmSync(dataDir, { recursive: true, force: true });
}
