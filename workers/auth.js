// Seed "Service Bindings Auth", the issuer: signs HS256 JWTs (with a kid header) with
// SIGNING_KEY (signing_key; fallback SIGNING_KEY_FALLBACK).
//
// Callers: tokens are issued only to Workers that hold a service binding to this one. Issuing
// is the RPC method `issueToken` of the default entrypoint (a WorkerEntrypoint class); Workers
// RPC is reachable only through a service binding, never from an HTTP request, so nothing on
// the internet (workers.dev, a route) can mint a token here. A binding holder that relays
// requests (gateway.js) must authenticate its own callers first: gateway.js does, with client
// credentials, and passes on the subject listed for the client, never one from the request.
//   env.AUTH.issueToken({sub}) -> {token} | {error, message, status}   (RPC only)
//   any HTTP request (e.g. POST /token) -> 403 {"error": "service_binding_only"}
// Defense in depth, whoever the binding holder is: `sub` must match the subject grammar
// (lib/subject.js), and the lifetime is this worker's: TOKEN_TTL_SECONDS (plain_text, optional,
// default 300, an integer 1..900; anything else answers 500 invalid_token_ttl). A request with
// any field besides `sub` (a `ttl`, say) is refused, so a caller cannot believe it chose one.
// (`cloudflare:workers` is imported for WorkerEntrypoint only; env is read per call from
// this.env, never at module scope.)

import { WorkerEntrypoint } from "cloudflare:workers";
import { json } from "./lib/http.js";
import { createSecrets, SecretError } from "./lib/secrets.js";
import { issueJwt } from "./lib/signing.js";
import { isSubject, SUBJECT_PATTERN } from "./lib/subject.js";

const KEY = { binding: "SIGNING_KEY" };
const DEFAULT_TOKEN_TTL_SECONDS = 300;
const MAX_TOKEN_TTL_SECONDS = 900;

/** The token lifetime this deployment chose (TOKEN_TTL_SECONDS), checked. */
function tokenLifetime(/** @type {Record<string, any>} */ env) {
  const raw = env.TOKEN_TTL_SECONDS;
  if (raw === undefined || raw === null || raw === "") return DEFAULT_TOKEN_TTL_SECONDS;
  const n = /^[1-9]\d{0,2}$/.test(String(raw)) ? Number(raw) : NaN;
  if (!(n <= MAX_TOKEN_TTL_SECONDS)) {
    throw new SecretError(`TOKEN_TTL_SECONDS must be an integer 1..${MAX_TOKEN_TTL_SECONDS}`, {
      binding: "TOKEN_TTL_SECONDS", code: "invalid_token_ttl",
    });
  }
  return n;
}

/** @param {string} message */
const badRequest = (message) => ({ error: "bad_request", message, status: 400 });

export default class Auth extends WorkerEntrypoint {
  /** HTTP: refused. Tokens are issued to service-binding callers only (RPC `issueToken`). */
  async fetch() {
    return json(
      {
        error: "service_binding_only",
        message: "tokens are issued only over a service binding (RPC issueToken), not over HTTP",
      },
      403,
    );
  }

  /**
   * @param {{ sub?: unknown }} request
   * @returns {Promise<{ token: string } | { error: string, message: string, status: number }>}
   */
  async issueToken(request) {
    if (!request || typeof request !== "object" || Array.isArray(request)) {
      return badRequest("issueToken takes one object, {sub}");
    }
    if (Object.keys(request).some((k) => k !== "sub")) {
      return badRequest("issueToken takes {sub} only (the lifetime is the issuer's TOKEN_TTL_SECONDS)");
    }
    if (!isSubject(request.sub)) {
      return badRequest(`sub must be a string matching ${SUBJECT_PATTERN.source}`);
    }
    try {
      const secrets = createSecrets(this.env, this.ctx, { worker: "auth" });
      const ttlSeconds = tokenLifetime(this.env);
      return { token: await issueJwt(secrets, KEY, { sub: request.sub, iss: "auth" }, { ttlSeconds }) };
    } catch (err) {
      if (err instanceof SecretError) return { error: err.code, message: err.message, status: err.status };
      return { error: "internal_error", message: "internal error", status: 500 };
    }
  }
}
