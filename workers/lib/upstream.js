// `api_key` secrets: call an upstream API with the primary key, and on a rejection
// (401/403, and only then) retry once with the fallback binding when it is bound.
//
// The response carries `x-secret-fallback: 1` when the fallback key was used, `0` otherwise
// (a rehearsal can count these). The key itself is never echoed.
// Upstream base URL: plain_text binding UPSTREAM_URL, default https://api.example.com.

import { rotationNames } from "./secrets.js";

export const DEFAULT_UPSTREAM = "https://api.example.com";

/**
 * @param {object} env any Worker `Env` (the one `wrangler types` generates, for example)
 * @param {string} [path] appended to the base (absolute paths replace the base path)
 * @returns {URL}
 */
export function upstreamUrl(env, path = "/") {
  const base = typeof env.UPSTREAM_URL === "string" && env.UPSTREAM_URL ? env.UPSTREAM_URL : DEFAULT_UPSTREAM;
  return new URL(path, base);
}

/**
 * Call the upstream with `Authorization: Bearer <key>` from the rotating api_key binding.
 * @param {import("./secrets.js").Secrets} secrets
 * @param {{ binding: string, fallback?: string }} opts
 * @param {string | URL} url
 * @param {{ method?: string, headers?: HeadersInit, body?: BodyInit | null }} [init]
 * @returns {Promise<Response>} upstream response (status and body passed through) + x-secret-fallback
 */
export async function fetchWithRotation(secrets, opts, url, init = {}) {
  const names = rotationNames(opts);
  const audited = secrets.audit.active;
  const start = audited ? Date.now() : 0;
  const method = init.method ?? "GET";
  // Buffer the body so it can be sent twice.
  const body = init.body == null ? undefined : await new Response(init.body).arrayBuffer();
  const base = headerPairs(init.headers);
  /** @param {string} key */
  const call = (key) => fetch(url, { method, headers: [...base, ["authorization", `Bearer ${key}`]], body });

  let resp = await call(await secrets.read(names.binding, "api_key"));
  let usedFallback = false;
  if ((resp.status === 401 || resp.status === 403) && secrets.has(names.fallback)) {
    await resp.body?.cancel();
    resp = await call(await secrets.read(names.fallback, "api_key"));
    usedFallback = true;
  }
  if (audited) {
    secrets.audit.emit({
      event: "secret_used",
      binding: usedFallback ? names.fallback : names.binding,
      kind: "api_key",
      op: "upstream",
      duration_ms: Date.now() - start,
      success: resp.ok,
      status: resp.status,
      fallback: usedFallback,
    });
  }
  const out = new Response(resp.body, resp);
  out.headers.set("x-secret-fallback", usedFallback ? "1" : "0");
  return out;
}

/**
 * The caller's headers as [name, value] pairs without any Authorization (the key replaces it).
 * @param {HeadersInit | undefined} headers
 * @returns {Array<[string, string]>}
 */
function headerPairs(headers) {
  if (headers == null) return [];
  // Headers, arrays and any other iterable of pairs as the Headers constructor reads them.
  const pairs = Symbol.iterator in Object(headers) ? [...headers] : Object.entries(headers);
  return pairs.filter(([name]) => String(name).toLowerCase() !== "authorization");
}
