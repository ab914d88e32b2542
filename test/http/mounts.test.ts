/**
 * Mounts through the manual driver and an in-memory filesystem: FILE (index, types,
 * validators and 304, ranges, HEAD, cache-control, precompressed variants, no way out of
 * the root), CALLBACK (bind and drop a protocol), redirects; the longest mountpoint wins.
 */
import { describe, expect, it } from "vitest";
import { defineProtocol, type CallbackEvent } from "../../src/poll/index.js";
import { MemoryFileOps } from "../../src/loops/manual/index.js";
import { splitPoints } from "../helpers/splits.js";
import { recording } from "../poll/harness.js";
import { httpServer } from "./harness.js";
import { request } from "./wire.js";

const BIG = Buffer.alloc(200 * 1024 + 7, 0);
for (let i = 0; i < BIG.length; i++) BIG[i] = (i * 31) & 0xff;

const site = {
  "/www/index.html": "<h1>home</h1>",
  "/www/style.css": "body{}",
  "/www/app.js": "console.log(1)",
  "/www/data.json": "{}",
  "/www/blob.bin": BIG,
  "/www/noext": "plain",
  "/www/docs/index.html": "<h1>docs</h1>",
  "/www/docs/guide.txt": "read me",
  "/www/big.txt": "x".repeat(1000),
  "/www/big.txt.gz": "GZIPPED",
  "/secret/passwd": "root:x:0:0",
};

function fileServer(extra: Record<string, unknown> = {}) {
  const s = httpServer({ files: site, vhost: { mounts: [{ mountpoint: "/", kind: "file", origin: "/www", ...extra }] } });
  return s;
}

function get(target: string, headers: Record<string, string> = {}, method = "GET", extra: Record<string, unknown> = {}) {
  const s = fileServer(extra);
  const peer = s.open({ capacity: 1 << 20 });
  peer.send(request(method, target, headers));
  return { r: peer.response(method), s, peer };
}

