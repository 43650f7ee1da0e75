// Seed "Encryption with KV": values encrypted with ENCRYPTION_KEY (encryption_key; fallback
// ENCRYPTION_KEY_FALLBACK) and stored in KV namespace CACHE. Envelope format: lib/envelope.js.
//   PUT  /v/<id>        body = plaintext -> stores the envelope       -> {id, key_id}
//   GET  /v/<id>        -> plaintext (text/plain); 404 when absent
//   GET  /raw/<id>      -> the stored envelope (ciphertext only)
//   POST /encrypt       body = plaintext -> {envelope}     (stateless)
//   POST /decrypt       body = envelope  -> plaintext      (stateless)
//   POST /reencrypt     re-encrypts every stored value not under the primary key
//                       -> {checked, reencrypted, failed: [ids], key_id}
// Run /reencrypt in the `swapped` stage, before the rotation finishes (F unbound).

import { decryptString, encryptString, primaryKeyId, reencrypt } from "./lib/envelope.js";
import { json, serve } from "./lib/http.js";

const KEY = { binding: "ENCRYPTION_KEY" };
const PREFIX = "v:";

export default serve("vault", async (request, secrets, env) => {
  const url = new URL(request.url);
  const m = url.pathname.match(/^\/(v|raw)\/([A-Za-z0-9_.:-]{1,128})$/);
  if (m && m[1] === "v" && request.method === "PUT") {
    const envelope = await encryptString(secrets, KEY, await request.text());
    await env.CACHE.put(PREFIX + m[2], envelope);
    return json({ id: m[2], key_id: envelope.split(".")[1] });
  }
  if (m && request.method === "GET") {
    const envelope = await env.CACHE.get(PREFIX + m[2]);
    if (envelope === null) return json({ error: "not_found" }, 404);
    if (m[1] === "raw") return new Response(envelope, { headers: { "content-type": "text/plain" } });
    return new Response(await decryptString(secrets, KEY, envelope), {
      headers: { "content-type": "text/plain; charset=utf-8" },
    });
  }
  if (url.pathname === "/encrypt" && request.method === "POST") {
    return json({ envelope: await encryptString(secrets, KEY, await request.text()) });
  }
  if (url.pathname === "/decrypt" && request.method === "POST") {
    return new Response(await decryptString(secrets, KEY, await request.text()), {
      headers: { "content-type": "text/plain; charset=utf-8" },
    });
  }
  if (url.pathname === "/reencrypt" && request.method === "POST") {
    const kid = await primaryKeyId(secrets, KEY);
    let checked = 0;
    let reencrypted = 0;
    /** @type {string[]} */
    const failed = [];
    let cursor;
    do {
      const page = await env.CACHE.list({ prefix: PREFIX, cursor });
      for (const { name } of page.keys) {
        checked++;
        const envelope = await env.CACHE.get(name);
        if (envelope === null) continue;
        try {
          const r = await reencrypt(secrets, KEY, envelope);
          if (r.changed) {
            await env.CACHE.put(name, r.envelope);
            reencrypted++;
          }
        } catch {
          failed.push(name.slice(PREFIX.length));
        }
      }
      cursor = page.list_complete ? undefined : page.cursor;
    } while (cursor);
    return json({ checked, reencrypted, failed, key_id: kid }, failed.length ? 500 : 200);
  }
  return json({ error: "not_found" }, 404);
});
