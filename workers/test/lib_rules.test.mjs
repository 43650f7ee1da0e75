// Rules the helpers enforce, checked on the very modules the workers upload:
// - no module can read a secret at module scope (in the modules format, env only exists
//   inside handlers unless a module imports `env` from "cloudflare:workers");
// - at most one .get() per binding per request, even when several operations use it.
// The second check drives the workers through workerd with a counting wrapper worker.
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, test } from "node:test";
import { collectModules, REPO_ROOT, startLocal } from "../local/index.mjs";
import { keyValue } from "../local/testkit.mjs";

const WORKERS = path.join(REPO_ROOT, "workers");
// The example workers (listed, not globbed, so stray files in workers/ do not matter).
const EXAMPLE_WORKERS = ["api.js", "billing.js", "vault.js", "signer.js", "auth.js", "gateway.js", "audited.js", "legacy.js"];

test("no uploaded module imports env from cloudflare:workers (so none can read env at module scope)", () => {
  // WorkerEntrypoint (auth.js: RPC for service-binding callers) is the one allowed import; it
  // sees env per call as this.env. `env`, `import *` or a default import are refused.
  const allowed = /import\s*\{\s*WorkerEntrypoint\s*\}\s*from\s*["']cloudflare:workers["']/g;
  for (const f of EXAMPLE_WORKERS) {
    for (const m of collectModules(WORKERS, f)) {
      const mentions = m.contents.match(/["']cloudflare:workers["']/g)?.length ?? 0;
      const ok = m.contents.match(allowed)?.length ?? 0;
      assert.equal(mentions, ok, `${m.name} imports more than WorkerEntrypoint from cloudflare:workers`);
    }
  }
});

let rt;
const K1 = keyValue(0x41);
const K2 = keyValue(0x42);
before(async () => {
  rt = await startLocal(
    {
      workers: [
        {
          name: "counting", main_module: "test/fixtures/counting_vault.js", modules_root: "workers",
          bindings: [
            { type: "secrets_store_secret", name: "ENCRYPTION_KEY", store_id: "st1", secret_name: "k2" },
            { type: "secrets_store_secret", name: "ENCRYPTION_KEY_FALLBACK", store_id: "st1", secret_name: "k1" },
          ],
        },
      ],
      secrets: { st1: { k1: K1, k2: K2 } },
    },
    { onLog: () => {} },
  );
});
after(async () => rt?.dispose());

test("one .get() per binding per request across encrypt, decrypt with F, decrypt with B", async () => {
  const r = await rt.fetch("counting", "/");
  assert.equal(r.status, 200, await r.clone().text());
  assert.deepEqual(await r.json(), { ok: true, gets: { ENCRYPTION_KEY: 1, ENCRYPTION_KEY_FALLBACK: 1 } });
});
