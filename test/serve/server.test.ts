/**
 * A config served on real sockets: two vhosts on one listener (chosen by Host), a static
 * FILE mount with cache options and an error document, a redirect, a CALLBACK mount
 * handled by a protocol plugin loaded from a module, per-vhost protocol options and the
 * default protocol, lws-status's fragmented message, the access log, and the graceful
 * stop (1001).
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { request } from "node:http";
import { connect, createServer as createNetServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { parseConfig } from "../../src/serve/config.js";
import { startServer, type RunningServer } from "../../src/serve/server.js";

const fixtures = new URL("./fixtures/", import.meta.url).pathname;
const logDir = mkdtempSync(join(tmpdir(), "wsloop-serve-log-"));
const accessLog = join(logDir, "access.log");

const config = {
  global: { plugins: ["./shout-plugin.mjs"], "access-log": accessLog, "shutdown-grace-ms": 1000 },
  vhosts: [
    {
      name: "site.test",
      port: 0,
      interface: "127.0.0.1",
      "keepalive_timeout": 2,
      "error-document-404": "/404.html",
      mounts: [
        { mountpoint: "/", origin: "file://www", "cache-max-age": 60, "cache-reuse": true, "cache-intermediaries": true },
        { mountpoint: "/api", origin: "callback://shout" },
        { mountpoint: "/old", origin: ">https://example.com/new", "redirect-status": 301 },
      ],
      "ws-protocols": [{ "lws-status": { "interval-ms": 50 } }, { shout: { default: true, prefix: "site: " } }],
    },
    {
      name: "other.test",
      port: 0,
      interface: "127.0.0.1",
      mounts: [{ mountpoint: "/", origin: "callback://post-demo" }],
      "ws-protocols": [{ echo: {} }, { shout: { prefix: "other: " } }, { "post-demo": {} }],
    },
  ],
};

let server: RunningServer;
let port: number;
const logLines: string[] = [];

/** A port free right now: both vhosts name it, so they share one listener (port 0 would give each its own). */
function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createNetServer().listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

beforeAll(async () => {
  const free = await freePort();
  for (const vhost of config.vhosts) vhost.port = free;
  server = await startServer(parseConfig(config, "test.json", fixtures), { emit: (level, m) => logLines.push(`${level} ${m}`) });
  port = server.addresses[0]!.port;
});
afterAll(async () => {
  await server?.close(500);
});

function get(path: string, host: string, method = "GET", body?: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, method, headers: { Host: host, ...(body ? { "Content-Type": "application/x-www-form-urlencoded" } : {}) } }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (text += c));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

function ws(host: string, protocol?: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const client = new WebSocket(`ws://127.0.0.1:${port}/`, protocol ? [protocol] : [], { headers: { Host: host } });
    client.once("open", () => resolve(client));
    client.once("error", reject);
  });
}

function reply(client: WebSocket, send: string): Promise<string> {
  return new Promise((resolve) => {
    client.once("message", (data) => resolve(String(data)));
    client.send(send);
  });
}

