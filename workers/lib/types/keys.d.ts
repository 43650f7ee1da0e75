/**
 * Decode a key secret value into 32 raw bytes. The error never contains the value.
 * @param {string} value
 * @param {string} binding name, for the error message
 * @returns {Uint8Array}
 */
export function decodeKey(value: string, binding: string): Uint8Array;
/**
 * Key id: hex of the first 8 bytes of SHA-256(raw).
 * @param {Uint8Array} raw
 * @returns {Promise<string>}
 */
export function keyId(raw: Uint8Array): Promise<string>;
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
export function loadKey(secrets: import("./secrets.js").Secrets, binding: string, kind: string): Promise<BoundKey>;
/**
 * Find the bound key (B first, then F if bound) whose id is `kid`; null when none matches.
 * Reads F only when B does not match.
 * @param {import("./secrets.js").Secrets} secrets
 * @param {{ binding: string, fallback?: string }} opts
 * @param {string} kind
 * @param {string} kid
 * @returns {Promise<BoundKey | null>}
 */
export function findKey(secrets: import("./secrets.js").Secrets, opts: {
    binding: string;
    fallback?: string;
}, kind: string, kid: string): Promise<BoundKey | null>;
export type BoundKey = {
    binding: string;
    kid: string;
    raw: Uint8Array;
};
