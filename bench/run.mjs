#!/usr/bin/env node
// wsloop's benchmark harness (`npm run bench`): wsloop beside ws and libwebsockets, in one run.
//
//   node bench/run.mjs [--runs 3] [--duration 5] [--warmup 1] [--quick] [--idle-conns 10000]
//                      [--servers id,id] [--scenarios id,id] [--no-install] [--no-build]
//                      [--write | --no-write] [--list] [--nice -10] [--max-foreign 0.25] [--retries 2]
//                      [--compare REV]
//
// It installs what it needs (gcc, libwebsockets-dev and wrk with apt-get when missing; ws
// and bufferutil into bench/node_modules), builds bench/loadgen.c, bench/lws-echo.c and
// bench/lws-http.c into bench/build/, builds wsloop from src/ into bench/build/wsloop/ (so
// a concurrent `npm run build` cannot change the code under test mid-run; --no-build uses
// bin/wsloop.js and dist/ as they are), then runs every scenario against every server: the server
// pinned to core 0 and the load generator to core 1 (taskset), each figure the median of
// --runs runs with min–max, servers interleaved within each run. It prints the tables and
// writes docs/performance.md (between its bench markers; text outside them is kept) and
// bench/build/results.json. --quick is a smoke check: 1 run of 2 s, fewer scenarios, and
// it does not touch docs/performance.md unless --write is given. The HTTP scenarios (wrk
// against wsloop's HTTP role, node:http and lws; a FILE and a CALLBACK mount) are in
// bench/http.mjs. --compare REV adds servers was-node, was-rx and was-manual: wsloop as
// it was at git revision REV, built into bench/build/compare/REV/ and interleaved with the
// current build — the way to measure a change against its parent on this noisy machine.
import { spawn, spawnSync, execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, copyFileSync } from "node:fs";
import { cpus, tmpdir, totalmem } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { setTimeout as sleep } from "node:timers/promises";
import { bodyMBps, httpRefs, httpScenarios, httpServers, prepareHttp, runHttp } from "./http.mjs";

const benchDir = dirname(fileURLToPath(import.meta.url));
const root = dirname(benchDir);
const buildDir = join(benchDir, "build");

let opts;
try {
  ({ values: opts } = parseArgs({
  options: {
    runs: { type: "string" },
    duration: { type: "string" },
    warmup: { type: "string" },
    quick: { type: "boolean" },
    "idle-conns": { type: "string" },
    servers: { type: "string" },
    scenarios: { type: "string" },
    install: { type: "boolean", default: true },
    "no-install": { type: "boolean" },
    "no-build": { type: "boolean" },
    write: { type: "boolean" },
    "no-write": { type: "boolean" },
    list: { type: "boolean" },
    nice: { type: "string" },
    "max-foreign": { type: "string" },
    retries: { type: "string" },
    compare: { type: "string" },
    help: { type: "boolean", short: "h" },
  },
}));
} catch (error) {
  process.stderr.write(`bench: ${error.message} (node bench/run.mjs --help lists the options)\n`);
  process.exit(2);
}
if (opts.help) {
  // The usage is this file's opening comment.
  const text = readFileSync(fileURLToPath(import.meta.url), "utf8").split("\n").slice(1);
  const end = text.findIndex((line) => !line.startsWith("//"));
  process.stdout.write(text.slice(0, end).map((line) => line.replace(/^\/\/ ?/, "")).join("\n") + "\n");
  process.exit(0);
}
const quick = Boolean(opts.quick);
const runs = Number(opts.runs ?? (quick ? 1 : 3));
const duration = Number(opts.duration ?? (quick ? 2 : 5));
const warmup = Number(opts.warmup ?? (quick ? 0.5 : 1));
const idleConnsWanted = Number(opts["idle-conns"] ?? (quick ? 2000 : 10000));
const writeDoc = opts["no-write"] ? false : opts.write ? true : !quick && opts.compare === undefined;
// A shared machine: both sides run at a raised priority (when allowed), and a throughput
// measurement during which other work took more than --max-foreign of the server's core is
// repeated (up to --retries times; the attempt with the least foreign load is kept).
const niceness = Number(opts.nice ?? -10);
const maxForeign = Number(opts["max-foreign"] ?? 0.25);
const retries = Number(opts.retries ?? (quick ? 0 : 2));

// ---------------------------------------------------------------- scenarios and servers

const KiB = 1024, MiB = 1024 * 1024;
/** kind: echo | handshake | idle; metric: the loadgen field the table shows. */
const scenarios = [
  { id: "echo-32", title: "32 B text 50×16", kind: "echo", args: { conns: 50, size: 32, type: "text", depth: 16 }, metric: "msgs_per_s", unit: "msg/s" },
  { id: "echo-4k", title: "4 KiB bin 50×4", kind: "echo", args: { conns: 50, size: 4 * KiB, type: "binary", depth: 4 }, metric: "msgs_per_s", unit: "msg/s" },
  { id: "echo-1m", title: "1 MiB bin 4×2", kind: "echo", args: { conns: 4, size: MiB, type: "binary", depth: 2 }, metric: "mb_per_s", unit: "MB/s" },
  { id: "echo-16m", title: "16 MiB bin 1×1", kind: "echo", args: { conns: 1, size: 16 * MiB, type: "binary", depth: 1 }, metric: "mb_per_s", unit: "MB/s" },
  { id: "handshake", title: "handshakes, 8 workers", kind: "handshake", args: { workers: 8 }, metric: "per_s", unit: "/s" },
  { id: "idle", title: "idle conns: RSS/conn", kind: "idle", args: {}, metric: "bytes_per_conn", unit: "B/conn", lowerIsBetter: true },
  { id: "z-32", title: "deflate 32 B text 50×16", kind: "echo", deflate: true, args: { conns: 50, size: 32, type: "text", depth: 16 }, metric: "msgs_per_s", unit: "msg/s" },
  { id: "z-4k", title: "deflate 4 KiB 50×4", kind: "echo", deflate: true, args: { conns: 50, size: 4 * KiB, type: "binary", depth: 4 }, metric: "msgs_per_s", unit: "msg/s" },
  { id: "z-1m", title: "deflate 1 MiB 4×2", kind: "echo", deflate: true, args: { conns: 4, size: MiB, type: "binary", depth: 2 }, metric: "mb_per_s", unit: "MB/s" },
  { id: "z-idle", title: "deflate 1k conns, 1 msg each: RSS/conn", kind: "idle", deflate: true, args: { conns: 1000, prime: 4 * KiB }, metric: "bytes_per_conn", unit: "B/conn", lowerIsBetter: true },
  ...httpScenarios,
];
const quickScenarios = ["echo-32", "echo-4k", "echo-1m", "handshake", "idle", "z-4k", "http-file-4k"];

