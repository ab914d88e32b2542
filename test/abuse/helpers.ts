/**
 * Helpers for the abuse tests: a NodeLoop on 127.0.0.1 with chosen limits and
 * timeouts, raw attacking sockets, descriptor and heap measurements, and waits that
 * poll a condition (never a fixed sleep) with a timeout as the bound.
 */
import { randomBytes } from "node:crypto";
import { readdirSync } from "node:fs";
import { connect as netConnect, type Socket } from "node:net";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { NodeLoop } from "../../src/loops/node/index.js";
import type { SocketTransport } from "../../src/loops/node/socket-transport.js";
import type { Connection } from "../../src/poll/connection.js";
import type { CallbackEvent } from "../../src/poll/events.js";
import type { ProtocolDefinition } from "../../src/poll/protocol.js";
import type { Timeouts } from "../../src/poll/vhost.js";

export const LOOPBACK = "127.0.0.1";

export interface Served {
  loop: NodeLoop;
  port: number;
  /**
   * The protocol's callback events (RECEIVE, WRITEABLE and the *_POLL_FD ones left out) as
   * plain values: their scalar fields only, never the connection, so that recording them
   * retains nothing (the leak tests count the heap). The newest 1000 are kept.
   */
  events: RecordedEvent[];
  connections(): Connection[];
  stop(): Promise<void>;
}

/** Serve `protocol` on 127.0.0.1:0, recording its events. */
export async function serve(protocol: ProtocolDefinition<any>, options: { timeouts?: Partial<Timeouts>; maxHeadBytes?: number } = {}): Promise<Served> {
  const events: RecordedEvent[] = [];
  const recorded: ProtocolDefinition<any> = {
    ...protocol,
    callback(event) {
      if (event.reason !== "RECEIVE" && event.reason !== "SERVER_WRITEABLE" && !event.reason.endsWith("POLL_FD")) {
        events.push(scalars(event as CallbackEvent));
        if (events.length > 1000) events.shift();
      }
      return protocol.callback(event);
    },
  };
  const loop = new NodeLoop({
    logger: { level: "err" },
    vhosts: [
      {
        name: "default",
        protocols: [recorded],
        listen: { port: 0, host: LOOPBACK },
        ...(options.timeouts ? { timeouts: options.timeouts } : {}),
        ...(options.maxHeadBytes ? { maxHeadBytes: options.maxHeadBytes } : {}),
      },
    ],
  });
  await loop.listen();
  return { loop, port: loop.port, events, connections: () => [...loop.context.connections], stop: () => loop.close(500) };
}

export type RecordedEvent = { reason: string } & Record<string, string | number | boolean>;

function scalars(event: CallbackEvent): RecordedEvent {
  const out: Record<string, string | number | boolean> = {};
  for (const [k, v] of Object.entries(event)) if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") out[k] = v;
  return out as RecordedEvent;
}

/** The Node socket under a server connection. */
export function socketOf(connection: Connection): Socket {
  return (connection.transport as SocketTransport).socket;
}

// ---- waiting ---------------------------------------------------------------------------------------

/** Resolve when `condition()` holds (checked every 5 ms); reject with `what` after `timeoutMs`. */
export function waitUntil(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  return new Promise((resolve, reject) => {
    if (condition()) return resolve();
    const started = Date.now();
    const timer = setInterval(() => {
      if (condition()) {
        clearInterval(timer);
        resolve();
      } else if (Date.now() - started > timeoutMs) {
        clearInterval(timer);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }
    }, 5);
  });
}

/**
 * Resolve with the value `sample()` settles at: unchanged across `checks` looks `everyMs`
 * apart ("the pipe is full and nothing moves"). Rejects if it never settles.
 */
export async function settled<T>(sample: () => T, what: string, checks = 6, everyMs = 25, timeoutMs = 15_000): Promise<T> {
  let last = sample();
  let same = 0;
  const started = Date.now();
  while (same < checks) {
    await new Promise((resolve) => setTimeout(resolve, everyMs));
    const now = sample();
    if (now === last) same++;
    else {
      same = 0;
      last = now;
    }
    if (Date.now() - started > timeoutMs) throw new Error(`${what} did not settle within ${timeoutMs} ms`);
  }
  return last;
}

// ---- attackers ---------------------------------------------------------------------------------------

export function connectRaw(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ port, host: LOOPBACK });
    socket.setNoDelay(true);
    socket.once("connect", () => {
      socket.off("error", reject);
      socket.on("error", () => {});
      resolve(socket);
    });
    socket.once("error", reject);
  });
}

