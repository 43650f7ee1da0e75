/**
 * @param {object} env any Worker `Env` (the one `wrangler types` generates, for example)
 * @param {string} [path] appended to the base (absolute paths replace the base path)
 * @returns {URL}
 */
export function upstreamUrl(env: object, path?: string): URL;
/**
 * Call the upstream with `Authorization: Bearer <key>` from the rotating api_key binding.
 * @param {import("./secrets.js").Secrets} secrets
 * @param {{ binding: string, fallback?: string }} opts
 * @param {string | URL} url
 * @param {{ method?: string, headers?: HeadersInit, body?: BodyInit | null }} [init]
 * @returns {Promise<Response>} upstream response (status and body passed through) + x-secret-fallback
 */
export function fetchWithRotation(secrets: import("./secrets.js").Secrets, opts: {
    binding: string;
    fallback?: string;
}, url: string | URL, init?: {
    method?: string;
    headers?: HeadersInit;
    body?: BodyInit | null;
}): Promise<Response>;
export const DEFAULT_UPSTREAM: "https://api.example.com";
