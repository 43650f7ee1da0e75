#!/usr/bin/env node
// Run a description on workerd and a list of steps, for callers outside Node
// (the Python interop tests, the rehearsal). Reads one JSON object on stdin:
//   { "description": {...startLocal description...},
//     "upstream": {"accept": ["<key>", ...]}          optional fake upstream: 200 when the
//                                                     Bearer key is listed, else 401
//              | {"network": true}                    or: outbound fetches go to the real network
//     "steps": [ {"worker": "vault", "method": "POST", "path": "/encrypt", "headers": {}, "body": "..."},
//                {"update": {...description...}}, ... ] }
// Prints one JSON object: {"results": [{"status", "headers", "body"} | {"updated": true}, ...],
//                          "upstream_requests": n}
// Worker console output goes to stderr.

import { networkUpstream, startLocal } from "./index.mjs";

const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const input = JSON.parse(Buffer.concat(chunks).toString("utf8"));

let upstreamRequests = 0;
const accept = new Set(input.upstream?.accept ?? []);
const upstream = (/** @type {Request} */ req) => {
  upstreamRequests++;
  if (input.upstream?.network) return networkUpstream(req);
  const auth = req.headers.get("authorization") ?? "";
  const ok = auth.startsWith("Bearer ") && accept.has(auth.slice(7));
  return new Response(JSON.stringify({ ok }), { status: ok ? 200 : 401, headers: { "content-type": "application/json" } });
};

const rt = await startLocal(input.description, { upstream });
const results = [];
try {
  for (const step of input.steps ?? []) {
    if (step.update) {
      await rt.update(step.update);
      results.push({ updated: true });
      continue;
    }
    const resp = await rt.fetch(step.worker, step.path ?? "/", {
      method: step.method ?? "GET",
      headers: step.headers ?? {},
      body: step.body ?? undefined,
    });
    results.push({ status: resp.status, headers: Object.fromEntries(resp.headers), body: await resp.text() });
  }
} finally {
  await rt.dispose();
}
process.stdout.write(JSON.stringify({ results, upstream_requests: upstreamRequests }) + "\n");
