import { describe, expect, it } from "vitest";
import { ManualDriver } from "../../src/loops/manual/index.js";
import { POLLIN, POLLOUT, type CallbackEvent } from "../../src/poll/index.js";
import { SERVER_ADDRESS, SERVER_PORT, add, createPair, del, expectHooks, mode, recording } from "./harness.js";

describe("opening handshake", () => {
  it("announces each context's wake-up descriptor through the add hook when the context is made", () => {
    const pair = createPair();
    pair.expectServerHooks([add(3, POLLIN)]);
    pair.expectClientHooks([add(3, POLLIN)]);
    expect(pair.server.wakeFd).toBe(3);
    expect(pair.serverProto.take()).toEqual(["PROTOCOL_INIT"]);
    expect(pair.clientProto.take()).toEqual(["PROTOCOL_INIT"]);
  });

  it("polls a connecting client for POLLOUT, then for POLLIN once the request is out; the server polls its accepted connection for POLLIN", () => {
    const pair = createPair();
    pair.serverHooks();
    pair.clientHooks();
    pair.serverProto.takePoll();
    pair.clientProto.takePoll();
    pair.serverProto.take();
    pair.clientProto.take();

    const connection = pair.connect();
    expect(connection.state).toBe("connecting");
    expect(pair.clientProto.take()).toEqual([]); // nothing happens inside connect()
    pair.expectClientHooks([add(4, POLLOUT)]);

    pair.driver.step(); // the connect completes; the server accepts; the client sends its request
    pair.expectServerHooks([add(4, POLLIN)]);
    pair.expectClientHooks([mode(4, POLLIN, POLLOUT)]);
    expect(pair.serverProto.take()).toEqual(["FILTER_NETWORK_CONNECTION"]);
    expect(pair.clientProto.take()).toEqual(["CLIENT_APPEND_HANDSHAKE_HEADER"]);
    expect(connection.state).toBe("handshake");

    pair.driver.run();
    expect(pair.serverProto.take()).toEqual(["FILTER_PROTOCOL_CONNECTION", "ESTABLISHED"]);
    expect(pair.clientProto.take()).toEqual(["CLIENT_FILTER_PRE_ESTABLISH", "CLIENT_ESTABLISHED"]);
    pair.expectServerHooks([]);
    pair.expectClientHooks([]);
    expect(connection.state).toBe("established");
    expect(pair.serverProto.established[0]!.state).toBe("established");
    expect(pair.driver.pollfds(pair.server)).toEqual([
      { fd: 3, events: POLLIN, revents: 0 },
      { fd: 4, events: POLLIN, revents: 0 },
    ]);
  });

  it("tells FILTER_NETWORK_CONNECTION the peer's address before any byte is read", () => {
    const seen: unknown[] = [];
    const pair = createPair({
      serverHandlers: {
        FILTER_NETWORK_CONNECTION: (e) => {
          seen.push(e.peer);
          seen.push(e.connection.headers);
        },
      },
    });
    pair.connect();
    pair.driver.step();
    expect(seen).toEqual([{ address: "127.0.0.1", port: expect.any(Number), family: "memory" }, null]);
  });

  it("lets the protocol read the request headers until ESTABLISHED returns, then drops them", () => {
    const headers: Record<string, unknown> = {};
    const pair = createPair({
      clientHandlers: { CLIENT_APPEND_HANDSHAKE_HEADER: (e) => e.addHeader("X-Player", "7") },
      serverHandlers: {
        FILTER_PROTOCOL_CONNECTION: (e) => {
          headers.filterPath = e.path;
          headers.filterPlayer = e.headers.get("x-player");
        },
        ESTABLISHED: (e) => {
          headers.established = e.connection.headers?.get("x-player");
        },
      },
    });
    pair.connect();
    pair.driver.run();
    expect(headers).toEqual({ filterPath: "/", filterPlayer: "7", established: "7" });
    expect(pair.serverProto.established[0]!.headers).toBeNull();
  });

  it("binds both ends to the agreed subprotocol and shows the client the 101 in CLIENT_FILTER_PRE_ESTABLISH", () => {
    let status = 0;
    const pair = createPair({ clientHandlers: { CLIENT_FILTER_PRE_ESTABLISH: (e) => void (status = e.status) } });
    const client = pair.connect();
    pair.driver.run();
    const server = pair.serverProto.established[0]!;
    expect(status).toBe(101);
    expect(server.subprotocol).toBe("chat");
    expect(client.subprotocol).toBe("chat");
    expect(server.protocol.name).toBe("chat");
  });

  it("makes the per-connection user data once, when the handshake binds the protocol, before FILTER_PROTOCOL_CONNECTION", () => {
    const driver = new ManualDriver();
    const lines: string[] = [];
    let made = 0;
    const server = driver.createContext({
      vhosts: [
        {
          protocols: [
            {
              name: "chat",
              createUserData: () => ({ n: ++made }),
              callback: (e: CallbackEvent<{ n: number }>) => {
                if ("connection" in e) lines.push(`${e.reason} ${JSON.stringify(e.connection.userData) ?? "undefined"}`);
              },
            },
          ],
        },
      ],
    });
    const client = driver.createContext({ vhosts: [{ protocols: [{ name: "chat", callback: () => {} }] }] });
    driver.network.listen(SERVER_ADDRESS, SERVER_PORT, server);
    client.connect({ address: SERVER_ADDRESS, port: SERVER_PORT, protocols: ["chat"] });
    driver.run();
    // FILTER_NETWORK_CONNECTION runs before the handshake settles the protocol (lws passes
    // no user data there either).
    expect(lines).toEqual(["FILTER_NETWORK_CONNECTION undefined", 'FILTER_PROTOCOL_CONNECTION {"n":1}', 'ESTABLISHED {"n":1}']);
    expect(made).toBe(1);
  });
});

