/**
 * Soak: an echo server under every abuse at once while honest clients keep talking to
 * it, for a bounded time (default 10 minutes; not for CI).
 *
 *   npx vite-node fuzz/soak.ts                  (10 minutes)
 *   npx vite-node fuzz/soak.ts --seconds 120
 *
 * Honest traffic: --clients connections, each keeping 4 sequence-numbered messages in
 * flight (text or binary, 10 B to 8 KiB, some fragmented) and checking every echo
 * byte for byte and in order. Abuse, continuously: slowloris, 64 KiB header floods,
 * 1-byte fragment floods, ping floods from peers that never read, receivers that never
 * read, drops mid-handshake and mid-frame, connect/close churn, and mutated frame
 * streams. Every 10 s it prints RSS, heap (and heap after GC), connections, descriptors
 * and the honest traffic so far. At the end: messages lost (must be 0), corrupted (must
 * be 0), honest connections dropped (must be 0), and whether everything went back to
 * zero connections. Exit code 1 if any of those is not 0.
 *
 * Everything runs in this one process (server, honest clients and attackers), on
 * 127.0.0.1; the memory figures are the process's.
 */
import { readdirSync } from "node:fs";
import { connect as netConnect, type Socket } from "node:net";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { echoProtocol } from "../src/demo/echo-protocol.js";
import { NodeLoop } from "../src/loops/node/index.js";
import { FrameReader, OP, closePayload, frame } from "../test/conformance/harness/frames.js";
import { Rng, conversation, mutate } from "../test/conformance/harness/fuzz-kit.js";
import { upgradeRequest } from "../test/conformance/harness/raw-client.js";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "600" },
    clients: { type: "string", default: "50" },
    seed: { type: "string", default: "1" },
  },
  strict: true,
});
const seconds = Number(values.seconds);
const honestCount = Number(values.clients);
const rng = new Rng(Number(values.seed));
const MAX_MESSAGE = 1024 * 1024;
const HANDSHAKE_MS = 2_000;

// ---- the server ----------------------------------------------------------------------------------------

const loop = new NodeLoop({
  logger: { level: "err" },
  vhosts: [
    {
      name: "default",
      protocols: [echoProtocol({ maxMessageSize: MAX_MESSAGE })],
      listen: { port: 0, host: "127.0.0.1" },
      timeouts: { handshakeMs: HANDSHAKE_MS, closeWaitMs: 1_000 },
    },
  ],
});
await loop.listen();
const port = loop.port;

// ---- plumbing ----------------------------------------------------------------------------------------------

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
let stopping = false;

function connectRaw(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = netConnect({ port, host: "127.0.0.1" });
    s.setNoDelay(true);
    s.once("connect", () => {
      s.off("error", reject);
      s.on("error", () => {});
      resolve(s);
    });
    s.once("error", reject);
  });
}

const closedP = (s: Socket) => new Promise<void>((resolve) => (s.destroyed ? resolve() : s.once("close", () => resolve())));

/** Upgrade; resolves with the socket and any bytes that came after the 101. */
async function openWs(): Promise<{ socket: Socket; rest: Buffer }> {
  const socket = await connectRaw();
  socket.write(upgradeRequest().bytes);
  return new Promise((resolve, reject) => {
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf("\r\n\r\n");
      if (end === -1) return;
      socket.off("data", onData);
      socket.off("close", onClose);
      if (!head.subarray(0, 12).toString().startsWith("HTTP/1.1 101")) return reject(new Error("no 101"));
      resolve({ socket, rest: head.subarray(end + 4) });
    };
    const onClose = () => reject(new Error("closed during the handshake"));
    socket.on("data", onData);
    socket.once("close", onClose);
  });
}

const counters = {
  slowloris: 0,
  headerFloods: 0,
  fragmentFloods: 0,
  pingFloods: 0,
  nonReaders: 0,
  drops: 0,
  churn: 0,
  garbage: 0,
  attackErrors: 0,
};

