#!/usr/bin/env node
// Long-lived driver for `secretsctl rehearse`: one workerd (through startLocal) that Python
// deploys stage after stage, plus the fake upstream API, spoken to in JSON lines so workerd
// is never restarted between stages (KV contents survive deploys, as on Cloudflare).
//
// Deploys switch versions the way Cloudflare does, without stopping traffic: every worker
// version a rehearsal will deploy is loaded up front (the first deploy's `versions`), each as
// its own service (`<script>--v<n>`, service bindings pointing at the versions deployed with
// them). A later deploy whose versions are all loaded writes the store and switches each
// script's new requests to its new version at once; requests already running on an old
// version finish there, and the deploy answers only once none is left (bounded by
// `drain_ms`). A deploy with a version not loaded yet restarts workerd (requests in flight
// then fail, as they would on a crashed host).
//
// One request per stdin line; one answer per stdout line, in order, except `enqueue`:
//   {"op": "deploy", "description": {...startLocal description...}, "versions": [
//      {"workers": [...], "secrets": {...}}, ...], "drain_ms": 30000}  -> {"ok": true, "ms",
//      "restarted": bool, "in_flight": requests running when the deploy began}. `versions`: other descriptions to load alongside (later stages);
//      their secrets only reserve store slots.
//   {"op": "upstream", "tenants": {"<tenant>": ["<sha256 hex of an accepted key>", ...]}}
//      -> {"ok": true}. The fake upstream answers 200 when the Bearer key's SHA-256 is
//      accepted by the request's tenant (the first path segment naming a tenant; else
//      "default"), 401 {"error": "invalid_key"} otherwise. Only digests cross this pipe for
//      the upstream; it never stores a key.
//   {"op": "traffic", "requests": [{"worker", "method", "path", "headers", "body"}],
//    "concurrency": 8, "timeout_ms": 5000}
//      -> {"results": [{"status", "ms", "fallback": "0"|"1"|null, "body"}]} in request order;
//      status 0 = no answer in time or the runtime threw (body names which, never a value).
//   Continuous load, running through deploys (`secretsctl rehearse --load`):
//   {"op": "load_start", "concurrency": 32, "timeout_ms": 5000} -> {"ok": true}: that many
//      lanes take requests from a queue, one at a time each.
//   {"op": "enqueue", "requests": [{"id", "worker", ...}]} -> no answer: queued at once, even
//      while a deploy is under way. Each result is one line as soon as it is known:
//      {"event": "result", "id", "status", "ms", "fallback", "body"}.
//   {"op": "load_stop"} -> {"ok": true} once the queue is empty and every lane idle.
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
/** Loaded worker versions: version key -> service name. */
let loaded = new Map();
/** @type {Map<string, any>} service name -> its worker description (renamed, targets pinned) */
let services = new Map();
/** @type {Set<string>} "store\0name" of every secret any loaded version may need */
let slots = new Set();
/** Script name -> the service its new requests go to. */
let active = new Map();
/** Service name -> requests running on it. */
const inflight = new Map();
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
 * A worker version's identity: its description and, through service bindings, the versions
 * it calls in the same deployment (so `gateway` calling a new `auth` is a new version).
 * @param {any} worker
 * @param {Map<string, any>} byName workers of the same description
 * @param {Set<string>} [seen]
 * @returns {string}
 */
function versionKey(worker, byName, seen = new Set()) {
  seen.add(worker.name);
  const targets = (worker.bindings ?? [])
    .filter((b) => b.type === "service" && byName.has(b.service) && !seen.has(b.service))
    .map((b) => versionKey(byName.get(b.service), byName, new Set(seen)));
  return JSON.stringify([worker, targets]);
}

/**
 * Add the versions of one description to `loaded`/`services`; returns script -> service.
 * @param {any} description
 */
function addVersions(description) {
  const byName = new Map((description.workers ?? []).map((w) => [w.name, w]));
  /** @type {Map<string, string>} */
  const chosen = new Map();
  for (const w of byName.values()) {
    const key = versionKey(w, byName);
    if (!loaded.has(key)) loaded.set(key, `${w.name}--v${loaded.size + 1}`);
    chosen.set(w.name, /** @type {string} */ (loaded.get(key)));
  }
  for (const w of byName.values()) {
    const service = /** @type {string} */ (chosen.get(w.name));
    if (services.has(service)) continue;
    const bindings = (w.bindings ?? []).map((b) =>
      b.type === "service" && chosen.has(b.service) ? { ...b, service: chosen.get(b.service) } : b,
    );
    services.set(service, { ...w, name: service, bindings });
  }
  for (const [store, names] of Object.entries(description.secrets ?? {})) {
    for (const name of Object.keys(names)) slots.add(`${store}\u0000${name}`);
  }
  return chosen;
}

/** Script -> service for a description whose versions are all loaded, else null. */
function lookup(description) {
  const byName = new Map((description.workers ?? []).map((w) => [w.name, w]));
  const chosen = new Map();
  for (const w of byName.values()) {
    const service = loaded.get(versionKey(w, byName));
    if (!service) return null;
    chosen.set(w.name, service);
  }
  for (const [store, names] of Object.entries(description.secrets ?? {})) {
    for (const name of Object.keys(names)) if (!slots.has(`${store}\u0000${name}`)) return null;
  }
  return chosen;
}

