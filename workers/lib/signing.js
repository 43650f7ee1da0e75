// `signing_key` secrets: HMAC-SHA256 signatures and HS256 JWTs that carry the key id.
//
// Signature string:  v1.<kid>.<sig>
//   kid  key id (hex of the first 8 bytes of SHA-256(raw key), see keys.js)
//   sig  base64url (no padding) of HMAC-SHA256(raw key, UTF-8 bytes of the data)
// JWT: standard compact JWS, header {"alg":"HS256","typ":"JWT","kid":"<kid>"},
//   signature HMAC-SHA256 over "<header b64url>.<payload b64url>".
//
// Sign/issue with the primary binding B; verify against B or the fallback F (whichever
// has the kid) with crypto.subtle.verify (constant time). So a signature or token made
// before a key swap still verifies after it while the old key is bound as F.
// components/crypto_envelope.py implements the same formats.

import { b64urlDecode, b64urlEncode, fromUtf8, utf8 } from "./encoding.js";
import { findKey, loadKey } from "./keys.js";
import { rotationNames, SecretError } from "./secrets.js";

const KIND = "signing_key";

/** @param {Uint8Array} raw @param {"sign"|"verify"} usage */
function hmacKey(raw, usage) {
  return crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, [usage]);
}

/**
 * Sign `data` with the primary binding's key.
 * @param {import("./secrets.js").Secrets} secrets
 * @param {{ binding: string, fallback?: string }} opts
 * @param {string | Uint8Array} data
 * @returns {Promise<string>} "v1.<kid>.<sig>"
 */
export async function sign(secrets, opts, data) {
  const names = rotationNames(opts);
  const start = Date.now();
  const key = await loadKey(secrets, names.binding, KIND);
  const bytes = typeof data === "string" ? utf8(data) : data;
  const sig = await crypto.subtle.sign("HMAC", await hmacKey(key.raw, "sign"), bytes);
  secrets.audit.emit({
    event: "secret_used", binding: key.binding, kind: KIND, op: "sign",
    duration_ms: Date.now() - start, success: true, key_id: key.kid,
  });
  return `v1.${key.kid}.${b64urlEncode(sig)}`;
}

/**
 * @param {import("./secrets.js").Secrets} secrets
 * @param {{ binding: string, fallback?: string }} opts
 * @param {string} kid
 * @param {Uint8Array} sig
 * @param {Uint8Array} bytes
 * @param {string} op
 * @returns {Promise<{ valid: boolean, reason?: string, binding?: string }>}
 */
async function verifyRaw(secrets, opts, kid, sig, bytes, op) {
  const start = Date.now();
  const key = await findKey(secrets, opts, KIND, kid);
  /** @type {{ valid: boolean, reason?: string, binding?: string }} */
  let result;
  if (!key) {
    result = { valid: false, reason: "unknown_key_id" };
  } else {
    const ok = await crypto.subtle.verify("HMAC", await hmacKey(key.raw, "verify"), sig, bytes);
    result = ok ? { valid: true, binding: key.binding } : { valid: false, reason: "bad_signature", binding: key.binding };
  }
  secrets.audit.emit({
    event: result.valid ? "secret_used" : "secret_access_failed",
    binding: key?.binding ?? rotationNames(opts).binding, kind: KIND, op,
    duration_ms: Date.now() - start, success: result.valid, key_id: kid, error: result.reason,
  });
  return result;
}

/**
 * Verify a "v1.<kid>.<sig>" signature against B or F.
 * @param {import("./secrets.js").Secrets} secrets
 * @param {{ binding: string, fallback?: string }} opts
 * @param {string | Uint8Array} data
 * @param {string} signature
 * @returns {Promise<{ valid: boolean, reason?: string, binding?: string }>}
 */
export async function verify(secrets, opts, data, signature) {
  const parts = typeof signature === "string" ? signature.trim().split(".") : [];
  if (parts.length !== 3 || parts[0] !== "v1" || !/^[0-9a-f]{16}$/.test(parts[1])) {
    return { valid: false, reason: "malformed_signature" };
  }
  let sig;
  try {
    sig = b64urlDecode(parts[2]);
  } catch {
    return { valid: false, reason: "malformed_signature" };
  }
  if (sig.length !== 32) return { valid: false, reason: "malformed_signature" };
  const bytes = typeof data === "string" ? utf8(data) : data;
  return verifyRaw(secrets, opts, parts[1], sig, bytes, "verify");
}