const node = process.execPath;
const gcPreload = join(benchDir, "servers", "gc-signal.mjs");
const nodeServer = (script, args = []) => [node, "--expose-gc", "--import", gcPreload, script, ...args];
let wsloopBin = join(buildDir, "wsloop", "bin", "wsloop.js");
if (opts["no-build"]) wsloopBin = join(root, "bin", "wsloop.js");

const compareRev = opts.compare ?? null;
if (compareRev !== null && !/^[\w./-]+$/.test(compareRev)) throw new Error(`--compare: "${compareRev}" is not a git revision name`);
const compareDir = compareRev === null ? "" : join(buildDir, "compare", compareRev.replace(/[^\w.-]/g, "_"));

/** kinds: what the server can serve; deflate: serves only the compressed scenarios. */
const servers = [
  { id: "ws", label: "ws", cmd: () => nodeServer(join(benchDir, "servers", "ws-echo.mjs")), env: { WS_NO_BUFFER_UTIL: "1" }, kinds: ["echo", "handshake", "idle"], node: true },
  { id: "ws-bufferutil", label: "ws + bufferutil", cmd: () => nodeServer(join(benchDir, "servers", "ws-echo.mjs")), kinds: ["echo", "handshake", "idle"], node: true },
  { id: "lws", label: "lws-echo (C)", cmd: () => [join(buildDir, "lws-echo")], kinds: ["echo", "handshake", "idle"] },
  { id: "bare-node", label: "bare Node socket (floor)", cmd: () => nodeServer(join(benchDir, "servers", "bare-hold.mjs")), kinds: ["idle"], node: true },
  { id: "bare-echo", label: "bare Node echo (ceiling)", cmd: () => nodeServer(join(benchDir, "servers", "bare-echo.mjs")), kinds: ["echo", "handshake"], node: true },
  ...["node", "rx", "manual"].map((loop) => ({
    id: `wsloop-${loop}`, label: `wsloop --loop ${loop}`, cmd: () => nodeServer(wsloopBin, ["echo", "--loop", loop]), kinds: ["echo", "handshake", "idle"], node: true, wsloop: true,
  })),
  { id: "ws-deflate", label: "ws perMessageDeflate", cmd: () => nodeServer(join(benchDir, "servers", "ws-echo.mjs"), ["--deflate"]), env: { WS_NO_BUFFER_UTIL: "1" }, kinds: ["echo", "idle"], deflate: true, node: true },
  { id: "lws-deflate", label: "lws-echo permessage-deflate", cmd: () => [join(buildDir, "lws-echo"), "--deflate"], kinds: ["echo", "idle"], deflate: true },
  ...["node", "rx", "manual"].map((loop) => ({
    id: `wsloop-${loop}-deflate`, label: `wsloop --loop ${loop} --deflate`, cmd: () => nodeServer(wsloopBin, ["echo", "--loop", loop, "--deflate"]), kinds: ["echo", "idle"], deflate: true, node: true, wsloop: true,
  })),
  ...(compareRev === null ? [] : ["node", "rx", "manual"].map((loop) => ({
    id: `was-${loop}`, label: `wsloop --loop ${loop} @ ${compareRev}`, cmd: () => nodeServer(join(compareDir, "bin", "wsloop.js"), ["echo", "--loop", loop]), kinds: ["echo", "handshake", "idle"], node: true, wsloop: true,
  }))),
  ...httpServers({ benchDir, buildDir, nodeServer, wsloopDist: () => join(dirname(dirname(wsloopBin)), "dist") }),
];
const refs = { plain: { ws: "ws", lws: "lws" }, deflate: { ws: "ws-deflate", lws: "lws-deflate" }, http: httpRefs };

if (opts.list) {
  console.log("scenarios:", scenarios.map((s) => s.id).join(", "));
  console.log("servers:  ", servers.map((s) => s.id).join(", "));
  process.exit(0);
}

const pick = (list, csv, fallback) => {
  if (!csv) return fallback ? list.filter((x) => fallback.includes(x.id)) : list;
  const ids = csv.split(",").map((s) => s.trim());
  for (const id of ids) if (!list.some((x) => x.id === id)) throw new Error(`unknown id "${id}" (see --list)`);
  return list.filter((x) => ids.includes(x.id));
};
const activeScenarios = pick(scenarios, opts.scenarios, quick ? quickScenarios : null);
const activeServers = pick(servers, opts.servers);

// ---------------------------------------------------------------- setup

const log = (...a) => console.error("[bench]", ...a);
const sh = (cmd, args, o = {}) => execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], ...o }).trim();
const trySh = (cmd, args, o) => { try { return sh(cmd, args, o); } catch { return null; } };

