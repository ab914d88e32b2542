/**
 * Tests that run the built package (bin/wsloop.js, examples importing "wsloop/node")
 * need dist/ to match src/. `npm test` builds first; when a lone `vitest run` finds
 * dist/ older than src/, it is rebuilt here — once, under a lock, since test files run
 * in parallel processes.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const root = new URL("../../", import.meta.url).pathname;

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

function fresh(): boolean {
  try {
    return statSync(join(root, "dist/cli/main.js")).mtimeMs >= newestMtime(join(root, "src"));
  } catch {
    return false;
  }
}

export async function ensureDistBuilt(): Promise<void> {
  if (fresh()) return;
  const lock = join(tmpdir(), `wsloop-dist-build-${createHash("sha1").update(root).digest("hex").slice(0, 12)}.lock`);
  const started = Date.now();
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      // Another test process is building; a lock older than two minutes is stale.
      if (Date.now() - started > 120_000) rmSync(lock, { recursive: true, force: true });
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  try {
    if (fresh()) return;
    try {
      execFileSync(process.execPath, [join(root, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.build.json"], { cwd: root, stdio: "pipe" });
    } catch (error) {
      // tsc emits despite type errors (the typecheck reports those); only a missing build is fatal.
      statSync(join(root, "dist/cli/main.js"));
      console.warn(`tsc reported errors while building dist/:\n${String((error as { stdout?: Buffer }).stdout ?? error)}`);
    }
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}
