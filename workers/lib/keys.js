// Key material for `encryption_key` and `signing_key` secrets.
//
// Secret value: canonical standard base64 (with padding) of exactly 32 random bytes, i.e. 44
// characters, nothing around them: whitespace (a trailing newline) and non-zero trailing bits
// are refused, so one key has exactly one accepted value.
// Key id (kid): the first 8 bytes of SHA-256(raw key), as 16 lowercase hex characters.
// It identifies a key version without any extra config; components/secrets_store/crypto_envelope.py
// computes the same id.

import { b64decode, hex } from "./encoding.js";
import { rotationNames, SecretError } from "./secrets.js";

const KEY_B64 = /^[A-Za-z0-9+/]{43}=$/;

/**
 * Decode a key secret value into 32 raw bytes. The error never contains the value.
 * @param {string} value
 * @param {string} binding name, for the error message
 * @returns {Uint8Array}
 */
export function decodeKey(value, binding) {
  const bad = () =>
    new SecretError(
      `secret binding ${binding} does not hold a key: expected canonical standard base64 of exactly 32 bytes, no whitespace`,
      { binding, code: "invalid_key_material" },
    );
  if (typeof value !== "string" || !KEY_B64.test(value)) throw bad();
  let raw;
  try {
    raw = b64decode(value);
  } catch {
    throw bad();
  }
  if (raw.length !== 32) {
    throw new SecretError(`secret binding ${binding} does not hold a 32-byte key`, {
      binding,
      code: "invalid_key_material",
    });
  }
  return raw;
}

/**
 * Key id: hex of the first 8 bytes of SHA-256(raw).
 * @param {Uint8Array} raw
 * @returns {Promise<string>}
 */
export async function keyId(raw) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", raw));
  return hex(digest.subarray(0, 8));
}

/**
 * @typedef {{ binding: string, kid: string, raw: Uint8Array }} BoundKey
 */

/**
 * Load the key behind one binding.
 * @param {import("./secrets.js").Secrets} secrets
 * @param {string} binding
 * @param {string} kind
 * @returns {Promise<BoundKey>}
 */
export async function loadKey(secrets, binding, kind) {
  const raw = decodeKey(await secrets.read(binding, kind), binding);
  return { binding, kid: await keyId(raw), raw };
}

/**
 * Find the bound key (B first, then F if bound) whose id is `kid`; null when none matches.
 * Reads F only when B does not match.
 * @param {import("./secrets.js").Secrets} secrets
 * @param {{ binding: string, fallback?: string }} opts
 * @param {string} kind
 * @param {string} kid
 * @returns {Promise<BoundKey | null>}
 */
export async function findKey(secrets, opts, kind, kid) {
  const names = rotationNames(opts);
  const primary = await loadKey(secrets, names.binding, kind);
  if (primary.kid === kid) return primary;
  if (secrets.has(names.fallback)) {
    const fb = await loadKey(secrets, names.fallback, kind);
    if (fb.kid === kid) return fb;
  }
  return null;
}
