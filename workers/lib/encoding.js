// Byte/text encoding helpers shared by the crypto helpers. No secrets are read here.
//
// Decoding is canonical (components/secrets_store/crypto_envelope.py decodes the same way): an input is
// accepted only when re-encoding the decoded bytes gives back exactly that input. So
// surrounding or embedded whitespace, missing or extra padding, and non-zero trailing bits
// (e.g. "QR==" for the one byte 0x41, whose canonical form is "QQ==") are all refused, and
// every byte string has exactly one accepted encoding.

const enc = new TextEncoder();
// ignoreBOM: a leading U+FEFF is kept (Python's bytes.decode("utf-8") keeps it too), so a
// BOM-prefixed JSON text is refused by JSON.parse in both languages.
const dec = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Deepest JSON nesting ([ and {) accepted from outside input (JWT header and payload). */
export const MAX_JSON_DEPTH = 16;

/** @param {string} s @returns {Uint8Array} */
export function utf8(s) {
  return enc.encode(s);
}

/** @param {ArrayBuffer|Uint8Array} b @returns {string} throws on invalid UTF-8 */
export function fromUtf8(b) {
  return dec.decode(b);
}

/** @param {ArrayBuffer|Uint8Array} bytes @returns {string} standard base64 with padding */
export function b64encode(bytes) {
  const u = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let s = "";
  for (let i = 0; i < u.length; i += 0x8000) {
    s += String.fromCharCode(...u.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const B64URL = /^[A-Za-z0-9_-]*$/;

/**
 * Canonical standard base64 (with padding) only; throws TypeError otherwise.
 * (atob alone would accept whitespace, missing padding and non-zero trailing bits.)
 * @param {string} s
 * @returns {Uint8Array}
 */
export function b64decode(s) {
  if (typeof s !== "string" || !B64.test(s)) throw new TypeError("invalid base64");
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  if (b64encode(out) !== s) throw new TypeError("non-canonical base64");
  return out;
}

/** @param {ArrayBuffer|Uint8Array} bytes @returns {string} base64url, no padding */
export function b64urlEncode(bytes) {
  return b64encode(bytes).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/**
 * Canonical base64url without padding only; throws TypeError otherwise.
 * @param {string} s
 * @returns {Uint8Array}
 */
export function b64urlDecode(s) {
  if (typeof s !== "string" || !B64URL.test(s) || s.length % 4 === 1) throw new TypeError("invalid base64url");
  const std = s.replace(/-/g, "+").replace(/_/g, "/");
  const bin = atob(std + "=".repeat((4 - (std.length % 4)) % 4));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  if (b64urlEncode(out) !== s) throw new TypeError("non-canonical base64url");
  return out;
}

/**
 * True when `text` nests arrays/objects deeper than `maxDepth`, counted without parsing:
 * `[` and `{` outside strings open a level, `]` and `}` close one. Exact for valid JSON, so
 * JSON.parse only ever sees texts it can parse without deep recursion. Same rule as
 * crypto_envelope.py `_json_too_deep`.
 * @param {string} text
 * @param {number} [maxDepth]
 */
export function jsonTooDeep(text, maxDepth = MAX_JSON_DEPTH) {
  let depth = 0;
  let inString = false;
  let escaped = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (escaped) escaped = false;
      else if (c === 0x5c) escaped = true; // backslash
      else if (c === 0x22) inString = false; // "
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) { // [ {
      if (++depth > maxDepth) return true;
    } else if ((c === 0x5d || c === 0x7d) && depth > 0) { // ] }
      depth--;
    }
  }
  return false;
}

/** @param {Uint8Array} bytes @returns {string} lowercase hex */
export function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
