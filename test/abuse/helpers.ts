/**
 * Helpers for the abuse tests: a NodeLoop on 127.0.0.1 with chosen limits and
 * timeouts, raw attacking sockets, and descriptor and heap measurements. Waiting,
 * raw sockets and hand-written frames are shared with the other suites: test/helpers/.
 */
import { readdirSync } from "node:fs";
import type { Socket } from "node:net";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { NodeLoop } from "../../src/loops/node/index.js";
import type { SocketTransport } from "../../src/loops/node/socket-transport.js";
import type { Connection } from "../../src/poll/connection.js";
import type { CallbackEvent } from "../../src/poll/events.js";
import type { ProtocolDefinition } from "../../src/poll/protocol.js";
import type { Timeouts } from "../../src/poll/vhost.js";
import { LOOPBACK, rawConnect } from "../helpers/sockets.js";
import { upgradeRequest } from "../helpers/wire.js";

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

// ---- attackers ---------------------------------------------------------------------------------------

/** An attacker's socket: Nagle off so each drip leaves at once; resets after connect ignored. */
export function connectRaw(port: number): Promise<Socket> {
  return rawConnect(port, { noDelay: true, ignoreErrors: true });
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
