import { describe, expect, it } from "vitest";
import { ManualDriver } from "../../src/loops/manual/index.js";
import { Opcode, WsloopUsageError } from "../../src/core/index.js";
import { Context, POLLIN, POLLOUT, VirtualClock, createMemoryPair, type PollFd, type Pollable } from "../../src/poll/index.js";
import { RawPeer, add, del, establishedPair, expectHooks, recording } from "./harness.js";

describe("context lifecycle", () => {
  it("destroy() ends every connection with 1006, deletes every descriptor (the wake-up source too) and tells PROTOCOL_DESTROY", () => {
    const t = establishedPair();
    const second = t.connect();
    t.driver.run();
    t.serverProto.take();
    t.serverHooks();
    t.serverProto.takePoll();
    expect(t.server.connectionCount).toBe(2);

    t.server.destroy();
    expect(t.server.isDestroyed).toBe(true);
    expect(t.serverProto.take()).toEqual([
      'CLOSED 1006 "context destroyed" unclean',
      'CLOSED 1006 "context destroyed" unclean',
      "PROTOCOL_DESTROY",
    ]);
    t.expectServerHooks([del(4), del(5), del(3)]);
    expect(t.server.connectionCount).toBe(0);
    expect(t.driver.pollfds(t.server)).toEqual([]);

    // The clients see their peer go.
    t.driver.run();
    expect(t.clientConn.state).toBe("closed");
    expect(second.state).toBe("closed");
    t.server.destroy(); // twice is harmless
    expect(t.serverProto.take()).toEqual([]);
  });

  it("refuses new connections once destroyed, as a usage error", () => {
    const t = establishedPair();
    t.server.destroy();
    expect(() => t.server.adopt(createMemoryPair().b)).toThrow(WsloopUsageError);
    expect(() => t.server.adopt(createMemoryPair().b)).toThrow(expect.objectContaining({ code: "INVALID_STATE" }));
  });

  it("counts live connections, not the wake-up source", () => {
    const t = establishedPair();
    expect(t.server.connectionCount).toBe(1);
    expect([...t.server.connections]).toEqual([t.serverConn]);
    expect(t.driver.pollfds(t.server).map((p) => p.events)).toEqual([POLLIN, POLLIN]);
  });
});

describe("poll callbacks and vhosts", () => {
  it("sends a connection's *_POLL_FD callbacks to protocol 0 of its own vhost, the wake-up source's to the first vhost", () => {
    const driver = new ManualDriver();
    const a0 = recording("a0");
    const a1 = recording("a1");
    const b0 = recording("b0");
    const context = driver.createContext({
      vhosts: [
        { name: "a", protocols: [a0.protocol, a1.protocol] },
        { name: "b", protocols: [b0.protocol] },
      ],
    });
    expect(a0.takePoll()).toEqual(["ADD_POLL_FD fd=3 events=1"]);
    expect(b0.takePoll()).toEqual([]);
    driver.takeHookLog(context);
    const { b } = createMemoryPair();
    const connection = context.adopt(b, { vhost: "b" })!;
    expect(connection.vhost.name).toBe("b");
    expectHooks(driver, context, b0, [add(4, POLLIN)]);
    expect(a0.takePoll()).toEqual([]);
    expect(a1.takePoll()).toEqual([]);
    expect(b0.take()).toEqual(["PROTOCOL_INIT", "FILTER_NETWORK_CONNECTION"]);
  });

  it("refuses an unknown vhost name as a usage error", () => {
    const t = establishedPair();
    expect(() => t.server.adopt(createMemoryPair().b, { vhost: "nope" })).toThrow(expect.objectContaining({ code: "UNKNOWN_VHOST" }));
    t.expectServerHooks([]);
  });
});

describe("a foreign loop driving the context through the hooks alone", () => {
  it("serves a conversation from serviceFd calls over its own poll set, zeroing only its descriptors' revents", () => {
    const set = new Map<number, { events: number; source: Pollable }>();
    const proto = recording("chat", {
      RECEIVE: (e) => void e.connection.requestWriteable(),
      SERVER_WRITEABLE: (e) => e.connection.write("pong"),
    });
    const clock = new VirtualClock();
    const context = new Context({
      vhosts: [{ protocols: [proto.protocol] }],
      clock,
      hooks: {
        add: (fd, events, source) => void set.set(fd, { events, source }),
        del: (fd) => void set.delete(fd),
        changeMode: (fd, events) => void (set.get(fd)!.events = events),
      },
    });
    const { a, b } = createMemoryPair();
    context.adopt(b);
    const peer = new RawPeer(a);
    peer.sendUpgrade();

    // One turn of the foreign loop: its own descriptor (1000) is ready too and must stay marked.
    const turn = (): PollFd[] => {
      const ready: PollFd[] = [{ fd: 1000, events: POLLIN, revents: POLLIN }];
      for (const [fd, { events, source }] of set) {
        const revents = source.poll() & events;
        if (revents) ready.push({ fd, events, revents });
      }
      for (const pollfd of ready) context.serviceFd(pollfd);
      if (context.adjustTimeout(1000) === 0) context.servicePending();
      return ready;
    };
    let ready = turn();
    // The wake-up descriptor (3) is ready once too: adopt() armed the handshake timeout
    // outside a service, and the context nudges the loop to ask adjustTimeout() again.
    expect(ready.map((p) => [p.fd, p.revents])).toEqual([
      [1000, POLLIN],
      [3, 0],
      [4, 0],
    ]);
    expect(peer.readAll().toString("latin1")).toMatch(/^HTTP\/1\.1 101 /);
    peer.sendFrame(Opcode.TEXT, "ping?");
    turn(); // reads the message, asks for POLLOUT
    expect(set.get(4)!.events).toBe(POLLIN | POLLOUT);
    ready = turn(); // writes
    expect(ready.map((p) => [p.fd, p.revents])).toEqual([
      [1000, POLLIN],
      [4, 0],
    ]);
    expect(set.get(4)!.events).toBe(POLLIN);
    expect([...peer.readAll()]).toEqual([0x81, 4, ...Buffer.from("pong")]);
    expect(proto.take()).toEqual([
      "PROTOCOL_INIT",
      "FILTER_NETWORK_CONNECTION",
      "FILTER_PROTOCOL_CONNECTION",
      "ESTABLISHED",
      'RECEIVE text "ping?" first final',
      "SERVER_WRITEABLE",
    ]);
    expect(proto.takePoll()).toEqual([
      "ADD_POLL_FD fd=3 events=1",
      "ADD_POLL_FD fd=4 events=1",
      "CHANGE_MODE_POLL_FD fd=4 events=5 prev=1",
      "CHANGE_MODE_POLL_FD fd=4 events=1 prev=5",
    ]);
  });
});
