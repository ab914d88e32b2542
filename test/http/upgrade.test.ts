/**
 * HTTP and WebSocket on the same connection: a request that asks for websocket leaves
 * the HTTP role for the handshake, also after HTTP transactions on the connection, and
 * a CALLBACK mount's binding is dropped first.
 */
import { describe, expect, it } from "vitest";
import { Opcode } from "../../src/core/index.js";
import { clientFrame, recording } from "../poll/harness.js";
import { httpServer } from "./harness.js";
import { request } from "./wire.js";

const upgrade = (path = "/", host = "example.test") =>
  `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

describe("upgrades on an HTTP connection", () => {
  it("upgrades after HTTP transactions, with frames pipelined behind the request delivered", () => {
    const s = httpServer({
      handlers: {
        HTTP: (e) => e.connection.respond(200, {}, "page"),
        RECEIVE: (e) => void e,
      },
    });
    const peer = s.open();
    peer.send(request("GET", "/index.html"));
    expect(peer.response().body.toString()).toBe("page");
    peer.clear();
    peer.send(Buffer.concat([Buffer.from(upgrade(), "latin1"), clientFrame(Opcode.TEXT, "hi")]));
    expect(peer.text()).toMatch(/^HTTP\/1\.1 101 Switching Protocols\r\n/);
    expect(s.proto.take()).toEqual([
      "FILTER_NETWORK_CONNECTION", "FILTER_HTTP_CONNECTION", "HTTP",
      "FILTER_PROTOCOL_CONNECTION", "ESTABLISHED", 'RECEIVE text "hi" first final',
    ]);
    const conn = [...s.context.connections][0]!;
    expect(conn.state).toBe("established");
    // It is a WebSocket now: the close is a WebSocket close, with CLOSED (not CLOSED_HTTP).
    peer.send(clientFrame(Opcode.CLOSE, Buffer.from([0x03, 0xe8])));
    expect(s.proto.take()).toEqual(['WS_PEER_INITIATED_CLOSE 1000 ""', 'CLOSED 1000 "" clean']);
  });

  it("an upgrade pipelined behind an HTTP request waits for its response", () => {
    const s = httpServer({ handlers: { HTTP: (e) => void e.connection.requestWriteable(), HTTP_WRITEABLE: (e) => e.connection.respond(200, {}, "first") } });
    const peer = s.open();
    peer.send(Buffer.concat([request("GET", "/"), Buffer.from(upgrade(), "latin1")]));
    const text = peer.text();
    expect(text.indexOf("first")).toBeLessThan(text.indexOf("101 Switching"));
    expect([...s.context.connections][0]!.state).toBe("established");
  });

  it("drops a CALLBACK mount's binding before the handshake binds the WebSocket protocol", () => {
    const api = recording("api", { HTTP: (e) => e.connection.respond(200, {}, "api") });
    const s = httpServer({ protocols: [api.protocol], vhost: { mounts: [{ mountpoint: "/api", kind: "callback", origin: "api" }] } });
    const peer = s.open();
    peer.send(request("GET", "/api/x"), upgrade("/chat"));
    expect(api.take()).toEqual(["PROTOCOL_INIT", "HTTP_BIND_PROTOCOL", "FILTER_HTTP_CONNECTION", "HTTP", "HTTP_DROP_PROTOCOL"]);
    expect(s.proto.take().slice(-2)).toEqual(["FILTER_PROTOCOL_CONNECTION", "ESTABLISHED"]);
  });

  it("refusals of upgrades stay as they were: plain text and close (here: a route that does not exist)", () => {
    const s = httpServer({ vhost: { routes: { "/ws": "http" } } });
    const peer = s.open();
    peer.send(upgrade("/elsewhere"));
    expect(peer.text()).toMatch(/^HTTP\/1\.1 404 Not Found\r\nContent-Type: text\/plain; charset=utf-8\r\n[^]*no WebSocket service at \/elsewhere\n$/);
    expect(peer.sawEnd).toBe(true);
  });

  it("a request with Upgrade: h2c (not websocket) is plain HTTP", () => {
    const s = httpServer({ handlers: { HTTP: (e) => e.connection.respond(200, {}, "plain") } });
    const peer = s.open();
    peer.send(request("GET", "/", { Upgrade: "h2c", Connection: "Upgrade" }));
    expect(peer.response().body.toString()).toBe("plain");
  });
});