describe("FILE mounts", () => {
  it("serves the index file for the root, with type, length, validators and cache-control", () => {
    const { r } = get("/");
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe("<h1>home</h1>");
    expect(r.headers).toMatchObject({
      "content-type": "text/html; charset=utf-8",
      "content-length": "13",
      etag: expect.stringMatching(/^"d-[0-9a-f]+"$/),
      "last-modified": "Mon, 01 Jan 2024 00:00:00 GMT",
      "cache-control": "no-store",
      "accept-ranges": "bytes",
    });
  });

  it.each([
    ["/style.css", "text/css; charset=utf-8"],
    ["/app.js", "text/javascript; charset=utf-8"],
    ["/data.json", "application/json"],
    ["/blob.bin", "application/octet-stream"],
    ["/noext", "application/octet-stream"],
    ["/docs/guide.txt", "text/plain; charset=utf-8"],
  ])("types %s as %s", (path, type) => {
    expect(get(path).r.headers["content-type"]).toBe(type);
  });

  it("takes extra MIME types from the mount", () => {
    expect(get("/noext", {}, "GET", { mimeTypes: {} }).r.headers["content-type"]).toBe("application/octet-stream");
    expect(get("/blob.bin", {}, "GET", { mimeTypes: { bin: "application/x-thing" } }).r.headers["content-type"]).toBe("application/x-thing");
  });

  it("redirects a directory without its trailing slash (301), keeping the query, and serves its index with it", () => {
    const { r } = get("/docs?x=1");
    expect([r.status, r.headers.location]).toEqual([301, "/docs/?x=1"]);
    expect(get("/docs/").r.body.toString()).toBe("<h1>docs</h1>");
  });

  it("answers 404 for what does not exist, and for a directory without an index (no listings)", () => {
    expect(get("/nope.html").r.status).toBe(404);
    const s = httpServer({ files: { "/www/empty/file.txt": "x" }, vhost: { mounts: [{ mountpoint: "/", kind: "file", origin: "/www" }] } });
    const peer = s.open();
    peer.send(request("GET", "/empty/"));
    expect(peer.response().status).toBe(404);
  });

  it("HEAD: the same head, no body", () => {
    const { r, peer } = get("/blob.bin", {}, "HEAD");
    expect([r.status, r.headers["content-length"], r.body.length]).toEqual([200, String(BIG.length), 0]);
    expect(peer.bytes().toString("latin1").endsWith("\r\n\r\n")).toBe(true);
  });

  it("405 with Allow for methods other than GET and HEAD", () => {
    const s = fileServer();
    const peer = s.open();
    peer.send(request("DELETE", "/index.html"));
    const r = peer.response("DELETE");
    expect([r.status, r.headers.allow]).toEqual([405, "GET, HEAD"]);
  });

  it("streams a large file one 64 KiB chunk per writeable service, never reading it whole, and closes it", () => {
    const s = fileServer();
    const peer = s.open({ capacity: 16 * 1024 });
    peer.send(request("GET", "/blob.bin"));
    expect(s.files.openFiles).toBe(1);
    const r = peer.response();
    expect(r.body.equals(BIG)).toBe(true);
    expect(s.files.largestRead).toBe(64 * 1024);
    expect(s.files.reads).toBe(Math.ceil(BIG.length / (64 * 1024)));
    expect(s.files.openFiles).toBe(0);
  });

  it("stops reading the file while the peer does not read (flow control): one chunk is buffered at most", () => {
    const s = fileServer();
    const peer = s.open({ capacity: 8 * 1024 });
    peer.transport.write([request("GET", "/blob.bin")]);
    s.driver.run();
    const conn = [...s.context.connections][0]!;
    expect(s.files.reads).toBe(1);
    expect(conn.bufferedAmount).toBeLessThanOrEqual(64 * 1024);
    s.driver.run();
    expect(s.files.reads).toBe(1);
    expect(peer.response().body.length).toBe(BIG.length);
  });

  it("closes the file when the connection goes away mid-stream", () => {
    const s = fileServer();
    const peer = s.open({ capacity: 8 * 1024 });
    peer.transport.write([request("GET", "/blob.bin")]);
    s.driver.run();
    expect(s.files.openFiles).toBe(1);
    peer.transport.destroy();
    s.driver.run();
    expect(s.files.openFiles).toBe(0);
    expect(s.context.connectionCount).toBe(0);
  });

  describe("conditional requests", () => {
    const etag = () => get("/style.css").r.headers.etag!;

    it("304 for a matching If-None-Match (also in a list, also weak), with the validators and no body", () => {
      for (const inm of [etag(), `"other", ${etag()}`, `W/${etag()}`, "*"]) {
        const { r } = get("/style.css", { "If-None-Match": inm });
        expect([r.status, r.body.length, r.headers.etag, r.headers["content-length"]], inm).toEqual([304, 0, etag(), undefined]);
      }
      expect(get("/style.css", { "If-None-Match": '"nope"' }).r.status).toBe(200);
    });

    it("304 for If-Modified-Since at or after the modification time; 200 before; If-None-Match wins over it", () => {
      expect(get("/style.css", { "If-Modified-Since": "Mon, 01 Jan 2024 00:00:00 GMT" }).r.status).toBe(304);
      expect(get("/style.css", { "If-Modified-Since": "Tue, 02 Jan 2024 00:00:00 GMT" }).r.status).toBe(304);
      expect(get("/style.css", { "If-Modified-Since": "Sun, 31 Dec 2023 23:59:59 GMT" }).r.status).toBe(200);
      expect(get("/style.css", { "If-Modified-Since": "garbage" }).r.status).toBe(200);
      expect(get("/style.css", { "If-None-Match": '"nope"', "If-Modified-Since": "Tue, 02 Jan 2024 00:00:00 GMT" }).r.status).toBe(200);
    });

    it("a changed file gets a new ETag", () => {
      const s = fileServer();
      const peer = s.open();
      peer.send(request("GET", "/style.css"));
      const before = peer.response().headers.etag;
      s.files.setFile("/www/style.css", "body{color:red}", Date.UTC(2024, 5, 1));
      peer.clear();
      peer.send(request("GET", "/style.css", { "If-None-Match": before! }));
      expect(peer.response().status).toBe(200);
    });
  });

  describe("ranges", () => {
    it.each([
      ["bytes=0-9", 0, 9],
      ["bytes=100-", 100, BIG.length - 1],
      ["bytes=-5", BIG.length - 5, BIG.length - 1],
      ["bytes=10-99999999", 10, BIG.length - 1],
      ["bytes=70000-140000", 70000, 140000],
    ])("%s → 206 with Content-Range", (range, start, end) => {
      const { r } = get("/blob.bin", { Range: range });
      expect(r.status).toBe(206);
      expect(r.headers["content-range"]).toBe(`bytes ${start}-${end}/${BIG.length}`);
      expect(r.body.equals(BIG.subarray(start, end + 1))).toBe(true);
    });

    it("416 with Content-Range: bytes */size when no byte of the range exists", () => {
      for (const range of [`bytes=${BIG.length}-`, "bytes=-0"]) {
        const { r } = get("/blob.bin", { Range: range });
        expect([r.status, r.headers["content-range"]], range).toEqual([416, `bytes */${BIG.length}`]);
      }
    });

    it("ignores ranges it does not serve (several, other units, nonsense): 200 with everything", () => {
      for (const range of ["bytes=0-1,5-6", "items=0-1", "bytes=5-1", "bytes"]) {
        expect(get("/noext", { Range: range }).r.status, range).toBe(200);
      }
    });

    it("honours If-Range only when it names the current file", () => {
      const tag = get("/noext").r.headers.etag!;
      expect(get("/noext", { Range: "bytes=0-1", "If-Range": tag }).r.status).toBe(206);
      expect(get("/noext", { Range: "bytes=0-1", "If-Range": '"old"' }).r.status).toBe(200);
      expect(get("/noext", { Range: "bytes=0-1", "If-Range": "Mon, 01 Jan 2024 00:00:00 GMT" }).r.status).toBe(206);
      expect(get("/noext", { Range: "bytes=0-1", "If-Range": "Tue, 02 Jan 2024 00:00:00 GMT" }).r.status).toBe(200);
    });

    it("HEAD with a Range: 206 head with the range's length, no body", () => {
      const { r } = get("/blob.bin", { Range: "bytes=0-9" }, "HEAD");
      expect([r.status, r.headers["content-length"], r.body.length]).toEqual([206, "10", 0]);
    });
  });

  it.each([
    [{}, "no-store"],
    [{ cacheMaxAge: 60 }, "no-store"],
    [{ cacheMaxAge: 60, cacheReusable: true }, "private, max-age=60"],
    [{ cacheMaxAge: 60, cacheReusable: true, cacheIntermediaries: true }, "public, max-age=60"],
    [{ cacheMaxAge: 60, cacheReusable: true, cacheRevalidate: true }, "must-revalidate, private, max-age=60"],
  ])("cache-control from %j: %s", (options, expected) => {
    expect(get("/style.css", {}, "GET", options).r.headers["cache-control"]).toBe(expected);
  });

  describe("precompressed files", () => {
    it("serves name.gz with Content-Encoding: gzip and Vary when the client accepts gzip; its own ETag", () => {
      const plain = get("/big.txt", {}, "GET", { precompressed: true }).r;
      const { r } = get("/big.txt", { "Accept-Encoding": "br, gzip;q=0.8" }, "GET", { precompressed: true });
      expect([r.status, r.headers["content-encoding"], r.headers["content-type"], r.headers.vary, r.body.toString()]).toEqual([
        200,
        "gzip",
        "text/plain; charset=utf-8",
        "Accept-Encoding",
        "GZIPPED",
      ]);
      expect(plain.headers.vary).toBe("Accept-Encoding");
      expect(plain.body.length).toBe(1000);
      expect(r.headers.etag).not.toBe(plain.headers.etag);
    });

    it("serves the plain file when gzip is refused (q=0) or not mentioned, or the mount does not enable it", () => {
      expect(get("/big.txt", { "Accept-Encoding": "gzip;q=0" }, "GET", { precompressed: true }).r.headers["content-encoding"]).toBeUndefined();
      expect(get("/big.txt", { "Accept-Encoding": "br" }, "GET", { precompressed: true }).r.headers["content-encoding"]).toBeUndefined();
      expect(get("/big.txt", { "Accept-Encoding": "*" }, "GET", { precompressed: true }).r.headers["content-encoding"]).toBe("gzip");
      const off = get("/big.txt", { "Accept-Encoding": "gzip" }).r;
      expect([off.headers["content-encoding"], off.headers.vary]).toEqual([undefined, undefined]);
    });
  });

  describe("no way out of the root", () => {
    it.each([
      ["/../secret/passwd", 403],
      ["/%2e%2e/secret/passwd", 403],
      ["/docs/%2E%2e/%2e%2e/secret/passwd", 403],
      ["/..%2fsecret%2fpasswd", 403],
      ["/..%5csecret%5cpasswd", 403],
      ["/index.html%00.txt", 403],
      ["/docs/./guide.txt", 403],
    ])("%s → %i, at every split point", (target, status) => {
      const bytes = request("GET", target);
      for (const { label, chunks } of splitPoints(bytes)) {
        const s = fileServer();
        const peer = s.open();
        peer.send(...chunks);
        const r = peer.response();
        expect(r.status, label).toBe(status);
        expect(r.body.toString(), label).not.toContain("root:x");
        expect(s.files.openFiles, label).toBe(0);
      }
    });

    it("refuses (404) a symlink that leaves the root, and one inside a directory symlink that does; serves one that stays inside", () => {
      const s = fileServer();
      s.files.symlink("/www/passwd", "/secret/passwd");
      s.files.symlink("/www/outside", "../secret");
      s.files.symlink("/www/alias.css", "style.css");
      s.files.symlink("/www/docs2", "docs");
      const peer = s.open();
      for (const target of ["/passwd", "/outside/passwd"]) {
        peer.clear();
        peer.send(request("GET", target));
        const r = peer.response();
        expect(r.status, target).toBe(404);
        expect(r.body.toString()).not.toContain("root:x");
      }
      peer.clear();
      peer.send(request("GET", "/alias.css"));
      expect(peer.response().body.toString()).toBe("body{}");
      peer.clear();
      peer.send(request("GET", "/docs2/guide.txt"));
      expect(peer.response().body.toString()).toBe("read me");
    });

    it("does not serve a .gz variant that is a symlink out of the root", () => {
      const s = httpServer({ files: { "/www/a.txt": "plain", "/secret/x.gz": "SECRET" }, vhost: { mounts: [{ mountpoint: "/", kind: "file", origin: "/www", precompressed: true }] } });
      s.files.symlink("/www/a.txt.gz", "/secret/x.gz");
      const peer = s.open();
      peer.send(request("GET", "/a.txt", { "Accept-Encoding": "gzip" }));
      expect(peer.response().body.toString()).toBe("plain");
    });
  });

  it("a context with a FILE mount needs file operations: a usage error says so", async () => {
    const { ManualDriver } = await import("../../src/loops/manual/index.js");
    const driver = new ManualDriver();
    expect(() =>
      driver.createContext({ vhosts: [{ protocols: [recording("p").protocol], mounts: [{ mountpoint: "/", kind: "file", origin: "/x" }] }] }),
    ).toThrow(/has a FILE mount but the context has no fileOps/);
    expect(() => driver.createContext({ vhosts: [{ protocols: [recording("p").protocol], mounts: [{ mountpoint: "x", kind: "file", origin: "/x" }] }], fileOps: new MemoryFileOps() })).toThrow(
      /starts with "\/"/,
    );
    expect(() => driver.createContext({ vhosts: [{ protocols: [recording("p").protocol], mounts: [{ mountpoint: "/x", kind: "callback", origin: "nope" }] }] })).toThrow(
      /names protocol "nope"/,
    );
  });
});