// ---- honest clients ----------------------------------------------------------------------------------------

const honest = { sent: 0, received: 0, corrupted: 0, dropped: 0, bytes: 0 };

class HonestClient {
  private readonly reader = new FrameReader();
  private readonly inFlight: Array<{ binary: boolean; payload: Buffer }> = [];
  private seq = 0;
  private fragments: Buffer[] | null = null;
  private fragmentBinary = false;
  private done = false;
  closedCleanly = false;

  constructor(
    readonly id: number,
    readonly socket: Socket,
    rest: Buffer,
  ) {
    socket.on("data", (c: Buffer) => this.onData(c));
    socket.once("close", () => {
      if (!this.done) honest.dropped++;
    });
    if (rest.length) this.onData(rest);
    for (let i = 0; i < 4; i++) this.sendNext();
  }

  private sendNext(): void {
    if (stopping || this.done) return;
    const binary = rng.bool(0.3);
    const size = rng.range(10, rng.bool(0.1) ? 8192 : 512);
    const tag = Buffer.from(`c${this.id}:${this.seq++}:`);
    const body = binary ? rng.bytes(size) : Buffer.from("abcdefghijκλμνξ-0123456789".repeat(Math.ceil(size / 20)).slice(0, size), "utf8");
    const payload = Buffer.concat([tag, body]);
    this.inFlight.push({ binary, payload });
    honest.sent++;
    const parts = rng.bool(0.2) ? rng.range(2, 4) : 1;
    const frames: Buffer[] = [];
    const step = Math.ceil(payload.length / parts);
    for (let p = 0; p < parts; p++) {
      const piece = payload.subarray(p * step, Math.min(payload.length, (p + 1) * step));
      frames.push(frame({ opcode: p === 0 ? (binary ? OP.BINARY : OP.TEXT) : OP.CONT, payload: piece, fin: p === parts - 1, mask: rng.bytes(4) }));
    }
    this.socket.write(Buffer.concat(frames));
  }

  private onData(chunk: Buffer): void {
    for (const f of this.reader.push(chunk)) {
      if (f.opcode === OP.CLOSE) {
        this.done = true;
        continue;
      }
      if (f.opcode === OP.PING || f.opcode === OP.PONG) continue;
      if (f.opcode !== OP.CONT) {
        this.fragments = [];
        this.fragmentBinary = f.opcode === OP.BINARY;
      }
      this.fragments?.push(f.payload);
      if (!f.fin || !this.fragments) continue;
      const payload = Buffer.concat(this.fragments);
      this.fragments = null;
      const expected = this.inFlight.shift();
      honest.received++;
      honest.bytes += payload.length;
      if (!expected || expected.binary !== this.fragmentBinary || !expected.payload.equals(payload)) honest.corrupted++;
      this.sendNext();
    }
  }

  get pending(): number {
    return this.inFlight.length;
  }

  async close(): Promise<void> {
    this.done = true;
    const gone = closedP(this.socket);
    this.socket.write(frame({ opcode: OP.CLOSE, payload: closePayload(1000), mask: rng.bytes(4) }));
    await Promise.race([gone, sleep(3_000)]);
    this.closedCleanly = this.socket.destroyed;
    this.socket.destroy();
  }
}

// ---- honest clients start, before any attacker ---------------------------------------------------------------

const clients: HonestClient[] = await Promise.all(
  Array.from({ length: honestCount }, async (_, i) => {
    const { socket, rest } = await openWs();
    return new HonestClient(i, socket, rest);
  }),
);

// ---- attackers -----------------------------------------------------------------------------------------------

/** Run `attack` over and over, `parallel` at a time, until the soak stops. */
function campaign(parallel: number, attack: () => Promise<void>): Promise<void> {
  const worker = async () => {
    while (!stopping) {
      try {
        await attack();
      } catch {
        counters.attackErrors++;
        await sleep(10);
      }
    }
  };
  return Promise.all(Array.from({ length: parallel }, worker)).then(() => undefined);
}

