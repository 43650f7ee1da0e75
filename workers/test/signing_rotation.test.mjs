// signing_key on workerd: signer.js (HMAC_SECRET) and the auth.js -> gateway.js JWT pair
// (SIGNING_KEY in auth, JWT_KEY in gateway: one secret, two binding names; gateway reaches
// auth through the service binding AUTH).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startLocal } from "../local/index.mjs";
import { clientsDocument, keyIdOf, keyValue, loginClient } from "../local/testkit.mjs";

const K1 = keyValue(0x31);
const K2 = keyValue(0x32);
// gateway's login clients: each logs in as its own subject
const CLIENTS = Object.fromEntries(["alice", "bob", "carol", "dave", "eve"].map((n) => [n, loginClient(n)]));
const ss = (name, secret_name) => ({ type: "secrets_store_secret", name, store_id: "st1", secret_name });

function stage(primary, fallback, keys = { sign_v1: K1, sign_v2: K2 }) {
  const binds = (name, fbName) => (fallback ? [ss(name, primary), ss(fbName, fallback)] : [ss(name, primary)]);
  return {
    workers: [
      { name: "gateway", main_module: "gateway.js", modules_root: "workers",
        bindings: [...binds("JWT_KEY", "JWT_KEY_FALLBACK"), ss("LOGIN_CLIENTS", "clients_v1"), { type: "service", name: "AUTH", service: "auth" }] },
      { name: "auth", main_module: "auth.js", modules_root: "workers", bindings: binds("SIGNING_KEY", "SIGNING_KEY_FALLBACK") },
      { name: "signer", main_module: "signer.js", modules_root: "workers", bindings: binds("HMAC_SECRET", "HMAC_SECRET_FALLBACK") },
    ],
    secrets: { st1: { ...keys, clients_v1: clientsDocument(Object.values(CLIENTS)) } },
  };
}

let rt;
before(async () => {
  rt = await startLocal(stage("sign_v1", null), { onLog: () => {} });
});
after(async () => rt?.dispose());

const signData = async (data) => (await (await rt.fetch("signer", "/sign", { method: "POST", body: data })).json()).signature;
const verifyData = async (data, signature) => {
  const r = await rt.fetch("signer", "/verify", { method: "POST", body: data, headers: { "x-signature": signature } });
  return { status: r.status, ...(await r.json()) };
};
const login = async (client) => {
  const r = await rt.fetch("gateway", "/login", { method: "POST", headers: { authorization: CLIENTS[client].authorization } });
  assert.equal(r.status, 200);
  return (await r.json()).token;
};
const me = async (token) => {
  const r = await rt.fetch("gateway", "/me", { headers: { authorization: `Bearer ${token}` } });
  return { status: r.status, ...(await r.json()) };
};

test("HMAC: sign with B, verify, reject tampered data and signatures", async () => {
  await rt.update(stage("sign_v1", null));
  const sig = await signData("amount=10");
  assert.match(sig, new RegExp(`^v2\\.${keyIdOf(K1)}\\.[A-Za-z0-9_-]{43}$`));
  assert.deepEqual(await verifyData("amount=10", sig), { status: 200, valid: true });
  assert.equal((await verifyData("amount=11", sig)).status, 401);
  const [v, kid, s] = sig.split(".");
  const flipped = s.slice(0, 5) + (s[5] === "A" ? "B" : "A") + s.slice(6);
  assert.deepEqual(await verifyData("amount=10", [v, kid, flipped].join(".")), { status: 401, valid: false, reason: "bad_signature" });
  assert.equal((await verifyData("amount=10", "")).reason, "malformed_signature");
  assert.equal((await verifyData("amount=10", `v2.${"0".repeat(16)}.${s}`)).reason, "unknown_key_id");
});

test("HMAC across a rotation: old signatures verify while the old key is bound as B or F", async () => {
  await rt.update(stage("sign_v1", null));
  const old = await signData("payload");
  await rt.update(stage("sign_v1", "sign_v2"));
  assert.equal((await verifyData("payload", old)).valid, true, "fallback stage");
  assert.equal((await signData("payload")).split(".")[1], keyIdOf(K1), "fallback stage still signs with v1");
  await rt.update(stage("sign_v2", "sign_v1"));
  assert.equal((await verifyData("payload", old)).valid, true, "swapped: verified with F");
  const fresh = await signData("payload");
  assert.equal(fresh.split(".")[1], keyIdOf(K2), "swapped stage signs with v2");
  await rt.update(stage("sign_v2", null, { sign_v2: K2 }));
  assert.deepEqual(await verifyData("payload", old), { status: 401, valid: false, reason: "unknown_key_id" });
  assert.equal((await verifyData("payload", fresh)).valid, true);
});

test("JWT: auth issues through the service binding, gateway verifies with its own binding name", async () => {
  await rt.update(stage("sign_v1", null));
  const token = await login("alice");
  const header = JSON.parse(Buffer.from(token.split(".")[0], "base64url").toString());
  assert.deepEqual(header, { alg: "HS256", typ: "JWT", kid: keyIdOf(K1) });
  assert.deepEqual(await me(token), { status: 200, sub: "alice" });
  assert.equal((await me("not.a.jwt")).status, 401);
  assert.equal((await rt.fetch("gateway", "/me")).status, 401);
});

test("JWT: a token issued before the signing-key swap still verifies after it", async () => {
  await rt.update(stage("sign_v1", null));
  const before1 = await login("bob");
  await rt.update(stage("sign_v1", "sign_v2"));
  const before2 = await login("carol");
  await rt.update(stage("sign_v2", "sign_v1")); // swapped
  assert.deepEqual(await me(before1), { status: 200, sub: "bob" });
  assert.deepEqual(await me(before2), { status: 200, sub: "carol" });
  const after1 = await login("dave");
  assert.equal(JSON.parse(Buffer.from(after1.split(".")[0], "base64url")).kid, keyIdOf(K2));
  assert.deepEqual(await me(after1), { status: 200, sub: "dave" });
  await rt.update(stage("sign_v2", null, { sign_v2: K2 })); // finished
  const gone = await me(before1);
  assert.equal(gone.status, 401);
  assert.equal(gone.error, "unknown_key_id");
  assert.deepEqual(await me(after1), { status: 200, sub: "dave" });
});

test("JWT: tampered payload, alg none and foreign keys are rejected", async () => {
  await rt.update(stage("sign_v1", null));
  const token = await login("eve");
  const [h, p, s] = token.split(".");
  const claims = JSON.parse(Buffer.from(p, "base64url"));
  const forged = Buffer.from(JSON.stringify({ ...claims, sub: "admin" })).toString("base64url");
  assert.equal((await me([h, forged, s].join("."))).error, "bad_signature");
  const none = Buffer.from(JSON.stringify({ alg: "none", typ: "JWT", kid: keyIdOf(K1) })).toString("base64url");
  assert.equal((await me([none, p, ""].join("."))).error, "bad_algorithm");
  const noKid = Buffer.from(JSON.stringify({ alg: "HS256", typ: "JWT" })).toString("base64url");
  assert.equal((await me([noKid, p, s].join("."))).error, "missing_kid");
});