describe("CALLBACK mounts", () => {
  function withApi() {
    const api = recording("api", {
      HTTP: (e) => e.connection.respond(200, {}, `api ${e.path} mount=${e.mountpoint} data=${String(e.connection.userData)}`),
    }, { createUserData: () => ++made });
    let made = 0;
    const s = httpServer({
      files: site,
      protocols: [api.protocol],
      handlers: { HTTP: (e) => e.connection.respond(200, {}, `default ${e.path}`) },
      vhost: {
        mounts: [
          { mountpoint: "/", kind: "file", origin: "/www" },
          { mountpoint: "/api", kind: "callback", origin: "api" },
          { mountpoint: "/api/v2", kind: "callback", origin: "api" },
          { mountpoint: "/other", kind: "callback", origin: "http" },
        ],
      },
    });
    return { s, api };
  }

  it("binds the connection to the mount's protocol: HTTP_BIND_PROTOCOL, FILTER_HTTP_CONNECTION, HTTP there, with fresh user data", () => {
    const { s, api } = withApi();
    const peer = s.open();
    peer.send(request("POST", "/api/items?x", { "Content-Length": "0" }));
    expect(peer.response("POST").body.toString()).toBe("api /api/items mount=/api data=1");
    expect(api.take()).toEqual(["PROTOCOL_INIT", "HTTP_BIND_PROTOCOL", "FILTER_HTTP_CONNECTION", "HTTP"]);
  });

  it("keeps the binding while requests stay with that protocol, drops it (HTTP_DROP_PROTOCOL) when one goes elsewhere, and at the close", () => {
    const { s, api } = withApi();
    const peer = s.open();
    peer.send(request("GET", "/api/a"), request("GET", "/api/v2/b"), request("GET", "/index.html"), request("GET", "/api/c"));
    expect(peer.responses(["GET", "GET", "GET", "GET"]).map((r) => r.body.toString())).toEqual([
      "api /api/a mount=/api data=1",
      "api /api/v2/b mount=/api/v2 data=1",
      "<h1>home</h1>",
      "api /api/c mount=/api data=2",
    ]);
    expect(api.take()).toEqual([
      "PROTOCOL_INIT",
      "HTTP_BIND_PROTOCOL", "FILTER_HTTP_CONNECTION", "HTTP",
      "FILTER_HTTP_CONNECTION", "HTTP",
      "HTTP_DROP_PROTOCOL",
      "HTTP_BIND_PROTOCOL", "FILTER_HTTP_CONNECTION", "HTTP",
    ]);
    peer.end();
    expect(api.take()).toEqual(["CLOSED_HTTP", "HTTP_DROP_PROTOCOL"]);
  });

  it("a CALLBACK mount may name the vhost's first protocol; the longest mountpoint wins over the FILE mount at /", () => {
    const { s } = withApi();
    const peer = s.open();
    peer.send(request("GET", "/other/x"), request("GET", "/otherwise"));
    expect(peer.responses(["GET", "GET"]).map((r) => [r.status, r.body.toString().slice(0, 20)])).toEqual([
      [200, "default /other/x"],
      [404, "<!doctype html><html"],
    ]);
  });
});

describe("redirect mounts", () => {
  function redirecting() {
    return httpServer({
      vhost: {
        mounts: [
          { mountpoint: "/old", kind: "redirect-https", origin: "example.com/new" },
          { mountpoint: "/go", kind: "redirect-http", origin: "other.test/", status: 301 },
        ],
      },
    });
  }

  it("REDIR_HTTPS: 302 (lws's default) to https://origin plus the rest of the path and the query", () => {
    const peer = redirecting().open();
    peer.send(request("GET", "/old/a%20b?q=1"));
    const r = peer.response();
    expect([r.status, r.headers.location]).toEqual([302, "https://example.com/new/a%20b?q=1"]);
  });

  it("REDIR_HTTP with a chosen status", () => {
    const peer = redirecting().open();
    peer.send(request("GET", "/go/x"), request("GET", "/go"));
    expect(peer.responses(["GET", "GET"]).map((r) => [r.status, r.headers.location])).toEqual([
      [301, "http://other.test/x"],
      [301, "http://other.test/"],
    ]);
  });
});

// Keep the import of CallbackEvent used for type-checking the handlers above.
export type _Events = CallbackEvent;
void defineProtocol;
