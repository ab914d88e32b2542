/**
 * Every timeout runs on the driver's VirtualClock: `advance(ms)` moves time and stops at
 * each deadline on the way. Nothing here waits for real time.
 */
import { describe, expect, it } from "vitest";
import { ManualDriver } from "../../src/loops/manual/index.js";
import { Opcode } from "../../src/core/index.js";
import { POLLHUP, POLLIN, POLLOUT, VirtualClock, createMemoryPair } from "../../src/poll/index.js";
import { Outbox, adoptRaw, createPair, del, establishedPair, expectHooks, mode, rawServerClient, recording, add } from "./harness.js";

const IN = POLLIN;
const INOUT = POLLIN | POLLOUT;

function now(driver: ManualDriver): number {
  return (driver.clock as VirtualClock).now();
}

describe("handshake timeout (default 15 s)", () => {
  it("drops a connection that connects and sends nothing, at 15 s and not before", () => {
    const pair = createPair();
    pair.serverHooks();
    pair.serverProto.takePoll();
    pair.serverProto.take();
    const { peer, connection } = adoptRaw(pair.server);
    expectHooks(pair.driver, pair.server, pair.serverProto, [add(4, IN)]);
    // One timer, one wake-up: the loop is told to sleep exactly until the deadline.
    expect(pair.server.adjustTimeout(60_000)).toBe(15_000);

    pair.driver.advance(14_999);
    expect(connection!.state).toBe("handshake");
    expect(pair.server.adjustTimeout(60_000)).toBe(1);
    expectHooks(pair.driver, pair.server, pair.serverProto, []);

    pair.driver.advance(1);
    expect(now(pair.driver)).toBe(15_000);
    expect(connection!.state).toBe("closed");
    expectHooks(pair.driver, pair.server, pair.serverProto, [del(4)]);
    expect(peer.transport.poll() & POLLHUP).toBe(POLLHUP);
    // It never became a WebSocket: the protocol heard only the network filter.
    expect(pair.serverProto.take()).toEqual(["FILTER_NETWORK_CONNECTION"]);
    expect(pair.serverLogs.some((l) => /timed out: no complete upgrade request/.test(l.message))).toBe(true);
    expect(pair.server.adjustTimeout(60_000)).toBe(60_000);
  });

  it("drops a connection that sends half a request, at 15 s from accept", () => {
    const pair = createPair();
    pair.serverHooks();
    pair.serverProto.takePoll();
    const { peer, connection } = adoptRaw(pair.server);
    pair.driver.advance(10_000);
    peer.send("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n");
    pair.driver.advance(4_999);
    expect(connection!.state).toBe("handshake");
    pair.driver.advance(1);
    expect(connection!.state).toBe("closed");
    expectHooks(pair.driver, pair.server, pair.serverProto, [add(4, IN), del(4)]);
  });

  it("uses the vhost's handshake timeout when one is set", () => {
    const pair = createPair({ serverTimeouts: { handshakeMs: 2_000 } });
    const { connection } = adoptRaw(pair.server);
    pair.driver.advance(1_999);
    expect(connection!.state).toBe("handshake");
    pair.driver.advance(1);
    expect(connection!.state).toBe("closed");
  });

  it("times out a client whose server never answers the upgrade request, with CLIENT_CONNECTION_ERROR", () => {
    const t = rawServerClient();
    const connection = t.connect();
    t.servers[0]!.clientEnd.completeConnect();
    t.driver.run();
    expect(t.servers[0]!.readAll().toString("latin1")).toMatch(/^GET \/ HTTP\/1.1\r\n/);
    t.driver.advance(14_999);
    expect(connection.state).toBe("handshake");
    t.driver.advance(1);
    expect(t.proto.take()).toEqual([
      "PROTOCOL_INIT",
      "CLIENT_APPEND_HANDSHAKE_HEADER",
      "CLIENT_CONNECTION_ERROR timed out: no answer to the upgrade request",
    ]);
    t.expectHooks([add(3, IN), add(4, POLLOUT), mode(4, IN, POLLOUT), del(4)]);
  });
});

