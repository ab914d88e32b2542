import { describe, expect, it } from "vitest";
import { Opcode } from "../../src/core/index.js";
import { POLLIN, POLLOUT } from "../../src/poll/index.js";
import { Outbox, adoptRaw, clientFrame, createPair, establishedPair, expectHooks, mode } from "./harness.js";

const IN = POLLIN;
const INOUT = POLLIN | POLLOUT;

function pingPair() {
  const serverOut = new Outbox();
  const clientOut = new Outbox();
  const pair = establishedPair({
    serverHandlers: { SERVER_WRITEABLE: serverOut.onWriteable },
    clientHandlers: { CLIENT_WRITEABLE: clientOut.onWriteable },
  });
  return { ...pair, serverOut, clientOut };
}

describe("ping / pong", () => {
  it("answers a client's ping with a pong carrying the same payload: CLIENT_RECEIVE_PONG", () => {
    const t = pingPair();
    t.clientOut.send(t.clientConn, "are you there", "ping");
    t.driver.step(); // the client writes its ping
    t.expectClientHooks([mode(4, INOUT, IN), mode(4, IN, INOUT)]);
    t.driver.step(); // the server reads it and owes a pong
    t.expectServerHooks([mode(4, INOUT, IN)]);
    t.driver.run();
    // The pong is a frame the library owes: the protocol is not asked to write it.
    expect(t.serverProto.take()).toEqual([]);
    t.expectServerHooks([mode(4, IN, INOUT)]);
    expect(t.clientProto.take()).toEqual(["CLIENT_WRITEABLE", 'CLIENT_RECEIVE_PONG "are you there"']);
    t.expectClientHooks([]);
  });

  it("answers a server's ping: RECEIVE_PONG on the server", () => {
    const t = pingPair();
    t.serverOut.send(t.serverConn, Buffer.from([0, 1, 2]), "ping");
    t.driver.run();
    expect(t.serverProto.take()).toEqual(["SERVER_WRITEABLE", 'RECEIVE_PONG "\\u0000\\u0001\\u0002"']);
    expect(t.clientProto.take()).toEqual([]);
    t.expectServerHooks([mode(4, INOUT, IN), mode(4, IN, INOUT)]);
    t.expectClientHooks([mode(4, INOUT, IN), mode(4, IN, INOUT)]);
  });

  it("answers every one of several pings that arrive before it can write, in order, in one write", () => {
    const pair = createPair();
    const { peer } = adoptRaw(pair.server);
    pair.driver.run();
    peer.sendUpgrade();
    pair.driver.run();
    peer.readAll();
    pair.serverHooks();
    pair.serverProto.takePoll();
    // Three pings in one read.
    peer.send(Buffer.concat([clientFrame(Opcode.PING, "1"), clientFrame(Opcode.PING, "2"), clientFrame(Opcode.PING, "3")]));
    pair.driver.run();
    const out = peer.readAll();
    expect([...out]).toEqual([0x8a, 1, "1".charCodeAt(0), 0x8a, 1, "2".charCodeAt(0), 0x8a, 1, "3".charCodeAt(0)]);
    expectHooks(pair.driver, pair.server, pair.serverProto, [mode(4, INOUT, IN), mode(4, IN, INOUT)]);
  });

  it("refuses a ping payload over 125 bytes as a usage error", () => {
    const t = pingPair();
    let code = "";
    t.clientProto.handlers.CLIENT_WRITEABLE = (e) => {
      try {
        e.connection.write(Buffer.alloc(126), "ping");
      } catch (error) {
        code = (error as { code: string }).code;
      }
    };
    t.clientConn.requestWriteable();
    t.driver.run();
    expect(code).toBe("INVALID_ARGUMENT");
  });
});