const attacks: Array<Promise<void>> = [];

// Slowloris: a header byte every 50 ms until the server hangs up (handshakeMs).
attacks.push(
  campaign(5, async () => {
    const s = await connectRaw();
    const request = upgradeRequest().bytes;
    let at = 0;
    const drip = setInterval(() => {
      if (at < request.length && !s.destroyed) s.write(request.subarray(at, ++at));
    }, 50);
    await Promise.race([closedP(s), sleep(HANDSHAKE_MS * 3)]);
    clearInterval(drip);
    s.destroy();
    counters.slowloris++;
  }),
);

// Header floods: 64 KiB of header.
attacks.push(
  campaign(2, async () => {
    const s = await connectRaw();
    s.write(Buffer.concat([Buffer.from("GET / HTTP/1.1\r\nHost: x\r\nX-Flood: "), Buffer.alloc(64 * 1024, "a"), Buffer.from("\r\n\r\n")]));
    await Promise.race([closedP(s), sleep(3_000)]);
    s.destroy();
    counters.headerFloods++;
    await sleep(50);
  }),
);

// 1-byte fragment floods against the 1 MiB limit: 1009 after ~16,000 fragments.
const oneByte = Buffer.concat(Array.from({ length: 20_000 }, (_, i) => frame({ opcode: i === 0 ? OP.BINARY : OP.CONT, payload: Buffer.from([i & 0xff]), fin: false, mask: rng.bytes(4) })));
attacks.push(
  campaign(1, async () => {
    const { socket } = await openWs();
    socket.write(oneByte);
    await Promise.race([closedP(socket), sleep(5_000)]);
    socket.destroy();
    counters.fragmentFloods++;
    await sleep(200);
  }),
);

// Ping floods from peers that never read.
const pings = Buffer.concat(Array.from({ length: 1000 }, () => frame({ opcode: OP.PING, payload: Buffer.alloc(125, 1), mask: rng.bytes(4) })));
attacks.push(
  campaign(2, async () => {
    const { socket } = await openWs();
    socket.pause();
    const until = Date.now() + 3_000;
    while (Date.now() < until && !socket.destroyed && !stopping) {
      if (!socket.write(pings)) await Promise.race([new Promise((r) => socket.once("drain", r)), sleep(500)]);
    }
    socket.destroy();
    counters.pingFloods++;
  }),
);

// Receivers that never read: they send messages to echo and read nothing back.
const bulk = Buffer.concat(Array.from({ length: 64 }, () => frame({ opcode: OP.BINARY, payload: Buffer.alloc(16 * 1024, 2), mask: rng.bytes(4) })));
attacks.push(
  campaign(2, async () => {
    const { socket } = await openWs();
    socket.pause();
    const until = Date.now() + 3_000;
    while (Date.now() < until && !socket.destroyed && !stopping) {
      if (!socket.write(bulk)) await Promise.race([new Promise((r) => socket.once("drain", r)), sleep(500)]);
    }
    socket.destroy();
    counters.nonReaders++;
  }),
);

// Drops mid-handshake and mid-frame, FIN or reset.
attacks.push(
  campaign(4, async () => {
    if (rng.bool()) {
      const s = await connectRaw();
      s.write(upgradeRequest().bytes.subarray(0, rng.range(1, 100)));
      await sleep(rng.int(5));
      s.destroy();
    } else {
      const { socket } = await openWs();
      socket.write(frame({ opcode: OP.BINARY, payload: Buffer.alloc(1000), mask: rng.bytes(4) }).subarray(0, rng.range(1, 500)));
      await sleep(rng.int(5));
      const s = socket as Socket & { resetAndDestroy?: () => void };
      if (rng.bool() && s.resetAndDestroy) s.resetAndDestroy();
      else socket.destroy();
    }
    counters.drops++;
  }),
);