describe("connect timeout (default 5 s)", () => {
  it("gives up on a dial that never completes, with CLIENT_CONNECTION_ERROR naming the address", () => {
    const t = rawServerClient();
    t.proto.take();
    const connection = t.connect();
    expect(connection.state).toBe("connecting");
    t.expectHooks([add(3, IN), add(4, POLLOUT)]);
    expect(t.context.adjustTimeout(60_000)).toBe(5_000);
    t.driver.advance(4_999);
    expect(connection.state).toBe("connecting");
    expect(t.proto.take()).toEqual([]);
    t.driver.advance(1);
    expect(connection.state).toBe("closed");
    expect(t.proto.take()).toEqual(["CLIENT_CONNECTION_ERROR timed out: could not connect to 127.0.0.1:7681"]);
    t.expectHooks([del(4)]);
    expect(t.servers[0]!.clientEnd.isDestroyed).toBe(true);
  });

  it("uses the vhost's connect timeout, and the handshake timeout starts once connected", () => {
    const t = rawServerClient({ timeouts: { connectMs: 1_000, handshakeMs: 3_000 } });
    const connection = t.connect();
    t.driver.advance(999);
    t.servers[0]!.clientEnd.completeConnect();
    t.driver.run();
    expect(connection.state).toBe("handshake");
    t.driver.advance(2_999);
    expect(connection.state).toBe("handshake");
    t.driver.advance(1);
    expect(connection.state).toBe("closed");
  });
});

