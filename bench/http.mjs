// The HTTP scenarios of bench/run.mjs: wrk against wsloop's HTTP role, Node's http server
// and lws, each serving a FILE mount (/static/ → bench/build/http-root/) and a CALLBACK
// mount (/cb/hello). run.mjs owns the processes (pinning, start, stop); this module owns
// what is HTTP about them: the files, the servers' command lines, the check that every
// server answers correctly before it is measured, and one wrk measurement.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { Agent, get } from "node:http";
import { join } from "node:path";

const KiB = 1024, MiB = 1024 * 1024;

/** What /cb/hello answers, in all three servers. */
const HELLO = Buffer.from("hello from the callback mount\n");

/** The files of the FILE mount: name → size. */
const FILES = { "4k.bin": 4 * KiB, "1m.bin": MiB };

const CONNS = 50;

/** kind "http": run by runHttp; metric: requests per second; mb: also show body MB/s. */
export const httpScenarios = [
  { id: "http-file-4k", title: `GET 4 KiB file, ${CONNS} conns`, kind: "http", http: true, args: { path: "/static/4k.bin", file: "4k.bin", conns: CONNS }, metric: "req_per_s", unit: "req/s", mb: true },
  { id: "http-file-1m", title: `GET 1 MiB file, ${CONNS} conns`, kind: "http", http: true, args: { path: "/static/1m.bin", file: "1m.bin", conns: CONNS }, metric: "req_per_s", unit: "req/s", mb: true },
  { id: "http-callback", title: `GET callback (${HELLO.length} B), ${CONNS} conns`, kind: "http", http: true, args: { path: "/cb/hello", conns: CONNS }, metric: "req_per_s", unit: "req/s" },
];

/** The HTTP tables' references (run.mjs's refs: "ws" is the first column of the ratios). */
export const httpRefs = { ws: "node-http", lws: "lws-http" };

/**
 * The three servers. nodeServer: run.mjs's Node command line (with its GC preload);
 * wsloopDist: the dist/ of the wsloop build under test.
 */
export function httpServers({ benchDir, buildDir, nodeServer, wsloopDist }) {
  const root = httpRoot(buildDir);
  return [
    { id: "wsloop-http", label: "wsloop HTTP (node loop)", cmd: () => nodeServer(join(benchDir, "servers", "wsloop-http.mjs"), ["--root", root, "--dist", wsloopDist()]), kinds: ["http"], http: true, node: true, wsloop: true },
    { id: "node-http", label: "Node http", cmd: () => nodeServer(join(benchDir, "servers", "node-http.mjs"), ["--root", root]), kinds: ["http"], http: true, node: true },
    { id: "lws-http", label: "lws-http (C)", cmd: () => [join(buildDir, "lws-http"), "--root", root], kinds: ["http"], http: true },
  ];
}

const httpRoot = (buildDir) => join(buildDir, "http-root");
const wrkScript = (buildDir) => join(buildDir, "wrk-report.lua");

/** Body MB/s for a scenario that serves a file (1 MB = 10^6 B), else null. */
export function bodyMBps(scn, reqPerS) {
  return scn.mb && scn.args.file ? (reqPerS * FILES[scn.args.file]) / 1e6 : null;
}

/** Deterministic bytes (SHA-256 in counter mode), so that every run serves the same files. */
function fileContent(name, size) {
  const out = Buffer.alloc(size);
  for (let i = 0, off = 0; off < size; i++, off += 32) createHash("sha256").update(`wsloop-bench ${name} ${i}`).digest().copy(out, off);
  return out;
}

/** Write the served files (when missing or different) and wrk's report script into buildDir. */
export function prepareHttp(buildDir) {
  const root = httpRoot(buildDir);
  mkdirSync(root, { recursive: true });
  for (const [name, size] of Object.entries(FILES)) {
    const file = join(root, name);
    const want = fileContent(name, size);
    if (!existsSync(file) || !readFileSync(file).equals(want)) writeFileSync(file, want);
  }
  // wrk's done() hook reports what the harness needs as one line of JSON. Defining only
  // done() keeps wrk on its fast path (a static request, responses not handed to Lua).
  // os.clock() is the process's CPU time (user + system, all threads: clock()), read after
  // the load threads have finished.
  writeFileSync(wrkScript(buildDir), `-- written by bench/http.mjs
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRK {"duration_us":%d,"requests":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50_us":%d,"p99_us":%d,"cpu_s":%.6f}\\n',
    summary.duration, summary.requests, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), os.clock()))
end
`);
}

function expectedBody(buildDir, scn) {
  return scn.args.file ? readFileSync(join(httpRoot(buildDir), scn.args.file)) : HELLO;
}

/**
 * The server's answer to the scenario's request, checked twice on one kept-alive
 * connection: status 200, the body byte for byte, and the second request on the same
 * socket. Resolves with an error message, or null.
 */
