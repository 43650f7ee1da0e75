// Seed "Audit & Monitoring": calls the upstream with API_KEY (api_key; fallback
// API_KEY_FALLBACK) and reports every secret use and failure to the audit sink
// (service binding AUDIT or plain_text AUDIT_URL) inside ctx.waitUntil. All example
// workers audit the same way (lib/audit.js); this one exists to show it on its own.
// The events carry binding, kind, op, duration_ms, success, status, fallback: never a value.
//   any path -> upstream <path> with the key; upstream status passed through

import { serve } from "./lib/http.js";
import { fetchWithRotation, upstreamUrl } from "./lib/upstream.js";

export default serve("audited", async (request, secrets, env) => {
  const url = new URL(request.url);
  return fetchWithRotation(secrets, { binding: "API_KEY" }, upstreamUrl(env, url.pathname + url.search));
});
