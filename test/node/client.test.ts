/**
 * NodeLoop as a client: to a `ws` WebSocketServer by URL and by connect-info, over TLS
 * with lws's client flags (allow self-signed, skip the hostname check, a CA from
 * memory), and every way of failing — connect timeout, handshake timeout, refused, DNS,
 * a refusing or lying server — arriving as CLIENT_CONNECTION_ERROR with a cause a person
 * can act on.
 */
import { once } from "node:events";
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import type { IncomingMessage } from "node:http";
import { createServer as createNetServer, type Server as NetServer, type Socket } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { WebSocketServer, type WebSocket as ServerSideWs } from "ws";
import { NodeLoop } from "../../src/loops/node/index.js";
import type { ConnectInfo } from "../../src/poll/connect-info.js";
import type { Timeouts } from "../../src/poll/vhost.js";
import { EventLog } from "../helpers/event-log.js";
import { LOOPBACK, closedPort } from "../helpers/sockets.js";
import { TestPki, hasOpenssl, recordingClient, recordingEcho, type ClientErrorEvent, type Pem } from "./helpers.js";

const ipv6 = await new Promise<boolean>((resolve) => {
  const probe = createNetServer();
  probe.once("error", () => resolve(false));
  probe.listen(0, "::1", () => probe.close(() => resolve(true)));
});

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

interface Seen {
  request: IncomingMessage;
  ws: ServerSideWs;
  closed: Promise<{ code: number; reason: string }>;
}

/** A `ws` echo server on 127.0.0.1 (over the given https server for wss). */
async function wsEchoServer(https?: HttpsServer): Promise<{ port: number; seen: Seen[] }> {
  const seen: Seen[] = [];
  let wss: WebSocketServer;
  if (https) {
    wss = new WebSocketServer({ server: https, handleProtocols: (protocols) => [...protocols][0] ?? false });
    await new Promise<void>((resolve) => https.listen(0, LOOPBACK, resolve));
  } else {
    wss = new WebSocketServer({ port: 0, host: LOOPBACK, handleProtocols: (protocols) => [...protocols][0] ?? false });
    await once(wss, "listening");
  }
  wss.on("connection", (ws, request) => {
    const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once("close", (code, reason) => resolve({ code, reason: reason.toString() })));
    seen.push({ request, ws, closed });
    ws.on("message", (data, binary) => ws.send(data, { binary }));
  });
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const client of wss.clients) client.terminate();
        wss.close(() => (https ? https.close(() => resolve()) : resolve()));
      }),
  );
  const address = (https ?? wss).address() as { port: number };
  return { port: address.port, seen };
}

/** A client-only loop whose protocol records events and sends `outgoing` once established. */
function clientLoop(log: EventLog, outgoing: Array<string | Buffer> = [], timeouts: Partial<Timeouts> = {}): NodeLoop {
  const loop = new NodeLoop({ logger: { level: "warn" }, vhosts: [{ protocols: [recordingClient(log, outgoing)], timeouts }] });
  cleanups.push(() => loop.close(1_000));
  return loop;
}

/** Connect and wait for the outcome: the established event or the error event. */
async function outcome(loop: NodeLoop, log: EventLog, info: ConnectInfo, timeoutMs = 5_000): Promise<"established" | ClientErrorEvent> {
  loop.connect(info);
  return Promise.race([
    log.waitFor("CLIENT_ESTABLISHED", () => true, timeoutMs).then(() => "established" as const),
    log.waitFor("CLIENT_CONNECTION_ERROR", () => true, timeoutMs),
  ]);
}

async function connectionError(loop: NodeLoop, log: EventLog, info: ConnectInfo, timeoutMs = 5_000): Promise<ClientErrorEvent> {
  const result = await outcome(loop, log, info, timeoutMs);
  if (result === "established") throw new Error("expected CLIENT_CONNECTION_ERROR, but the connection was established");
  expect(log.of("CLIENT_ESTABLISHED")).toHaveLength(0);
  return result;
}

