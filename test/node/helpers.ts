/**
 * Helpers for the Node loop's tests: loops on 127.0.0.1 with port 0, protocols that
 * record their callbacks, and throw-away certificates made with openssl. Waiting,
 * event logs, raw sockets, hand-written frames and `ws` clients are shared by every
 * suite: see test/helpers/.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NodeLoop, type NodeLoopOptions } from "../../src/loops/node/index.js";
import type { ConnectionEvents } from "../../src/poll/events.js";
import type { LogLevel } from "../../src/poll/logger.js";
import { defineProtocol, type ProtocolDefinition } from "../../src/poll/protocol.js";
import type { Connection } from "../../src/poll/connection.js";
import type { AnyEvent, EventLog } from "../helpers/event-log.js";
import { LOOPBACK } from "../helpers/sockets.js";

// ---- recording protocols ----------------------------------------------------------------

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
