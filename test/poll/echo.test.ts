import { describe, expect, it } from "vitest";
import { POLLIN, POLLOUT } from "../../src/poll/index.js";
import { Outbox, establishedPair, mode } from "./harness.js";

const IN = POLLIN;
const INOUT = POLLIN | POLLOUT;

function echoPair() {
  const serverOut = new Outbox();
  const clientOut = new Outbox();
  const pair = establishedPair({
    serverHandlers: {
      RECEIVE: (e) => serverOut.send(e.connection, Buffer.from(e.data), e.binary ? "binary" : "text"),
      SERVER_WRITEABLE: serverOut.onWriteable,
    },
    clientHandlers: { CLIENT_WRITEABLE: clientOut.onWriteable },
  });
  return { ...pair, serverOut, clientOut };
}

describe("echo", () => {
  it("echoes a text message: POLLOUT is asked for only while a WRITEABLE is wanted", () => {
    const t = echoPair();
    t.clientOut.send(t.clientConn, "hello");
    t.expectClientHooks([mode(4, INOUT, IN)]); // requestWriteable outside service: at once

    t.driver.step();
    expect(t.clientProto.take()).toEqual(["CLIENT_WRITEABLE"]);
    t.expectClientHooks([mode(4, IN, INOUT)]);

    t.driver.run();
    expect(t.serverProto.take()).toEqual(['RECEIVE text "hello" first final', "SERVER_WRITEABLE"]);
    t.expectServerHooks([mode(4, INOUT, IN), mode(4, IN, INOUT)]);
    expect(t.clientProto.take()).toEqual(['CLIENT_RECEIVE text "hello" first final']);
    t.expectClientHooks([]);
  });

  it("echoes a binary message byte for byte", () => {
    const t = echoPair();
    const payload = Buffer.from(Array.from({ length: 300 }, (_, i) => i & 0xff));
    let echoed: Buffer | null = null;
    t.clientProto.handlers.CLIENT_RECEIVE = (e) => {
      echoed = Buffer.from(e.data);
      expect(e.binary).toBe(true);
    };
    t.clientOut.send(t.clientConn, payload);
    t.driver.run();
    expect(echoed).toEqual(payload);
    expect(t.serverProto.take()).toEqual(["RECEIVE binary[300] first final", "SERVER_WRITEABLE"]);
    t.expectClientHooks([mode(4, INOUT, IN), mode(4, IN, INOUT)]);
    t.expectServerHooks([mode(4, INOUT, IN), mode(4, IN, INOUT)]);
  });

  it("sends a string as text and bytes as binary unless the kind says otherwise", () => {
    const t = echoPair();
    t.clientOut.send(t.clientConn, Buffer.from("as text"), "text");
    t.clientOut.send(t.clientConn, "as binary", "binary");
    t.clientOut.send(t.clientConn, "");
    t.driver.run();
    expect(t.serverProto.take().filter((l) => l.startsWith("RECEIVE"))).toEqual([
      'RECEIVE text "as text" first final',
      "RECEIVE binary[9] first final",
      'RECEIVE text "" first final',
    ]);
  });

  it("keeps many messages in order, one write per WRITEABLE, with one POLLOUT episode per side", () => {
    const t = echoPair();
    const sent = Array.from({ length: 20 }, (_, i) => `message ${i}`);
    for (const m of sent) t.clientOut.send(t.clientConn, m);
    t.driver.run();
    const received = t.clientProto.take().filter((l) => l.startsWith("CLIENT_RECEIVE"));
    expect(received).toEqual(sent.map((m) => `CLIENT_RECEIVE text ${JSON.stringify(m)} first final`));
    // The client keeps asking from inside each WRITEABLE: POLLOUT stays on until the queue is empty.
    t.expectClientHooks([mode(4, INOUT, IN), mode(4, IN, INOUT)]);
  });

  it("asks for WRITEABLE on every connection of a protocol with requestWriteableAll", () => {
    const t = echoPair();
    const second = t.connect();
    t.driver.run();
    t.serverProto.take();
    t.serverHooks();
    t.serverProto.takePoll();
    const writeable: number[] = [];
    t.serverProto.handlers.SERVER_WRITEABLE = (e) => void writeable.push(e.connection.fd);
    expect(t.server.requestWriteableAll("chat")).toBe(2);
    expect(t.server.requestWriteableAll("nobody")).toBe(0);
    t.expectServerHooks([mode(4, INOUT, IN), mode(5, INOUT, IN)]);
    t.driver.run();
    expect(writeable.sort()).toEqual([4, 5]);
    t.expectServerHooks([mode(4, IN, INOUT), mode(5, IN, INOUT)]);
    expect(second.state).toBe("established");
  });
});
