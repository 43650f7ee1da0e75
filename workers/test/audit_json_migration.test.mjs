// Audit events (never a value), JSON secrets (clear error, no echo) and the migration helper
// (secret_text and secrets_store_secret through one read path), on workerd.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startLocal } from "../local/index.mjs";
import { eventually, fakeUpstream, keyValue } from "../local/testkit.mjs";

// Canary values: none of these strings may appear in any audit body, response or log line.
const API_V1 = "CANARY-api-v1-7d1f";
const API_V2 = "CANARY-api-v2-9e2a";
const LEGACY = "CANARY-legacy-3c4b";
const DB_OK = JSON.stringify({ host: "db.internal", port: 5432, username: "app", password: "CANARY-db-pass-5a6b" });
const DB_BAD = '{"host":"db.internal","password":"CANARY-db-bad-8c9d",'; // truncated JSON
const ENC = keyValue();
const SIGN = keyValue();
const CANARIES = [API_V1, API_V2, LEGACY, "CANARY-db-pass-5a6b", "CANARY-db-bad-8c9d", ENC, SIGN];

const ss = (name, secret_name) => ({ type: "secrets_store_secret", name, store_id: "st1", secret_name });
const UP = { type: "plain_text", name: "UPSTREAM_URL", text: "https://upstream.test" };
const AUDIT_URL = { type: "plain_text", name: "AUDIT_URL", text: "https://audit.test/log" };
const AUDIT_SVC = { type: "service", name: "AUDIT", service: "audit-sink" };

function describe({ db = "db_ok", legacy = "secret_text", apiPrimary = "api_key_v1" } = {}) {
  const legacyBinding =
    legacy === "secret_text" ? { type: "secret_text", name: "API_KEY", text: LEGACY } : ss("API_KEY", "legacy_api_key");
  return {
    workers: [
      { name: "api", main_module: "api.js", modules_root: "workers",
        bindings: [ss("PRIMARY_KEY", apiPrimary), ss("FALLBACK_KEY", "api_key_v2"), ss("DB_CONFIG", db), UP, AUDIT_URL] },
      { name: "audited", main_module: "audited.js", modules_root: "workers", bindings: [ss("API_KEY", "api_key_v1"), UP, AUDIT_SVC] },
      { name: "vault", main_module: "vault.js", modules_root: "workers",
        bindings: [ss("ENCRYPTION_KEY", "enc_v1"), { type: "kv_namespace", name: "CACHE", namespace_id: "kv-vault" }, AUDIT_URL] },
      { name: "signer", main_module: "signer.js", modules_root: "workers", bindings: [ss("HMAC_SECRET", "sign_v1"), AUDIT_SVC] },
      { name: "legacy", main_module: "legacy.js", modules_root: "workers", bindings: [legacyBinding, UP, AUDIT_URL] },
      { name: "audit-sink", main_module: "audit_sink.js", modules_root: "workers/local",
        bindings: [{ type: "kv_namespace", name: "EVENTS", namespace_id: "kv-audit" }] },
    ],
    secrets: {
      st1: { api_key_v1: API_V1, api_key_v2: API_V2, db_ok: DB_OK, db_bad: DB_BAD, enc_v1: ENC, sign_v1: SIGN, legacy_api_key: LEGACY },
    },
  };
}

let rt;
const up = fakeUpstream({ accept: [API_V1, API_V2, LEGACY] });
const logs = [];
const responses = [];
before(async () => {
  rt = await startLocal(describe(), { upstream: up.handler, onLog: (e) => logs.push(`${e.level} ${e.message}`) });
});
after(async () => rt?.dispose());

/** fetch and keep the response text for the final canary sweep */
async function call(worker, path, init) {
  const r = await rt.fetch(worker, path, init);
  const body = await r.text();
  responses.push(JSON.stringify(Object.fromEntries(r.headers)) + body);
  return { status: r.status, headers: r.headers, body };
}
const sinkEvents = async () => JSON.parse((await call("audit-sink", "/events")).body);

test("JSON secret: valid config parses and the answer holds no value", async () => {
  const r = await call("api", "/db");
  assert.equal(r.status, 200);
  assert.deepEqual(JSON.parse(r.body), { configured: true, port: 5432 });
});

test("JSON secret: invalid JSON is a clear error that never echoes the value", async () => {
  await rt.update(describe({ db: "db_bad" }));
  const r = await call("api", "/db");
  assert.equal(r.status, 500);
  const err = JSON.parse(r.body);
  assert.equal(err.error, "invalid_json");
  assert.equal(err.binding, "DB_CONFIG");
  assert.match(err.message, /DB_CONFIG does not hold valid JSON/);
  assert.ok(!r.body.includes("db.internal") && !r.body.includes("CANARY"));
  await rt.update(describe());
});

