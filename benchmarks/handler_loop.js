// `make bench` section 0, second part: the JavaScript each handler runs per request, alone.
// GET /?worker=api|seed&stage=steady|fallback&n=N calls that handler N times in a row with
// the upstream fetch and the secret bindings stubbed (the stub upstream rejects the primary
// key in the fallback stage, as the real one does), so the workerd CPU it takes is the
// handler's own code: no network, no Secrets Store round trip. Answers {calls, failed,
// upstream}: the stub's calls, N in the steady stage and 2N in the fallback one.
import api from "../workers/api.js";
import seed from "./seed_rotation.js";

const HANDLERS = { api, seed };
const binding = (value) => ({ get: async () => value });

export default {
  async fetch(request, _env, ctx) {
    const params = new URL(request.url).searchParams;
    const handler = HANDLERS[params.get("worker")];
    const fallback = params.get("stage") === "fallback";
    const n = Number(params.get("n"));
    if (!handler || !(n > 0)) return new Response("bad query", { status: 400 });
    const env = { PRIMARY_KEY: binding("k1"), UPSTREAM_URL: "https://upstream.bench" };
    if (fallback) env.FALLBACK_KEY = binding("k2");
    const realFetch = globalThis.fetch;
    let upstream = 0;
    globalThis.fetch = async (_url, init) => {
      upstream++;
      const auth = new Headers(init?.headers).get("authorization");
      const ok = auth === (fallback ? "Bearer k2" : "Bearer k1");
      return new Response(ok ? '{"ok":true}' : '{"error":"invalid_key"}', {
        status: ok ? 200 : 401,
        headers: { "content-type": "application/json" },
      });
    };
    let failed = 0;
    try {
      for (let i = 0; i < n; i++) {
        const r = await handler.fetch(new Request("https://bench.test/bench"), env, ctx);
        await r.arrayBuffer();
        if (r.status !== 200) failed++;
      }
    } finally {
      globalThis.fetch = realFetch;
    }
    return Response.json({ calls: n, failed, upstream });
  },
};
