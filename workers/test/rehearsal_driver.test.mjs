// rehearsal_driver.mjs cleanup: on SIGTERM/SIGINT/SIGHUP or stdin EOF it disposes workerd and
// deletes its local store (which holds the secret values) before exiting.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { test } from "node:test";
import { REPO_ROOT } from "../local/index.mjs";
import { eventually, keyValue } from "../local/testkit.mjs";

const DRIVER = path.join(REPO_ROOT, "workers", "local", "rehearsal_driver.mjs");
const description = {
  workers: [{ name: "signer", main_module: "signer.js", modules_root: "workers",
    bindings: [{ type: "secrets_store_secret", name: "HMAC_SECRET", store_id: "st1", secret_name: "k" }] }],
  secrets: { st1: { k: keyValue(0x61) } },
};

/** Start the driver with TMPDIR = a fresh folder, deploy, and return it with its folder. */
async function started() {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "driver-test-"));
  const child = spawn(process.execPath, [DRIVER], { cwd: REPO_ROOT, env: { ...process.env, TMPDIR: tmp }, stdio: ["pipe", "pipe", "ignore"] });
  const lines = readline.createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  child.stdin.write(JSON.stringify({ op: "deploy", description }) + "\n");
  assert.equal(JSON.parse((await lines.next()).value).ok, true);
  const exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  return { tmp, child, exited };
}
const stores = (tmp) => fs.readdirSync(tmp).filter((n) => n.startsWith("workers-local-"));
/** Live workerd processes whose parent is `pid` (Linux /proc; [] elsewhere). */
function workerdOf(pid) {
  if (!fs.existsSync("/proc")) return [];
  return fs.readdirSync("/proc").filter((d) => /^\d+$/.test(d)).filter((d) => {
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, "utf8");
      const [state, ppid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      return state !== "Z" && Number(ppid) === pid && /workerd/.test(fs.readFileSync(`/proc/${d}/cmdline`, "latin1"));
    } catch {
      return false;
    }
  }).map(Number);
}
const gone = (pids) => eventually(() => pids.every((p) => !fs.existsSync(`/proc/${p}/stat`) || /\) Z /.test(fs.readFileSync(`/proc/${p}/stat`, "utf8"))));

for (const [sig, code] of [["SIGTERM", 143], ["SIGHUP", 129]]) {
  test(`${sig}: the driver stops workerd and deletes its store before exiting`, async () => {
    const { tmp, child, exited } = await started();
    try {
      assert.equal(stores(tmp).length, 1, "the store (secret values) lives under TMPDIR");
      const workerd = workerdOf(child.pid);
      if (fs.existsSync("/proc")) assert.equal(workerd.length, 1);
      child.kill(sig);
      assert.deepEqual(await exited, { code, signal: null });
      assert.deepEqual(stores(tmp), []);
      assert.ok(await gone(workerd), "workerd is not left running");
    } finally {
      child.kill("SIGKILL");
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
}

test("stdin EOF (the Python side died): the driver disposes and exits 0", async () => {
  const { tmp, child, exited } = await started();
  try {
    const workerd = workerdOf(child.pid);
    child.stdin.end();
    assert.deepEqual(await exited, { code: 0, signal: null });
    assert.deepEqual(stores(tmp), []);
    assert.ok(await gone(workerd), "workerd is not left running");
  } finally {
    child.kill("SIGKILL");
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
