// Seed "Sharing Across Workers": the same api_key secret as api.js under another binding
// name, BILLING_KEY, with the default fallback binding name BILLING_KEY_FALLBACK.
//   POST /charge  -> POST <upstream>/billing/charge with the body
//   other paths   -> GET <upstream>/billing<path>

import { serve } from "./lib/http.js";
import { fetchWithRotation, upstreamUrl } from "./lib/upstream.js";

const KEY = { binding: "BILLING_KEY" }; // fallback: BILLING_KEY_FALLBACK

export default serve("billing", async (request, secrets, env) => {
  const url = new URL(request.url);
  if (url.pathname === "/charge" && request.method === "POST") {
    return fetchWithRotation(secrets, KEY, upstreamUrl(env, "/billing/charge"), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: request.body,
    });
  }
  return fetchWithRotation(secrets, KEY, upstreamUrl(env, "/billing" + url.pathname));
});
