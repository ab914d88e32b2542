/**
 * rxjs is a peer dependency of wsloop/rx only: nothing outside src/loops/rx imports it,
 * so the core, the context and the other loops work without it installed.
 */
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";

const root = new URL("../..", import.meta.url).pathname;

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sources(path) : path.endsWith(".ts") ? [path] : [];
  });
}

const importsRxjs = /(?:import|export)\s[^;]*?from\s+["']rxjs(?:\/[^"']*)?["']|import\(\s*["']rxjs/;

describe("rxjs stays in src/loops/rx", () => {
  it("no source outside src/loops/rx imports rxjs", () => {
    const rxDir = join(root, "src/loops/rx");
    const offenders = sources(join(root, "src"))
      .filter((file) => !file.startsWith(rxDir))
      .filter((file) => importsRxjs.test(readFileSync(file, "utf8")))
      .map((file) => relative(root, file));
    expect(offenders).toEqual([]);
  });

  it("the rx loop's only imports of wsloop are downwards, or the transports it reuses", () => {
    const allowed = /^\.\.\/\.\.\/(core|poll)\/|^\.\.\/manual\/memory-network\.js$|^\.\.\/node\/(socket-transport|dialer)\.js$|^\.\/|^rxjs$|^node:/;
    const offenders = sources(join(root, "src/loops/rx")).flatMap((file) =>
      [...readFileSync(file, "utf8").matchAll(/from\s+["']([^"']+)["']/g)]
        .map((m) => m[1]!)
        .filter((specifier) => !allowed.test(specifier))
        .map((specifier) => `${relative(root, file)} imports ${specifier}`),
    );
    expect(offenders).toEqual([]);
  });
});
