// The signing helpers alone on workerd: GET /?op=issue|verify|sign|check&n=N runs one helper
// N times with stubbed bindings (B and F both bound, the token or signature made with F, so
// verification takes the rotation's slower path) and answers {op, n, us_per_call}.
// Run by benchmarks/signing_bench.mjs; compares signing/verification across changes.
import { createSecrets } from "../workers/lib/secrets.js";
import { issueJwt, sign, verify, verifyJwt } from "../workers/lib/signing.js";

const B = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
const F = "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=";
const binding = (value) => ({ get: async () => value });
const KEY = { binding: "SIGNING_KEY" };

export default {
  async fetch(request, _env, ctx) {
    const params = new URL(request.url).searchParams;
    const op = params.get("op");
    const n = Number(params.get("n"));
    if (!["issue", "verify", "sign", "check"].includes(op) || !(n > 0)) {
      return new Response("bad query", { status: 400 });
    }
    const fresh = () => createSecrets({ SIGNING_KEY: binding(B), SIGNING_KEY_FALLBACK: binding(F) }, ctx, { worker: "bench" });
    const old = createSecrets({ SIGNING_KEY: binding(F) }, ctx, { worker: "bench" });
    const token = await issueJwt(old, KEY, { sub: "bench" });
    const signature = await sign(old, KEY, "data");
    const start = performance.now();
    const t0 = Date.now();
    for (let i = 0; i < n; i++) {
      const secrets = fresh(); // one request's secrets reader per call, as in a worker
      if (op === "issue") await issueJwt(secrets, KEY, { sub: "bench" });
      else if (op === "verify") await verifyJwt(secrets, KEY, token);
      else if (op === "sign") await sign(secrets, KEY, "data");
      else if (!(await verify(secrets, KEY, "data", signature)).valid) throw new Error("bad");
    }
    // workerd freezes timers during a request's synchronous work; Date.now() moves on I/O only
    const ms = Math.max(performance.now() - start, Date.now() - t0);
    return Response.json({ op, n, us_per_call: (ms * 1000) / n });
  },
};
