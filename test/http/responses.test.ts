/**
 * Writing responses: head by name with the library's framing, the body one piece per
 * HTTP_WRITEABLE under the write ladder (a partial write is finished before the next
 * WRITEABLE), chunked when no length is given, transactionCompleted() back to
 * keep-alive. Misuse throws a usage error at the call.
 */
import { describe, expect, it } from "vitest";
import { WsloopUsageError } from "../../src/core/index.js";
import type { Connection } from "../../src/poll/index.js";
import { httpServer } from "./harness.js";
import { request } from "./wire.js";

/** A protocol that answers with `pieces` of body, one per HTTP_WRITEABLE. */
function streaming(pieces: string[], length: "content-length" | "chunked") {
  const total = pieces.reduce((n, p) => n + Buffer.byteLength(p), 0);
  const queue = new Map<Connection, string[]>();
  return {
    HTTP: (e: { connection: Connection }) => {
      e.connection.writeHttpHead(200, { "Content-Type": "text/plain" }, length === "chunked" ? {} : { contentLength: total });
      queue.set(e.connection, [...pieces]);
      e.connection.requestWriteable();
    },
    HTTP_WRITEABLE: (e: { connection: Connection }) => {
      const q = queue.get(e.connection)!;
      const next = q.shift()!;
      e.connection.writeHttp(next, { final: q.length === 0 });
      if (q.length > 0) e.connection.requestWriteable();
      else e.connection.transactionCompleted();
    },
  };
}

describe("streamed responses", () => {
  it("with Content-Length: one piece per HTTP_WRITEABLE, then the next request", () => {
    const s = httpServer({ handlers: streaming(["ab", "cd", "ef"], "content-length") });
    const peer = s.open();
    peer.send(request("GET", "/1"), request("GET", "/2"));
    const rs = peer.responses(["GET", "GET"]);
    expect(rs.map((r) => [r.headers["content-length"], r.body.toString()])).toEqual([["6", "abcdef"], ["6", "abcdef"]]);
    expect(s.proto.log.filter((l) => l === "HTTP_WRITEABLE")).toHaveLength(6);
  });

  it("without a length: chunked, ended by the final write", () => {
    const s = httpServer({ handlers: streaming(["ab", "", "cd"], "chunked") });
    const peer = s.open();
    peer.send(request("GET", "/"));
    const r = peer.response();
    expect([r.headers["transfer-encoding"], r.body.toString()]).toEqual(["chunked", "abcd"]);
    expect(peer.text()).toMatch(/\r\n\r\n2\r\nab\r\n2\r\ncd\r\n0\r\n\r\n$/);
  });

  it("HTTP/1.0 without a length: the body runs to the close", () => {
    const s = httpServer({ handlers: streaming(["ab", "cd"], "chunked") });
    const peer = s.open();
    peer.send(request("GET", "/", {}, "", "1.0"));
    expect(peer.sawEnd).toBe(true);
    const r = peer.response();
    expect([r.headers["transfer-encoding"], r.headers.connection, r.body.toString()]).toEqual([undefined, "close", "abcd"]);
  });

  it("HEAD: the head of the GET (its Content-Length), no body, though the protocol writes one", () => {
    const s = httpServer({ handlers: streaming(["ab", "cd"], "content-length") });
    const peer = s.open();
    peer.send(request("HEAD", "/"), request("GET", "/"));
    const rs = peer.responses(["HEAD", "GET"]);
    expect(rs.map((r) => [r.headers["content-length"], r.body.toString()])).toEqual([["4", ""], ["4", "abcd"]]);
  });

  it("through a 7-byte pipe: every partial write is finished before the next HTTP_WRITEABLE, and the bytes arrive in order", () => {
    const pieces = Array.from({ length: 20 }, (_, i) => `piece-${i};`);
    const s = httpServer({ handlers: streaming(pieces, "chunked") });
    const peer = s.open({ capacity: 7 });
    peer.send(request("GET", "/"));
    const conn = [...s.context.connections][0]!;
    // The pipe is full with the head: its rest is buffered, no WRITEABLE until it is out.
    expect(conn.bufferedAmount).toBeGreaterThan(0);
    expect(s.proto.log.filter((l) => l === "HTTP_WRITEABLE")).toHaveLength(0);
    expect(peer.response().body.toString()).toBe(pieces.join(""));
    expect(s.proto.log.filter((l) => l === "HTTP_WRITEABLE")).toHaveLength(20);
  });

  it("transactionCompleted() ends a chunked body that was left open", () => {
    const s = httpServer({
      handlers: {
        HTTP: (e) => {
          e.connection.writeHttpHead(200, {});
          e.connection.requestWriteable();
        },
        HTTP_WRITEABLE: (e) => {
          e.connection.writeHttp("only");
          e.connection.transactionCompleted();
        },
      },
    });
    const peer = s.open();
    peer.send(request("GET", "/"), request("GET", "/"));
    expect(peer.responses(["GET", "GET"]).map((r) => r.body.toString())).toEqual(["only", "only"]);
  });

  it("closes the connection when a response is completed short of its Content-Length", () => {
    const s = httpServer({
      handlers: {
        HTTP: (e) => {
          e.connection.writeHttpHead(200, {}, { contentLength: 10 });
          e.connection.transactionCompleted();
        },
      },
    });
    const peer = s.open();
    peer.send(request("GET", "/"));
    expect(peer.sawEnd).toBe(true);
  });

  it("writes headers by name, arrays as repeated fields, numbers in decimal, and close: true says Connection: close", () => {
    const s = httpServer({ handlers: { HTTP: (e) => e.connection.writeHttpHead(204, { "Set-Cookie": ["a=1", "b=2"], "X-N": 7 }, { close: true }) } });
    const peer = s.open();
    peer.send(request("GET", "/"));
    // the protocol never completed: nothing more is read, but the head is out
    const r = peer.responses(["GET"])[0]!;
    expect(r.status).toBe(204);
    expect(r.head).toContain("Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-N: 7\r\nConnection: close");
  });
});

