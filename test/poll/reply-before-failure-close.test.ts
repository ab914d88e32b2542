/**
 * A valid message and a protocol violation in the same read (Autobahn's "b2b" shapes):
 * the reply the protocol asked for before the violation is still sent, once, and then
 * the close frame for the violation. RFC 6455 §7.1.7 stops the processing of input after
 * a failure; it does not take back what the application already owed the peer.
 */
import { describe, expect, it } from "vitest";
import { Opcode } from "../../src/core/index.js";
import type { Connection } from "../../src/poll/index.js";
import { adoptRaw, clientFrame, createPair, rawServerClient, type Handlers, type PairOptions } from "./harness.js";

/** A masked frame with reserved opcode 3 and no payload (by hand: the encoder refuses it). */
const BAD = Buffer.from([0x83, 0x80, 0, 0, 0, 0]);

/** The frames a client reads (unmasked), as `opcode:payload` lines. */
function framesOf(bytes: Buffer): string[] {
  const out: string[] = [];
  let at = 0;
  while (at < bytes.length) {
    const opcode = bytes[at]! & 0x0f;
    let length = bytes[at + 1]! & 0x7f;
    let head = 2;
    if (length === 126) {
      length = bytes.readUInt16BE(at + 2);
      head = 4;
    }
    const payload = bytes.subarray(at + head, at + head + length);
    out.push(opcode === Opcode.CLOSE ? `close:${payload.readUInt16BE(0)}` : `${opcode}:${payload.length > 16 ? `[${payload.length}]` : payload.toString()}`);
    at += head + length;
  }
  return out;
}

/** A server whose protocol echoes every message from its WRITEABLE, and a raw client on it. */
function echoServer(options: PairOptions = {}, extra: Handlers = {}) {
  const queue: Buffer[] = [];
  const requests: boolean[] = [];
  const pair = createPair({
    ...options,
    serverHandlers: {
      RECEIVE: (e) => {
        queue.push(Buffer.from(e.data));
        requests.push(e.connection.requestWriteable());
      },
      SERVER_WRITEABLE: (e) => {
        const next = queue.shift();
        if (next) e.connection.write(next, "text");
        // A protocol that always asks for more: after the failure it must not be heard.
        requests.push(e.connection.requestWriteable());
      },
      ...extra,
    },
  });
  const { peer, connection } = adoptRaw(pair.server, options.pipe);
  peer.sendUpgrade();
  pair.driver.run();
  peer.readAll();
  pair.serverProto.take();
  return { ...pair, peer, connection: connection as Connection, queue, requests };
}

