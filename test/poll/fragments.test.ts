import { describe, expect, it } from "vitest";
import { POLLIN, POLLOUT } from "../../src/poll/index.js";
import { Outbox, establishedPair, mode, type PairOptions } from "./harness.js";

const IN = POLLIN;
const INOUT = POLLIN | POLLOUT;

function pairWith(options: PairOptions = {}) {
  const serverOut = new Outbox();
  const clientOut = new Outbox();
  const pair = establishedPair({
    ...options,
    serverHandlers: { SERVER_WRITEABLE: serverOut.onWriteable },
    clientHandlers: { CLIENT_WRITEABLE: clientOut.onWriteable },
  });
  return { ...pair, serverOut, clientOut };
}

describe("fragmented send", () => {
  it("sends a message as frames with fin=false then continuations, which a whole-message protocol receives as one message", () => {
    const t = pairWith();
    t.clientOut.send(t.clientConn, "Hel", "text", false);
    t.clientOut.send(t.clientConn, "lo", "continuation", false);
    t.clientOut.send(t.clientConn, ", world", "continuation", true);
    t.driver.run();
    expect(t.clientProto.take()).toEqual(["CLIENT_WRITEABLE", "CLIENT_WRITEABLE", "CLIENT_WRITEABLE"]);
    expect(t.serverProto.take()).toEqual(['RECEIVE text "Hello, world" first final']);
    t.expectClientHooks([mode(4, INOUT, IN), mode(4, IN, INOUT)]);
    t.expectServerHooks([]);
  });

  it("delivers each fragment to a fragment-delivery protocol with first / final / binary", () => {
    const t = pairWith({ serverProtocol: { delivery: "fragment" } });
    t.clientOut.send(t.clientConn, Buffer.from([1, 2, 3]), "binary", false);
    t.clientOut.send(t.clientConn, Buffer.from([4, 5]), "continuation", false);
    t.clientOut.send(t.clientConn, Buffer.from([6]), "continuation", true);
    t.clientOut.send(t.clientConn, "one", "text", false);
    t.clientOut.send(t.clientConn, "", "continuation", true);
    t.driver.run();
    expect(t.serverProto.take()).toEqual([
      "RECEIVE binary[3] first",
      "RECEIVE binary[2]",
      "RECEIVE binary[1] final",
      'RECEIVE text "one" first',
      // An empty final frame still tells the protocol that the message ended.
      'RECEIVE text "" final',
    ]);
  });

  it("tells how much of the current frame is still to come when a frame arrives in pieces", () => {
    // 4-byte reads: the server's unmasked 2-byte header plus 10 bytes of payload come in three.
    const t = pairWith({ clientProtocol: { delivery: "fragment" }, pipe: { chunkSize: 4 } });
    t.serverOut.send(t.serverConn, Buffer.alloc(10, 7), "binary");
    t.driver.run();
    expect(t.clientProto.take()).toEqual([
      "CLIENT_RECEIVE binary[2] first remaining=8",
      "CLIENT_RECEIVE binary[4] remaining=4",
      "CLIENT_RECEIVE binary[4] final",
    ]);
  });

  it("answers a ping that arrives between the fragments of a message and still assembles the message", () => {
    const t = pairWith();
    t.clientOut.send(t.clientConn, "a", "text", false);
    t.clientOut.send(t.clientConn, "p", "ping");
    t.clientOut.send(t.clientConn, "b", "continuation", true);
    t.driver.run();
    expect(t.serverProto.take()).toEqual(['RECEIVE text "ab" first final']);
    expect(t.clientProto.take().filter((l) => !l.endsWith("WRITEABLE"))).toEqual(['CLIENT_RECEIVE_PONG "p"']);
  });

  it("refuses a continuation without an open message and a new message inside an open one, as usage errors", () => {
    const t = pairWith();
    const errors: string[] = [];
    let step = 0;
    t.clientProto.handlers.CLIENT_WRITEABLE = (e) => {
      try {
        if (step++ === 0) e.connection.write("x", "continuation");
        else e.connection.write("y", "text");
      } catch (error) {
        errors.push((error as { code: string }).code);
      }
    };
    t.clientConn.requestWriteable();
    t.driver.run();
    expect(errors).toEqual(["INVALID_STATE"]);
    expect(t.clientConn.state).toBe("established");
  });
});

describe("tx packet size", () => {
  it("splits an outgoing message into frames of at most txPacketSize bytes, received as one message", () => {
    const t = pairWith({ serverProtocol: { txPacketSize: 100 }, clientProtocol: { delivery: "fragment" } });
    t.serverOut.send(t.serverConn, Buffer.alloc(250, 1));
    t.driver.run();
    expect(t.clientProto.take()).toEqual(["CLIENT_RECEIVE binary[100] first", "CLIENT_RECEIVE binary[100]", "CLIENT_RECEIVE binary[50] final"]);
    expect(t.serverProto.take()).toEqual(["SERVER_WRITEABLE"]);
  });
});

describe("message size limits", () => {
  it("closes with 1009 and tells the protocol RECEIVE_TOO_LARGE when a message is over its limit", () => {
    const t = pairWith({ serverProtocol: { maxMessageSize: 8 } });
    t.clientOut.send(t.clientConn, "0123", "text", false);
    t.clientOut.send(t.clientConn, "456789", "continuation", true);
    t.driver.run();
    const server = t.serverProto.take();
    expect(server[0]).toMatch(/^RECEIVE_TOO_LARGE message \d+\/8$/);
    expect(server.slice(1)).toEqual([expect.stringMatching(/^CLOSED 1009 ".*" unclean$/)]);
    expect(t.clientProto.take().filter((l) => !l.endsWith("WRITEABLE"))).toEqual([
      expect.stringMatching(/^WS_PEER_INITIATED_CLOSE 1009 /),
      expect.stringMatching(/^CLIENT_CLOSED 1009 ".*" clean$/),
    ]);
  });

  it("closes with 1009 when one frame is over maxFrameSize", () => {
    const t = pairWith({ serverProtocol: { maxFrameSize: 16 } });
    t.clientOut.send(t.clientConn, "x".repeat(17));
    t.driver.run();
    expect(t.serverProto.take()).toEqual([expect.stringMatching(/^RECEIVE_TOO_LARGE frame \d+\/16$/), expect.stringMatching(/^CLOSED 1009 /)]);
  });

  // Bug in src/core/ws-session.ts (not ours to edit): onProtocolError takes the size from
  // this.frame, but the parser refuses an oversized frame before onFrameHeader, so the
  // size is 0 (or the previous frame's length). Remove `.fails` once core is fixed.
  it("tells RECEIVE_TOO_LARGE the declared size of the oversized frame", () => {
    const t = pairWith({ serverProtocol: { maxFrameSize: 16 } });
    t.clientOut.send(t.clientConn, "x".repeat(17));
    t.driver.run();
    expect(t.serverProto.take()[0]).toBe("RECEIVE_TOO_LARGE frame 17/16");
  });
});
