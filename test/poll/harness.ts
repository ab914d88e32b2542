/**
 * A server and a client context on one ManualDriver, joined by the driver's in-memory
 * network, with every callback recorded as a short line. Tests script behaviour per
 * reason and read back three things: the callback lines, the hook calls, and the
 * transports' buffered bytes.
 */
import { ManualDriver, type HookCall } from "../../src/loops/manual/index.js";
import { expect } from "vitest";
import { acceptKey, encodeFrame, zeroMaskSource } from "../../src/core/index.js";
import {
  END_OF_STREAM,
  Logger,
  createMemoryPair,
  type MemoryTransport,
  type CallbackEvent,
  type CallbackResult,
  type Connection,
  type Context,
  type LogLevel,
  type MemoryPipeOptions,
  type ProtocolDefinition,
  type Timeouts,
  type VhostDefinition,
} from "../../src/poll/index.js";

export const SERVER_ADDRESS = "127.0.0.1";
export const SERVER_PORT = 7681;

type Reason = CallbackEvent["reason"];
type EventOf<R extends Reason> = Extract<CallbackEvent, { reason: R }>;
export type Handlers = { [R in Reason]?: (event: EventOf<R>) => CallbackResult };

/** One line per callback, e.g. `RECEIVE text "hi" first final`. */
export function describe(event: CallbackEvent): string {
  switch (event.reason) {
    case "RECEIVE":
    case "CLIENT_RECEIVE": {
      const flags = [event.first ? "first" : "", event.final ? "final" : "", event.remaining ? `remaining=${event.remaining}` : ""];
      const body = event.binary ? `binary[${event.data.length}]` : `text ${JSON.stringify(event.data.toString("utf8"))}`;
      return [event.reason, body, ...flags].filter(Boolean).join(" ");
    }
    case "RECEIVE_PONG":
    case "CLIENT_RECEIVE_PONG":
      return `${event.reason} ${JSON.stringify(event.data.toString("utf8"))}`;
    case "WS_PEER_INITIATED_CLOSE":
      return `${event.reason} ${event.code} ${JSON.stringify(event.closeReason)}`;
    case "CLOSED":
    case "CLIENT_CLOSED":
      return `${event.reason} ${event.code} ${JSON.stringify(event.closeReason)} ${event.clean ? "clean" : "unclean"}`;
    case "CLIENT_CONNECTION_ERROR":
      return `${event.reason} ${event.cause}`;
    case "ADD_POLL_FD":
      return `${event.reason} fd=${event.fd} events=${event.events}`;
    case "DEL_POLL_FD":
      return `${event.reason} fd=${event.fd}`;
    case "CHANGE_MODE_POLL_FD":
      return `${event.reason} fd=${event.fd} events=${event.events} prev=${event.prevEvents}`;
    case "RECEIVE_TOO_LARGE":
      return `${event.reason} ${event.kind} ${event.size}/${event.limit}`;
    default:
      return event.reason;
  }
}

const POLL_REASONS: ReadonlySet<Reason> = new Set(["ADD_POLL_FD", "DEL_POLL_FD", "CHANGE_MODE_POLL_FD"]);

export interface RecordingProtocol {
  protocol: ProtocolDefinition;
  /** Every callback but the *_POLL_FD ones, in order. */
  log: string[];
  /** The *_POLL_FD callbacks, in order. */
  pollLog: string[];
  /** Take and clear `log`. */
  take(): string[];
  /** Take and clear `pollLog`. */
  takePoll(): string[];
  /** Replace the scripted behaviour. */
  handlers: Handlers;
  /** The connections that reached ESTABLISHED / CLIENT_ESTABLISHED, in order. */
  established: Connection[];
}

