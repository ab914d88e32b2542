/**
 * A misbehaving WebSocket server on raw node:net, for the mirror suite: it reads the
 * client's upgrade request, answers whatever the script says (a wrong accept key, a
 * wrong status, masked frames, bad UTF-8 ...) and records every frame the client sends
 * back and whether, and when, the client hangs up.
 */
import { createServer, type Server, type Socket } from "node:net";
import { FrameReader, describeClose, describePayload, type WireFrame } from "./frames.js";
import { LOOPBACK, acceptFor, split, type Chunking } from "./raw-client.js";

export class ScriptedPeer {
  request = "";
  key = "";
  readonly frames: WireFrame[] = [];
  /** The client ended (FIN) or reset the TCP connection. */
  clientGone = false;
  clientGoneAt = 0;
  private head = Buffer.alloc(0);
  private readonly reader = new FrameReader();
  private listeners = new Set<() => void>();
  private requestSeen = false;
  /** We reset the connection ourselves: its close is not the client hanging up. */
  private dropped = false;

  constructor(readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    const gone = () => {
      if (this.dropped) return;
      if (!this.clientGone) {
        this.clientGone = true;
        this.clientGoneAt = Date.now();
      }
      this.changed();
    };
    socket.on("end", gone);
    socket.on("close", gone);
    socket.on("error", () => {});
  }

  private onData(chunk: Buffer): void {
    if (!this.requestSeen) {
      this.head = Buffer.concat([this.head, chunk]);
      const end = this.head.indexOf("\r\n\r\n");
      if (end === -1) return;
      this.request = this.head.subarray(0, end + 4).toString("latin1");
      this.key = /^sec-websocket-key:\s*(\S+)\s*$/im.exec(this.request)?.[1] ?? "";
      this.requestSeen = true;
      chunk = this.head.subarray(end + 4);
    }
    for (const f of this.reader.push(chunk)) this.frames.push(f);
    this.changed();
  }

  private changed(): void {
    for (const l of [...this.listeners]) l();
  }

  waitUntil(condition: () => boolean, timeoutMs: number): Promise<boolean> {
    if (condition()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const check = () => condition() && done(true);
      const timer = setTimeout(() => done(false), timeoutMs);
      const done = (ok: boolean) => {
        clearTimeout(timer);
        this.listeners.delete(check);
        resolve(ok);
      };
      this.listeners.add(check);
    });
  }

  waitRequest(timeoutMs = 3_000): Promise<boolean> {
    return this.waitUntil(() => this.requestSeen, timeoutMs);
  }

  /** Write bytes at a chunking, yielding between pieces. */
  async send(bytes: Buffer | string, chunking: Chunking = "whole"): Promise<void> {
    const data = typeof bytes === "string" ? Buffer.from(bytes, "latin1") : bytes;
    for (const piece of split(data, chunking)) {
      if (this.socket.destroyed || !this.socket.writable) return;
      this.socket.write(piece);
      if (chunking !== "whole") await new Promise<void>((r) => setImmediate(r));
    }
  }

  /** A correct 101 for the client's key, with extra header lines. */
  accept101(extra: string[] = [], acceptKey = acceptFor(this.key)): string {
    return ["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade", `Sec-WebSocket-Accept: ${acceptKey}`, ...extra, "", ""].join("\r\n");
  }

  /** Resolves true once the client has sent `n` frames (or false at the bound). */
  waitFrames(n: number, timeoutMs = 3_000): Promise<boolean> {
    return this.waitUntil(() => this.frames.length >= n, timeoutMs);
  }

  /** Resolves true once the client's close frame arrived. */
  waitCloseFrame(timeoutMs = 3_000): Promise<boolean> {
    return this.waitUntil(() => this.frames.some((f) => f.opcode === 8), timeoutMs);
  }

  waitClientGone(timeoutMs = 3_000): Promise<boolean> {
    return this.waitUntil(() => this.clientGone || this.dropped, timeoutMs);
  }

  /** What the client sent, as transcript entries; unmasked frames are flagged (clients must mask). */
  describeWire(): string[] {
    const out = this.frames.map((f) => {
      const flag = f.masked ? "" : " UNMASKED!";
      if (f.opcode === 8) return `${describeClose(f.payload)}${flag}`;
      if (f.opcode === 9 || f.opcode === 10) return `${f.opcode === 9 ? "ping" : "pong"} ${describePayload(f.payload, true)}${flag}`;
      const kind = f.opcode === 1 ? "text" : f.opcode === 2 ? "binary" : f.opcode === 0 ? "cont" : `opcode ${f.opcode}`;
      return `${kind} ${describePayload(f.payload, f.opcode === 1)}${f.fin ? "" : " (more)"}${flag}`;
    });
    if (this.clientGone) out.push("client hung up");
    return out;
  }

  /** Reset the connection from the server side (no close handshake). */
  drop(): void {
    this.dropped = true;
    this.socket.destroy();
  }

  close(): void {
    this.socket.destroy();
  }
}

/** A listener whose connections are handed to the current script, one at a time. */
export class ScriptedServer {
  private readonly server: Server;
  private waiting: Array<(peer: ScriptedPeer) => void> = [];
  private readonly peers: ScriptedPeer[] = [];
  port = 0;

  private constructor() {
    this.server = createServer((socket) => {
      const peer = new ScriptedPeer(socket);
      this.peers.push(peer);
      const w = this.waiting.shift();
      if (w) w(peer);
      else this.backlog.push(peer);
    });
  }
  private backlog: ScriptedPeer[] = [];

  static async start(): Promise<ScriptedServer> {
    const s = new ScriptedServer();
    await new Promise<void>((resolve) => s.server.listen(0, LOOPBACK, resolve));
    s.port = (s.server.address() as { port: number }).port;
    return s;
  }

  /** The next connection to arrive. */
  next(timeoutMs = 3_000): Promise<ScriptedPeer> {
    const ready = this.backlog.shift();
    if (ready) return Promise.resolve(ready);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no client connected to the scripted server")), timeoutMs);
      this.waiting.push((peer) => {
        clearTimeout(timer);
        resolve(peer);
      });
    });
  }

  async stop(): Promise<void> {
    for (const p of this.peers) p.close();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