describe("close-wait timeout (default 5 s)", () => {
  function rawEstablished(options: Parameters<typeof createPair>[0] = {}) {
    const pair = createPair(options);
    const { peer, connection } = adoptRaw(pair.server, options.pipe);
    peer.sendUpgrade();
    pair.driver.run();
    peer.readAll();
    pair.serverProto.take();
    pair.serverHooks();
    pair.serverProto.takePoll();
    return { ...pair, peer, connection: connection! };
  }

  it("hangs up 5 s after our close frame when the peer never answers: CLOSED 1006, unclean", () => {
    const t = rawEstablished();
    t.connection.close(4000, "bye");
    t.driver.run();
    expect([...t.peer.readAll().subarray(0, 4)]).toEqual([0x88, 5, 0x0f, 0xa0]);
    expectHooks(t.driver, t.server, t.serverProto, [mode(4, INOUT, IN), mode(4, IN, INOUT)]);
    t.driver.advance(4_999);
    expect(t.connection.state).toBe("closing");
    t.driver.advance(1);
    expect(t.serverProto.take()).toEqual(['CLOSED 1006 "timed out: peer did not answer our close frame" unclean']);
    expectHooks(t.driver, t.server, t.serverProto, [del(4)]);
  });

  it("does not time out when the peer answers in time", () => {
    const t = rawEstablished();
    t.connection.close(4000, "bye");
    t.driver.run();
    t.driver.advance(4_000);
    t.peer.sendFrame(Opcode.CLOSE, Buffer.from([0x0f, 0xa0]));
    t.driver.run();
    expect(t.serverProto.take()).toEqual(['CLOSED 4000 "" clean']);
    t.driver.advance(10_000);
    expect(t.serverProto.take()).toEqual([]);
  });

  it("hangs up 5 s after close() even when the close frame cannot be sent, because the peer stopped reading", () => {
    const t = rawEstablished({ pipe: { capacity: 1024 } });
    t.serverProto.handlers.SERVER_WRITEABLE = (e) => e.connection.write(Buffer.alloc(4000, 1));
    t.connection.requestWriteable();
    t.driver.run();
    expect(t.connection.bufferedAmount).toBeGreaterThan(0); // the raw peer reads nothing
    t.connection.close(1000, "bye");
    t.driver.advance(4_999);
    expect(t.connection.state).toBe("closing");
    t.driver.advance(1);
    expect(t.serverProto.take()).toEqual(["SERVER_WRITEABLE", expect.stringMatching(/^CLOSED 1006 "timed out: .*" unclean$/)]);
    expectHooks(t.driver, t.server, t.serverProto, [mode(4, INOUT, IN), del(4)]);
  });

  it("hangs up 5 s after the peer's close when the echo cannot be sent, because the peer stopped reading", () => {
    const t = rawEstablished({ pipe: { capacity: 1024 } });
    t.serverProto.handlers.SERVER_WRITEABLE = (e) => e.connection.write(Buffer.alloc(4000, 1));
    t.connection.requestWriteable();
    t.driver.run();
    t.peer.sendFrame(Opcode.CLOSE, Buffer.from([0x03, 0xe8]));
    t.driver.run();
    expect(t.serverProto.take()).toEqual(["SERVER_WRITEABLE", 'WS_PEER_INITIATED_CLOSE 1000 ""']);
    t.driver.advance(4_999);
    expect(t.connection.state).toBe("closing");
    t.driver.advance(1);
    expect(t.serverProto.take()).toEqual([expect.stringMatching(/^CLOSED 1006 "timed out: .*" unclean$/)]);
    expectHooks(t.driver, t.server, t.serverProto, [mode(4, INOUT, IN), del(4)]);
  });

  it("hangs up 5 s after failing a misbehaving peer whose close frame cannot be sent", () => {
    const t = rawEstablished({ pipe: { capacity: 1024 } });
    t.serverProto.handlers.SERVER_WRITEABLE = (e) => e.connection.write(Buffer.alloc(4000, 1));
    t.connection.requestWriteable();
    t.driver.run();
    t.peer.send(Buffer.from([0x81, 0x01, 0x61])); // an unmasked client frame: 1002
    t.driver.run();
    expect(t.connection.state).toBe("closing");
    t.driver.advance(5_000);
    expect(t.connection.state).toBe("closed");
    expect(t.serverProto.take()).toEqual(["SERVER_WRITEABLE", expect.stringMatching(/^CLOSED 1006 "timed out: .*" unclean$/)]);
  });

  it("a client whose close is never answered hangs up after 5 s: CLIENT_CLOSED 1006", () => {
    const t = rawServerClient();
    const connection = t.connect();
    t.servers[0]!.clientEnd.completeConnect();
    t.driver.run();
    t.servers[0]!.accept();
    t.driver.run();
    expect(connection.state).toBe("established");
    t.proto.take();
    connection.close(1000, "done");
    t.driver.advance(4_999);
    expect(connection.state).toBe("closing");
    t.driver.advance(1);
    expect(t.proto.take()).toEqual(['CLIENT_CLOSED 1006 "timed out: peer did not answer our close frame" unclean']);
  });

  it("a client waits 5 s for the server to end the TCP connection after a clean close, then closes it itself, still clean", () => {
    const t = rawServerClient();
    const connection = t.connect();
    const server = t.servers[0]!;
    server.clientEnd.completeConnect();
    t.driver.run();
    server.accept();
    t.driver.run();
    t.proto.take();
    t.proto.takePoll();
    t.driver.takeHookLog(t.context);
    server.sendServerFrame(Opcode.CLOSE, Buffer.from([0x03, 0xe8]));
    t.driver.run();
    expect(t.proto.take()).toEqual(['WS_PEER_INITIATED_CLOSE 1000 ""']);
    expect([...server.readAll().subarray(0, 2)]).toEqual([0x88, 0x82]); // the echo, masked
    t.driver.advance(4_999);
    expect(connection.state).not.toBe("closed");
    t.driver.advance(1);
    expect(t.proto.take()).toEqual(['CLIENT_CLOSED 1000 "" clean']);
    t.expectHooks([mode(4, INOUT, IN), mode(4, IN, INOUT), del(4)]);
  });
});

