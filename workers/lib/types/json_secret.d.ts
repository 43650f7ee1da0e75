/**
 * Read and parse a JSON secret; optionally require top-level fields.
 * @param {import("./secrets.js").Secrets} secrets
 * @param {string} binding
 * @param {{ required?: string[] }} [options]
 * @returns {Promise<Record<string, any>>}
 */
export function readJsonSecret(secrets: import("./secrets.js").Secrets, binding: string, options?: {
    required?: string[];
}): Promise<Record<string, any>>;
