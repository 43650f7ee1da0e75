// Seed "Secret Rotation" + "JSON Secret Parsing".
// Bindings: PRIMARY_KEY (api_key, fallback FALLBACK_KEY), DB_CONFIG (json),
// UPSTREAM_URL (plain_text, optional), AUDIT / AUDIT_URL (optional audit sink).
//   GET /db      -> checks DB_CONFIG parses and has host/port/username/password; answers
//                   {configured: true, port} (never the value)
//   anything else -> proxied to the upstream with the API key (B, then F on 401/403)

import { serve, json } from "./lib/http.js";
import { readJsonSecret } from "./lib/json_secret.js";
import { fetchWithRotation, upstreamUrl } from "./lib/upstream.js";

const KEY = { binding: "PRIMARY_KEY", fallback: "FALLBACK_KEY" };

export default serve("api", async (request, secrets, env) => {
  const url = new URL(request.url);
  if (url.pathname === "/db") {
    const config = await readJsonSecret(secrets, "DB_CONFIG", {
      required: ["host", "port", "username", "password"],
    });
    return json({ configured: true, port: Number(config.port) || null });
  }
  // A body goes on with its content type (text/plain when it has none); GET and HEAD send neither.
  const bodyless = request.method === "GET" || request.method === "HEAD";
  return fetchWithRotation(secrets, KEY, upstreamUrl(env, url.pathname + url.search), {
    method: request.method,
    headers: bodyless ? undefined : { "content-type": request.headers.get("content-type") ?? "text/plain" },
    body: bodyless ? null : request.body,
  });
});