describe("idle timeout", () => {
  it("closes with 1001 after idleMs without traffic either way, and traffic pushes it back", () => {
    const clientOut = new Outbox();
    const t = establishedPair({ serverTimeouts: { idleMs: 30_000 }, clientHandlers: { CLIENT_WRITEABLE: clientOut.onWriteable } });
    t.driver.advance(20_000);
    clientOut.send(t.clientConn, "still here");
    t.driver.advance(29_999);
    expect(t.serverConn.state).toBe("established");
    expect(t.serverProto.take()).toEqual(['RECEIVE text "still here" first final']);
    t.expectServerHooks([]);
    t.driver.advance(1);
    expect(now(t.driver)).toBe(50_000);
    expect(t.serverProto.take()).toEqual(['CLOSED 1001 "" clean']);
    expect(t.clientProto.take().slice(-2)).toEqual(['WS_PEER_INITIATED_CLOSE 1001 "idle timeout"', 'CLIENT_CLOSED 1001 "idle timeout" clean']);
    t.expectServerHooks([mode(4, INOUT, IN), mode(4, IN, INOUT), mode(4, POLLOUT, IN), del(4)]);
  });

  it("counts what we send as traffic too", () => {
    const serverOut = new Outbox();
    const t = establishedPair({ serverTimeouts: { idleMs: 30_000 }, serverHandlers: { SERVER_WRITEABLE: serverOut.onWriteable } });
    t.driver.advance(25_000);
    serverOut.send(t.serverConn, "tick");
    t.driver.advance(25_000);
    expect(t.serverConn.state).toBe("established");
    t.driver.advance(5_000);
    expect(t.serverConn.state).toBe("closed");
  });
});

describe("validity: ping after an interval without traffic, hang up without a pong", () => {
  it("pings after pingIntervalMs of silence; a peer that answers keeps the connection", () => {
    const t = establishedPair({ serverTimeouts: { pingIntervalMs: 10_000, pongTimeoutMs: 5_000 } });
    t.driver.advance(9_999);
    t.expectServerHooks([]);
    t.driver.advance(1);
    expect(t.serverProto.take()).toEqual(['RECEIVE_PONG ""']);
    t.expectServerHooks([mode(4, INOUT, IN), mode(4, IN, INOUT)]);
    t.driver.advance(9_999);
    expect(t.serverProto.take()).toEqual([]);
    t.driver.advance(1);
    expect(t.serverProto.take()).toEqual(['RECEIVE_PONG ""']);
    expect(t.serverConn.state).toBe("established");
    // The client's protocol is not involved: pongs are owed frames.
    expect(t.clientProto.take()).toEqual([]);
  });

  it("hangs up with CLOSED 1006 when the pong does not come within pongTimeoutMs", () => {
    const pair = createPair({ serverTimeouts: { pingIntervalMs: 10_000, pongTimeoutMs: 5_000 } });
    const { peer, connection } = adoptRaw(pair.server);
    peer.sendUpgrade();
    pair.driver.run();
    peer.readAll();
    pair.serverProto.take();
    pair.serverHooks();
    pair.serverProto.takePoll();
    pair.driver.advance(10_000);
    expect([...peer.readAll()]).toEqual([0x89, 0]); // the validity ping
    expectHooks(pair.driver, pair.server, pair.serverProto, [mode(4, INOUT, IN), mode(4, IN, INOUT)]);
    pair.driver.advance(4_999);
    expect(connection!.state).toBe("established");
    pair.driver.advance(1);
    expect(now(pair.driver)).toBe(15_000);
    expect(pair.serverProto.take()).toEqual(['CLOSED 1006 "no reply to a ping within 5000 ms" unclean']);
    expectHooks(pair.driver, pair.server, pair.serverProto, [del(4)]);
    expect(peer.transport.poll() & POLLHUP).toBe(POLLHUP);
  });

  it("counts any received traffic as proof of life, not only the pong", () => {
    const pair = createPair({ serverTimeouts: { pingIntervalMs: 10_000, pongTimeoutMs: 5_000 } });
    const { peer, connection } = adoptRaw(pair.server);
    peer.sendUpgrade();
    pair.driver.run();
    pair.driver.advance(10_000);
    pair.driver.advance(3_000);
    peer.sendFrame(Opcode.TEXT, "alive");
    pair.driver.advance(10_000);
    expect(connection!.state).toBe("established");
  });

  it("works on the client side too", () => {
    const t = establishedPair({ clientTimeouts: { pingIntervalMs: 1_000, pongTimeoutMs: 500 } });
    t.driver.advance(1_000);
    expect(t.clientProto.take()).toEqual(['CLIENT_RECEIVE_PONG ""']);
  });
});

