// Local runtime for the workers: one Miniflare (workerd) running every worker of a
// description given in Cloudflare's own shapes. Used by workers/test/*.test.mjs, the
// Python interop tests (through run.mjs) and the local rehearsal.
//
// Description (JSON-able):
// {
//   "workers": [{
//     "name": "api", "main_module": "api.js", "modules_root": "workers",
//     "compatibility_date": "2025-11-01", "compatibility_flags": [],
//     "bindings": [
//       {"type": "secrets_store_secret", "name": "PRIMARY_KEY", "store_id": "st1", "secret_name": "api_key_v1"},
//       {"type": "plain_text", "name": "UPSTREAM_URL", "text": "..."},
//       {"type": "secret_text", "name": "LEGACY", "text": "..."},
//       {"type": "json", "name": "CFG", "json": {...}},
//       {"type": "kv_namespace", "name": "CACHE", "namespace_id": "kv1"},
//       {"type": "service", "name": "AUTH", "service": "auth"},
//       {"type": "d1" | "r2_bucket" | "queue" | "durable_object_namespace", ...} (in memory)
//     ]}],
//   "secrets": {"st1": {"api_key_v1": "value", "api_key_v2": "value"}}
// }
// modules_root is resolved against options.root (default: the repository root). The main
// module and every module it imports through static relative imports (transitively) are
// loaded, the same rule the Pulumi upload uses. Secret values are written into the local
// Secrets Store through Miniflare's admin API; secrets absent from `secrets` do not exist
// (a binding to them throws on get()).
// Outbound fetch() from every worker (the upstream API, AUDIT_URL sinks) goes to the
// handler set with setUpstream(); the default answers 502.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare, fetch as miniflareFetch } from "miniflare";

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
export const DEFAULT_COMPATIBILITY_DATE = "2025-11-01";
const ADMIN_WORKER = "__secrets_admin";

const IMPORT_RE =
  /(?:^|[;\s])(?:import|export)\s*(?:[\w*${}\s,]+?\s*from\s*)?["'](\.{1,2}\/[^"']+)["']/g;

/**
 * Static relative imports of one module's source (`import x from "./a.js"`,
 * `import "./a.js"`, `export { x } from "./a.js"`). Comments are stripped first.
 * @param {string} source
 * @returns {string[]}
 */
export function staticImports(source) {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'])\/\/.*$/gm, "$1");
  const out = [];
  for (const m of code.matchAll(IMPORT_RE)) out.push(m[1]);
  return out;
}

/**
 * The main module and all modules it imports transitively, main first.
 * @param {string} modulesRoot absolute directory
 * @param {string} mainModule path relative to modulesRoot
 * @returns {Array<{ name: string, path: string, contents: string }>} name: path relative to the root, "/"-separated
 */
export function collectModules(modulesRoot, mainModule) {
  const root = path.resolve(modulesRoot);
  /** @type {Map<string, { name: string, path: string, contents: string }>} */
  const seen = new Map();
  const visit = (/** @type {string} */ abs) => {
    if (seen.has(abs)) return;
    const rel = path.relative(root, abs);
    if (rel.startsWith("..") || path.isAbsolute(rel)) {
      throw new Error(`module ${abs} imports outside modules_root ${root}`);
    }
    const contents = fs.readFileSync(abs, "utf8");
    seen.set(abs, { name: rel.split(path.sep).join("/"), path: abs, contents });
    for (const spec of staticImports(contents)) visit(path.resolve(path.dirname(abs), spec));
  };
  visit(path.resolve(root, mainModule));
  return [...seen.values()];
}

/**
 * Translate one Cloudflare-shaped worker into Miniflare worker options.
 * @param {any} worker
 * @param {{ root: string, outbound: (req: Request) => Promise<Response> }} ctx
 */