/** A raw TCP server that runs `script` on each accepted socket. */
async function scriptedServer(script: (socket: Socket) => void): Promise<number> {
  const sockets = new Set<Socket>();
  const server: NetServer = createNetServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => {});
    socket.on("close", () => sockets.delete(socket));
    script(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return (server.address() as { port: number }).port;
}

describe("NodeLoop.connect to a ws server", () => {
  it("by URL: establishes, exchanges messages, and closes cleanly with code and reason", async () => {
    const server = await wsEchoServer();
    const log = new EventLog();
    const loop = clientLoop(log, ["hello", "wörld ✓"]);
    const connection = loop.connect({ url: `ws://${LOOPBACK}:${server.port}/chat?room=1`, protocols: ["chat"] });
    expect(connection.state).toBe("connecting");
    await log.waitFor("CLIENT_ESTABLISHED");
    expect(connection.subprotocol).toBe("chat");
    await log.waitFor("CLIENT_RECEIVE", (e) => e.data.toString() === "wörld ✓");
    expect(log.of("CLIENT_RECEIVE").map((e) => [e.data.toString(), e.binary])).toEqual([
      ["hello", false],
      ["wörld ✓", false],
    ]);
    expect(server.seen[0]!.request.url).toBe("/chat?room=1");
    expect(server.seen[0]!.ws.protocol).toBe("chat");

    connection.close(1000, "bye");
    expect(await server.seen[0]!.closed).toEqual({ code: 1000, reason: "bye" });
    const closed = await log.waitFor("CLIENT_CLOSED");
    expect([closed.code, closed.closeReason, closed.clean]).toEqual([1000, "bye", true]);
  });

  it("by connect-info: address, port, path, Host, Origin and extra headers reach the server", async () => {
    const server = await wsEchoServer();
    const log = new EventLog();
    const loop = clientLoop(log, ["by info"]);
    loop.connect({
      address: LOOPBACK,
      port: server.port,
      path: "/info?x=1",
      host: "example.test",
      origin: "http://origin.test",
      headers: { "X-Token": "secret" },
    });
    await log.waitFor("CLIENT_RECEIVE");
    const request = server.seen[0]!.request;
    expect(request.url).toBe("/info?x=1");
    expect(request.headers.host).toBe("example.test");
    expect(request.headers.origin).toBe("http://origin.test");
    expect(request.headers["x-token"]).toBe("secret");
    expect(log.of("CLIENT_RECEIVE")[0]!.data.toString()).toBe("by info");
  });

  it.skipIf(!ipv6)("to an IPv6 literal URL, ws://[::1]:port/ (skipped without IPv6 loopback)", async () => {
    const wss = new WebSocketServer({ port: 0, host: "::1" });
    await once(wss, "listening");
    let host = "";
    wss.on("connection", (ws, request) => {
      host = request.headers.host ?? "";
      ws.on("message", (data) => ws.send(data));
    });
    cleanups.push(() => new Promise<void>((resolve) => wss.close(() => resolve())));
    const port = (wss.address() as { port: number }).port;
    const log = new EventLog();
    const connection = clientLoop(log, ["over six"]).connect({ url: `ws://[::1]:${port}/` });
    expect((await log.waitFor("CLIENT_RECEIVE")).data.toString()).toBe("over six");
    expect(host).toBe(`[::1]:${port}`);
    expect(connection.peer).toMatchObject({ address: "::1", family: "IPv6", port });
    for (const client of wss.clients) client.terminate();
  });

  it("sees the server's close: CLIENT_CLOSED with its code and reason", async () => {
    const server = await wsEchoServer();
    const log = new EventLog();
    const loop = clientLoop(log);
    loop.connect({ url: `ws://${LOOPBACK}:${server.port}/` });
    await log.waitFor("CLIENT_ESTABLISHED");
    server.seen[0]!.ws.close(4001, "go away");
    const closed = await log.waitFor("CLIENT_CLOSED");
    expect([closed.code, closed.closeReason, closed.clean]).toEqual([4001, "go away", true]);
  });
});

