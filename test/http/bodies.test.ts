/**
 * Request bodies: Content-Length and chunked, delivered as HTTP_BODY pieces (views of
 * what arrived, never gathered), then HTTP_BODY_COMPLETION; rx flow control holds the
 * rest back; Expect: 100-continue is answered when the protocol wants the body.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { chunkBySizes } from "../helpers/splits.js";
import { httpServer } from "./harness.js";
import { chunked, request } from "./wire.js";

function collecting() {
  const pieces: Buffer[] = [];
  const s = httpServer({
    handlers: {
      HTTP: () => {},
      HTTP_BODY: (e) => void pieces.push(Buffer.from(e.data)),
      HTTP_BODY_COMPLETION: (e) => e.connection.respond(200, {}, `got ${Buffer.concat(pieces).length}`),
    },
  });
  return { s, pieces };
}

describe("request bodies", () => {
  it("delivers a Content-Length body as it arrives, then HTTP_BODY_COMPLETION and the answer", () => {
    const { s, pieces } = collecting();
    const peer = s.open();
    peer.send(request("POST", "/up", { "Content-Length": "11" }, "hello"), " world");
    expect(pieces.map(String)).toEqual(["hello", " world"]);
    expect(s.proto.take()).toEqual(["FILTER_NETWORK_CONNECTION", "FILTER_HTTP_CONNECTION", "HTTP", "HTTP_BODY", "HTTP_BODY", "HTTP_BODY_COMPLETION"]);
    expect(peer.response("POST").body.toString()).toBe("got 11");
  });

  it("decodes a chunked body with extensions and trailers; the next request follows on the same connection", () => {
    const { s, pieces } = collecting();
    const peer = s.open();
    const body = Buffer.from("5;name=value\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-Checksum: 1\r\nX-More: 2\r\n\r\n");
    peer.send(Buffer.concat([request("POST", "/up", { "Transfer-Encoding": "chunked" }, body), request("POST", "/up", { "Content-Length": "1" }, "!")]));
    expect(Buffer.concat(pieces).toString()).toBe("hello world!");
    expect(peer.responses(["POST", "POST"]).map((r) => r.body.toString())).toEqual(["got 11", "got 12"]);
  });

  it("decodes any chunked body split anywhere (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 40 }), { maxLength: 6 }),
        fc.array(fc.integer({ min: 1, max: 17 }), { minLength: 1, maxLength: 8 }),
        (pieces, sizes) => {
          const { s, pieces: got } = collecting();
          const peer = s.open();
          const bytes = request("POST", "/", { "Transfer-Encoding": "chunked" }, chunked(pieces.map((p) => Buffer.from(p))));
          peer.send(...chunkBySizes(bytes, sizes));
          const expected = Buffer.concat(pieces.map((p) => Buffer.from(p)));
          expect(Buffer.concat(got)).toEqual(expected);
          expect(peer.response("POST").body.toString()).toBe(`got ${expected.length}`);
        },
      ),
      { numRuns: 150 },
    );
  });

  it("holds the body while rx is off from HTTP, and delivers it and the completion when rx is on again", () => {
    const pieces: string[] = [];
    const s = httpServer({
      handlers: {
        HTTP: (e) => e.connection.setRxFlowControl(false),
        HTTP_BODY: (e) => void pieces.push(e.data.toString()),
        HTTP_BODY_COMPLETION: (e) => e.connection.respond(200, {}, pieces.join("|")),
      },
    });
    const peer = s.open();
    peer.send(request("POST", "/", { "Content-Length": "8" }, "abcdefgh"));
    expect(pieces).toEqual([]);
    const conn = [...s.context.connections][0]!;
    expect(conn.events & 1).toBe(0); // not polled for input: TCP would push back
    conn.setRxFlowControl(true);
    s.driver.run();
    expect(peer.response("POST").body.toString()).toBe("abcdefgh");
  });

  it("stops between two pieces of one read when HTTP_BODY turns rx off, the completion included", () => {
    const pieces: string[] = [];
    const s = httpServer({
      handlers: {
        HTTP: () => {},
        HTTP_BODY: (e) => {
          pieces.push(e.data.toString());
          e.connection.setRxFlowControl(false);
        },
        HTTP_BODY_COMPLETION: (e) => e.connection.respond(200, {}, pieces.join("|")),
      },
    });
    const peer = s.open();
    peer.send(request("POST", "/", { "Transfer-Encoding": "chunked" }, chunked(["abcd", "efgh"])));
    expect(pieces).toEqual(["abcd"]);
    const conn = [...s.context.connections][0]!;
    conn.setRxFlowControl(true);
    s.driver.run();
    expect(pieces).toEqual(["abcd", "efgh"]);
    expect(s.proto.log.includes("HTTP_BODY_COMPLETION")).toBe(false);
    conn.setRxFlowControl(true);
    s.driver.run();
    expect(peer.response("POST").body.toString()).toBe("abcd|efgh");
  });

  it("answers 100 Continue to Expect: 100-continue once the protocol wants the body", () => {
    const { s } = collecting();
    const peer = s.open();
    peer.send(request("POST", "/", { "Content-Length": "3", Expect: "100-continue" }));
    expect(peer.text()).toBe("HTTP/1.1 100 Continue\r\n\r\n");
    peer.send("abc");
    const rs = peer.responses(["POST"]);
    expect(rs.map((r) => r.status)).toEqual([100, 200]);
  });

  it("sends no 100 Continue when the protocol answers at once: it refused the upload, and the connection closes after", () => {
    const s = httpServer({ handlers: { HTTP: (e) => e.connection.respondError(401, "log in first") } });
    const peer = s.open();
    peer.send(request("POST", "/", { "Content-Length": "3", Expect: "100-continue" }));
    const rs = peer.responses(["POST"]);
    expect(rs.map((r) => r.status)).toEqual([401]);
    expect(peer.sawEnd).toBe(true);
  });

  it("closes after a response given before the body was read to its end (its rest must not be read as a request)", () => {
    const s = httpServer({ handlers: { HTTP: (e) => e.connection.respond(200, {}, "early") } });
    const peer = s.open();
    peer.send(request("POST", "/", { "Content-Length": "100" }, "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"));
    expect(peer.responses(["POST"]).map((r) => r.body.toString())).toEqual(["early"]);
    expect(peer.sawEnd).toBe(true);
    expect(s.proto.take().filter((l) => l === "HTTP")).toHaveLength(1);
  });

  it("a request with a body nobody takes up is answered 404 once the body is in", () => {
    const s = httpServer();
    const peer = s.open();
    peer.send(request("PUT", "/x", { "Content-Length": "3" }, "abc"));
    expect(peer.response("PUT").status).toBe(404);
    expect(peer.sawEnd).toBe(false);
  });
});
