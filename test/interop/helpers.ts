/**
 * Shared by the interop suites (test/interop/*.test.ts): the peer guard, wsloop servers
 * on 127.0.0.1 (NodeLoop + the demo protocols) and a recording client protocol; waits
 * and the event log are in test/helpers/. The peers themselves (Debian's chromium,
 * python3-websockets and libwebsockets' test apps) are installed by
 * `.ci/install-peers.sh`; helpers for driving them are in ./peers.
 *
 * Peer guard: a suite whose peer is missing is skipped with a test named after the
 * install command (and a warning on stderr), never silently; with
 * WSLOOP_REQUIRE_PEERS=1 (CI) the missing peer is a failing test instead.
 */
import { spawnSync } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { describe, it } from "vitest";
import { CloseCode } from "../../src/core/close-codes.js";
import { echoProtocol } from "../../src/demo/echo-protocol.js";
import { NodeLoop } from "../../src/loops/node/index.js";
import type { CallbackEvent } from "../../src/poll/events.js";
import { defineProtocol, type ProtocolDefinition } from "../../src/poll/protocol.js";
import type { AnyEvent, EventLog } from "../helpers/event-log.js";
import { LOOPBACK } from "../helpers/sockets.js";

export const INSTALL_HINT = "bash .ci/install-peers.sh";
export const REQUIRE_PEERS = process.env["WSLOOP_REQUIRE_PEERS"] === "1";

// ---- peer guard ----------------------------------------------------------------------

export function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Why a peer is unusable, or null when it is there. */
export type PeerCheck = () => string | null;

export const executableCheck =
  (...paths: string[]): PeerCheck =>
  () => {
    const missing = paths.filter((p) => !isExecutable(p));
    return missing.length ? `${missing.join(", ")} not found` : null;
  };

export const PYTHON = "/usr/bin/python3";

/** Debian's python3 must be able to import websockets (package python3-websockets). */
export const pythonWebsocketsCheck: PeerCheck = () => {
  if (!isExecutable(PYTHON)) return `${PYTHON} not found`;
  const r = spawnSync(PYTHON, ["-c", "import websockets, sys; sys.stdout.write(websockets.version.version)"], {
    encoding: "utf8",
    timeout: 10_000,
  });
  if (r.status !== 0) return `${PYTHON} cannot import websockets (${(r.stderr || r.error?.message || "").trim().split("\n").pop()})`;
  return null;
};

/**
 * `describe` for a suite that needs a real peer. Peer present: the suite runs. Missing:
 * with WSLOOP_REQUIRE_PEERS=1 one failing test says so; otherwise the suite is skipped
 * with a skipped test whose name tells how to install it, and a warning on stderr.
 */
export function describeWithPeer(title: string, peer: string, check: PeerCheck, body: () => void): void {
  const problem = check();
  if (problem === null) {
    describe(title, body);
    return;
  }
  const message = `${peer} is missing (${problem}): install it with \`${INSTALL_HINT}\``;
  if (REQUIRE_PEERS) {
    describe(title, () => {
      it(`needs ${peer}`, () => {
        throw new Error(`${message}. WSLOOP_REQUIRE_PEERS=1, so a missing peer fails the interop suite.`);
      });
    });
    return;
  }
  process.stderr.write(`[interop] SKIPPED "${title}": ${message} (set WSLOOP_REQUIRE_PEERS=1 to make this a failure)\n`);
  describe(title, () => {
    it.skip(`SKIPPED: ${message}`, () => {});
  });
}

// ---- wsloop servers ------------------------------------------------------------------

export const ECHO_MAX_MESSAGE = 32 * 1024 * 1024;
export const CLOSE_ME = "close-me";
export const CLOSE_ME_CODE = 4001;
export const CLOSE_ME_REASON = "bye from wsloop";

/** What a server protocol saw of an upgrade request (FILTER_PROTOCOL_CONNECTION). */
export interface SeenHandshake {
  path: string;
  /** Sec-WebSocket-Extensions the peer offered, or null. */
  extensions: string | null;
  protocol: string | null;
}

/**
 * The demo echo protocol (maxMessageSize 32 MiB), except that the text message
 * "close-me" makes the server close with 4001 "bye from wsloop". Upgrade requests it
 * is asked to accept are recorded in `seen`.
 */
export function echoWithCloseMe(name = "echo", seen?: SeenHandshake[], deflate = false): ProtocolDefinition<any> {
  const echo = recordHandshakes(echoProtocol({ name, maxMessageSize: ECHO_MAX_MESSAGE, deflate }), seen);
  return defineProtocol<any>({
    ...echo,
    callback(event: CallbackEvent<any>) {
      if (event.reason === "RECEIVE" && !event.binary && event.data.length === CLOSE_ME.length && event.data.toString("utf8") === CLOSE_ME) {
        event.connection.close(CLOSE_ME_CODE, CLOSE_ME_REASON);
        return;
      }
      return echo.callback(event);
    },
  });
}

