/**
 * Keep only allow-listed fields with the expected type; identifiers must be short codes.
 * @param {Record<string, unknown>} event
 * @returns {Record<string, string|number|boolean>}
 */
export function sanitizeEvent(event: Record<string, unknown>): Record<string, string | number | boolean>;
/**
 * @typedef {{ emit(event: Record<string, unknown>): void, active: boolean }} Audit
 * `active`: a sink is bound. Without one, `emit` returns at once, so callers on the hot path
 * may skip building events (and timing them) when it is false.
 */
/**
 * @param {object} env any Worker `Env` (the one `wrangler types` generates, for example)
 * @param {{ waitUntil(p: Promise<unknown>): void } | undefined} ctx
 * @param {{ worker?: string }} [options]
 * @returns {Audit}
 */
export function createAudit(env: object, ctx: {
    waitUntil(p: Promise<unknown>): void;
} | undefined, options?: {
    worker?: string;
}): Audit;
/**
 * `active`: a sink is bound. Without one, `emit` returns at once, so callers on the hot path
 * may skip building events (and timing them) when it is false.
 */
export type Audit = {
    emit(event: Record<string, unknown>): void;
    active: boolean;
};
