/**
 * HTTP on an http.Server someone else owns: `loop.attach(server, { http: true })` takes
 * its `request` event as well as its upgrades, and `loop.httpHandler()` answers from
 * inside another request listener (an Express route). Node keeps the socket; each
 * exchange is bridged (HttpExchangeTransport).
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { Agent, createServer, request as httpRequest, type IncomingMessage, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { NodeLoop } from "../../src/loops/node/index.js";
import { defineProtocol } from "../../src/poll/index.js";
import { EventLog } from "../helpers/event-log.js";
import { LOOPBACK } from "../helpers/sockets.js";
import { waitUntil } from "../helpers/wait.js";
import { closeWs, Inbox, openWs } from "../helpers/ws-client.js";
import { recordingEcho } from "../node/helpers.js";

let root = "";
const BIG = randomBytes(3 * 1024 * 1024 + 7);

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "wsloop-attach-www-"));
  writeFileSync(join(root, "index.html"), "<h1>attached</h1>");
  writeFileSync(join(root, "big.bin"), BIG);
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

function makeLoop() {
  const bodies: Buffer[] = [];
  const api = defineProtocol<null>({
    name: "api",
    callback(event) {
      if (event.reason === "HTTP_BODY") bodies.push(Buffer.from(event.data));
      if (event.reason === "HTTP_BODY_COMPLETION" || (event.reason === "HTTP" && event.method === "GET")) {
        const body = Buffer.concat(bodies.splice(0));
        event.connection.respond(200, { "Content-Type": "text/plain", "Set-Cookie": ["a=1", "b=2"] }, `got ${body.length} bytes`);
      }
    },
  });
  const loop = new NodeLoop({
    logger: { level: "warn" },
    vhosts: [
      {
        name: "localhost",
        protocols: [recordingEcho(new EventLog(), "echo"), api],
        mounts: [
          { mountpoint: "/", kind: "file", origin: root },
          { mountpoint: "/api", kind: "callback", origin: "api" },
        ],
      },
    ],
  });
  cleanups.push(() => loop.close(500));
  return loop;
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
  cleanups.push(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return (server.address() as { port: number }).port;
}

function fetchRaw(
  port: number,
  path: string,
  options: { method?: string; body?: Buffer; chunked?: boolean; agent?: Agent; headers?: Record<string, string> } = {},
): Promise<{ res: IncomingMessage; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...options.headers };
    if (options.body && !options.chunked) headers["Content-Length"] = String(options.body.length);
    const req = httpRequest({ host: LOOPBACK, port, path, method: options.method ?? "GET", headers, agent: options.agent ?? false }, (res) => {
      const parts: Buffer[] = [];
      res.on("data", (c: Buffer) => parts.push(c));
      res.on("end", () => resolve({ res, body: Buffer.concat(parts) }));
      res.on("error", reject);
    });
    req.on("error", reject);
    if (options.body && options.chunked) {
      // Two writes without a length: Node sends them chunked.
      req.write(options.body.subarray(0, 100));
      req.end(options.body.subarray(100));
    } else {
      req.end(options.body);
    }
  });
}

describe("attach(server, { http: true })", () => {
  it("serves files, a CALLBACK mount with bodies (chunked too), 404, and keeps Node's keep-alive", async () => {
    const loop = makeLoop();
    const server = createServer();
    loop.attach(server, { http: true });
    const port = await listen(server);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    cleanups.push(() => agent.destroy());

    const home = await fetchRaw(port, "/", { agent });
    expect([home.res.statusCode, home.res.headers["content-type"], home.body.toString()]).toEqual([200, "text/html; charset=utf-8", "<h1>attached</h1>"]);
    const big = await fetchRaw(port, "/big.bin", { agent });
    expect([big.res.statusCode, big.res.headers["content-length"]]).toEqual([200, String(BIG.length)]);
    expect(big.body.equals(BIG)).toBe(true);
    const head = await fetchRaw(port, "/big.bin", { agent, method: "HEAD" });
    expect([head.res.statusCode, head.res.headers["content-length"], head.body.length]).toEqual([200, String(BIG.length), 0]);
    const ranged = await fetchRaw(port, "/big.bin", { agent, headers: { Range: "bytes=10-19" } });
    expect([ranged.res.statusCode, ranged.body.equals(BIG.subarray(10, 20))]).toEqual([206, true]);
    const posted = await fetchRaw(port, "/api/up", { agent, method: "POST", body: randomBytes(300_000) });
    expect([posted.res.statusCode, posted.body.toString(), posted.res.headers["set-cookie"]]).toEqual([200, "got 300000 bytes", ["a=1", "b=2"]]);
    const chunked = await fetchRaw(port, "/api/up", { agent, method: "POST", body: randomBytes(5000), chunked: true });
    expect(chunked.body.toString()).toBe("got 5000 bytes");
    const missing = await fetchRaw(port, "/nope.txt", { agent });
    expect(missing.res.statusCode).toBe(404);
    expect(missing.body.toString()).toContain("404");
    // One socket for all of it: Node's keep-alive, not the bridge's.
    expect(new Set([home, big, head, ranged, posted, chunked, missing].map((r) => r.res.socket)).size).toBe(1);
    await waitUntil(() => loop.context.connectionCount === 0, "every bridged exchange to end");
  });

  it("the same server still takes WebSocket upgrades", async () => {
    const loop = makeLoop();
    const server = createServer();
    loop.attach(server, { http: true });
    const port = await listen(server);
    const ws = await openWs(`ws://${LOOPBACK}:${port}/`, "echo");
    cleanups.push(() => closeWs(ws));
    const inbox = new Inbox(ws);
    ws.send("hi");
    expect((await inbox.next()).data.toString()).toBe("hi");
    expect((await fetchRaw(port, "/")).body.toString()).toBe("<h1>attached</h1>");
  });

  it("without http: true the server's own listener answers; detaching stops the HTTP role", async () => {
    const loop = makeLoop();
    const server = createServer();
    const detach = loop.attach(server, { http: true });
    detach();
    server.on("request", (_req, res) => res.end("node"));
    const port = await listen(server);
    expect((await fetchRaw(port, "/")).body.toString()).toBe("node");
  });
});

describe("loop.httpHandler() inside another request listener", () => {
  it("answers the requests a router hands it; the router answers the rest", async () => {
    const loop = makeLoop();
    const wsloop = loop.httpHandler("localhost");
    const server = createServer((req, res) => {
      if (req.url?.startsWith("/own")) res.end("router");
      else wsloop(req, res);
    });
    const port = await listen(server);
    expect((await fetchRaw(port, "/own/x")).body.toString()).toBe("router");
    expect((await fetchRaw(port, "/big.bin")).body.equals(BIG)).toBe(true);
    expect((await fetchRaw(port, "/api/q")).body.toString()).toBe("got 0 bytes");
  });

  it("a client that goes away mid-response ends the bridged connection", async () => {
    const loop = makeLoop();
    const server = createServer(loop.httpHandler());
    const port = await listen(server);
    await new Promise<void>((resolve, reject) => {
      const req = httpRequest({ host: LOOPBACK, port, path: "/big.bin", agent: false }, (res) => {
        res.once("data", () => {
          req.destroy();
          resolve();
        });
      });
      req.on("error", () => {});
      req.on("close", () => resolve());
      req.end();
      setTimeout(() => reject(new Error("no response")), 5_000);
    });
    await waitUntil(() => loop.context.connectionCount === 0, "the bridged connection to close");
  });
});
