// Seed "HMAC Signing": HMAC_SECRET (signing_key; fallback HMAC_SECRET_FALLBACK).
//   POST /sign     body = data -> {signature: "v1.<kid>.<sig>"}
//   POST /verify   body = data, header x-signature -> 200 {valid: true} | 401 {valid: false, reason}

import { json, serve } from "./lib/http.js";
import { sign, verify } from "./lib/signing.js";

const KEY = { binding: "HMAC_SECRET" };

export default serve("signer", async (request, secrets) => {
  const url = new URL(request.url);
  if (url.pathname === "/sign" && request.method === "POST") {
    return json({ signature: await sign(secrets, KEY, await request.text()) });
  }
  if (url.pathname === "/verify" && request.method === "POST") {
    const result = await verify(secrets, KEY, await request.text(), request.headers.get("x-signature") ?? "");
    return json({ valid: result.valid, reason: result.reason }, result.valid ? 200 : 401);
  }
  return json({ error: "not_found" }, 404);
});
