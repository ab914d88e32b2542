/**
 * The measurements behind docs/deflate.md — not a test. Run:
 *
 *   node --expose-gc node_modules/.bin/vite-node test/core/deflate/measure.ts
 *
 * 1. zlib memory per stream for each window / memLevel (1000 streams, each having
 *    processed one message, so lazily allocated windows are counted).
 * 2. Memory per idle session after one message each way, with and without takeover.
 * 3. The cost of context takeover two ways: a persistent stream on Node's binding (what
 *    the engine does) against Node's public one-shot API re-primed with a dictionary of
 *    the last window for every message.
 */
import { Buffer } from "node:buffer";
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import zlib from "node:zlib";
import { MessageDeflater } from "../../../src/core/deflate/message-deflater.js";
import { MessageInflater, inflateScratch } from "../../../src/core/deflate/message-inflater.js";
import { RawZlib, setZlibPoolLimits } from "../../../src/core/deflate/native-zlib.js";
import { Opcode } from "../../../src/core/frame.js";
import { zeroMaskSource } from "../../../src/core/mask-source.js";
import { WsSession, type WsSessionEvents } from "../../../src/core/ws-session.js";

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with node --expose-gc");
const N = 1000;

function settle(): void {
  for (let i = 0; i < 4; i++) gc!();
}
/**
 * zlib's memory is malloc'd outside V8 and not reported in `external`; pages it never
 * touched are not resident either. So two figures: VmData (what malloc reserved: the
 * allocation, touched or not) and rss (what is resident once the streams were used).
 */
interface Usage {
  rss: number;
  data: number;
}
function usage(): Usage {
  const status = readFileSync("/proc/self/status", "utf8");
  const data = Number(/VmData:\s+(\d+) kB/.exec(status)![1]) * 1024;
  return { rss: process.memoryUsage().rss, data };
}
function perItem(before: Usage, after: Usage): string {
  const kib = (b: number): string => (b / N / 1024).toFixed(1).padStart(6);
  return `allocated ${kib(after.data - before.data)} KiB   resident ${kib(after.rss - before.rss)} KiB`;
}

const sample = Buffer.from(JSON.stringify({ id: 1, user: "someone", text: "hello there, ".repeat(20), tags: ["a", "b", "c"] }));
/** Enough varied data to fill a 32 KiB window three times over: every page gets touched. */
const warm = Buffer.from(Array.from({ length: 4000 }, (_, i) => `{"seq":${i * 7919 % 100003},"v":"${(i * 2654435761 >>> 0).toString(36)}"}`).join(","));

// Freed zlib memory stays with malloc and is reused, so every figure comes from a fresh
// process: the parent runs itself once per configuration.
const [mode, ...args] = process.argv.slice(2);
const out = Buffer.alloc(65536);
const events: WsSessionEvents = {
  onMessage() {},
  onFragment() {},
  onPing() {},
  onPong() {},
  onClose() {},
  onPeerError(e) {
    throw e;
  },
};
type Agreement = { serverNoContextTakeover: boolean; clientNoContextTakeover: boolean; serverMaxWindowBits: number; clientMaxWindowBits: number };
const sessionSettings: Array<[string, Agreement, { memLevel?: number }]> = [
  ["takeover both ways, 15 bits, memLevel 8", { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 15, clientMaxWindowBits: 15 }, {}],
  ["takeover both ways, 12 bits, memLevel 5", { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 12, clientMaxWindowBits: 12 }, { memLevel: 5 }],
  ["takeover both ways, 10 bits, memLevel 3", { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 10, clientMaxWindowBits: 10 }, { memLevel: 3 }],
  ["server_no_context_takeover (server keeps its inflater)", { serverNoContextTakeover: true, clientNoContextTakeover: false, serverMaxWindowBits: 15, clientMaxWindowBits: 15 }, {}],
  ["client_no_context_takeover (server keeps its deflater)", { serverNoContextTakeover: false, clientNoContextTakeover: true, serverMaxWindowBits: 15, clientMaxWindowBits: 15 }, {}],
  ["no context takeover either way", { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 15, clientMaxWindowBits: 15 }, {}],
  ["baseline: no permessage-deflate, same traffic uncompressed", { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 15, clientMaxWindowBits: 15 }, {}],
];
const BASELINE = sessionSettings.length - 1;

