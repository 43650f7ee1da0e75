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
// JWT: a standard HS256 JWT made and checked by `jose` (vendor/jose.js, the pinned package):
//   header {"alg":"HS256","typ":"JWT","kid":"<kid>"}, HMAC key K_jwt. jose checks the MAC, the
//   algorithm and exp/nbf against the clock with the leeway (a token is expired from the
//   second exp + leeway on, RFC 7519). Before it, input hardening jose does not do, each with
//   its own code: tokens longer than 4096 characters (token_too_large), non-canonical
//   base64url or invalid UTF-8/JSON (malformed_token), JSON nested deeper than 16 levels,
//   checked before parsing (json_too_deep), a missing kid (missing_kid). After it: exp/nbf/iat
//   must be finite JSON numbers (jose takes 1e400, which parses as Infinity): invalid_exp/
//   invalid_nbf/invalid_iat; a missing exp is missing_exp. Clock leeway is 0..300 s
//   (default 30); anything else is a configuration error (invalid_leeway, status 500).
//
// Sign/issue with the primary binding B; verify against B or the fallback F (whichever
// has the kid) with constant-time WebCrypto verification. So a signature or token made
// before a key swap still verifies after it while the old key is bound as F.
// components/secrets_store/crypto_envelope.py implements the same formats (with joserfc for JWTs).

import { b64urlDecode, b64urlEncode, fromUtf8, jsonTooDeep, utf8 } from "./encoding.js";
import { findKey, loadKey } from "./keys.js";
import { rotationNames, SecretError } from "./secrets.js";
import { errors, jwtVerify, SignJWT } from "./vendor/jose.js";

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

// Derived keys by purpose and key id, per isolate: HKDF and importKey cost more than the MAC
// itself. Non-extractable CryptoKeys; a handful at most (B and F of a few secrets).
/** @type {Map<string, Promise<CryptoKey>>} */
const derived = new Map();
const MAX_DERIVED = 16;

/**
 * The HMAC-SHA256 CryptoKey of one purpose of a bound key (sign and verify).
 * @param {import("./keys.js").BoundKey} key
 * @param {"hmac"|"jwt"} purpose
 * @returns {Promise<CryptoKey>}
 */
function hmacKey(key, purpose) {
  const id = `${purpose}:${key.kid}`;
  let made = derived.get(id);
  if (!made) {
    made = purposeKeyBytes(key.raw, purpose).then((bytes) =>
      crypto.subtle.importKey("raw", bytes, { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]),
    );
    made.catch(() => derived.delete(id));
    if (derived.size >= MAX_DERIVED) derived.delete(derived.keys().next().value ?? "");
    derived.set(id, made);
  }
  return made;
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
  const sig = await crypto.subtle.sign("HMAC", await hmacKey(key, "hmac"), bytes);
  secrets.audit.emit({
    event: "secret_used", binding: key.binding, kind: KIND, op: "sign",
    duration_ms: Date.now() - start, success: true, key_id: key.kid,
  });
  return `${SIGNATURE_VERSION}.${key.kid}.${b64urlEncode(sig)}`;
}

/**
 * Audit one verification: which binding's key (if any) checked it, and how it went.
 * @param {import("./secrets.js").Secrets} secrets
 * @param {{ binding: string, fallback?: string }} opts
 * @param {string} op
 * @param {number} start
 * @param {string} kid
 * @param {import("./keys.js").BoundKey | null} key
 * @param {string | undefined} reason
 */
function auditVerification(secrets, opts, op, start, kid, key, reason) {
  secrets.audit.emit({
    event: reason ? "secret_access_failed" : "secret_used",
    binding: key?.binding ?? rotationNames(opts).binding, kind: KIND, op,
    duration_ms: Date.now() - start, success: !reason, key_id: kid, error: reason,
  });
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
  const start = Date.now();
  const key = await findKey(secrets, opts, KIND, parts[1]);
  const ok = key !== null && (await crypto.subtle.verify("HMAC", await hmacKey(key, "hmac"), sig, bytes));
  const reason = key === null ? "unknown_key_id" : ok ? undefined : "bad_signature";
  auditVerification(secrets, opts, "verify", start, parts[1], key, reason);
  return reason ? { valid: false, reason, ...(key && { binding: key.binding }) } : { valid: true, binding: key?.binding };
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
  const token = await new SignJWT(payload)
    .setProtectedHeader({ alg: "HS256", typ: "JWT", kid: key.kid })
    .sign(await hmacKey(key, "jwt"));
  if (token.length > MAX_TOKEN_LENGTH) {
    throw new SecretError("refusing to issue: token would be too large", { code: "token_too_large" });
  }
  secrets.audit.emit({
    event: "secret_used", binding: key.binding, kind: KIND, op: "issue",
    duration_ms: Date.now() - start, success: true, key_id: key.kid,
  });
  return token;
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
  const start = Date.now();
  /** @type {import("./keys.js").BoundKey | null} */
  let key = null;
  let claims;
  try {
    ({ payload: claims } = await jwtVerify(
      token,
      async () => {
        key = await findKey(secrets, opts, KIND, header.kid);
        if (!key) throw new TokenError("token was signed by a key that is no longer bound", "unknown_key_id");
        return hmacKey(key, "jwt");
      },
      {
        algorithms: ["HS256"],
        requiredClaims: ["exp"],
        clockTolerance: leeway,
        currentDate: new Date(options.now ?? Date.now()),
      },
    ));
  } catch (err) {
    const refused = joseRefusal(err);
    // The audit is about the key: a token the key did verify (expired, say) used it fine.
    const code = refused instanceof TokenError ? refused.code : "";
    const keyFailed = ["unknown_key_id", "bad_signature"].includes(code);
    auditVerification(secrets, opts, "verify_jwt", start, header.kid, key, keyFailed ? code : undefined);
    throw refused;
  }
  auditVerification(secrets, opts, "verify_jwt", start, header.kid, key, undefined);
  // jose takes any JS number, and 1e400 parses as Infinity: a token that never expires.
  checkTimeClaims(claims, (code) => new TokenError(CLAIM_MESSAGES[code], code));
  return claims;
}

/**
 * The TokenError for what jose refused (a TokenError of ours passes through).
 * @param {unknown} err
 * @returns {Error}
 */
function joseRefusal(err) {
  if (err instanceof TokenError || !(err instanceof errors.JOSEError)) return /** @type {Error} */ (err);
  if (err instanceof errors.JWSSignatureVerificationFailed) {
    return new TokenError("token signature is invalid", "bad_signature");
  }
  if (err instanceof errors.JWTExpired) return new TokenError("token expired", "token_expired");
  if (err instanceof errors.JOSEAlgNotAllowed) return new TokenError("token algorithm must be HS256", "bad_algorithm");
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === "nbf" && err.reason === "check_failed") {
      return new TokenError("token not yet valid", "token_not_yet_valid");
    }
    const code = `${err.reason === "missing" ? "missing" : "invalid"}_${err.claim}`;
    return new TokenError(CLAIM_MESSAGES[code] ?? "token claims are invalid", code);
  }
  return new TokenError("token is not a compact JWT", "malformed_token");
}
