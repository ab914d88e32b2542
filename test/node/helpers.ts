/**
 * Helpers for the Node loop's tests: loops on 127.0.0.1 with port 0, `ws` clients,
 * recording protocol callbacks, waiting on conditions (never fixed sleeps), raw sockets
 * for peers that misbehave on purpose, and throw-away certificates made with openssl.
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer as createNetServer, connect as netConnect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import WebSocket from "ws";
import { NodeLoop, type NodeLoopOptions } from "../../src/loops/node/index.js";
import type { CallbackEvent, ConnectionEvents } from "../../src/poll/events.js";
import type { LogLevel } from "../../src/poll/logger.js";
import { defineProtocol, type ProtocolDefinition } from "../../src/poll/protocol.js";
import type { Connection } from "../../src/poll/connection.js";

export const LOOPBACK = "127.0.0.1";

// ---- waiting --------------------------------------------------------------------------

/**
 * Resolve when `condition()` holds, checking on every turn of the loop's timers phase
 * (a condition wait, not a sleep); reject with `what` after `timeoutMs`.
 */
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
 * Resolve once `sample()` has stayed the same across `checks` consecutive looks
 * `everyMs` apart: for "the pipe has filled and nothing moves any more". The value it
 * settled at is returned; a test asserts on it.
 */
