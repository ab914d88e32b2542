/**
 * A scripted WebSocket client on a raw node:net socket. It sends hand-built bytes at a
 * chosen chunking and records everything that comes back as a transcript of wire
 * events (messages, pings, pongs, the close frame, the end of the TCP connection, and
 * any rule the server broke), so a case can compare it with what the RFC demands.
 *
 * Waiting is always on an event with a timeout as the bound; nothing sleeps to wait.
 */
import { createHash, randomBytes } from "node:crypto";
import { connect as netConnect, type Socket } from "node:net";
import { FrameReader, OP, describeClose, describePayload, prng, type WireFrame } from "./frames.js";

export const LOOPBACK = "127.0.0.1";

/** How bytes are handed to the socket: in one write, one byte per write, or in random pieces. */
export type Chunking = "whole" | "bytes" | { random: number } | { chop: number };

export function chunkingLabel(c: Chunking): string {
  return typeof c === "string" ? c : "random" in c ? `random(seed ${c.random})` : `chops of ${c.chop}`;
}

export type WireEvent =
  | { kind: "message"; binary: boolean; payload: Buffer }
  | { kind: "ping"; payload: Buffer }
  | { kind: "pong"; payload: Buffer }
  | { kind: "close"; payload: Buffer }
  | { kind: "violation"; what: string }
  | { kind: "tcp-closed" };

export function describeEvent(e: WireEvent): string {
  switch (e.kind) {
    case "message":
      return `${e.binary ? "binary" : "text"} ${describePayload(e.payload, !e.binary)}`;
    case "ping":
    case "pong":
      return `${e.kind} ${describePayload(e.payload, true)}`;
    case "close":
      return describeClose(e.payload);
    case "violation":
      return `VIOLATION(${e.what})`;
    case "tcp-closed":
      return "tcp closed";
  }
}

/** Splits `bytes` as the chunking says (every piece a fresh copy). */
export function split(bytes: Buffer, chunking: Chunking): Buffer[] {
  if (bytes.length === 0) return [];
  if (chunking === "whole") return [bytes];
  if (chunking === "bytes") {
    const out: Buffer[] = [];
    for (let i = 0; i < bytes.length; i++) out.push(bytes.subarray(i, i + 1));
    return out;
  }
  if ("chop" in chunking) {
    const out: Buffer[] = [];
    for (let at = 0; at < bytes.length; at += chunking.chop) out.push(bytes.subarray(at, at + chunking.chop));
    return out;
  }
  const random = prng(chunking.random);
  const out: Buffer[] = [];
  // Mostly small pieces (headers torn apart), sometimes big ones.
  for (let at = 0; at < bytes.length; ) {
    const r = random();
    const size = r < 0.6 ? 1 + Math.floor(random() * 7) : r < 0.9 ? 1 + Math.floor(random() * 300) : 1 + Math.floor(random() * 65536);
    out.push(bytes.subarray(at, at + size));
    at += size;
  }
  return out;
}

const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A raw TCP connection that records what it receives and when the peer ends it. */
export class RawSocket {
  readonly socket: Socket;
  received: Buffer[] = [];
  receivedBytes = 0;
  /** The peer ended or reset the connection. */
  closed = false;
  /** The peer sent FIN (as opposed to only a reset). */
  gotEnd = false;
  errors: string[] = [];
  private listeners = new Set<() => void>();

  protected constructor(socket: Socket) {
    this.socket = socket;
    socket.on("data", (chunk: Buffer) => {
      this.received.push(chunk);
      this.receivedBytes += chunk.length;
      this.onData(chunk);
      this.changed();
    });
    socket.on("end", () => {
      this.gotEnd = true;
      this.changed();
    });
    socket.on("close", () => {
      this.closed = true;
      this.onClosed();
      this.changed();
    });
    // Writing after the server hung up is expected in these cases (EPIPE, ECONNRESET).
    socket.on("error", (error: NodeJS.ErrnoException) => {
      this.errors.push(error.code ?? error.message);
    });
  }

  static async connect(port: number, host = LOOPBACK): Promise<RawSocket> {
    const socket = await openSocket(port, host);
    return new RawSocket(socket);
  }

  protected onData(_chunk: Buffer): void {}
  protected onClosed(): void {}

  protected changed(): void {
    for (const l of [...this.listeners]) l();
  }