/** Raised by verifyJwt; status 401. */
export class TokenError extends SecretError {
  /** @param {string} message @param {string} code */
  constructor(message, code) {
    super(message, { code, status: 401 });
    this.name = "TokenError";
  }
}

/**
 * Issue an HS256 JWT with a kid header, signed with the primary binding's key.
 * Adds iat and exp (iat + ttlSeconds) unless the claims set them.
 * @param {import("./secrets.js").Secrets} secrets
 * @param {{ binding: string, fallback?: string }} opts
 * @param {Record<string, unknown>} claims
 * @param {{ ttlSeconds?: number, now?: number }} [options]
 * @returns {Promise<string>}
 */
export async function issueJwt(secrets, opts, claims, options = {}) {
  const names = rotationNames(opts);
  const start = Date.now();
  const key = await loadKey(secrets, names.binding, KIND);
  const now = Math.floor((options.now ?? Date.now()) / 1000);
  const payload = { iat: now, exp: now + (options.ttlSeconds ?? 300), ...claims };
  const head = b64urlEncode(utf8(JSON.stringify({ alg: "HS256", typ: "JWT", kid: key.kid })));
  const body = b64urlEncode(utf8(JSON.stringify(payload)));
  const input = `${head}.${body}`;
  const sig = await crypto.subtle.sign("HMAC", await hmacKey(key.raw, "sign"), utf8(input));
  secrets.audit.emit({
    event: "secret_used", binding: key.binding, kind: KIND, op: "issue",
    duration_ms: Date.now() - start, success: true, key_id: key.kid,
  });
  return `${input}.${b64urlEncode(sig)}`;
}

/**
 * Verify an HS256 JWT against B or F (by its kid) and check exp/nbf.
 * @param {import("./secrets.js").Secrets} secrets
 * @param {{ binding: string, fallback?: string }} opts
 * @param {string} token
 * @param {{ now?: number, leewaySeconds?: number }} [options]
 * @returns {Promise<Record<string, any>>} the claims; throws TokenError
 */
export async function verifyJwt(secrets, opts, token, options = {}) {
  const parts = typeof token === "string" ? token.trim().split(".") : [];
  if (parts.length !== 3) throw new TokenError("token is not a compact JWT", "malformed_token");
  let header, payload, sig;
  try {
    header = JSON.parse(fromUtf8(b64urlDecode(parts[0])));
    payload = JSON.parse(fromUtf8(b64urlDecode(parts[1])));
    sig = b64urlDecode(parts[2]);
  } catch {
    throw new TokenError("token is not a compact JWT", "malformed_token");
  }
  if (!header || header.alg !== "HS256") throw new TokenError("token algorithm must be HS256", "bad_algorithm");
  if (typeof header.kid !== "string" || !/^[0-9a-f]{16}$/.test(header.kid)) {
    throw new TokenError("token has no valid kid header", "missing_kid");
  }
  if (!payload || typeof payload !== "object" || Array.isArray(payload)) {
    throw new TokenError("token payload is not a JSON object", "malformed_token");
  }
  const result = await verifyRaw(secrets, opts, header.kid, sig, utf8(`${parts[0]}.${parts[1]}`), "verify_jwt");
  if (!result.valid) {
    throw result.reason === "unknown_key_id"
      ? new TokenError("token was signed by a key that is no longer bound", "unknown_key_id")
      : new TokenError("token signature is invalid", "bad_signature");
  }
  const now = Math.floor((options.now ?? Date.now()) / 1000);
  const leeway = options.leewaySeconds ?? 30;
  if (typeof payload.exp === "number" && now > payload.exp + leeway) throw new TokenError("token expired", "token_expired");
  if (typeof payload.nbf === "number" && now + leeway < payload.nbf) throw new TokenError("token not yet valid", "token_not_yet_valid");
  return payload;
}