export async function settled<T>(sample: () => T, what: string, checks = 5, everyMs = 20, timeoutMs = 10_000): Promise<T> {
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

// ---- recording protocol callbacks ------------------------------------------------------

export type AnyEvent = CallbackEvent<unknown>;

/** Records every callback a protocol gets, and lets a test wait for one. */
export class EventLog {
  readonly events: AnyEvent[] = [];
  private waiters: Array<{ match: (e: AnyEvent) => boolean; resolve: (e: AnyEvent) => void }> = [];

  push(event: AnyEvent): void {
    this.events.push(event);
    this.waiters = this.waiters.filter((w) => {
      if (!w.match(event)) return true;
      w.resolve(event);
      return false;
    });
  }

  reasons(): string[] {
    return this.events.map((e) => e.reason);
  }

  of<R extends AnyEvent["reason"]>(reason: R): Array<Extract<AnyEvent, { reason: R }>> {
    return this.events.filter((e) => e.reason === reason) as Array<Extract<AnyEvent, { reason: R }>>;
  }

  /** The first event (already recorded or still to come) with this reason that matches. */
  waitFor<R extends AnyEvent["reason"]>(
    reason: R,
    match: (e: Extract<AnyEvent, { reason: R }>) => boolean = () => true,
    timeoutMs = 5_000,
  ): Promise<Extract<AnyEvent, { reason: R }>> {
    const test = (e: AnyEvent) => e.reason === reason && match(e as Extract<AnyEvent, { reason: R }>);
    const seen = this.events.find(test);
    if (seen) return Promise.resolve(seen as Extract<AnyEvent, { reason: R }>);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${reason}; saw: ${this.reasons().join(", ")}`));
      }, timeoutMs);
      const waiter = {
        match: test,
        resolve: (e: AnyEvent) => {
          clearTimeout(timer);
          resolve(e as Extract<AnyEvent, { reason: R }>);
        },
      };
      this.waiters.push(waiter);
    });
  }
}

/**
 * An echo protocol that records what it is told: each message goes back with its
 * type, written one per WRITEABLE as lws requires.
 */
export function recordingEcho(log: EventLog, name = "echo", extra: Partial<ProtocolDefinition<EchoQueue>> = {}): ProtocolDefinition<EchoQueue> {
  return defineProtocol<EchoQueue>({
    name,
    maxMessageSize: 32 * 1024 * 1024,
    maxFrameSize: 32 * 1024 * 1024,
    createUserData: () => ({ queue: [] }),
    ...extra,
    callback(event) {
      log.push(event as AnyEvent);
      if (event.reason === "RECEIVE") {
        event.connection.userData.queue.push({ data: Buffer.from(event.data), binary: event.binary });
        event.connection.requestWriteable();
      } else if (event.reason === "SERVER_WRITEABLE") {
        const next = event.connection.userData.queue.shift();
        if (next) event.connection.write(next.data, next.binary ? "binary" : "text");
        if (event.connection.userData.queue.length > 0) event.connection.requestWriteable();
      }
    },
  });
}

export interface EchoQueue {
  queue: Array<{ data: Buffer; binary: boolean }>;
}

/** A logger that keeps its lines, for asserting on warnings. */
export function capturingLogger(level: LogLevel = "info") {
  const lines: Array<{ level: LogLevel; message: string }> = [];
  return {
    lines,
    options: { level, emit: (l: LogLevel, message: string) => void lines.push({ level: l, message }) },
  };
}

/** A NodeLoop serving one vhost on 127.0.0.1, port 0, already listening. */
export async function listeningLoop(options: Partial<NodeLoopOptions> & { protocols: ProtocolDefinition<any>[] }): Promise<NodeLoop> {
  const { protocols, ...rest } = options;
  const loop = new NodeLoop({
    logger: { level: "warn" },
    vhosts: [{ name: "default", protocols, listen: { port: 0, host: LOOPBACK } }],
    ...rest,
  });
  await loop.listen();
  return loop;
}

// ---- ws clients --------------------------------------------------------------------------

/** Open a `ws` client; resolves once open, rejects on error or an unexpected response. */
export async function openWs(url: string, protocols?: string | string[], options: WebSocket.ClientOptions = {}): Promise<WebSocket> {
  const ws = new WebSocket(url, protocols, options);
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
    ws.once("unexpected-response", (_req, res) => reject(new Error(`unexpected response ${res.statusCode}`)));
  });
  return ws;
}

export interface Received {
  data: Buffer;
  binary: boolean;
}

/** Collects every message a ws client receives and lets the test wait for a count. */
export class Inbox {
  readonly messages: Received[] = [];
  constructor(readonly ws: WebSocket) {
    ws.on("message", (data: WebSocket.RawData, binary: boolean) => {
      this.messages.push({ data: toBuffer(data), binary });
    });
  }

  async take(count: number, timeoutMs = 10_000): Promise<Received[]> {
    await waitUntil(() => this.messages.length >= count, `${count} messages (have ${this.messages.length})`, timeoutMs);
    return this.messages.splice(0, count);
  }

  async next(timeoutMs = 5_000): Promise<Received> {
    return (await this.take(1, timeoutMs))[0]!;
  }
}

function toBuffer(data: WebSocket.RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

/** Resolves with the close code and reason the ws client saw. */
export function closeOf(ws: WebSocket): Promise<{ code: number; reason: string }> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.reject(new Error("already closed"));
  return new Promise((resolve) => ws.once("close", (code, reason) => resolve({ code, reason: reason.toString() })));
}

/** Close a ws client and wait until it is closed. */
export async function closeWs(ws: WebSocket): Promise<void> {
  if (ws.readyState === WebSocket.CLOSED) return;
  const closed = once(ws, "close");
  if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
  else ws.close(1000);
  await closed;
}

// ---- raw sockets ---------------------------------------------------------------------------

/** A port nothing listens on: bound once, then released. */
export async function closedPort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export async function rawConnect(port: number, host = LOOPBACK): Promise<Socket> {
  const socket = netConnect({ port, host });
  await once(socket, "connect");
  return socket;
}

export function upgradeRequest(path = "/", extra: string[] = []): string {
  return [
    `GET ${path} HTTP/1.1`,
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

/** A masked client frame (FIN set). */
export function clientFrame(payload: Buffer | string, opcode = 0x1): Buffer {
  const data = typeof payload === "string" ? Buffer.from(payload, "utf8") : payload;
  const mask = randomBytes(4);
  let header: Buffer;
  if (data.length < 126) {
    header = Buffer.from([0x80 | opcode, 0x80 | data.length]);
  } else if (data.length < 65536) {
    header = Buffer.alloc(4);
    header[0] = 0x80 | opcode;
    header[1] = 0x80 | 126;
    header.writeUInt16BE(data.length, 2);
  } else {
    header = Buffer.alloc(10);
    header[0] = 0x80 | opcode;
    header[1] = 0x80 | 127;
    header.writeBigUInt64BE(BigInt(data.length), 2);
  }
  const masked = Buffer.alloc(data.length);
  for (let i = 0; i < data.length; i++) masked[i] = data[i]! ^ mask[i & 3]!;
  return Buffer.concat([header, mask, masked]);
}

/** Reads from a raw socket until `text` has arrived; resolves with everything read. */
export function readUntil(socket: Socket, text: string, timeoutMs = 5_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = "";
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out waiting for ${JSON.stringify(text)}; got ${JSON.stringify(got)}`));
    }, timeoutMs);
    const onData = (chunk: Buffer) => {
      got += chunk.toString("latin1");
      if (got.includes(text)) {
        cleanup();
        resolve(got);
      }
    };
    const onEnd = () => {
      cleanup();
      if (got.includes(text)) resolve(got);
      else reject(new Error(`connection ended before ${JSON.stringify(text)}; got ${JSON.stringify(got)}`));
    };
    const cleanup = () => {
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("end", onEnd);
      socket.off("close", onEnd);
    };
    socket.on("data", onData);
    socket.on("end", onEnd);
    socket.on("close", onEnd);
  });
}

