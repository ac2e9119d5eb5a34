// What a Convex bundle expects of its host, in JavaScript: evaluated once in every runtime
// before the app's module, with `host(op, argsJson) -> string` (the Rust side of every
// syscall; it throws an Error with the op's message). Defines `Convex`, a deterministic
// `Math.random` and `Date`, `console` captured into log lines, the small web globals
// functions reach for, and `__nimbus` (not enumerable), through which the engine calls.
(function (host) {
  "use strict";
  const g = globalThis;
  const N = { app: null, logs: [], now: 0, out: null, err: null, depth: 0 };
  Object.defineProperty(g, "__nimbus", { value: N });

  // Deterministic per call: the engine seeds the generator and fixes the time.
  let seed = 1;
  Math.random = function random() {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const RealDate = Date;
  class NimbusDate extends RealDate {
    constructor(...a) {
      if (a.length === 0) super(N.now);
      else super(...a);
    }
    static now() {
      return N.now;
    }
  }
  g.Date = NimbusDate;

  // console.* → log lines, as Convex prints them: `[LOG] 'text' {"a":1}`.
  const MAX_LINES = 256;
  const MAX_LINE = 32768;
  function show(v) {
    if (typeof v === "string") return "'" + v + "'";
    if (v instanceof Error) return String(v.stack || v);
    if (typeof v === "object" && v !== null) {
      try {
        return JSON.stringify(v, (k, x) => (typeof x === "bigint" ? x.toString() + "n" : x));
      } catch (e) {
        return String(v);
      }
    }
    return String(v);
  }
  function logger(level) {
    return function (...args) {
      if (N.logs.length >= MAX_LINES) return;
      let line = "[" + level + "] " + args.map(show).join(" ");
      if (line.length > MAX_LINE) line = line.slice(0, MAX_LINE) + " (truncated)";
      N.logs.push(line);
    };
  }
  g.console = {
    log: logger("LOG"),
    info: logger("INFO"),
    warn: logger("WARN"),
    error: logger("ERROR"),
    debug: logger("DEBUG"),
    trace: logger("LOG"),
  };

  g.process = { env: {} };
  if (typeof g.queueMicrotask !== "function") {
    g.queueMicrotask = (f) => void Promise.resolve().then(f);
  }
  const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  g.btoa = function btoa(s) {
    s = String(s);
    let out = "";
    for (let i = 0; i < s.length; i += 3) {
      const a = s.charCodeAt(i), b = s.charCodeAt(i + 1), c = s.charCodeAt(i + 2);
      if (a > 255 || b > 255 || c > 255) throw new Error("btoa: characters outside Latin-1");
      const n = (a << 16) | ((b || 0) << 8) | (c || 0);
      out += B64[n >> 18] + B64[(n >> 12) & 63];
      out += i + 1 < s.length ? B64[(n >> 6) & 63] : "=";
      out += i + 2 < s.length ? B64[n & 63] : "=";
    }
    return out;
  };
  g.atob = function atob(s) {
    s = String(s).replace(/[\s=]+/g, "");
    let out = "", bits = 0, n = 0;
    for (const ch of s) {
      const v = B64.indexOf(ch);
      if (v < 0) throw new Error("atob: not base64");
      n = (n << 6) | v;
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        out += String.fromCharCode((n >> bits) & 255);
      }
    }
    return out;
  };
  class TextEncoder {
    get encoding() {
      return "utf-8";
    }
    encode(s = "") {
      const bin = unescape(encodeURIComponent(String(s)));
      const out = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
      return out;
    }
  }
  class TextDecoder {
    get encoding() {
      return "utf-8";
    }
    decode(bytes) {
      if (bytes === undefined) return "";
      const u8 = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes.buffer || bytes);
      let bin = "";
      for (let i = 0; i < u8.length; i++) bin += String.fromCharCode(u8[i]);
      return decodeURIComponent(escape(bin));
    }
  }
  g.TextEncoder = TextEncoder;
  g.TextDecoder = TextDecoder;
  g.crypto = {
    getRandomValues(a) {
      for (let i = 0; i < a.length; i++) a[i] = Math.floor(Math.random() * 4294967296);
      return a;
    },
  };

  function lookup(name) {
    const at = name.lastIndexOf(":");
    const mod = at < 0 ? name : name.slice(0, at);
    const fn = at < 0 ? "default" : name.slice(at + 1);
    const ns = mod.endsWith(".js") ? N.app[mod.slice(0, -3)] : N.app[mod];
    const f = ns && Object.prototype.hasOwnProperty.call(ns, fn) ? ns[fn] : undefined;
    if (!f || !(f.isQuery || f.isMutation || f.isAction)) {
      throw new Error("no function `" + name + "` in the deployed app");
    }
    return f;
  }

  // `ctx.runQuery` / `ctx.runMutation` inside a call: the same transaction, the callee's
  // arguments checked by the host first.
  function runUdf(argsJson) {
    const a = JSON.parse(argsJson);
    if (typeof a.name !== "string") {
      throw new Error("ctx.runQuery/runMutation take a function reference by name here");
    }
    const f = lookup(a.name);
    const kind = a.udfType === "mutation" ? "mutation" : "query";
    if (kind === "query" ? !f.isQuery : !f.isMutation) {
      throw new Error("`" + a.name + "` is not a " + kind);
    }
    const args = JSON.stringify(a.args);
    host("nimbus/enter", JSON.stringify({ name: a.name, kind, args: a.args }));
    N.depth++;
    const done = () => {
      N.depth--;
      host("nimbus/leave", "{}");
    };
    const p = kind === "query" ? f.invokeQuery(args) : f.invokeMutation(args);
    return p.then(
      (v) => (done(), v),
      (e) => {
        done();
        throw e;
      },
    );
  }

  g.Convex = {
    syscall: (op, a) => host(op, a),
    asyncSyscall(op, a) {
      try {
        if (op === "1.0/runUdf") return runUdf(a);
        return Promise.resolve(host(op, a));
      } catch (e) {
        return Promise.reject(e);
      }
    },
    jsSyscall(op) {
      throw new Error("`" + op + "` is not supported by Nimbus yet");
    },
  };

  function failure(e) {
    if (typeof e === "object" && e !== null && Symbol.for("ConvexError") in e) {
      return { message: String(e.message), data: typeof e.data === "string" ? e.data : "null" };
    }
    const name = (e && e.name) || "Error";
    const message = e && e.message !== undefined ? e.message : String(e);
    return { message: "Uncaught " + name + ": " + message, data: null };
  }

  // One call: resolves to true with `N.out` the value's JSON, or false with `N.err`.
  N.run = function (kind, name, argsJson, now, rand) {
    N.logs = [];
    N.out = null;
    N.err = null;
    N.now = now;
    N.depth = 0;
    seed = rand | 0;
    let p;
    try {
      const f = lookup(name);
      p = kind === "query" ? f.invokeQuery(argsJson) : f.invokeMutation(argsJson);
    } catch (e) {
      p = Promise.reject(e);
    }
    return p.then(
      (v) => ((N.out = v), true),
      (e) => ((N.err = failure(e)), false),
    );
  };

  // The app's functions and HTTP routes, as the deploy check compares them.
  N.describe = function () {
    const functions = [];
    for (const mod of Object.keys(N.app).sort()) {
      const ns = N.app[mod];
      if (mod === "http" || mod === "default" || ns === null || typeof ns !== "object") continue;
      for (const k of Object.keys(ns).sort()) {
        const f = ns[k];
        const kind = f && (f.isQuery ? "query" : f.isMutation ? "mutation" : f.isAction ? "action" : null);
        if (!kind) continue;
        const args = typeof f.exportArgs === "function" ? JSON.parse(f.exportArgs()) : { type: "any" };
        functions.push({ name: mod + ":" + k, kind, visibility: f.isInternal ? "internal" : "public", args });
      }
    }
    const http = N.app.http;
    const routes =
      http && typeof http.getRoutes === "function"
        ? http.getRoutes().map(([path, method]) => ({ method, path }))
        : [];
    return JSON.stringify({ functions, routes });
  };
});