function ensureSystemPackages() {
  const missing = [];
  if (!trySh("sh", ["-c", "command -v gcc"])) missing.push("gcc");
  if (!existsSync("/usr/include/libwebsockets.h")) missing.push("libwebsockets-dev");
  if (!existsSync("/usr/include/zlib.h")) missing.push("zlib1g-dev");
  if (!trySh("sh", ["-c", "command -v taskset"])) missing.push("util-linux");
  if (!trySh("sh", ["-c", "command -v pkg-config"])) missing.push("pkg-config");
  if (!trySh("sh", ["-c", "command -v wrk"])) missing.push("wrk");
  if (!missing.length) return;
  if (!opts.install || opts["no-install"]) throw new Error(`missing: ${missing.join(" ")} (apt-get install them, or drop --no-install)`);
  log(`apt-get install ${missing.join(" ")}`);
  const asRoot = process.getuid?.() === 0 ? [] : ["sudo"];
  const run = (args) => spawnSync(asRoot.length ? "sudo" : args[0], asRoot.length ? args : args.slice(1), { stdio: "inherit", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
  if (run(["apt-get", "install", "-y", ...missing]).status !== 0) {
    run(["apt-get", "update"]);
    if (run(["apt-get", "install", "-y", ...missing]).status !== 0) throw new Error(`apt-get install ${missing.join(" ")} failed`);
  }
}

function ensureNodePackages() {
  const pkg = join(benchDir, "package.json");
  if (!existsSync(pkg)) writeFileSync(pkg, JSON.stringify({ name: "wsloop-bench", private: true, type: "module" }, null, 2) + "\n");
  const have = existsSync(join(benchDir, "node_modules", "ws")) && existsSync(join(benchDir, "node_modules", "bufferutil"));
  if (opts["no-install"] && have) return;
  log("npm install --prefix bench ws@latest bufferutil@latest");
  const r = spawnSync("npm", ["install", "--prefix", benchDir, "ws@latest", "bufferutil@latest", "--no-audit", "--no-fund", "--loglevel=error"], { stdio: ["ignore", "inherit", "inherit"] });
  if (r.status !== 0) {
    if (have) log("npm install failed; using the ws and bufferutil already in bench/node_modules");
    else throw new Error("npm install --prefix bench ws bufferutil failed");
  }
}

function buildC() {
  mkdirSync(buildDir, { recursive: true });
  const lwsFlags = (trySh("pkg-config", ["--cflags", "--libs", "libwebsockets"]) ?? "-lwebsockets").split(/\s+/).filter(Boolean);
  log("gcc -O2 bench/loadgen.c, bench/lws-echo.c, bench/lws-http.c");
  sh("gcc", ["-O2", "-Wall", "-o", join(buildDir, "loadgen"), join(benchDir, "loadgen.c"), "-lz"]);
  sh("gcc", ["-O2", "-Wall", "-o", join(buildDir, "lws-echo"), join(benchDir, "lws-echo.c"), ...lwsFlags]);
  sh("gcc", ["-O2", "-Wall", "-o", join(buildDir, "lws-http"), join(benchDir, "lws-http.c"), ...lwsFlags]);
}

function buildWsloop() {
  if (opts["no-build"]) {
    if (!existsSync(join(root, "dist", "cli", "main.js"))) throw new Error("--no-build: dist/ is missing; run npm run build");
    return;
  }
  const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
  if (!existsSync(tsc)) throw new Error("typescript is not installed: run npm install in the repository first");
  const out = join(buildDir, "wsloop");
  log(`tsc -p tsconfig.build.json --outDir ${relative(root, out)}/dist`);
  const r = spawnSync(node, [tsc, "-p", join(root, "tsconfig.build.json"), "--outDir", join(out, "dist"), "--declaration", "false", "--sourceMap", "false", "--incremental", "false"], { cwd: root, encoding: "utf8" });
  if (r.status !== 0) {
    if (!existsSync(join(out, "dist", "cli", "main.js"))) throw new Error(`building wsloop failed:\n${r.stdout}${r.stderr}`);
    log(`tsc reported errors (benchmarking what it emitted):\n${(r.stdout + r.stderr).split("\n").slice(0, 10).join("\n")}`);
  }
  mkdirSync(join(out, "bin"), { recursive: true });
  copyFileSync(join(root, "bin", "wsloop.js"), join(out, "bin", "wsloop.js"));
  writeFileSync(join(out, "package.json"), JSON.stringify({ name: "wsloop-under-test", private: true, type: "module" }) + "\n");
}

/**
 * wsloop at --compare's revision: its tree from git, in a temporary directory (inside the
 * repository its sources and tests would join the repository's own typecheck), compiled
 * with its own tsconfig; only dist/ and bin/ are kept.
 */
function buildCompare() {
  if (compareRev === null) return;
  const tree = mkdtempSync(join(tmpdir(), "wsloop-compare-"));
  const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
  log(`--compare ${compareRev}: git archive, tsc into ${relative(root, compareDir)}/dist`);
  try {
    rmSync(compareDir, { recursive: true, force: true });
    execFileSync("sh", ["-c", 'git -C "$1" archive "$2" | tar -x -C "$3"', "sh", root, compareRev, tree], { stdio: ["ignore", "ignore", "pipe"] });
    // Its types (node, rxjs) from the repository's packages; at run time dist/ finds them above it.
    symlinkSync(join(root, "node_modules"), join(tree, "node_modules"));
    const r = spawnSync(node, [tsc, "-p", join(tree, "tsconfig.build.json"), "--outDir", join(compareDir, "dist"), "--declaration", "false", "--sourceMap", "false", "--incremental", "false"], { cwd: tree, encoding: "utf8" });
    if (!existsSync(join(compareDir, "dist", "cli", "main.js"))) throw new Error(`building wsloop at ${compareRev} failed:\n${r.stdout}${r.stderr}`);
    mkdirSync(join(compareDir, "bin"), { recursive: true });
    copyFileSync(join(tree, "bin", "wsloop.js"), join(compareDir, "bin", "wsloop.js"));
    writeFileSync(join(compareDir, "package.json"), JSON.stringify({ name: "wsloop-compared", private: true, type: "module" }) + "\n");
  } finally {
    rmSync(tree, { recursive: true, force: true });
  }
}

function fdLimitShell() {
  // the children raise their own soft limit to what the hard limit allows; root may lift both
  return "ulimit -n 65536 2>/dev/null || ulimit -n $(ulimit -Hn) 2>/dev/null; ";
}

function maxFds() {
  return Number(trySh("sh", ["-c", `${fdLimitShell()} ulimit -n`]) ?? 1024);
}

function versions() {
  const read = (p) => { try { return JSON.parse(readFileSync(p, "utf8")).version; } catch { return "?"; } };
  const commit = trySh("git", ["-C", root, "rev-parse", "--short", "HEAD"]) ?? "?";
  const dirty = trySh("git", ["-C", root, "status", "--porcelain", "--", "src", "bin"]);
  const cpuModel = (readFileSync("/proc/cpuinfo", "utf8").match(/model name\s*:\s*(.*)/) ?? [])[1] ?? cpus()[0]?.model ?? "?";
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    node: process.version,
    ws: read(join(benchDir, "node_modules", "ws", "package.json")),
    bufferutil: read(join(benchDir, "node_modules", "bufferutil", "package.json")),
    lws: trySh("pkg-config", ["--modversion", "libwebsockets"]) ?? "?",
    lwsPackage: trySh("dpkg-query", ["-W", "-f", "${Version}", "libwebsockets-dev"]) ?? "?",
    zlib: trySh("sh", ["-c", "dpkg-query -W -f '${Version}' zlib1g"]) ?? "?",
    gcc: (trySh("gcc", ["--version"]) ?? "?").split("\n")[0],
    wsloop: `${read(join(root, "package.json"))} @ ${commit}${dirty ? " + uncommitted changes in src/" : ""}`,
    wsloopBuild: opts["no-build"] ? "bin/wsloop.js with dist/ as it was" : "src/ compiled into bench/build/wsloop at the start of the run",
    nproc: trySh("nproc", []) ?? String(cpus().length),
    cpu: cpuModel,
    memGiB: (totalmem() / 2 ** 30).toFixed(1),
    kernel: trySh("uname", ["-r"]) ?? "?",
    os: (trySh("sh", ["-c", ". /etc/os-release && echo $PRETTY_NAME"]) ?? "?"),
  };
}

// ---------------------------------------------------------------- processes

let nextPort = 17100 + Math.floor(Math.random() * 400);
const port = () => { nextPort = nextPort >= 17900 ? 17100 : nextPort + 1; return nextPort; };
const clkTck = Number(trySh("getconf", ["CLK_TCK"]) ?? 100);

function cpuTicks(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(f[11]) + Number(f[12]); // utime + stime (fields 14 and 15)
  } catch { return NaN; }
}
/** Process-context busy and total jiffies of one CPU from /proc/stat. */
function cpuBusy(core) {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n").find((l) => l.startsWith(`cpu${core} `));
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    const total = f.reduce((a, b) => a + b, 0);
    // user + nice + system: softirq is left out, because on loopback much of it is the
    // server's own sending (the receiver's TCP work runs on the sender's core)
    return { busy: f[0] + f[1] + f[2], total };
  } catch { return { busy: NaN, total: NaN }; }
}
function statusKiB(pid, field) {
  try {
    const m = readFileSync(`/proc/${pid}/status`, "utf8").match(new RegExp(`^${field}:\\s+(\\d+) kB`, "m"));
    return m ? Number(m[1]) : NaN;
  } catch { return NaN; }
}