describe("misuse throws at the call", () => {
  function misuse(act: (c: Connection) => void): unknown {
    let thrown: unknown = null;
    const s = httpServer({
      handlers: {
        HTTP: (e) => {
          try {
            act(e.connection);
          } catch (error) {
            thrown = error;
          }
          if (e.connection.httpRequest) e.connection.respond(500, {}, "");
        },
      },
    });
    s.open().send(request("GET", "/"));
    return thrown;
  }

  it.each([
    ["writeHttp outside HTTP_WRITEABLE", (c: Connection) => c.writeHttp("x"), "WRITE_OUTSIDE_WRITEABLE"],
    ["a Content-Length header of one's own", (c: Connection) => c.writeHttpHead(200, { "Content-Length": "3" }), "INVALID_ARGUMENT"],
    ["a header value with a CR LF (response splitting)", (c: Connection) => c.writeHttpHead(200, { "X-A": "a\r\nSet-Cookie: evil" }), "INVALID_ARGUMENT"],
    ["a status below 200", (c: Connection) => c.writeHttpHead(101, {}), "INVALID_ARGUMENT"],
    ["respondError with a 2xx", (c: Connection) => c.respondError(200), "INVALID_ARGUMENT"],
    ["a redirect with a non-redirect status", (c: Connection) => c.redirect(200, "/x"), "INVALID_ARGUMENT"],
    ["a second head", (c: Connection) => { c.writeHttpHead(200, {}, { contentLength: 0 }); c.writeHttpHead(200, {}); }, "INVALID_STATE"],
  ])("%s", (_name, act, code) => {
    const error = misuse(act);
    expect(error).toBeInstanceOf(WsloopUsageError);
    expect((error as WsloopUsageError).code).toBe(code);
  });

  it("writing more than the Content-Length, a second write in one HTTP_WRITEABLE, and HTTP calls between requests", () => {
    const errors: string[] = [];
    let conn: Connection | null = null;
    const s = httpServer({
      handlers: {
        HTTP: (e) => {
          conn = e.connection;
          e.connection.writeHttpHead(200, {}, { contentLength: 2 });
          e.connection.requestWriteable();
        },
        HTTP_WRITEABLE: (e) => {
          for (const act of [() => e.connection.writeHttp("abc"), () => e.connection.writeHttp("ab"), () => e.connection.writeHttp("ab")]) {
            try {
              act();
            } catch (error) {
              errors.push((error as WsloopUsageError).code);
            }
          }
          e.connection.transactionCompleted();
        },
      },
    });
    const peer = s.open();
    peer.send(request("GET", "/"));
    expect(errors).toEqual(["INVALID_ARGUMENT", "SECOND_WRITE_IN_WRITEABLE"]);
    expect(peer.response().body.toString()).toBe("ab");
    expect(() => conn!.respond(200)).toThrow(/not serving an HTTP request/);
    expect(conn!.httpRequest).toBeNull();
  });
});

describe("error pages and redirects", () => {
  it("respondError links /error.css when a FILE mount serves it (lws's errstyle) and completes the transaction", () => {
    const s = httpServer({
      files: { "/www/error.css": "h1 { color: red }" },
      vhost: { mounts: [{ mountpoint: "/", kind: "file", origin: "/www" }, { mountpoint: "/api", kind: "callback", origin: "http" }] },
      handlers: { HTTP: (e) => e.connection.respondError(503, "come back later") },
    });
    const peer = s.open();
    peer.send(request("GET", "/api/x"), request("GET", "/api/y"));
    const rs = peer.responses(["GET", "GET"]);
    expect(rs.map((r) => r.status)).toEqual([503, 503]);
    expect(rs[0]!.body.toString()).toBe(
      '<!doctype html><html><head><meta charset="utf-8"><title>503 Service Unavailable</title><link rel="stylesheet" href="/error.css"></head>' +
        "<body><h1>503 Service Unavailable</h1><p>come back later</p></body></html>\n",
    );
  });

  it("errorDocument404 is served, with status 404, for every 404 when a FILE mount has it", () => {
    const s = httpServer({
      files: { "/www/404.html": "<p>lost</p>" },
      vhost: { errorDocument404: "/404.html", mounts: [{ mountpoint: "/", kind: "file", origin: "/www" }] },
    });
    const peer = s.open();
    peer.send(request("GET", "/missing.png"));
    const r = peer.response();
    expect([r.status, r.headers["content-type"], r.body.toString()]).toEqual([404, "text/html; charset=utf-8", "<p>lost</p>"]);
  });

  it("errorDocument404 that does not exist falls back to the generated page", () => {
    const s = httpServer({ files: { "/www/a": "a" }, vhost: { errorDocument404: "/404.html", mounts: [{ mountpoint: "/", kind: "file", origin: "/www" }] } });
    const peer = s.open();
    peer.send(request("GET", "/missing"));
    expect(peer.response().body.toString()).toContain("404 Not Found");
  });

  it("redirect() answers with Location and no body, and keeps the connection", () => {
    const s = httpServer({ handlers: { HTTP: (e) => e.connection.redirect(307, "/elsewhere?x=1") } });
    const peer = s.open();
    peer.send(request("POST", "/", { "Content-Length": "0" }));
    const r = peer.response("POST");
    expect([r.status, r.headers.location, r.headers["content-length"]]).toEqual([307, "/elsewhere?x=1", "0"]);
    expect(peer.sawEnd).toBe(false);
  });
});
