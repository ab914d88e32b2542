import { describe, expect, it } from "vitest";
import { Opcode } from "../../src/core/index.js";
import { POLLHUP, POLLIN, POLLOUT } from "../../src/poll/index.js";
import { Outbox, adoptRaw, add, createPair, del, establishedPair, expectHooks, mode } from "./harness.js";

const IN = POLLIN;
const INOUT = POLLIN | POLLOUT;

describe("close initiated by the client", () => {
  it("sends the code and reason, the server sees WS_PEER_INITIATED_CLOSE and echoes, both end clean", () => {
    const t = establishedPair();
    t.clientConn.close(4000, "bye");
    expect(t.clientConn.state).toBe("closing");
    t.expectClientHooks([mode(4, INOUT, IN)]);

    t.driver.step(); // the client's close frame goes out
    t.expectClientHooks([mode(4, IN, INOUT)]);
    t.driver.step(); // the server reads it and owes the echo
    expect(t.serverProto.take()).toEqual(['WS_PEER_INITIATED_CLOSE 4000 "bye"']);
    expect(t.serverConn.state).toBe("closing");
    t.expectServerHooks([mode(4, INOUT, IN)]);

    t.driver.run();
    // The server ends the TCP connection first (RFC 6455 §7.1.1).
    expect(t.serverProto.take()).toEqual(['CLOSED 4000 "bye" clean']);
    t.expectServerHooks([del(4)]);
    // The client's CLOSED reports what the server's echo said: the code, no reason.
    expect(t.clientProto.take()).toEqual(['CLIENT_CLOSED 4000 "" clean']);
    t.expectClientHooks([del(4)]);
    expect(t.clientConn.state).toBe("closed");
    expect(t.serverConn.state).toBe("closed");
    expect(t.server.connectionCount).toBe(0);
    expect(t.client.connectionCount).toBe(0);
    expect(t.driver.network.accepted[0]!.isDestroyed || t.driver.network.dialed[0]!.isDestroyed).toBe(true);
  });

  it("closes with 1000 and no reason by default", () => {
    const t = establishedPair();
    t.clientConn.close();
    t.driver.run();
    expect(t.serverProto.take()).toEqual(['WS_PEER_INITIATED_CLOSE 1000 ""', 'CLOSED 1000 "" clean']);
    expect(t.clientProto.take()).toEqual(['CLIENT_CLOSED 1000 "" clean']);
  });
});

describe("close initiated by the server", () => {
  it("sends the code and reason, the client sees WS_PEER_INITIATED_CLOSE and echoes, both end clean", () => {
    const t = establishedPair();
    t.serverConn.close(1001, "going away");
    t.expectServerHooks([mode(4, INOUT, IN)]);
    t.driver.step();
    t.expectServerHooks([mode(4, IN, INOUT)]);
    expect(t.clientProto.take()).toEqual(['WS_PEER_INITIATED_CLOSE 1001 "going away"']);
    t.expectClientHooks([mode(4, INOUT, IN)]);
    t.driver.run();
    expect(t.serverProto.take()).toEqual(['CLOSED 1001 "" clean']);
    expect(t.clientProto.take()).toEqual(['CLIENT_CLOSED 1001 "going away" clean']);
    // Once the echo is in, the server stops reading and waits for POLLOUT to end the TCP connection.
    t.expectServerHooks([mode(4, POLLOUT, IN), del(4)]);
    t.expectClientHooks([mode(4, IN, INOUT), del(4)]);
  });

  it("closes from a callback that returns -1 from RECEIVE, politely with 1000", () => {
    const clientOut = new Outbox();
    const t = establishedPair({ serverHandlers: { RECEIVE: () => -1 }, clientHandlers: { CLIENT_WRITEABLE: clientOut.onWriteable } });
    clientOut.send(t.clientConn, "close me");
    t.driver.run();
    expect(t.serverProto.take()).toEqual(['RECEIVE text "close me" first final', 'CLOSED 1000 "" clean']);
    expect(t.clientProto.take()).toEqual(["CLIENT_WRITEABLE", 'WS_PEER_INITIATED_CLOSE 1000 ""', 'CLIENT_CLOSED 1000 "" clean']);
  });

  it("closes from a callback that returns true from ESTABLISHED, politely with 1000", () => {
    const t = createPair({ serverHandlers: { ESTABLISHED: () => true } });
    t.connect();
    t.driver.run();
    expect(t.serverProto.take()).toEqual(["PROTOCOL_INIT", "FILTER_NETWORK_CONNECTION", "FILTER_PROTOCOL_CONNECTION", "ESTABLISHED", 'CLOSED 1000 "" clean']);
    expect(t.clientProto.take().slice(-3)).toEqual(["CLIENT_ESTABLISHED", 'WS_PEER_INITIATED_CLOSE 1000 ""', 'CLIENT_CLOSED 1000 "" clean']);
  });

  it("uses the code given to close() when a callback closes and then returns -1", () => {
    const clientOut = new Outbox();
    const t = establishedPair({
      serverHandlers: {
        RECEIVE: (e) => {
          e.connection.close(4100, "policy");
          return -1;
        },
      },
      clientHandlers: { CLIENT_WRITEABLE: clientOut.onWriteable },
    });
    clientOut.send(t.clientConn, "x");
    t.driver.run();
    expect(t.clientProto.take()).toContain('WS_PEER_INITIATED_CLOSE 4100 "policy"');
  });
});