/** A protocol that records every callback and runs the scripted handler for its reason. */
export function recording(name: string, handlers: Handlers = {}, extra: Partial<ProtocolDefinition> = {}): RecordingProtocol {
  const rec: RecordingProtocol = {
    log: [],
    pollLog: [],
    handlers,
    established: [],
    take() {
      const l = rec.log;
      rec.log = [];
      return l;
    },
    takePoll() {
      const l = rec.pollLog;
      rec.pollLog = [];
      return l;
    },
    protocol: {
      ...extra,
      name,
      callback(event: CallbackEvent): CallbackResult {
        if (POLL_REASONS.has(event.reason)) rec.pollLog.push(describe(event));
        else rec.log.push(describe(event));
        if (event.reason === "ESTABLISHED" || event.reason === "CLIENT_ESTABLISHED") rec.established.push(event.connection);
        const handler = rec.handlers[event.reason] as ((e: CallbackEvent) => CallbackResult) | undefined;
        return handler?.(event);
      },
    },
  };
  return rec;
}

/** The hook calls a HookCall list should contain, spelled as the *_POLL_FD callback lines. */
export function asPollCallbacks(calls: readonly HookCall[]): string[] {
  return calls.map((c) =>
    c.hook === "add"
      ? `ADD_POLL_FD fd=${c.fd} events=${c.events}`
      : c.hook === "del"
        ? `DEL_POLL_FD fd=${c.fd}`
        : `CHANGE_MODE_POLL_FD fd=${c.fd} events=${c.events} prev=${c.prevEvents}`,
  );
}

export interface LogLine {
  level: LogLevel;
  message: string;
}

export interface PairOptions {
  serverHandlers?: Handlers;
  clientHandlers?: Handlers;
  /** Extra protocol options (delivery, limits) for the "chat" protocol on both sides. */
  serverProtocol?: Partial<ProtocolDefinition>;
  clientProtocol?: Partial<ProtocolDefinition>;
  serverTimeouts?: Partial<Timeouts>;
  clientTimeouts?: Partial<Timeouts>;
  /** Pipe capacity / chunking of the connections the server accepts (both directions). */
  pipe?: MemoryPipeOptions;
  /** More vhost options for the server. */
  serverVhost?: Partial<VhostDefinition>;
}

export interface Pair {
  driver: ManualDriver;
  server: Context;
  client: Context;
  serverProto: RecordingProtocol;
  clientProto: RecordingProtocol;
  /** What the contexts logged (level debug and up). */
  serverLogs: LogLine[];
  clientLogs: LogLine[];
  /** Dial the server; returns the client connection at once. */
  connect(protocols?: string[]): Connection;
  /** Hook calls since the last take, per side. */
  serverHooks(): HookCall[];
  clientHooks(): HookCall[];
  /**
   * Assert the hook calls since the last check, exactly, and that the same calls reached
   * protocol 0 as ADD_POLL_FD / DEL_POLL_FD / CHANGE_MODE_POLL_FD.
   */
  expectServerHooks(expected: HookCall[]): void;
  expectClientHooks(expected: HookCall[]): void;
}

/** A server context listening at SERVER_ADDRESS:SERVER_PORT and a client context, both serving protocol "chat". */
export function createPair(options: PairOptions = {}): Pair {
  const driver = new ManualDriver();
  const serverProto = recording("chat", options.serverHandlers, options.serverProtocol);
  const clientProto = recording("chat", options.clientHandlers, options.clientProtocol);
  const serverLogs: LogLine[] = [];
  const clientLogs: LogLine[] = [];
  const server = driver.createContext({
    vhosts: [{ ...options.serverVhost, protocols: [serverProto.protocol], timeouts: options.serverTimeouts ?? {} }],
    logger: new Logger({ level: "debug", emit: (level, message) => serverLogs.push({ level, message }) }),
  });
  const client = driver.createContext({
    vhosts: [{ protocols: [clientProto.protocol], timeouts: options.clientTimeouts ?? {} }],
    logger: new Logger({ level: "debug", emit: (level, message) => clientLogs.push({ level, message }) }),
    // Deterministic bytes on the wire, so runs can be compared.
    maskSource: zeroMaskSource,
  });
  driver.network.listen(SERVER_ADDRESS, SERVER_PORT, server, options.pipe ? { pipe: options.pipe } : {});
  return {
    driver,
    server,
    client,
    serverProto,
    clientProto,
    serverLogs,
    clientLogs,
    connect: (protocols = ["chat"]) => client.connect({ address: SERVER_ADDRESS, port: SERVER_PORT, protocols }),
    serverHooks: () => driver.takeHookLog(server),
    clientHooks: () => driver.takeHookLog(client),
    expectServerHooks: (expected) => expectHooks(driver, server, serverProto, expected),
    expectClientHooks: (expected) => expectHooks(driver, client, clientProto, expected),
  };
}

