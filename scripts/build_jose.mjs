#!/usr/bin/env node
// Builds workers/lib/vendor/jose.js: the parts of the pinned `jose` (package-lock.json) that
// workers/lib/signing.js uses, as one ES module, with the pinned esbuild.
// Why vendored: a plain-module Worker (no build step) is uploaded as its files, and workerd
// resolves a bare `import "jose"` relative to the importing module ("lib/jose"), never into
// node_modules; one relative module works with and without a bundler.
// `node scripts/build_jose.mjs` writes it; `--check` exits 1 when the committed file differs
// from a fresh build (npm test runs it, so the file is always exactly the pinned jose).
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const OUT = path.join(ROOT, "workers", "lib", "vendor", "jose.js");
const JOSE = path.join(ROOT, "node_modules", "jose");

export async function vendoredJose() {
  const { version } = JSON.parse(fs.readFileSync(path.join(JOSE, "package.json"), "utf8"));
  const license = fs.readFileSync(path.join(JOSE, "LICENSE.md"), "utf8").trim();
  const result = await build({
    stdin: {
      contents: 'export { SignJWT, jwtVerify, errors } from "jose";',
      resolveDir: ROOT,
      loader: "js",
    },
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    legalComments: "none",
    write: false,
  });
  const banner = [
    `// jose ${version} (https://github.com/panva/jose), the parts workers/lib/signing.js uses,`,
    "// built by scripts/build_jose.mjs with the pinned esbuild. Do not edit: rebuild it.",
    ...license.split("\n").map((line) => `// ${line}`.trimEnd()),
    "",
  ].join("\n");
  return banner + result.outputFiles[0].text;
}

const fresh = await vendoredJose();
if (process.argv.includes("--check")) {
  const committed = fs.existsSync(OUT) ? fs.readFileSync(OUT, "utf8") : "";
  if (committed !== fresh) {
    console.error(`${path.relative(ROOT, OUT)}: differs from the pinned jose (run node scripts/build_jose.mjs)`);
    process.exit(1);
  }
} else {
  fs.writeFileSync(OUT, fresh);
  console.log(`wrote ${path.relative(ROOT, OUT)} (${fresh.length} bytes)`);
}