/** Spawn a command pinned to a core, with the fd limit raised. Collects output lines. */
function pinned(core, argv, env = {}) {
  const quoted = argv.map((a) => `'${String(a).replaceAll("'", "'\\''")}'`).join(" ");
  const nice = niceness ? `nice -n ${niceness} ` : "";
  const child = spawn("sh", ["-c", `${fdLimitShell()}exec ${nice}taskset -c ${core} ${quoted}`], {
    cwd: root, env: { ...process.env, ...env }, stdio: ["pipe", "pipe", "pipe"],
  });
  const proc = { child, out: "", err: "", exited: null, lineWaiters: [] };
  let partial = "";
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (d) => {
    proc.out += d;
    partial += d;
    let i;
    while ((i = partial.indexOf("\n")) >= 0) {
      const line = partial.slice(0, i);
      partial = partial.slice(i + 1);
      for (const w of [...proc.lineWaiters]) w(line);
    }
  });
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (d) => { proc.err = (proc.err + d).slice(-4000); });
  child.stdin.on("error", () => {});
  proc.done = new Promise((resolve) => child.on("exit", (code, signal) => { proc.exited = { code, signal }; for (const w of [...proc.lineWaiters]) w(null); resolve(proc.exited); }));
  return proc;
}

/** Resolves with the first line for which test() is true, or null on exit/timeout. */
function waitLine(proc, test, ms) {
  return new Promise((resolve) => {
    if (proc.exited) return resolve(null);
    const timer = setTimeout(() => finish(null), ms);
    const w = (line) => { if (line === null) finish(null); else if (test(line)) finish(line); };
    const finish = (v) => { clearTimeout(timer); proc.lineWaiters = proc.lineWaiters.filter((x) => x !== w); resolve(v); };
    proc.lineWaiters.push(w);
  });
}

async function stop(proc, graceMs = 2000) {
  if (proc.exited) return;
  proc.child.kill("SIGTERM");
  const t = setTimeout(() => { if (!proc.exited) proc.child.kill("SIGKILL"); }, graceMs);
  await proc.done;
  clearTimeout(t);
}

async function startServer(server) {
  const p = port();
  const argv = [...server.cmd(), "--port", String(p), "--host", "127.0.0.1"];
  const proc = pinned(0, argv, server.env);
  const line = await waitLine(proc, (l) => /listening/.test(l), 15000);
  if (!line) {
    await stop(proc, 500);
    const code = proc.exited?.code;
    const msg = (proc.err || proc.out).trim().split("\n")[0] ?? "";
    return { error: msg || `no "listening" line in 15 s (exit ${code})`, code };
  }
  return { proc, port: p, pid: proc.child.pid, banner: line.trim() };
}

const gcServer = async (server, pid) => { if (server.node) { try { process.kill(pid, "SIGUSR2"); } catch {} await sleep(300); } };

