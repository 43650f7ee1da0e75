// `signing_key` secrets: HMAC-SHA256 signatures and HS256 JWTs that carry the key id.
//
// Domain separation: the secret's raw 32 bytes are never used as a MAC key themselves. Each
// purpose gets its own key, derived with HKDF-SHA256 (RFC 5869):
//   K_purpose = HKDF-SHA256(IKM = raw key, salt = 32 zero bytes, info = ASCII label, L = 32)
//   label "secrets-store/v2/hmac"  for signatures (sign/verify)
//   label "secrets-store/v2/jwt"   for JWTs (issueJwt/verifyJwt)
// So a signature over "<header>.<payload>" (what `signer /sign` returns for any body) is not
// a JWT signature for gateway, and a JWT's signature is not a valid signature either, even
// when one secret is bound to both kinds of worker.
//
// Signature string:  v2.<kid>.<sig>
//   v2   format version (v1 = HMAC with the raw key, before the derivation; refused with
//        reason `unsupported_version`)
//   kid  key id (hex of the first 8 bytes of SHA-256(raw key), see keys.js): the secret's id,
//        not the derived key's
//   sig  canonical base64url (no padding) of HMAC-SHA256(K_hmac, UTF-8 bytes of the data)
// JWT: standard compact JWS, header {"alg":"HS256","typ":"JWT","kid":"<kid>"}, signature
//   HMAC-SHA256(K_jwt, ASCII "<header b64url>.<payload b64url>") (a standard HS256 JWT whose
//   HMAC key is K_jwt). Verification refuses, each with its own code: tokens longer than
//   4096 characters (token_too_large), non-canonical base64url or invalid UTF-8/JSON
//   (malformed_token), JSON nested deeper than 16 levels, checked before parsing
//   (json_too_deep), a missing exp (missing_exp), an exp/nbf/iat that is not a finite JSON
//   number (invalid_exp/invalid_nbf/invalid_iat). Clock leeway is 0..300 s (default 30);
//   anything else is a configuration error (invalid_leeway, status 500).
//
// Sign/issue with the primary binding B; verify against B or the fallback F (whichever
// has the kid) with crypto.subtle.verify (constant time). So a signature or token made
// before a key swap still verifies after it while the old key is bound as F.
// secrets_store/crypto_envelope.py implements the same formats.

import { b64urlDecode, b64urlEncode, fromUtf8, jsonTooDeep, utf8 } from "./encoding.js";
import { findKey, loadKey } from "./keys.js";
import { rotationNames, SecretError } from "./secrets.js";

const KIND = "signing_key";
export const SIGNATURE_VERSION = "v2";
/** HKDF info label per purpose. */
export const PURPOSES = Object.freeze({ hmac: "secrets-store/v2/hmac", jwt: "secrets-store/v2/jwt" });
const HKDF_SALT = new Uint8Array(32);
export const MAX_TOKEN_LENGTH = 4096;
export const DEFAULT_LEEWAY_SECONDS = 30;
export const MAX_LEEWAY_SECONDS = 300;
const KID = /^[0-9a-f]{16}$/;

/**
 * The per-purpose key bytes derived from a raw signing key (HKDF-SHA256, see above).
 * @param {Uint8Array} raw
 * @param {"hmac"|"jwt"} purpose
 * @returns {Promise<Uint8Array>}
 */
export async function purposeKeyBytes(raw, purpose) {
  const info = PURPOSES[purpose];
  if (!info) throw new TypeError(`unknown signing purpose ${purpose}`);
  const ikm = await crypto.subtle.importKey("raw", raw, "HKDF", false, ["deriveBits"]);
  const bits = await crypto.subtle.deriveBits(
    { name: "HKDF", hash: "SHA-256", salt: HKDF_SALT, info: utf8(info) }, ikm, 256,
  );
  return new Uint8Array(bits);
}

/** @param {Uint8Array} raw @param {"hmac"|"jwt"} purpose @param {"sign"|"verify"} usage */
async function hmacKey(raw, purpose, usage) {
  return crypto.subtle.importKey(
    "raw", await purposeKeyBytes(raw, purpose), { name: "HMAC", hash: "SHA-256" }, false, [usage],
  );
}

/**
 * Sign `data` with the primary binding's key.
 * @param {import("./secrets.js").Secrets} secrets
 * @param {{ binding: string, fallback?: string }} opts
 * @param {string | Uint8Array} data
 * @returns {Promise<string>} "v2.<kid>.<sig>"
 */
