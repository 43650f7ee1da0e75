/**
 * What kind of binding `name` is in `env`.
 * @param {object} env any Worker `Env` (the one `wrangler types` generates, for example)
 * @param {string} name
 * @returns {"secrets_store_secret" | "secret_text" | "absent" | "unsupported"}
 */
export function bindingType(env: object, name: string): "secrets_store_secret" | "secret_text" | "absent" | "unsupported";
/**
 * Migration helper: read a secret from either a legacy `secret_text` binding (string)
 * or a Secrets Store binding (`await binding.get()`). Throws SecretError when absent,
 * missing in the store, or empty.
 * @param {object} env any Worker `Env` (the one `wrangler types` generates, for example)
 * @param {string} name binding name
 * @returns {Promise<string>}
 */
export function readSecret(env: object, name: string): Promise<string>;
/**
 * Binding names for a rotating secret. `fallback` defaults to `${binding}_FALLBACK`.
 * @param {{ binding: string, fallback?: string }} opts
 * @returns {{ binding: string, fallback: string }}
 */
export function rotationNames(opts: {
    binding: string;
    fallback?: string;
}): {
    binding: string;
    fallback: string;
};
/**
 * @typedef {object} Secrets
 * @property {Record<string, any>} env
 * @property {import("./audit.js").Audit} audit
 * @property {(binding: string) => boolean} has true when the binding is present (either type)
 * @property {(binding: string, kind?: string) => Promise<string>} read cached per request; audits failures
 */
/**
 * Per-request secret reader with audit. Create one per request (inside fetch).
 * @param {object} env any Worker `Env` (the one `wrangler types` generates, for example)
 * @param {{ waitUntil(p: Promise<unknown>): void } | undefined} ctx
 * @param {{ worker?: string }} [options]
 * @returns {Secrets}
 */
export function createSecrets(env: object, ctx: {
    waitUntil(p: Promise<unknown>): void;
} | undefined, options?: {
    worker?: string;
}): Secrets;
/** Raised for any problem reading or using a secret. Safe to show: it never contains a value. */
export class SecretError extends Error {
    /**
     * @param {string} message human-readable, names the binding, never the value
     * @param {{ binding?: string, code?: string, status?: number }} [info]
     */
    constructor(message: string, info?: {
        binding?: string;
        code?: string;
        status?: number;
    });
    binding: string;
    code: string;
    status: number;
}
export type Secrets = {
    env: Record<string, any>;
    audit: import("./audit.js").Audit;
    /**
     * true when the binding is present (either type)
     */
    has: (binding: string) => boolean;
    /**
     * cached per request; audits failures
     */
    read: (binding: string, kind?: string) => Promise<string>;
};