async function runOnce(server, scenario, idleConns) {
  const s = await startServer(server);
  if (s.error) return { error: `server did not start: ${s.error}` };
  const lg = join(buildDir, "loadgen");
  const a = scenario.args;
  const common = ["--port", String(s.port), "--host", "127.0.0.1", ...(scenario.deflate ? ["--deflate"] : [])];
  let result = null, error = null;
  try {
    if (scenario.kind === "http") {
      ({ result, error } = await runHttp(s, scenario, { pinned, stop, cpuTicks, cpuBusy, clkTck, warmup, duration, buildDir }));
      if (!error && s.proc.exited) error = `server exited during the run (${JSON.stringify(s.proc.exited)})`;
    } else if (scenario.kind === "idle") {
      await sleep(300);
      await gcServer(server, s.pid);
      const before = statusKiB(s.pid, "VmRSS");
      const conns = a.conns ?? idleConns;
      const gen = pinned(1, [lg, "idle", ...common, "--conns", String(conns), ...(a.prime ? ["--prime", String(a.prime)] : [])]);
      const est = await waitLine(gen, (l) => l.includes('"established"') || l.includes('"error"'), 90000);
      if (!est || est.includes('"error"')) {
        await stop(gen, 500);
        error = errorOf(gen, est, "no connections established in 90 s");
      } else {
        // Two full collections a second apart: after one, RSS still moved by ±0.5 KiB per
        // connection from run to run (garbage of the handshakes not yet given back).
        await sleep(1000);
        await gcServer(server, s.pid);
        await sleep(1000);
        await gcServer(server, s.pid);
        await sleep(200);
        const after = statusKiB(s.pid, "VmRSS");
        gen.child.stdin.end("close\n");
        const fin = await waitLine(gen, (l) => l.startsWith('{"mode"') || l.includes('"error"'), 20000);
        await stop(gen, 500);
        const r = fin && !fin.includes('"error"') ? JSON.parse(fin) : {};
        if (s.proc.exited) error = `server exited (${JSON.stringify(s.proc.exited)}): ${s.proc.err.trim().split("\n").pop()}`;
        else result = { ...r, rss_before_kib: before, rss_after_kib: after, bytes_per_conn: ((after - before) * 1024) / conns, conns };
      }
    } else {
      const args = scenario.kind === "echo"
        ? ["echo", ...common, "--conns", String(a.conns), "--size", String(a.size), "--type", a.type, "--depth", String(a.depth)]
        : ["handshake", ...common, "--workers", String(a.workers)];
      const gen = pinned(1, [lg, ...args, "--warmup", String(warmup), "--duration", String(duration)]);
      const marks = {};
      gen.lineWaiters.push((line) => {
        if (line === '{"phase":"measure"}') marks.t0 = { ticks: cpuTicks(s.pid), at: process.hrtime.bigint(), core: cpuBusy(0) };
        if (line === '{"phase":"end"}') marks.t1 = { ticks: cpuTicks(s.pid), at: process.hrtime.bigint(), core: cpuBusy(0), hwm: statusKiB(s.pid, "VmHWM") };
      });
      const fin = await waitLine(gen, (l) => l.startsWith('{"mode"') || l.includes('"error"'), (warmup + duration + 40) * 1000);
      await stop(gen, 500);
      if (!fin || fin.includes('"error"')) error = errorOf(gen, fin, "stalled: no result within warm-up + duration + 40 s");
      else {
        result = JSON.parse(fin);
        if (marks.t0 && marks.t1) {
          const secs = Number(marks.t1.at - marks.t0.at) / 1e9;
          result.server_cpu_share = (marks.t1.ticks - marks.t0.ticks) / clkTck / secs;
          // what else ran on the server's core: its busy share minus the server's own
          const core = (marks.t1.core.busy - marks.t0.core.busy) / Math.max(1, marks.t1.core.total - marks.t0.core.total);
          result.foreign_core0_share = Math.max(0, core - result.server_cpu_share);
          result.server_hwm_kib = marks.t1.hwm;
        }
        if (result.stalled_conns) error = `${result.stalled_conns} connection(s) did not get all their echoes back within 5 s after the run`;
      }
      if (!error && s.proc.exited) error = `server exited during the run (${JSON.stringify(s.proc.exited)})`;
    }
  } finally {
    const serverErr = s.proc.err.trim().split("\n").filter(Boolean).slice(-2).join(" | ");
    await stop(s.proc);
    if (error && serverErr) error += ` [server stderr: ${serverErr}]`;
  }
  return error ? { error } : { result };
}

function errorOf(gen, line, fallback) {
  try { if (line) return JSON.parse(line).error; } catch {}
  const last = gen.out.trim().split("\n").pop();
  try { if (last) return JSON.parse(last).error ?? fallback; } catch {}
  return (gen.err.trim().split("\n").pop() || fallback) + (gen.exited ? ` (loadgen exit ${gen.exited.code ?? gen.exited.signal})` : "");
}

// ---------------------------------------------------------------- statistics and formatting

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
function si(v) {
  if (!Number.isFinite(v)) return "?";
  const a = Math.abs(v);
  if (a >= 1e6) return (v / 1e6).toFixed(a >= 1e7 ? 1 : 2) + "M";
  if (a >= 1e4) return (v / 1e3).toFixed(a >= 1e5 ? 0 : 1) + "k";
  if (a >= 100) return v.toFixed(0);
  return v.toFixed(a >= 10 ? 1 : 2);
}
function fmtFigure(scn, v) {
  if (scn.metric === "bytes_per_conn") return `${(v / 1024).toFixed(2)} KiB`;
  if (scn.metric === "mb_per_s") return `${si(v)} MB/s`;
  if (scn.metric === "per_s") return `${si(v)}/s`;
  if (scn.metric === "req_per_s") return `${si(v)} req/s`;
  return `${si(v)} msg/s`;
}
function fmtRange(scn, cell) {
  const strip = (v) => fmtFigure(scn, v).replace(/ ?(KiB|MB\/s|\/s|msg\/s|req\/s)$/, "");
  return cell.values.length > 1 ? ` (${strip(cell.min)}–${strip(cell.max)})` : "";
}

function aggregate(cells) {
  for (const cell of Object.values(cells)) {
    const ok = cell.runs.filter((r) => r.result);
    cell.errors = cell.runs.filter((r) => r.error).map((r) => r.error);
    if (!ok.length) continue;
    const m = cell.scenario.metric;
    cell.values = ok.map((r) => r.result[m]);
    cell.median = median(cell.values);
    cell.min = Math.min(...cell.values);
    cell.max = Math.max(...cell.values);
    const med = (f) => { const xs = ok.map((r) => r.result[f]).filter((x) => Number.isFinite(x)); return xs.length ? median(xs) : NaN; };
    cell.p50 = med("p50_us");
    cell.p99 = med("p99_us");
    cell.genShare = med("gen_cpu_share");
    cell.serverShare = med("server_cpu_share");
    cell.foreign = med("foreign_core0_share");
  }
}