describe("close edge cases", () => {
  it("answers a close without a code with an empty close and reports 1005", () => {
    const pair = createPair();
    const { peer } = adoptRaw(pair.server);
    peer.sendUpgrade();
    pair.driver.run();
    peer.readAll();
    pair.serverProto.take();
    pair.serverHooks();
    pair.serverProto.takePoll();
    peer.sendFrame(Opcode.CLOSE);
    pair.driver.run();
    expect([...peer.readAll()]).toEqual([0x88, 0]);
    expect(peer.sawEnd).toBe(true);
    expect(pair.serverProto.take()).toEqual(['WS_PEER_INITIATED_CLOSE 1005 ""', 'CLOSED 1005 "" clean']);
    expectHooks(pair.driver, pair.server, pair.serverProto, [mode(4, INOUT, IN), del(4)]);
  });

  it("treats a second close() as harmless: the first code stands", () => {
    const t = establishedPair();
    t.serverConn.close(4001, "first");
    t.serverConn.close(4002, "second");
    t.driver.run();
    expect(t.clientProto.take()[0]).toBe('WS_PEER_INITIATED_CLOSE 4001 "first"');
    t.serverConn.close(4003, "after");
    expect(t.serverConn.state).toBe("closed");
  });

  it("refuses a close code that may not be sent, as a usage error, and stays open", () => {
    const t = establishedPair();
    expect(() => t.serverConn.close(1005)).toThrow(expect.objectContaining({ code: "INVALID_CLOSE_CODE" }));
    expect(() => t.serverConn.close(999)).toThrow(expect.objectContaining({ code: "INVALID_CLOSE_CODE" }));
    expect(() => t.serverConn.close(1000, "x".repeat(124))).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
    expect(t.serverConn.state).toBe("established");
    t.expectServerHooks([]);
  });

  it("reports 1006 unclean on both sides when the connection drops without a close handshake", () => {
    const t = establishedPair();
    t.driver.network.dialed[0]!.destroy();
    t.driver.run();
    // A destroyed memory transport shows its peer an end of stream (transport.ts allows a reset or an end).
    expect(t.serverProto.take()).toEqual(['CLOSED 1006 "peer closed the connection" unclean']);
    expect(t.clientProto.take()).toEqual([expect.stringMatching(/^CLIENT_CLOSED 1006 ".*" unclean$/)]);
    t.expectServerHooks([del(4)]);
    t.expectClientHooks([del(4)]);
  });

  it("reports 1006 when the peer ends its side without a close frame", () => {
    const t = establishedPair();
    t.driver.network.dialed[0]!.end();
    t.driver.run();
    expect(t.serverProto.take()).toEqual(['CLOSED 1006 "peer closed the connection" unclean']);
    t.expectServerHooks([del(4)]);
  });

  it("drops a server connection closed before its handshake completed: the peer sees the transport go", () => {
    const pair = createPair();
    pair.serverHooks();
    pair.serverProto.takePoll();
    const { peer, connection } = adoptRaw(pair.server);
    pair.driver.run();
    connection!.close();
    expect(connection!.state).toBe("closed");
    expect(peer.transport.poll() & POLLHUP).toBe(POLLHUP);
    pair.driver.run();
    expectHooks(pair.driver, pair.server, pair.serverProto, [add(4, IN), del(4)]);
    // It never was a WebSocket: no CLOSED.
    expect(pair.serverProto.take()).toEqual(["PROTOCOL_INIT", "FILTER_NETWORK_CONNECTION"]);
  });

  it("drops a client connection closed before it is established, with CLIENT_CONNECTION_ERROR", () => {
    const t = createPair();
    const connection = t.connect();
    t.clientHooks();
    t.clientProto.takePoll();
    t.clientProto.take();
    connection.close();
    expect(connection.state).toBe("closed");
    expect(t.clientProto.take()).toEqual([expect.stringMatching(/^CLIENT_CONNECTION_ERROR /)]);
    t.expectClientHooks([del(4)]);
    t.driver.run();
    expect(t.serverProto.log.filter((l) => l === "ESTABLISHED")).toEqual([]);
  });

  // Closing lifts rx flow control: the peer's answer has to be read for the close
  // handshake to complete, and there is nothing left to push back on.
  it("completes the close handshake cleanly when we close while rx is held", () => {
    const t = establishedPair();
    t.serverConn.setRxFlowControl(false);
    t.serverConn.close(1000, "bye");
    expect(t.serverConn.rxFlowEnabled).toBe(true);
    t.driver.run();
    expect(t.clientProto.take()).toEqual(['WS_PEER_INITIATED_CLOSE 1000 "bye"', 'CLIENT_CLOSED 1000 "bye" clean']);
    expect(t.serverProto.take()).toEqual(['CLOSED 1000 "" clean']);
  });
});
