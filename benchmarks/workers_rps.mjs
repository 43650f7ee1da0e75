#!/usr/bin/env node
// The worker hot path on workerd (miniflare): workers/api.js next to the seed's "Secret Rotation"
// worker (benchmarks/seed_rotation.js), each in its own workerd process, in two stages:
//   steady   only PRIMARY_KEY bound; the upstream accepts it (1 upstream call per request)
//   fallback PRIMARY_KEY + FALLBACK_KEY bound; the upstream rejects the primary with 401 and
//            accepts the fallback, so the fallback is taken on every request (2 calls/request)
// The measure is CPU per request of each workerd process: user + system ticks from
// /proc/<pid>/stat over the requests it served, summed over every round. Both workers are
// loaded at the same moments (half the concurrency each): on shared cores the machine's speed
// changes from one half second to the next by up to ±20%, so workers loaded in turn see
// different machines, while workers loaded together see the same one. Requests/s is shown too.
// The fake upstream is a Node function behind miniflare's outboundService, so each upstream
// call is a workerd -> Node round trip (counted in workerd's CPU for both workers alike).
// Then the JavaScript alone (benchmarks/handler_loop.js): each handler called in a loop with
// its upstream fetch and bindings stubbed, in one workerd, the two handlers in alternating
// rounds: microseconds per call (they move by a few between runs, where the ratio above moves
// by several percent), and what api.js adds as a share of a whole request's CPU above.
// Usage: node benchmarks/workers_rps.mjs [--seconds 20] [--rounds 40] [--concurrency 32]
//                                        [--js-rounds 8] [--json FILE]
//   --seconds: load per stage (both workers at once), split over --rounds rounds
//   --concurrency: requests in flight in all, half to each worker

import fs from "node:fs";
import { execFileSync } from "node:child_process";
import { startLocal } from "../workers/local/index.mjs";
import { fakeUpstream } from "../workers/local/testkit.mjs";

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const SECONDS = Number(arg("seconds", 20));
const ROUNDS = Number(arg("rounds", 40));
const CONCURRENCY = Number(arg("concurrency", 32));
const JS_ROUNDS = Number(arg("js-rounds", 8));
const JS_CALLS = 20_000;
for (const [name, value] of Object.entries({ seconds: SECONDS, rounds: ROUNDS, concurrency: CONCURRENCY, "js-rounds": JS_ROUNDS })) {
  if (!(value > 0) || (name !== "seconds" && !Number.isInteger(value))) {
    console.error(`--${name}: want a positive ${name === "seconds" ? "number" : "whole number"}, got ${value}`);
    process.exit(2);
  }
}
const JSON_OUT = arg("json", null);
const V1 = "bench-key-v1";
const V2 = "bench-key-v2";
const CLK_TCK = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

const WORKERS = {
  api: { label: "workers/api.js", main_module: "api.js", modules_root: "workers", checksHeader: true, host: "upstream.bench" },
  seed: { label: "seed Secret Rotation", main_module: "seed_rotation.js", modules_root: "benchmarks", checksHeader: false, host: "api.example.com" },
};
const ss = (name, secret_name) => ({ type: "secrets_store_secret", name, store_id: "st1", secret_name });
const describe = (key, fallback) => ({
  workers: [{
    name: key, main_module: WORKERS[key].main_module, modules_root: WORKERS[key].modules_root,
    bindings: [
      ss("PRIMARY_KEY", "api_key_v1"),
      ...(fallback ? [ss("FALLBACK_KEY", "api_key_v2")] : []),
      { type: "plain_text", name: "UPSTREAM_URL", text: "https://upstream.bench" },
    ],
  }],
  secrets: { st1: { api_key_v1: V1, api_key_v2: V2 } },
});

/** workerd processes whose parent is this Node process (Linux /proc). */
function workerdChildren() {
  if (!fs.existsSync("/proc")) return [];
  return fs.readdirSync("/proc").filter((d) => /^\d+$/.test(d)).filter((d) => {
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, "utf8");
      const [state, ppid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      return state !== "Z" && Number(ppid) === process.pid && fs.readFileSync(`/proc/${d}/cmdline`, "latin1").includes("workerd");
    } catch {
      return false;
    }
  }).map(Number);
}

