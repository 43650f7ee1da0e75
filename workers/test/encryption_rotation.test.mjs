// encryption_key rotation on workerd with vault.js (ENCRYPTION_KEY + default fallback
// ENCRYPTION_KEY_FALLBACK, KV CACHE): every stage keeps every earlier value readable while
// its key is bound; re-encryption before the finish; tampering is rejected.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startLocal } from "../local/index.mjs";
import { keyIdOf, keyValue } from "../local/testkit.mjs";

const K1 = keyValue(0x11);
const K2 = keyValue(0x22);
const ss = (name, secret_name) => ({ type: "secrets_store_secret", name, store_id: "st1", secret_name });

function stage(primary, fallback, secrets = { enc_v1: K1, enc_v2: K2 }) {
  const bindings = [ss("ENCRYPTION_KEY", primary), { type: "kv_namespace", name: "CACHE", namespace_id: "vault-kv" }];
  if (fallback) bindings.push(ss("ENCRYPTION_KEY_FALLBACK", fallback));
  return {
    workers: [{ name: "vault", main_module: "vault.js", modules_root: "workers", bindings }],
    secrets: { st1: secrets },
  };
}

let rt;
const logs = [];
before(async () => {
  rt = await startLocal(stage("enc_v1", null), { onLog: (e) => logs.push(e.message) });
});
after(async () => rt?.dispose());

const put = async (id, value) => {
  const r = await rt.fetch("vault", `/v/${id}`, { method: "PUT", body: value });
  assert.equal(r.status, 200, await r.clone().text());
  return (await r.json()).key_id;
};
const get = async (id) => {
  const r = await rt.fetch("vault", `/v/${id}`);
  return { status: r.status, body: await r.text() };
};
const raw = async (id) => (await rt.fetch("vault", `/raw/${id}`)).text();

test("full rotation: steady -> fallback -> swapped -> re-encrypt -> finished", async () => {
  const written = {}; // id -> plaintext
  const readAll = async (label) => {
    for (const [id, value] of Object.entries(written)) {
      const r = await get(id);
      assert.equal(r.status, 200, `${label}: ${id} unreadable: ${r.body}`);
      assert.equal(r.body, value, `${label}: ${id}`);
    }
  };

  await rt.update(stage("enc_v1", null));
  const kid1 = await put("steady", (written.steady = "written in steady ✓"));
  assert.equal(kid1, keyIdOf(K1), "key id = hex(SHA-256(raw)[0..8])");
  await readAll("steady");

  await rt.update(stage("enc_v1", "enc_v2"));
  assert.equal(await put("fallback", (written.fallback = "written in fallback")), kid1, "fallback stage encrypts with B=v1");
  await readAll("fallback");

  await rt.update(stage("enc_v2", "enc_v1"));
  const kid2 = await put("swapped", (written.swapped = "written in swapped"));
  assert.notEqual(kid2, kid1, "swapped stage encrypts with B=v2");
  await readAll("swapped"); // v1 values decrypt with F, v2 values with B

  assert.ok((await raw("steady")).startsWith(`v1.${kid1}.`));
  const r = await rt.fetch("vault", "/reencrypt", { method: "POST" });
  assert.equal(r.status, 200);
  assert.deepEqual(await r.json(), { checked: 3, reencrypted: 2, failed: [], key_id: kid2 });
  for (const id of ["steady", "fallback", "swapped"]) assert.ok((await raw(id)).startsWith(`v1.${kid2}.`), id);
  await readAll("after re-encrypt");

  await rt.update(stage("enc_v2", null, { enc_v2: K2 })); // finished: v1 deleted
  await readAll("finished");
  const again = await rt.fetch("vault", "/reencrypt", { method: "POST" });
  assert.deepEqual(await again.json(), { checked: 3, reencrypted: 0, failed: [], key_id: kid2 });
});

test("a value whose key is no longer bound is a clear 409 error, never garbage", async () => {
  await rt.update(stage("enc_v1", null));
  await put("orphan", "orphaned value");
  await rt.update(stage("enc_v2", null, { enc_v2: K2 }));
  const r = await get("orphan");
  assert.equal(r.status, 409);
  const err = JSON.parse(r.body);
  assert.equal(err.error, "unknown_key_id");
  assert.ok(!r.body.includes("orphaned value"));
  const re = await rt.fetch("vault", "/reencrypt", { method: "POST" });
  const report = await re.json();
  assert.equal(re.status, 500);
  assert.ok(report.failed.includes("orphan"));
});

test("tampered ciphertexts are rejected", async () => {
  await rt.update(stage("enc_v1", "enc_v2"));
  const r = await rt.fetch("vault", "/encrypt", { method: "POST", body: "attack at dawn" });
  const { envelope } = await r.json();
  const [v, kid, iv, ct] = envelope.split(".");
  const flip = (s, i) => s.slice(0, i) + (s[i] === "A" ? "B" : "A") + s.slice(i + 1);
  const ok = await rt.fetch("vault", "/decrypt", { method: "POST", body: envelope });
  assert.equal(await ok.text(), "attack at dawn");
  const cases = {
    ciphertext: [v, kid, iv, flip(ct, 3)].join("."),
    tag: [v, kid, iv, flip(ct, ct.length - 2)].join("."),
    iv: [v, kid, flip(iv, 2), ct].join("."),
    truncated: [v, kid, iv, ct.slice(0, 10)].join("."),
    version: ["v2", kid, iv, ct].join("."),
    garbage: "not an envelope",
  };
  for (const [name, bad] of Object.entries(cases)) {
    const resp = await rt.fetch("vault", "/decrypt", { method: "POST", body: bad });
    const body = await resp.text();
    assert.equal(resp.status, 400, `${name}: ${body}`);
    assert.match(JSON.parse(body).error, /^(decrypt_failed|invalid_envelope)$/, name);
    assert.ok(!body.includes("attack"), name);
  }
  // Header swapped onto another key's id: that key exists (F) but AAD/auth fails.
  assert.equal(kid, keyIdOf(K1));
  const kid2 = keyIdOf(K2);
  const moved = await rt.fetch("vault", "/decrypt", { method: "POST", body: [v, kid2, iv, ct].join(".") });
  assert.equal(moved.status, 400);
  assert.equal((await moved.json()).error, "decrypt_failed");
});

test("key material that is not base64 of 32 bytes is refused without echoing it", async () => {
  const bad = "c2hvcnQta2V5LWNhbmFyeQ=="; // base64 of 16 bytes
  await rt.update(stage("enc_bad", null, { enc_bad: bad }));
  const r = await rt.fetch("vault", "/encrypt", { method: "POST", body: "x" });
  const body = await r.text();
  assert.equal(r.status, 500);
  assert.equal(JSON.parse(body).error, "invalid_key_material");
  assert.match(JSON.parse(body).message, /ENCRYPTION_KEY/);
  assert.ok(!body.includes(bad));
  assert.ok(!logs.join("\n").includes(bad));
});
