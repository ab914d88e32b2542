/**
 * The same conversation, with the bytes cut differently on the way, must look the same
 * to the protocols: TCP may split anywhere.
 */
import { describe, expect, it } from "vitest";
import { Opcode } from "../../src/core/index.js";
import { END_OF_STREAM } from "../../src/poll/index.js";
import { splitPoints } from "../helpers/splits.js";
import { Outbox, adoptRaw, clientFrame, createPair } from "./harness.js";

/**
 * A lock-step conversation over the driver's network: each side answers what it
 * received, so the order of events is defined by the protocol, not by the chunking.
 */
function conversation(chunkSize: number | undefined) {
  const serverOut = new Outbox();
  const clientOut = new Outbox();
  const binary = Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 7) & 0xff));
  const pair = createPair({
    ...(chunkSize === undefined ? {} : { pipe: { chunkSize } }),
    serverHandlers: {
      ESTABLISHED: (e) => serverOut.send(e.connection, "welcome"),
      RECEIVE: (e) => serverOut.send(e.connection, Buffer.from(e.data), e.binary ? "binary" : "text"),
      SERVER_WRITEABLE: serverOut.onWriteable,
    },
    clientHandlers: {
      CLIENT_WRITEABLE: clientOut.onWriteable,
      CLIENT_RECEIVE: (e) => {
        const text = e.binary ? null : e.data.toString();
        if (text === "welcome") clientOut.send(e.connection, "hello");
        else if (text === "hello") clientOut.send(e.connection, binary);
        else if (e.binary) {
          expect(Buffer.compare(e.data, binary)).toBe(0);
          clientOut.send(e.connection, "frag", "text", false);
          clientOut.send(e.connection, "ment", "continuation", true);
        } else if (text === "fragment") clientOut.send(e.connection, "p", "ping");
      },
      CLIENT_RECEIVE_PONG: (e) => e.connection.close(4000, "done"),
    },
  });
  pair.connect();
  pair.driver.run();
  return {
    server: pair.serverProto.log,
    client: pair.clientProto.log,
    serverPoll: pair.serverProto.pollLog,
    clientPoll: pair.clientProto.pollLog,
    serverHooks: pair.serverHooks(),
    clientHooks: pair.clientHooks(),
  };
}

describe("feed at every split: handshake and first frames over the network", () => {
  const reference = conversation(undefined);

  it("runs the whole conversation with the default chunking", () => {
    expect(reference.server).toEqual([
      "PROTOCOL_INIT",
      "FILTER_NETWORK_CONNECTION",
      "FILTER_PROTOCOL_CONNECTION",
      "ESTABLISHED",
      "SERVER_WRITEABLE",
      'RECEIVE text "hello" first final',
      "SERVER_WRITEABLE",
      "RECEIVE binary[300] first final",
      "SERVER_WRITEABLE",
      'RECEIVE text "fragment" first final',
      "SERVER_WRITEABLE",
      'WS_PEER_INITIATED_CLOSE 4000 "done"',
      'CLOSED 4000 "done" clean',
    ]);
    expect(reference.client).toEqual([
      "PROTOCOL_INIT",
      "CLIENT_APPEND_HANDSHAKE_HEADER",
      "CLIENT_FILTER_PRE_ESTABLISH",
      "CLIENT_ESTABLISHED",
      'CLIENT_RECEIVE text "welcome" first final',
      "CLIENT_WRITEABLE",
      'CLIENT_RECEIVE text "hello" first final',
      "CLIENT_WRITEABLE",
      "CLIENT_RECEIVE binary[300] first final",
      "CLIENT_WRITEABLE",
      "CLIENT_WRITEABLE",
      'CLIENT_RECEIVE text "fragment" first final',
      "CLIENT_WRITEABLE",
      'CLIENT_RECEIVE_PONG "p"',
      'CLIENT_CLOSED 4000 "" clean',
    ]);
  });

  for (const chunkSize of [1, 2, 3, 7]) {
    it(`gives the same callbacks and hook calls when every read returns at most ${chunkSize} byte(s)`, () => {
      const run = conversation(chunkSize);
      expect(run.server).toEqual(reference.server);
      expect(run.client).toEqual(reference.client);
      expect(run.serverHooks).toEqual(reference.serverHooks);
      expect(run.clientHooks).toEqual(reference.clientHooks);
      expect(run.serverPoll).toEqual(reference.serverPoll);
      expect(run.clientPoll).toEqual(reference.clientPoll);
    });
  }
});

describe("feed at every split: a raw client's bytes cut at every point", () => {
  const request =
    "GET /game?room=1 HTTP/1.1\r\nHost: 127.0.0.1:7681\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: other, chat\r\n\r\n";
  const bytes = Buffer.concat([
    Buffer.from(request, "latin1"),
    clientFrame(Opcode.TEXT, "héllo"),
    clientFrame(Opcode.BINARY, Buffer.from([1, 2, 3]), false),
    clientFrame(Opcode.CONTINUATION, Buffer.from([4]), true),
    clientFrame(Opcode.CLOSE, Buffer.from([0x0f, 0xa0, 0x62, 0x79, 0x65])),
  ]);

  function feed(chunks: Buffer[]) {
    const pair = createPair();
    const { peer } = adoptRaw(pair.server);
    for (const chunk of chunks) {
      peer.send(chunk);
      pair.driver.run();
    }
    const out = peer.readAll();
    return { log: pair.serverProto.log, out, ended: peer.transport.read() === END_OF_STREAM };
  }

  const reference = feed([Buffer.from(bytes)]);

  it("serves the conversation delivered in one piece", () => {
    expect(reference.log).toEqual([
      "PROTOCOL_INIT",
      "FILTER_NETWORK_CONNECTION",
      "FILTER_PROTOCOL_CONNECTION",
      "ESTABLISHED",
      'RECEIVE text "héllo" first final',
      "RECEIVE binary[4] first final",
      'WS_PEER_INITIATED_CLOSE 4000 "bye"',
      'CLOSED 4000 "bye" clean',
    ]);
    expect(reference.out.toString("latin1")).toMatch(/^HTTP\/1\.1 101 Switching Protocols\r\n/);
    expect([...reference.out.subarray(-4)]).toEqual([0x88, 2, 0x0f, 0xa0]);
    expect(reference.ended).toBe(true);
  });

  it("gives the same callbacks and the same answer at every split point and byte by byte", () => {
    let runs = 0;
    for (const { label, chunks } of splitPoints(bytes)) {
      const run = feed(chunks);
      expect(run.log, label).toEqual(reference.log);
      expect(run.out.toString("hex"), label).toBe(reference.out.toString("hex"));
      expect(run.ended, label).toBe(true);
      runs++;
    }
    expect(runs).toBe(bytes.length + 1);
  });
});
