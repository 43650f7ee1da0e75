// The login of the "Service Bindings Auth" example on workerd: gateway.js issues a token only
// to a client that authenticates (HTTP Basic client_id:client_secret, checked against the
// LOGIN_CLIENTS json secret), with the subject listed for that client and auth.js's lifetime;
// auth.js refuses odd subjects and caller-chosen lifetimes from any service-binding caller.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startLocal } from "../local/index.mjs";
import { clientsDocument, keyValue, loginClient } from "../local/testkit.mjs";

const K = keyValue(0x61);
const billing = loginClient("billing", "svc.billing");
const reports = loginClient("reports");
const shortSecret = loginClient("weak", "weak", "x".repeat(31)); // listed, but under 32 chars
const CANARY = "c4nary-secret-in-the-clients-document-0123456789";

const ss = (name, secret_name) => ({ type: "secrets_store_secret", name, store_id: "st1", secret_name });
const AUTH = { type: "service", name: "AUTH", service: "auth" };
const w = (name, main_module, bindings) => ({ name, main_module, modules_root: "workers", bindings });
const ttl = (text) => ({ type: "plain_text", name: "TOKEN_TTL_SECONDS", text });

function description(clients = clientsDocument([billing, reports, shortSecret])) {
  return {
    workers: [
      w("auth", "auth.js", [ss("SIGNING_KEY", "sign")]),
      w("auth_short", "auth.js", [ss("SIGNING_KEY", "sign"), ttl("60")]),
      w("auth_bad_ttl", "auth.js", [ss("SIGNING_KEY", "sign"), ttl("86400")]),
      w("gateway", "gateway.js", [ss("JWT_KEY", "sign"), ss("LOGIN_CLIENTS", "clients"), AUTH]),
      w("gateway_short", "gateway.js", [ss("JWT_KEY", "sign"), ss("LOGIN_CLIENTS", "clients"), { ...AUTH, service: "auth_short" }]),
      w("gateway_bad_ttl", "gateway.js", [ss("JWT_KEY", "sign"), ss("LOGIN_CLIENTS", "clients"), { ...AUTH, service: "auth_bad_ttl" }]),
      w("gateway_unbound", "gateway.js", [ss("JWT_KEY", "sign"), AUTH]),
      // Any other holder of a service binding to auth: calls issueToken with the body as is.
      w("caller", "test/fixtures/rpc_caller.js", [AUTH]),
    ],
    secrets: { st1: { sign: K, clients } },
  };
}

let rt;
before(async () => {
  rt = await startLocal(description(), { onLog: () => {} });
});
after(async () => rt?.dispose());

const basic = (text) => `Basic ${Buffer.from(text).toString("base64")}`;
async function login(authorization, { worker = "gateway", body } = {}) {
  const headers = authorization === undefined ? {} : { authorization };
  const r = await rt.fetch(worker, "/login", { method: "POST", headers, body });
  const text = await r.text();
  return { status: r.status, headers: r.headers, text, json: JSON.parse(text) };
}
const claimsOf = (token) => JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString());
async function me(token) {
  const r = await rt.fetch("gateway", "/me", { headers: { authorization: `Bearer ${token}` } });
  return { status: r.status, ...(await r.json()) };
}
async function issue(request, path = "/") {
  const r = await rt.fetch("caller", path, { method: "POST", body: JSON.stringify(request) });
  return r.json();
}

test("no credential, a wrong secret, an unknown client: the same 401 with WWW-Authenticate", async () => {
  const refusals = {
    "no Authorization": await login(undefined),
    "wrong secret": await login(basic(`billing:${reports.secret}`)),
    "unknown client": await login(basic(`nobody:${billing.secret}`)),
    "no colon": await login(basic(billing.secret)),
    "not base64": await login("Basic !!!"),
    "Bearer, not Basic": await login(`Bearer ${billing.secret}`),
    "the sha256 as the secret": await login(basic(`billing:${billing.entry.secret_sha256}`)),
    "listed secret under 32 chars": await login(shortSecret.authorization),
    "a body naming a subject": await login(undefined, { body: JSON.stringify({ sub: "admin", ttl: 86400 }) }),
  };
  for (const [what, r] of Object.entries(refusals)) {
    assert.equal(r.status, 401, what);
    assert.equal(r.headers.get("www-authenticate"), 'Basic realm="gateway", charset="UTF-8"', what);
    assert.deepEqual(r.json, refusals["wrong secret"].json, `${what}: same body as a wrong secret`);
    assert.ok(!/eyJ/.test(r.text), `${what}: no token`);
  }
  assert.equal(refusals["unknown client"].json.error, "invalid_client");
});

