/**
 * The rx loop on real sockets: listenRx() adopts TCP connections as SocketTransports,
 * with npm `ws` as the peer. Echo of text and binary, the message limit, the rx client
 * against a real server, rx flow control reaching TCP, and graceful shutdown.
 */
import { firstValueFrom, mergeMap, take, toArray, type Subscription } from "rxjs";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { RxLoop, listenRx, startRxEchoServer, type RxConnection, type RxEchoServer } from "../../src/loops/rx/index.js";
import type { SocketTransport } from "../../src/loops/node/socket-transport.js";

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function echoServer(maxMessageSize?: number): Promise<RxEchoServer> {
  const server = await startRxEchoServer({ port: 0, host: "127.0.0.1", logLevel: "err", ...(maxMessageSize ? { maxMessageSize } : {}) });
  cleanups.push(() => server.close(500));
  return server;
}

function open(url: string, protocol?: string): Promise<WebSocket> {
  const ws = protocol ? new WebSocket(url, protocol) : new WebSocket(url);
  cleanups.push(() => ws.terminate());
  return new Promise((resolve, reject) => {
    ws.once("open", () => resolve(ws));
    ws.once("error", reject);
  });
}

function nextMessages(ws: WebSocket, count: number): Promise<Array<{ data: Buffer; binary: boolean }>> {
  const got: Array<{ data: Buffer; binary: boolean }> = [];
  return new Promise((resolve) => {
    const onMessage = (data: Buffer, binary: boolean) => {
      got.push({ data, binary });
      if (got.length === count) {
        ws.off("message", onMessage);
        resolve(got);
      }
    };
    ws.on("message", onMessage);
  });
}

function closeOf(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => ws.once("close", (code, reason) => resolve({ code, reason: reason.toString() })));
}

async function waitUntil(condition: () => boolean, what: string, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe("rx loop on real sockets", () => {
  it("echoes text as text and binary as binary, large messages included", async () => {
    const server = await echoServer();
    const ws = await open(server.url, "echo");
    expect(ws.protocol).toBe("echo");
    const big = Buffer.alloc(1024 * 1024, 7);
    const replies = nextMessages(ws, 4);
    ws.send("héllo wörld 🎉");
    ws.send(Buffer.from([0, 1, 2, 255]));
    ws.send("");
    ws.send(big);
    const echoed = await replies;
    expect(echoed.map((m) => m.binary)).toEqual([false, true, false, true]);
    expect(echoed[0]!.data.toString()).toBe("héllo wörld 🎉");
    expect([...echoed[1]!.data]).toEqual([0, 1, 2, 255]);
    expect(echoed[2]!.data.length).toBe(0);
    expect(echoed[3]!.data.equals(big)).toBe(true);
    const closed = closeOf(ws);
    ws.close(1000, "done");
    expect((await closed).code).toBe(1000);
  });

  it("keeps order under a burst", async () => {
    const server = await echoServer();
    const ws = await open(server.url);
    const replies = nextMessages(ws, 500);
    for (let i = 0; i < 500; i++) ws.send(`message ${i}`);
    expect((await replies).map((m) => m.data.toString())).toEqual(Array.from({ length: 500 }, (_, i) => `message ${i}`));
  });

  it("closes with 1009 a message over maxMessageSize", async () => {
    const server = await echoServer(1_000);
    const ws = await open(server.url);
    const closed = closeOf(ws);
    ws.send(Buffer.alloc(1_001));
    expect((await closed).code).toBe(1009);
  });

  it("connects its own client over TCP: connect() to the rx echo server", async () => {
    const server = await echoServer();
    const loop = new RxLoop({ logger: { level: "err" } });
    cleanups.push(() => loop.destroy());
    const echoes = await firstValueFrom(
      loop.connect({ url: server.url, protocols: ["echo"] }).pipe(
        mergeMap((c) => (c.sendAll(["a", Buffer.from("b"), "c"]).subscribe(), c.messages$)),
        take(3),
        toArray(),
      ),
    );
    expect(echoes).toEqual(["a", Buffer.from("b"), "c"]);
  });

  it("holds a flooding peer through TCP while its consumer is stalled: the socket is paused, nothing piles up", async () => {
    const loop = new RxLoop({ logger: { level: "err" }, connection: { highWaterMark: 2 } });
    cleanups.push(() => loop.destroy());
    const listener = await listenRx(loop, { port: 0 });
    cleanups.push(() => listener.close());
    const received: string[] = [];
    let release = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    let server: RxConnection | undefined;
    const consuming: Subscription = loop.connections$
      .pipe(mergeMap((c) => ((server = c), c.consume(async (m) => (await gate, received.push(m as string), [])))))
      .subscribe();
    cleanups.push(() => consuming.unsubscribe());
    const ws = await open(`ws://127.0.0.1:${listener.port}/`);
    const payload = "z".repeat(16 * 1024);
    const total = 400; // 6.4 MB: far more than the socket buffers on either side hold
    for (let i = 0; i < total; i++) ws.send(`${i}:${payload}`);
    await waitUntil(() => server?.isHoldingPeer === true, "the server holds its peer");
    const socket = [...loop.context.connections][0]!.transport as SocketTransport;
    await waitUntil(() => socket.socket.isPaused(), "the socket is paused");
    // Give TCP time to fill up; the server still holds no more than the high-water mark.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(server!.unprocessed).toBeLessThanOrEqual(3);
    expect(ws.bufferedAmount).toBeGreaterThan(0); // the sender is the one holding the bytes
    release();
    await waitUntil(() => received.length === total, "every message is processed", 15_000);
    expect(received.map((m) => Number(m.slice(0, m.indexOf(":"))))).toEqual(Array.from({ length: total }, (_, i) => i));
  });

  it("shuts down gracefully: stops listening, closes every connection with 1001", async () => {
    const server = await startRxEchoServer({ port: 0, logLevel: "err" });
    const ws = await open(server.url);
    const closed = closeOf(ws);
    await server.close(1_000);
    expect((await closed).code).toBe(1001);
    expect(server.loop.context.isDestroyed).toBe(true);
    await expect(open(server.url)).rejects.toThrow(/ECONNREFUSED/);
  });

  it("listens over TLS when given a certificate (wss://)", async () => {
    const { cert, key } = await selfSigned();
    if (!cert) return; // no openssl on this machine: the TCP tests above cover the loop
    const server = await startRxEchoServer({ port: 0, logLevel: "err", tls: { cert, key } });
    cleanups.push(() => server.close(500));
    expect(server.url).toMatch(/^wss:\/\//);
    const ws = new WebSocket(server.url, { rejectUnauthorized: false });
    cleanups.push(() => ws.terminate());
    await new Promise((resolve, reject) => (ws.once("open", resolve), ws.once("error", reject)));
    const reply = nextMessages(ws, 1);
    ws.send("over tls");
    expect((await reply)[0]!.data.toString()).toBe("over tls");
  });
});

async function selfSigned(): Promise<{ cert: string; key: string }> {
  const { execFileSync } = await import("node:child_process");
  const { mkdtempSync, readFileSync } = await import("node:fs");
  const { join } = await import("node:path");
  const { tmpdir } = await import("node:os");
  try {
    const dir = mkdtempSync(join(tmpdir(), "wsloop-rx-tls-"));
    execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-days", "1", "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem")], { stdio: "ignore" });
    return { cert: readFileSync(join(dir, "cert.pem"), "utf8"), key: readFileSync(join(dir, "key.pem"), "utf8") };
  } catch {
    return { cert: "", key: "" };
  }
}