describe.skipIf(!hasOpenssl)("NodeLoop.connect over TLS (needs the openssl CLI to make certificates)", () => {
  let pki: TestPki;
  let selfSigned: Pem;
  let otherName: Pem;
  let localhost: Pem;
  beforeAll(() => {
    pki = new TestPki();
    selfSigned = pki.selfSigned("self", "localhost", ["DNS:localhost", "IP:127.0.0.1"]);
    otherName = pki.signed("other", "other.name", ["DNS:other.name"]);
    localhost = pki.signed("localhost", "localhost", ["DNS:localhost", "IP:127.0.0.1"]);
  });
  afterAll(() => pki?.dispose());

  const wssServer = (pem: Pem) => wsEchoServer(createHttpsServer({ cert: pem.cert, key: pem.key }));

  it("wss:// to a self-signed server is accepted with allowSelfSigned", async () => {
    const server = await wssServer(selfSigned);
    const log = new EventLog();
    const loop = clientLoop(log, ["secret"]);
    loop.connect({ url: `wss://${LOOPBACK}:${server.port}/`, tls: { allowSelfSigned: true } });
    const echoed = await log.waitFor("CLIENT_RECEIVE");
    expect(echoed.data.toString()).toBe("secret");
  });

  it("wss:// to a self-signed server without allowSelfSigned fails, saying so", async () => {
    const server = await wssServer(selfSigned);
    const log = new EventLog();
    const error = await connectionError(clientLoop(log), log, { url: `wss://${LOOPBACK}:${server.port}/` });
    expect(error.cause).toMatch(/self.signed/i);
    expect(error.cause).toMatch(/allowSelfSigned/);
    expect(server.seen).toHaveLength(0);
  });

  it("a certificate for another name fails the hostname check, and is accepted with skipHostnameCheck", async () => {
    const server = await wssServer(otherName);
    const log = new EventLog();
    const error = await connectionError(clientLoop(log), log, { url: `wss://${LOOPBACK}:${server.port}/`, tls: { ca: pki.ca.cert } });
    expect(error.cause).toMatch(/other\.name/);
    expect(error.cause).toMatch(/skipHostnameCheck/);

    const log2 = new EventLog();
    const result = await outcome(clientLoop(log2), log2, { url: `wss://${LOOPBACK}:${server.port}/`, tls: { ca: pki.ca.cert, skipHostnameCheck: true } });
    expect(result).toBe("established");
  });

  it("skipHostnameCheck alone does not accept a certificate no trusted CA signed", async () => {
    const server = await wssServer(otherName);
    const log = new EventLog();
    const error = await connectionError(clientLoop(log), log, { url: `wss://${LOOPBACK}:${server.port}/`, tls: { skipHostnameCheck: true } });
    expect(error.cause).toMatch(/not accepted/);
  });

  it("wsloop to wsloop over wss://: a 1 MiB binary message round trip", async () => {
    const serverLog = new EventLog();
    const server = new NodeLoop({
      logger: { level: "warn" },
      vhosts: [{ protocols: [recordingEcho(serverLog)], listen: { port: 0, host: LOOPBACK, tls: { cert: localhost.cert, key: localhost.key } } }],
    });
    cleanups.push(() => server.close(1_000));
    await server.listen();
    const big = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < big.length; i += 997) big[i] = i & 0xff;
    const log = new EventLog();
    clientLoop(log, [big]).connect({ url: `wss://${LOOPBACK}:${server.port}/`, tls: { ca: pki.ca.cert } });
    const echoed = await log.waitFor("CLIENT_RECEIVE", (e) => e.data.length === big.length);
    expect(echoed.binary).toBe(true);
    expect(echoed.data.equals(big)).toBe(true);
  });

  it("verifies against a CA given from memory", async () => {
    const server = await wssServer(localhost);
    const log = new EventLog();
    const result = await outcome(clientLoop(log, ["trusted"]), log, { url: `wss://${LOOPBACK}:${server.port}/`, tls: { ca: pki.ca.cert } });
    expect(result).toBe("established");
    expect((await log.waitFor("CLIENT_RECEIVE")).data.toString()).toBe("trusted");

    // The same server without the CA: not trusted.
    const log2 = new EventLog();
    const error = await connectionError(clientLoop(log2), log2, { url: `wss://${LOOPBACK}:${server.port}/` });
    expect(error.cause).toMatch(/certificate was not accepted \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\)/);
  });
});