describe("wsloop serve with a two-vhost config", () => {
  it("both vhosts share one listener, and its URL is known", () => {
    expect(server.addresses).toHaveLength(1);
    expect(server.addresses[0]!.vhosts).toEqual(["site.test", "other.test"]);
    expect(server.urls).toEqual([`http://127.0.0.1:${port}/`]);
  });

  it("static mount: index.html at /, with the mount's cache policy", async () => {
    const res = await get("/", "site.test");
    expect(res.status).toBe(200);
    expect(res.body).toContain("static index");
    expect(res.headers["content-type"]).toMatch(/^text\/html/);
    expect(res.headers["cache-control"]).toBe("public, max-age=60");
    const css = await get("/style.css", "site.test");
    expect(css.headers["content-type"]).toMatch(/^text\/css/);
  });

  it("error-document-404 is served with status 404", async () => {
    const res = await get("/missing.html", "site.test");
    expect(res.status).toBe(404);
    expect(res.body).toContain("not here");
  });

  it("redirect mount: 301 to https://origin plus the rest of the path", async () => {
    const res = await get("/old/page?x=1", "site.test");
    expect(res.status).toBe(301);
    expect(res.headers.location).toBe("https://example.com/new/page?x=1");
  });

  it("callback mount: the plugin's protocol answers HTTP", async () => {
    const res = await get("/api/things", "site.test");
    expect(res.status).toBe(200);
    expect(res.body).toBe("shout at /api/things via /api\n");
  });

  it("the other vhost (by Host): its own callback mount, the post-demo form", async () => {
    const form = await get("/", "other.test");
    expect(form.status).toBe(200);
    expect(form.body).toContain("<form");
    const posted = await get("/", "other.test", "POST", "text=hello+%3Cworld%3E");
    expect(posted.body).toContain("<td>text</td><td>hello &lt;world&gt;</td>");
  });

  it("WebSocket: the default protocol and per-vhost plugin options differ by vhost", async () => {
    const a = await ws("site.test");
    expect(await reply(a, "hi")).toBe("site: HI");
    const b = await ws("other.test", "shout");
    expect(b.protocol).toBe("shout");
    expect(await reply(b, "hi")).toBe("other: HI");
    const c = await ws("other.test");
    expect(await reply(c, "plain")).toBe("plain"); // echo: the first protocol is the default
    for (const x of [a, b, c]) x.close();
  });

  it("lws-status: a JSON list of the clients, sent as a text frame with fin=0 and a continuation", async () => {
    const watcher = await ws("site.test", "shout");
    const frames = await new Promise<Array<{ fin: boolean; opcode: number; payload: Buffer }>>((resolve, reject) => {
      const socket = connect(port, "127.0.0.1");
      let buffer = Buffer.alloc(0);
      let upgraded = false;
      const frames: Array<{ fin: boolean; opcode: number; payload: Buffer }> = [];
      socket.on("error", reject);
      socket.write(
        "GET / HTTP/1.1\r\nHost: site.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: lws-status\r\nUser-Agent: raw-test\r\n\r\n",
      );
      socket.on("data", (chunk: Buffer) => {
        buffer = Buffer.concat([buffer, chunk]);
        if (!upgraded) {
          const end = buffer.indexOf("\r\n\r\n");
          if (end < 0) return;
          expect(buffer.subarray(0, end).toString()).toMatch(/^HTTP\/1.1 101/);
          buffer = buffer.subarray(end + 4);
          upgraded = true;
        }
        while (buffer.length >= 2) {
          let len = buffer[1]! & 0x7f;
          let offset = 2;
          if (len === 126) {
            if (buffer.length < 4) return;
            len = buffer.readUInt16BE(2);
            offset = 4;
          }
          if (buffer.length < offset + len) return;
          frames.push({ fin: (buffer[0]! & 0x80) !== 0, opcode: buffer[0]! & 0x0f, payload: buffer.subarray(offset, offset + len) });
          buffer = buffer.subarray(offset + len);
          if (frames.length === 2) {
            socket.destroy();
            resolve(frames);
          }
        }
      });
    });
    watcher.close();
    expect(frames.map((f) => [f.fin, f.opcode])).toEqual([
      [false, 1],
      [true, 0],
    ]);
    const status = JSON.parse(Buffer.concat(frames.map((f) => f.payload)).toString("utf8"));
    expect(status.server).toBe("wsloop");
    const mine = status.connections.find((c: { id: number }) => c.id === status.you);
    expect(mine).toMatchObject({ protocol: "lws-status", userAgent: "raw-test", path: "/" });
    expect(status.connections.some((c: { protocol: string }) => c.protocol === "shout")).toBe(true);
  });

  it("the access log has a line per request and per WebSocket, with the vhost", async () => {
    await get("/style.css", "site.test");
    const lines = readFileSync(accessLog, "utf8").split("\n");
    expect(lines.some((l) => / site\.test \[.*\] "GET \/style\.css HTTP\/1\.1"/.test(l))).toBe(true);
    expect(lines.some((l) => / other\.test \[.*\] "POST \/ HTTP\/1\.1"/.test(l))).toBe(true);
    expect(lines.some((l) => /"GET \/ websocket shout"/.test(l))).toBe(true);
  });

  it("close(): every WebSocket gets 1001, then the listener is gone", async () => {
    const client = await ws("site.test");
    const closed = new Promise<number>((resolve) => client.once("close", (code) => resolve(code)));
    await server.close(1000);
    expect(await closed).toBe(1001);
    await expect(get("/", "site.test")).rejects.toThrow(/ECONNREFUSED/);
  });
});
