/**
 * `Authorization: Basic base64(client_id:client_secret)` -> the pair, or null when absent or
 * malformed (bad base64, not UTF-8, no colon, a secret of the wrong length).
 * @param {string | null} header
 * @returns {{ clientId: string, secret: string } | null}
 */
export function basicCredentials(header: string | null): {
    clientId: string;
    secret: string;
} | null;
/**
 * The clients document of a `json` secret binding, checked; errors name the field, never a value.
 * @param {import("./secrets.js").Secrets} secrets
 * @param {string} binding
 * @returns {Promise<Map<string, { digest: Uint8Array, subject: string }>>} client id -> entry
 */
export function loadClients(secrets: import("./secrets.js").Secrets, binding: string): Promise<Map<string, {
    digest: Uint8Array;
    subject: string;
}>>;
/**
 * Authenticate the request's client against the clients in `binding`; its listed subject.
 * Throws ClientAuthError (401) for missing or wrong credentials, SecretError (500) for a
 * clients document that is absent or invalid.
 * @param {import("./secrets.js").Secrets} secrets
 * @param {string} binding
 * @param {Request} request
 * @returns {Promise<string>} the subject
 */
export function authenticateClient(secrets: import("./secrets.js").Secrets, binding: string, request: Request): Promise<string>;
export const MIN_CLIENT_SECRET_LENGTH: 32;
export const MAX_CLIENT_SECRET_LENGTH: 256;
/** Raised when a request's client credentials are missing or wrong. Safe to show: one message. */
export class ClientAuthError extends SecretError {
    constructor();
}
import { SecretError } from "./secrets.js";
