// `npm test`: every workers/test/*.test.mjs in one node process, so node and miniflare are
// loaded once instead of once per file (each file still starts its own workerd). One file
// alone: node --test workers/test/<name>.test.mjs
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
for (const name of fs.readdirSync(here).filter((n) => n.endsWith(".test.mjs")).sort()) {
  await import(pathToFileURL(path.join(here, name)).href);
}