  /** Resolves true when `condition` holds, false after `timeoutMs` (the bound, not a sleep). */
  waitUntil(condition: () => boolean, timeoutMs: number): Promise<boolean> {
    if (condition()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const check = () => {
        if (!condition()) return;
        done(true);
      };
      const timer = setTimeout(() => done(false), timeoutMs);
      const done = (ok: boolean) => {
        clearTimeout(timer);
        this.listeners.delete(check);
        resolve(ok);
      };
      this.listeners.add(check);
    });
  }

  /**
   * Write `bytes` in pieces as `chunking` says, yielding to the loop between pieces so
   * they leave separately. Resolves false if the peer stopped reading for `stallMs`
   * (the rest is not sent) or hung up.
   */
  async send(bytes: Buffer, chunking: Chunking = "whole", stallMs = 10_000): Promise<"sent" | "peer closed" | "stalled"> {
    const pieces = split(bytes, chunking);
    for (let i = 0; i < pieces.length; i++) {
      if (this.socket.destroyed || !this.socket.writable) return "peer closed";
      const ok = this.socket.write(pieces[i]!);
      if (!ok) {
        const drained = await this.drained(stallMs);
        if (drained !== "drained") return drained;
      } else if (pieces.length > 1) await yieldToLoop();
    }
    return "sent";
  }

  /** Waits for the socket to drain, to close, or for `timeoutMs` (the peer stopped reading). */
  private drained(timeoutMs: number): Promise<"drained" | "peer closed" | "stalled"> {
    return new Promise((resolve) => {
      const done = (how: "drained" | "peer closed" | "stalled") => {
        clearTimeout(timer);
        this.socket.off("drain", onDrain);
        this.socket.off("close", onClose);
        resolve(how);
      };
      const onDrain = () => done("drained");
      const onClose = () => done("peer closed");
      const timer = setTimeout(() => done(this.closed || this.gotEnd ? "peer closed" : "stalled"), timeoutMs);
      this.socket.once("drain", onDrain);
      this.socket.once("close", onClose);
    });
  }

  /** Resolves true once the peer has closed the TCP connection. */
  waitClosed(timeoutMs = 3_000): Promise<boolean> {
    return this.waitUntil(() => this.closed, timeoutMs);
  }

  text(): string {
    return Buffer.concat(this.received).toString("latin1");
  }

  destroy(): void {
    this.socket.destroy();
  }
}

export function openSocket(port: number, host = LOOPBACK): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ port, host });
    socket.setNoDelay(true);
    socket.once("connect", () => {
      socket.off("error", reject);
      resolve(socket);
    });
    socket.once("error", reject);
  });
}

export interface UpgradeOptions {
  path?: string;
  host?: string;
  protocols?: string[];
  extraHeaders?: string[];
  key?: string;
}

export function upgradeRequest(o: UpgradeOptions = {}): { bytes: Buffer; key: string } {
  const key = o.key ?? randomBytes(16).toString("base64");
  const lines = [
    `GET ${o.path ?? "/"} HTTP/1.1`,
    `Host: ${o.host ?? LOOPBACK}`,
    "Upgrade: websocket",
    "Connection: Upgrade",
    `Sec-WebSocket-Key: ${key}`,
    "Sec-WebSocket-Version: 13",
    ...(o.protocols?.length ? [`Sec-WebSocket-Protocol: ${o.protocols.join(", ")}`] : []),
    ...(o.extraHeaders ?? []),
    "",
    "",
  ];
  return { bytes: Buffer.from(lines.join("\r\n"), "latin1"), key };
}

