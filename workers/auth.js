// Seed "Service Bindings Auth", the issuer: signs HS256 JWTs (with a kid header) with
// SIGNING_KEY (signing_key; fallback SIGNING_KEY_FALLBACK). Reached by gateway.js through a
// service binding. (A real auth worker authenticates the caller first; this one issues a
// token for the requested subject.)
//   POST /token  body {"sub": "...", "ttl": seconds?} -> {token}

import { json, serve } from "./lib/http.js";
import { issueJwt } from "./lib/signing.js";

const KEY = { binding: "SIGNING_KEY" };

export default serve("auth", async (request, secrets) => {
  const url = new URL(request.url);
  if (url.pathname === "/token" && request.method === "POST") {
    let body;
    try {
      body = await request.json();
    } catch {
      return json({ error: "bad_request", message: "body must be JSON" }, 400);
    }
    if (!body || typeof body.sub !== "string" || !body.sub) {
      return json({ error: "bad_request", message: "sub is required" }, 400);
    }
    const ttl = Number.isInteger(body.ttl) && body.ttl > 0 && body.ttl <= 86400 ? body.ttl : 300;
    const token = await issueJwt(secrets, KEY, { sub: body.sub, iss: "auth" }, { ttlSeconds: ttl });
    return json({ token });
  }
  return json({ error: "not_found" }, 404);
});