if (mode === "stream") {
  const [kind, windowBits, memLevel] = [args[0] as "deflate" | "inflate", Number(args[1]), Number(args[2])];
  const compressed = zlib.deflateRawSync(warm, { windowBits, finishFlush: zlib.constants.Z_SYNC_FLUSH });
  settle();
  const before = usage();
  const keep: RawZlib[] = [];
  for (let i = 0; i < N; i++) {
    const z = new RawZlib(kind, { windowBits, level: 6, memLevel, strategy: 0 });
    if (kind === "deflate") {
      for (let off = 0; off < warm.length; off += 16384) z.run(warm, off, Math.min(16384, warm.length - off), out, 0, out.length);
    } else {
      for (let off = 0; off < compressed.length; off += 4096) {
        const len = Math.min(4096, compressed.length - off);
        do z.run(compressed, off, len, out, 0, out.length);
        while (z.availOut === 0);
      }
    }
    keep.push(z);
  }
  settle();
  console.log(`${kind} windowBits ${windowBits}${kind === "deflate" ? ` memLevel ${memLevel}` : ""}: ${perItem(before, usage())}`);
} else if (mode === "session") {
  const [name, agreement, tuning] = sessionSettings[Number(args[0])]!;
  setZlibPoolLimits({ deflate: 0, inflate: 0 });
  const plain = Number(args[0]) === BASELINE;
  const c = new WsSession({ role: "client", maskSource: zeroMaskSource, ...(plain ? {} : { deflate: { agreement } }) }, events);
  const frames: Buffer[] = [];
  for (let i = 0; i < 3; i++) {
    const o: Uint8Array[] = [];
    c.encodeData(o, Opcode.TEXT, warm.subarray(i * 30000, i * 30000 + 30000));
    frames.push(Buffer.concat(o));
  }
  const sessions: WsSession[] = [];
  settle();
  const before = usage();
  for (let i = 0; i < N; i++) {
    const s = new WsSession({ role: "server", ...(plain ? {} : { deflate: { agreement, tuning } }) }, events);
    for (const f of frames) s.receive(Buffer.from(f));
    for (let k = 0; k < 3; k++) s.encodeData([], Opcode.TEXT, warm.subarray(k * 30000, k * 30000 + 30000));
    sessions.push(s);
  }
  settle();
  console.log(`${name}: ${perItem(before, usage())}`);
} else if (mode === undefined) {
  const { execFileSync } = await import("node:child_process");
  const self = (...a: string[]): void => {
    process.stdout.write(
      execFileSync(process.execPath, ["--expose-gc", "node_modules/.bin/vite-node", "test/core/deflate/measure.ts", "--", ...a], { encoding: "utf8" }),
    );
  };
  console.log("## zlib memory per stream (1000 streams, each after ~96 KB of data)\n");
  for (const windowBits of ["15", "12", "10", "9"]) {
    for (const memLevel of ["9", "8", "5", "3", "1"]) self("stream", "deflate", windowBits, memLevel);
    self("stream", "inflate", windowBits, "8");
  }
  console.log("\n## memory per session after 3 compressed messages of 30 KB each way (1000 sessions)\n");
  for (let i = 0; i < sessionSettings.length; i++) self("session", String(i));
  self("cost");
}

// ---- 3. the cost of takeover two ways ------------------------------------------------------------
if (mode === "cost") {
console.log("\n## context takeover: persistent stream vs one-shot re-primed with the last window\n");
function time(label: string, iterations: number, fn: () => void): void {
  for (let i = 0; i < Math.min(200, iterations); i++) fn();
  const t0 = performance.now();
  for (let i = 0; i < iterations; i++) fn();
  const us = ((performance.now() - t0) * 1000) / iterations;
  console.log(`${label.padEnd(58)} ${us.toFixed(1).padStart(8)} µs/message`);
}
const medium = Buffer.from(Array.from({ length: 60 }, (_, i) => JSON.stringify({ i, name: `user${i % 7}`, score: (i * 37) % 101 })).join("\n"));
for (const [label, message] of [["300 B JSON", sample], [`${medium.length} B JSON lines`, medium]] as const) {
  const iterations = 20000;
  const d = new MessageDeflater({ windowBits: 15, level: 6, memLevel: 8, strategy: 0 }, true);
  time(`deflate ${label}, persistent stream (engine)`, iterations, () => d.compress(message, true));
  let window = Buffer.alloc(0);
  time(`deflate ${label}, one-shot + 32 KiB dictionary`, iterations, () => {
    zlib.deflateRawSync(message, { dictionary: window.length ? window : undefined, finishFlush: zlib.constants.Z_SYNC_FLUSH });
    window = Buffer.concat([window, message]);
    if (window.length > 32768) window = window.subarray(window.length - 32768);
  });
  const pooled = new MessageDeflater({ windowBits: 15, level: 6, memLevel: 8, strategy: 0 }, false);
  time(`deflate ${label}, no takeover, pooled stream (engine)`, iterations, () => pooled.compress(message, true));
  time(`deflate ${label}, no takeover, one-shot`, iterations, () => zlib.deflateRawSync(message, { finishFlush: zlib.constants.Z_SYNC_FLUSH }));

  // Inflate a takeover stream of the same message repeated.
  const src = new MessageDeflater({ windowBits: 15, level: 6, memLevel: 8, strategy: 0 }, true);
  const stream = Array.from({ length: iterations + 200 }, () => Buffer.from(src.compress(message, true)));
  const inf = new MessageInflater({ windowBits: 15, level: 0, memLevel: 8, strategy: 0 }, true);
  let k = 0;
  time(`inflate ${label}, persistent stream (engine)`, iterations, () => {
    inf.push(stream[k++]!, true);
    while (inf.hasMore) inf.read(inflateScratch(), 65536);
    inf.endMessage();
  });
  let history = Buffer.alloc(0);
  k = 0;
  time(`inflate ${label}, one-shot + 32 KiB dictionary`, iterations, () => {
    const plain = zlib.inflateRawSync(Buffer.concat([stream[k++]!, Buffer.from([0, 0, 255, 255])]), {
      dictionary: history.length ? history : undefined,
      finishFlush: zlib.constants.Z_SYNC_FLUSH,
    });
    history = Buffer.concat([history, plain]);
    if (history.length > 32768) history = history.subarray(history.length - 32768);
  });
}
}