export function acceptFor(key: string): string {
  return createHash("sha1").update(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest("base64");
}

/**
 * A WebSocket client speaking through a RawSocket: it does the opening handshake, then
 * reads frames and keeps a transcript. It answers nothing by itself (no pongs, no close
 * echo): the script decides everything it sends.
 */
export class RawWsClient extends RawSocket {
  readonly events: WireEvent[] = [];
  readonly frames: WireFrame[] = [];
  private readonly reader = new FrameReader();
  private handshakeDone = false;
  private headBuffer = Buffer.alloc(0);
  head = "";
  private fragments: Buffer[] | null = null;
  private fragmentBinary = false;
  private sawClose = false;

  static async open(port: number, options: UpgradeOptions = {}, timeoutMs = 3_000): Promise<RawWsClient> {
    const client = new RawWsClient(await openSocket(port));
    const { bytes, key } = upgradeRequest(options);
    client.socket.write(bytes);
    const ok = await client.waitUntil(() => client.handshakeDone || client.closed, timeoutMs);
    if (!ok || !client.handshakeDone) {
      client.destroy();
      throw new Error(`no 101 from the server: ${JSON.stringify(client.head || client.headBuffer.toString("latin1"))}`);
    }
    const status = /^HTTP\/1\.1 (\d{3})/.exec(client.head)?.[1];
    const accept = /^sec-websocket-accept:\s*(\S+)\s*$/im.exec(client.head)?.[1];
    if (status !== "101" || accept !== acceptFor(key)) {
      client.destroy();
      throw new Error(`bad handshake answer: ${JSON.stringify(client.head)}`);
    }
    return client;
  }

  protected override onData(chunk: Buffer): void {
    if (!this.handshakeDone) {
      this.headBuffer = Buffer.concat([this.headBuffer, chunk]);
      const end = this.headBuffer.indexOf("\r\n\r\n");
      if (end === -1) return;
      this.head = this.headBuffer.subarray(0, end + 4).toString("latin1");
      this.handshakeDone = true;
      chunk = this.headBuffer.subarray(end + 4);
      this.headBuffer = Buffer.alloc(0);
    }
    for (const f of this.reader.push(chunk)) this.onFrame(f);
    if (this.reader.oversized !== null) this.violation(`frame declares ${this.reader.oversized} bytes`);
  }

  protected override onClosed(): void {
    this.events.push({ kind: "tcp-closed" });
  }

  private violation(what: string): void {
    this.events.push({ kind: "violation", what });
  }

  private onFrame(f: WireFrame): void {
    this.frames.push(f);
    if (this.sawClose) this.violation(`frame (opcode ${f.opcode}) after the close frame`);
    if (f.masked) this.violation("masked frame from the server");
    if (f.rsv !== 0) this.violation(`RSV bits ${f.rsv} set`);
    if (!f.minimalLength) this.violation("length not in its minimal form");
    const control = (f.opcode & 8) !== 0;
    if (control) {
      if (!f.fin) this.violation("fragmented control frame");
      if (f.payload.length > 125) this.violation("control frame over 125 bytes");
      if (f.opcode === OP.PING) this.events.push({ kind: "ping", payload: f.payload });
      else if (f.opcode === OP.PONG) this.events.push({ kind: "pong", payload: f.payload });
      else if (f.opcode === OP.CLOSE) {
        this.sawClose = true;
        if (f.payload.length >= 2 && !isUtf8Strict(f.payload.subarray(2))) this.violation("close reason is not UTF-8");
        if (f.payload.length >= 2 && !isWireCloseCode(f.payload.readUInt16BE(0))) this.violation(`close code ${f.payload.readUInt16BE(0)} may not be sent`);
        this.events.push({ kind: "close", payload: f.payload });
      } else this.violation(`reserved control opcode ${f.opcode}`);
      return;
    }
    if (f.opcode === OP.TEXT || f.opcode === OP.BINARY) {
      if (this.fragments) this.violation("new message inside a fragmented one");
      this.fragments = [f.payload];
      this.fragmentBinary = f.opcode === OP.BINARY;
    } else if (f.opcode === OP.CONT) {
      if (!this.fragments) {
        this.violation("continuation without a message");
        return;
      }
      this.fragments.push(f.payload);
    } else {
      this.violation(`reserved data opcode ${f.opcode}`);
      return;
    }
    if (f.fin) {
      const payload = Buffer.concat(this.fragments);
      this.fragments = null;
      if (!this.fragmentBinary && !isUtf8Strict(payload)) this.violation("text message from the server is not UTF-8");
      this.events.push({ kind: "message", binary: this.fragmentBinary, payload });
    }
  }

  count(kind: WireEvent["kind"]): number {
    return this.events.filter((e) => e.kind === kind).length;
  }

  /** Resolves true once `n` events of `kind` have arrived (or false at the bound). */
  waitEvents(kind: WireEvent["kind"], n: number, timeoutMs = 3_000): Promise<boolean> {
    return this.waitUntil(() => this.count(kind) >= n, timeoutMs);
  }

  waitCloseFrame(timeoutMs = 3_000): Promise<boolean> {
    return this.waitUntil(() => this.sawClose || this.closed, timeoutMs).then((ok) => ok && this.sawClose);
  }

  transcript(): string {
    return this.events.map(describeEvent).join(" · ");
  }
}

/** RFC 6455 §7.4 and the IANA registry: the codes an endpoint may put in a close frame. */
export function isWireCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

/** Node's own strict UTF-8 check stands in as an independent reference here. */
function isUtf8Strict(bytes: Buffer): boolean {
  try {
    new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/** One HTTP exchange on a raw socket: send the request (at a chunking), read until the server closes. */
export async function httpExchange(
  port: number,
  request: Buffer,
  chunking: Chunking = "whole",
  timeoutMs = 3_000,
): Promise<{ status: number | null; head: string; body: string; closed: boolean; raw: string }> {
  const s = await RawSocket.connect(port);
  await s.send(request, chunking);
  const closed = await s.waitClosed(timeoutMs);
  const raw = s.text();
  s.destroy();
  const end = raw.indexOf("\r\n\r\n");
  const head = end === -1 ? raw : raw.slice(0, end);
  const status = /^HTTP\/1\.1 (\d{3}) /.exec(raw)?.[1];
  return { status: status ? Number(status) : null, head, body: end === -1 ? "" : raw.slice(end + 4), closed, raw };
}

export type { WireFrame };
