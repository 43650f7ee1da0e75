#!/usr/bin/env node
// Long-lived driver for `secretsctl rehearse`: one workerd (through startLocal) that Python
// deploys stage after stage, plus the fake upstream API, spoken to in JSON lines so workerd
// is never restarted between stages (KV contents survive deploys, as on Cloudflare).
//
// One request per stdin line, one answer per stdout line, in order:
//   {"op": "deploy", "description": {...startLocal description...}}  -> {"ok": true, "ms"}
//      first call starts workerd, later calls update() it (KV kept, store = listed secrets)
//   {"op": "upstream", "tenants": {"<tenant>": ["<sha256 hex of an accepted key>", ...]}}
//      -> {"ok": true}. The fake upstream answers 200 when the Bearer key's SHA-256 is
//      accepted by the request's tenant (the first path segment naming a tenant; else
//      "default"), 401 {"error": "invalid_key"} otherwise. Only digests cross this pipe for
//      the upstream; it never stores a key.
//   {"op": "traffic", "requests": [{"worker", "method", "path", "headers", "body"}],
//    "concurrency": 8, "timeout_ms": 5000}
//      -> {"results": [{"status", "ms", "fallback": "0"|"1"|null, "body"}]} in request order;
//      status 0 = no answer in time or the runtime threw (body names which, never a value).
//   {"op": "upstream_calls"} -> {"calls": {"<tenant>": {"accepted": n, "rejected": n}}}
//   {"op": "dispose"} -> {"ok": true}, then the process exits.
// Errors answer {"error": "<message>"}. Worker console output goes to stderr.
// Cleanup: on stdin EOF (the Python side died) the runtime is disposed; on SIGTERM, SIGINT or
// SIGHUP the process exits at once and its exit hooks stop workerd and delete the local store
// (which holds the secret values).
// Python runs this in its own process group with TMPDIR set to the rehearsal's temp dir, so
// what a SIGKILL leaves behind is found and removed by the next run (driver.py reap_stale).
// Nothing here leaves the machine: every outbound fetch of every worker ends in the fake
// upstream below (AUDIT_URL-style requests without a Bearer key are answered 204).

import crypto from "node:crypto";
import readline from "node:readline";
import { startLocal } from "./index.mjs";

/** @type {import("./index.mjs").LocalRuntime | null} */
let runtime = null;
/** @type {Map<string, Set<string>>} tenant -> accepted key digests */
let tenants = new Map();
/** @type {Record<string, { accepted: number, rejected: number }>} */
const calls = {};

/** @param {Request} req */
async function upstream(req) {
  const url = new URL(req.url);
  await req.arrayBuffer(); // drain the body like a real server would
  const auth = req.headers.get("authorization") ?? "";
  if (!auth.startsWith("Bearer ")) return new Response(null, { status: 204 });
  const tenant = url.pathname.split("/").find((s) => tenants.has(s)) ?? "default";
  const digest = crypto.createHash("sha256").update(auth.slice(7)).digest("hex");
  const ok = tenants.get(tenant)?.has(digest) ?? false;
  const count = (calls[tenant] ??= { accepted: 0, rejected: 0 });
  count[ok ? "accepted" : "rejected"]++;
  return ok
    ? Response.json({ ok: true, tenant })
    : Response.json({ error: "invalid_key", tenant }, { status: 401 });
}

/**
 * @param {any} r one request
 * @param {number} timeoutMs
 */
async function send(r, timeoutMs) {
  const start = performance.now();
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  const timeout = new Promise((resolve) => {
    timer = setTimeout(() => resolve({ status: 0, fallback: null, body: "timeout" }), timeoutMs);
  });
  const call = (async () => {
    try {
      if (!runtime) throw new Error("not deployed");
      const resp = await runtime.fetch(r.worker, r.path ?? "/", {
        method: r.method ?? "GET",
        headers: r.headers ?? {},
        body: r.body ?? undefined,
      });
      const body = await resp.text();
      return { status: resp.status, fallback: resp.headers.get("x-secret-fallback"), body: body.slice(0, 4096) };
    } catch {
      return { status: 0, fallback: null, body: "runtime_error" };
    }
  })();
  const result = /** @type {any} */ (await Promise.race([call, timeout]));
  clearTimeout(timer);
  return { ...result, ms: Math.round((performance.now() - start) * 1000) / 1000 };
}

/** @param {any} msg */
async function handle(msg) {
  switch (msg.op) {
    case "deploy": {
      const start = performance.now();
      if (runtime) await runtime.update(msg.description);
      else runtime = await startLocal(msg.description, { upstream });
      return { ok: true, ms: Math.round(performance.now() - start) };
    }
    case "upstream":
      tenants = new Map(Object.entries(msg.tenants ?? {}).map(([t, keys]) => [t, new Set(keys)]));
      return { ok: true };
    case "traffic": {
      const requests = msg.requests ?? [];
      const results = new Array(requests.length);
      const timeoutMs = msg.timeout_ms ?? 5000;
      let next = 0;
      const lane = async () => {
        while (next < requests.length) {
          const i = next++;
          results[i] = await send(requests[i], timeoutMs);
        }
      };
      await Promise.all(Array.from({ length: Math.max(1, msg.concurrency ?? 8) }, lane));
      return { results };
    }
    case "upstream_calls":
      return { calls };
    case "dispose":
      if (runtime) await runtime.dispose();
      runtime = null;
      return { ok: true };
    default:
      throw new Error(`unknown op ${JSON.stringify(msg.op)}`);
  }
}

// Exit at once on a signal: the exit hooks (Miniflare's, then startLocal's) SIGKILL workerd
// and delete the store synchronously, which an async dispose() racing process.exit could not.
for (const [sig, n] of [["SIGHUP", 1], ["SIGINT", 2], ["SIGTERM", 15]]) {
  process.on(/** @type {NodeJS.Signals} */ (sig), () => process.exit(128 + /** @type {number} */ (n)));
}

const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of lines) {
  if (!line.trim()) continue;
  let answer;
  let op;
  try {
    const msg = JSON.parse(line);
    op = msg.op;
    answer = await handle(msg);
  } catch (err) {
    // Messages come from our own code and miniflare (names, paths), never from a value.
    answer = { error: err instanceof Error ? err.message : String(err) };
  }
  process.stdout.write(JSON.stringify(answer) + "\n");
  if (op === "dispose") break;
}
if (runtime) await runtime.dispose();
process.exit(0);