export function workerOptions(worker, ctx) {
  const root = path.resolve(ctx.root, worker.modules_root ?? "workers");
  const modules = collectModules(root, worker.main_module);
  /** @type {Record<string, any>} */
  const opts = {
    name: worker.name,
    modules: modules.map((m) => ({ type: "ESModule", path: m.path, contents: m.contents })),
    modulesRoot: root,
    compatibilityDate: worker.compatibility_date ?? DEFAULT_COMPATIBILITY_DATE,
    compatibilityFlags: worker.compatibility_flags ?? [],
    bindings: {},
    kvNamespaces: {},
    d1Databases: {},
    r2Buckets: {},
    queueProducers: {},
    durableObjects: {},
    secretsStoreSecrets: {},
    serviceBindings: {},
    outboundService: (/** @type {Request} */ req) => ctx.outbound(req),
  };
  const names = new Set();
  for (const b of worker.bindings ?? []) {
    if (names.has(b.name)) throw new Error(`worker ${worker.name}: two bindings named ${b.name}`);
    names.add(b.name);
    switch (b.type) {
      case "secrets_store_secret":
        opts.secretsStoreSecrets[b.name] = { store_id: b.store_id, secret_name: b.secret_name };
        break;
      case "plain_text":
      case "secret_text":
        opts.bindings[b.name] = String(b.text);
        break;
      case "json":
        opts.bindings[b.name] = b.json;
        break;
      case "kv_namespace":
        opts.kvNamespaces[b.name] = b.namespace_id;
        break;
      case "service":
        opts.serviceBindings[b.name] = b.entrypoint ? { name: b.service, entrypoint: b.entrypoint } : b.service;
        break;
      // Local stand-ins (miniflare, in memory) for what extra_bindings pass through.
      case "d1":
        opts.d1Databases[b.name] = b.id;
        break;
      case "r2_bucket":
        opts.r2Buckets[b.name] = b.bucket_name;
        break;
      case "queue":
        opts.queueProducers[b.name] = { queueName: b.queue_name };
        break;
      case "durable_object_namespace":
        if (b.script_name && b.script_name !== worker.name) {
          throw new Error(`worker ${worker.name}: binding ${b.name} names another script's Durable Object`);
        }
        opts.durableObjects[b.name] = b.class_name;
        break;
      default:
        throw new Error(`worker ${worker.name}: binding ${b.name} has unsupported type ${b.type}`);
    }
  }
  return opts;
}

/**
 * An upstream handler that sends the workers' outbound requests to the real network
 * (e.g. a fake upstream HTTP server on 127.0.0.1 run by the rehearsal).
 * @param {Request} req
 */
export function networkUpstream(req) {
  return miniflareFetch(/** @type {any} */ (req));
}

/** @param {any} description */
function adminWorker(description) {
  /** @type {Record<string, {store_id: string, secret_name: string}>} */
  const secretsStoreSecrets = {};
  /** @type {Array<{ binding: string, store_id: string, secret_name: string }>} */
  const slots = [];
  const add = (/** @type {string} */ store_id, /** @type {string} */ secret_name) => {
    if (slots.some((s) => s.store_id === store_id && s.secret_name === secret_name)) return;
    const binding = `S${slots.length}`;
    slots.push({ binding, store_id, secret_name });
    secretsStoreSecrets[binding] = { store_id, secret_name };
  };
  for (const [store, secrets] of Object.entries(description.secrets ?? {})) {
    for (const name of Object.keys(secrets)) add(store, name);
  }
  // Bind the names the workers use as well, so secrets that no longer exist can be deleted.
  for (const w of description.workers ?? []) {
    for (const b of w.bindings ?? []) if (b.type === "secrets_store_secret") add(b.store_id, b.secret_name);
  }
  // And any name a later setSecrets() may write (`secret_slots`: [[store_id, name], ...]).
  for (const [store_id, secret_name] of description.secret_slots ?? []) add(store_id, secret_name);
  return {
    slots,
    options: {
      name: ADMIN_WORKER,
      modules: true,
      script: "export default { fetch() { return new Response(null, { status: 404 }); } };",
      compatibilityDate: DEFAULT_COMPATIBILITY_DATE,
      secretsStoreSecrets,
    },
  };
}

/**
 * @typedef {object} LocalRuntime
 * @property {(worker: string, input: string | URL | Request, init?: RequestInit) => Promise<Response>} fetch
 *   relative URLs ("/path") are resolved against https://<worker>.local
 * @property {(description: any) => Promise<void>} update re-deploy; KV contents are kept
 * @property {(secrets: Record<string, Record<string, string>>) => Promise<void>} setSecrets make
 *   the store hold exactly `secrets` without restarting workerd (every name must be bound by a
 *   worker or listed in `secret_slots` of the description it runs; throws otherwise)
 * @property {(handler: (req: Request) => Response | Promise<Response>) => void} setUpstream
 * @property {() => Promise<void>} dispose
 * @property {Miniflare} mf
 */

/**
 * Start every worker of `description` in one Miniflare.
 * @param {any} description
 * @param {{ root?: string, upstream?: (req: Request) => Response | Promise<Response>,
 *           onLog?: (entry: { level: string, message: string }) => void }} [options]
 *   onLog receives every console line of the workers (default: written to stderr)
 * @returns {Promise<LocalRuntime>}
 */
