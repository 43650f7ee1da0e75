// Every helper of @secrets-store/rotation, used by a Worker whose env is typed by
// `wrangler types` (worker-configuration.d.ts): `npm test` runs tsc --strict on it against
// @cloudflare/workers-types. A helper that is not generic over Env, or not assignable to
// ExportedHandler<Env>, fails here.
import {
  ClientAuthError,
  DEFAULT_LEEWAY_SECONDS,
  DEFAULT_UPSTREAM,
  ENVELOPE_VERSION,
  MAX_CLIENT_SECRET_LENGTH,
  MAX_JSON_DEPTH,
  MAX_LEEWAY_SECONDS,
  MAX_TOKEN_LENGTH,
  MIN_CLIENT_SECRET_LENGTH,
  PURPOSES,
  SIGNATURE_VERSION,
  SUBJECT_PATTERN,
  SecretError,
  TokenError,
  authenticateClient,
  b64decode,
  b64encode,
  b64urlDecode,
  b64urlEncode,
  basicCredentials,
  bindingType,
  createAudit,
  createSecrets,
  decodeKey,
  decryptString,
  encryptString,
  errorResponse,
  fetchWithRotation,
  findKey,
  fromUtf8,
  hex,
  isSubject,
  issueJwt,
  json,
  jsonTooDeep,
  keyId,
  loadClients,
  loadKey,
  parseEnvelope,
  primaryKeyId,
  purposeKeyBytes,
  readJsonSecret,
  readSecret,
  reencrypt,
  rotationNames,
  sanitizeEvent,
  serve,
  sign,
  upstreamUrl,
  utf8,
  verify,
  verifyJwt,
  type Audit,
  type BoundKey,
  type Secrets,
} from "@secrets-store/rotation";

const signing = rotationNames({ binding: "SIGNING_KEY" });
const vault = { binding: "ENCRYPTION_KEY", fallback: "ENCRYPTION_KEY_FALLBACK" };

async function handle(request: Request, secrets: Secrets, env: Env, ctx: ExecutionContext): Promise<Response> {
  // env is the generated Env: its bindings keep their types.
  const cached: string | null = await env.CACHE.get("k");
  const viaAuth: Response = await env.AUTH.fetch("https://auth/");
  const ttl: number = Number(env.TOKEN_TTL_SECONDS);
  const audit: Audit = createAudit(env, ctx, { worker: "typed" });
  audit.emit(sanitizeEvent({ event: "typed", ok: true }));
  const kind = bindingType(env, "PRIMARY_KEY");
  const raw: string = await readSecret(env, "PRIMARY_KEY");
  const upstream: URL = upstreamUrl(env, "/v1");
  const answer: Response = await fetchWithRotation(
    secrets,
    { binding: "PRIMARY_KEY", fallback: "FALLBACK_KEY" },
    upstream,
    { method: "GET", headers: { accept: "application/json" } },
  );
  const db: Record<string, unknown> = await readJsonSecret(secrets, "DB_CONFIG", { required: ["host"] });
  const subject: string = await authenticateClient(secrets, "LOGIN_CLIENTS", request);
  const clients = await loadClients(secrets, "LOGIN_CLIENTS");
  const pair = basicCredentials(request.headers.get("authorization"));
  const token: string = await issueJwt(secrets, signing, { sub: subject }, { ttlSeconds: ttl });
  const claims: Record<string, unknown> = await verifyJwt(secrets, signing, token, {
    leewaySeconds: DEFAULT_LEEWAY_SECONDS,
  });
  const signature: string = await sign(secrets, signing, utf8("data"));
  const checked: { valid: boolean } = await verify(secrets, signing, "data", signature);
  const envelope: string = await encryptString(secrets, vault, "plain");
  const plain: string = await decryptString(secrets, vault, envelope);
  const moved: { changed: boolean } = await reencrypt(secrets, vault, envelope);
  const primary: string = await primaryKeyId(secrets, vault);
  const parsed = parseEnvelope(envelope);
  const bound: BoundKey = await loadKey(secrets, "ENCRYPTION_KEY", "encryption_key");
  const found: BoundKey | null = await findKey(secrets, vault, "encryption_key", bound.kid);
  const kid: string = await keyId(decodeKey(b64encode(bound.raw), "ENCRYPTION_KEY"));
  const derived: Uint8Array = await purposeKeyBytes(bound.raw, "hmac");
  const text: string = fromUtf8(b64decode(b64urlEncode(b64urlDecode("YQ"))));
  const deep: boolean = jsonTooDeep("[[[]]]", MAX_JSON_DEPTH);
  return json({
    cached,
    status: viaAuth.status,
    kind,
    raw: raw.length,
    answer: answer.status,
    db: Object.keys(db),
    subject: isSubject(subject) && SUBJECT_PATTERN.test(subject),
    clients: clients.size,
    pair: pair !== null,
    claims: Object.keys(claims),
    valid: checked.valid,
    plain: plain.length,
    changed: moved.changed,
    primary,
    parsed: parsed !== null,
    found: found?.kid === kid,
    derived: hex(derived).length,
    text,
    deep,
    limits: [MAX_TOKEN_LENGTH, MAX_LEEWAY_SECONDS, MIN_CLIENT_SECRET_LENGTH, MAX_CLIENT_SECRET_LENGTH],
    versions: [ENVELOPE_VERSION, SIGNATURE_VERSION, DEFAULT_UPSTREAM, Object.keys(PURPOSES).length],
  });
}

const worker = serve<Env>("typed", async (request, secrets, env, ctx) => {
  try {
    return await handle(request, secrets, env, ctx);
  } catch (err) {
    if (err instanceof TokenError || err instanceof ClientAuthError || err instanceof SecretError) {
      return errorResponse(err);
    }
    throw err;
  }
});

// The per-request reader, built directly as serve() builds it.
export function readerFor(env: Env, ctx: ExecutionContext): Secrets {
  return createSecrets(env, ctx, { worker: "typed" });
}

export default worker satisfies ExportedHandler<Env>;
