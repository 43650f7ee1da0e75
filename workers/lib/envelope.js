// `encryption_key` secrets: AES-256-GCM envelopes that carry the key id.
//
// Envelope (an ASCII string, safe to store in KV):
//
//     v1.<kid>.<iv>.<ct>
//
//   v1   format version
//   kid  key id of the key that wrote it: hex of the first 8 bytes of SHA-256(raw key) (16 chars)
//   iv   base64url (no padding) of a fresh random 96-bit IV (12 bytes), one per value
//   ct   base64url (no padding) of AES-256-GCM ciphertext followed by the 16-byte tag
//   AAD  the ASCII bytes of "v1.<kid>" (so the header cannot be swapped onto another ciphertext)
// Parsing is exact: no surrounding whitespace, canonical base64url only (lib/encoding.js), so
// one ciphertext has one accepted spelling. The envelope holds no JSON.
//
// Rotation: encrypt always uses the primary binding B; decrypt uses whichever bound key
// (B or the fallback F) has the envelope's kid. A value stays readable while the key that
// wrote it is bound as B or F. Before the rotation finishes (F unbound), re-encrypt values
// with `reencrypt`, which decrypts with the matching key and encrypts with B.
// An unknown kid, a malformed envelope or a failed authentication is a SecretError,
// never garbage. components/secrets_store/crypto_envelope.py implements the same format.

import { b64urlDecode, b64urlEncode, fromUtf8, utf8 } from "./encoding.js";
import { findKey, loadKey } from "./keys.js";
import { rotationNames, SecretError } from "./secrets.js";

export const ENVELOPE_VERSION = "v1";
const KIND = "encryption_key";

/**
 * @param {string} envelope
 * @returns {{ kid: string, iv: Uint8Array, ct: Uint8Array }}
 */
export function parseEnvelope(envelope) {
  const bad = () =>
    new SecretError("ciphertext is not a valid v1 envelope", { code: "invalid_envelope", status: 400 });
  if (typeof envelope !== "string") throw bad();
  const parts = envelope.split(".");
  if (parts.length !== 4 || parts[0] !== ENVELOPE_VERSION || !/^[0-9a-f]{16}$/.test(parts[1])) throw bad();
  try {
    const iv = b64urlDecode(parts[2]);
    const ct = b64urlDecode(parts[3]);
    if (iv.length !== 12 || ct.length < 16) throw bad();
    return { kid: parts[1], iv, ct };
  } catch {
    throw bad();
  }
}

/**
 * @param {Uint8Array} raw
 * @param {"encrypt"|"decrypt"} usage
 */
function aesKey(raw, usage) {
  return crypto.subtle.importKey("raw", raw, { name: "AES-GCM" }, false, [usage]);
}

/**
 * @param {import("./keys.js").BoundKey} key
 * @param {Uint8Array} plaintext
 */
async function seal(key, plaintext) {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const ct = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv, additionalData: utf8(`${ENVELOPE_VERSION}.${key.kid}`) },
    await aesKey(key.raw, "encrypt"),
    plaintext,
  );
  return `${ENVELOPE_VERSION}.${key.kid}.${b64urlEncode(iv)}.${b64urlEncode(ct)}`;
}

/**
 * Encrypt a string with the primary binding's key.
 * @param {import("./secrets.js").Secrets} secrets
 * @param {{ binding: string, fallback?: string }} opts
 * @param {string} plaintext
 * @returns {Promise<string>} envelope
 */
export async function encryptString(secrets, opts, plaintext) {
  const names = rotationNames(opts);
  const start = Date.now();
  const key = await loadKey(secrets, names.binding, KIND);
  const out = await seal(key, utf8(plaintext));
  secrets.audit.emit({
    event: "secret_used", binding: key.binding, kind: KIND, op: "encrypt",
    duration_ms: Date.now() - start, success: true, key_id: key.kid,
  });
  return out;
}

/**
 * Decrypt with whichever bound key (B or F) wrote the envelope.
 * @param {import("./secrets.js").Secrets} secrets
 * @param {{ binding: string, fallback?: string }} opts
 * @param {string} envelope
 * @returns {Promise<string>}
 */
export async function decryptString(secrets, opts, envelope) {
  return (await open(secrets, opts, envelope, "decrypt")).plaintext;
}

/**
 * @param {import("./secrets.js").Secrets} secrets
 * @param {{ binding: string, fallback?: string }} opts
 * @param {string} envelope
 * @param {string} op
 * @returns {Promise<{ plaintext: string, key: import("./keys.js").BoundKey }>}
 */
async function open(secrets, opts, envelope, op) {
  const start = Date.now();
  /** @param {string} error @param {string} [binding] @param {string} [kid] */
  const fail = (error, binding, kid) =>
    secrets.audit.emit({
      event: "secret_access_failed", binding: binding ?? rotationNames(opts).binding, kind: KIND, op,
      duration_ms: Date.now() - start, success: false, error, key_id: kid,
    });
  let env;
  try {
    env = parseEnvelope(envelope);
  } catch (err) {
    fail("invalid_envelope");
    throw err;
  }
  const key = await findKey(secrets, opts, KIND, env.kid);
  if (!key) {
    fail("unknown_key_id", undefined, env.kid);
    throw new SecretError(
      `no bound key has id ${env.kid}: the key that wrote this value is no longer bound`,
      { code: "unknown_key_id", status: 409 },
    );
  }
  let pt;
  try {
    const buf = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: env.iv, additionalData: utf8(`${ENVELOPE_VERSION}.${env.kid}`) },
      await aesKey(key.raw, "decrypt"),
      env.ct,
    );
    pt = fromUtf8(buf);
  } catch {
    fail("decrypt_failed", key.binding, env.kid);
    throw new SecretError("ciphertext failed authentication (tampered or corrupted)", {
      binding: key.binding, code: "decrypt_failed", status: 400,
    });
  }
  secrets.audit.emit({
    event: "secret_used", binding: key.binding, kind: KIND, op,
    duration_ms: Date.now() - start, success: true, key_id: key.kid,
  });
  return { plaintext: pt, key };
}

/**
 * Re-encrypt an envelope under the primary key if another key wrote it.
 * @param {import("./secrets.js").Secrets} secrets
 * @param {{ binding: string, fallback?: string }} opts
 * @param {string} envelope
 * @returns {Promise<{ envelope: string, changed: boolean, from: string, to: string }>}
 */
export async function reencrypt(secrets, opts, envelope) {
  const names = rotationNames(opts);
  const primary = await loadKey(secrets, names.binding, KIND);
  const { kid } = parseEnvelope(envelope);
  if (kid === primary.kid) return { envelope, changed: false, from: kid, to: kid };
  const { plaintext } = await open(secrets, opts, envelope, "reencrypt");
  const out = await seal(primary, utf8(plaintext));
  return { envelope: out, changed: true, from: kid, to: primary.kid };
}

/**
 * Key id of the primary binding (useful to tell which values still need re-encryption).
 * @param {import("./secrets.js").Secrets} secrets
 * @param {{ binding: string, fallback?: string }} opts
 */
export async function primaryKeyId(secrets, opts) {
  return (await loadKey(secrets, rotationNames(opts).binding, KIND)).kid;
}