describe("handshake refusals", () => {
  it("answers 400 to a subprotocol no protocol has, and the client's CLIENT_CONNECTION_ERROR names the status", () => {
    let cause = "";
    let status: unknown;
    const pair = createPair({
      clientHandlers: {
        CLIENT_CONNECTION_ERROR: (e) => {
          cause = e.cause;
          status = (e.error as Error & { status?: number }).status;
        },
      },
    });
    pair.serverHooks();
    pair.serverProto.takePoll();
    pair.clientHooks();
    pair.clientProto.takePoll();
    const connection = pair.connect(["nope"]);
    pair.driver.run();
    expect(pair.serverProto.take()).toEqual(["PROTOCOL_INIT", "FILTER_NETWORK_CONNECTION"]);
    expect(pair.clientProto.take()).toEqual(["PROTOCOL_INIT", "CLIENT_APPEND_HANDSHAKE_HEADER", `CLIENT_CONNECTION_ERROR ${cause}`]);
    expect(cause).toMatch(/\b400\b/);
    expect(status).toBe(400);
    expect(connection.state).toBe("closed");
    pair.expectServerHooks([add(4, POLLIN), del(4)]);
    pair.expectClientHooks([add(4, POLLOUT), mode(4, POLLIN, POLLOUT), del(4)]);
    expect(pair.server.connectionCount).toBe(0);
    expect(pair.client.connectionCount).toBe(0);
  });

  it("delivers the whole refusal through a 16-byte pipe before ending the connection", () => {
    let cause = "";
    const pair = createPair({ pipe: { capacity: 16 }, clientHandlers: { CLIENT_CONNECTION_ERROR: (e) => void (cause = e.cause) } });
    pair.connect(["nope"]);
    pair.driver.run();
    expect(cause).toBe("server answered 400 Bad Request instead of 101");
    expect(pair.server.connectionCount).toBe(0);
  });

  it("answers 403 when FILTER_PROTOCOL_CONNECTION returns -1, and never tells the server's protocol ESTABLISHED or CLOSED", () => {
    let cause = "";
    const pair = createPair({
      serverHandlers: { FILTER_PROTOCOL_CONNECTION: () => -1 },
      clientHandlers: { CLIENT_CONNECTION_ERROR: (e) => void (cause = e.cause) },
    });
    pair.serverHooks();
    pair.serverProto.takePoll();
    pair.clientHooks();
    pair.clientProto.takePoll();
    pair.connect();
    pair.driver.run();
    expect(pair.serverProto.take()).toEqual(["PROTOCOL_INIT", "FILTER_NETWORK_CONNECTION", "FILTER_PROTOCOL_CONNECTION"]);
    expect(cause).toMatch(/\b403\b/);
    pair.expectServerHooks([add(4, POLLIN), del(4)]);
    pair.expectClientHooks([add(4, POLLOUT), mode(4, POLLIN, POLLOUT), del(4)]);
  });

  it("destroys the transport when FILTER_NETWORK_CONNECTION returns -1: no descriptor, no further events", () => {
    let cause = "";
    const pair = createPair({
      serverHandlers: { FILTER_NETWORK_CONNECTION: () => -1 },
      clientHandlers: { CLIENT_CONNECTION_ERROR: (e) => void (cause = e.cause) },
    });
    pair.serverHooks();
    pair.serverProto.takePoll();
    pair.clientHooks();
    pair.clientProto.takePoll();
    pair.connect();
    pair.driver.run();
    pair.driver.advance(60_000);
    expect(pair.serverProto.take()).toEqual(["PROTOCOL_INIT", "FILTER_NETWORK_CONNECTION"]);
    expect(pair.driver.network.accepted[0]!.isDestroyed).toBe(true);
    expect(cause).not.toBe("");
    pair.expectServerHooks([]);
    pair.expectClientHooks([add(4, POLLOUT), del(4)]);
    expect(pair.server.connectionCount).toBe(0);
  });

  it("reuses the descriptor of a refused connection for the next one", () => {
    let refuse = true;
    const pair = createPair({ serverHandlers: { FILTER_NETWORK_CONNECTION: () => (refuse ? -1 : 0) } });
    pair.serverHooks();
    pair.serverProto.takePoll();
    pair.connect();
    pair.driver.run();
    refuse = false;
    pair.connect();
    pair.driver.run();
    pair.expectServerHooks([add(4, POLLIN)]);
  });
});

