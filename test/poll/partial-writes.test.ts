import { describe, expect, it } from "vitest";
import { POLLIN, POLLOUT } from "../../src/poll/index.js";
import { Outbox, establishedPair, mode } from "./harness.js";

const IN = POLLIN;
const INOUT = POLLIN | POLLOUT;
const CAPACITY = 1024;

function smallPipePair() {
  const serverOut = new Outbox();
  const clientOut = new Outbox();
  const pair = establishedPair({
    pipe: { capacity: CAPACITY },
    serverHandlers: { SERVER_WRITEABLE: serverOut.onWriteable },
    clientHandlers: { CLIENT_WRITEABLE: clientOut.onWriteable },
  });
  const received: Buffer[] = [];
  pair.clientProto.handlers.CLIENT_RECEIVE = (e) => void received.push(Buffer.from(e.data));
  return { ...pair, serverOut, clientOut, received };
}

/** Compared as hex: deep equality of large Buffers is slow. */
const hex = (buffers: Buffer[]) => buffers.map((b) => b.toString("hex"));
const big = (n: number, seed: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff));

describe("partial writes", () => {
  it("buffers what a small pipe does not take and finishes it before the next SERVER_WRITEABLE", () => {
    const t = smallPipePair();
    const seen: number[] = [];
    t.serverProto.handlers.SERVER_WRITEABLE = (e) => {
      seen.push(e.connection.bufferedAmount);
      t.serverOut.onWriteable(e);
    };
    const a = big(10 * 1024, 1);
    const b = big(3000, 2);
    t.serverOut.send(t.serverConn, a);
    t.serverOut.send(t.serverConn, b);
    t.expectServerHooks([mode(4, INOUT, IN)]);

    t.driver.step();
    expect(seen).toEqual([0]);
    // 10 KiB + a 4-byte header into a 1 KiB pipe: the rest waits in the connection.
    expect(t.serverConn.bufferedAmount).toBe(10 * 1024 + 4 - CAPACITY);
    expect(t.received).toEqual([]);

    let steps = 0;
    while (seen.length === 1) {
      t.driver.step();
      steps++;
      expect(steps).toBeLessThan(100);
      if (seen.length === 1) expect(t.serverConn.bufferedAmount).toBeGreaterThan(0);
    }
    // The second WRITEABLE came only once everything of the first write was taken.
    expect(seen).toEqual([0, 0]);
    t.driver.run();
    expect(hex(t.received)).toEqual(hex([a, b]));
    expect(t.serverConn.bufferedAmount).toBe(0);
    // POLLOUT stayed on throughout: a partial write, then the WRITEABLE the protocol asked for.
    t.expectServerHooks([mode(4, IN, INOUT)]);
  });

  it("keeps POLLOUT on while a partial write is pending even when no WRITEABLE is wanted", () => {
    const t = smallPipePair();
    t.serverOut.send(t.serverConn, big(4096, 3));
    t.driver.step();
    expect(t.serverConn.bufferedAmount).toBeGreaterThan(0);
    expect(t.driver.pollfds(t.server)[1]!.events).toBe(INOUT);
    t.driver.run();
    expect(t.serverConn.bufferedAmount).toBe(0);
    expect(t.driver.pollfds(t.server)[1]!.events).toBe(IN);
    t.expectServerHooks([mode(4, INOUT, IN), mode(4, IN, INOUT)]);
  });

  it("finishes the partial frame before a pong it owes, so frames never interleave", () => {
    const t = smallPipePair();
    const a = big(8000, 4);
    t.serverOut.send(t.serverConn, a);
    t.driver.step(); // the server writes 1 KiB of its frame
    expect(t.serverConn.bufferedAmount).toBeGreaterThan(0);
    t.clientOut.send(t.clientConn, "ping!", "ping");
    t.driver.run();
    expect(hex(t.received)).toEqual(hex([a]));
    const order = t.clientProto.take().filter((l) => !l.endsWith("WRITEABLE"));
    expect(order).toEqual(["CLIENT_RECEIVE binary[8000] first final", 'CLIENT_RECEIVE_PONG "ping!"']);
  });

  it("finishes the partial frame before the close frame of a user close", () => {
    const t = smallPipePair();
    const a = big(5000, 5);
    t.serverOut.send(t.serverConn, a);
    t.driver.step();
    expect(t.serverConn.bufferedAmount).toBeGreaterThan(0);
    t.serverConn.close(4001, "after the data");
    t.driver.run();
    expect(hex(t.received)).toEqual(hex([a]));
    expect(t.clientProto.take().filter((l) => !l.startsWith("CLIENT_RECEIVE "))).toEqual([
      'WS_PEER_INITIATED_CLOSE 4001 "after the data"',
      'CLIENT_CLOSED 4001 "after the data" clean',
    ]);
    expect(t.serverProto.take().at(-1)).toBe('CLOSED 4001 "" clean');
  });

  it("does not let requestWriteable jump the queue: a WRITEABLE asked for during a partial write waits for it", () => {
    const t = smallPipePair();
    t.serverOut.send(t.serverConn, big(6000, 6));
    t.driver.step();
    const at: number[] = [];
    t.serverProto.handlers.SERVER_WRITEABLE = (e) => void at.push(e.connection.bufferedAmount);
    t.serverConn.requestWriteable();
    t.driver.run();
    expect(at).toEqual([0]);
  });

  it("moves big messages both ways at once through small pipes without deadlock", () => {
    const t = smallPipePair();
    const serverGot: Buffer[] = [];
    t.serverProto.handlers.RECEIVE = (e) => void serverGot.push(Buffer.from(e.data));
    const down = [0, 1, 2].map((i) => big(5000, 10 + i));
    const up = [0, 1, 2].map((i) => big(5000, 20 + i));
    for (const m of down) t.serverOut.send(t.serverConn, m);
    for (const m of up) t.clientOut.send(t.clientConn, m);
    t.driver.run();
    expect(hex(t.received)).toEqual(hex(down));
    expect(hex(serverGot)).toEqual(hex(up));
  });

  // Payloads are sent without a copy (Connection.write documents it): a caller must not
  // modify a buffer it passed to write(). That is what lets a 16 MiB message go out
  // without being duplicated; lws copies a partial write's remainder instead.
  it("keeps the caller's payload as a view while a partial write is pending (zero-copy contract)", () => {
    const t = smallPipePair();
    const payload = Buffer.alloc(64 * 1024, 0x61);
    t.serverOut.send(t.serverConn, payload);
    t.driver.step();
    t.driver.step();
    expect(t.serverConn.bufferedAmount).toBeGreaterThan(0);
    expect(payload.every((b) => b === 0x61)).toBe(true);
    t.driver.run();
    expect(t.serverConn.bufferedAmount).toBe(0);
  });
});
