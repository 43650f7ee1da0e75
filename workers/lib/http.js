// Request plumbing shared by the example workers: per-request secrets + audit,
// and error responses that never echo a value.

import { createSecrets, SecretError } from "./secrets.js";

/**
 * JSON response helper.
 * @param {unknown} body
 * @param {number} [status]
 * @param {Record<string, string>} [headers]
 */
export function json(body, status = 200, headers = {}) {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

/**
 * Map an error to a safe response: SecretError (and subclasses with a `status`/`code`)
 * give their own message; anything else gives a generic 500 with no detail.
 * @param {unknown} err
 */
export function errorResponse(err) {
  if (err instanceof SecretError) {
    return json({ error: err.code, binding: err.binding || undefined, message: err.message }, err.status);
  }
  return json({ error: "internal_error", message: "internal error" }, 500);
}

/**
 * Wrap a handler: builds the per-request Secrets (with audit) and turns errors into safe responses.
 * Generic over the Worker's `Env` (the one `wrangler types` generates): the handler gets it typed.
 * @template {object} [E=Record<string, any>]
 * @param {string} worker name used in audit events
 * @param {(request: Request, secrets: import("./secrets.js").Secrets, env: E, ctx: any) => Promise<Response>} handler
 * @returns {{ fetch(request: Request, env: E, ctx: any): Promise<Response> }}
 */
export function serve(worker, handler) {
  return {
    async fetch(request, env, ctx) {
      const secrets = createSecrets(env, ctx, { worker });
      try {
        return await handler(request, secrets, env, ctx);
      } catch (err) {
        return errorResponse(err);
      }
    },
  };
}
