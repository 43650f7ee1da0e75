// `json` secrets: parse a structured secret with a clear error that never echoes the value.
// (V8's SyntaxError messages quote the input, so they are never passed on.)

import { SecretError } from "./secrets.js";

/**
 * Read and parse a JSON secret; optionally require top-level fields.
 * @param {import("./secrets.js").Secrets} secrets
 * @param {string} binding
 * @param {{ required?: string[] }} [options]
 * @returns {Promise<Record<string, any>>}
 */
export async function readJsonSecret(secrets, binding, options = {}) {
  const start = Date.now();
  const text = await secrets.read(binding, "json");
  /** @param {string} error @param {string} message */
  const fail = (error, message) => {
    secrets.audit.emit({
      event: "secret_access_failed", binding, kind: "json", op: "parse",
      duration_ms: Date.now() - start, success: false, error,
    });
    return new SecretError(message, { binding, code: error });
  };
  let value;
  try {
    value = JSON.parse(text);
  } catch {
    throw fail("invalid_json", `secret binding ${binding} does not hold valid JSON`);
  }
  if (!value || typeof value !== "object" || Array.isArray(value)) {
    throw fail("invalid_json", `secret binding ${binding} must hold a JSON object`);
  }
  for (const field of options.required ?? []) {
    if (!(field in value)) throw fail("missing_field", `secret binding ${binding} is missing field "${field}"`);
  }
  secrets.audit.emit({
    event: "secret_used", binding, kind: "json", op: "parse", duration_ms: Date.now() - start, success: true,
  });
  return value;
}
