/**
 * Floods on real sockets, each with its bound asserted:
 *
 * - 1-byte fragments against maxMessageSize 64 KiB: 1009 once the held bytes (payload +
 *   64 bytes of overhead per fragment) pass the budget — after at most ~1010 fragments,
 *   not after 64 Ki of them;
 * - empty fragments (no payload, nothing held): 100,000 of them cost no memory, and the
 *   message they belong to is still echoed correctly;
 * - pings from a peer that never reads: the server keeps reading, owes at most a bounded
 *   queue of pongs (MAX_OWED_PONGS / MAX_OWED_PONG_BYTES), and its buffered bytes
 *   (connection.bufferedAmount and the socket's own buffer) stay bounded by it;
 * - a client that never reads while the server writes a 64 KiB message on every
 *   WRITEABLE: the server holds at most one message (bufferedAmount ≤ one frame) beyond
 *   what the socket took before it asked for a drain; everything arrives once it reads.
 */
import type { Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { MAX_OWED_PONGS, MAX_OWED_PONG_BYTES } from "../../src/core/ws-session.js";
import { echoProtocol } from "../../src/demo/echo-protocol.js";
import { defineProtocol } from "../../src/poll/protocol.js";
import { settled, waitUntil } from "../helpers/wait.js";
import { clientFrame } from "../helpers/wire.js";
import { MiB, Sink, heapUsed, openWebSocket, serve, socketOf, type Served } from "./helpers.js";

let served: Served | null = null;
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await served?.stop();
  served = null;
});

const LIMIT = 64 * 1024;
const OVERHEAD = 64;

describe("fragment floods", () => {
  it("1-byte fragments against a 64 KiB message limit: 1009 after at most ~1010 fragments", async () => {
    served = await serve(echoProtocol({ maxMessageSize: LIMIT }));
    const socket = await openWebSocket(served.port);
    sockets.push(socket);
    const sink = new Sink(socket);
    const fragments = [clientFrame(0x2, Buffer.from([0]), false)];
    for (let i = 1; i < 20_000; i++) fragments.push(clientFrame(0x0, Buffer.from([i & 0xff]), false));
    const started = Date.now();
    socket.write(Buffer.concat(fragments));
    await waitUntil(() => sink.closed, "the server to hang up", 5_000);
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(sink.closeCode()).toBe(1009);
    const tooLarge = served.events.find((e) => e.reason === "RECEIVE_TOO_LARGE");
    expect(tooLarge).toMatchObject({ reason: "RECEIVE_TOO_LARGE", kind: "message", limit: LIMIT });
    // Held bytes when refused: just over the budget, i.e. about 1010 fragments of 1 + 64 bytes.
    const held = Number(tooLarge?.size);
    expect(held).toBeGreaterThan(LIMIT + OVERHEAD);
    expect(held).toBeLessThanOrEqual(LIMIT + OVERHEAD + 1 + OVERHEAD);
    expect(held / (1 + OVERHEAD)).toBeLessThanOrEqual(1011);
    await waitUntil(() => served!.loop.context.connectionCount === 0, "no connection left");
  });

  it("100,000 empty fragments hold nothing; the message is still echoed exactly", async () => {
    served = await serve(echoProtocol({ maxMessageSize: LIMIT }));
    const socket = await openWebSocket(served.port);
    sockets.push(socket);
    const sink = new Sink(socket);
    const before = heapUsed();
    const empty = clientFrame(0x0, Buffer.alloc(0), false);
    const batch = Buffer.concat([clientFrame(0x1, "start-", false), ...Array.from({ length: 10_000 }, () => empty)]);
    socket.write(batch);
    for (let i = 1; i < 10; i++) socket.write(Buffer.concat(Array.from({ length: 10_000 }, () => empty)));
    socket.write(clientFrame(0x0, "end", true));
    await waitUntil(() => sink.text().includes("start-end"), "the echo", 10_000);
    const grown = heapUsed() - before;
    expect(grown).toBeLessThan(8 * MiB);
    expect(sink.closed).toBe(false);
  });
});

