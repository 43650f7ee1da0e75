#!/usr/bin/env node
// Microseconds per call of the signing helpers on workerd (benchmarks/signing_loop.js):
// issueJwt, verifyJwt (token signed by the fallback key), sign and verify, best of --rounds.
// Usage: node benchmarks/signing_bench.mjs [--n 2000] [--rounds 5] [--json FILE]
import fs from "node:fs";
import { startLocal } from "../workers/local/index.mjs";

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const n = Number(arg("n", 2000));
const rounds = Number(arg("rounds", 5));
const rt = await startLocal(
  { workers: [{ name: "loop", main_module: "benchmarks/signing_loop.js", modules_root: ".", bindings: [] }], secrets: {} },
  { onLog: () => {} },
);
const best = {};
try {
  for (let r = 0; r < rounds; r++) {
    for (const op of ["issue", "verify", "sign", "check"]) {
      const res = await rt.fetch("loop", `/?op=${op}&n=${n}`);
      const { us_per_call } = await res.json();
      best[op] = Math.min(best[op] ?? Infinity, us_per_call);
    }
  }
} finally {
  await rt.dispose();
}
for (const [op, us] of Object.entries(best)) console.log(`${op.padEnd(7)} ${us.toFixed(1)} us/call`);
const out = arg("json", null);
if (out) fs.writeFileSync(out, JSON.stringify(best, null, 2));
