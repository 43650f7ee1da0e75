// Seed "Service Bindings Auth", the verifier: gets tokens from the auth worker over the
// service binding AUTH (Workers RPC `issueToken`: auth issues to service-binding callers only)
// and verifies them with its own binding of the same signing secret, JWT_KEY (signing_key;
// fallback JWT_KEY_FALLBACK), against B or F by kid.
//   POST /login  Authorization: Basic base64(client_id:client_secret)
//                -> AUTH.issueToken({sub: the client's listed subject}) -> {token}
//                missing or wrong credentials -> 401 {"error": "invalid_client"} + WWW-Authenticate
//   GET  /me     Authorization: Bearer <jwt> -> {sub} or 401 {error}
// /login authenticates its caller before anything is issued: the clients and the SHA-256 of
// their secrets are the `json` secret LOGIN_CLIENTS (lib/clients.js). The request body is
// never read: the subject comes from the credential and the lifetime from auth.js
// (TOKEN_TTL_SECONDS), so a body such as {"sub": "admin", "ttl": 86400} changes nothing.
// JWT_LEEWAY_SECONDS (plain_text, optional, default 30): clock leeway on exp/nbf, an integer
// 0..300; any other value answers 500 {"error": "invalid_leeway"} (bounded skew).

import { authenticateClient, ClientAuthError } from "./lib/clients.js";
import { json, serve } from "./lib/http.js";
import { MAX_LEEWAY_SECONDS, TokenError, verifyJwt } from "./lib/signing.js";
import { SecretError } from "./lib/secrets.js";

const KEY = { binding: "JWT_KEY" };
const CLIENTS = "LOGIN_CLIENTS";
const CHALLENGE = { "www-authenticate": 'Basic realm="gateway", charset="UTF-8"' };

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
    let sub;
    try {
      sub = await authenticateClient(secrets, CLIENTS, request);
    } catch (err) {
      if (err instanceof ClientAuthError) return json({ error: err.code, message: err.message }, 401, CHALLENGE);
      throw err;
    }
    let result;
    try {
      result = await env.AUTH.issueToken({ sub });
    } catch {
      return json({ error: "auth_unavailable", message: "the auth service could not be reached over RPC" }, 502);
    }
    // A token is a credential: no cache may keep the answer (RFC 6749 §5.1).
    if (result && typeof result.token === "string") return json({ token: result.token }, 200, { "cache-control": "no-store" });
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