describe("pings from a peer that never reads", () => {
  it("the server keeps reading, owes a bounded queue of pongs, and its buffered bytes stay bounded", async () => {
    served = await serve(echoProtocol());
    const socket = await openWebSocket(served.port);
    sockets.push(socket);
    socket.pause(); // never read: pongs pile up in the kernel, then must not pile up in the server
    const ping = clientFrame(0x9, Buffer.alloc(125, 7));
    const burst = Buffer.concat(Array.from({ length: 1000 }, () => ping)); // 131 KB of pings
    const connection = served.connections()[0]!;
    const serverSocket = socketOf(connection);
    let maxBuffered = 0;
    let maxSocketBuffered = 0;
    let sent = 0;
    const before = heapUsed();
    const sample = () => {
      maxBuffered = Math.max(maxBuffered, connection.bufferedAmount);
      maxSocketBuffered = Math.max(maxSocketBuffered, serverSocket.writableLength);
    };
    const sampler = setInterval(sample, 1);
    try {
      // 200 bursts = 26 MB of pings; write as fast as the server reads them.
      for (let i = 0; i < 200; i++) {
        if (!socket.write(burst)) await new Promise<void>((resolve) => socket.once("drain", () => resolve()));
        sent += burst.length;
        sample();
      }
      // The server read everything we sent (our socket drained), though we read nothing.
      await waitUntil(() => socket.writableLength === 0, "our pings to be taken", 10_000);
    } finally {
      clearInterval(sampler);
    }
    const grown = heapUsed() - before;
    expect(sent).toBeGreaterThan(25_000_000);
    // At most one write of owed pongs goes past the socket's high-water mark: the whole
    // queue, each pong with its 2-byte header.
    const owedPongBound = MAX_OWED_PONG_BYTES + 2 * MAX_OWED_PONGS;
    expect(maxBuffered).toBeLessThanOrEqual(owedPongBound);
    expect(maxSocketBuffered).toBeLessThanOrEqual(serverSocket.writableHighWaterMark + owedPongBound);
    expect(grown).toBeLessThan(16 * MiB);
    expect(connection.state).toBe("established");
  });
});

describe("a client that never reads", () => {
  it("a server writing 64 KiB on every WRITEABLE holds at most one message; all of it arrives once the client reads", async () => {
    const MESSAGE = 64 * 1024;
    let written = 0;
    const firehose = defineProtocol({
      name: "firehose",
      callback(event) {
        if (event.reason === "ESTABLISHED") event.connection.requestWriteable();
        if (event.reason === "SERVER_WRITEABLE") {
          // A fresh buffer per message: write() takes it without copying.
          event.connection.write(Buffer.alloc(MESSAGE, written & 0xff), "binary");
          written++;
          event.connection.requestWriteable();
        }
      },
    });
    served = await serve(firehose);
    const socket = await openWebSocket(served.port);
    sockets.push(socket);
    socket.pause();
    const connection = served.connections()[0]!;
    const serverSocket = socketOf(connection);
    const before = heapUsed();
    // Wait until the server stops writing: kernel buffers full, then its own.
    const stalledAt = await settled(() => written, "the server's writes", { checks: 6, everyMs: 25, timeoutMs: 15_000 });
    const buffered = connection.bufferedAmount;
    const socketBuffered = serverSocket.writableLength;
    const grown = heapUsed() - before;
    const frame = MESSAGE + 4; // 64 KiB payload + 2-byte header + 16-bit length
    expect(buffered).toBeLessThanOrEqual(frame);
    expect(socketBuffered).toBeLessThanOrEqual(frame + serverSocket.writableHighWaterMark);
    expect(grown).toBeLessThan(3 * frame + 4 * MiB);
    expect(stalledAt).toBeGreaterThan(2);
    // Once the client reads, what was written arrives (the server keeps going, so at least that).
    let received = 0;
    socket.on("data", (c: Buffer) => (received += c.length));
    socket.resume();
    await waitUntil(() => received >= stalledAt * frame, "the written messages to arrive", 10_000);
    expect(written).toBeGreaterThan(stalledAt);
  });
});