export function upgradeRequest(extra: string[] = []): string {
  return [
    "GET / HTTP/1.1",
    `Host: ${LOOPBACK}`,
    "Upgrade: websocket",
    "Connection: Upgrade",
    `Sec-WebSocket-Key: ${randomBytes(16).toString("base64")}`,
    "Sec-WebSocket-Version: 13",
    ...extra,
    "",
    "",
  ].join("\r\n");
}

/** Connect and complete the opening handshake; resolves with the socket (the 101 consumed). */
export async function openWebSocket(port: number): Promise<Socket> {
  const socket = await connectRaw(port);
  socket.write(upgradeRequest());
  await new Promise<void>((resolve, reject) => {
    let head = "";
    const onData = (chunk: Buffer) => {
      head += chunk.toString("latin1");
      const end = head.indexOf("\r\n\r\n");
      if (end === -1) return;
      socket.off("data", onData);
      if (!head.startsWith("HTTP/1.1 101")) return reject(new Error(`no 101: ${head.slice(0, 60)}`));
      // Bytes after the head (none expected before we send) would be lost here; the tests send first.
      if (end + 4 < head.length) socket.unshift(Buffer.from(head.slice(end + 4), "latin1"));
      resolve();
    };
    socket.on("data", onData);
    socket.once("close", () => reject(new Error("closed during the handshake")));
  });
  return socket;
}

/** A masked client frame. */
export function clientFrame(opcode: number, payload: Buffer | string = Buffer.alloc(0), fin = true): Buffer {
  const data = typeof payload === "string" ? Buffer.from(payload) : payload;
  const mask = randomBytes(4);
  const extended = data.length < 126 ? 0 : data.length < 65536 ? 2 : 8;
  const header = Buffer.alloc(2 + extended + 4);
  header[0] = (fin ? 0x80 : 0) | opcode;
  header[1] = 0x80 | (extended === 0 ? data.length : extended === 2 ? 126 : 127);
  if (extended === 2) header.writeUInt16BE(data.length, 2);
  if (extended === 8) header.writeBigUInt64BE(BigInt(data.length), 2);
  mask.copy(header, 2 + extended);
  const body = Buffer.allocUnsafe(data.length);
  for (let i = 0; i < data.length; i++) body[i] = data[i]! ^ mask[i & 3]!;
  return Buffer.concat([header, body]);
}

/** Collects what a socket receives and when the peer ended it. */
export class Sink {
  bytes = 0;
  chunks: Buffer[] = [];
  closed = false;
  closedAt = 0;
  constructor(
    readonly socket: Socket,
    keep = true,
  ) {
    socket.on("data", (c: Buffer) => {
      this.bytes += c.length;
      if (keep) this.chunks.push(c);
    });
    socket.once("close", () => {
      this.closed = true;
      this.closedAt = Date.now();
    });
  }
  text(): string {
    return Buffer.concat(this.chunks).toString("latin1");
  }
  /** The close code of the first close frame received (server frames are unmasked), or null. */
  closeCode(): number | null {
    const all = Buffer.concat(this.chunks);
    let at = 0;
    while (at + 2 <= all.length) {
      const op = all[at]! & 0x0f;
      let len = all[at + 1]! & 0x7f;
      let p = at + 2;
      if (len === 126) {
        if (p + 2 > all.length) return null;
        len = all.readUInt16BE(p);
        p += 2;
      } else if (len === 127) {
        if (p + 8 > all.length) return null;
        len = Number(all.readBigUInt64BE(p));
        p += 8;
      }
      if (p + len > all.length) return null;
      if (op === 8) return len >= 2 ? all.readUInt16BE(p) : 1005;
      at = p + len;
    }
    return null;
  }
}

// ---- measurements --------------------------------------------------------------------------------------

/** Open descriptors of this process (Linux). */
export function fdCount(): number {
  return readdirSync("/proc/self/fd").length;
}

let gcFn: (() => void) | null | undefined;

/** A full GC: globalThis.gc when node runs with --expose-gc, else V8's flag set at run time. */
export function collectGarbage(): boolean {
  if (gcFn === undefined) {
    const g = (globalThis as { gc?: () => void }).gc;
    if (typeof g === "function") gcFn = g;
    else {
      try {
        setFlagsFromString("--expose-gc");
        gcFn = runInNewContext("gc") as () => void;
      } catch {
        gcFn = null;
      }
    }
  }
  if (!gcFn) return false;
  gcFn();
  gcFn();
  return true;
}

export function heapUsed(): number {
  collectGarbage();
  return process.memoryUsage().heapUsed;
}

export const MiB = 1024 * 1024;