/** Everything a raw socket receives until the peer closes it. */
export function readAll(socket: Socket, timeoutMs = 5_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = "";
    const timer = setTimeout(() => reject(new Error(`timed out waiting for the end; got ${JSON.stringify(got)}`)), timeoutMs);
    socket.on("data", (chunk: Buffer) => (got += chunk.toString("latin1")));
    socket.once("close", () => {
      clearTimeout(timer);
      resolve(got);
    });
  });
}

/** The status code of an HTTP response head. */
export function statusOf(response: string): number {
  const match = /^HTTP\/1\.1 (\d{3})/.exec(response);
  if (!match) throw new Error(`not an HTTP response: ${JSON.stringify(response.slice(0, 80))}`);
  return Number(match[1]);
}

// ---- certificates ----------------------------------------------------------------------------

export const hasOpenssl = (() => {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();

export interface Pem {
  cert: string;
  key: string;
  certFile: string;
  keyFile: string;
}

/** Throw-away PKI in a temp dir: self-signed leaves and a small CA that signs others. */
export class TestPki {
  readonly dir = mkdtempSync(join(tmpdir(), "wsloop-pki-"));
  private serial = 1;
  private caValue: Pem | null = null;

  private run(args: string[]): void {
    execFileSync("openssl", args, { cwd: this.dir, stdio: ["ignore", "ignore", "pipe"] });
  }

  private pem(name: string): Pem {
    const certFile = join(this.dir, `${name}.crt`);
    const keyFile = join(this.dir, `${name}.key`);
    return { cert: readFileSync(certFile, "utf8"), key: readFileSync(keyFile, "utf8"), certFile, keyFile };
  }

  private newKey(name: string): void {
    this.run(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", `${name}.key`]);
  }

  /** A self-signed certificate for CN `cn` with these subjectAltNames (e.g. "DNS:a.test", "IP:127.0.0.1"). */
  selfSigned(name: string, cn: string, altNames: string[] = [`DNS:${cn}`]): Pem {
    this.newKey(name);
    this.run([
      "req", "-x509", "-new", "-key", `${name}.key`, "-out", `${name}.crt`, "-days", "2",
      "-subj", `/CN=${cn}`, "-addext", `subjectAltName=${altNames.join(",")}`,
    ]);
    return this.pem(name);
  }

  /** The test CA (made on first use). */
  get ca(): Pem {
    if (!this.caValue) {
      this.newKey("ca");
      this.run([
        "req", "-x509", "-new", "-key", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=wsloop test CA",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
      ]);
      this.caValue = this.pem("ca");
    }
    return this.caValue;
  }

  /** A certificate signed by the test CA; `usage` "server" or "client". */
  signed(name: string, cn: string, altNames: string[] = [`DNS:${cn}`], usage: "server" | "client" = "server"): Pem {
    const ca = this.ca;
    this.newKey(name);
    this.run(["req", "-new", "-key", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${cn}`]);
    const ext = join(this.dir, `${name}.ext`);
    writeFileSync(
      ext,
      [`subjectAltName=${altNames.join(",")}`, `extendedKeyUsage=${usage === "server" ? "serverAuth" : "clientAuth"}`, "basicConstraints=CA:FALSE"].join("\n"),
    );
    this.run([
      "x509", "-req", "-in", `${name}.csr`, "-CA", ca.certFile, "-CAkey", ca.keyFile, "-set_serial", String(this.serial++),
      "-out", `${name}.crt`, "-days", "2", "-extfile", ext,
    ]);
    return this.pem(name);
  }

  dispose(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

// ---- client loops --------------------------------------------------------------------------

/** A client-side protocol that records events and sends `outgoing` once established. */
export function recordingClient(log: EventLog, outgoing: Array<string | Buffer> = [], name = "client"): ProtocolDefinition<null> {
  const queue = [...outgoing];
  return defineProtocol<null>({
    name,
    callback(event) {
      log.push(event as AnyEvent);
      if (event.reason === "CLIENT_ESTABLISHED" && queue.length > 0) event.connection.requestWriteable();
      if (event.reason === "CLIENT_WRITEABLE") {
        const next = queue.shift();
        if (next !== undefined) event.connection.write(next);
        if (queue.length > 0) event.connection.requestWriteable();
      }
    },
  });
}

export type ClientErrorEvent = Extract<ConnectionEvents<unknown>, { reason: "CLIENT_CONNECTION_ERROR" }>;
export type { Connection };
