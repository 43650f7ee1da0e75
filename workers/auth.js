// Seed "Service Bindings Auth", the issuer: signs HS256 JWTs (with a kid header) with
// SIGNING_KEY (signing_key; fallback SIGNING_KEY_FALLBACK).
//
// Caller authentication: tokens are issued only to Workers that hold a service binding to
// this one. Issuing is the RPC method `issueToken` of the default entrypoint (a
// WorkerEntrypoint class); Workers RPC is reachable only through a service binding, never
// from an HTTP request, so nothing on the internet (workers.dev, a route) can mint a token,
// and no extra credential has to be provisioned or rotated. The HTTP handler issues nothing:
//   env.AUTH.issueToken({sub, ttl?}) -> {token} | {error, message, status}   (RPC only)
//   any HTTP request (e.g. POST /token) -> 403 {"error": "service_binding_only"}
// (`cloudflare:workers` is imported for WorkerEntrypoint only; env is read per call from
// this.env, never at module scope.)

import { WorkerEntrypoint } from "cloudflare:workers";
import { json } from "./lib/http.js";
import { createSecrets, SecretError } from "./lib/secrets.js";
import { issueJwt } from "./lib/signing.js";

const KEY = { binding: "SIGNING_KEY" };
const MAX_SUB_LENGTH = 256;

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
   * @param {{ sub?: unknown, ttl?: unknown }} request
   * @returns {Promise<{ token: string } | { error: string, message: string, status: number }>}
   */
  async issueToken(request) {
    const secrets = createSecrets(this.env, this.ctx, { worker: "auth" });
    const sub = request?.sub;
    if (typeof sub !== "string" || !sub || sub.length > MAX_SUB_LENGTH) {
      return { error: "bad_request", message: `sub is required (a string of 1..${MAX_SUB_LENGTH} chars)`, status: 400 };
    }
    const ttl = request?.ttl;
    const ttlSeconds = Number.isInteger(ttl) && ttl > 0 && ttl <= 86400 ? ttl : 300;
    try {
      return { token: await issueJwt(secrets, KEY, { sub, iss: "auth" }, { ttlSeconds }) };
    } catch (err) {
      if (err instanceof SecretError) return { error: err.code, message: err.message, status: err.status };
      return { error: "internal_error", message: "internal error", status: 500 };
    }
  }
}
