// Bundles the app in convex/ into an app directory Nimbus deploys (DECISIONS §7, §13):
// app/convex/bundle.mjs (one ES module: each module of convex/ as a named namespace export,
// the HTTP router as `http`), bundle.sha256, and the registry files read from the bundle
// itself: functions.json (name, kind, visibility, argument validators), http_routes.json,
// schema.json (tables and their indexes).
//
//   npm install && npm run build      # then: nimbus deploy examples/chat/app
import * as esbuild from "esbuild";
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, writeFileSync, existsSync, rmSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const src = join(here, "convex");
const out = join(here, "app", "convex");
const work = join(here, ".build");
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
mkdirSync(out, { recursive: true });

const modules = readdirSync(src)
  .filter((f) => f.endsWith(".js") && !["schema.js", "http.js"].includes(f))
  .map((f) => f.slice(0, -3))
  .sort();
let entry = modules
  .map((m) => `export * as ${JSON.stringify(m)} from ${JSON.stringify(`./convex/${m}.js`)};`)
  .join("\n");
if (existsSync(join(src, "http.js"))) {
  entry += `\nexport { default as http } from "./convex/http.js";`;
}

async function bundle(contents, file) {
  await esbuild.build({
    stdin: { contents, resolveDir: here, sourcefile: "entry.js", loader: "js" },
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2020",
    mainFields: ["module", "main"],
    conditions: ["convex", "import"],
    outfile: file,
    logLevel: "warning",
  });
}

const bundleFile = join(out, "bundle.mjs");
await bundle(entry + "\n", bundleFile);
const app = await import(pathToFileURL(bundleFile).href);

const functions = [];
for (const m of modules) {
  for (const [name, f] of Object.entries(app[m]).sort(([a], [b]) => (a < b ? -1 : 1))) {
    const kind = f?.isQuery ? "query" : f?.isMutation ? "mutation" : f?.isAction ? "action" : null;
    if (kind === null) continue;
    functions.push({
      name: `${m}:${name}`,
      kind,
      visibility: f.isInternal ? "internal" : "public",
      args: JSON.parse(f.exportArgs()),
    });
  }
}
const routes = app.http
  ? app.http.getRoutes().map(([path, method]) => ({ method, path }))
  : [];

let tables = {};
if (existsSync(join(src, "schema.js"))) {
  const schemaFile = join(work, "schema.mjs");
  await bundle(`export { default } from "./convex/schema.js";\n`, schemaFile);
  const schema = (await import(pathToFileURL(schemaFile).href)).default;
  for (const t of JSON.parse(schema.export()).tables) {
    tables[t.tableName] = {
      indexes: t.indexes.map((i) => ({ name: i.indexDescriptor, fields: i.fields })),
    };
  }
}
rmSync(work, { recursive: true, force: true });

const json = (v) => JSON.stringify(v, null, 2) + "\n";
writeFileSync(join(out, "functions.json"), json({ functions }));
writeFileSync(join(out, "http_routes.json"), json({ routes }));
writeFileSync(join(out, "schema.json"), json({ tables }));
const sum = createHash("sha256").update(await import("node:fs").then((fs) => fs.readFileSync(bundleFile))).digest("hex");
writeFileSync(join(out, "bundle.sha256"), sum + "\n");
console.log(`app/convex: ${functions.length} functions, ${routes.length} routes, ${Object.keys(tables).length} tables, bundle ${sum.slice(0, 12)}`);
