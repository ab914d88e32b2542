/**
 * An HTTP server context on a ManualDriver, with an in-memory filesystem and a recording
 * protocol, and raw peers that write request bytes and read what comes back. Tests
 * script the protocol per reason and read back the callback lines and the responses.
 */
import { ManualDriver, MemoryFileOps } from "../../src/loops/manual/index.js";
import {
  END_OF_STREAM,
  Logger,
  createMemoryPair,
  type Context,
  type MemoryPipeOptions,
  type MemoryTransport,
  type ProtocolDefinition,
  type Timeouts,
  type VhostDefinition,
} from "../../src/poll/index.js";
import { recording, type Handlers, type LogLine, type RecordingProtocol } from "../poll/harness.js";
import { parseResponses, type WireResponse } from "./wire.js";

export interface HttpServerOptions {
  handlers?: Handlers;
  /** Extra vhost options for the one vhost (ignored when `vhosts` is given). */
  vhost?: Partial<VhostDefinition>;
  /** Whole vhost definitions; each gets the recording protocol first unless it lists protocols. */
  vhosts?: Array<Partial<VhostDefinition> & { name: string }>;
  timeouts?: Partial<Timeouts>;
  files?: Record<string, string | Uint8Array>;
  /** More protocols on the vhost, after the recording one. */
  protocols?: ProtocolDefinition<any>[];
}

export interface HttpServer {
  driver: ManualDriver;
  context: Context;
  proto: RecordingProtocol;
  files: MemoryFileOps;
  logs: LogLine[];
  /** A raw peer on a fresh connection to the server (adopted with every vhost in the group). */
  open(pipe?: MemoryPipeOptions): HttpPeer;
}

export function httpServer(options: HttpServerOptions = {}): HttpServer {
  const driver = new ManualDriver();
  const proto = recording("http", options.handlers);
  const files = new MemoryFileOps(options.files ?? {});
  const logs: LogLine[] = [];
  const extra = options.protocols ?? [];
  const vhosts: VhostDefinition[] = options.vhosts
    ? options.vhosts.map((v) => ({ ...v, protocols: v.protocols ?? [proto.protocol, ...extra] }))
    : [{ ...options.vhost, protocols: [proto.protocol, ...extra], timeouts: { ...options.timeouts, ...options.vhost?.timeouts } }];
  const context = driver.createContext({
    vhosts,
    fileOps: files,
    logger: new Logger({ level: "debug", emit: (level, message) => logs.push({ level, message }) }),
  });
  proto.take();
  const names = vhosts.map((v) => v.name ?? "default");
  return {
    driver,
    context,
    proto,
    files,
    logs,
    open(pipe = {}) {
      const { a, b } = createMemoryPair(pipe);
      context.adopt(b, { vhosts: names });
      return new HttpPeer(a, driver);
    },
  };
}

/** The client side of one connection, driven by hand. */
export class HttpPeer {
  private received: Buffer[] = [];
  private ended = false;

  constructor(
    readonly transport: MemoryTransport,
    private readonly driver: ManualDriver,
  ) {}

  /** Write bytes, in pieces if given several, running the driver after each. */
  send(...pieces: Array<string | Buffer>): this {
    for (const piece of pieces) {
      const buf = typeof piece === "string" ? Buffer.from(piece, "latin1") : piece;
      let at = 0;
      while (at < buf.length) {
        const taken = this.transport.write([buf.subarray(at)]);
        at += taken;
        this.driver.run();
        if (taken === 0) this.drain();
      }
    }
    this.driver.run();
    return this;
  }

  /** Read what arrived so far (keeping it). */
  drain(): Buffer {
    for (;;) {
      const chunk = this.transport.read();
      if (chunk === null) break;
      if (chunk === END_OF_STREAM) {
        this.ended = true;
        break;
      }
      this.received.push(chunk);
    }
    this.driver.run();
    return Buffer.concat(this.received);
  }

  /** Everything received, after running the driver until quiet (reading as it goes, so a full pipe never stalls it). */
  bytes(): Buffer {
    let before = -1;
    let now = this.drain().length;
    while (now !== before) {
      before = now;
      this.driver.run();
      now = this.drain().length;
    }
    return Buffer.concat(this.received);
  }

  text(): string {
    return this.bytes().toString("latin1");
  }

  /** The complete responses received, parsed; `methods` as for parseResponses. */
  responses(methods: readonly string[] = []): WireResponse[] {
    const bytes = this.bytes();
    return parseResponses(bytes, methods, this.sawEnd).responses;
  }

  /** The one response received. */
  response(method = "GET"): WireResponse {
    const list = this.responses([method]).filter((r) => r.status >= 200);
    if (list.length !== 1) throw new Error(`expected one response, got ${list.length}: ${JSON.stringify(this.text().slice(0, 300))}`);
    return list[0]!;
  }

  /** The server ended the connection (after everything it sent was read). */
  get sawEnd(): boolean {
    this.bytes();
    return this.ended;
  }

  /** Forget what was received so far. */
  clear(): void {
    this.bytes();
    this.received = [];
  }

  end(): void {
    this.transport.end();
    this.driver.run();
  }
}
