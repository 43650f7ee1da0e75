// api_key rotation on workerd: api.js (PRIMARY_KEY/FALLBACK_KEY) and billing.js
// (BILLING_KEY with the default fallback BILLING_KEY_FALLBACK) bound to one secret.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startLocal } from "../local/index.mjs";
import { fakeUpstream } from "../local/testkit.mjs";

const V1 = "key-v1-0f9a8b7c";
const V2 = "key-v2-1e2d3c4b";
const UP = { type: "plain_text", name: "UPSTREAM_URL", text: "https://upstream.test" };
const ss = (name, secret_name) => ({ type: "secrets_store_secret", name, store_id: "st1", secret_name });

/** Description for one rotation stage: [primary secret, fallback secret or null]. */
function stage(primary, fallback, secrets = { api_key_v1: V1, api_key_v2: V2 }) {
  const api = [ss("PRIMARY_KEY", primary), UP];
  const billing = [ss("BILLING_KEY", primary), UP];
  if (fallback) {
    api.push(ss("FALLBACK_KEY", fallback));
    billing.push(ss("BILLING_KEY_FALLBACK", fallback));
  }
  return {
    workers: [
      { name: "api", main_module: "api.js", modules_root: "workers", bindings: api },
      { name: "billing", main_module: "billing.js", modules_root: "workers", bindings: billing },
    ],
    secrets: { st1: secrets },
  };
}

let rt;
const up = fakeUpstream();
before(async () => {
  rt = await startLocal(stage("api_key_v1", null), { upstream: up.handler, onLog: () => {} });
});
after(async () => rt?.dispose());

function reset(accept) {
  up.accept = new Set(accept);
  up.calls.length = 0;
  up.forceStatus = null;
}

test("steady: the primary key is sent and accepted, no fallback", async () => {
  await rt.update(stage("api_key_v1", null));
  reset([V1]);
  const r = await rt.fetch("api", "/items?x=1");
  assert.equal(r.status, 200);
  assert.equal(r.headers.get("x-secret-fallback"), "0");
  assert.deepEqual(await r.json(), { ok: true, path: "/items" });
  assert.deepEqual(up.calls.map((c) => [c.url, c.key]), [["https://upstream.test/items?x=1", V1]]);
});

test("fallback stage: primary rejected (401), the fallback key succeeds and is reported", async () => {
  await rt.update(stage("api_key_v1", "api_key_v2"));
  reset([V2]); // upstream already revoked v1
  const r = await rt.fetch("api", "/items", { method: "POST", body: "payload" });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get("x-secret-fallback"), "1");
  assert.deepEqual(up.calls.map((c) => [c.key, c.body]), [[V1, "payload"], [V2, "payload"]]);
  const text = JSON.stringify(Object.fromEntries(r.headers));
  assert.ok(!text.includes(V1) && !text.includes(V2), "no key in response headers");
});

test("fallback stage: 403 also triggers the fallback", async () => {
  await rt.update(stage("api_key_v1", "api_key_v2"));
  reset([V2]);
  const orig = up.handler;
  rt.setUpstream(async (req) => {
    const resp = await orig(req);
    return resp.status === 401 ? new Response("forbidden", { status: 403 }) : resp;
  });
  try {
    const r = await rt.fetch("api", "/x");
    assert.equal(r.status, 200);
    assert.equal(r.headers.get("x-secret-fallback"), "1");
  } finally {
    rt.setUpstream(orig);
  }
});

test("fallback stage: primary accepted means exactly one upstream call", async () => {
  await rt.update(stage("api_key_v1", "api_key_v2"));
  reset([V1, V2]);
  const r = await rt.fetch("api", "/x");
  assert.equal(r.status, 200);
  assert.equal(r.headers.get("x-secret-fallback"), "0");
  assert.equal(up.calls.length, 1);
});

test("fallback stage: a non-auth failure (500) is not retried with the fallback", async () => {
  await rt.update(stage("api_key_v1", "api_key_v2"));
  reset([V1, V2]);
  up.forceStatus = 500;
  const r = await rt.fetch("api", "/x");
  assert.equal(r.status, 500);
  assert.equal(r.headers.get("x-secret-fallback"), "0");
  assert.equal(up.calls.length, 1);
});

test("no fallback bound: a rejected primary returns the upstream's own error", async () => {
  await rt.update(stage("api_key_v1", null));
  reset([V2]);
  const r = await rt.fetch("api", "/x");
  assert.equal(r.status, 401);
  assert.deepEqual(await r.json(), { error: "invalid_key" });
  assert.equal(r.headers.get("x-secret-fallback"), "0");
  assert.equal(up.calls.length, 1);
});

test("swapped and finished stages serve traffic with the new key first", async () => {
  await rt.update(stage("api_key_v2", "api_key_v1"));
  reset([V2]);
  let r = await rt.fetch("api", "/x");
  assert.equal(r.status, 200);
  assert.equal(r.headers.get("x-secret-fallback"), "0");
  assert.deepEqual(up.calls.map((c) => c.key), [V2]);
  // swapped, upstream still only knows v1 (new key not yet registered): falls back to v1
  reset([V1]);
  r = await rt.fetch("api", "/x");
  assert.equal(r.status, 200);
  assert.equal(r.headers.get("x-secret-fallback"), "1");

  await rt.update(stage("api_key_v2", null, { api_key_v2: V2 })); // finished: v1 deleted
  reset([V2]);
  r = await rt.fetch("api", "/x");
  assert.equal(r.status, 200);
  assert.deepEqual(up.calls.map((c) => c.key), [V2]);
});

test("billing shares the secret under BILLING_KEY with default fallback BILLING_KEY_FALLBACK", async () => {
  await rt.update(stage("api_key_v1", "api_key_v2"));
  reset([V2]);
  const r = await rt.fetch("billing", "/charge", { method: "POST", body: '{"amount":5}' });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get("x-secret-fallback"), "1");
  assert.deepEqual(up.calls.map((c) => [new URL(c.url).pathname, c.key]), [
    ["/billing/charge", V1],
    ["/billing/charge", V2],
  ]);
});

test("the caller's own Authorization header is replaced by the key, in every HeadersInit form", async () => {
  await rt.update({
    workers: [
      {
        name: "forwarding", main_module: "test/fixtures/forwarding.js", modules_root: "workers",
        bindings: [ss("API_KEY", "api_key_v1"), ss("API_KEY_FALLBACK", "api_key_v2"), UP],
      },
    ],
    secrets: { st1: { api_key_v1: V1, api_key_v2: V2 } },
  });
  reset([V2]); // the primary is rejected: the fallback call must replace it too
  for (const form of ["/object", "/headers", "/pairs", "/map"]) {
    up.calls.length = 0;
    const r = await rt.fetch("forwarding", form);
    assert.equal(r.status, 200, form);
    assert.deepEqual(
      up.calls.map((c) => [c.auth, c.trace]),
      [[`Bearer ${V1}`, "t1"], [`Bearer ${V2}`, "t1"]],
      form,
    );
  }
});

test("a missing secret gives a clear error naming the binding, no value, no upstream call", async () => {
  await rt.update(stage("api_key_v3", "api_key_v2")); // v3 never created
  reset([V1, V2]);
  const r = await rt.fetch("api", "/x");
  assert.equal(r.status, 500);
  const body = await r.text();
  const err = JSON.parse(body);
  assert.equal(err.error, "secret_unavailable");
  assert.equal(err.binding, "PRIMARY_KEY");
  assert.match(err.message, /PRIMARY_KEY/);
  assert.ok(!body.includes(V1) && !body.includes(V2));
  assert.equal(up.calls.length, 0);
});
