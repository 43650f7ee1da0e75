// Helpers for driving the workers locally: key values, a fake upstream API that accepts
// and revokes keys, and an audit capture. Used by workers/test and benchmarks.

import crypto from "node:crypto";

/**
 * A key secret value (base64 of 32 bytes). Deterministic when `fill` is given.
 * @param {number} [fill] byte value to repeat; random when omitted
 * @returns {string}
 */
export function keyValue(fill) {
  const raw = fill === undefined ? crypto.randomBytes(32) : Buffer.alloc(32, fill);
  return raw.toString("base64");
}

/**
 * Fake upstream API + audit capture, usable as startLocal's `upstream` handler.
 * - requests to host `auditHost` are recorded in `audits` (body text) and answered `auditStatus`
 *   (or thrown when auditStatus is "throw");
 * - other requests are recorded in `calls` and answered 200 when the Bearer key is in
 *   `accept`, else 401 with body {"error":"invalid_key"}.
 * @param {{ accept?: Iterable<string>, auditHost?: string }} [options]
 */
export function fakeUpstream(options = {}) {
  const state = {
    accept: new Set(options.accept ?? []),
    auditHost: options.auditHost ?? "audit.test",
    /** @type {number | "throw"} */
    auditStatus: 204,
    /** @type {Array<{ method: string, url: string, key: string | null, body: string, auth: string, trace: string | null }>} */
    calls: [],
    /** @type {string[]} */
    audits: [],
    /** @type {number | null} force this status for every upstream call */
    forceStatus: null,
    /** @param {Request} req */
    handler: async (req) => {
      const url = new URL(req.url);
      const body = await req.text();
      if (url.host === state.auditHost) {
        state.audits.push(body);
        if (state.auditStatus === "throw") throw new Error("audit sink down");
        return new Response(null, { status: state.auditStatus });
      }
      const auth = req.headers.get("authorization") ?? "";
      const key = auth.startsWith("Bearer ") ? auth.slice(7) : null;
      state.calls.push({ method: req.method, url: req.url, key, body, auth, trace: req.headers.get("x-trace") });
      if (state.forceStatus !== null) return new Response("forced", { status: state.forceStatus });
      if (key !== null && state.accept.has(key)) {
        return Response.json({ ok: true, path: url.pathname });
      }
      return Response.json({ error: "invalid_key" }, { status: 401 });
    },
  };
  return state;
}

/** Wait until `cond()` is true (waitUntil work finishes after the response). */
export async function eventually(cond, timeoutMs = 3000) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await cond()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}

/**
 * Key id of a key secret value, computed in Node (hex of SHA-256(raw)[0..8]); for cross-checks.
 * @param {string} value
 */
export function keyIdOf(value) {
  return crypto.createHash("sha256").update(Buffer.from(value, "base64")).digest().subarray(0, 8).toString("hex");
}

/**
 * A login client of gateway.js: a random 64-hex-char secret, the `Authorization` header that
 * presents it, and its entry of the LOGIN_CLIENTS document (only the secret's SHA-256).
 * @param {string} clientId
 * @param {string} [subject] default: the client id
 * @param {string} [secret] default: 32 random bytes, hex
 */
export function loginClient(clientId, subject = clientId, secret = crypto.randomBytes(32).toString("hex")) {
  return {
    clientId,
    subject,
    secret,
    authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString("base64")}`,
    entry: { client_id: clientId, secret_sha256: crypto.createHash("sha256").update(secret).digest("hex"), subject },
  };
}

/** The LOGIN_CLIENTS secret value listing these clients. @param {Array<{ entry: object }>} clients */
export function clientsDocument(clients) {
  return JSON.stringify({ clients: clients.map((c) => c.entry) });
}
