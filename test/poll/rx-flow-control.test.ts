import { describe, expect, it } from "vitest";
import { Opcode } from "../../src/core/index.js";
import { POLLIN, POLLOUT } from "../../src/poll/index.js";
import { Outbox, adoptRaw, clientFrame, createPair, establishedPair, expectHooks, mode } from "./harness.js";

const IN = POLLIN;
const INOUT = POLLIN | POLLOUT;
const CAPACITY = 1024;

function fullPipePair() {
  const clientOut = new Outbox();
  const pair = establishedPair({
    pipe: { capacity: CAPACITY },
    clientHandlers: { CLIENT_WRITEABLE: clientOut.onWriteable },
  });
  const received: string[] = [];
  pair.serverProto.handlers.RECEIVE = (e) => void received.push(e.data.toString());
  const clientTransport = pair.driver.network.dialed[0]!;
  return { ...pair, clientOut, received, clientTransport };
}

const messages = Array.from({ length: 60 }, (_, i) => `${String(i).padStart(3, "0")}:${"x".repeat(96)}`); // 100 bytes each
const FRAME = 100 + 2 + 4; // payload + client header + mask key

describe("rx flow control", () => {
  it("drops POLLIN interest when rx is turned off, and restores it when turned on", () => {
    const t = fullPipePair();
    t.serverConn.setRxFlowControl(false);
    expect(t.serverConn.rxFlowEnabled).toBe(false);
    t.expectServerHooks([mode(4, 0, IN)]);
    expect(t.driver.pollfds(t.server)).toEqual([
      { fd: 3, events: IN, revents: 0 },
      { fd: 4, events: 0, revents: 0 },
    ]);
    t.serverConn.setRxFlowControl(false); // no change, no hook call
    t.expectServerHooks([]);
    t.serverConn.setRxFlowControl(true);
    t.expectServerHooks([mode(4, IN, 0)]);
  });

  it("stops reading so the sender's buffered bytes stay bounded while the receiver holds rx off, then delivers every message in order", () => {
    const t = fullPipePair();
    t.serverConn.setRxFlowControl(false);
    t.expectServerHooks([mode(4, 0, IN)]);

    for (const m of messages) t.clientOut.send(t.clientConn, m);
    t.expectClientHooks([mode(4, INOUT, IN)]);
    let maxPipe = 0;
    let maxBuffered = 0;
    for (let i = 0; i < 200 && t.driver.step() > 0; i++) {
      maxPipe = Math.max(maxPipe, t.clientTransport.bufferedOut);
      maxBuffered = Math.max(maxBuffered, t.clientConn.bufferedAmount);
    }
    expect(t.driver.step()).toBe(0); // quiescent: the sender waits for room that does not come
    expect(t.received).toEqual([]);
    // The pipe is full, and the connection holds at most the one frame it could not finish.
    expect(t.clientTransport.bufferedOut).toBe(CAPACITY);
    expect(maxPipe).toBeLessThanOrEqual(CAPACITY);
    expect(maxBuffered).toBeLessThanOrEqual(FRAME);
    expect(t.clientConn.bufferedAmount).toBeGreaterThan(0);
    // The sender's protocol was not asked to write while a frame was unfinished.
    const writeables = t.clientProto.take().length;
    expect(writeables).toBe(Math.ceil(CAPACITY / FRAME));
    expect(t.clientOut.pending(t.clientConn)).toBe(messages.length - writeables);
    // Still polling for POLLOUT to finish the partial write; the server polls for nothing.
    expect(t.driver.pollfds(t.client)[1]!.events).toBe(INOUT);
    t.expectServerHooks([]);
    expect(t.server.adjustTimeout(10_000)).toBe(10_000);

    t.serverConn.setRxFlowControl(true);
    t.expectServerHooks([mode(4, IN, 0)]);
    t.driver.run();
    expect(t.received).toEqual(messages);
    expect(t.clientConn.bufferedAmount).toBe(0);
    expect(t.clientTransport.bufferedOut).toBe(0);
    t.expectServerHooks([]);
    t.expectClientHooks([mode(4, IN, INOUT)]);
  });

  it("lets a protocol turn rx off from RECEIVE: nothing more is delivered, and what the same read held arrives by forced service once rx is on", () => {
    const pair = createPair();
    const received: string[] = [];
    pair.serverProto.handlers.RECEIVE = (e) => {
      received.push(e.data.toString());
      if (e.data.toString() === "1") e.connection.setRxFlowControl(false);
    };
    const { peer, connection } = adoptRaw(pair.server);
    peer.sendUpgrade();
    pair.driver.run();
    peer.readAll();
    pair.serverHooks();
    pair.serverProto.takePoll();
    // Three messages in one read; the protocol stops after the first.
    peer.send(Buffer.concat([clientFrame(Opcode.TEXT, "1"), clientFrame(Opcode.TEXT, "2"), clientFrame(Opcode.TEXT, "3")]));
    pair.driver.run();
    expect(received).toEqual(["1"]);
    expectHooks(pair.driver, pair.server, pair.serverProto, [mode(4, 0, IN)]);
    expect(pair.server.hasPendingService).toBe(false);
    expect(pair.server.adjustTimeout(1000)).toBe(1000);

    peer.sendFrame(Opcode.TEXT, "4");
    pair.driver.run();
    expect(received).toEqual(["1"]);

    connection!.setRxFlowControl(true);
    // Held bytes are work no network event will announce: a forced service is due.
    expect(pair.server.hasPendingService).toBe(true);
    expect(pair.server.adjustTimeout(1000)).toBe(0);
    pair.server.servicePending();
    expect(received).toEqual(["1", "2", "3"]);
    expect(pair.server.adjustTimeout(1000)).toBe(1000);
    pair.driver.run();
    expect(received).toEqual(["1", "2", "3", "4"]);
    expectHooks(pair.driver, pair.server, pair.serverProto, [mode(4, IN, 0)]);
  });

  it("keeps order when rx is turned off and on again inside a single read, message by message", () => {
    const pair = createPair();
    const received: string[] = [];
    pair.serverProto.handlers.RECEIVE = (e) => {
      received.push(e.data.toString());
      e.connection.setRxFlowControl(false);
    };
    const { peer, connection } = adoptRaw(pair.server);
    peer.sendUpgrade();
    pair.driver.run();
    const frames = ["a", "b", "c", "d", "e"].map((m) => clientFrame(Opcode.TEXT, m));
    peer.send(Buffer.concat(frames));
    pair.driver.run();
    for (let i = 0; i < 10 && received.length < 5; i++) {
      connection!.setRxFlowControl(true);
      pair.driver.run();
    }
    expect(received).toEqual(["a", "b", "c", "d", "e"]);
  });

  it("holds back a frame whose payload is split by a pause in fragment delivery, and resumes mid-frame", () => {
    const pair = createPair({ serverProtocol: { delivery: "fragment" }, pipe: { chunkSize: 8 } });
    const pieces: string[] = [];
    pair.serverProto.handlers.RECEIVE = (e) => {
      pieces.push(`${e.data.toString()}${e.final ? "|" : ""}`);
      e.connection.setRxFlowControl(false);
    };
    const client = pair.connect();
    const clientOut = new Outbox();
    pair.clientProto.handlers.CLIENT_WRITEABLE = clientOut.onWriteable;
    pair.driver.run();
    clientOut.send(client, "abcdefghijklmnop");
    pair.driver.run();
    const server = pair.serverProto.established[0]!;
    for (let i = 0; i < 20 && !pieces.at(-1)?.endsWith("|"); i++) {
      server.setRxFlowControl(true);
      pair.driver.run();
    }
    expect(pieces.join("")).toBe("abcdefghijklmnop|");
  });
});

