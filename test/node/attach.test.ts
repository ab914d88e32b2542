/**
 * Attaching to a server that already exists: node:http, Express and Fastify serve their
 * HTTP routes and wsloop serves WebSockets on the same port. Upgrades are routed by
 * path (404 elsewhere), authenticated asynchronously (false → 401, a status → that
 * status, true → upgrade), and bytes the client sends right after its request — in the
 * same packet or while authentication runs — are not lost.
 */
import { get as httpGet, createServer, type IncomingMessage, type Server } from "node:http";
import { createServer as createHttpsServer, get as httpsGet } from "node:https";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { NodeLoop, type AuthDecision } from "../../src/loops/node/index.js";
import { ensureDistBuilt } from "./dist.js";
import { EventLog } from "../helpers/event-log.js";
import { LOOPBACK, rawConnect, readAll, readUntil } from "../helpers/sockets.js";
import { waitUntil } from "../helpers/wait.js";
import { clientFrame, statusOf, upgradeRequest } from "../helpers/wire.js";
import { Inbox, closeWs, openWs } from "../helpers/ws-client.js";
import { TestPki, hasOpenssl, recordingEcho } from "./helpers.js";

// The examples import "wsloop/node" as a user would: the built package.
await ensureDistBuilt();
const { start: startHttp } = await import("../../examples/attach-http.js");
const { start: startExpress } = await import("../../examples/attach-express.js");
const { start: startFastify } = await import("../../examples/attach-fastify.js");

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/** GET over a fresh connection (no keep-alive pool to hold the server open). */
function httpText(url: string): Promise<{ status: number; body: string; type: string }> {
  return new Promise((resolve, reject) => {
    httpGet(url, { agent: false }, (response) => {
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => (body += chunk));
      response.on("end", () => resolve({ status: response.statusCode ?? 0, body, type: String(response.headers["content-type"] ?? "") }));
    }).on("error", reject);
  });
}

/** An upgrade by hand; resolves with the status line's code and the whole response. */
async function rawUpgrade(port: number, path: string): Promise<{ status: number; response: string }> {
  const socket = await rawConnect(port);
  cleanups.push(() => void socket.destroy());
  const all = readAll(socket);
  socket.write(upgradeRequest(path));
  const response = await all;
  return { status: statusOf(response), response };
}

/** The first frame of a server's reply after the 101, as text (unmasked, < 126 bytes). */
function firstFrameText(afterHead: string): string {
  const bytes = Buffer.from(afterHead, "latin1");
  expect(bytes[0]).toBe(0x81);
  const length = bytes[1]! & 0x7f;
  return bytes.subarray(2, 2 + length).toString("utf8");
}

