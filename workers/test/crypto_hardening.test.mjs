// Crypto hardening on workerd: required finite exp and bounded leeway, domain separation of
// HMAC signatures and JWTs (the forgery through `signer /sign`), canonical base64, JSON depth
// limits, and the auth worker issuing to service-binding callers only.
// Tokens here are crafted in Node with node:crypto from the documented derivation
// (HKDF-SHA256, salt 32 zero bytes, info "secrets-store/v2/jwt"): an independent
// implementation of the format, checked against the workers.
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { after, before, test } from "node:test";
import { startLocal } from "../local/index.mjs";
import { clientsDocument, keyIdOf, keyValue, loginClient } from "../local/testkit.mjs";

const K = keyValue(0x51); // one signing secret bound to signer, auth and gateway
const E = keyValue(0x52);
const ss = (name, secret_name) => ({ type: "secrets_store_secret", name, store_id: "st1", secret_name });
const auth = { type: "service", name: "AUTH", service: "auth" };
const CLIENTS = Object.fromEntries(["alice", "bob", "carol", "dave", "erin"].map((n) => [n, loginClient(n)]));
const w = (name, main_module, bindings) => ({ name, main_module, modules_root: "workers", bindings });

function description(overrides = {}) {
  return {
    workers: [
      w("signer", "signer.js", [ss("HMAC_SECRET", "sign")]),
      w("auth", "auth.js", [ss("SIGNING_KEY", "sign")]),
      w("gateway", "gateway.js", [ss("JWT_KEY", "sign"), ss("LOGIN_CLIENTS", "clients"), auth]),
      w("gateway_wide", "gateway.js", [ss("JWT_KEY", "sign"), auth, { type: "plain_text", name: "JWT_LEEWAY_SECONDS", text: "100000" }]),
      w("gateway_max", "gateway.js", [ss("JWT_KEY", "sign"), auth, { type: "plain_text", name: "JWT_LEEWAY_SECONDS", text: "300" }]),
      w("vault", "vault.js", [ss("ENCRYPTION_KEY", "enc"), { type: "kv_namespace", name: "CACHE", namespace_id: "kv1" }]),
      w("probe", "test/fixtures/crypto_probe.js", [ss("SIGNING_KEY", "sign")]),
    ],
    secrets: { st1: { sign: K, enc: E, clients: clientsDocument(Object.values(CLIENTS)), ...overrides } },
  };
}

let rt;
before(async () => {
  rt = await startLocal(description(), { onLog: () => {} });
});
after(async () => rt?.dispose());

const b64u = (s) => Buffer.from(s).toString("base64url");
const purposeKey = (value, purpose) =>
  Buffer.from(crypto.hkdfSync("sha256", Buffer.from(value, "base64"), Buffer.alloc(32), `secrets-store/v2/${purpose}`, 32));
/** A token over raw JSON texts, MAC'd with the key's JWT purpose key (no claim checks). */
function rawToken(payloadText, { key = K, headerText } = {}) {
  const head = headerText ?? JSON.stringify({ alg: "HS256", typ: "JWT", kid: keyIdOf(key) });
  const input = `${b64u(head)}.${b64u(payloadText)}`;
  return `${input}.${crypto.createHmac("sha256", purposeKey(key, "jwt")).update(input).digest("base64url")}`;
}
const nowS = () => Math.floor(Date.now() / 1000);
const me = async (token, worker = "gateway") => {
  const r = await rt.fetch(worker, "/me", { headers: { authorization: `Bearer ${token}` } });
  return { status: r.status, ...(await r.json()) };
};
const post = async (worker, path, body, headers = {}) => {
  const r = await rt.fetch(worker, path, { method: "POST", body: typeof body === "string" ? body : JSON.stringify(body), headers });
  const text = await r.text();
  return { status: r.status, text, json: text.startsWith("{") ? JSON.parse(text) : null };
};
const login = async (client = "alice") => {
  const r = await post("gateway", "/login", "", { authorization: CLIENTS[client].authorization });
  assert.equal(r.status, 200, r.text);
  return r.json.token;
};
/** Same bytes, non-zero trailing bits: the last char of a base64(url) text whose length % 4 != 0. */
function nonCanonical(s) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const v = alphabet.indexOf(s.at(-1));
  assert.equal(v & 1, 0, "canonical input expected");
  return s.slice(0, -1) + alphabet[v | 1];
}

// ---------------------------------------------------------------- exp and leeway

test("JWT exp: a string, null, true, 1e400 (Infinity), NaN or missing exp is refused with its code", async () => {
  const exp = nowS() + 300;
  assert.deepEqual(await me(rawToken(JSON.stringify({ sub: "ok", exp }))), { status: 200, sub: "ok" });
  const cases = [
    [`{"sub":"a","exp":"${exp}"}`, "invalid_exp"],
    ['{"sub":"a","exp":null}', "invalid_exp"],
    ['{"sub":"a","exp":true}', "invalid_exp"],
    ['{"sub":"a","exp":1e400}', "invalid_exp"],
    ['{"sub":"a","exp":NaN}', "malformed_token"], // not JSON at all
    ['{"sub":"a"}', "missing_exp"],
    [`{"sub":"a","exp":${exp},"nbf":"0"}`, "invalid_nbf"],
    [`{"sub":"a","exp":${exp},"iat":null}`, "invalid_iat"],
  ];
  for (const [payload, code] of cases) {
    const r = await me(rawToken(payload));
    assert.equal(r.status, 401, payload);
    assert.equal(r.error, code, payload);
  }
});