describe("a reply requested before a protocol error", () => {
  it("is sent before the close frame: text, then close 1002, then the server ends the connection", () => {
    const t = echoServer();
    t.peer.send(Buffer.concat([clientFrame(Opcode.TEXT, "Hello"), BAD, clientFrame(Opcode.PING)]));
    t.driver.run();
    expect(framesOf(t.peer.readAll())).toEqual(["1:Hello", "close:1002"]);
    expect(t.peer.sawEnd).toBe(true);
    expect(t.serverProto.take()).toEqual(['RECEIVE text "Hello" first final', "SERVER_WRITEABLE", expect.stringMatching(/^CLOSED 1002 ".*" unclean$/)]);
    expect(t.server.connectionCount).toBe(0);
  });

  it("runs once: a WRITEABLE requested during it, or for a second queued message, is refused", () => {
    const t = echoServer();
    t.peer.send(Buffer.concat([clientFrame(Opcode.TEXT, "one"), clientFrame(Opcode.TEXT, "two"), BAD]));
    t.driver.run();
    // One request from before the failure (two RECEIVEs ask for the same WRITEABLE); the
    // one made inside that WRITEABLE is refused, so "two" is never sent and the close is not put off.
    expect(framesOf(t.peer.readAll())).toEqual(["1:one", "close:1002"]);
    expect(t.requests).toEqual([true, true, false]);
    expect(t.serverProto.take().filter((l) => l === "SERVER_WRITEABLE")).toHaveLength(1);
    expect(t.connection.state).toBe("closed");
  });

  it("no new WRITEABLE after the failure: a request made after it is refused and nothing but the close goes out", () => {
    const t = echoServer({}, { RECEIVE: () => {} });
    t.peer.send(Buffer.concat([clientFrame(Opcode.TEXT, "ignored"), BAD]));
    t.driver.step(); // the server reads: it owes the close, and nothing was requested before
    expect(t.connection.state).toBe("closing");
    expect(t.connection.requestWriteable()).toBe(false);
    t.driver.run();
    expect(framesOf(t.peer.readAll())).toEqual(["close:1002"]);
    expect(t.serverProto.take().filter((l) => l === "SERVER_WRITEABLE")).toEqual([]);
  });

  it("may write nothing: the close goes out alone", () => {
    const t = echoServer({}, { SERVER_WRITEABLE: () => {} });
    t.peer.send(Buffer.concat([clientFrame(Opcode.TEXT, "Hello"), BAD]));
    t.driver.run();
    expect(framesOf(t.peer.readAll())).toEqual(["close:1002"]);
    expect(t.serverProto.take()).toContain("SERVER_WRITEABLE");
  });

  it("only one write in it, as in any WRITEABLE, and no ping: the close goes out after the one frame", () => {
    const errors: string[] = [];
    const t = echoServer({}, {
      SERVER_WRITEABLE: (e) => {
        e.connection.write("reply");
        for (const attempt of [() => e.connection.write("second"), () => e.connection.write("", "ping")]) {
          try {
            attempt();
          } catch (error) {
            errors.push((error as { code: string }).code);
          }
        }
      },
    });
    t.peer.send(Buffer.concat([clientFrame(Opcode.TEXT, "Hello"), BAD]));
    t.driver.run();
    expect(errors).toEqual(["SECOND_WRITE_IN_WRITEABLE", "SECOND_WRITE_IN_WRITEABLE"]);
    expect(framesOf(t.peer.readAll())).toEqual(["1:reply", "close:1002"]);
  });

  it("also before the 1009 of a frame over the limit; RECEIVE_TOO_LARGE cannot ask for another WRITEABLE", () => {
    let askedInTooLarge: boolean | null = null;
    const t = echoServer(
      { serverProtocol: { maxFrameSize: 100, maxMessageSize: 100 } },
      { RECEIVE_TOO_LARGE: (e) => void (askedInTooLarge = e.connection.requestWriteable()) },
    );
    t.peer.send(Buffer.concat([clientFrame(Opcode.TEXT, "small"), clientFrame(Opcode.BINARY, Buffer.alloc(101))]));
    t.driver.run();
    expect(framesOf(t.peer.readAll())).toEqual(["1:small", "close:1009"]);
    expect(askedInTooLarge).toBe(false);
    expect(t.serverProto.take()).toEqual([
      'RECEIVE text "small" first final',
      "RECEIVE_TOO_LARGE frame 101/100",
      "SERVER_WRITEABLE",
      expect.stringMatching(/^CLOSED 1009 ".*" unclean$/),
    ]);
  });

  it("is dropped by close(): the user's close cancels a WRITEABLE not yet delivered", () => {
    const t = echoServer();
    t.peer.send(Buffer.concat([clientFrame(Opcode.TEXT, "Hello"), BAD]));
    t.driver.step();
    t.connection.close(1000);
    t.driver.run();
    // The failure's close stands (the first close wins); the reply is not sent.
    expect(framesOf(t.peer.readAll())).toEqual(["close:1002"]);
    expect(t.serverProto.take().filter((l) => l === "SERVER_WRITEABLE")).toEqual([]);
  });

  describe("when the reply cannot be written because the peer does not read", () => {
    const CAPACITY = 1024;
    const REPLY = Buffer.alloc(4000, "r");
    const bigReply = () => echoServer({ pipe: { capacity: CAPACITY } }, { SERVER_WRITEABLE: (e) => e.connection.write(REPLY) });

    it("the close follows the whole reply once the peer reads, within the close-wait timeout", () => {
      const t = bigReply();
      t.peer.send(Buffer.concat([clientFrame(Opcode.TEXT, "Hello"), BAD]));
      t.driver.run();
      expect(t.connection.bufferedAmount).toBeGreaterThan(0);
      expect(t.connection.state).toBe("closing");
      t.driver.advance(4_000);
      // The peer starts reading: the rest of the reply, then the close, then the end.
      let got = Buffer.alloc(0);
      for (let i = 0; i < 20 && t.connection.state !== "closed"; i++) {
        got = Buffer.concat([got, t.peer.readAll()]);
        t.driver.run();
      }
      got = Buffer.concat([got, t.peer.readAll()]);
      expect(framesOf(got)).toEqual([`${Opcode.BINARY}:[${REPLY.length}]`, "close:1002"]);
      expect(t.peer.sawEnd).toBe(true);
      expect(t.serverProto.take().at(-1)).toMatch(/^CLOSED 1002 ".*" unclean$/);
    });

    it("the connection is ended at the close-wait timeout (5 s) all the same: the reply cannot delay it", () => {
      const t = bigReply();
      t.peer.send(Buffer.concat([clientFrame(Opcode.TEXT, "Hello"), BAD]));
      t.driver.run();
      expect(t.connection.bufferedAmount).toBeGreaterThan(0);
      t.driver.advance(4_999);
      expect(t.connection.state).toBe("closing");
      t.driver.advance(1);
      expect(t.connection.state).toBe("closed");
      expect(t.serverProto.take().at(-1)).toBe('CLOSED 1006 "timed out: our close frame could not be sent" unclean');
      expect(t.server.connectionCount).toBe(0);
    });
  });

  it("holds for a client too: its reply to the server's message goes before its 1002", () => {
    const t = rawServerClient({
      handlers: {
        CLIENT_RECEIVE: (e) => void e.connection.requestWriteable(),
        CLIENT_WRITEABLE: (e) => e.connection.write("reply"),
      },
    });
    t.connect();
    t.driver.run();
    const server = t.servers[0]!;
    server.clientEnd.completeConnect();
    t.driver.run();
    server.accept();
    t.driver.run();
    server.readAll();
    // A text, then a masked frame (servers must not mask), in one read.
    server.send(Buffer.concat([Buffer.from([0x81, 5]), Buffer.from("Hello"), clientFrame(Opcode.TEXT, "masked")]));
    t.driver.run();
    const got = server.readAll();
    // Client frames are masked with the all-zero key here: the payload reads as it is.
    const frames: string[] = [];
    for (let at = 0; at < got.length; ) {
      const length = got[at + 1]! & 0x7f;
      const payload = got.subarray(at + 6, at + 6 + length);
      frames.push((got[at]! & 0x0f) === Opcode.CLOSE ? `close:${payload.readUInt16BE(0)}` : `${got[at]! & 0x0f}:${payload.toString()}`);
      at += 6 + length;
    }
    expect(frames).toEqual(["1:reply", "close:1002"]);
    expect(t.proto.take()).toContain("CLIENT_WRITEABLE");
  });
});