/** `protocol`, also recording into `seen` each upgrade request it is asked to accept. */
export function recordHandshakes(protocol: ProtocolDefinition<any>, seen?: SeenHandshake[]): ProtocolDefinition<any> {
  if (!seen) return protocol;
  return defineProtocol<any>({
    ...protocol,
    callback(event: CallbackEvent<any>) {
      if (event.reason === "FILTER_PROTOCOL_CONNECTION") {
        seen.push({
          path: event.path,
          extensions: event.headers.get("sec-websocket-extensions") ?? null,
          protocol: event.headers.get("sec-websocket-protocol") ?? null,
        });
      }
      return protocol.callback(event);
    },
  });
}

export interface WsloopServer {
  /** The Node loop serving, when it is one (the rx server has its own). */
  loop?: NodeLoop;
  port: number;
  url: string;
  /** What the loop logged at warn and above (for failure messages). */
  log: string[];
  close(): Promise<void>;
}

/** A NodeLoop serving `protocols` on 127.0.0.1, port 0 (first protocol is the default). */
export async function startWsloopServer(protocols: ProtocolDefinition<any>[], defaultProtocol?: string): Promise<WsloopServer> {
  const log: string[] = [];
  const loop = new NodeLoop({
    logger: { level: "warn", emit: (level, message) => void log.push(`${level}: ${message}`) },
    vhosts: [
      {
        name: "default",
        protocols,
        ...(defaultProtocol ? { defaultProtocol } : {}),
        listen: { port: 0, host: LOOPBACK },
      },
    ],
  });
  await loop.listen();
  const port = loop.port;
  return { loop, port, url: `ws://${LOOPBACK}:${port}/`, log, close: () => loop.close(2_000) };
}

// ---- wsloop clients ------------------------------------------------------------------

/**
 * A client protocol named `name` that records its events; `send(connection, data)`
 * queues a message, written one per CLIENT_WRITEABLE as lws requires.
 */
export function recordingClient(recorder: EventLog, name: string) {
  const queues = new Map<unknown, Array<string | Buffer>>();
  const protocol = defineProtocol<null>({
    name,
    maxMessageSize: ECHO_MAX_MESSAGE,
    maxFrameSize: ECHO_MAX_MESSAGE,
    callback(event) {
      // Payloads are views of receive buffers: record a copy.
      recorder.push((event.reason === "CLIENT_RECEIVE" ? { ...event, data: Buffer.from(event.data) } : event) as AnyEvent);
      if (event.reason === "CLIENT_WRITEABLE") {
        const queue = queues.get(event.connection) ?? [];
        const next = queue.shift();
        if (next !== undefined) event.connection.write(next, typeof next === "string" ? "text" : "binary");
        if (queue.length > 0) event.connection.requestWriteable();
      }
    },
  });
  return {
    protocol,
    send(connection: { requestWriteable(): void }, data: string | Buffer): void {
      let queue = queues.get(connection);
      if (!queue) queues.set(connection, (queue = []));
      queue.push(data);
      connection.requestWriteable();
    },
  };
}

/** A client-only NodeLoop with these protocols. */
export function clientLoop(protocols: ProtocolDefinition<any>[]): NodeLoop {
  return new NodeLoop({ logger: { level: "warn" }, vhosts: [{ name: "default", protocols }] });
}

export { CloseCode };

/**
 * The same echo on the RxJS loop, in RxJS terms: messages$ back through sendAll (so a
 * fast sender is held by TCP), except "close-me", which closes with 4001.
 */
export async function startRxCloseMeServer(deflate: boolean): Promise<WsloopServer> {
  const rx = await import("../../src/loops/rx/index.js");
  const { filter, mergeMap, tap } = await import("rxjs");
  const { permessageDeflate } = await import("../../src/core/deflate/negotiator.js");
  const log: string[] = [];
  const loop = new rx.RxLoop({
    protocols: [{ name: "echo", maxMessageSize: ECHO_MAX_MESSAGE, ...(deflate ? { extensions: [permessageDeflate()] } : {}) }],
    connection: { highWaterBytes: ECHO_MAX_MESSAGE, maxBufferedBytes: ECHO_MAX_MESSAGE },
    logger: { level: "warn", emit: (level, message) => void log.push(`${level}: ${message}`) },
  });
  const echoing = loop.connections$
    .pipe(
      mergeMap((c) =>
        c.sendAll(
          c.messages$.pipe(
            tap((m) => m === CLOSE_ME && c.close(CLOSE_ME_CODE, CLOSE_ME_REASON)),
            filter((m) => m !== CLOSE_ME),
          ),
        ),
      ),
    )
    .subscribe({ error: (e: unknown) => log.push(`err: ${String(e)}`) });
  const listener = await rx.listenRx(loop, { port: 0, host: LOOPBACK });
  return {
    port: listener.port,
    url: `ws://${LOOPBACK}:${listener.port}/`,
    log,
    async close() {
      await listener.close();
      loop.destroy();
      echoing.unsubscribe();
    },
  };
}

