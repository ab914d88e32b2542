import { describe, expect, it } from "vitest";
import { ManualDriver } from "../../src/loops/manual/index.js";
import { POLLIN, POLLOUT, createMemoryPair, type Transport } from "../../src/poll/index.js";
import { SERVER_ADDRESS, SERVER_PORT, add, createPair, del, expectHooks, mode, rawServerClient, recording } from "./harness.js";

const IN = POLLIN;

describe("client connect failures", () => {
  it("reports a refused dial as CLIENT_CONNECTION_ERROR from the next service, never from inside connect()", () => {
    const driver = new ManualDriver();
    const proto = recording("chat");
    const client = driver.createContext({ vhosts: [{ protocols: [proto.protocol] }] });
    proto.take();
    const connection = client.connect({ address: SERVER_ADDRESS, port: 1 }); // nothing listens there
    expect(proto.take()).toEqual([]);
    driver.run();
    expect(proto.take()).toEqual(["CLIENT_CONNECTION_ERROR connection refused: nothing listens on 127.0.0.1:1"]);
    expect(connection.state).toBe("closed");
    expectHooks(driver, client, proto, [add(3, IN), add(4, POLLOUT), del(4)]);
  });

  it("reports a dialer that throws as CLIENT_CONNECTION_ERROR from the next service, with balanced hook calls", () => {
    const driver = new ManualDriver();
    const proto = recording("chat");
    const client = driver.createContext({
      vhosts: [{ protocols: [proto.protocol] }],
      dialer: () => {
        throw new Error("no route to host");
      },
    });
    proto.take();
    driver.takeHookLog(client);
    proto.takePoll();
    const connection = client.connect({ address: "10.0.0.1", port: 80 });
    expect(proto.take()).toEqual([]);
    expect(client.adjustTimeout(1000)).toBe(0); // the error is pending work
    driver.run();
    expect(proto.take()).toEqual(["CLIENT_CONNECTION_ERROR no route to host"]);
    expect(connection.state).toBe("closed");
    expect(client.connectionCount).toBe(0);
    // The descriptor is announced like any other, so its del has an add to match.
    expectHooks(driver, client, proto, [add(4, POLLOUT), del(4)]);
  });

  it("with a dialer that connects at once, still runs no callback inside connect()", () => {
    const driver = new ManualDriver();
    const proto = recording("chat");
    const peers: Transport[] = [];
    const client = driver.createContext({
      vhosts: [{ protocols: [proto.protocol] }],
      dialer: () => {
        const { a, b } = createMemoryPair();
        peers.push(b);
        return a;
      },
    });
    proto.take();
    driver.takeHookLog(client);
    proto.takePoll();
    client.connect({ address: SERVER_ADDRESS, port: SERVER_PORT });
    expect(proto.take()).toEqual([]);
    driver.run();
    expect(proto.take()).toEqual(["CLIENT_APPEND_HANDSHAKE_HEADER"]);
    expect(peers[0]!.read()?.toString()).toMatch(/^GET \/ HTTP\/1\.1\r\n/);
    // The same descriptor story as a connect that completes later.
    expectHooks(driver, client, proto, [add(4, POLLOUT), mode(4, IN, POLLOUT)]);
  });

  it("fails with CLIENT_CONNECTION_ERROR when a connect that was pending fails", () => {
    const t = rawServerClient();
    const connection = t.connect();
    t.servers[0]!.clientEnd.fail(new Error("ECONNREFUSED"));
    t.driver.run();
    expect(connection.state).toBe("closed");
    expect(t.proto.take()).toEqual(["PROTOCOL_INIT", "CLIENT_CONNECTION_ERROR ECONNREFUSED"]);
    t.expectHooks([add(3, IN), add(4, POLLOUT), del(4)]);
  });

  it("fails with CLIENT_CONNECTION_ERROR when the server hangs up during the handshake", () => {
    const t = rawServerClient();
    const connection = t.connect();
    t.servers[0]!.clientEnd.completeConnect();
    t.driver.run();
    t.servers[0]!.transport.destroy();
    t.driver.run();
    expect(connection.state).toBe("closed");
    expect(t.proto.take().at(-1)).toMatch(/^CLIENT_CONNECTION_ERROR .*during the opening handshake$/);
  });

  it("fails with CLIENT_CONNECTION_ERROR when CLIENT_FILTER_PRE_ESTABLISH refuses the answer", () => {
    const t = createPair({ clientHandlers: { CLIENT_FILTER_PRE_ESTABLISH: () => -1 } });
    const connection = t.connect();
    t.driver.run();
    expect(connection.state).toBe("closed");
    expect(t.clientProto.take().at(-1)).toMatch(/^CLIENT_CONNECTION_ERROR .*CLIENT_FILTER_PRE_ESTABLISH/);
    // The server saw an upgraded connection go away without a close handshake.
    expect(t.serverProto.take().at(-1)).toMatch(/^CLOSED 1006 /);
  });

  it("starts the handshake timeout afresh once connected, even when it is disabled (0 = no handshake timeout)", () => {
    const t = rawServerClient({ timeouts: { connectMs: 1_000, handshakeMs: 0 } });
    const connection = t.connect();
    t.driver.advance(500);
    t.servers[0]!.clientEnd.completeConnect();
    t.driver.run();
    expect(connection.state).toBe("handshake");
    // The connect deadline (1 s) must not outlive the connect.
    t.driver.advance(60_000);
    expect(connection.state).toBe("handshake");
    t.expectHooks([add(3, IN), add(4, POLLOUT), mode(4, IN, POLLOUT)]);
  });
});