test("a valid credential gets a token for the client's listed subject, not for what the body says", async () => {
  const r = await login(billing.authorization, { body: JSON.stringify({ sub: "admin", ttl: 86400 }) });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.headers.get("cache-control"), "no-store");
  const claims = claimsOf(r.json.token);
  assert.equal(claims.sub, "svc.billing");
  assert.equal(claims.exp - claims.iat, 300, "auth's default lifetime, not the body's 86400");
  assert.deepEqual(await me(r.json.token), { status: 200, sub: "svc.billing" });
  // no body at all, another client
  const plain = await login(reports.authorization);
  assert.deepEqual(await me(plain.json.token), { status: 200, sub: "reports" });
});

test("the lifetime is auth's TOKEN_TTL_SECONDS (1..900); an out-of-range setting issues nothing", async () => {
  const short = await login(billing.authorization, { worker: "gateway_short", body: '{"ttl": 86400}' });
  const claims = claimsOf(short.json.token);
  assert.equal(claims.exp - claims.iat, 60);
  const bad = await login(billing.authorization, { worker: "gateway_bad_ttl" });
  assert.equal(bad.status, 500);
  assert.equal(bad.json.error, "invalid_token_ttl");
  assert.ok(!/eyJ/.test(bad.text));
});

test("auth over RPC refuses odd subjects, whoever holds the binding", async () => {
  const odd = {
    NUL: "admin\u0000",
    "U+202E right-to-left override": "\u202enimda",
    "leading space": " admin",
    "trailing space": "admin ",
    "trailing newline": "admin\n",
    "inner newline": "ad\nmin",
    "65 characters": "a".repeat(65),
    empty: "",
    uppercase: "Admin",
    "leading dot": ".admin",
    "non-ASCII letter": "admın",
    number: 7,
    missing: undefined,
  };
  for (const [what, sub] of Object.entries(odd)) {
    const result = await issue(sub === undefined ? {} : { sub });
    assert.deepEqual([result.error, result.status], ["bad_request", 400], what);
    assert.equal(result.token, undefined, what);
  }
  assert.ok((await issue({ sub: "a".repeat(64) })).token, "64 characters is the longest");
  assert.ok((await issue({ sub: "svc-1.billing_x" })).token);
});

test("auth over RPC refuses a caller-chosen lifetime or any other field", async () => {
  for (const request of [{ sub: "ok", ttl: 86400 }, { sub: "ok", ttl: 1 }, { sub: "ok", exp: 9999999999 }]) {
    const result = await issue(request);
    assert.deepEqual([result.error, result.status], ["bad_request", 400], JSON.stringify(request));
    assert.match(result.message, /TOKEN_TTL_SECONDS/);
  }
  // The open-login gateway always sent a ttl key (undefined when the body had none): the new
  // auth, uploaded first, gives it nothing, so the open door closes with that upload.
  const previous = await issue({ sub: "admin" }, "/previous-gateway");
  assert.deepEqual([previous.error, previous.status, previous.token], ["bad_request", 400, undefined]);
});

test("a clients document that fails its schema is a 500 naming the field, never a value", async () => {
  const entry = { client_id: "billing", secret_sha256: billing.entry.secret_sha256, subject: "svc.billing" };
  const cases = {
    "not JSON": [`{"clients": [${CANARY}`, "invalid_json"],
    "no clients": [JSON.stringify({ users: [CANARY] }), "missing_field"],
    "empty list": [JSON.stringify({ clients: [] }), "invalid_clients"],
    "digest not hex": [JSON.stringify({ clients: [{ ...entry, secret_sha256: CANARY }] }), "invalid_clients"],
    "a plaintext secret key": [JSON.stringify({ clients: [{ ...entry, secret: CANARY }] }), "invalid_clients"],
    "odd subject": [JSON.stringify({ clients: [{ ...entry, subject: `${CANARY}\u202e` }] }), "invalid_clients"],
    "odd client id": [JSON.stringify({ clients: [{ ...entry, client_id: ` ${CANARY}` }] }), "invalid_clients"],
    "client twice": [JSON.stringify({ clients: [entry, entry] }), "invalid_clients"],
    "undeclared top-level key": [JSON.stringify({ clients: [entry], [CANARY]: 1 }), "invalid_clients"],
  };
  try {
    for (const [what, [value, code]] of Object.entries(cases)) {
      await rt.update(description(value));
      const r = await login(billing.authorization);
      assert.equal(r.status, 500, what);
      assert.equal(r.json.error, code, what);
      assert.equal(r.json.binding, "LOGIN_CLIENTS", what);
      assert.ok(!r.text.includes(CANARY) && !r.text.includes(billing.entry.secret_sha256), `${what}: ${r.text}`);
      assert.ok(!/eyJ/.test(r.text), what);
    }
  } finally {
    await rt.update(description());
  }
  // and with no LOGIN_CLIENTS bound at all, nobody logs in
  const unbound = await login(billing.authorization, { worker: "gateway_unbound" });
  assert.deepEqual([unbound.status, unbound.json.error], [500, "binding_absent"]);
});
