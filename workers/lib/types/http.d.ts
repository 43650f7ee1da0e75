/**
 * JSON response helper.
 * @param {unknown} body
 * @param {number} [status]
 * @param {Record<string, string>} [headers]
 */
export function json(body: unknown, status?: number, headers?: Record<string, string>): Response;
/**
 * Map an error to a safe response: SecretError (and subclasses with a `status`/`code`)
 * give their own message; anything else gives a generic 500 with no detail.
 * @param {unknown} err
 */
export function errorResponse(err: unknown): Response;
/**
 * Wrap a handler: builds the per-request Secrets (with audit) and turns errors into safe responses.
 * Generic over the Worker's `Env` (the one `wrangler types` generates): the handler gets it typed.
 * @template {object} [E=Record<string, any>]
 * @param {string} worker name used in audit events
 * @param {(request: Request, secrets: import("./secrets.js").Secrets, env: E, ctx: any) => Promise<Response>} handler
 * @returns {{ fetch(request: Request, env: E, ctx: any): Promise<Response> }}
 */
export function serve<E extends object = Record<string, any>>(worker: string, handler: (request: Request, secrets: import("./secrets.js").Secrets, env: E, ctx: any) => Promise<Response>): {
    fetch(request: Request, env: E, ctx: any): Promise<Response>;
};
