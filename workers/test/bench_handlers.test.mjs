// benchmarks/handler_loop.js (`make bench`, the handlers' JavaScript alone) on workerd: both
// handlers answer 200 in both stages under its stubs, taking the fallback in the fallback stage
// as they do against the real upstream, so the figures it prints are of working code; a bad
// query is refused.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startLocal } from "../local/index.mjs";

let rt;
before(async () => {
  rt = await startLocal(
    { workers: [{ name: "loop", main_module: "benchmarks/handler_loop.js", modules_root: ".", bindings: [] }], secrets: {} },
    { onLog: () => {} },
  );
});
after(async () => rt?.dispose());

for (const worker of ["api", "seed"]) {
  for (const stage of ["steady", "fallback"]) {
    test(`handler loop: ${worker} answers 200 in the ${stage} stage, with the fallback there`, async () => {
      const r = await rt.fetch("loop", `/?worker=${worker}&stage=${stage}&n=25`);
      assert.equal(r.status, 200);
      // one upstream call a request when steady; the primary rejected, then the fallback
      assert.deepEqual(await r.json(), { calls: 25, failed: 0, upstream: stage === "steady" ? 25 : 50 });
    });
  }
}

test("handler loop: an unknown handler or a bad count is a 400", async () => {
  for (const query of ["worker=nope&n=5", "worker=api&n=0", "worker=api&n=x"]) {
    const r = await rt.fetch("loop", `/?${query}`);
    assert.equal(r.status, 400, query);
    await r.arrayBuffer();
  }
});