describe("default protocol", () => {
  function build() {
    const driver = new ManualDriver();
    const first = recording("first");
    const fallback = recording("fallback");
    const server = driver.createContext({ vhosts: [{ protocols: [first.protocol, fallback.protocol], defaultProtocol: "fallback" }] });
    const clientProto = recording("client");
    const client = driver.createContext({ vhosts: [{ protocols: [clientProto.protocol] }] });
    driver.network.listen(SERVER_ADDRESS, SERVER_PORT, server);
    return { driver, server, client, first, fallback, clientProto };
  }

  it("binds a connection that asks for no subprotocol to the vhost's default protocol, and answers without one", () => {
    const t = build();
    const connection = t.client.connect({ address: SERVER_ADDRESS, port: SERVER_PORT });
    t.driver.run();
    expect(t.fallback.take()).toEqual(["PROTOCOL_INIT", "FILTER_PROTOCOL_CONNECTION", "ESTABLISHED"]);
    const server = t.fallback.established[0]!;
    expect(server.protocol.name).toBe("fallback");
    expect(server.subprotocol).toBeNull();
    expect(connection.subprotocol).toBeNull();
    expect(t.clientProto.log).toContain("CLIENT_ESTABLISHED");
    // lws's protocols[0] still hears the network filter and the poll callbacks.
    expect(t.first.take()).toEqual(["PROTOCOL_INIT", "FILTER_NETWORK_CONNECTION"]);
    expectHooks(t.driver, t.server, t.first, [add(3, POLLIN), add(4, POLLIN)]);
    expect(t.fallback.takePoll()).toEqual([]);
  });

  it("binds a connection that asks for a subprotocol the vhost has to that protocol, not the default", () => {
    const t = build();
    t.client.connect({ address: SERVER_ADDRESS, port: SERVER_PORT, protocols: ["first"] });
    t.driver.run();
    expect(t.first.established).toHaveLength(1);
    expect(t.first.established[0]!.subprotocol).toBe("first");
    expect(t.fallback.established).toHaveLength(0);
  });
});
