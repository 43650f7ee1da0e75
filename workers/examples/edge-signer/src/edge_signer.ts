// A TypeScript Worker built with esbuild and deployed through `Worker(bundle=...)`: HMAC
// signatures with a rotating signing_key, through the helpers' npm package.
//   POST /sign     body = data -> {signature: "v2.<kid>.<sig>"}   (signed with HMAC_SECRET)
//   POST /verify   body = data, header x-signature -> 200 {valid: true} | 401 {valid: false, reason}
//                  (checked against HMAC_SECRET or HMAC_SECRET_FALLBACK, whichever has the kid)
//   GET  /count    a Durable Object counter, when COUNTER is bound
import { json, serve } from "@secrets-store/rotation/http";
import type { Secrets } from "@secrets-store/rotation/secrets";
import { sign, verify } from "@secrets-store/rotation/signing";

const KEY = { binding: "HMAC_SECRET" } as const;

interface CounterNamespace {
  idFromName(name: string): unknown;
  get(id: unknown): { fetch(request: Request): Promise<Response> };
}

async function handle(request: Request, secrets: Secrets, env: Record<string, unknown>): Promise<Response> {
  const url = new URL(request.url);
  if (url.pathname === "/sign" && request.method === "POST") {
    return json({ signature: await sign(secrets, KEY, await request.text()) });
  }
  if (url.pathname === "/verify" && request.method === "POST") {
    const signature = request.headers.get("x-signature") ?? "";
    const result = await verify(secrets, KEY, await request.text(), signature);
    return json({ valid: result.valid, reason: result.reason }, result.valid ? 200 : 401);
  }
  if (url.pathname === "/count" && env.COUNTER) {
    const counters = env.COUNTER as CounterNamespace;
    return counters.get(counters.idFromName("edge")).fetch(request);
  }
  return json({ error: "not_found" }, 404);
}

export default serve("edge_signer", handle);

/** The Durable Object class a `durable_object_namespace` binding names (class_name Counter). */
export class Counter {
  #count = 0;

  async fetch(): Promise<Response> {
    this.#count += 1;
    return json({ count: this.#count });
  }
}