/** Create a pair, connect, run the handshake to completion, and clear every log. */
export function establishedPair(options: PairOptions = {}): Pair & { serverConn: Connection; clientConn: Connection } {
  const pair = createPair(options);
  const clientConn = pair.connect();
  pair.driver.run();
  const serverConn = pair.serverProto.established[0];
  if (!serverConn || pair.clientProto.established[0] !== clientConn) {
    throw new Error(`handshake did not complete: server ${pair.serverProto.log.join(", ")}; client ${pair.clientProto.log.join(", ")}`);
  }
  pair.serverProto.take();
  pair.clientProto.take();
  pair.serverProto.takePoll();
  pair.clientProto.takePoll();
  pair.serverHooks();
  pair.clientHooks();
  return { ...pair, serverConn, clientConn };
}

/**
 * Queue messages to send on a connection, one per WRITEABLE: `send(conn, "a", "b")`.
 * Installs itself as the side's WRITEABLE handler through `handlers`.
 */
export class Outbox {
  private readonly queue = new Map<Connection, Array<{ data: string | Uint8Array; kind?: "text" | "binary" | "continuation" | "ping"; fin?: boolean }>>();

  /** The handler to install for SERVER_WRITEABLE / CLIENT_WRITEABLE. */
  readonly onWriteable = (event: { connection: Connection }): CallbackResult => {
    const q = this.queue.get(event.connection);
    const next = q?.shift();
    if (!next) return;
    event.connection.write(next.data, next.kind, next.fin === undefined ? {} : { fin: next.fin });
    if (q!.length > 0) event.connection.requestWriteable();
  };

  send(connection: Connection, data: string | Uint8Array, kind?: "text" | "binary" | "continuation" | "ping", fin?: boolean): void {
    let q = this.queue.get(connection);
    if (!q) this.queue.set(connection, (q = []));
    q.push({ data, ...(kind ? { kind } : {}), ...(fin === undefined ? {} : { fin }) });
    connection.requestWriteable();
  }

  pending(connection: Connection): number {
    return this.queue.get(connection)?.length ?? 0;
  }
}

/** A hand-driven peer on one end of an in-memory pair: writes bytes, reads what arrived. */
export class RawPeer {
  constructor(readonly transport: MemoryTransport) {}

  /** Write bytes (they must fit in the pipe). */
  send(bytes: string | Uint8Array): void {
    const buf = typeof bytes === "string" ? Buffer.from(bytes, "latin1") : bytes;
    const taken = this.transport.write([buf]);
    if (taken !== buf.length) throw new Error(`raw peer: pipe took ${taken} of ${buf.length} bytes`);
  }

  /** A client's upgrade request, with a fixed key. */
  sendUpgrade(protocols: readonly string[] = ["chat"], path = "/"): void {
    const lines = [
      `GET ${path} HTTP/1.1`,
      `Host: ${SERVER_ADDRESS}:${SERVER_PORT}`,
      "Upgrade: websocket",
      "Connection: Upgrade",
      `Sec-WebSocket-Key: ${RAW_KEY}`,
      "Sec-WebSocket-Version: 13",
      ...(protocols.length ? [`Sec-WebSocket-Protocol: ${protocols.join(", ")}`] : []),
    ];
    this.send(lines.join("\r\n") + "\r\n\r\n");
  }

  /** One frame as a client sends it (masked, with the all-zero key). */
  sendFrame(opcode: number, payload: string | Uint8Array = Buffer.alloc(0), fin = true): void {
    this.send(clientFrame(opcode, payload, fin));
  }

  /** Everything that arrived so far, as one buffer (the END is not reported). */
  readAll(): Buffer {
    const parts: Buffer[] = [];
    for (;;) {
      const chunk = this.transport.read();
      if (chunk === null || chunk === END_OF_STREAM) break;
      parts.push(chunk);
    }
    return Buffer.concat(parts);
  }