/** utime + stime of a process, in clock ticks (all its threads). */
function ticks(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]); // fields 14 and 15 of proc(5)
}

const up = fakeUpstream();

/** Start one worker in its own workerd; returns the runtime and that workerd's pid. */
async function start(key, fallback) {
  const before = new Set(workerdChildren());
  const rt = await startLocal(describe(key, fallback), { upstream: up.handler, onLog: () => {} });
  const pids = workerdChildren().filter((p) => !before.has(p));
  if (pids.length !== 1) throw new Error(`expected one new workerd for ${key}, found ${pids.length}`);
  return { key, rt, pid: pids[0] };
}

/** Load one worker for `ms` with `lanes` requests in flight; returns requests and bad answers. */
async function load(w, ms, expectFallback, lanes) {
  const stats = { n: 0, bad: 0 };
  const deadline = Date.now() + ms;
  const lane = async () => {
    while (Date.now() < deadline) {
      const r = await w.rt.fetch(w.key, "/bench");
      await r.arrayBuffer();
      stats.n++;
      const header = WORKERS[w.key].checksHeader ? r.headers.get("x-secret-fallback") === (expectFallback ? "1" : "0") : true;
      if (r.status !== 200 || !header) stats.bad++;
    }
  };
  await Promise.all(Array.from({ length: lanes }, lane));
  return stats;
}

async function stage(name, fallback) {
  up.accept = new Set(fallback ? [V2] : [V1]);
  const ws = [];
  try {
    for (const key of ["api", "seed"]) ws.push(await start(key, fallback));
    const lanes = Math.max(1, Math.floor(CONCURRENCY / ws.length));
    await Promise.all(ws.map((w) => load(w, 500, fallback, lanes))); // warm-up (JIT, connections)
    up.calls.length = 0;
    const totals = Object.fromEntries(ws.map((w) => [w.key, { requests: 0, bad: 0, ticks: 0, ms: 0 }]));
    const slice = (SECONDS * 1000) / ROUNDS;
    for (let round = 0; round < ROUNDS; round++) {
      const t0 = ws.map((w) => ticks(w.pid));
      const start = performance.now();
      const served = await Promise.all(ws.map((w) => load(w, slice, fallback, lanes)));
      const ms = performance.now() - start;
      ws.forEach((w, i) => {
        const tot = totals[w.key];
        tot.ticks += ticks(w.pid) - t0[i];
        tot.ms += ms;
        tot.requests += served[i].n;
        tot.bad += served[i].bad;
      });
    }
    // Each worker's upstream calls, told apart by host (the seed's URL is fixed).
    const calls = (w) => up.calls.filter((c) => new URL(c.url).host === WORKERS[w.key].host).length;
    return ws.map((w) => {
      const t = totals[w.key];
      return {
        worker: w.key,
        label: WORKERS[w.key].label,
        stage: name,
        requests: t.requests,
        seconds: t.ms / 1000,
        rps: t.requests / (t.ms / 1000),
        upstream_per_request: calls(w) / t.requests,
        cpu_ticks: t.ticks,
        cpu_ms_per_request: (t.ticks * 1000) / CLK_TCK / t.requests,
        errors: t.bad,
      };
    });
  } finally {
    up.calls.length = 0;
    for (const w of ws) await w.rt.dispose();
  }
}

/** Microseconds of workerd CPU per call of each handler's own code, per stage. */
async function handlerJs() {
  const before = new Set(workerdChildren());
  const rt = await startLocal(
    { workers: [{ name: "loop", main_module: "benchmarks/handler_loop.js", modules_root: ".", bindings: [] }], secrets: {} },
    { onLog: () => {} },
  );
  try {
    const [pid, ...more] = workerdChildren().filter((p) => !before.has(p));
    if (pid === undefined || more.length > 0) throw new Error("expected one new workerd for the handler loop");
    const call = async (worker, stageName, n) => {
      const r = await rt.fetch("loop", `/?worker=${worker}&stage=${stageName}&n=${n}`);
      const body = await r.json();
      const upstream = n * (stageName === "fallback" ? 2 : 1); // the fallback taken every time there
      if (r.status !== 200 || body.failed !== 0 || body.upstream !== upstream) {
        throw new Error(`${worker} ${stageName}: ${JSON.stringify(body)}`);
      }
    };
    const out = [];
    for (const stageName of ["steady", "fallback"]) {
      const ticksOf = { api: 0, seed: 0 };
      for (const worker of ["api", "seed"]) await call(worker, stageName, JS_CALLS / 10); // warm-up
      for (let round = 0; round < JS_ROUNDS; round++) {
        for (const worker of round % 2 === 0 ? ["api", "seed"] : ["seed", "api"]) {
          const t0 = ticks(pid);
          await call(worker, stageName, JS_CALLS);
          ticksOf[worker] += ticks(pid) - t0;
        }
      }
      const us = (worker) => (ticksOf[worker] * 1e6) / CLK_TCK / (JS_CALLS * JS_ROUNDS);
      out.push({ stage: stageName, api_us: us("api"), seed_us: us("seed") });
    }
    return out;
  } finally {
    await rt.dispose();
  }
}

