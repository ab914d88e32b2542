// Shared pieces of the in-process measurements: load a wsloop build, make a server
// context with the echo protocol on a fake descriptor table, and time a function by the
// process's CPU time (the minimum of several runs: noise from other work on a shared
// machine only ever adds time).
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** The wsloop build to measure: --dist DIR, else bench/build/wsloop/dist, else dist/. */
export async function loadWsloop(argv = process.argv.slice(2)) {
  const i = argv.indexOf("--dist");
  const candidates = i >= 0 ? [resolve(argv[i + 1])] : [join(root, "bench", "build", "wsloop", "dist"), join(root, "dist")];
  const dist = candidates.find((d) => existsSync(join(d, "poll", "index.js")));
  if (!dist) throw new Error(`no wsloop build in ${candidates.join(" or ")}: run npm run build (or npm run bench once)`);
  const poll = await import(join(dist, "poll", "index.js"));
  const { echoProtocol } = await import(join(dist, "demo", "echo-protocol.js"));
  return { dist, poll, echoProtocol };
}

/** A server context whose hooks remember the last descriptor added. */
export function echoContext({ poll, echoProtocol }) {
  const table = { last: -1 };
  const hooks = { add(fd) { table.last = fd; }, del() {}, changeMode() {} };
  const context = new poll.Context({ vhosts: [{ name: "default", protocols: [echoProtocol()] }], hooks });
  return { context, table };
}

/** CPU µs per operation: `op` run `n` times per run, the minimum over `runs` runs. */
export function cpuPerOp(op, { n, runs = 5, warmup = Math.ceil(n / 10) }) {
  for (let i = 0; i < warmup; i++) op();
  let best = Infinity;
  for (let r = 0; r < runs; r++) {
    const t0 = process.cpuUsage();
    for (let i = 0; i < n; i++) op();
    const t = process.cpuUsage(t0);
    best = Math.min(best, (t.user + t.system) / n);
  }
  return best;
}

export const POLLIN = 1, POLLOUT = 4, POLLHUP = 16;

/** A numeric --flag from the command line, or its default. */
export function numberArg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}
