/**
 * The HTTP/1.1 server role through the manual driver: requests that are not upgrades
 * become transactions on the vhost's first protocol, answered in request order, kept
 * alive between requests.
 */
import { describe, expect, it } from "vitest";
import { splitPoints } from "../helpers/splits.js";
import { httpServer } from "./harness.js";
import { request } from "./wire.js";

const hello = { HTTP: (e: { connection: { respond(s: number, h: Record<string, string>, b: string): void }; path: string }) => e.connection.respond(200, { "Content-Type": "text/plain" }, `hello ${e.path}`) };

describe("a request the protocol answers", () => {
  it("delivers FILTER_HTTP_CONNECTION then HTTP with method, decoded path, query, version and headers", () => {
    const seen: unknown[] = [];
    const s = httpServer({
      handlers: {
        FILTER_HTTP_CONNECTION: (e) => void seen.push(["filter", e.method, e.path]),
        HTTP: (e) => {
          seen.push([e.method, e.path, e.query, e.version, e.headers.get("x-thing"), e.mountpoint, e.connection.state]);
          e.connection.respond(200, { "Content-Type": "text/plain" }, "ok");
        },
      },
    });
    const peer = s.open();
    peer.send(request("GET", "/a%20b/c?x=1&y=%20", { "X-Thing": "yes" }));
    expect(seen).toEqual([
      ["filter", "GET", "/a b/c"],
      ["GET", "/a b/c", "x=1&y=%20", "1.1", "yes", null, "http"],
    ]);
    const r = peer.response();
    expect([r.status, r.reason, r.headers["content-type"], r.headers["content-length"], r.body.toString()]).toEqual([200, "OK", "text/plain", "2", "ok"]);
    expect(s.proto.take()).toEqual(["FILTER_NETWORK_CONNECTION", "FILTER_HTTP_CONNECTION", "HTTP"]);
  });

  it("keeps the connection alive: a second request on it is answered too, and CLOSED_HTTP comes once, at the end", () => {
    const s = httpServer({ handlers: hello });
    const peer = s.open();
    peer.send(request("GET", "/one"));
    peer.send(request("GET", "/two"));
    expect(peer.responses(["GET", "GET"]).map((r) => r.body.toString())).toEqual(["hello /one", "hello /two"]);
    expect(peer.sawEnd).toBe(false);
    peer.end();
    expect(peer.sawEnd).toBe(true);
    expect(s.proto.take().filter((l) => l === "CLOSED_HTTP")).toEqual(["CLOSED_HTTP"]);
    expect(s.context.connectionCount).toBe(0);
  });

  it("answers pipelined requests in order, reading the next only once the current response is out", () => {
    const order: string[] = [];
    const s = httpServer({
      handlers: {
        HTTP: (e) => {
          order.push(`HTTP ${e.path}`);
          // Answer later, from HTTP_WRITEABLE: the next request must wait for it.
          e.connection.requestWriteable();
        },
        HTTP_WRITEABLE: (e) => {
          const path = e.connection.httpRequest!.path;
          order.push(`WRITEABLE ${path}`);
          e.connection.respond(200, {}, path);
        },
      },
    });
    const peer = s.open();
    peer.send(Buffer.concat([request("GET", "/1"), request("HEAD", "/2"), request("GET", "/3")]));
    const rs = peer.responses(["GET", "HEAD", "GET"]);
    expect(rs.map((r) => [r.status, r.body.toString()])).toEqual([[200, "/1"], [200, ""], [200, "/3"]]);
    expect(rs[1]!.headers["content-length"]).toBe("2");
    expect(order).toEqual(["HTTP /1", "WRITEABLE /1", "HTTP /2", "WRITEABLE /2", "HTTP /3", "WRITEABLE /3"]);
  });

  it("holds a pipelined request while the response waits: the connection stops polling for input", () => {
    let later: (() => void) | null = null;
    const s = httpServer({ handlers: { HTTP: (e) => void (later = () => e.connection.respond(200, {}, "x")) } });
    const peer = s.open();
    // nothing takes the first request up yet, so mark it taken: ask for a WRITEABLE that writes nothing
    s.proto.handlers.HTTP = (e) => {
      e.connection.requestWriteable();
      later = () => e.connection.respond(200, {}, e.path);
    };
    peer.send(Buffer.concat([request("GET", "/a"), request("GET", "/b")]));
    expect(s.proto.take().filter((l) => l === "HTTP")).toHaveLength(1);
    const conn = [...s.context.connections][0]!;
    expect(conn.events & 1).toBe(0); // POLLIN off: the second request waits in our buffer
    later!();
    s.driver.run();
    expect(s.proto.take().filter((l) => l === "HTTP")).toHaveLength(1);
    later!();
    expect(peer.responses(["GET", "GET"]).map((r) => r.body.toString())).toEqual(["/a", "/b"]);
  });

  it("HTTP/1.0: closes after the response unless keep-alive was asked for, and says keep-alive when it was", () => {
    const s = httpServer({ handlers: hello });
    const once = s.open();
    once.send(request("GET", "/x", {}, "", "1.0"));
    expect(once.response().headers.connection).toBe("close");
    expect(once.sawEnd).toBe(true);
    const kept = s.open();
    kept.send(request("GET", "/x", { Connection: "keep-alive" }, "", "1.0"));
    expect(kept.response().headers.connection).toBe("keep-alive");
    expect(kept.sawEnd).toBe(false);
  });

  it("Connection: close from the client closes after the response", () => {
    const s = httpServer({ handlers: hello });
    const peer = s.open();
    peer.send(request("GET", "/x", { Connection: "close" }));
    expect(peer.response().headers.connection).toBe("close");
    expect(peer.sawEnd).toBe(true);
  });

  it("a client that ends its side after the request still gets its answer, then the end", () => {
    const s = httpServer({ handlers: { HTTP: (e) => void e.connection.requestWriteable(), HTTP_WRITEABLE: (e) => e.connection.respond(200, {}, "late") } });
    const peer = s.open();
    peer.transport.write([request("GET", "/x")]);
    peer.transport.end();
    expect(peer.response().body.toString()).toBe("late");
    expect(peer.sawEnd).toBe(true);
  });

  it("gives the same callbacks (HTTP_BODY aside) and responses however the requests are split", () => {
    const bytes = Buffer.concat([request("GET", "/one?q"), request("POST", "/two", { "Content-Length": "5" }, "abcde"), request("GET", "/three")]);
    let reference: unknown = null;
    for (const { label, chunks } of splitPoints(bytes)) {
      const bodies: string[] = [];
      const s = httpServer({
        handlers: {
          HTTP: (e) => {
            if (e.method === "GET") e.connection.respond(200, {}, e.path);
          },
          HTTP_BODY: (e) => void bodies.push(e.data.toString()),
          HTTP_BODY_COMPLETION: (e) => e.connection.respond(201, {}, bodies.join("")),
        },
      });
      const peer = s.open();
      peer.send(...chunks);
      // HTTP_BODY comes once per piece that arrived: how many depends on the split.
      const got = { log: s.proto.take().filter((l) => l !== "HTTP_BODY"), responses: peer.responses(["GET", "POST", "GET"]).map((r) => [r.status, r.body.toString()]) };
      expect(got.responses, label).toEqual([[200, "/one"], [201, "abcde"], [200, "/three"]]);
      reference ??= got.log;
      expect(got.log, label).toEqual(reference);
    }
  });
});