  /** True once the other side ended its direction and everything before was read. */
  get sawEnd(): boolean {
    return this.transport.read() === END_OF_STREAM;
  }
}

/** One frame as a client sends it (masked, with the all-zero key), as bytes. */
export function clientFrame(opcode: number, payload: string | Uint8Array = Buffer.alloc(0), fin = true): Buffer {
  const out: Uint8Array[] = [];
  encodeFrame(out, opcode, typeof payload === "string" ? Buffer.from(payload) : payload, { fin, mask: zeroMaskSource });
  return Buffer.concat(out);
}

const RAW_KEY = "dGhlIHNhbXBsZSBub25jZQ==";

/**
 * Adopt the far end of a fresh in-memory pair into `context` (as a listener would) and
 * return a raw peer on the near end. Connection is null when FILTER_NETWORK_CONNECTION refused.
 */
export function adoptRaw(context: Context, pipe: MemoryPipeOptions = {}): { peer: RawPeer; connection: Connection | null } {
  const { a, b } = createMemoryPair(pipe);
  const connection = context.adopt(b);
  return { peer: new RawPeer(a), connection };
}

/** Assert a context's hook calls since the last take, and their *_POLL_FD twins on protocol 0. */
export function expectHooks(driver: ManualDriver, context: Context, protocol0: RecordingProtocol, expected: HookCall[]): void {
  expect(driver.takeHookLog(context)).toEqual(expected);
  expect(protocol0.takePoll()).toEqual(asPollCallbacks(expected));
}

export const add = (fd: number, events: number): HookCall => ({ hook: "add", fd, events });
export const del = (fd: number): HookCall => ({ hook: "del", fd });
export const mode = (fd: number, events: number, prevEvents: number): HookCall => ({ hook: "changeMode", fd, events, prevEvents });

/**
 * A client context whose dialer hands out the near end of in-memory pairs that stay
 * `connecting` until the test says so; the far ends are raw servers the test drives.
 */
export function rawServerClient(options: { timeouts?: Partial<Timeouts>; handlers?: Handlers; pipe?: MemoryPipeOptions } = {}) {
  const driver = new ManualDriver();
  const proto = recording("chat", options.handlers);
  const logs: LogLine[] = [];
  const servers: RawServer[] = [];
  const context = driver.createContext({
    vhosts: [{ protocols: [proto.protocol], timeouts: options.timeouts ?? {} }],
    logger: new Logger({ level: "debug", emit: (level, message) => logs.push({ level, message }) }),
    maskSource: zeroMaskSource,
    dialer: () => {
      const { a, b } = createMemoryPair({ ...options.pipe, connecting: true });
      servers.push(new RawServer(a, b));
      return a;
    },
  });
  return {
    driver,
    context,
    proto,
    logs,
    servers,
    connect: () => context.connect({ address: SERVER_ADDRESS, port: SERVER_PORT, protocols: ["chat"] }),
    expectHooks: (expected: HookCall[]) => expectHooks(driver, context, proto, expected),
  };
}

/** The server end of a dialed pair, driven by hand. */
export class RawServer extends RawPeer {
  constructor(
    /** The client's end, still connecting. */
    readonly clientEnd: MemoryTransport,
    transport: MemoryTransport,
  ) {
    super(transport);
  }

  /** Read the client's upgrade request and answer 101 (with subprotocol "chat"). */
  accept(): void {
    const request = this.readAll().toString("latin1");
    const key = /^sec-websocket-key:\s*(\S+)\s*$/im.exec(request)?.[1];
    if (!key) throw new Error(`raw server: no Sec-WebSocket-Key in ${JSON.stringify(request)}`);
    this.send(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        `Sec-WebSocket-Accept: ${acceptKey(key)}\r\nSec-WebSocket-Protocol: chat\r\n\r\n`,
    );
  }

  /** One frame as a server sends it (unmasked). */
  sendServerFrame(opcode: number, payload: string | Uint8Array = Buffer.alloc(0)): void {
    const out: Uint8Array[] = [];
    encodeFrame(out, opcode, typeof payload === "string" ? Buffer.from(payload) : payload);
    this.send(Buffer.concat(out));
  }
}
