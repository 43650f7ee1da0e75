// Reading secrets from bindings, per request.
//
// Rules this module enforces for every worker:
// - never read at module scope: everything here takes `env` per request;
// - at most one `.get()` per binding per request (the per-request reader caches the promise);
// - errors name the binding and a code, never the value nor the runtime's raw message;
// - migration: a binding may be a legacy Worker secret (`secret_text`, a plain string)
//   or a Secrets Store binding (`secrets_store_secret`, an object with async `get()`),
//   so code using these helpers ships before the binding type changes.

import { createAudit } from "./audit.js";

/** Raised for any problem reading or using a secret. Safe to show: it never contains a value. */
export class SecretError extends Error {
  /**
   * @param {string} message human-readable, names the binding, never the value
   * @param {{ binding?: string, code?: string, status?: number }} [info]
   */
  constructor(message, info = {}) {
    super(message);
    this.name = "SecretError";
    this.binding = info.binding ?? "";
    this.code = info.code ?? "secret_error";
    this.status = info.status ?? 500;
  }
}

/**
 * What kind of binding `name` is in `env`.
 * @param {object} env any Worker `Env` (the one `wrangler types` generates, for example)
 * @param {string} name
 * @returns {"secrets_store_secret" | "secret_text" | "absent" | "unsupported"}
 */
export function bindingType(env, name) {
  const b = env?.[name];
  if (b === undefined || b === null) return "absent";
  if (typeof b === "string") return "secret_text";
  if (typeof b === "object" && typeof b.get === "function") return "secrets_store_secret";
  return "unsupported";
}

/**
 * Migration helper: read a secret from either a legacy `secret_text` binding (string)
 * or a Secrets Store binding (`await binding.get()`). Throws SecretError when absent,
 * missing in the store, or empty.
 * @param {object} env any Worker `Env` (the one `wrangler types` generates, for example)
 * @param {string} name binding name
 * @returns {Promise<string>}
 */
export async function readSecret(env, name) {
  const type = bindingType(env, name);
  if (type === "absent") {
    throw new SecretError(`secret binding ${name} is not bound to this worker`, {
      binding: name,
      code: "binding_absent",
    });
  }
  if (type === "unsupported") {
    throw new SecretError(`binding ${name} is neither a secret_text nor a secrets_store_secret`, {
      binding: name,
      code: "binding_unsupported",
    });
  }
  /** @type {unknown} */
  let value;
  if (type === "secret_text") {
    value = env[name];
  } else {
    try {
      value = await env[name].get();
    } catch {
      // The runtime's message is dropped on purpose: we only say which binding failed.
      throw new SecretError(
        `secret binding ${name} could not be read (secret missing from the store or store unavailable)`,
        { binding: name, code: "secret_unavailable" },
      );
    }
  }
  if (typeof value !== "string" || value.length === 0) {
    throw new SecretError(`secret binding ${name} is empty`, { binding: name, code: "secret_empty" });
  }
  return value;
}

/**
 * Binding names for a rotating secret. `fallback` defaults to `${binding}_FALLBACK`.
 * @param {{ binding: string, fallback?: string }} opts
 * @returns {{ binding: string, fallback: string }}
 */
export function rotationNames(opts) {
  if (!opts || typeof opts.binding !== "string" || !opts.binding) {
    throw new TypeError("rotation options need a binding name");
  }
  return { binding: opts.binding, fallback: opts.fallback || `${opts.binding}_FALLBACK` };
}

/**
 * @typedef {object} Secrets
 * @property {Record<string, any>} env
 * @property {import("./audit.js").Audit} audit
 * @property {(binding: string) => boolean} has true when the binding is present (either type)
 * @property {(binding: string, kind?: string) => Promise<string>} read cached per request; audits failures
 */

/**
 * Per-request secret reader with audit. Create one per request (inside fetch).
 * @param {object} env any Worker `Env` (the one `wrangler types` generates, for example)
 * @param {{ waitUntil(p: Promise<unknown>): void } | undefined} ctx
 * @param {{ worker?: string }} [options]
 * @returns {Secrets}
 */
export function createSecrets(env, ctx, options = {}) {
  const audit = createAudit(env, ctx, options);
  /** @type {Map<string, Promise<string>>} */
  const cache = new Map();
  return {
    env,
    audit,
    has(binding) {
      const t = bindingType(env, binding);
      return t === "secret_text" || t === "secrets_store_secret";
    },
    read(binding, kind = "opaque") {
      let p = cache.get(binding);
      if (!p) {
        p = readSecret(env, binding);
        if (audit.active) {
          const start = Date.now(); // the read above has only started: it awaits the binding
          p.catch((err) => {
            audit.emit({
              event: "secret_access_failed",
              binding,
              kind,
              op: "read",
              duration_ms: Date.now() - start,
              success: false,
              error: err instanceof SecretError ? err.code : "secret_error",
            });
          });
        }
        cache.set(binding, p);
      }
      return p;
    },
  };
}