describe("attach to a plain node:http server", () => {
  let gate: { opened: Promise<void>; open: () => void; asked: boolean } | null = null;

  async function setup(): Promise<{ server: Server; loop: NodeLoop; port: number; log: EventLog; authenticated: IncomingMessage[] }> {
    const log = new EventLog();
    const authenticated: IncomingMessage[] = [];
    const server = createServer((request, response) => {
      if (request.url === "/hello") response.writeHead(200, { "content-type": "text/plain" }).end("hi");
      else response.writeHead(404).end();
    });
    const loop = new NodeLoop({ logger: { level: "warn" }, vhosts: [{ protocols: [recordingEcho(log, "echo"), recordingEcho(log, "chat")] }] });
    const detach = loop.attach(server, {
      routes: { "/echo": "echo", "/chat": ["chat", "echo"] },
      async authenticate(request): Promise<AuthDecision> {
        authenticated.push(request);
        const token = new URL(request.url!, "http://x").searchParams.get("token");
        if (gate) {
          gate.asked = true;
          await gate.opened;
        } else {
          await new Promise((resolve) => setImmediate(resolve));
        }
        if (token === "ok") return true;
        if (token === "bad") return { status: 403, message: "bad token", headers: { "X-Why": "token" } };
        if (token === "boom") throw new Error("database down");
        return false;
      },
    });
    await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
    cleanups.push(async () => {
      gate = null;
      detach();
      await loop.close(1_000);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });
    return { server, loop, port: (server.address() as { port: number }).port, log, authenticated };
  }

  it("serves its HTTP route and wsloop's WebSockets on the same port", async () => {
    const { port, log } = await setup();
    expect(await httpText(`http://${LOOPBACK}:${port}/hello`)).toMatchObject({ status: 200, body: "hi" });
    const ws = await openWs(`ws://${LOOPBACK}:${port}/echo?token=ok`);
    cleanups.push(() => closeWs(ws));
    const inbox = new Inbox(ws);
    ws.send("attached ✓");
    expect((await inbox.next()).data.toString()).toBe("attached ✓");
    const established = await log.waitFor("ESTABLISHED");
    expect(established.connection.path).toBe("/echo?token=ok");
    expect(established.connection.protocol.name).toBe("echo");
    // HTTP still works while a WebSocket is open.
    expect((await httpText(`http://${LOOPBACK}:${port}/hello`)).body).toBe("hi");
  });

  it("routes by path: each path's protocols, the first as its default", async () => {
    const { port, log } = await setup();
    const plain = await openWs(`ws://${LOOPBACK}:${port}/chat?token=ok`);
    const asked = await openWs(`ws://${LOOPBACK}:${port}/chat?token=ok`, ["echo"]);
    cleanups.push(() => closeWs(plain), () => closeWs(asked));
    await waitUntil(() => log.of("ESTABLISHED").length === 2, "two connections");
    expect(log.of("ESTABLISHED").map((e) => e.connection.protocol.name).sort()).toEqual(["chat", "echo"]);
    expect(asked.protocol).toBe("echo");
  });

  it("answers 404 to an upgrade to a path it does not serve, without asking authenticate", async () => {
    const { port, authenticated } = await setup();
    const { status, response } = await rawUpgrade(port, "/nowhere?token=ok");
    expect(status).toBe(404);
    expect(response).toContain("no WebSocket service at /nowhere");
    expect(authenticated).toHaveLength(0);
  });

  it("authenticate resolving false refuses with 401", async () => {
    const { port, log } = await setup();
    expect((await rawUpgrade(port, "/echo")).status).toBe(401);
    await expect(openWs(`ws://${LOOPBACK}:${port}/echo`)).rejects.toThrow("unexpected response 401");
    expect(log.of("FILTER_NETWORK_CONNECTION")).toHaveLength(0);
  });

  it("authenticate resolving { status: 403 } refuses with 403, its message and headers", async () => {
    const { port } = await setup();
    const { status, response } = await rawUpgrade(port, "/echo?token=bad");
    expect(status).toBe(403);
    expect(response).toMatch(/\r\nX-Why: token\r\n/i);
    expect(response.endsWith("\r\n\r\nbad token\n")).toBe(true);
  });

  it("authenticate throwing refuses with 500 and says why", async () => {
    const { port } = await setup();
    const { status, response } = await rawUpgrade(port, "/echo?token=boom");
    expect(status).toBe(500);
    expect(response).toContain("authentication failed: database down");
  });

  it("keeps bytes sent in the same packet as the request (the upgrade's head)", async () => {
    const { port } = await setup();
    const socket = await rawConnect(port);
    cleanups.push(() => void socket.destroy());
    const reply = readUntil(socket, "early bird");
    socket.write(Buffer.concat([Buffer.from(upgradeRequest("/echo?token=ok")), clientFrame("early bird")]));
    const got = await reply;
    expect(statusOf(got)).toBe(101);
    expect(firstFrameText(got.slice(got.indexOf("\r\n\r\n") + 4))).toBe("early bird");
  });

  it("keeps bytes that arrive while authentication is still running", async () => {
    let open!: () => void;
    gate = { opened: new Promise<void>((resolve) => (open = resolve)), open: () => open(), asked: false };
    const { port, authenticated } = await setup();
    const socket = await rawConnect(port);
    cleanups.push(() => void socket.destroy());
    const reply = readUntil(socket, "second");
    socket.write(upgradeRequest("/echo?token=ok"));
    await waitUntil(() => gate!.asked, "authenticate to be called");
    const frames = [clientFrame("first"), clientFrame("second")];
    socket.write(frames[0]!);
    socket.write(frames[1]!);
    // Both frames wait in the server's (paused) socket before authentication decides.
    const serverSide = authenticated[0]!.socket;
    await waitUntil(() => serverSide.readableLength >= frames[0]!.length + frames[1]!.length, "the frames to reach the server");
    gate.open();
    const got = await reply;
    expect(statusOf(got)).toBe(101);
    const echoed = Buffer.from(got.slice(got.indexOf("\r\n\r\n") + 4), "latin1");
    expect(echoed.subarray(2, 7).toString()).toBe("first");
    expect(echoed.subarray(9, 15).toString()).toBe("second");
  });
});

