/**
 * RAW connections: the vhost's raw fallback (first bytes that cannot start an HTTP
 * request), adoption as raw, and raw client connections (method "RAW").
 */
import { describe, expect, it } from "vitest";
import { ManualDriver } from "../../src/loops/manual/index.js";
import { createMemoryPair, type Connection } from "../../src/poll/index.js";
import { recording, RawPeer } from "../poll/harness.js";
import { httpServer } from "./harness.js";
import { request } from "./wire.js";

/** A telnet-style echo: RAW_RX queues, RAW_WRITEABLE writes it back. */
function echo(name = "telnet") {
  const queue = new Map<Connection, Buffer[]>();
  return recording(name, {
    RAW_RX: (e) => {
      const q = queue.get(e.connection) ?? [];
      q.push(Buffer.from(e.data));
      queue.set(e.connection, q);
      e.connection.requestWriteable();
    },
    RAW_WRITEABLE: (e) => {
      const q = queue.get(e.connection)!;
      e.connection.write(Buffer.concat(q.splice(0)));
    },
  });
}

function rawFallbackServer() {
  const telnet = echo();
  const s = httpServer({ protocols: [telnet.protocol], vhost: { rawFallbackProtocol: "telnet" }, handlers: { HTTP: (e) => e.connection.respond(200, {}, "http") } });
  return { s, telnet };
}

describe("raw fallback", () => {
  it("a telnet user typing text gets a RAW connection on the configured protocol: RAW_ADOPT, RAW_RX, echo, RAW_CLOSE", () => {
    const { s, telnet } = rawFallbackServer();
    const peer = s.open();
    peer.send("hello\r\n");
    expect(peer.text()).toBe("hello\r\n");
    peer.send("more");
    expect(peer.text()).toBe("hello\r\nmore");
    expect([...s.context.connections][0]!.state).toBe("raw");
    peer.end();
    expect(telnet.take()).toEqual(["PROTOCOL_INIT", "RAW_ADOPT", "RAW_RX", "RAW_WRITEABLE", "RAW_RX", "RAW_WRITEABLE", "RAW_CLOSE"]);
    expect(s.context.connectionCount).toBe(0);
  });

  it("decides from as few bytes as it takes, split anywhere: a method prefix waits, the first impossible byte decides", () => {
    const { s, telnet } = rawFallbackServer();
    const peer = s.open();
    peer.send("G", "E");
    expect(telnet.take()).toEqual(["PROTOCOL_INIT"]);
    peer.send("x");
    expect(telnet.take()).toEqual(["RAW_ADOPT", "RAW_RX", "RAW_WRITEABLE"]);
    expect(peer.text()).toBe("GEx");
  });

  it("HTTP requests split anywhere are still HTTP", () => {
    for (const cut of [1, 2, 3, 4, 5, 9]) {
      const { s } = rawFallbackServer();
      const peer = s.open();
      const bytes = request("GET", "/");
      peer.send(bytes.subarray(0, cut), bytes.subarray(cut));
      expect(peer.response().body.toString(), `cut at ${cut}`).toBe("http");
    }
  });

  it("a lower-case method is not HTTP; without the option such bytes are a 400", () => {
    const { s } = rawFallbackServer();
    const peer = s.open();
    peer.send("get / HTTP/1.1\r\n\r\n");
    expect([...s.context.connections][0]!.state).toBe("raw");
    const plain = httpServer().open();
    plain.send("hello\r\n\r\n");
    expect(plain.response().status).toBe(400);
  });

  it("rx flow control holds a RAW connection back; close() ends it after what was written", () => {
    let conn: Connection | null = null;
    const raw = recording("raw", {
      RAW_ADOPT: (e) => void (conn = e.connection),
      RAW_RX: (e) => e.connection.setRxFlowControl(false),
    });
    const s = httpServer({ protocols: [raw.protocol], vhost: { rawFallbackProtocol: "raw" } });
    const peer = s.open();
    peer.send("xyz");
    peer.send("more");
    expect(raw.take().filter((l) => l === "RAW_RX")).toHaveLength(1);
    conn!.setRxFlowControl(true);
    s.driver.run();
    expect(raw.take().filter((l) => l === "RAW_RX")).toHaveLength(1);
    conn!.close();
    expect(peer.sawEnd).toBe(true);
    expect(raw.take()).toEqual(["RAW_CLOSE"]);
  });
});

describe("raw adoption and raw clients", () => {
  it("adopts a transport as RAW (lws_adopt_descriptor_vhost): RAW_ADOPT at once, no HTTP at all", () => {
    const telnet = echo();
    const driver = new ManualDriver();
    const context = driver.createContext({ vhosts: [{ protocols: [recording("http").protocol, telnet.protocol] }] });
    const { a, b } = createMemoryPair();
    const conn = context.adopt(b, { rawProtocol: "telnet" })!;
    expect(conn.state).toBe("raw");
    expect(telnet.take()).toEqual(["PROTOCOL_INIT", "RAW_ADOPT"]);
    const peer = new RawPeer(a);
    peer.send("GET / HTTP/1.1\r\n\r\n");
    driver.run();
    expect(peer.readAll().toString()).toBe("GET / HTTP/1.1\r\n\r\n");
    expect(() => context.adopt(createMemoryPair().b, { rawProtocol: "nope" })).toThrow(/no protocol "nope"/);
  });

  it("a client with method RAW (or a raw:// URL) talks to a raw server: RAW_ADOPT once connected, then bytes both ways", () => {
    const driver = new ManualDriver();
    const telnet = echo();
    const server = driver.createContext({ vhosts: [{ protocols: [recording("http").protocol, telnet.protocol], rawFallbackProtocol: "telnet" }] });
    driver.network.listen("10.0.0.2", 23, server);
    let client: Connection | null = null;
    const got: string[] = [];
    const me = recording("me", {
      RAW_ADOPT: (e) => void e.connection.requestWriteable(),
      RAW_WRITEABLE: (e) => e.connection.write("ping\n"),
      RAW_RX: (e) => void got.push(e.data.toString()),
    });
    const context = driver.createContext({ vhosts: [{ protocols: [me.protocol] }] });
    client = context.connect({ url: "raw://10.0.0.2:23" });
    expect(client.state).toBe("connecting");
    driver.run();
    expect(got).toEqual(["ping\n"]);
    expect(me.take()).toEqual(["PROTOCOL_INIT", "RAW_ADOPT", "RAW_WRITEABLE", "RAW_RX"]);
    client.close();
    driver.run();
    expect(me.take()).toEqual(["RAW_CLOSE"]);
    expect(telnet.take().at(-1)).toBe("RAW_CLOSE");
    const failed = context.connect({ address: "10.9.9.9", port: 1, method: "RAW" });
    driver.run();
    expect(failed.state).toBe("closed");
    expect(me.take()[0]).toMatch(/^CLIENT_CONNECTION_ERROR connection refused/);
  });
});