// Connect/close churn with clean close handshakes.
attacks.push(
  campaign(8, async () => {
    const { socket } = await openWs();
    socket.write(frame({ opcode: OP.CLOSE, payload: closePayload(1000), mask: rng.bytes(4) }));
    await Promise.race([closedP(socket), sleep(3_000)]);
    socket.destroy();
    counters.churn++;
  }),
);

// Mutated frame streams.
attacks.push(
  campaign(4, async () => {
    const { socket } = await openWs();
    socket.write(mutate(rng, conversation(rng, 2000).bytes));
    await Promise.race([closedP(socket), sleep(200)]);
    socket.destroy();
    counters.garbage++;
  }),
);

// ---- measuring ---------------------------------------------------------------------------------------------------

let gc: (() => void) | null = null;
try {
  setFlagsFromString("--expose-gc");
  gc = runInNewContext("gc") as () => void;
} catch {
  gc = null;
}
const mb = (n: number) => (n / 1024 / 1024).toFixed(1);
const fds = () => readdirSync("/proc/self/fd").length;
const started = Date.now();
const rows: string[] = [];
console.log(`soak: ${seconds} s, ${honestCount} honest clients, port ${port}`);
const lag = monitorEventLoopDelay({ resolution: 10 });
lag.enable();
console.log("| t (s) | RSS MB | heap MB | heap after GC MB | connections | fds | loop delay p99 / max ms | honest sent | honest echoed | attacks so far |");
console.log("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
const report = () => {
  const heap = process.memoryUsage().heapUsed;
  gc?.();
  const m = process.memoryUsage();
  const attacksSoFar = Object.entries(counters)
    .filter(([k]) => k !== "attackErrors")
    .reduce((n, [, v]) => n + v, 0);
  const row = `| ${Math.round((Date.now() - started) / 1000)} | ${mb(m.rss)} | ${mb(heap)} | ${mb(m.heapUsed)} | ${loop.context.connectionCount} | ${fds()} | ${(lag.percentile(99) / 1e6).toFixed(0)} / ${(lag.max / 1e6).toFixed(0)} | ${honest.sent.toLocaleString("en")} | ${honest.received.toLocaleString("en")} | ${attacksSoFar.toLocaleString("en")} |`;
  rows.push(row);
  console.log(row);
  lag.reset();
};
report();
const ticker = setInterval(report, 10_000);
await sleep(seconds * 1000);

// ---- winding down ------------------------------------------------------------------------------------------------

stopping = true;
clearInterval(ticker);
await Promise.race([Promise.all(attacks), sleep(10_000)]);
// Honest traffic: no new messages; wait for the ones in flight.
const drainDeadline = Date.now() + 15_000;
while (clients.some((c) => c.pending > 0) && Date.now() < drainDeadline) await sleep(20);
const lost = clients.reduce((n, c) => n + c.pending, 0);
await Promise.all(clients.map((c) => c.close()));
const zeroDeadline = Date.now() + 10_000;
while (loop.context.connectionCount > 0 && Date.now() < zeroDeadline) await sleep(20);
report();
const left = loop.context.connectionCount;
await loop.close(1_000);

console.log("");
console.log(`honest messages: ${honest.sent.toLocaleString("en")} sent, ${honest.received.toLocaleString("en")} echoed (${mb(honest.bytes)} MB), lost ${lost}, corrupted ${honest.corrupted}, honest connections dropped ${honest.dropped}`);
console.log(`abuse: ${Object.entries(counters).map(([k, v]) => `${k} ${v.toLocaleString("en")}`).join(", ")}`);
console.log(`connections left after everyone closed: ${left}`);
const ok = lost === 0 && honest.corrupted === 0 && honest.dropped === 0 && left === 0;
console.log(ok ? "soak: OK" : "soak: FAILED");
process.exit(ok ? 0 : 1);
