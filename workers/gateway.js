// Seed "Service Bindings Auth", the verifier: gets tokens from the auth worker through the
// service binding AUTH and verifies them with its own binding of the same signing secret,
// JWT_KEY (signing_key; fallback JWT_KEY_FALLBACK), against B or F by kid.
//   POST /login  body {"sub": "..."} -> forwards to AUTH /token -> {token}
//   GET  /me     Authorization: Bearer <jwt> -> {sub, kid_binding} or 401 {error}
// JWT_LEEWAY_SECONDS (plain_text, optional, default 30): clock leeway on exp/nbf.

import { json, serve } from "./lib/http.js";
import { TokenError, verifyJwt } from "./lib/signing.js";

const KEY = { binding: "JWT_KEY" };

export default serve("gateway", async (request, secrets, env) => {
  const url = new URL(request.url);
  if (url.pathname === "/login" && request.method === "POST") {
    const resp = await env.AUTH.fetch("https://auth.internal/token", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: await request.text(),
    });
    return new Response(resp.body, resp);
  }
  if (url.pathname === "/me") {
    const auth = request.headers.get("authorization") ?? "";
    const token = auth.startsWith("Bearer ") ? auth.slice(7) : "";
    if (!token) return json({ error: "missing_token" }, 401);
    try {
      const leeway = Number(env.JWT_LEEWAY_SECONDS ?? NaN);
      const claims = await verifyJwt(secrets, KEY, token, leeway >= 0 ? { leewaySeconds: leeway } : {});
      return json({ sub: claims.sub });
    } catch (err) {
      if (err instanceof TokenError) return json({ error: err.code, message: err.message }, 401);
      throw err;
    }
  }
  return json({ error: "not_found" }, 404);
});