export async function verifyHttp(buildDir, port, scn) {
  const want = expectedBody(buildDir, scn);
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const once = () => new Promise((resolve) => {
    const req = get({ host: "127.0.0.1", port, path: scn.args.path, agent, timeout: 10_000 }, (res) => {
      const parts = [];
      res.on("data", (c) => parts.push(c));
      res.on("end", () => resolve({ status: res.statusCode, body: Buffer.concat(parts), reused: req.reusedSocket }));
      res.on("error", (e) => resolve({ error: e.message }));
    });
    req.on("timeout", () => req.destroy(new Error("no answer in 10 s")));
    req.on("error", (e) => resolve({ error: e.message }));
  });
  try {
    for (let i = 0; i < 2; i++) {
      const r = await once();
      const what = `check of GET ${scn.args.path} (request ${i + 1})`;
      if (r.error) return `${what}: ${r.error}`;
      if (r.status !== 200) return `${what}: status ${r.status}`;
      if (!r.body.equals(want)) return `${what}: the body does not match (${r.body.length} B received, ${want.length} B expected)`;
      if (i === 1 && !r.reused) return `${what}: the connection was not kept alive`;
    }
    return null;
  } finally {
    agent.destroy();
  }
}

/**
 * One measurement: the responses are checked, wrk warms the server up for --warmup
 * seconds (rounded up: wrk takes whole seconds), then wrk runs for --duration seconds
 * pinned to core 1. The server's CPU share and the foreign load on its core are read from
 * /proc over the measured wrk's lifetime. Any socket error, timeout or non-2xx/3xx
 * response makes the run an error.
 *
 * tools: run.mjs's { pinned, stop, cpuTicks, cpuBusy, clkTck, warmup, duration, buildDir }.
 */
export async function runHttp(server, scn, tools) {
  const { pinned, stop, cpuTicks, cpuBusy, clkTck, warmup, duration, buildDir } = tools;
  const bad = await verifyHttp(buildDir, server.port, scn);
  if (bad) return { error: bad };
  const url = `http://127.0.0.1:${server.port}${scn.args.path}`;
  const wrk = (secs, report) => pinned(1, ["wrk", "-t1", `-c${scn.args.conns}`, `-d${secs}s`, "--latency", ...(report ? ["-s", wrkScript(buildDir)] : []), url]);
  const finish = async (proc, secs) => {
    const timer = setTimeout(() => stop(proc, 500), (secs + 30) * 1000);
    await proc.done;
    clearTimeout(timer);
  };

  if (warmup > 0) {
    const w = wrk(Math.ceil(warmup), false);
    await finish(w, Math.ceil(warmup));
    if (w.exited?.code !== 0) return { error: `wrk (warm-up) failed: ${(w.err || w.out).trim().split("\n").pop()}` };
  }
  const secs = Math.max(1, Math.round(duration));
  const t0 = { ticks: cpuTicks(server.pid), at: process.hrtime.bigint(), core: cpuBusy(0) };
  const gen = wrk(secs, true);
  await finish(gen, secs);
  const t1 = { ticks: cpuTicks(server.pid), at: process.hrtime.bigint(), core: cpuBusy(0) };

  const line = gen.out.split("\n").find((l) => l.startsWith("WRK {"));
  if (gen.exited?.code !== 0 || !line) return { error: `wrk failed (exit ${gen.exited?.code ?? gen.exited?.signal}): ${(gen.err || gen.out).trim().split("\n").pop()}` };
  const w = JSON.parse(line.slice(4));
  const socketErrors = w.connect + w.read + w.write + w.timeout;
  if (w.status || socketErrors) {
    return { error: `wrk saw ${w.status} non-2xx/3xx response(s) and socket errors connect ${w.connect}, read ${w.read}, write ${w.write}, timeout ${w.timeout}` };
  }
  if (!w.requests) return { error: "wrk completed no request" };
  const body = scn.args.file ? FILES[scn.args.file] : HELLO.length;
  // wrk counts a response once its parser saw the whole body; this also catches short bodies
  if (w.bytes < w.requests * body) return { error: `wrk read ${w.bytes} B for ${w.requests} responses of a ${body} B body` };

  const secsMeasured = w.duration_us / 1e6;
  const wall = Number(t1.at - t0.at) / 1e9;
  const serverShare = (t1.ticks - t0.ticks) / clkTck / wall;
  const core = (t1.core.busy - t0.core.busy) / Math.max(1, t1.core.total - t0.core.total);
  const result = {
    mode: "http",
    requests: w.requests,
    seconds: secsMeasured,
    req_per_s: w.requests / secsMeasured,
    mb_per_s: (w.requests * body) / secsMeasured / 1e6,
    read_mb_per_s: w.bytes / secsMeasured / 1e6,
    p50_us: w.p50_us,
    p99_us: w.p99_us,
    gen_cpu_share: w.cpu_s / secsMeasured,
    server_cpu_share: serverShare,
    foreign_core0_share: Math.max(0, core - serverShare),
  };
  return { result };
}