function ratio(cell, ref) {
  if (!cell?.values || !ref?.values || !ref.median) return null;
  return cell.median / ref.median;
}

function tables(ctx) {
  const { cells, scenarioList, serverList, status } = ctx;
  const out = [];
  const groupOf = (x) => (x.http ? "http" : x.deflate ? "deflate" : "plain");
  for (const group of ["plain", "deflate", "http"]) {
    const scns = scenarioList.filter((s) => groupOf(s) === group);
    const srvs = serverList.filter((s) => groupOf(s) === group);
    if (!scns.length || !srvs.length) continue;
    const refWs = refs[group].ws, refLws = refs[group].lws;
    const head = ["server", ...scns.map((s) => s.title)];
    const fig = [], rat = [], cpu = [], lat = [];
    for (const srv of srvs) {
      const rowF = [srv.label], rowR = [srv.label], rowC = [srv.label], rowL = [srv.label];
      for (const scn of scns) {
        const cell = cells[`${srv.id}|${scn.id}`];
        if (status[srv.id]?.na) { for (const r of [rowF, rowR, rowC, rowL]) r.push("n/a (not in this build)"); continue; }
        if (!srv.kinds.includes(scn.kind)) { for (const r of [rowF, rowR, rowC, rowL]) r.push("—"); continue; }
        if (!cell || (!cell.values && !cell.errors?.length)) { for (const r of [rowF, rowR, rowC, rowL]) r.push("not run"); continue; }
        if (!cell.values) { const e = `error [${ctx.note(cell.errors[0])}]`; for (const r of [rowF, rowR, rowC, rowL]) r.push(e); continue; }
        const errs = cell.errors.length ? ` [${ctx.note(cell.errors[0])}: ${cell.errors.length} of ${cell.runs.length} runs failed]` : "";
        const mb = bodyMBps(scn, cell.median);
        rowF.push(fmtFigure(scn, cell.median) + fmtRange(scn, cell) + (mb === null ? "" : ` · ${si(mb)} MB/s`) + errs);
        const rw = ratio(cell, cells[`${refWs}|${scn.id}`]), rl = ratio(cell, cells[`${refLws}|${scn.id}`]);
        const f = (x) => (x === null ? "?" : `${x.toFixed(2)}×`);
        rowR.push(`${f(rw)} / ${f(rl)}`);
        rowC.push(scn.kind === "idle" ? "—" : `${Math.round(cell.genShare * 100)}% / ${Number.isFinite(cell.serverShare) ? Math.round(cell.serverShare * 100) + "%" : "?"}`);
        rowL.push(scn.kind === "echo" || scn.kind === "handshake" || scn.kind === "http" ? `${si(cell.p50)} / ${si(cell.p99)}` : scn.kind === "idle" ? "—" : "");
      }
      fig.push(rowF); rat.push(rowR); cpu.push(rowC); lat.push(rowL);
    }
    const name = { plain: "Uncompressed", deflate: "permessage-deflate", http: "HTTP (wrk)" }[group];
    const refNames = `${serverList.find((s) => s.id === refWs)?.label ?? refWs} / ${serverList.find((s) => s.id === refLws)?.label ?? refLws}`;
    out.push({ title: `${name}: median of ${runs} run${runs > 1 ? "s" : ""} (min–max)`, head, rows: fig });
    out.push({ title: `${name}: ratio of medians vs ${refNames} (throughput: higher is better; RSS/conn: lower is better)`, head, rows: rat });
    out.push({ title: `${name}: CPU share of its core, load generator / server (median)`, head, rows: cpu });
    out.push({ title: `${name}: round-trip latency p50 / p99 in µs (median of runs)`, head, rows: lat });
  }
  return out;
}

function textTable({ title, head, rows }) {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (r) => r.map((c, i) => String(c).padEnd(w[i])).join("  ");
  return `${title}\n${line(head)}\n${w.map((n) => "-".repeat(n)).join("  ")}\n${rows.map(line).join("\n")}\n`;
}
function mdTable({ title, head, rows }) {
  return `**${title}**\n\n| ${head.join(" | ")} |\n|${head.map(() => "---").join("|")}|\n${rows.map((r) => `| ${r.join(" | ")} |`).join("\n")}\n`;
}

// ---------------------------------------------------------------- main