test("migration: the same code reads a secret_text and then a secrets_store_secret API_KEY", async () => {
  await rt.update(describe({ legacy: "secret_text" }));
  assert.equal(JSON.parse((await call("legacy", "/binding")).body).type, "secret_text");
  up.calls.length = 0;
  let r = await call("legacy", "/thing");
  assert.equal(r.status, 200);
  assert.deepEqual(up.calls.map((c) => c.key), [LEGACY]);

  await rt.update(describe({ legacy: "secrets_store_secret" }));
  assert.equal(JSON.parse((await call("legacy", "/binding")).body).type, "secrets_store_secret");
  up.calls.length = 0;
  r = await call("legacy", "/thing");
  assert.equal(r.status, 200);
  assert.deepEqual(up.calls.map((c) => c.key), [LEGACY]);
  await rt.update(describe());
});

test("audit events via AUDIT_URL: uses, fallbacks and failures, with fields and no values", async () => {
  up.audits.length = 0;
  up.accept = new Set([API_V2]); // v1 revoked: the fallback is taken
  let r = await call("api", "/orders");
  assert.equal(r.status, 200);
  assert.equal(r.headers.get("x-secret-fallback"), "1");
  up.accept = new Set([API_V1, API_V2, LEGACY]);

  await rt.update(describe({ apiPrimary: "api_key_v9" })); // missing secret
  r = await call("api", "/orders");
  assert.equal(r.status, 500);
  await rt.update(describe());

  assert.ok(await eventually(() => up.audits.length >= 2), "audit events arrive");
  const events = up.audits.map((b) => JSON.parse(b));
  const used = events.find((e) => e.event === "secret_used" && e.kind === "api_key");
  assert.ok(used, JSON.stringify(events));
  assert.equal(used.worker, "api");
  assert.equal(used.binding, "FALLBACK_KEY");
  assert.equal(used.fallback, true);
  assert.equal(used.success, true);
  assert.equal(used.status, 200);
  assert.equal(typeof used.duration_ms, "number");
  assert.equal(typeof used.ts, "string");
  const failed = events.find((e) => e.event === "secret_access_failed");
  assert.ok(failed, JSON.stringify(events));
  assert.deepEqual(
    [failed.binding, failed.kind, failed.success, failed.error],
    ["PRIMARY_KEY", "api_key", false, "secret_unavailable"],
  );
});

test("audit events via the AUDIT service binding reach the sink worker", async () => {
  const before = (await sinkEvents()).length;
  const sig = JSON.parse((await call("signer", "/sign", { method: "POST", body: "data" })).body).signature;
  await call("signer", "/verify", { method: "POST", body: "other", headers: { "x-signature": sig } });
  assert.equal((await call("audited", "/ping")).status, 200);
  let events = [];
  assert.ok(await eventually(async () => (events = await sinkEvents()).length >= before + 3));
  const mine = events.slice(before);
  assert.ok(mine.some((e) => e.worker === "signer" && e.op === "sign" && e.success === true));
  assert.ok(mine.some((e) => e.worker === "signer" && e.op === "verify" && e.success === false && e.error === "bad_signature"));
  assert.ok(mine.some((e) => e.worker === "audited" && e.binding === "API_KEY" && e.op === "upstream" && e.success));
});

test("a failing audit sink never fails the request", async () => {
  for (const status of [500, "throw"]) {
    up.auditStatus = status;
    const n = up.audits.length;
    const r = await call("api", "/orders");
    assert.equal(r.status, 200, `sink ${status}`);
    const v = await call("vault", "/encrypt", { method: "POST", body: "x" });
    assert.equal(v.status, 200, `sink ${status}`);
    assert.ok(await eventually(() => up.audits.length >= n + 2), "the sink was tried");
  }
  up.auditStatus = 204;
});

test("no secret value appears in any audit body, response or console line", async () => {
  // Exercise failure paths too: tampered ciphertext, bad JSON, missing secrets.
  const env = JSON.parse((await call("vault", "/encrypt", { method: "POST", body: "CANARY-plaintext" })).body).envelope;
  await call("vault", "/decrypt", { method: "POST", body: env.slice(0, -4) + "AAAA" });
  await rt.update(describe({ db: "db_bad", apiPrimary: "nope" }));
  await call("api", "/db");
  await call("api", "/x");
  await rt.update(describe());
  await new Promise((r) => setTimeout(r, 200));
  const sink = (await call("audit-sink", "/events")).body;
  const haystacks = { audit_url: up.audits.join("\n"), audit_service: sink, responses: responses.join("\n"), logs: logs.join("\n") };
  assert.ok(up.audits.length > 5 && JSON.parse(sink).length > 2, "there is something to check");
  for (const [where, text] of Object.entries(haystacks)) {
    for (const canary of [...CANARIES, "CANARY-plaintext"]) {
      assert.ok(!text.includes(canary), `${where} contains a secret value`);
    }
    assert.ok(!/CANARY/.test(text), `${where} contains a canary`);
  }
  assert.ok(logs.some((l) => /audit sink/.test(l)), "the sink failures were logged (without values)");
});