describe.skipIf(!hasOpenssl)("attach to an https.Server (needs the openssl CLI)", () => {
  let pki: TestPki;
  beforeAll(() => (pki = new TestPki()));
  afterAll(() => pki?.dispose());

  it("serves its HTTPS route and wss:// on the same port", async () => {
    const pem = pki.selfSigned("https", "localhost", ["DNS:localhost", "IP:127.0.0.1"]);
    const server = createHttpsServer({ cert: pem.cert, key: pem.key }, (_request, response) => response.end("secure hi"));
    const log = new EventLog();
    const loop = new NodeLoop({ logger: { level: "warn" }, vhosts: [{ protocols: [recordingEcho(log)] }] });
    const detach = loop.attach(server, { routes: { "/ws": "echo" } });
    await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
    cleanups.push(async () => {
      detach();
      await loop.close(1_000);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });
    const port = (server.address() as { port: number }).port;
    const body = await new Promise<string>((resolve, reject) => {
      httpsGet(`https://${LOOPBACK}:${port}/`, { agent: false, ca: pem.cert }, (response) => {
        let text = "";
        response.on("data", (chunk: Buffer) => (text += chunk.toString()));
        response.on("end", () => resolve(text));
      }).on("error", reject);
    });
    expect(body).toBe("secure hi");
    const ws = await openWs(`wss://${LOOPBACK}:${port}/ws`, undefined, { ca: pem.cert });
    cleanups.push(() => closeWs(ws));
    const inbox = new Inbox(ws);
    ws.send("wss via https.Server");
    expect((await inbox.next()).data.toString()).toBe("wss via https.Server");
  });
});

describe("the attach examples (examples/*.ts) serve HTTP and WebSockets on one port", () => {
  for (const [name, start, expectBody] of [
    ["node:http", startHttp, "hello from node:http\n"],
    ["Express", startExpress, JSON.stringify({ hello: "from express" })],
    ["Fastify", startFastify, JSON.stringify({ hello: "from fastify" })],
  ] as const) {
    it(`${name}: GET /hello and a WebSocket echo on /echo, 404 for another path`, async () => {
      const app = await start({ port: 0, host: LOOPBACK });
      cleanups.push(() => app.close());
      const hello = await httpText(`${app.url}/hello`);
      expect(hello.status).toBe(200);
      expect(hello.body).toBe(expectBody);
      const query = name === "node:http" ? "?token=letmein" : "";
      const ws = await openWs(`ws://${LOOPBACK}:${app.port}/echo${query}`);
      cleanups.push(() => closeWs(ws));
      const inbox = new Inbox(ws);
      ws.send(`hello ${name}`);
      ws.send(Buffer.from([1, 2, 3]));
      const [text, binary] = await inbox.take(2);
      expect(text!.data.toString()).toBe(`hello ${name}`);
      expect([...binary!.data]).toEqual([1, 2, 3]);
      expect(binary!.binary).toBe(true);
      expect((await rawUpgrade(app.port, "/other")).status).toBe(404);
    });
  }

  it("node:http example: no token → 401, a wrong one → 403", async () => {
    const app = await startHttp({ port: 0, host: LOOPBACK });
    cleanups.push(() => app.close());
    expect((await rawUpgrade(app.port, "/echo")).status).toBe(401);
    expect((await rawUpgrade(app.port, "/echo?token=guess")).status).toBe(403);
  });

  it("closing the app closes its WebSockets with 1001", async () => {
    const app = await startExpress({ port: 0, host: LOOPBACK });
    const ws = await openWs(`ws://${LOOPBACK}:${app.port}/echo`);
    const closed = new Promise<number>((resolve) => ws.once("close", (code) => resolve(code)));
    await app.close();
    expect(await closed).toBe(1001);
  });
});