test("JWT leeway is bounded: JWT_LEEWAY_SECONDS over 300 is a 500 invalid_leeway, 300 itself works", async () => {
  const expired = (ago) => rawToken(JSON.stringify({ sub: "late", exp: nowS() - ago }));
  const wide = await me(expired(3600), "gateway_wide");
  assert.deepEqual([wide.status, wide.error], [500, "invalid_leeway"]);
  assert.deepEqual(await me(expired(200), "gateway_max"), { status: 200, sub: "late" });
  assert.equal((await me(expired(400), "gateway_max")).error, "token_expired");
  assert.equal((await me(expired(60))).error, "token_expired", "default leeway is 30 s");
});

test("auth-issued tokens carry an integer exp after iat (what every verifier now requires)", async () => {
  const token = await login("carol");
  const claims = JSON.parse(Buffer.from(token.split(".")[1], "base64url"));
  assert.ok(Number.isInteger(claims.exp) && claims.exp > claims.iat, JSON.stringify(claims));
});

// ---------------------------------------------------------------- domain separation

test("forgery: signer's HMAC v2.<kid>.<sig> over header.payload is not a JWT for gateway (same secret)", async () => {
  const head = b64u(JSON.stringify({ alg: "HS256", typ: "JWT", kid: keyIdOf(K) }));
  const body = b64u(JSON.stringify({ sub: "admin", exp: nowS() + 600 }));
  const r = await post("signer", "/sign", `${head}.${body}`);
  assert.equal(r.status, 200);
  const [version, kid, sig] = r.json.signature.split(".");
  const forged = await me(`${head}.${body}.${sig}`);
  assert.deepEqual([forged.status, forged.error], [401, "bad_signature"]);
  assert.deepEqual([version, kid], ["v2", keyIdOf(K)]);
  // The same forgery with the old derivation-free MAC (what signer v1 returned) fails too.
  const rawMac = crypto.createHmac("sha256", Buffer.from(K, "base64")).update(`${head}.${body}`).digest("base64url");
  assert.equal((await me(`${head}.${body}.${rawMac}`)).error, "bad_signature");
});

test("forgery reversed: a JWT's signature is not a v2 signature of header.payload for signer /verify", async () => {
  const [h, p, s] = (await login("bob")).split(".");
  const r = await post("signer", "/verify", `${h}.${p}`, { "x-signature": `v2.${keyIdOf(K)}.${s}` });
  assert.deepEqual([r.status, r.json.valid, r.json.reason], [401, false, "bad_signature"]);
});

test("per-purpose keys: HKDF-SHA256 with the documented labels (known-answer vector, Node agrees)", async () => {
  const one = keyValue(1);
  const r = await post("probe", "/derive", { key: one });
  assert.deepEqual(r.json, {
    hmac: "2557e559afdd6be9a1b1856d8093d2eacd175c9310d3621515dcd8c1518729e7",
    jwt: "5998fd51619228a519d04bc3508190d6a4c7af9397217c1a2ad82431724997fe",
  });
  assert.equal(purposeKey(one, "hmac").toString("hex"), r.json.hmac);
  assert.equal(purposeKey(one, "jwt").toString("hex"), r.json.jwt);
  const sig = (await post("signer", "/sign", "data")).json.signature;
  assert.equal(sig.split(".")[2], crypto.createHmac("sha256", purposeKey(K, "hmac")).update("data").digest("base64url"));
});

test("signatures are v2; a v1 signature (raw-key HMAC, the old format) is refused as unsupported_version", async () => {
  const v1 = `v1.${keyIdOf(K)}.${crypto.createHmac("sha256", Buffer.from(K, "base64")).update("data").digest("base64url")}`;
  const r = await post("signer", "/verify", "data", { "x-signature": v1 });
  assert.deepEqual([r.status, r.json.reason], [401, "unsupported_version"]);
});

// ---------------------------------------------------------------- canonical base64

test("base64 decoders are canonical: whitespace, padding mistakes and non-zero trailing bits refused", async () => {
  const r = await post("probe", "/b64", {
    std: ["QQ==", "QR==", " QQ==", "QQ==\n", "QQ", "QQ=", "Q Q==", "AAAA", ""],
    url: ["QQ", "QR", "QQ==", " QQ", "QQ\n", "-_8", "-_9", "Q", ""],
  });
  assert.deepEqual(r.json.std, ["41", null, null, null, null, null, null, "000000", ""]);
  assert.deepEqual(r.json.url, ["41", null, null, null, null, "fbff", null, null, ""]);
});

