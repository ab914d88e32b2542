/**
 * The Node loop serving a real directory on a real socket, to Node's http client and to
 * curl (when this machine has it): index, types, Range, 304, HEAD, gzip variants,
 * keep-alive, traversal attempts, vhosts by Host, a CALLBACK mount, RAW fallback, and
 * the HTTP client against a real server. Conditions are waited for, never slept on.
 */
import { execFile, execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { Agent, createServer as createHttpServer, request as httpRequest, type IncomingMessage } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { NodeLoop } from "../../src/loops/node/index.js";
import { defineProtocol, type Connection } from "../../src/poll/index.js";
import { EventLog, type AnyEvent } from "../helpers/event-log.js";
import { LOOPBACK, rawConnect, readAll, readUntil } from "../helpers/sockets.js";
import { waitUntil } from "../helpers/wait.js";

const hasCurl = (() => {
  try {
    execFileSync("curl", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();

let root = "";
let outside = "";
const BIG = randomBytes(1024 * 1024 + 13);
const TEXT = "all work and no play makes jack a dull boy\n".repeat(500);

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "wsloop-www-"));
  outside = mkdtempSync(join(tmpdir(), "wsloop-secret-"));
  writeFileSync(join(outside, "passwd"), "root:x:0:0");
  writeFileSync(join(root, "index.html"), "<h1>home</h1>");
  writeFileSync(join(root, "error.css"), "h1{color:red}");
  writeFileSync(join(root, "big.bin"), BIG);
  writeFileSync(join(root, "jack.txt"), TEXT);
  writeFileSync(join(root, "jack.txt.gz"), gzipSync(TEXT));
  mkdirSync(join(root, "docs"));
  writeFileSync(join(root, "docs", "index.html"), "<h1>docs</h1>");
  symlinkSync(join(outside, "passwd"), join(root, "passwd"));
  writeFileSync(join(root, "b-index.html"), "site B");
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
  rmSync(outside, { recursive: true, force: true });
});

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function serving(): Promise<{ loop: NodeLoop; port: number; log: EventLog }> {
  const log = new EventLog();
  const api = defineProtocol<null>({
    name: "api",
    callback(event) {
      log.push(event as AnyEvent);
      if (event.reason === "HTTP") event.connection.respond(200, { "Content-Type": "application/json" }, JSON.stringify({ path: event.path, query: event.query }));
    },
  });
  const telnet = defineProtocol<null>({
    name: "telnet",
    callback(event) {
      log.push(event as AnyEvent);
      if (event.reason === "RAW_RX") {
        pending.set(event.connection, Buffer.from(event.data.toString().toUpperCase()));
        event.connection.requestWriteable();
      } else if (event.reason === "RAW_WRITEABLE") {
        event.connection.write(pending.get(event.connection)!);
      }
    },
  });
  const pending = new Map<Connection<null>, Buffer>();
  const loop = new NodeLoop({
    logger: { level: "warn" },
    vhosts: [
      {
        name: "localhost",
        protocols: [api, telnet],
        rawFallbackProtocol: "telnet",
        listen: { port: 0, host: LOOPBACK },
        mounts: [
          { mountpoint: "/", kind: "file", origin: root, precompressed: true, cacheMaxAge: 300, cacheReusable: true },
          { mountpoint: "/api", kind: "callback", origin: "api" },
        ],
      },
    ],
  });
  await loop.listen();
  cleanups.push(() => loop.close(500));
  return { loop, port: loop.port, log };
}

function get(port: number, path: string, options: { method?: string; headers?: Record<string, string>; agent?: Agent } = {}): Promise<{ res: IncomingMessage; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: LOOPBACK, port, path, method: options.method ?? "GET", headers: options.headers ?? {}, agent: options.agent ?? false }, (res) => {
      const parts: Buffer[] = [];
      res.on("data", (c: Buffer) => parts.push(c));
      res.on("end", () => resolve({ res, body: Buffer.concat(parts) }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

function curl(args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile("curl", ["-s", "-S", "--max-time", "10", ...args], { encoding: "latin1", maxBuffer: 8 << 20 }, (error, stdout) => (error ? reject(error) : resolve(stdout))),
  );
}

describe("Node loop serving a directory to Node's http client", () => {
  it("index, types, validators, cache-control; a 1 MiB file intact", async () => {
    const { port } = await serving();
    const home = await get(port, "/");
    expect([home.res.statusCode, home.res.headers["content-type"], home.body.toString()]).toEqual([200, "text/html; charset=utf-8", "<h1>home</h1>"]);
    expect(home.res.headers["cache-control"]).toBe("private, max-age=300");
    const big = await get(port, "/big.bin");
    expect(big.res.headers["content-length"]).toBe(String(BIG.length));
    expect(big.body.equals(BIG)).toBe(true);
  });

  it("Range → 206, an unsatisfiable one → 416, If-None-Match → 304, HEAD → no body", async () => {
    const { port } = await serving();
    const part = await get(port, "/big.bin", { headers: { Range: "bytes=1000-1999" } });
    expect([part.res.statusCode, part.res.headers["content-range"]]).toEqual([206, `bytes 1000-1999/${BIG.length}`]);
    expect(part.body.equals(BIG.subarray(1000, 2000))).toBe(true);
    expect((await get(port, "/big.bin", { headers: { Range: `bytes=${BIG.length}-` } })).res.statusCode).toBe(416);
    const etag = part.res.headers.etag!;
    const cached = await get(port, "/big.bin", { headers: { "If-None-Match": etag } });
    expect([cached.res.statusCode, cached.body.length]).toEqual([304, 0]);
    const head = await get(port, "/big.bin", { method: "HEAD" });
    expect([head.res.statusCode, head.res.headers["content-length"], head.body.length]).toEqual([200, String(BIG.length), 0]);
  });

  it("serves jack.txt.gz to a client that accepts gzip, the plain file to one that does not", async () => {
    const { port } = await serving();
    const zipped = await get(port, "/jack.txt", { headers: { "Accept-Encoding": "gzip" } });
    expect([zipped.res.headers["content-encoding"], zipped.res.headers.vary]).toEqual(["gzip", "Accept-Encoding"]);
    expect(gunzipSync(zipped.body).toString()).toBe(TEXT);
    const plain = await get(port, "/jack.txt");
    expect([plain.res.headers["content-encoding"], plain.body.toString()]).toEqual([undefined, TEXT]);
  });

  it("keeps the connection alive across requests (one socket for three)", async () => {
    const { port } = await serving();
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    cleanups.push(() => agent.destroy());
    const sockets = new Set<unknown>();
    for (const path of ["/", "/docs/", "/api/x?y=1"]) {
      const r = await get(port, path, { agent });
      sockets.add(r.res.socket);
      expect(r.res.statusCode).toBe(200);
    }
    expect(sockets.size).toBe(1);
  });

  it("refuses traversal on the wire: dot segments, encoded ones, encoded slashes, NUL, a symlink out of the root", async () => {
    const { port } = await serving();
    for (const [target, status] of [
      ["/../../../etc/passwd", 403],
      ["/%2e%2e/%2e%2e/etc/passwd", 403],
      ["/..%2f..%2fetc%2fpasswd", 403],
      ["/index.html%00", 403],
      ["/passwd", 404],
    ] as const) {
      const socket = await rawConnect(port);
      const answer = readAll(socket);
      socket.write(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      const text = await answer;
      expect(text.slice(0, 12), target).toBe(`HTTP/1.1 ${status}`);
      expect(text, target).not.toContain("root:x");
      // The error page links the vhost's stylesheet.
      expect(text).toContain('href="/error.css"');
    }
  });

  it("a CALLBACK mount answers, bound to its protocol", async () => {
    const { port, log } = await serving();
    const r = await get(port, "/api/items?id=3");
    expect(JSON.parse(r.body.toString())).toEqual({ path: "/api/items", query: "id=3" });
    await log.waitFor("HTTP_DROP_PROTOCOL");
    expect(log.reasons().filter((x) => !/FILTER_NETWORK_CONNECTION|_POLL_FD|PROTOCOL_INIT/.test(x))).toEqual([
      "HTTP_BIND_PROTOCOL", "FILTER_HTTP_CONNECTION", "HTTP", "CLOSED_HTTP", "HTTP_DROP_PROTOCOL",
    ]);
  });

  it("a telnet-style exchange becomes RAW on the same port", async () => {
    const { port, log } = await serving();
    const socket = await rawConnect(port);
    cleanups.push(() => void socket.destroy());
    const echoed = readUntil(socket, "HELLO THERE");
    socket.write("hello there\r\n");
    await echoed;
    socket.end();
    await log.waitFor("RAW_CLOSE");
    expect(log.reasons().filter((x) => /^RAW_/.test(x))).toEqual(["RAW_ADOPT", "RAW_RX", "RAW_WRITEABLE", "RAW_CLOSE"]);
  });
});

describe("adopting a Node socket as RAW", () => {
  it("a socket accepted elsewhere becomes a RAW connection of the named protocol", async () => {
    const { loop, log } = await serving();
    const { createServer } = await import("node:net");
    const server = createServer((socket) => loop.adoptSocket(socket, "localhost", [], undefined, { rawProtocol: "telnet" }));
    await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const socket = await rawConnect((server.address() as { port: number }).port);
    cleanups.push(() => void socket.destroy());
    const echoed = readUntil(socket, "GET / HTTP/1.1");
    // Bytes that would be HTTP elsewhere are just bytes here.
    socket.write("get / http/1.1");
    await echoed;
    expect(log.reasons().filter((x) => /^RAW_/.test(x)).slice(0, 2)).toEqual(["RAW_ADOPT", "RAW_RX"]);
  });
});

describe("vhosts by Host on one Node listener", () => {
  it("the Host header picks the vhost; others get the first", async () => {
    const names: string[] = [];
    const proto = (name: string) =>
      defineProtocol<null>({
        name,
        callback(event) {
          if (event.reason === "HTTP") {
            names.push(event.connection.vhost.name);
            event.connection.respond(200, {}, name);
          }
        },
      });
    const loop = new NodeLoop({
      logger: { level: "warn" },
      vhosts: [
        { name: "a.test", protocols: [proto("pa")], listen: { port: 0, host: LOOPBACK } },
        { name: "b.test", protocols: [proto("pb")], listen: { port: 0, host: LOOPBACK } },
      ],
    });
    cleanups.push(() => loop.close(500));
    // Port 0 never shares, so ask for the port the first got for both.
    await loop.listen();
    await loop.close(500);
    const port = loop.port;
    const shared = new NodeLoop({
      logger: { level: "warn" },
      vhosts: [
        { name: "a.test", protocols: [proto("pa")], listen: { port, host: LOOPBACK } },
        { name: "b.test", protocols: [proto("pb")], listen: { port, host: LOOPBACK } },
      ],
    });
    cleanups.push(() => shared.close(500));
    const addresses = await shared.listen();
    expect(addresses).toHaveLength(1);
    expect((await get(port, "/", { headers: { Host: "b.test:1234" } })).body.toString()).toBe("pb");
    expect((await get(port, "/", { headers: { Host: "www.a.test" } })).body.toString()).toBe("pa");
    expect((await get(port, "/", { headers: { Host: "nobody" } })).body.toString()).toBe("pa");
  });
});

describe("the HTTP client on the Node loop", () => {
  it("fetches from Node's own http server, chunked and with rx flow control, and follows a redirect", async () => {
    const server = createHttpServer((req, res) => {
      if (req.url === "/moved") {
        res.writeHead(302, { Location: "/data" }).end();
        return;
      }
      res.writeHead(200, { "Content-Type": "application/octet-stream" });
      // No length: Node sends it chunked.
      for (let i = 0; i < BIG.length; i += 100_000) res.write(BIG.subarray(i, i + 100_000));
      res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const port = (server.address() as { port: number }).port;
    const parts: Buffer[] = [];
    const log = new EventLog();
    const client = defineProtocol<null>({
      name: "client",
      callback(event) {
        log.push(event as AnyEvent);
        if (event.reason === "RECEIVE_CLIENT_HTTP") {
          parts.push(Buffer.from(event.data));
          // Push back for a moment on every piece: the body still arrives whole.
          event.connection.setRxFlowControl(false);
          setTimeout(() => event.connection.setRxFlowControl(true), 1);
        }
      },
    });
    const loop = new NodeLoop({ logger: { level: "warn" }, vhosts: [{ protocols: [client] }] });
    cleanups.push(() => loop.close(500));
    loop.connect({ url: `http://${LOOPBACK}:${port}/moved`, method: "GET", followRedirects: 3 });
    await log.waitFor("CLOSED_CLIENT_HTTP", () => true, 10_000);
    expect(log.of("ESTABLISHED_CLIENT_HTTP")[0]!.status).toBe(200);
    expect(Buffer.concat(parts).equals(BIG)).toBe(true);
    // Each hop sends the request again, with the headers the protocol appends.
    expect(log.reasons().filter((r) => !/RECEIVE_CLIENT_HTTP|_POLL_FD|PROTOCOL_INIT/.test(r))).toEqual([
      "CLIENT_APPEND_HANDSHAKE_HEADER", "CLIENT_APPEND_HANDSHAKE_HEADER", "ESTABLISHED_CLIENT_HTTP", "COMPLETED_CLIENT_HTTP", "CLOSED_CLIENT_HTTP",
    ]);
  });

  it("fetches a file from a wsloop server on the same loop", async () => {
    const { port } = await serving();
    const parts: Buffer[] = [];
    const log = new EventLog();
    const loop = new NodeLoop({
      logger: { level: "warn" },
      vhosts: [{ protocols: [defineProtocol<null>({ name: "c", callback: (e) => { log.push(e as AnyEvent); if (e.reason === "RECEIVE_CLIENT_HTTP") parts.push(Buffer.from(e.data)); } })] }],
    });
    cleanups.push(() => loop.close(500));
    loop.connect({ url: `http://${LOOPBACK}:${port}/big.bin`, method: "GET" });
    await log.waitFor("COMPLETED_CLIENT_HTTP", () => true, 10_000);
    expect(Buffer.concat(parts).equals(BIG)).toBe(true);
    await waitUntil(() => loop.context.connectionCount === 0, "the client connection to close");
  });
});

describe.skipIf(!hasCurl)("curl against the Node loop", () => {
  it("GET, Range, conditional 304, HEAD, --compressed, and --path-as-is traversal", async () => {
    const { port } = await serving();
    const base = `http://${LOOPBACK}:${port}`;
    expect(await curl([`${base}/`])).toBe("<h1>home</h1>");
    expect(Buffer.from(await curl([`${base}/big.bin`]), "latin1").equals(BIG)).toBe(true);
    expect(Buffer.from(await curl(["-r", "0-99", `${base}/big.bin`]), "latin1").equals(BIG.subarray(0, 100))).toBe(true);
    const head = await curl(["-I", `${base}/big.bin`]);
    expect(head).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    const etag = /^ETag: (.*)\r$/im.exec(head)![1]!;
    expect(await curl(["-o", "/dev/null", "-w", "%{http_code}", "-H", `If-None-Match: ${etag}`, `${base}/big.bin`])).toBe("304");
    expect(await curl(["--compressed", `${base}/jack.txt`])).toBe(TEXT);
    expect(await curl(["-o", "/dev/null", "-w", "%{http_code}", "--path-as-is", `${base}/../../etc/passwd`])).toBe("403");
    expect(await curl(["-o", "/dev/null", "-w", "%{http_code}", `${base}/docs`])).toBe("301");
    expect(await curl(["-L", `${base}/docs`])).toBe("<h1>docs</h1>");
    // Several URLs: curl reuses the connection (keep-alive).
    const both = await curl(["-v", `${base}/`, `${base}/docs/`]).catch((e: Error) => e.message);
    expect(both).toContain("<h1>home</h1><h1>docs</h1>");
  });

  it("POST a body to a CALLBACK mount, chunked upload included", async () => {
    const { port } = await serving();
    const r = await curl(["-X", "POST", "--data-binary", "x".repeat(5000), `http://${LOOPBACK}:${port}/api/up`]);
    expect(JSON.parse(r)).toEqual({ path: "/api/up", query: "" });
    const c = await curl(["-H", "Transfer-Encoding: chunked", "--data-binary", "abc", `http://${LOOPBACK}:${port}/api/chunked`]);
    expect(JSON.parse(c).path).toBe("/api/chunked");
  });
});
