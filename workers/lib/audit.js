// Audit events for secret use (seed "Audit & Monitoring").
//
// Every event is built from a fixed allow-list of fields whose values are
// numbers, booleans or short identifiers chosen by this code (binding names,
// kinds, operation and error codes, key ids). No field ever carries a secret
// value, a plaintext, or a raw exception message.
//
// Sink (first one bound wins):
//   AUDIT      service binding: POST https://audit.internal/events
//   AUDIT_URL  plain_text binding holding a URL: POST <url>
//   neither    events are dropped.
// Each event is POSTed as one JSON object inside ctx.waitUntil; a failing or
// unreachable sink is swallowed (a one-line console.warn with the status) and
// never fails the request.

const ALLOWED = {
  event: "string", // secret_used | secret_access_failed
  worker: "string",
  binding: "string",
  kind: "string", // api_key | encryption_key | signing_key | json | opaque | jwt
  op: "string", // read | upstream | encrypt | decrypt | reencrypt | sign | verify | issue | parse
  duration_ms: "number",
  success: "boolean",
  status: "number",
  fallback: "boolean",
  key_id: "string",
  error: "string", // an error code, never a message
};
const IDENT = /^[A-Za-z0-9_.:\-]{0,64}$/;

/**
 * Keep only allow-listed fields with the expected type; identifiers must be short codes.
 * @param {Record<string, unknown>} event
 * @returns {Record<string, string|number|boolean>}
 */
export function sanitizeEvent(event) {
  /** @type {Record<string, string|number|boolean>} */
  const out = {};
  for (const [k, type] of Object.entries(ALLOWED)) {
    const v = event[k];
    if (typeof v !== type) continue;
    if (type === "string" && !IDENT.test(/** @type {string} */ (v))) continue;
    out[k] = /** @type {string|number|boolean} */ (v);
  }
  return out;
}

/**
 * @typedef {{ emit(event: Record<string, unknown>): void, active: boolean }} Audit
 * `active`: a sink is bound. Without one, `emit` returns at once, so callers on the hot path
 * may skip building events (and timing them) when it is false.
 */

/**
 * @param {object} env any Worker `Env` (the one `wrangler types` generates, for example)
 * @param {{ waitUntil(p: Promise<unknown>): void } | undefined} ctx
 * @param {{ worker?: string }} [options]
 * @returns {Audit}
 */
export function createAudit(env, ctx, options = {}) {
  const worker = options.worker ?? "worker";
  const active = Boolean(hasSink(env));
  return {
    active,
    emit(event) {
      if (!active) return; // nothing to send: nothing to build (the hot path)
      const clean = sanitizeEvent({ worker, ...event });
      const body = JSON.stringify({ ...clean, ts: new Date().toISOString() });
      const p = send(env, body);
      if (p && ctx && typeof ctx.waitUntil === "function") ctx.waitUntil(p);
    },
  };
}

/**
 * Whether a sink is bound (AUDIT service binding or AUDIT_URL).
 * @param {object} env any Worker `Env` (the one `wrangler types` generates, for example)
 */
function hasSink(env) {
  return (env.AUDIT && typeof env.AUDIT.fetch === "function") || (typeof env.AUDIT_URL === "string" && env.AUDIT_URL !== "");
}

/**
 * @param {object} env any Worker `Env` (the one `wrangler types` generates, for example)
 * @param {string} body
 * @returns {Promise<void> | null}
 */
function send(env, body) {
  const init = { method: "POST", headers: { "content-type": "application/json" }, body };
  /** @type {Promise<Response>} */
  let p;
  try {
    if (env.AUDIT && typeof env.AUDIT.fetch === "function") {
      p = env.AUDIT.fetch("https://audit.internal/events", init);
    } else if (typeof env.AUDIT_URL === "string" && env.AUDIT_URL) {
      p = fetch(env.AUDIT_URL, init);
    } else {
      return null;
    }
  } catch {
    console.warn("audit sink unreachable");
    return null;
  }
  return p.then(
    async (resp) => {
      if (!resp.ok) console.warn(`audit sink returned HTTP ${resp.status}`);
      try {
        await resp.body?.cancel();
      } catch {
        /* ignore */
      }
    },
    () => console.warn("audit sink unreachable"),
  );
}