const rows = [...(await stage("steady", false)), ...(await stage("fallback", true))];
const js = await handlerJs();
const ratio = (stageName) => {
  const cpu = (key) => rows.find((r) => r.worker === key && r.stage === stageName).cpu_ms_per_request;
  return cpu("seed") / cpu("api");
};
const summary = { worker_cpu_vs_seed_steady: ratio("steady"), worker_cpu_vs_seed_fallback: ratio("fallback") };

const pad = (s, n) => String(s).padStart(n);
console.log(
  `## 0. Worker hot path on workerd: api.js vs the seed's rotation worker, each in its own workerd ` +
    `(both loaded at once, ${Math.max(1, Math.floor(CONCURRENCY / 2))} requests in flight each, ${SECONDS}s per stage in ${ROUNDS} rounds, node ${process.version})`,
);
console.log(`${"worker".padEnd(22)}${"stage".padEnd(10)}${pad("requests", 9)}${pad("req/s", 8)}${pad("upstream/req", 14)}${pad("cpu ticks", 11)}${pad("cpu ms/req", 12)}${pad("errors", 8)}`);
for (const r of rows) {
  console.log(
    `${r.label.padEnd(22)}${r.stage.padEnd(10)}${pad(r.requests, 9)}${pad(r.rps.toFixed(0), 8)}` +
      `${pad(r.upstream_per_request.toFixed(2), 14)}${pad(r.cpu_ticks, 11)}${pad(r.cpu_ms_per_request.toFixed(3), 12)}${pad(r.errors, 8)}`,
  );
}
console.log(
  `cpu: user+system ticks of each workerd process (1 tick = ${1000 / CLK_TCK} ms) / requests it served; ` +
    `goal: seed/api >= 0.95 in both stages`,
);
console.log(
  `worker_cpu_vs_seed_steady=${summary.worker_cpu_vs_seed_steady.toFixed(2)} ` +
    `worker_cpu_vs_seed_fallback=${summary.worker_cpu_vs_seed_fallback.toFixed(2)}\n`,
);
console.log(
  `Handler JavaScript alone (upstream fetch and bindings stubbed, ${JS_CALLS.toLocaleString("en")} calls x ${JS_ROUNDS} rounds each, one workerd):`,
);
console.log(`${"stage".padEnd(10)}${pad("api.js us", 11)}${pad("seed us", 9)}${pad("added us", 10)}${pad("of a request", 14)}`);
for (const j of js) {
  const request = rows.find((r) => r.worker === "api" && r.stage === j.stage).cpu_ms_per_request * 1000;
  j.added_share = (j.api_us - j.seed_us) / request;
  console.log(
    `${j.stage.padEnd(10)}${pad(j.api_us.toFixed(1), 11)}${pad(j.seed_us.toFixed(1), 9)}` +
      `${pad((j.api_us - j.seed_us).toFixed(1), 10)}${pad(`${(100 * j.added_share).toFixed(1)}%`, 14)}`,
  );
}
console.log(
  "added: what api.js's helpers (routing, fallback header, audit, errors) cost per request over the " +
    "seed's code; of a request: that, over api.js's whole CPU per request in the table above\n",
);
if (JSON_OUT) fs.writeFileSync(JSON_OUT, JSON.stringify({ rows, handler_js: js, ...summary }, null, 2));
if (rows.some((r) => r.errors > 0)) process.exitCode = 1;