test("key values: a trailing newline, surrounding space or non-zero trailing bits is invalid_key_material", async () => {
  const stdNonCanonical = K.slice(0, 42) + nonCanonical(K.slice(0, 43)).at(-1) + "=";
  const r = await post("probe", "/key", { values: [K, `${K}\n`, ` ${K}`, stdNonCanonical] });
  assert.deepEqual(r.json.results.map((x) => x.kid ?? x.error), [keyIdOf(K), "invalid_key_material", "invalid_key_material", "invalid_key_material"]);
  for (const x of r.json.results) assert.ok(!JSON.stringify(x).includes(K.slice(0, 20)), "no key echoed");
  // And through a real binding: vault with its key stored with a trailing newline.
  await rt.update(description({ enc: `${E}\n` }));
  try {
    const v = await post("vault", "/encrypt", "plaintext-canary");
    assert.deepEqual([v.status, v.json.error], [500, "invalid_key_material"]);
    assert.ok(!v.text.includes(E.slice(0, 20)) && !v.text.includes("plaintext-canary"));
  } finally {
    await rt.update(description());
  }
});

test("signatures, tokens and envelopes: non-canonical base64url or surrounding whitespace is refused", async () => {
  const sig = (await post("signer", "/sign", "amount=10")).json.signature;
  const [v, kid, s] = sig.split(".");
  assert.equal((await post("signer", "/verify", "amount=10", { "x-signature": sig })).status, 200);
  const bent = await post("signer", "/verify", "amount=10", { "x-signature": `${v}.${kid}.${nonCanonical(s)}` });
  assert.deepEqual([bent.status, bent.json.reason], [401, "malformed_signature"]);

  const [h, p, t] = (await login("dave")).split(".");
  assert.equal((await me(`${h}.${p}.${nonCanonical(t)}`)).error, "malformed_token");

  const envelope = (await post("vault", "/encrypt", "abcd")).json.envelope; // ct: 20 bytes, 27 chars
  assert.equal((await post("vault", "/decrypt", envelope)).text, "abcd");
  const parts = envelope.split(".");
  const ct = parts[3];
  assert.notEqual(ct.length % 4, 0);
  for (const bad of [`${parts.slice(0, 3).join(".")}.${nonCanonical(ct)}`, ` ${envelope}`, `${envelope}\n`]) {
    const r = await post("vault", "/decrypt", bad);
    assert.deepEqual([r.status, r.json.error], [400, "invalid_envelope"], JSON.stringify(bad));
    assert.ok(!r.text.includes("abcd"));
  }
});

// ---------------------------------------------------------------- JSON depth and size

test("JSON depth: 16 levels are fine, 17 are json_too_deep before parsing, signed or not", async () => {
  const exp = nowS() + 300;
  const nested = (levels) => `{"sub":"deep","exp":${exp},"a":${"[".repeat(levels - 1)}${"]".repeat(levels - 1)}}`;
  assert.deepEqual(await me(rawToken(nested(16))), { status: 200, sub: "deep" });
  assert.equal((await me(rawToken(nested(17)))).error, "json_too_deep");
  const huge = `${b64u("[".repeat(2000))}.${b64u("{}")}.${"A".repeat(43)}`;
  assert.equal((await me(huge)).error, "json_too_deep");
  // brackets inside strings do not count; escaped quotes do not end a string
  const sub = `s${"[".repeat(20)}"${"{".repeat(20)}`;
  const tricky = `{"sub":${JSON.stringify(sub)},"exp":${exp}}`;
  assert.ok(tricky.includes('\\"'));
  assert.deepEqual(await me(rawToken(tricky)), { status: 200, sub });
  const probe = await post("probe", "/depth", { text: '[[["]]]]]]"]]]', max: 3 });
  assert.equal(probe.json.too_deep, false);
});

test("token size: over 4096 characters is token_too_large", async () => {
  const big = rawToken(JSON.stringify({ sub: "x".repeat(4000), exp: nowS() + 60 }));
  assert.ok(big.length > 4096);
  assert.equal((await me(big)).error, "token_too_large");
});

// ---------------------------------------------------------------- auth's callers

test("auth issues only to service-binding callers: HTTP POST /token is 403 service_binding_only, no token", async () => {
  for (const [method, path] of [["POST", "/token"], ["GET", "/token"], ["POST", "/"]]) {
    const r = await rt.fetch("auth", path, { method, body: method === "POST" ? JSON.stringify({ sub: "admin" }) : undefined });
    const text = await r.text();
    assert.equal(r.status, 403, `${method} ${path}`);
    assert.equal(JSON.parse(text).error, "service_binding_only");
    assert.ok(!/eyJ/.test(text), "no token in the refusal");
  }
  // The service-binding caller (gateway, RPC issueToken) gets one, and it verifies.
  assert.deepEqual(await me(await login("erin")), { status: 200, sub: "erin" });
});

// What auth.js refuses over RPC (odd subjects, caller-chosen lifetimes) and gateway's client
// authentication: workers/test/login_auth.test.mjs.