const sleep = (/** @type {number} */ ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Deploy `description`: switch versions in place when they are loaded, else (re)start workerd
 * with every version of it, of `versions` and of what was loaded before.
 * @param {any} description
 * @param {any[]} versions
 * @param {number} drainMs
 */
async function deploy(description, versions, drainMs) {
  const start = performance.now();
  const busy = [...inflight.values()].reduce((a, b) => a + b, 0);
  let chosen = runtime && !versions.length ? lookup(description) : null;
  let restarted = false;
  if (chosen && runtime) {
    await runtime.setSecrets(description.secrets ?? {});
  } else {
    chosen = addVersions(description);
    for (const v of versions) addVersions(v);
    const full = {
      workers: [...services.values()],
      secrets: description.secrets ?? {},
      secret_slots: [...slots].map((s) => s.split("\u0000")),
    };
    if (runtime) await runtime.update(full);
    else runtime = await startLocal(full, { upstream });
    restarted = true;
  }
  const retired = [...active.values()].filter((service) => ![...chosen.values()].includes(service));
  active = chosen;
  // Done when no request still runs on a version this deploy replaced.
  const deadline = Date.now() + drainMs;
  while (retired.some((service) => (inflight.get(service) ?? 0) > 0) && Date.now() < deadline) await sleep(2);
  return { ok: true, ms: Math.round(performance.now() - start), restarted, in_flight: busy };
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
  const service = active.get(r.worker) ?? r.worker;
  inflight.set(service, (inflight.get(service) ?? 0) + 1);
  const call = (async () => {
    try {
      if (!runtime) throw new Error("not deployed");
      const resp = await runtime.fetch(service, r.path ?? "/", {
        method: r.method ?? "GET",
        headers: r.headers ?? {},
        body: r.body ?? undefined,
      });
      const body = await resp.text();
      return { status: resp.status, fallback: resp.headers.get("x-secret-fallback"), body: body.slice(0, 4096) };
    } catch {
      return { status: 0, fallback: null, body: "runtime_error" };
    } finally {
      inflight.set(service, (inflight.get(service) ?? 1) - 1);
    }
  })();
  const result = /** @type {any} */ (await Promise.race([call, timeout]));
  clearTimeout(timer);
  return { ...result, ms: Math.round((performance.now() - start) * 1000) / 1000 };
}

/** @param {any} msg */
async function handle(msg) {
  switch (msg.op) {
    case "deploy":
      return deploy(msg.description, msg.versions ?? [], msg.drain_ms ?? 30000);
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
    case "load_start":
      load.concurrency = Math.max(1, msg.concurrency ?? 32);
      load.timeoutMs = msg.timeout_ms ?? 5000;
      while (load.lanes.length < load.concurrency) load.lanes.push(lane());
      return { ok: true };
    case "load_stop":
      load.stopping = true;
      wake();
      await Promise.all(load.lanes);
      load.lanes = [];
      load.stopping = false;
      return { ok: true };
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

/** Continuous load: lanes take queued requests one at a time and report each result. */
const load = {
  concurrency: 0,
  timeoutMs: 5000,
  stopping: false,
  /** @type {any[]} */
  queue: [],
  /** @type {Promise<void>[]} */
  lanes: [],
  /** @type {(() => void) | null} */
  waiting: null,
};
/** @type {Promise<void>} */
let more = new Promise((resolve) => (load.waiting = resolve));
function wake() {
  const resolve = load.waiting;
  more = new Promise((r) => (load.waiting = r));
  resolve?.();
}

async function lane() {
  for (;;) {
    const r = load.queue.shift();
    if (r === undefined) {
      if (load.stopping) return;
      await more;
      continue;
    }
    const result = await send(r, load.timeoutMs);
    process.stdout.write(JSON.stringify({ event: "result", id: r.id, ...result }) + "\n");
  }
}

// Exit at once on a signal: the exit hooks (Miniflare's, then startLocal's) SIGKILL workerd
// and delete the store synchronously, which an async dispose() racing process.exit could not.
for (const [sig, n] of [["SIGHUP", 1], ["SIGINT", 2], ["SIGTERM", 15]]) {
  process.on(/** @type {NodeJS.Signals} */ (sig), () => process.exit(128 + /** @type {number} */ (n)));
}

// Ops run one after another, in order, while lines keep being read: `enqueue` is applied as
// soon as it is read, so the load never waits for a deploy to finish.
const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
/** @type {Promise<void>} */
let chain = Promise.resolve();
for await (const line of lines) {
  if (!line.trim()) continue;
  /** @type {any} */
  let msg;
  try {
    msg = JSON.parse(line);
  } catch (err) {
    msg = { op: "invalid", error: err };
  }
  if (msg.op === "enqueue") {
    load.queue.push(...(msg.requests ?? []));
    wake();
    continue;
  }
  chain = chain.then(async () => {
    let answer;
    try {
      if (msg.op === "invalid") throw msg.error;
      answer = await handle(msg);
    } catch (err) {
      // Messages come from our own code and miniflare (names, paths), never from a value.
      answer = { error: err instanceof Error ? err.message : String(err) };
    }
    process.stdout.write(JSON.stringify(answer) + "\n");
  });
  if (msg.op === "dispose") break;
}
await chain;
if (runtime) await runtime.dispose();
process.exit(0);
