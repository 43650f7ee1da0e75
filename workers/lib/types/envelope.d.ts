/**
 * @param {string} envelope
 * @returns {{ kid: string, iv: Uint8Array, ct: Uint8Array }}
 */
export function parseEnvelope(envelope: string): {
    kid: string;
    iv: Uint8Array;
    ct: Uint8Array;
};
/**
 * Encrypt a string with the primary binding's key.
 * @param {import("./secrets.js").Secrets} secrets
 * @param {{ binding: string, fallback?: string }} opts
 * @param {string} plaintext
 * @returns {Promise<string>} envelope
 */
export function encryptString(secrets: import("./secrets.js").Secrets, opts: {
    binding: string;
    fallback?: string;
}, plaintext: string): Promise<string>;
/**
 * Decrypt with whichever bound key (B or F) wrote the envelope.
 * @param {import("./secrets.js").Secrets} secrets
 * @param {{ binding: string, fallback?: string }} opts
 * @param {string} envelope
 * @returns {Promise<string>}
 */
export function decryptString(secrets: import("./secrets.js").Secrets, opts: {
    binding: string;
    fallback?: string;
}, envelope: string): Promise<string>;
/**
 * Re-encrypt an envelope under the primary key if another key wrote it.
 * @param {import("./secrets.js").Secrets} secrets
 * @param {{ binding: string, fallback?: string }} opts
 * @param {string} envelope
 * @returns {Promise<{ envelope: string, changed: boolean, from: string, to: string }>}
 */
export function reencrypt(secrets: import("./secrets.js").Secrets, opts: {
    binding: string;
    fallback?: string;
}, envelope: string): Promise<{
    envelope: string;
    changed: boolean;
    from: string;
    to: string;
}>;
/**
 * Key id of the primary binding (useful to tell which values still need re-encryption).
 * @param {import("./secrets.js").Secrets} secrets
 * @param {{ binding: string, fallback?: string }} opts
 */
export function primaryKeyId(secrets: import("./secrets.js").Secrets, opts: {
    binding: string;
    fallback?: string;
}): Promise<string>;
export const ENVELOPE_VERSION: "v1";
