import { describe, expect, it } from "vitest";
import { permessageDeflate } from "../../src/core/deflate/negotiator.js";
import { Outbox, establishedPair } from "./harness.js";

function pair(server: Record<string, unknown> = {}, client: Record<string, unknown> = {}) {
  const serverOut = new Outbox();
  const clientOut = new Outbox();
  const got: Buffer[] = [];
  const p = establishedPair({
    serverProtocol: { extensions: [permessageDeflate()], delivery: "fragment", ...server },
    clientProtocol: { extensions: [permessageDeflate()], ...client },
    serverHandlers: {
      RECEIVE: (e) => void got.push(Buffer.from(e.data)),
      SERVER_WRITEABLE: serverOut.onWriteable,
    },
    clientHandlers: { CLIENT_WRITEABLE: clientOut.onWriteable },
  });
  return { ...p, serverOut, clientOut, got };
}

describe("permessage-deflate through the context", () => {
  it("negotiates, and a big message is inflated one chunk per service pass", () => {
    const t = pair();
    expect(t.serverConn.extensions.map((e) => e.name)).toEqual(["permessage-deflate"]);
    expect(t.clientConn.extensions.map((e) => e.name)).toEqual(["permessage-deflate"]);
    const big = Buffer.alloc(2 * 1024 * 1024, "abcdefgh");
    t.clientOut.send(t.clientConn, big);
    let steps = 0;
    while (t.driver.step() > 0) steps++;
    expect(Buffer.concat(t.got).equals(big)).toBe(true);
    expect(t.got.every((b) => b.length <= 65536)).toBe(true);
    expect(t.got.length).toBeGreaterThanOrEqual(32);
    expect(steps).toBeGreaterThanOrEqual(32);
  });

  it("a zip bomb closes with 1009 at the limit", () => {
    const t = pair({ maxMessageSize: 1024 * 1024 });
    t.clientOut.send(t.clientConn, Buffer.alloc(16 * 1024 * 1024), "binary", undefined);
    t.driver.run();
    const closed = t.serverProto.take().filter((l) => l.startsWith("CLOSED"));
    expect(closed.join()).toContain("1009");
    expect(t.got.reduce((n, b) => n + b.length, 0)).toBeLessThanOrEqual(1024 * 1024);
  });

  it("rx flow control in the middle of an inflation backlog", () => {
    const t = pair();
    const big = Buffer.alloc(1024 * 1024, "xyz");
    let n = 0;
    t.serverProto.handlers.RECEIVE = (e) => {
      t.got.push(Buffer.from(e.data));
      if (++n === 3) e.connection.setRxFlowControl(false);
    };
    t.clientOut.send(t.clientConn, big);
    t.driver.run();
    expect(n).toBe(3);
    t.serverConn.setRxFlowControl(true);
    t.driver.run();
    expect(Buffer.concat(t.got).equals(big)).toBe(true);
  });

  it("compress: false on a write", () => {
    const t = pair();
    t.clientConn.requestWriteable();
    t.clientProto.handlers.CLIENT_WRITEABLE = (e) => e.connection.write("hello hello hello", "text", { compress: false });
    t.driver.run();
    expect(t.got.map(String)).toEqual(["hello hello hello"]);
  });
});
