/**
 * The layering is a rule, not a habit: src/core does no I/O and reads no clock, and
 * imports only point downwards (loops -> poll -> core). These tests read the sources.
 */
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";

const root = new URL("..", import.meta.url).pathname;

function sourcesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sourcesUnder(path));
    else if (path.endsWith(".ts")) out.push(path);
  }
  return out;
}

function importsOf(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const specifiers: string[] = [];
  for (const match of text.matchAll(/(?:import|export)\s[^;]*?from\s+["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g)) {
    specifiers.push((match[1] ?? match[2])!);
  }
  return specifiers;
}

const forbiddenInCore = /^(node:)?(net|tls|dgram|http|https|http2|timers|timers\/promises|child_process|fs|fs\/promises|worker_threads)$|^rxjs/;

describe("architecture", () => {
  const core = sourcesUnder(join(root, "src/core"));
  const poll = sourcesUnder(join(root, "src/poll"));

  it("src/core imports no I/O module, no timers and no rxjs", () => {
    const offenders = core.flatMap((file) =>
      importsOf(file)
        .filter((s) => forbiddenInCore.test(s))
        .map((s) => `${relative(root, file)} imports ${s}`),
    );
    expect(offenders).toEqual([]);
  });

  it("src/core never schedules work or reads a clock", () => {
    const clockOrTimer = /\b(setTimeout|setInterval|setImmediate|queueMicrotask|Date\.now|performance\.now|process\.hrtime)\b/;
    const offenders = core.filter((file) => clockOrTimer.test(readFileSync(file, "utf8"))).map((f) => relative(root, f));
    expect(offenders).toEqual([]);
  });

  it("src/core does not import from poll or loops", () => {
    const offenders = core.flatMap((file) =>
      importsOf(file)
        .filter((s) => /\/(poll|loops)\//.test(s) || s.startsWith("../poll") || s.startsWith("../loops"))
        .map((s) => `${relative(root, file)} imports ${s}`),
    );
    expect(offenders).toEqual([]);
  });

  it("src/poll does not import from loops, nor rxjs", () => {
    const offenders = poll.flatMap((file) =>
      importsOf(file)
        .filter((s) => s.includes("/loops/") || s.startsWith("../loops") || /^rxjs/.test(s))
        .map((s) => `${relative(root, file)} imports ${s}`),
    );
    expect(offenders).toEqual([]);
  });

  it("finds the imports it checks (the scanner itself works)", () => {
    expect(importsOf(join(root, "src/loops/node/listeners.ts"))).toContain("node:net");
    expect(core.length).toBeGreaterThan(5);
  });
});
