// The local harness: module collection (same rule as the Pulumi upload) and binding translation.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { collectModules, REPO_ROOT, startLocal, staticImports, workerOptions } from "../local/index.mjs";

const WORKERS = path.join(REPO_ROOT, "workers");
// The example workers (listed, not globbed, so stray files in workers/ do not matter).
const EXAMPLE_WORKERS = ["api.js", "billing.js", "vault.js", "signer.js", "auth.js", "gateway.js", "audited.js", "legacy.js"];

test("staticImports finds import/export-from forms and ignores comments and bare specifiers", () => {
  const src = `
    // import x from "./commented.js";
    /* import y from "./block.js"; */
    import a from "./a.js";
    import { b, c } from "./lib/b.js";
    import * as d from '../d.js';
    import "./side.js";
    export { e } from "./e.js";
    import { Miniflare } from "miniflare";
    const s = "import z from './in-string.js'";`;
  assert.deepEqual(staticImports(src), ["./a.js", "./lib/b.js", "../d.js", "./side.js", "./e.js"]);
});

test("every worker's transitive modules are collected, main first, names relative to the root", () => {
  const expected = {
    "api.js": ["api.js", "lib/http.js", "lib/secrets.js", "lib/audit.js", "lib/json_secret.js", "lib/upstream.js"],
    "vault.js": ["vault.js", "lib/envelope.js", "lib/encoding.js", "lib/keys.js", "lib/secrets.js", "lib/audit.js", "lib/http.js"],
    "gateway.js": ["gateway.js", "lib/http.js", "lib/secrets.js", "lib/audit.js", "lib/signing.js", "lib/encoding.js", "lib/keys.js", "lib/clients.js", "lib/json_secret.js", "lib/subject.js", "lib/vendor/jose.js"],
  };
  for (const [main, names] of Object.entries(expected)) {
    const got = collectModules(WORKERS, main).map((m) => m.name);
    assert.equal(got[0], main);
    assert.deepEqual([...got].sort(), [...names].sort(), main);
  }
  for (const f of EXAMPLE_WORKERS) {
    assert.ok(collectModules(WORKERS, f).length >= 2, `${f} imports its helpers`);
  }
});

test("imports that leave modules_root are refused", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mods-"));
  fs.mkdirSync(path.join(dir, "w"));
  fs.writeFileSync(path.join(dir, "w", "main.js"), 'import x from "../outside.js";');
  fs.writeFileSync(path.join(dir, "outside.js"), "export default 1;");
  assert.throws(() => collectModules(path.join(dir, "w"), "main.js"), /outside modules_root/);
  fs.rmSync(dir, { recursive: true });
});

test("binding translation: every supported type, duplicates and unknown types refused", () => {
  const w = {
    name: "api", main_module: "api.js", modules_root: "workers",
    bindings: [
      { type: "secrets_store_secret", name: "PRIMARY_KEY", store_id: "st1", secret_name: "api_key_v1" },
      { type: "plain_text", name: "UPSTREAM_URL", text: "https://u" },
      { type: "secret_text", name: "LEGACY", text: "s" },
      { type: "kv_namespace", name: "CACHE", namespace_id: "kv1" },
      { type: "service", name: "AUTH", service: "auth" },
      { type: "d1", name: "DB", id: "db1" },
      { type: "r2_bucket", name: "MEDIA", bucket_name: "media" },
      { type: "queue", name: "JOBS", queue_name: "jobs" },
      { type: "durable_object_namespace", name: "COUNTER", class_name: "Counter" },
    ],
  };
  const o = workerOptions(w, { root: REPO_ROOT, outbound: async () => new Response() });
  assert.deepEqual(o.secretsStoreSecrets, { PRIMARY_KEY: { store_id: "st1", secret_name: "api_key_v1" } });
  assert.deepEqual(o.bindings, { UPSTREAM_URL: "https://u", LEGACY: "s" });
  assert.deepEqual(o.kvNamespaces, { CACHE: "kv1" });
  assert.deepEqual(o.serviceBindings, { AUTH: "auth" });
  assert.deepEqual(
    [o.d1Databases, o.r2Buckets, o.queueProducers, o.durableObjects],
    [{ DB: "db1" }, { MEDIA: "media" }, { JOBS: { queueName: "jobs" } }, { COUNTER: "Counter" }],
  );
  assert.equal(o.compatibilityDate, "2025-11-01");
  const dup = { ...w, bindings: [w.bindings[1], w.bindings[1]] };
  assert.throws(() => workerOptions(dup, { root: REPO_ROOT, outbound: async () => new Response() }), /two bindings named UPSTREAM_URL/);
  // Workers AI has no local stand-in: refused, not silently left out
  const bad = { ...w, bindings: [{ type: "ai", name: "AI" }] };
  assert.throws(() => workerOptions(bad, { root: REPO_ROOT, outbound: async () => new Response() }), /unsupported type ai/);
  const foreign = { ...w, bindings: [{ type: "durable_object_namespace", name: "C", class_name: "C", script_name: "other" }] };
  assert.throws(() => workerOptions(foreign, { root: REPO_ROOT, outbound: async () => new Response() }), /another script's Durable Object/);
});

test("update() keeps KV contents and makes the store hold exactly the listed secrets", async () => {
  const key = Buffer.alloc(32, 7).toString("base64");
  const desc = (secrets) => ({
    workers: [{ name: "vault", main_module: "vault.js", modules_root: "workers", bindings: [
      { type: "secrets_store_secret", name: "ENCRYPTION_KEY", store_id: "st1", secret_name: "k" },
      { type: "kv_namespace", name: "CACHE", namespace_id: "kv1" }] }],
    secrets: { st1: secrets },
  });
  const rt = await startLocal(desc({ k: key }), { onLog: () => {} });
  try {
    assert.equal((await rt.fetch("vault", "/v/a", { method: "PUT", body: "kept" })).status, 200);
    await rt.update(desc({}));
    assert.equal((await rt.fetch("vault", "/v/a")).status, 500, "secret deleted");
    await rt.update(desc({ k: key }));
    assert.equal(await (await rt.fetch("vault", "/v/a")).text(), "kept");
  } finally {
    await rt.dispose();
  }
});

test("networkUpstream sends outbound fetches to a real HTTP server (rehearsal mode)", async () => {
  const http = await import("node:http");
  const { networkUpstream } = await import("../local/index.mjs");
  const seen = [];
  const srv = http.createServer((req, res) => {
    seen.push(req.headers.authorization);
    res.writeHead(req.headers.authorization === "Bearer net-key" ? 200 : 401);
    res.end(`real:${req.url}`);
  });
  await new Promise((r) => srv.listen(0, "127.0.0.1", r));
  const rt = await startLocal(
    { workers: [{ name: "legacy", main_module: "legacy.js", bindings: [
      { type: "secret_text", name: "API_KEY", text: "net-key" },
      { type: "plain_text", name: "UPSTREAM_URL", text: `http://127.0.0.1:${srv.address().port}` }] }] },
    { upstream: networkUpstream, onLog: () => {} },
  );
  try {
    const r = await rt.fetch("legacy", "/hello?a=1");
    assert.equal(r.status, 200);
    assert.equal(await r.text(), "real:/hello?a=1");
    assert.deepEqual(seen, ["Bearer net-key"]);
  } finally {
    await rt.dispose();
    srv.close();
  }
});
