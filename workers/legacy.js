// Seed "Migration from Worker Secrets": API_KEY may be a legacy Worker secret (secret_text,
// `env.API_KEY` is a string) or a Secrets Store binding (`await env.API_KEY.get()`).
// The code reads it through one helper (lib/secrets.js readSecret, via fetchWithRotation),
// so this version ships first and the binding type changes in a later deploy.
//   GET /binding -> {binding: "API_KEY", type: "secret_text" | "secrets_store_secret" | "absent"}
//   other paths  -> upstream <path> with the key (fallback API_KEY_FALLBACK if bound)

import { json, serve } from "./lib/http.js";
import { bindingType } from "./lib/secrets.js";
import { fetchWithRotation, upstreamUrl } from "./lib/upstream.js";

export default serve("legacy", async (request, secrets, env) => {
  const url = new URL(request.url);
  if (url.pathname === "/binding") return json({ binding: "API_KEY", type: bindingType(env, "API_KEY") });
  return fetchWithRotation(secrets, { binding: "API_KEY" }, upstreamUrl(env, url.pathname + url.search));
});
