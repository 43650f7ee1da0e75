/** @param {string} s @returns {Uint8Array} */
export function utf8(s: string): Uint8Array;
/** @param {ArrayBuffer|Uint8Array} b @returns {string} throws on invalid UTF-8 */
export function fromUtf8(b: ArrayBuffer | Uint8Array): string;
/** @param {ArrayBuffer|Uint8Array} bytes @returns {string} standard base64 with padding */
export function b64encode(bytes: ArrayBuffer | Uint8Array): string;
/**
 * Canonical standard base64 (with padding) only; throws TypeError otherwise.
 * (atob alone would accept whitespace, missing padding and non-zero trailing bits.)
 * @param {string} s
 * @returns {Uint8Array}
 */
export function b64decode(s: string): Uint8Array;
/** @param {ArrayBuffer|Uint8Array} bytes @returns {string} base64url, no padding */
export function b64urlEncode(bytes: ArrayBuffer | Uint8Array): string;
/**
 * Canonical base64url without padding only; throws TypeError otherwise.
 * @param {string} s
 * @returns {Uint8Array}
 */
export function b64urlDecode(s: string): Uint8Array;
/**
 * True when `text` nests arrays/objects deeper than `maxDepth`, counted without parsing:
 * `[` and `{` outside strings open a level, `]` and `}` close one. Exact for valid JSON, so
 * JSON.parse only ever sees texts it can parse without deep recursion. Same rule as
 * crypto_envelope.py `_json_too_deep`.
 * @param {string} text
 * @param {number} [maxDepth]
 */
export function jsonTooDeep(text: string, maxDepth?: number): boolean;
/** @param {Uint8Array} bytes @returns {string} lowercase hex */
export function hex(bytes: Uint8Array): string;
/** Deepest JSON nesting ([ and {) accepted from outside input (JWT header and payload). */
export const MAX_JSON_DEPTH: 16;