async function main() {
  const t0 = Date.now();
  ensureSystemPackages();
  ensureNodePackages();
  buildC();
  buildWsloop();
  buildCompare();
  prepareHttp(buildDir);
  const fds = maxFds();
  const idleConns = Math.min(idleConnsWanted, fds - 64);
  if (idleConns < idleConnsWanted) log(`the fd limit is ${fds}: idle scenario uses ${idleConns} connections, not ${idleConnsWanted}`);
  const idleScn = scenarios.find((s) => s.id === "idle");
  idleScn.title = `${idleConns >= 1000 ? idleConns / 1000 + "k" : idleConns} idle conns: RSS/conn`;
  const info = versions();
  log(`node ${info.node}, ws ${info.ws}, lws ${info.lws}, wsloop ${info.wsloop}`);

  // preflight: which servers start at all (wsloop variants not in this build exit 2)
  const status = {};
  for (const srv of activeServers) {
    if (!activeScenarios.some((scn) => srv.kinds.includes(scn.kind) && Boolean(scn.deflate) === Boolean(srv.deflate))) continue;
    const s = await startServer(srv);
    if (s.error) {
      status[srv.id] = s.code === 2 && srv.wsloop ? { na: true, why: s.error } : { failed: true, why: s.error };
      log(`${srv.id}: ${status[srv.id].na ? "n/a (not in this build)" : "FAILED to start"}: ${s.error}`);
    } else {
      status[srv.id] = { banner: s.banner };
      await stop(s.proc);
    }
  }

  const cells = {};
  const plan = [];
  for (const scn of activeScenarios) {
    const srvs = activeServers.filter((srv) => srv.kinds.includes(scn.kind) && Boolean(scn.deflate) === Boolean(srv.deflate) && status[srv.id] && !status[srv.id].na && !status[srv.id].failed);
    for (const srv of srvs) cells[`${srv.id}|${scn.id}`] = { server: srv, scenario: scn, runs: [] };
    for (let r = 0; r < runs; r++) {
      // rotate the order each run so no server always runs first (or right after the heaviest)
      const order = srvs.map((_, i) => srvs[(i + r) % srvs.length]);
      for (const srv of order) plan.push({ scn, srv, r });
    }
  }
  log(`${plan.length} measurements, about ${Math.round(plan.reduce((t, p) => t + (p.scn.kind === "idle" ? 6 : warmup + duration + 1.5), 0) / 60)} min`);
  let i = 0;
  for (const { scn, srv, r } of plan) {
    i++;
    const cell = cells[`${srv.id}|${scn.id}`];
    if (cell.runs.length && cell.runs.every((x) => x.error) && cell.runs.length >= 1 && r > 0 && cell.runs[0].error) {
      cell.runs.push({ error: cell.runs[0].error, skipped: true });
      continue;
    }
    let res = await runOnce(srv, scn, idleConns);
    for (let attempt = 1; attempt <= retries && res.result && res.result.foreign_core0_share > maxForeign; attempt++) {
      log(`[${i}/${plan.length}] ${scn.id} ${srv.id} run ${r + 1}: other load took ${Math.round(res.result.foreign_core0_share * 100)}% of the server's core; repeating`);
      const again = await runOnce(srv, scn, idleConns);
      if (again.error) { res = again; break; }
      if (again.result.foreign_core0_share < res.result.foreign_core0_share) res = again;
      res.result.attempts = attempt + 1;
    }
    cell.runs.push(res);
    const v = res.result?.[scn.metric];
    log(`[${i}/${plan.length}] ${scn.id} ${srv.id} run ${r + 1}: ${res.error ? "ERROR " + res.error : fmtFigure(scn, v)}${res.result?.gen_cpu_share !== undefined ? ` (gen ${Math.round(res.result.gen_cpu_share * 100)}%, server ${Math.round((res.result.server_cpu_share ?? NaN) * 100)}%)` : ""}`);
  }
  aggregate(cells);

  const notes = [];
  const note = (text) => { let k = notes.indexOf(text); if (k < 0) { notes.push(text); k = notes.length - 1; } return `note ${k + 1}`; };
  const serverList = activeServers.filter((s) => status[s.id]);
  const tbl = tables({ cells, scenarioList: activeScenarios, serverList, status, note });
  const minutes = ((Date.now() - t0) / 60000).toFixed(1);

  // generator CPU: the largest share seen, to show it was not the bottleneck
  const shares = Object.values(cells).filter((c) => Number.isFinite(c.genShare));
  const maxGen = shares.reduce((m, c) => (c.genShare > (m?.genShare ?? -1) ? c : m), null);
  const floor = cells[`bare-node|idle`];
  const overFloor = serverList.filter((s) => s.wsloop && !s.deflate && cells[`${s.id}|idle`]?.values && floor?.values)
    .map((s) => `${s.label}: ${((cells[`${s.id}|idle`].median - floor.median) / 1024 >= 0 ? "+" : "")}${((cells[`${s.id}|idle`].median - floor.median) / 1024).toFixed(2)} KiB/conn over the bare Node floor`);

  const foreignAll = Object.values(cells).flatMap((c) => c.runs.map((r) => r.result?.foreign_core0_share).filter((x) => Number.isFinite(x)));
  const over = foreignAll.filter((x) => x > maxForeign).length;
  const foreign = foreignAll.length ? `other load on the server's core during the kept measurements: median ${Math.round(median(foreignAll) * 100)}%, max ${Math.round(Math.max(...foreignAll) * 100)}% of the core (other processes and interrupts; near 0% on a quiet machine); ${over} of ${foreignAll.length} measurements stayed above ${Math.round(maxForeign * 100)}% after ${retries} repeat${retries === 1 ? "" : "s"}; servers and generator ran at nice ${niceness}` : null;

  console.log("");
  for (const t of tbl) console.log(textTable(t));
  if (foreign) console.log(foreign + "\n");
  if (overFloor.length) console.log(overFloor.join("\n") + "\n");
  if (maxGen) console.log(`load generator: at most ${Math.round(maxGen.genShare * 100)}% of its core (${maxGen.server.label}, ${maxGen.scenario.title})\n`);
  for (const [k, n] of notes.entries()) console.log(`note ${k + 1}: ${n}`);
  for (const [id, st] of Object.entries(status)) if (st.na || st.failed) console.log(`${id}: ${st.na ? "n/a (not in this build)" : "failed to start"}: ${st.why}`);
  console.log(`\n${minutes} min; machine: ${info.nproc} × ${info.cpu}, ${info.memGiB} GiB; node ${info.node}, ws ${info.ws}, lws ${info.lws}, wsloop ${info.wsloop}`);

  const raw = { info, options: { runs, duration, warmup, quick, idleConns }, status, cells: Object.fromEntries(Object.entries(cells).map(([k, c]) => [k, { runs: c.runs, median: c.median, min: c.min, max: c.max }])) };
  writeFileSync(join(buildDir, quick ? "results-quick.json" : "results.json"), JSON.stringify(raw, null, 2) + "\n");

  if (writeDoc) writePerformanceDoc({ info, tbl, notes, status, minutes, idleConns, maxGen, overFloor, foreign });
}

