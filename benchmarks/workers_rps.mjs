#!/usr/bin/env node
// Requests/second one worker (workers/api.js) serves on workerd (miniflare), in two stages:
//   steady   only PRIMARY_KEY bound; the upstream accepts it (1 upstream call per request)
//   fallback PRIMARY_KEY + FALLBACK_KEY bound; the upstream rejects the primary with 401 and
//            accepts the fallback, so the fallback is taken on every request (2 calls/request)
// The fake upstream is a Node function behind miniflare's outboundService, so each upstream
// call is a workerd -> Node round trip; figures are relative, not production numbers.
// Usage: node benchmarks/workers_rps.mjs [--seconds 3] [--concurrency 32]

import { startLocal } from "../workers/local/index.mjs";
import { fakeUpstream } from "../workers/local/testkit.mjs";

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const SECONDS = arg("seconds", 3);
const CONCURRENCY = arg("concurrency", 32);
const V1 = "bench-key-v1";
const V2 = "bench-key-v2";
const ss = (name, secret_name) => ({ type: "secrets_store_secret", name, store_id: "st1", secret_name });
const describe = (fallback) => ({
  workers: [{
    name: "api", main_module: "api.js", modules_root: "workers",
    bindings: [
      ss("PRIMARY_KEY", "api_key_v1"),
      ...(fallback ? [ss("FALLBACK_KEY", "api_key_v2")] : []),
      { type: "plain_text", name: "UPSTREAM_URL", text: "https://upstream.bench" },
    ],
  }],
  secrets: { st1: { api_key_v1: V1, api_key_v2: V2 } },
});

const up = fakeUpstream();
const rt = await startLocal(describe(false), { upstream: up.handler, onLog: () => {} });

async function run(stage, accept, expectFallback) {
  up.accept = new Set(accept);
  const go = async (deadline, stats) => {
    while (Date.now() < deadline) {
      const r = await rt.fetch("api", "/bench");
      await r.arrayBuffer();
      stats.n++;
      if (r.status !== 200 || r.headers.get("x-secret-fallback") !== (expectFallback ? "1" : "0")) stats.bad++;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, () => go(Date.now() + 500, { n: 0, bad: 0 }))); // warm-up
  up.calls.length = 0;
  const stats = { n: 0, bad: 0 };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, () => go(Date.now() + SECONDS * 1000, stats)));
  const secs = (performance.now() - t0) / 1000;
  return { stage, requests: stats.n, seconds: secs, rps: stats.n / secs, calls: up.calls.length / stats.n, bad: stats.bad };
}

const rows = [];
try {
  await rt.update(describe(false));
  rows.push(await run("steady", [V1], false));
  await rt.update(describe(true));
  rows.push(await run("fallback", [V2], true));
} finally {
  await rt.dispose();
}

const pad = (s, n) => String(s).padStart(n);
console.log(`workers/api.js on workerd, concurrency ${CONCURRENCY}, ${SECONDS}s per stage (node ${process.version})`);
console.log(`${"stage".padEnd(10)}${pad("requests", 10)}${pad("req/s", 10)}${pad("upstream/req", 14)}${pad("errors", 8)}`);
for (const r of rows) {
  console.log(`${r.stage.padEnd(10)}${pad(r.requests, 10)}${pad(r.rps.toFixed(0), 10)}${pad(r.calls.toFixed(2), 14)}${pad(r.bad, 8)}`);
}
if (rows.some((r) => r.bad > 0)) process.exitCode = 1;