export async function startLocal(description, options = {}) {
  const root = options.root ?? REPO_ROOT;
  let upstream = options.upstream ?? (() => new Response("no upstream configured", { status: 502 }));
  const outbound = async (/** @type {Request} */ req) => upstream(req);
  const persist = fs.mkdtempSync(path.join(os.tmpdir(), "workers-local-"));
  const onLog = options.onLog ?? ((e) => process.stderr.write(`[workerd ${e.level}] ${e.message}\n`));

  const build = (/** @type {any} */ desc) => {
    const names = new Set();
    for (const w of desc.workers ?? []) {
      if (names.has(w.name)) throw new Error(`two workers named ${w.name}`);
      names.add(w.name);
    }
    const admin = adminWorker(desc);
    const workers = (desc.workers ?? []).map((w) => workerOptions(w, { root, outbound }));
    return {
      admin,
      options: {
        workers: [...workers, admin.options],
        kvPersist: path.join(persist, "kv"),
        secretsStorePersist: path.join(persist, "secrets-store"),
        handleStructuredLogs: (/** @type {any} */ e) => {
          onLog(e);
        },
      },
    };
  };

  let current = build(description);
  const mf = new Miniflare(current.options);
  // The admin worker's Secrets Store API per slot binding, kept until the next update:
  // getting one is a round trip to workerd, and its first use several blocking ones.
  /** @type {Map<string, any>} */
  let apis = new Map();
  const apiFor = async (/** @type {string} */ binding) => {
    let api = apis.get(binding);
    if (!api) {
      api = (await mf.getSecretsStoreSecretAPI(binding, ADMIN_WORKER))();
      apis.set(binding, api);
    }
    return api;
  };
  // The store under `persist` holds the secret values: delete it even when the process exits
  // without dispose() (process.exit, SIGINT/SIGTERM). Registered after Miniflare's own exit
  // hook, which has already sent workerd SIGKILL by then.
  const removeStore = () => fs.rmSync(persist, { recursive: true, force: true });
  process.on("exit", removeStore);
  await mf.ready;
  await writeSecrets(apiFor, current.admin.slots, description.secrets ?? {});

  // One proxy per worker, kept until the next update: getWorker() is a round trip to
  // workerd that costs as much CPU as the request itself.
  /** @type {Map<string, Promise<any>>} */
  const fetchers = new Map();
  return {
    mf,
    async fetch(worker, input, init) {
      let proxy = fetchers.get(worker);
      if (!proxy) {
        proxy = mf.getWorker(worker);
        fetchers.set(worker, proxy);
        proxy.catch(() => fetchers.delete(worker)); // a failed lookup is retried next time
      }
      const fetcher = await proxy;
      const url = typeof input === "string" && input.startsWith("/") ? `https://${worker}.local${input}` : input;
      return fetcher.fetch(/** @type {any} */ (url), /** @type {any} */ (init));
    },
    async update(desc) {
      current = build(desc);
      fetchers.clear();
      apis = new Map(); // proxies of the runtime being replaced stop working
      await mf.setOptions(current.options);
      await writeSecrets(apiFor, current.admin.slots, desc.secrets ?? {});
    },
    async setSecrets(secrets) {
      const bound = new Set(current.admin.slots.map((slot) => `${slot.store_id}\u0000${slot.secret_name}`));
      for (const [store, names] of Object.entries(secrets ?? {})) {
        for (const name of Object.keys(names)) {
          if (!bound.has(`${store}\u0000${name}`)) throw new Error(`secret ${name} of store ${store} has no slot: redeploy`);
        }
      }
      await writeSecrets(apiFor, current.admin.slots, secrets ?? {});
    },
    setUpstream(handler) {
      upstream = handler;
    },
    async dispose() {
      await mf.dispose();
      process.off("exit", removeStore);
      removeStore();
    },
  };
}

/**
 * Make the local store hold exactly `secrets`: create/overwrite those listed, delete the rest.
 * @param {(binding: string) => Promise<any>} apiFor the admin worker's API for one slot
 * @param {Array<{ binding: string, store_id: string, secret_name: string }>} slots
 * @param {Record<string, Record<string, string>>} secrets
 */
async function writeSecrets(apiFor, slots, secrets) {
  /** @type {Set<string>} */
  const listedStores = new Set();
  for (const slot of slots) {
    const api = await apiFor(slot.binding);
    if (!listedStores.has(slot.store_id)) {
      listedStores.add(slot.store_id);
      const wanted = secrets[slot.store_id] ?? {};
      for (const key of await api.list()) {
        if (!(key.name in wanted) && key.metadata?.uuid) await api.delete(key.metadata.uuid);
      }
    }
    const value = secrets[slot.store_id]?.[slot.secret_name];
    if (typeof value === "string") await api.create(value);
  }
}
