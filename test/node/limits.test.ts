/**
 * Socket options and connection limits: at most maxConnections served at once, and at
 * most maxConnectionsPerIp from one peer address; beyond either the socket is closed at
 * accept (before any protocol hears of it) and a warning is logged. noDelay and
 * keepAliveMs are applied to every socket.
 */
import { Socket, createServer as createNetServer, connect as netConnect } from "node:net";
import { afterEach, describe, expect, it, vi } from "vitest";
import WebSocket from "ws";
import { NodeLoop, SocketTransport } from "../../src/loops/node/index.js";
import { EventLog } from "../helpers/event-log.js";
import { LOOPBACK } from "../helpers/sockets.js";
import { waitUntil } from "../helpers/wait.js";
import { closeWs, openWs } from "../helpers/ws-client.js";
import { capturingLogger, listeningLoop, recordingClient, recordingEcho } from "./helpers.js";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  vi.restoreAllMocks();
  while (cleanups.length) await cleanups.pop()!();
});

async function open(url: string, options: WebSocket.ClientOptions = {}): Promise<WebSocket> {
  const ws = await openWs(url, undefined, options);
  cleanups.push(() => closeWs(ws));
  return ws;
}

/** Refused at accept: the socket is closed before any handshake answer. */
async function expectRefused(url: string, options: WebSocket.ClientOptions = {}): Promise<void> {
  await expect(openWs(url, undefined, options)).rejects.toThrow(/socket hang up|ECONNRESET/);
}

function serverSocket(log: EventLog, index: number): Socket {
  return (log.of("ESTABLISHED")[index]!.connection.transport as SocketTransport).socket;
}

/** Can this machine use 127.0.0.2 as a source address (Linux: all of 127/8 is loopback)? */
async function canUseSecondLoopback(): Promise<boolean> {
  const server = createNetServer((s) => s.destroy());
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
  const port = (server.address() as { port: number }).port;
  const ok = await new Promise<boolean>((resolve) => {
    const socket = netConnect({ port, host: LOOPBACK, localAddress: "127.0.0.2" });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return ok;
}
const secondLoopback = await canUseSecondLoopback();

describe("connection limits", () => {
  it("maxConnections: beyond the limit a connection is closed at accept and a warning logged; a freed slot is reused", async () => {
    const logger = capturingLogger("info");
    const log = new EventLog();
    const loop = await listeningLoop({ protocols: [recordingEcho(log)], maxConnections: 2, logger: logger.options });
    cleanups.push(() => loop.close(1_000));
    const url = `ws://${LOOPBACK}:${loop.port}/`;
    const first = await open(url);
    await open(url);
    await expectRefused(url);
    expect(log.of("FILTER_NETWORK_CONNECTION")).toHaveLength(2);
    const warnings = logger.lines.filter((l) => l.level === "warn");
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.message).toBe(`refused a connection from ${LOOPBACK}: 2 connections is the limit (maxConnections)`);

    // One leaves; once its socket is gone, there is room again.
    const leaving = serverSocket(log, 0);
    await closeWs(first);
    await waitUntil(() => leaving.closed, "the server's socket to close");
    await open(url);
    expect(log.of("ESTABLISHED")).toHaveLength(3);
  });

  it("maxConnectionsPerIp: counts per peer address, others are unaffected", async () => {
    const logger = capturingLogger("info");
    const log = new EventLog();
    const loop = await listeningLoop({ protocols: [recordingEcho(log)], maxConnectionsPerIp: 1, logger: logger.options });
    cleanups.push(() => loop.close(1_000));
    const url = `ws://${LOOPBACK}:${loop.port}/`;
    await open(url);
    await expectRefused(url);
    expect(logger.lines.filter((l) => l.level === "warn").map((l) => l.message)).toEqual([
      `refused a connection from ${LOOPBACK}: 1 connections from one address is the limit (maxConnectionsPerIp)`,
    ]);
    if (!secondLoopback) {
      console.warn("maxConnectionsPerIp: not checking a second address: 127.0.0.2 is not usable as a source address here");
      return;
    }
    await open(url, { localAddress: "127.0.0.2" });
    const peers = log.of("ESTABLISHED").map((e) => e.connection.peer!.address);
    expect(peers).toEqual([LOOPBACK, "127.0.0.2"]);
  });
});

describe("socket options", () => {
  it("noDelay and keepAliveMs are applied to accepted sockets", async () => {
    const setNoDelay = vi.spyOn(Socket.prototype, "setNoDelay");
    const setKeepAlive = vi.spyOn(Socket.prototype, "setKeepAlive");
    const log = new EventLog();
    const loop = await listeningLoop({ protocols: [recordingEcho(log)], noDelay: false, keepAliveMs: 1_500 });
    cleanups.push(() => loop.close(1_000));
    const ws = await open(`ws://${LOOPBACK}:${loop.port}/`);
    await log.waitFor("ESTABLISHED");
    const socket = serverSocket(log, 0);
    const noDelayCalls = setNoDelay.mock.calls.filter((_, i) => setNoDelay.mock.contexts[i] === socket);
    const keepAliveCalls = setKeepAlive.mock.calls.filter((_, i) => setKeepAlive.mock.contexts[i] === socket);
    expect(noDelayCalls.at(-1)).toEqual([false]);
    expect(keepAliveCalls.at(-1)).toEqual([true, 1_500]);
    // And the connection works as usual.
    const echoed = new Promise<string>((resolve) => ws.once("message", (data) => resolve(String(data))));
    ws.send("nagle");
    expect(await echoed).toBe("nagle");
  });

  it("noDelay defaults to true, and keepalive stays off unless asked for", async () => {
    const setNoDelay = vi.spyOn(Socket.prototype, "setNoDelay");
    const setKeepAlive = vi.spyOn(Socket.prototype, "setKeepAlive");
    const log = new EventLog();
    const loop = await listeningLoop({ protocols: [recordingEcho(log)] });
    cleanups.push(() => loop.close(1_000));
    await open(`ws://${LOOPBACK}:${loop.port}/`);
    await log.waitFor("ESTABLISHED");
    const socket = serverSocket(log, 0);
    expect(setNoDelay.mock.calls.filter((_, i) => setNoDelay.mock.contexts[i] === socket).at(-1)).toEqual([true]);
    expect(setKeepAlive.mock.contexts.filter((c) => c === socket)).toHaveLength(0);
  });

  it("a client connection gets the loop's noDelay too", async () => {
    const setNoDelay = vi.spyOn(Socket.prototype, "setNoDelay");
    const server = await listeningLoop({ protocols: [recordingEcho(new EventLog())] });
    cleanups.push(() => server.close(1_000));
    const log = new EventLog();
    const client = new NodeLoop({ logger: { level: "warn" }, noDelay: false, vhosts: [{ protocols: [recordingClient(log)] }] });
    cleanups.push(() => client.close(1_000));
    const connection = client.connect({ url: `ws://${LOOPBACK}:${server.port}/` });
    await log.waitFor("CLIENT_ESTABLISHED");
    const socket = (connection.transport as SocketTransport).socket;
    expect(setNoDelay.mock.calls.filter((_, i) => setNoDelay.mock.contexts[i] === socket).at(-1)).toEqual([false]);
  });
});
