// Byte/text encoding helpers shared by the crypto helpers. No secrets are read here.

const enc = new TextEncoder();
const dec = new TextDecoder("utf-8", { fatal: true });

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

/** @param {string} s standard base64 @returns {Uint8Array} throws on invalid input */
export function b64decode(s) {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** @param {ArrayBuffer|Uint8Array} bytes @returns {string} base64url, no padding */
export function b64urlEncode(bytes) {
  return b64encode(bytes).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** @param {string} s base64url without padding @returns {Uint8Array} throws on invalid input */
export function b64urlDecode(s) {
  if (!/^[A-Za-z0-9_-]*$/.test(s) || s.length % 4 === 1) throw new TypeError("invalid base64url");
  const std = s.replace(/-/g, "+").replace(/_/g, "/");
  return b64decode(std + "=".repeat((4 - (std.length % 4)) % 4));
}

/** @param {Uint8Array} bytes @returns {string} lowercase hex */
export function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
