/**
 * The per-purpose key bytes derived from a raw signing key (HKDF-SHA256, see above).
 * @param {Uint8Array} raw
 * @param {"hmac"|"jwt"} purpose
 * @returns {Promise<Uint8Array>}
 */
export function purposeKeyBytes(raw: Uint8Array, purpose: "hmac" | "jwt"): Promise<Uint8Array>;
/**
 * Sign `data` with the primary binding's key.
 * @param {import("./secrets.js").Secrets} secrets
 * @param {{ binding: string, fallback?: string }} opts
 * @param {string | Uint8Array} data
 * @returns {Promise<string>} "v2.<kid>.<sig>"
 */
export function sign(secrets: import("./secrets.js").Secrets, opts: {
    binding: string;
    fallback?: string;
}, data: string | Uint8Array): Promise<string>;
/**
 * Verify a "v2.<kid>.<sig>" signature against B or F.
 * Reasons: malformed_signature, unsupported_version (a v1 signature), unknown_key_id, bad_signature.
 * @param {import("./secrets.js").Secrets} secrets
 * @param {{ binding: string, fallback?: string }} opts
 * @param {string | Uint8Array} data
 * @param {string} signature
 * @returns {Promise<{ valid: boolean, reason?: string, binding?: string }>}
 */
export function verify(secrets: import("./secrets.js").Secrets, opts: {
    binding: string;
    fallback?: string;
}, data: string | Uint8Array, signature: string): Promise<{
    valid: boolean;
    reason?: string;
    binding?: string;
}>;
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
export function issueJwt(secrets: import("./secrets.js").Secrets, opts: {
    binding: string;
    fallback?: string;
}, claims: Record<string, unknown>, options?: {
    ttlSeconds?: number;
    now?: number;
}): Promise<string>;
/**
 * Verify an HS256 JWT against B or F (by its kid) and check exp (required), nbf and iat.
 * @param {import("./secrets.js").Secrets} secrets
 * @param {{ binding: string, fallback?: string }} opts
 * @param {string} token
 * @param {{ now?: number, leewaySeconds?: number }} [options] leeway: 0..300 seconds, default 30
 * @returns {Promise<Record<string, any>>} the claims; throws TokenError (or SecretError invalid_leeway)
 */
export function verifyJwt(secrets: import("./secrets.js").Secrets, opts: {
    binding: string;
    fallback?: string;
}, token: string, options?: {
    now?: number;
    leewaySeconds?: number;
}): Promise<Record<string, any>>;
export const SIGNATURE_VERSION: "v2";
/** HKDF info label per purpose. */
export const PURPOSES: Readonly<{
    hmac: "secrets-store/v2/hmac";
    jwt: "secrets-store/v2/jwt";
}>;
export const MAX_TOKEN_LENGTH: 4096;
export const DEFAULT_LEEWAY_SECONDS: 30;
export const MAX_LEEWAY_SECONDS: 300;
/** Raised by verifyJwt for a refused token; status 401. */
export class TokenError extends SecretError {
    /** @param {string} message @param {string} code */
    constructor(message: string, code: string);
}
import { SecretError } from "./secrets.js";
