/**
 * Every way a request can be refused, each fed whole, byte by byte and split at every
 * point: the status, a short HTML page saying why, and (where the request cannot be
 * read on) the close. Memory stays bounded by the vhost's limits whatever the peer sends.
 */
import { describe, expect, it } from "vitest";
import { splitPoints } from "../helpers/splits.js";
import { httpServer } from "./harness.js";
import { chunked, request } from "./wire.js";

interface Case {
  name: string;
  bytes: Buffer;
  status: number;
  /** Text the page must contain (the reason). */
  says: RegExp;
  /** The connection is closed after the answer (the request could not be read to its end). */
  closes: boolean;
  /** The head was fine, so the protocol heard HTTP before the body went wrong. */
  heardHttp?: boolean;
}

const big = (n: number) => "a".repeat(n);

const cases: Case[] = [
  { name: "a malformed request line", bytes: Buffer.from("GET /\r\nHost: a\r\n\r\n"), status: 400, says: /no HTTP version/, closes: true },
  { name: "a header line without a colon", bytes: Buffer.from("GET / HTTP/1.1\r\nHost: a\r\nnonsense\r\n\r\n"), status: 400, says: /no colon/, closes: true },
  { name: "an obs-folded header", bytes: Buffer.from("GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n 2\r\n\r\n"), status: 400, says: /folding/, closes: true },
  { name: "both Content-Length and Transfer-Encoding", bytes: request("POST", "/", { "Content-Length": "3", "Transfer-Encoding": "chunked" }), status: 400, says: /both Content-Length and Transfer-Encoding/, closes: true },
  { name: "two different Content-Lengths", bytes: Buffer.from("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx"), status: 400, says: /differing Content-Length/, closes: true },
  { name: "HTTP/1.1 without Host", bytes: request("GET", "/", { Host: null }), status: 400, says: /missing Host/, closes: true },
  { name: "two Host headers", bytes: Buffer.from("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), status: 400, says: /2 Host headers/, closes: true },
  { name: "Transfer-Encoding in HTTP/1.0", bytes: request("POST", "/", { "Transfer-Encoding": "chunked" }, "", "1.0"), status: 400, says: /HTTP\/1.0/, closes: true },
  { name: "a bad chunk size", bytes: request("POST", "/", { "Transfer-Encoding": "chunked" }, "zz\r\n"), status: 400, says: /chunk size expected/, closes: true, heardHttp: true },
  { name: "a chunk-size line over 4096 bytes", bytes: request("POST", "/", { "Transfer-Encoding": "chunked" }, `5;${big(5000)}\r\n`), status: 400, says: /over 4096 bytes/, closes: true, heardHttp: true },
  { name: "chunk data longer than its size", bytes: request("POST", "/", { "Transfer-Encoding": "chunked" }, "2\r\nabc\r\n0\r\n\r\n"), status: 400, says: /longer than its size/, closes: true, heardHttp: true },
  { name: "a trailer section over 8192 bytes", bytes: request("POST", "/", { "Transfer-Encoding": "chunked" }, `0\r\nX: ${big(9000)}\r\n\r\n`), status: 431, says: /trailer section/, closes: true, heardHttp: true },
  { name: "a request-target over 8192 bytes", bytes: request("GET", `/${big(9000)}`), status: 414, says: /longer than 8192/, closes: true },
  { name: "a head over 16 KiB", bytes: request("GET", "/", { "X-Big": big(17000) }), status: 431, says: /over 16384 bytes/, closes: true },
  { name: "more than 100 header fields", bytes: Buffer.from(`GET / HTTP/1.1\r\nHost: a\r\n${Array.from({ length: 101 }, (_, i) => `X-${i}: 1\r\n`).join("")}\r\n`), status: 431, says: /more than 100 header fields/, closes: true },
  { name: "an unknown transfer coding", bytes: request("POST", "/", { "Transfer-Encoding": "gzip, chunked" }), status: 501, says: /&quot;gzip&quot; is not implemented/, closes: true },
  { name: "HTTP/2.0 in the request line", bytes: Buffer.from("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), status: 505, says: /only HTTP\/1\.x/, closes: true },
  { name: "a Content-Length over maxBodyBytes", bytes: request("POST", "/", { "Content-Length": String(16 * 1024 * 1024 + 1) }), status: 413, says: /over the limit/, closes: true },
  { name: "an unknown expectation", bytes: request("POST", "/", { Expect: "teapot", "Content-Length": "0" }), status: 417, says: /teapot/, closes: false },
  { name: "a dot segment", bytes: request("GET", "/a/../b"), status: 403, says: /dot segments/, closes: false },
  { name: "a percent-encoded dot segment", bytes: request("GET", "/a/%2e%2E/b"), status: 403, says: /dot segments/, closes: false },
  { name: "a percent-encoded slash", bytes: request("GET", "/a%2fb"), status: 403, says: /encoded slashes/, closes: false },
  { name: "a percent-encoded backslash", bytes: request("GET", "/a%5c..%5cb"), status: 403, says: /encoded slashes/, closes: false },
  { name: "a percent-encoded NUL", bytes: request("GET", "/a%00b"), status: 403, says: /NUL/, closes: false },
  { name: "malformed percent-encoding", bytes: request("GET", "/a%zz"), status: 400, says: /malformed percent-encoding/, closes: false },
  { name: "a path that is not UTF-8", bytes: request("GET", "/%ff"), status: 400, says: /not UTF-8/, closes: false },
];

describe("refused requests", () => {
  for (const c of cases) {
    it(`${c.name} → ${c.status}${c.closes ? " and close" : ", connection kept"}, at every split point`, () => {
      for (const { label, chunks } of splitPoints(c.bytes)) {
        const s = httpServer({ handlers: { HTTP: () => {} } });
        const peer = s.open({ capacity: 1 << 20 });
        peer.send(...chunks);
        const r = peer.response(c.bytes.toString("latin1").split(" ", 1)[0]);
        expect(r.status, label).toBe(c.status);
        expect(r.headers["content-type"], label).toBe("text/html; charset=utf-8");
        expect(r.body.toString(), label).toMatch(c.says);
        expect(peer.sawEnd, label).toBe(c.closes);
        if (c.closes) expect(r.headers.connection, label).toBe("close");
        expect(s.proto.log.includes("HTTP"), label).toBe(c.heardHttp ?? false);
      }
    });
  }

  it("escapes what the page repeats from the request", () => {
    const s = httpServer();
    const peer = s.open();
    peer.send(request("GET", "/%3Cscript%3E"));
    const page = peer.response().body.toString();
    expect(page).toContain("&lt;script&gt;");
    expect(page).not.toContain("<script>");
  });

  it("reads no more than the head budget and one chunk of an endless header before answering 431", () => {
    const s = httpServer();
    const peer = s.open({ capacity: 4096, chunkSize: 1024 });
    peer.send("GET / HTTP/1.1\r\nHost: a\r\nX-Endless: ");
    let sent = 0;
    while (!peer.drain().length && sent < 1_000_000) {
      const taken = peer.transport.write([Buffer.alloc(1024, 0x61)]);
      sent += taken;
      s.driver.run();
      if (taken === 0) break;
    }
    expect(peer.response().status).toBe(431);
    expect(sent).toBeLessThanOrEqual(16 * 1024 + 4096);
  });

  it("refuses a chunked body that grows over maxBodyBytes with 413, at the chunk that would cross it", () => {
    const bodies: number[] = [];
    const s = httpServer({ vhost: { maxBodyBytes: 10 }, handlers: { HTTP: () => {}, HTTP_BODY: (e) => void bodies.push(e.data.length) } });
    const peer = s.open();
    peer.send(request("POST", "/", { "Transfer-Encoding": "chunked" }, "6\r\nabcdef\r\n5\r\nghijk\r\n"));
    expect(peer.response("POST").status).toBe(413);
    expect(bodies).toEqual([6]);
    expect(peer.sawEnd).toBe(true);
    expect(s.proto.take().at(-1)).toBe("CLOSED_HTTP");
  });

  it("maxBodyBytes 0 means no limit", () => {
    let total = 0;
    const s = httpServer({
      vhost: { maxBodyBytes: 0 },
      handlers: { HTTP: () => {}, HTTP_BODY: (e) => void (total += e.data.length), HTTP_BODY_COMPLETION: (e) => e.connection.respond(200, {}, String(total)) },
    });
    const peer = s.open({ capacity: 1 << 20 });
    peer.send(request("POST", "/", { "Content-Length": String(17 * 1024 * 1024) }));
    const chunk = Buffer.alloc(1 << 20, 1);
    for (let i = 0; i < 17; i++) peer.send(chunk);
    expect(peer.response("POST").body.toString()).toBe(String(17 * 1024 * 1024));
  });
});

describe("408: a request too slow", () => {
  it("answers 408 and closes when the first request's head is not complete within requestMs of accept (default: the handshake timeout)", () => {
    const s = httpServer({ timeouts: { handshakeMs: 2_000 } });
    const peer = s.open();
    s.driver.advance(1_000);
    peer.send("GET / HTTP/1.1\r\nHo");
    s.driver.advance(999);
    expect(peer.bytes().length).toBe(0);
    s.driver.advance(1);
    const r = peer.response();
    expect([r.status, r.headers.connection]).toEqual([408, "close"]);
    expect(peer.sawEnd).toBe(true);
  });

  it("answers 408 when a body stalls, and the protocol hears CLOSED_HTTP", () => {
    const s = httpServer({ timeouts: { requestMs: 500 }, handlers: { HTTP: () => {} } });
    const peer = s.open();
    peer.send(request("POST", "/", { "Content-Length": "10" }, "12345"));
    s.driver.advance(500);
    expect(peer.response("POST").status).toBe(408);
    expect(peer.sawEnd).toBe(true);
    expect(s.proto.take()).toEqual(["FILTER_NETWORK_CONNECTION", "FILTER_HTTP_CONNECTION", "HTTP", "HTTP_BODY", "CLOSED_HTTP"]);
  });

  it("times a kept-alive connection's next request from its first byte, not from the previous response", () => {
    const s = httpServer({ timeouts: { requestMs: 500, keepAliveMs: 10_000 }, handlers: { HTTP: (e) => e.connection.respond(200, {}, "ok") } });
    const peer = s.open();
    peer.send(request("GET", "/1"));
    s.driver.advance(5_000);
    peer.send("GET /2 HTTP/1.1\r\n");
    s.driver.advance(499);
    expect(peer.responses(["GET"])).toHaveLength(1);
    s.driver.advance(1);
    expect(peer.responses(["GET", "GET"]).map((r) => r.status)).toEqual([200, 408]);
  });

  it("drops a connection that never sends a byte at requestMs, without an answer", () => {
    const s = httpServer();
    const peer = s.open();
    s.driver.advance(15_000);
    expect(peer.bytes().length).toBe(0);
    expect(peer.sawEnd).toBe(true);
    expect(s.logs.some((l) => /timed out: no complete upgrade request or HTTP request/.test(l.message))).toBe(true);
    expect(s.proto.take()).toEqual(["FILTER_NETWORK_CONNECTION"]);
  });
});