describe("validity while rx is held", () => {
  // With rx off the pong could not be read: holding the peer back on purpose must not
  // get a live peer hung up. Validity is judged again once reading resumes.
  it("does not hang up a live peer because the receiver holds rx off", () => {
    const t = establishedPair({ serverTimeouts: { pingIntervalMs: 10_000, pongTimeoutMs: 5_000 } });
    t.serverConn.setRxFlowControl(false);
    t.driver.advance(60_000);
    expect(t.serverConn.state).toBe("established");
    expect(t.serverProto.take()).toEqual([]);
    t.serverConn.setRxFlowControl(true);
    t.driver.advance(10_000);
    expect(t.serverProto.take()).toEqual(['RECEIVE_PONG ""']);
  });
});

describe("user timers", () => {
  it("delivers TIMER after setTimer's delay, and can be re-armed from inside TIMER", () => {
    const fired: number[] = [];
    const t = establishedPair({
      serverHandlers: {
        TIMER: (e) => {
          fired.push(now(t.driver));
          if (fired.length < 3) e.connection.setTimer(1_000);
        },
      },
    });
    t.serverConn.setTimer(2_500);
    expect(t.server.adjustTimeout(60_000)).toBe(2_500);
    t.driver.advance(2_499);
    expect(fired).toEqual([]);
    t.driver.advance(10_000);
    expect(fired).toEqual([2_500, 3_500, 4_500]);
    expect(t.serverProto.take()).toEqual(["TIMER", "TIMER", "TIMER"]);
    t.expectServerHooks([]);
  });

  it("cancels with setTimer(null), and re-arming moves the deadline", () => {
    const t = establishedPair();
    t.serverConn.setTimer(1_000);
    t.serverConn.setTimer(null);
    t.driver.advance(5_000);
    expect(t.serverProto.take()).toEqual([]);
    t.serverConn.setTimer(1_000);
    t.driver.advance(500);
    t.serverConn.setTimer(1_000);
    t.driver.advance(999);
    expect(t.serverProto.take()).toEqual([]);
    t.driver.advance(1);
    expect(t.serverProto.take()).toEqual(["TIMER"]);
  });

  it("never fires for a connection that closed first", () => {
    const t = establishedPair();
    t.serverConn.setTimer(1_000);
    t.clientConn.close();
    t.driver.run();
    t.driver.advance(5_000);
    expect(t.serverProto.take()).not.toContain("TIMER");
    expect(() => t.serverConn.setTimer(10)).toThrow(expect.objectContaining({ code: "CONNECTION_CLOSED" }));
  });

  it("fires many connections' timers in deadline order from one service", () => {
    const driver = new ManualDriver();
    const order: number[] = [];
    const proto = recording("p", { TIMER: (e) => void order.push(e.connection.fd) });
    const context = driver.createContext({ vhosts: [{ protocols: [proto.protocol] }] });
    const connections = [0, 1, 2].map(() => context.adopt(createMemoryPair().b)!);
    connections[0]!.setTimer(300);
    connections[1]!.setTimer(100);
    connections[2]!.setTimer(200);
    (driver.clock as VirtualClock).set(1_000);
    context.servicePending();
    expect(order).toEqual([connections[1]!.fd, connections[2]!.fd, connections[0]!.fd]);
  });
});