describe("client failures arrive as CLIENT_CONNECTION_ERROR with an actionable cause", () => {
  it("connect timeout: a TLS connection that never completes fails after timeouts.connectMs", async () => {
    // The server accepts TCP but never answers the ClientHello: the transport never
    // becomes connected (TLS clients are connected at secureConnect).
    const port = await scriptedServer(() => {});
    const log = new EventLog();
    const started = Date.now();
    const error = await connectionError(clientLoop(log, [], { connectMs: 200 }), log, { url: `wss://${LOOPBACK}:${port}/` });
    expect(Date.now() - started).toBeGreaterThanOrEqual(195);
    expect(error.cause).toBe(`timed out: could not connect to ${LOOPBACK}:${port}`);
  });

  it("handshake timeout: a server that accepts and never answers the upgrade fails after timeouts.handshakeMs", async () => {
    let requested = "";
    const port = await scriptedServer((socket) => socket.on("data", (d) => (requested += d.toString("latin1"))));
    const log = new EventLog();
    const started = Date.now();
    const error = await connectionError(clientLoop(log, [], { handshakeMs: 200 }), log, { url: `ws://${LOOPBACK}:${port}/` });
    expect(Date.now() - started).toBeGreaterThanOrEqual(195);
    expect(error.cause).toBe("timed out: no answer to the upgrade request");
    expect(requested).toMatch(/^GET \/ HTTP\/1\.1\r\n/);
  });

  it("a refused connection (a closed port) says nothing is listening there", async () => {
    const port = await closedPort();
    const log = new EventLog();
    const error = await connectionError(clientLoop(log), log, { url: `ws://${LOOPBACK}:${port}/` });
    expect(error.cause).toBe(`connection refused by ${LOOPBACK}:${port}: nothing is listening there`);
    expect((error.error as NodeJS.ErrnoException).code).toBe("ECONNREFUSED");
  });

  it("a name that does not resolve (.invalid never does) says it cannot resolve it", async () => {
    const log = new EventLog();
    // Without a network the resolver may take its own time (glibc: 5 s per try) and then
    // answer EAI_AGAIN instead of ENOTFOUND: the connect timeout is raised above that,
    // and the wait bounded below the test's timeout.
    const loop = clientLoop(log, [], { connectMs: 17_000 });
    const error = await connectionError(loop, log, { url: "ws://nonexistent.invalid:8080/" }, 17_000);
    expect(error.cause).toMatch(/^cannot resolve host "nonexistent\.invalid" \((ENOTFOUND|EAI_AGAIN)\)$/);
  });

  it("a server answering 403 fails with the status in the cause", async () => {
    const port = await scriptedServer((socket) =>
      socket.once("data", () => socket.end("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")),
    );
    const log = new EventLog();
    const error = await connectionError(clientLoop(log), log, { url: `ws://${LOOPBACK}:${port}/` });
    expect(error.cause).toBe("server answered 403 Forbidden instead of 101");
  });

  it("a server with a wrong Sec-WebSocket-Accept fails, naming the header", async () => {
    const port = await scriptedServer((socket) =>
      socket.once("data", () =>
        socket.write(
          "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: bm90IHRoZSByaWdodCBrZXk=\r\n\r\n",
        ),
      ),
    );
    const log = new EventLog();
    const error = await connectionError(clientLoop(log), log, { url: `ws://${LOOPBACK}:${port}/` });
    expect(error.cause).toMatch(/^Sec-WebSocket-Accept mismatch/);
  });

  it("a server that hangs up during the handshake fails, saying when", async () => {
    const port = await scriptedServer((socket) => socket.once("data", () => socket.end()));
    const log = new EventLog();
    const error = await connectionError(clientLoop(log), log, { url: `ws://${LOOPBACK}:${port}/` });
    expect(error.cause).toMatch(/during the opening handshake/);
  });

  it("a bad URL is the caller's mistake: connect() throws at once", () => {
    const loop = clientLoop(new EventLog());
    expect(() => loop.connect({ url: "http://example.test/" })).toThrow(/ws:\/\/ or wss:\/\//);
  });
});
