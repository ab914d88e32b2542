/**
 * Readiness on real sockets. rx flow control: a protocol that stops receiving makes the
 * Node loop stop reading, so TCP pushes back on the sender and the server holds a
 * bounded amount; turning rx on delivers everything, in order. Writes respect drain: a
 * protocol that writes only on WRITEABLE to a peer that does not read holds at most one
 * message, because WRITEABLE stops coming.
 */
import { readFileSync } from "node:fs";
import type { Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { NodeLoop, SocketTransport } from "../../src/loops/node/index.js";
import type { Connection } from "../../src/poll/connection.js";
import { defineProtocol } from "../../src/poll/protocol.js";
import { EventLog, type AnyEvent } from "../helpers/event-log.js";
import { LOOPBACK, rawConnect, readUntil } from "../helpers/sockets.js";
import { settled, waitUntil } from "../helpers/wait.js";
import { clientFrame, upgradeRequest } from "../helpers/wire.js";
import { closeWs, openWs } from "../helpers/ws-client.js";
import { listeningLoop } from "./helpers.js";

const MiB = 1024 * 1024;

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

function track(loop: NodeLoop): NodeLoop {
  cleanups.push(() => loop.close(1_000));
  return loop;
}

function socketOf(connection: { transport: object }): Socket {
  return (connection.transport as SocketTransport).socket;
}

function wsSocket(ws: WebSocket): Socket {
  return (ws as unknown as { _socket: Socket })._socket;
}

/** The most a TCP socket's send buffer grows to here (Linux: tcp_wmem's maximum). */
function tcpSendBufferMax(): number {
  try {
    return Number(readFileSync("/proc/sys/net/ipv4/tcp_wmem", "utf8").trim().split(/\s+/)[2]) || 4 * MiB;
  } catch {
    return 4 * MiB;
  }
}

/** A message whose first 4 bytes are its index and whose rest is a pattern of it. */
function numbered(index: number, size: number): Buffer {
  const data = Buffer.alloc(size, index & 0xff);
  data.writeUInt32BE(index, 0);
  return data;
}

describe("rx flow control on real sockets", () => {
  it("a protocol that turns rx off makes TCP push back; turning it on delivers all 8 MiB in order", async () => {
    const log = new EventLog();
    const received: Buffer[] = [];
    const sink = defineProtocol({
      name: "sink",
      maxMessageSize: 2 * MiB,
      callback(event) {
        log.push(event as AnyEvent);
        if (event.reason === "ESTABLISHED") event.connection.setRxFlowControl(false);
        if (event.reason === "RECEIVE") received.push(Buffer.from(event.data));
      },
    });
    const loop = track(await listeningLoop({ protocols: [sink] }));
    const ws = await openWs(`ws://${LOOPBACK}:${loop.port}/`);
    cleanups.push(() => closeWs(ws));
    const connection = (await log.waitFor("ESTABLISHED")).connection;
    expect(connection.rxFlowEnabled).toBe(false);

    // 8 MiB, or more where the kernel's send buffer could take half of that by itself.
    const count = Math.max(8, Math.ceil((2 * tcpSendBufferMax()) / MiB));
    const messages = Array.from({ length: count }, (_, i) => numbered(i, MiB));
    for (const message of messages) ws.send(message);

    // The pipe fills and stops: what the client could not hand to TCP stays with it.
    const stuck = await settled(() => ws.bufferedAmount, "the client's bufferedAmount");
    expect(stuck).toBeGreaterThan(0);
    // The server read (into its process) only a bounded amount, and delivered nothing.
    expect(socketOf(connection).bytesRead).toBeLessThan(MiB);
    expect(received).toHaveLength(0);

    // Turned on from outside any callback (a timer, another connection, user code).
    connection.setRxFlowControl(true);
    await waitUntil(() => received.length === messages.length, `all ${count} messages`, 10_000);
    expect(received.map((m) => m.readUInt32BE(0))).toEqual(messages.map((_, i) => i));
    expect(received.every((m, i) => m.equals(messages[i]!))).toBe(true);
    await waitUntil(() => ws.bufferedAmount === 0, "the client to have sent everything");
  });

  it("input held inside a chunk when rx goes off is delivered when rx comes on from outside a callback", async () => {
    // One TCP write carries three frames: the protocol stops rx after the first, so the
    // other two are held by the connection (not in the socket) until rx is on again.
    const log = new EventLog();
    const proto = defineProtocol({
      name: "stopper",
      callback(event) {
        log.push(event as AnyEvent);
        if (event.reason === "RECEIVE" && event.data.toString() === "one") event.connection.setRxFlowControl(false);
      },
    });
    const loop = track(await listeningLoop({ protocols: [proto] }));
    const socket = await rawConnect(loop.port);
    cleanups.push(() => void socket.destroy());
    socket.write(upgradeRequest());
    await readUntil(socket, "\r\n\r\n");
    socket.write(Buffer.concat([clientFrame("one"), clientFrame("two"), clientFrame("three")]));
    const first = await log.waitFor("RECEIVE");
    const connection = first.connection;
    await settled(() => log.events.length, "the server's callbacks");
    expect(log.of("RECEIVE").map((e) => e.data.toString())).toEqual(["one"]);

    connection.setRxFlowControl(true);
    await log.waitFor("RECEIVE", (e) => e.data.toString() === "three", 2_000);
    expect(log.of("RECEIVE").map((e) => e.data.toString())).toEqual(["one", "two", "three"]);
  });

  it("a protocol can turn rx back on from its own TIMER (lws's usual pattern)", async () => {
    const received: string[] = [];
    const proto = defineProtocol({
      name: "breather",
      callback(event) {
        if (event.reason === "RECEIVE") {
          received.push(event.data.toString());
          event.connection.setRxFlowControl(false);
          event.connection.setTimer(5);
        } else if (event.reason === "TIMER") {
          event.connection.setRxFlowControl(true);
        }
      },
    });
    const loop = track(await listeningLoop({ protocols: [proto] }));
    const socket = await rawConnect(loop.port);
    cleanups.push(() => void socket.destroy());
    socket.write(upgradeRequest());
    await readUntil(socket, "\r\n\r\n");
    const texts = Array.from({ length: 20 }, (_, i) => `m${i}`);
    socket.write(Buffer.concat(texts.map((t) => clientFrame(t))));
    await waitUntil(() => received.length === texts.length, "20 messages, one per timer");
    expect(received).toEqual(texts);
  });
});

describe("writes respect drain", () => {
  it("to a client that does not read, a WRITEABLE-driven protocol holds at most one message; all arrive once it reads", async () => {
    const messageSize = 64 * 1024;
    const total = 512; // 32 MiB: more than the kernel's buffers hold
    let writeables = 0;
    let maxBuffered = 0;
    let maxSocketQueue = 0;
    let server: Connection<{ next: number }> | null = null;
    const firehose = defineProtocol<{ next: number }>({
      name: "firehose",
      createUserData: () => ({ next: 0 }),
      callback(event) {
        if (event.reason === "RECEIVE" && event.data.toString() === "go") {
          server = event.connection;
          event.connection.requestWriteable();
        } else if (event.reason === "SERVER_WRITEABLE") {
          const connection = event.connection;
          writeables++;
          maxBuffered = Math.max(maxBuffered, connection.bufferedAmount);
          connection.write(numbered(connection.userData.next++, messageSize));
          maxBuffered = Math.max(maxBuffered, connection.bufferedAmount);
          maxSocketQueue = Math.max(maxSocketQueue, socketOf(connection).writableLength);
          if (connection.userData.next < total) connection.requestWriteable();
        }
      },
    });
    const loop = track(await listeningLoop({ protocols: [firehose] }));
    const ws = await openWs(`ws://${LOOPBACK}:${loop.port}/`);
    cleanups.push(() => closeWs(ws));
    const received: Buffer[] = [];
    ws.on("message", (data: Buffer) => received.push(data));
    wsSocket(ws).pause();
    ws.send("go");

    // WRITEABLE stops coming once the socket wants a drain: the sender stalls.
    const stalledAt = await settled(() => writeables, "the server's WRITEABLE count");
    expect(stalledAt).toBeGreaterThan(0);
    expect(stalledAt).toBeLessThan(total);
    const highWaterMark = socketOf(server!).writableHighWaterMark;
    expect(maxBuffered).toBeLessThanOrEqual(messageSize + 14);
    expect(maxSocketQueue).toBeLessThanOrEqual(highWaterMark + messageSize + 14);

    wsSocket(ws).resume();
    await waitUntil(() => received.length === total, `${total} messages`, 15_000);
    expect(received.map((m) => m.readUInt32BE(0))).toEqual(Array.from({ length: total }, (_, i) => i));
    expect(writeables).toBe(total);
  });
});

describe("output leaves in vectored writes", () => {
  it("a frame's header and payload go to the socket in one writev, not one write each", async () => {
    const log = new EventLog();
    const payload = Buffer.alloc(4096, 1);
    const proto = defineProtocol({
      name: "once",
      callback(event) {
        log.push(event as AnyEvent);
        if (event.reason === "RECEIVE") event.connection.requestWriteable();
        if (event.reason === "SERVER_WRITEABLE") event.connection.write(payload);
      },
    });
    const loop = track(await listeningLoop({ protocols: [proto] }));
    const ws = await openWs(`ws://${LOOPBACK}:${loop.port}/`);
    cleanups.push(() => closeWs(ws));
    const socket = socketOf((await log.waitFor("ESTABLISHED")).connection) as Socket & {
      _write: (...args: unknown[]) => void;
      _writev: (chunks: Array<{ chunk: Buffer }>, callback: () => void) => void;
    };
    const singles: number[] = [];
    const vectored: number[][] = [];
    const write = socket._write.bind(socket);
    const writev = socket._writev.bind(socket);
    socket._write = (chunk: unknown, ...rest: unknown[]) => {
      singles.push((chunk as Buffer).length);
      write(chunk, ...rest);
    };
    socket._writev = (chunks, callback) => {
      vectored.push(chunks.map((c) => c.chunk.length));
      writev(chunks, callback);
    };
    const echoed = new Promise<Buffer>((resolve) => ws.once("message", (data: Buffer) => resolve(data)));
    ws.send("go");
    expect((await echoed).equals(payload)).toBe(true);
    expect(singles).toEqual([]);
    expect(vectored).toEqual([[4, 4096]]);
  });
});

describe("timers", () => {
  it("a TIMER set from inside a callback fires", async () => {
    const log = new EventLog();
    const proto = defineProtocol({
      name: "ticker",
      callback(event) {
        log.push(event as AnyEvent);
        if (event.reason === "ESTABLISHED") event.connection.setTimer(20);
      },
    });
    const loop = track(await listeningLoop({ protocols: [proto] }));
    const ws = await openWs(`ws://${LOOPBACK}:${loop.port}/`);
    cleanups.push(() => closeWs(ws));
    await log.waitFor("TIMER", () => true, 2_000);
  });

  // A timer armed outside any service (from the user's own setTimeout) moves the
  // earliest deadline without a hook call; the context nudges its wake-up descriptor so
  // the loop re-arms its one host timer.
  it("a TIMER set from outside any callback fires", async () => {
    const log = new EventLog();
    const proto = defineProtocol({
      name: "ticker",
      callback(event) {
        log.push(event as AnyEvent);
      },
    });
    const loop = track(await listeningLoop({ protocols: [proto] }));
    const ws = await openWs(`ws://${LOOPBACK}:${loop.port}/`);
    cleanups.push(() => closeWs(ws));
    await log.waitFor("ESTABLISHED", () => true, 2_000);
    const connection = [...loop.context.connections][0]!;
    await new Promise((resolve) => setTimeout(resolve, 5));
    connection.setTimer(20);
    await log.waitFor("TIMER", () => true, 2_000);
  });
});

