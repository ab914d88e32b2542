/**
 * Pongs owed on a connection: pings read before the connection could write are all
 * answered, in order and before any data, up to MAX_OWED_PONGS (and MAX_OWED_PONG_BYTES
 * of payload); a flood from a peer that never reads stays within that bound.
 */
import { describe, expect, it } from "vitest";
import { Opcode } from "../../src/core/index.js";
import { MAX_OWED_PONGS, MAX_OWED_PONG_BYTES } from "../../src/core/ws-session.js";
import { POLLOUT, type Connection } from "../../src/poll/index.js";
import { adoptRaw, clientFrame, createPair, type Handlers, type PairOptions } from "./harness.js";

/** Server frames (unmasked, payloads under 126 bytes) as `opcode:payload` lines. */
function framesOf(bytes: Buffer): string[] {
  const out: string[] = [];
  for (let at = 0; at < bytes.length; ) {
    const length = bytes[at + 1]! & 0x7f;
    out.push(`${bytes[at]! & 0x0f}:${bytes.subarray(at + 2, at + 2 + length).toString("latin1")}`);
    at += 2 + length;
  }
  return out;
}

function rawServer(options: PairOptions = {}, handlers: Handlers = {}) {
  const pair = createPair({ ...options, serverHandlers: handlers });
  const { peer, connection } = adoptRaw(pair.server, options.pipe);
  peer.sendUpgrade();
  pair.driver.run();
  peer.readAll();
  pair.serverProto.take();
  return { ...pair, peer, connection: connection as Connection };
}

const PONG = `${Opcode.PONG}:`;

describe("owed pongs", () => {
  it("10 pings in one read (Autobahn 2.10): 10 pongs, in order", () => {
    const t = rawServer();
    const payloads = Array.from({ length: 10 }, (_, i) => `payload-${i}`);
    t.peer.send(Buffer.concat(payloads.map((p) => clientFrame(Opcode.PING, p))));
    t.driver.run();
    expect(framesOf(t.peer.readAll())).toEqual(payloads.map((p) => PONG + p));
  });

  it(`100 pings in one read: the newest ${MAX_OWED_PONGS} are answered, in order`, () => {
    const t = rawServer();
    const payloads = Array.from({ length: 100 }, (_, i) => `p${i}`);
    t.peer.send(Buffer.concat(payloads.map((p) => clientFrame(Opcode.PING, p))));
    t.driver.run();
    expect(framesOf(t.peer.readAll())).toEqual(payloads.slice(-MAX_OWED_PONGS).map((p) => PONG + p));
    expect(t.connection.state).toBe("established");
  });

  it("pongs go before data the protocol queued in the same read", () => {
    const t = rawServer({}, {
      RECEIVE: (e) => void e.connection.requestWriteable(),
      SERVER_WRITEABLE: (e) => e.connection.write("echo"),
    });
    t.peer.send(Buffer.concat([clientFrame(Opcode.TEXT, "hi"), clientFrame(Opcode.PING, "a"), clientFrame(Opcode.PING, "b")]));
    t.driver.run();
    expect(framesOf(t.peer.readAll())).toEqual([PONG + "a", PONG + "b", `${Opcode.TEXT}:echo`]);
  });

  it("a peer that floods pings and never reads: the server keeps reading and holds at most one batch of pongs", () => {
    const CAPACITY = 4096;
    const t = rawServer({ pipe: { capacity: CAPACITY } });
    const ping = (i: number) => clientFrame(Opcode.PING, Buffer.alloc(125, i & 0xff));
    // One batch at most: MAX_OWED_PONGS frame headers and MAX_OWED_PONG_BYTES of payload.
    const batch = MAX_OWED_PONGS * 2 + MAX_OWED_PONG_BYTES;
    let maxBuffered = 0;
    let sent = 0;
    for (let round = 0; round < 200; round++) {
      // As many pings as the pipe takes (the server reads them all, each round).
      const burst = Array.from({ length: Math.floor(CAPACITY / ping(0).length) }, () => ping(sent++));
      t.peer.send(Buffer.concat(burst));
      t.driver.run();
      maxBuffered = Math.max(maxBuffered, t.connection.bufferedAmount);
    }
    expect(sent).toBeGreaterThan(5_000);
    expect(t.peer.transport.bufferedOut).toBe(0); // everything sent was read
    expect(maxBuffered).toBeLessThanOrEqual(batch);
    expect(t.connection.state).toBe("established");
    // The peer reads at last: pongs only, whole, and the last one answers the newest ping.
    let got = Buffer.alloc(0);
    for (let i = 0; i < 100 && (i === 0 || t.connection.events & POLLOUT); i++) {
      got = Buffer.concat([got, t.peer.readAll()]);
      t.driver.run();
    }
    got = Buffer.concat([got, t.peer.readAll()]);
    const frames = framesOf(got);
    expect(frames.every((f) => f.startsWith(PONG) && f.length === PONG.length + 125)).toBe(true);
    expect(frames.at(-1)).toBe(PONG + String.fromCharCode((sent - 1) & 0xff).repeat(125));
  });
});