describe("a request nobody answers", () => {
  it("is answered 404 with a short HTML page (no mount, no HTTP handler), and the connection stays usable", () => {
    const s = httpServer();
    const peer = s.open();
    peer.send(request("GET", "/nothing"));
    const r = peer.response();
    expect(r.status).toBe(404);
    expect(r.headers["content-type"]).toBe("text/html; charset=utf-8");
    expect(r.body.toString()).toContain("<title>404 Not Found</title>");
    expect(r.body.toString()).not.toContain("error.css");
    expect(peer.sawEnd).toBe(false);
    peer.send(request("GET", "/again"));
    expect(peer.responses(["GET", "GET"])).toHaveLength(2);
  });

  it("is not answered 404 when the protocol asked for HTTP_WRITEABLE, even if that WRITEABLE wrote nothing yet", () => {
    let ready = false;
    const s = httpServer({
      handlers: {
        HTTP: (e) => void e.connection.requestWriteable(),
        HTTP_WRITEABLE: (e) => {
          if (ready) e.connection.respond(200, {}, "at last");
        },
      },
    });
    const peer = s.open();
    peer.send(request("GET", "/slow"));
    expect(peer.bytes().length).toBe(0);
    ready = true;
    [...s.context.connections][0]!.requestWriteable();
    expect(peer.response().body.toString()).toBe("at last");
  });

  it("FILTER_HTTP_CONNECTION returning non-zero refuses with 403 and HTTP never comes", () => {
    const s = httpServer({ handlers: { FILTER_HTTP_CONNECTION: () => -1, HTTP: () => { throw new Error("not here"); } } });
    const peer = s.open();
    peer.send(request("GET", "/secret"));
    expect(peer.response().status).toBe(403);
    expect(s.proto.take()).toEqual(["FILTER_NETWORK_CONNECTION", "FILTER_HTTP_CONNECTION"]);
    expect(peer.sawEnd).toBe(false);
  });

  it("an HTTP callback returning non-zero closes the connection (lws's -1) and CLOSED_HTTP follows", () => {
    const s = httpServer({ handlers: { HTTP: () => -1 } });
    const peer = s.open();
    peer.send(request("GET", "/x"));
    expect(peer.sawEnd).toBe(true);
    expect(s.proto.take()).toEqual(["FILTER_NETWORK_CONNECTION", "FILTER_HTTP_CONNECTION", "HTTP", "CLOSED_HTTP"]);
  });

  it("an HTTP callback that throws closes the connection and is logged; others are served", () => {
    const s = httpServer({ handlers: { HTTP: (e) => { if (e.path === "/boom") throw new Error("boom"); e.connection.respond(200, {}, "fine"); } } });
    const bad = s.open();
    const good = s.open();
    bad.send(request("GET", "/boom"));
    good.send(request("GET", "/ok"));
    expect(bad.sawEnd).toBe(true);
    expect(good.response().body.toString()).toBe("fine");
    expect(s.logs.some((l) => l.level === "err" && /threw on HTTP/.test(l.message))).toBe(true);
  });

  it("OPTIONS * is answered 204 with Allow", () => {
    const s = httpServer();
    const peer = s.open();
    peer.send(request("OPTIONS", "*"));
    const r = peer.response("OPTIONS");
    expect([r.status, r.headers.allow]).toEqual([204, "GET, HEAD, POST, PUT, DELETE, OPTIONS"]);
  });
});

describe("keep-alive", () => {
  it("closes an idle kept-alive connection after keepAliveMs (default 5 s), counted from the end of the response", () => {
    const s = httpServer({ handlers: hello });
    const peer = s.open();
    s.driver.advance(1_000);
    peer.send(request("GET", "/x"));
    peer.responses();
    s.driver.advance(4_999);
    expect(peer.sawEnd).toBe(false);
    s.driver.advance(1);
    expect(peer.sawEnd).toBe(true);
    expect(s.proto.take().at(-1)).toBe("CLOSED_HTTP");
  });

  it("uses the vhost's keepAliveMs, and a new request's first byte stops the idle timer", () => {
    const s = httpServer({ handlers: hello, timeouts: { keepAliveMs: 100, requestMs: 1_000 } });
    const peer = s.open();
    peer.send(request("GET", "/x"));
    s.driver.advance(99);
    peer.send("GET /y HT");
    s.driver.advance(500);
    expect(peer.sawEnd).toBe(false);
    peer.send("TP/1.1\r\nHost: a\r\n\r\n");
    expect(peer.responses(["GET", "GET"])).toHaveLength(2);
    s.driver.advance(100);
    expect(peer.sawEnd).toBe(true);
  });
});
