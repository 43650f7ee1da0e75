// Client credentials for a login endpoint (gateway.js `POST /login`), in the shape of OAuth 2.0
// client authentication (RFC 6749 §2.3.1): HTTP Basic (RFC 7617) `client_id:client_secret`,
// checked against a `json` secret that lists the clients:
//   {"clients": [{"client_id": "billing", "secret_sha256": "<64 lowercase hex>", "subject": "billing"}]}
// (schema `login_clients` in components/secrets_store/schemas.py). The subject a client gets is the one
// listed for it: whatever the request says is never read.
//
// Only SHA-256 digests of the client secrets are stored, so the document grants nothing if it
// leaks. A plain digest (no salt, no slow KDF) is sound here because a client secret is a
// generated random token of at least 32 characters (`openssl rand -hex 32`: 256 bits), not a
// password: there is nothing to guess and nothing to precompute. Shorter secrets are refused.
// An unknown client id and a wrong secret take the same path (one digest, one constant-time
// comparison) and get the same 401.

import { b64decode, fromUtf8, utf8 } from "./encoding.js";
import { readJsonSecret } from "./json_secret.js";
import { SecretError } from "./secrets.js";
import { isSubject, SUBJECT_PATTERN } from "./subject.js";

export const MIN_CLIENT_SECRET_LENGTH = 32;
export const MAX_CLIENT_SECRET_LENGTH = 256;
const MAX_AUTHORIZATION_LENGTH = 1024;
const DIGEST = /^[0-9a-f]{64}$/;
const ENTRY_KEYS = ["client_id", "secret_sha256", "subject"];
// Compared against when the client id is unknown, so that case costs what a wrong secret does.
const NO_CLIENT_DIGEST = new Uint8Array(32);

/** Raised when a request's client credentials are missing or wrong. Safe to show: one message. */
export class ClientAuthError extends SecretError {
  constructor() {
    super("client authentication failed (send HTTP Basic client_id:client_secret)", {
      code: "invalid_client",
      status: 401,
    });
  }
}

/**
 * `Authorization: Basic base64(client_id:client_secret)` -> the pair, or null when absent or
 * malformed (bad base64, not UTF-8, no colon, a secret of the wrong length).
 * @param {string | null} header
 * @returns {{ clientId: string, secret: string } | null}
 */
export function basicCredentials(header) {
  if (!header || header.length > MAX_AUTHORIZATION_LENGTH) return null;
  const match = /^basic ([A-Za-z0-9+/=]+)$/i.exec(header);
  if (!match) return null;
  let text;
  try {
    text = fromUtf8(b64decode(match[1]));
  } catch {
    return null;
  }
  const colon = text.indexOf(":");
  if (colon < 0) return null;
  const secret = text.slice(colon + 1);
  if (secret.length < MIN_CLIENT_SECRET_LENGTH || secret.length > MAX_CLIENT_SECRET_LENGTH) return null;
  return { clientId: text.slice(0, colon), secret };
}

/**
 * The clients document of a `json` secret binding, checked; errors name the field, never a value.
 * @param {import("./secrets.js").Secrets} secrets
 * @param {string} binding
 * @returns {Promise<Map<string, { digest: Uint8Array, subject: string }>>} client id -> entry
 */
export async function loadClients(secrets, binding) {
  const document = await readJsonSecret(secrets, binding, { required: ["clients"] });
  /** @param {string} what */
  const invalid = (what) =>
    new SecretError(`secret binding ${binding} is not a valid clients document: ${what}`, {
      binding, code: "invalid_clients",
    });
  const list = document.clients;
  if (!Array.isArray(list) || list.length === 0) throw invalid("clients must be a non-empty list");
  if (Object.keys(document).length !== 1) throw invalid("it has an undeclared key (only clients)");
  const clients = new Map();
  list.forEach((entry, i) => {
    const at = `clients[${i}]`;
    if (!entry || typeof entry !== "object" || Array.isArray(entry)) throw invalid(`${at} must be an object`);
    const keys = Object.keys(entry);
    if (keys.length !== ENTRY_KEYS.length || !ENTRY_KEYS.every((k) => keys.includes(k))) {
      throw invalid(`${at} must have exactly the keys ${ENTRY_KEYS.join(", ")}`);
    }
    if (!isSubject(entry.client_id)) throw invalid(`${at}.client_id must match ${SUBJECT_PATTERN.source}`);
    if (!isSubject(entry.subject)) throw invalid(`${at}.subject must match ${SUBJECT_PATTERN.source}`);
    if (typeof entry.secret_sha256 !== "string" || !DIGEST.test(entry.secret_sha256)) {
      throw invalid(`${at}.secret_sha256 must be 64 lowercase hex digits (sha256 of the client secret)`);
    }
    if (clients.has(entry.client_id)) throw invalid(`${at}.client_id is listed twice (list each client once)`);
    const digest = new Uint8Array(32);
    for (let b = 0; b < 32; b++) digest[b] = parseInt(entry.secret_sha256.slice(2 * b, 2 * b + 2), 16);
    clients.set(entry.client_id, { digest, subject: entry.subject });
  });
  return clients;
}

/**
 * Authenticate the request's client against the clients in `binding`; its listed subject.
 * Throws ClientAuthError (401) for missing or wrong credentials, SecretError (500) for a
 * clients document that is absent or invalid.
 * @param {import("./secrets.js").Secrets} secrets
 * @param {string} binding
 * @param {Request} request
 * @returns {Promise<string>} the subject
 */
export async function authenticateClient(secrets, binding, request) {
  const clients = await loadClients(secrets, binding);
  const presented = basicCredentials(request.headers.get("authorization"));
  const entry = presented ? clients.get(presented.clientId) : undefined;
  const digest = await crypto.subtle.digest("SHA-256", utf8(presented?.secret ?? ""));
  // crypto.subtle.timingSafeEqual: workerd's constant-time comparison (both sides 32 bytes).
  const match = crypto.subtle.timingSafeEqual(digest, entry?.digest ?? NO_CLIENT_DIGEST);
  if (!match || entry === undefined) throw new ClientAuthError();
  return entry.subject;
}
