// Seed "Service Bindings Auth", the verifier: gets tokens from the auth worker over the
// service binding AUTH (Workers RPC `issueToken`: auth issues to service-binding callers only)
// and verifies them with its own binding of the same signing secret, JWT_KEY (signing_key;
// fallback JWT_KEY_FALLBACK), against B or F by kid.
//   POST /login  body {"sub": "...", "ttl"?: seconds} -> AUTH.issueToken -> {token}
//   GET  /me     Authorization: Bearer <jwt> -> {sub} or 401 {error}
// JWT_LEEWAY_SECONDS (plain_text, optional, default 30): clock leeway on exp/nbf, an integer
// 0..300; any other value answers 500 {"error": "invalid_leeway"} (bounded skew).
// (This example's /login trusts the sub it is sent; a real gateway authenticates the user.)

import { json, serve } from "./lib/http.js";
import { MAX_LEEWAY_SECONDS, TokenError, verifyJwt } from "./lib/signing.js";
import { SecretError } from "./lib/secrets.js";

const KEY = { binding: "JWT_KEY" };

/** @param {Record<string, any>} env @returns {{ leewaySeconds?: number }} */
function leewayOption(env) {
  const raw = env.JWT_LEEWAY_SECONDS;
  if (raw === undefined || raw === null || raw === "") return {};
  const n = /^\d{1,3}$/.test(String(raw)) ? Number(raw) : NaN;
  if (!(n <= MAX_LEEWAY_SECONDS)) {
    throw new SecretError(`JWT_LEEWAY_SECONDS must be an integer 0..${MAX_LEEWAY_SECONDS}`, {
      binding: "JWT_LEEWAY_SECONDS", code: "invalid_leeway",
    });
  }
  return { leewaySeconds: n };
}

export default serve("gateway", async (request, secrets, env) => {
  const url = new URL(request.url);
  if (url.pathname === "/login" && request.method === "POST") {
    let body;
    try {
      body = await request.json();
    } catch {
      return json({ error: "bad_request", message: "body must be JSON" }, 400);
    }
    let result;
    try {
      result = await env.AUTH.issueToken({ sub: body?.sub, ttl: body?.ttl });
    } catch {
      return json({ error: "auth_unavailable", message: "the auth service could not be reached over RPC" }, 502);
    }
    if (result && typeof result.token === "string") return json({ token: result.token });
    const status = Number.isInteger(result?.status) && result.status >= 400 ? result.status : 502;
    return json({ error: String(result?.error ?? "auth_failed"), message: String(result?.message ?? "") }, status);
  }
  if (url.pathname === "/me") {
    const auth = request.headers.get("authorization") ?? "";
    const token = auth.startsWith("Bearer ") ? auth.slice(7) : "";
    if (!token) return json({ error: "missing_token" }, 401);
    try {
      const claims = await verifyJwt(secrets, KEY, token, leewayOption(env));
      return json({ sub: claims.sub });
    } catch (err) {
      if (err instanceof TokenError) return json({ error: err.code, message: err.message }, 401);
      throw err;
    }
  }
  return json({ error: "not_found" }, 404);
});