describe("rx flow control on the client side", () => {
  it("works the same way for a client: the server's pipe fills, then everything arrives in order", () => {
    const serverOut = new Outbox();
    const t = establishedPair({ pipe: { capacity: CAPACITY }, serverHandlers: { SERVER_WRITEABLE: serverOut.onWriteable } });
    const received: string[] = [];
    t.clientProto.handlers.CLIENT_RECEIVE = (e) => void received.push(e.data.toString());
    t.clientConn.setRxFlowControl(false);
    t.expectClientHooks([mode(4, 0, IN)]);
    for (const m of messages) serverOut.send(t.serverConn, m);
    t.driver.run();
    expect(received).toEqual([]);
    expect(t.driver.network.accepted[0]!.bufferedOut).toBe(CAPACITY);
    expect(t.serverConn.bufferedAmount).toBeLessThanOrEqual(100 + 2);
    t.clientConn.setRxFlowControl(true);
    t.driver.run();
    expect(received).toEqual(messages);
    t.expectClientHooks([mode(4, IN, 0)]);
  });
});

describe("rx flow control before the WebSocket exists", () => {
  const request =
    "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat\r\n\r\n";

  for (const reason of ["FILTER_PROTOCOL_CONNECTION", "ESTABLISHED"] as const) {
    it(`holds frames that came in the same read as the request when ${reason} turns rx off`, () => {
      const pair = createPair({ serverHandlers: { [reason]: (e: { connection: { setRxFlowControl(on: boolean): void } }) => e.connection.setRxFlowControl(false) } });
      const received: string[] = [];
      pair.serverProto.handlers.RECEIVE = (e) => void received.push(e.data.toString());
      const { peer, connection } = adoptRaw(pair.server);
      pair.serverHooks();
      pair.serverProto.takePoll();
      peer.send(Buffer.concat([Buffer.from(request, "latin1"), clientFrame(Opcode.TEXT, "1"), clientFrame(Opcode.TEXT, "2")]));
      pair.driver.run();
      expect(connection!.state).toBe("established");
      expect(received).toEqual([]);
      expectHooks(pair.driver, pair.server, pair.serverProto, [mode(4, 0, IN)]);
      connection!.setRxFlowControl(true);
      expect(pair.server.adjustTimeout(1000)).toBe(0);
      pair.driver.run();
      expect(received).toEqual(["1", "2"]);
      expectHooks(pair.driver, pair.server, pair.serverProto, [mode(4, IN, 0)]);
    });
  }
});

describe("rx flow control and the sender's write ladder", () => {
  it("only offers the sender WRITEABLE again once its partial frame is out", () => {
    const t = fullPipePair();
    t.serverConn.setRxFlowControl(false);
    const states: number[] = [];
    t.clientProto.handlers.CLIENT_WRITEABLE = (e) => {
      states.push(e.connection.bufferedAmount);
      t.clientOut.onWriteable(e);
    };
    for (const m of messages.slice(0, 20)) t.clientOut.send(t.clientConn, m);
    t.driver.run();
    t.serverConn.setRxFlowControl(true);
    t.driver.run();
    expect(states).toHaveLength(20);
    expect(states.every((b) => b === 0)).toBe(true);
    expect(t.received).toEqual(messages.slice(0, 20));
  });
});
