// @secrets-store/rotation: the helpers that make a Secrets Store rotation zero-downtime in a
// Worker (B then F for api keys, envelopes that name their key, signatures and JWTs checked
// against B or F). Each module is also its own entry: "@secrets-store/rotation/signing", ...
export * from "./audit.js";
export * from "./clients.js";
export * from "./encoding.js";
export * from "./envelope.js";
export * from "./http.js";
export * from "./json_secret.js";
export * from "./keys.js";
export * from "./secrets.js";
export * from "./signing.js";
export * from "./subject.js";
export * from "./upstream.js";