function writePerformanceDoc({ info, tbl, notes, status, minutes, idleConns, maxGen, overFloor, foreign }) {
  const file = join(root, "docs", "performance.md");
  const begin = "<!-- bench:begin (written by `npm run bench`; edit outside these markers) -->";
  const end = "<!-- bench:end -->";
   const banners = Object.entries(status).map(([id, st]) => `- \`${id}\`: ${st.banner?.replace(/ws:\/\/127\.0\.0\.1:\d+\//, "127.0.0.1") ?? (st.na ? `n/a (not in this build): ${st.why}` : `failed to start: ${st.why}`)}`);
  const body = `${begin}

## Latest results

- ${info.date} · ${info.nproc} cores × ${info.cpu} · ${info.memGiB} GiB · ${info.os}, Linux ${info.kernel}
- Node ${info.node} · ws ${info.ws} (bufferutil ${info.bufferutil}) · libwebsockets ${info.lws} (Debian ${info.lwsPackage}) · zlib ${info.zlib} · ${info.gcc}
- wsloop ${info.wsloop} (${info.wsloopBuild})
- ${runs} run${runs > 1 ? "s" : ""} per figure, ${duration} s each after ${warmup} s of warm-up; idle: ${idleConns} connections; whole run ${minutes} min.
${quick ? "\n**--quick smoke run: one short run per figure, not for quoting.**\n" : ""}
${tbl.map(mdTable).join("\n")}
${overFloor.length ? overFloor.map((l) => `- ${l}`).join("\n") + "\n" : ""}${maxGen ? `- Load generator: at most ${Math.round(maxGen.genShare * 100)}% of its core (${maxGen.server.label}, ${maxGen.scenario.title}). On loopback the sender's core also does the receiving side's TCP work, so both shares include some of the other side's kernel time. Where the server is at ~100% of its core, the server is the limit.\n` : ""}${foreign ? `- ${foreign[0].toUpperCase() + foreign.slice(1)}.\n` : ""}${notes.map((n, k) => `- note ${k + 1}: ${n.replaceAll("|", "\\|")}`).join("\n")}

Servers as they announced themselves:

${banners.join("\n")}
${end}`;
  let doc;
  if (existsSync(file)) {
    const old = readFileSync(file, "utf8");
    const a = old.indexOf(begin.slice(0, 20)), b = old.indexOf(end);
    doc = a >= 0 && b > a ? old.slice(0, a) + body + old.slice(b + end.length) : old.trimEnd() + "\n\n" + body + "\n";
  } else {
    doc = `# Performance

wsloop beside ws and libwebsockets (lws), measured in one run on one machine. The machine
is shared and noisy, so absolute figures drift between runs; the ratios inside one run are
what to quote.

${body}

## How it is measured

- **Load generator**: \`bench/loadgen.c\`, a single-threaded epoll client built with
  \`gcc -O2\`. It does its own HTTP upgrade (checks the 101 and Sec-WebSocket-Accept),
  sends frames masked ahead of time, and checks every echoed byte (a sequence number in
  each payload also catches lost, duplicated or reordered messages; a mismatch is a hard
  error). It reports its own CPU time (getrusage) so the tables can show its share.
- **Pinning**: the server runs on core 0, the load generator on core 1 (\`taskset -c\`).
  Both run at nice -10 (\`--nice\`) so that other work on a shared machine takes less
  from them, and the harness reads core 0's busy time from /proc/stat: a throughput
  measurement during which other work took more than 25% of the server's core is
  repeated up to twice, keeping the attempt with the least foreign load
  (\`--max-foreign\`, \`--retries\`). The CPU table shows each side's share of its core.
- **Echo** (\`loadgen echo\`): C connections each keep D messages in flight (a new one is
  sent as each echo arrives); messages/s and MB/s count echoed payload (one direction,
  1 MB = 10^6 B) over the measured window after the warm-up; latency is send → full echo.
- **Handshakes** (\`loadgen handshake\`): 8 workers each open a connection, complete the
  upgrade, send a close frame, wait for the server's close frame and the server's TCP
  close, and start again. Figure: completed cycles per second.
- **Idle memory** (\`loadgen idle\`): K connections are opened (at most 256 handshakes in
  progress) and held; RSS per connection = (VmRSS with K connections − VmRSS before) / K
  from /proc/PID/status. Node servers get a full GC (SIGUSR2 to a preloaded
  \`bench/servers/gc-signal.mjs\`, run with --expose-gc) before each reading — two, a
  second apart, before the reading with K connections (after one, the figure still moved by
  ±0.5 KiB from run to run) — so the figure is live memory. The deflate variant opens 1,000 connections that each echo one
  4 KiB message, so that zlib state is allocated.
- **Servers**: \`ws\` = ws's \`WebSocketServer\` echo (\`bench/servers/ws-echo.mjs\`) with
  WS_NO_BUFFER_UTIL=1; \`ws + bufferutil\` = the same with bufferutil loaded;
  \`ws perMessageDeflate\` = \`perMessageDeflate: true\` (ws's defaults: messages under
  1 KiB are not compressed, zlib's default level, context takeover) without bufferutil;
  \`lws-echo\` = \`bench/lws-echo.c\` on Debian's libwebsockets-dev (poll loop, one
  lws_write per WRITEABLE, whole messages, rx_buffer_size 16 MiB + 1, UTF-8 validation
  on); \`bare Node socket\` = \`bench/servers/bare-hold.mjs\`, a node:net server that
  answers the handshake and holds the socket (the floor for memory per connection in
  Node); \`wsloop --loop …\` = \`wsloop echo\` built from src/.
- The generator offers \`permessage-deflate; client_no_context_takeover\` and sends 64
  pre-compressed payload variants (level 6); the payloads of the compressed scenarios
  are text-like (about 3:1).
- lws 4.1.6's permessage-deflate corrupts received data when several connections are
  active and a message inflates past the extension's 1 KiB rx buffer (the inflater keeps
  a pointer into the shared per-thread read buffer). lws-echo --deflate therefore sets
  the extension's rx_buf_size and tx_buf_size to 2^16 per connection.

## How to reproduce

\`\`\`sh
npm install          # the repository's own dev dependencies (TypeScript)
npm run bench        # 15–20 minutes (3 runs × 5 s per figure); --quick: a 2-minute smoke check
npm run bench -- --runs 5 --duration 10
npm run bench -- --servers ws,lws,wsloop-node --scenarios echo-32,handshake
node bench/run.mjs --list
\`\`\`

The script installs gcc and libwebsockets-dev with apt-get when missing (as root, or
with sudo) and ws and bufferutil into bench/node_modules; builds go to bench/build/, and
the raw results of every run to bench/build/results.json. Loops or options that the
wsloop build under test rejects (exit 2) are shown as "n/a (not in this build)".

## Profiles and remaining gaps

(Kept by hand: what limits each target that is not met, from \`node --cpu-prof\`.)
`;
  }
  writeFileSync(file, doc);
  log(`wrote ${relative(root, file)}`);
}

main().catch((e) => {
  console.error(`bench: ${e.message}`);
  process.exit(1);
});