export async function sign(secrets, opts, data) {
  const names = rotationNames(opts);
  const start = Date.now();
  const key = await loadKey(secrets, names.binding, KIND);
  const bytes = typeof data === "string" ? utf8(data) : data;
  const sig = await crypto.subtle.sign("HMAC", await hmacKey(key.raw, "hmac", "sign"), bytes);
  secrets.audit.emit({
    event: "secret_used", binding: key.binding, kind: KIND, op: "sign",
    duration_ms: Date.now() - start, success: true, key_id: key.kid,
  });
  return `${SIGNATURE_VERSION}.${key.kid}.${b64urlEncode(sig)}`;
}

/**
 * @param {import("./secrets.js").Secrets} secrets
 * @param {{ binding: string, fallback?: string }} opts
 * @param {string} kid
 * @param {Uint8Array} sig
 * @param {Uint8Array} bytes
 * @param {"hmac"|"jwt"} purpose
 * @param {string} op
 * @returns {Promise<{ valid: boolean, reason?: string, binding?: string }>}
 */
async function verifyRaw(secrets, opts, kid, sig, bytes, purpose, op) {
  const start = Date.now();
  const key = await findKey(secrets, opts, KIND, kid);
  /** @type {{ valid: boolean, reason?: string, binding?: string }} */
  let result;
  if (!key) {
    result = { valid: false, reason: "unknown_key_id" };
  } else {
    const ok = await crypto.subtle.verify("HMAC", await hmacKey(key.raw, purpose, "verify"), sig, bytes);
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
 * Verify a "v2.<kid>.<sig>" signature against B or F.
 * Reasons: malformed_signature, unsupported_version (a v1 signature), unknown_key_id, bad_signature.
 * @param {import("./secrets.js").Secrets} secrets
 * @param {{ binding: string, fallback?: string }} opts
 * @param {string | Uint8Array} data
 * @param {string} signature
 * @returns {Promise<{ valid: boolean, reason?: string, binding?: string }>}
 */
export async function verify(secrets, opts, data, signature) {
  const parts = typeof signature === "string" && signature.length <= 128 ? signature.split(".") : [];
  if (parts.length === 3 && parts[0] === "v1") return { valid: false, reason: "unsupported_version" };
  if (parts.length !== 3 || parts[0] !== SIGNATURE_VERSION || !KID.test(parts[1])) {
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
  return verifyRaw(secrets, opts, parts[1], sig, bytes, "hmac", "verify");
}

/** Raised by verifyJwt for a refused token; status 401. */
export class TokenError extends SecretError {
  /** @param {string} message @param {string} code */
  constructor(message, code) {
    super(message, { code, status: 401 });
    this.name = "TokenError";
  }
}

/** @param {unknown} v @returns {v is number} */
const finite = (v) => typeof v === "number" && Number.isFinite(v);

/** @param {Record<string, unknown>} claims @param {(claim: string) => Error} bad */
function checkTimeClaims(claims, bad) {
  if (!Object.hasOwn(claims, "exp")) throw bad("missing_exp");
  if (!finite(claims.exp)) throw bad("invalid_exp");
  if (Object.hasOwn(claims, "nbf") && !finite(claims.nbf)) throw bad("invalid_nbf");
  if (Object.hasOwn(claims, "iat") && !finite(claims.iat)) throw bad("invalid_iat");
}

const CLAIM_MESSAGES = /** @type {Record<string, string>} */ ({
  missing_exp: "token has no exp claim",
  invalid_exp: "token exp claim is not a finite number",
  invalid_nbf: "token nbf claim is not a finite number",
  invalid_iat: "token iat claim is not a finite number",
});

/**
 * Issue an HS256 JWT with a kid header, signed with the primary binding's JWT key.
 * Adds iat and exp (iat + ttlSeconds) unless the claims set them; refuses (SecretError,
 * status 500) a ttl that is not a positive integer and exp/nbf/iat that are not finite numbers.
 * @param {import("./secrets.js").Secrets} secrets
 * @param {{ binding: string, fallback?: string }} opts
 * @param {Record<string, unknown>} claims
 * @param {{ ttlSeconds?: number, now?: number }} [options]
 * @returns {Promise<string>}
 */
export async function issueJwt(secrets, opts, claims, options = {}) {
  const names = rotationNames(opts);
  const ttl = options.ttlSeconds ?? 300;
  if (!Number.isSafeInteger(ttl) || ttl <= 0) {
    throw new SecretError("token ttl must be a positive integer of seconds", { code: "invalid_ttl" });
  }
  const now = Math.floor((options.now ?? Date.now()) / 1000);
  const payload = { iat: now, exp: now + ttl, ...claims };
  checkTimeClaims(payload, (code) => new SecretError(`refusing to issue: ${CLAIM_MESSAGES[code]}`, { code }));
  const payloadJson = JSON.stringify(payload);
  if (jsonTooDeep(payloadJson)) {
    throw new SecretError("refusing to issue: claims nest too deeply", { code: "json_too_deep" });
  }
  const start = Date.now();
  const key = await loadKey(secrets, names.binding, KIND);
  const head = b64urlEncode(utf8(JSON.stringify({ alg: "HS256", typ: "JWT", kid: key.kid })));
  const input = `${head}.${b64urlEncode(utf8(payloadJson))}`;
  if (input.length + 44 > MAX_TOKEN_LENGTH) {
    throw new SecretError("refusing to issue: token would be too large", { code: "token_too_large" });
  }
  const sig = await crypto.subtle.sign("HMAC", await hmacKey(key.raw, "jwt", "sign"), utf8(input));
  secrets.audit.emit({
    event: "secret_used", binding: key.binding, kind: KIND, op: "issue",
    duration_ms: Date.now() - start, success: true, key_id: key.kid,
  });
  return `${input}.${b64urlEncode(sig)}`;
}

/**
 * Decode one JSON part of a compact JWT (header or payload).
 * @param {string} part
 * @returns {unknown}
 */
function jsonPart(part) {
  let text;
  try {
    text = fromUtf8(b64urlDecode(part));
  } catch {
    throw new TokenError("token is not a compact JWT", "malformed_token");
  }
  if (jsonTooDeep(text)) throw new TokenError("token JSON nests too deeply", "json_too_deep");
  try {
    return JSON.parse(text);
  } catch {
    throw new TokenError("token is not a compact JWT", "malformed_token");
  }
}

/** @param {unknown} v @returns {v is Record<string, any>} */
const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

/**
 * Verify an HS256 JWT against B or F (by its kid) and check exp (required), nbf and iat.
 * @param {import("./secrets.js").Secrets} secrets
 * @param {{ binding: string, fallback?: string }} opts
 * @param {string} token
 * @param {{ now?: number, leewaySeconds?: number }} [options] leeway: 0..300 seconds, default 30
 * @returns {Promise<Record<string, any>>} the claims; throws TokenError (or SecretError invalid_leeway)
 */
export async function verifyJwt(secrets, opts, token, options = {}) {
  const leeway = options.leewaySeconds ?? DEFAULT_LEEWAY_SECONDS;
  if (!finite(leeway) || leeway < 0 || leeway > MAX_LEEWAY_SECONDS) {
    throw new SecretError(`JWT clock leeway must be 0..${MAX_LEEWAY_SECONDS} seconds`, { code: "invalid_leeway" });
  }
  if (typeof token !== "string") throw new TokenError("token is not a compact JWT", "malformed_token");
  if (token.length > MAX_TOKEN_LENGTH) throw new TokenError("token is too large", "token_too_large");
  const parts = token.split(".");
  if (parts.length !== 3) throw new TokenError("token is not a compact JWT", "malformed_token");
  const header = jsonPart(parts[0]);
  const payload = jsonPart(parts[1]);
  let sig;
  try {
    sig = b64urlDecode(parts[2]);
  } catch {
    throw new TokenError("token is not a compact JWT", "malformed_token");
  }
  if (!isObject(header)) throw new TokenError("token header is not a JSON object", "malformed_token");
  if (header.alg !== "HS256") throw new TokenError("token algorithm must be HS256", "bad_algorithm");
  if (typeof header.kid !== "string" || !KID.test(header.kid)) {
    throw new TokenError("token has no valid kid header", "missing_kid");
  }
  if (!isObject(payload)) throw new TokenError("token payload is not a JSON object", "malformed_token");
  if (sig.length !== 32) throw new TokenError("token signature is not 32 bytes", "malformed_token");
  const result = await verifyRaw(
    secrets, opts, header.kid, sig, utf8(`${parts[0]}.${parts[1]}`), "jwt", "verify_jwt",
  );
  if (!result.valid) {
    throw result.reason === "unknown_key_id"
      ? new TokenError("token was signed by a key that is no longer bound", "unknown_key_id")
      : new TokenError("token signature is invalid", "bad_signature");
  }
  checkTimeClaims(payload, (code) => new TokenError(CLAIM_MESSAGES[code], code));
  const now = Math.floor((options.now ?? Date.now()) / 1000);
  if (now > payload.exp + leeway) throw new TokenError("token expired", "token_expired");
  if (Object.hasOwn(payload, "nbf") && now + leeway < payload.nbf) {
    throw new TokenError("token not yet valid", "token_not_yet_valid");
  }
  return payload;
}
