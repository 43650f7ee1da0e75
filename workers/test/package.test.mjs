// workers/lib as an npm package: `npm pack` of it installs into another Worker project, whose
// code imports the helpers through the package's `exports` (in Node, and type-checked by tsc
// against the shipped .d.ts); the committed declarations are what tsc generates today; and
// JWTs made by the package (jose inside) verify with jose from npm, and the reverse.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { REPO_ROOT } from "../local/index.mjs";
import { keyValue } from "../local/testkit.mjs";

const LIB = path.join(REPO_ROOT, "workers", "lib");
const TSC = path.join(REPO_ROOT, "node_modules", "typescript", "bin", "tsc");
const run = (cmd, args, cwd) => execFileSync(cmd, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

test("npm pack: the tarball installs into another project, which imports it through exports", () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "rotation-pack-"));
  try {
    const tarball = run("npm", ["pack", LIB, "--pack-destination", tmp, "--silent"], tmp).trim().split("\n").at(-1);
    const project = path.join(tmp, "their-worker");
    fs.mkdirSync(project);
    fs.writeFileSync(path.join(project, "package.json"), JSON.stringify({ name: "their-worker", private: true, type: "module" }));
    run("npm", ["install", "--offline", "--no-audit", "--no-fund", path.join(tmp, tarball)], project);
    const installed = path.join(project, "node_modules", "@secrets-store", "rotation");
    // What ships: the modules, the vendored jose, the declarations; not the tsconfigs
    for (const file of ["index.js", "signing.js", "vendor/jose.js", "types/signing.d.ts", "types/index.d.ts"]) {
      assert.ok(fs.existsSync(path.join(installed, file)), file);
    }
    assert.ok(!fs.existsSync(path.join(installed, "tsconfig.json")));
    // Their code, in TypeScript, type-checks against the shipped declarations...
    fs.writeFileSync(
      path.join(project, "worker.ts"),
      [
        'import { serve, json } from "@secrets-store/rotation/http";',
        'import { issueJwt, verifyJwt, TokenError } from "@secrets-store/rotation/signing";',
        'import { createSecrets } from "@secrets-store/rotation";',
        "export default serve(\"theirs\", async (request, secrets) => {",
        '  const token: string = await issueJwt(secrets, { binding: "JWT_KEY" }, { sub: "a" });',
        '  const claims = await verifyJwt(secrets, { binding: "JWT_KEY" }, token, { leewaySeconds: 5 });',
        "  return json({ sub: claims.sub, isError: new TokenError(\"x\", \"y\") instanceof Error });",
        "});",
        "export const make = createSecrets;",
        "",
      ].join("\n"),
    );
    const tsconfig = { compilerOptions: { noEmit: true, strict: true, module: "es2022", moduleResolution: "bundler", target: "es2022", lib: ["es2023", "webworker"], types: [] }, files: ["worker.ts"] };
    fs.writeFileSync(path.join(project, "tsconfig.json"), JSON.stringify(tsconfig));
    run(process.execPath, [TSC, "-p", project], project);
    // ...and a wrong use of them does not
    fs.appendFileSync(path.join(project, "worker.ts"), 'issueJwt(null as never, { binding: 1 }, {});\n');
    assert.throws(
      () => run(process.execPath, [TSC, "-p", project], project),
      (/** @type {any} */ err) => /worker\.ts.*TS2322.*number.*string/s.test(err.stdout),
    );
    // In Node, through exports: the helpers, with jose inside
    const out = run(
      process.execPath,
      ["--input-type=module", "-e", [
        'import { issueJwt, verifyJwt } from "@secrets-store/rotation/signing";',
        'import { createSecrets } from "@secrets-store/rotation/secrets";',
        `const env = { K: ${JSON.stringify(keyValue(7))} };`,
        'const secrets = createSecrets(env, { waitUntil() {} }, { worker: "t" });',
        'const token = await issueJwt(secrets, { binding: "K" }, { sub: "node" });',
        'console.log((await verifyJwt(secrets, { binding: "K" }, token)).sub);',
      ].join("\n")],
      project,
    );
    assert.equal(out.trim(), "node");
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test("the committed declarations are what tsc makes from the modules' JSDoc today", () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "rotation-types-"));
  try {
    run(process.execPath, [TSC, "-p", LIB, "--declarationDir", tmp], REPO_ROOT);
    const made = fs.readdirSync(tmp).filter((f) => f.endsWith(".d.ts")).sort();
    const committed = fs.readdirSync(path.join(LIB, "types")).sort();
    assert.deepEqual(committed, made);
    for (const file of made) {
      assert.equal(
        fs.readFileSync(path.join(LIB, "types", file), "utf8"),
        fs.readFileSync(path.join(tmp, file), "utf8"),
        `workers/lib/types/${file} is stale: run npm run build:types`,
      );
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test("JWTs of the package verify with jose from npm, and jose's verify with the package", async () => {
  const jose = await import("jose");
  const { issueJwt, verifyJwt, purposeKeyBytes } = await import("../lib/signing.js");
  const { createSecrets } = await import("../lib/secrets.js");
  const { decodeKey, keyId } = await import("../lib/keys.js");
  const value = keyValue(9);
  const raw = decodeKey(value, "K");
  const secret = await purposeKeyBytes(raw, "jwt");
  const secrets = createSecrets({ K: value }, { waitUntil() {} }, { worker: "t" });
  const ours = await issueJwt(secrets, { binding: "K" }, { sub: "ours" });
  const { payload, protectedHeader } = await jose.jwtVerify(ours, secret, { algorithms: ["HS256"] });
  assert.deepEqual([payload.sub, protectedHeader.kid], ["ours", await keyId(raw)]);
  const theirs = await new jose.SignJWT({ sub: "theirs" })
    .setProtectedHeader({ alg: "HS256", typ: "JWT", kid: await keyId(raw) })
    .setIssuedAt()
    .setExpirationTime("5m")
    .sign(secret);
  assert.equal((await verifyJwt(secrets, { binding: "K" }, theirs)).sub, "theirs");
});
