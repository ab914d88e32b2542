import { describe, expect, it } from "vitest";
import { WsloopUsageError } from "../../src/core/index.js";
import { POLLIN, POLLOUT, type Connection } from "../../src/poll/index.js";
import { Outbox, createPair, del, establishedPair, mode } from "./harness.js";

const IN = POLLIN;
const INOUT = POLLIN | POLLOUT;

function usageCode(fn: () => void): string {
  try {
    fn();
  } catch (error) {
    if (error instanceof WsloopUsageError) return error.code;
    throw error;
  }
  return "no error";
}

describe("a callback that throws", () => {
  it("closes that connection with 1011, logs the error, and the context keeps serving the others", () => {
    const serverOut = new Outbox();
    const clientOut = new Outbox();
    const pair = createPair({
      serverHandlers: {
        RECEIVE: (e) => {
          if (e.data.toString() === "boom") throw new Error("handler exploded");
          serverOut.send(e.connection, Buffer.from(e.data), "text");
        },
        SERVER_WRITEABLE: serverOut.onWriteable,
      },
      clientHandlers: { CLIENT_WRITEABLE: clientOut.onWriteable },
    });
    const victim = pair.connect();
    const bystander = pair.connect();
    pair.driver.run();
    pair.serverProto.take();
    pair.clientProto.take();
    pair.serverHooks();
    pair.serverProto.takePoll();

    clientOut.send(victim, "boom");
    clientOut.send(bystander, "hello");
    pair.driver.run();

    const errors = pair.serverLogs.filter((l) => l.level === "err");
    expect(errors).toHaveLength(1);
    expect(errors[0]!.message).toMatch(/callback threw on RECEIVE/);
    expect(errors[0]!.message).toMatch(/handler exploded/);
    const serverLines = pair.serverProto.take();
    expect(serverLines).toContain('CLOSED 1011 "" clean');
    expect(serverLines.filter((l) => l.startsWith("CLOSED"))).toHaveLength(1);
    const clientLines = pair.clientProto.take();
    expect(clientLines).toContain('WS_PEER_INITIATED_CLOSE 1011 "internal error"');
    expect(clientLines).toContain('CLIENT_CLOSED 1011 "internal error" clean');
    expect(clientLines).toContain('CLIENT_RECEIVE text "hello" first final');
    expect(victim.state).toBe("closed");
    expect(bystander.state).toBe("established");
    expect(pair.server.connectionCount).toBe(1);
    // The bystander still works afterwards.
    clientOut.send(bystander, "still there?");
    pair.driver.run();
    expect(pair.clientProto.take()).toContain('CLIENT_RECEIVE text "still there?" first final');
  });

  it("closes with 1011 when SERVER_WRITEABLE throws (a usage error left uncaught counts too)", () => {
    const t = establishedPair({
      serverHandlers: {
        SERVER_WRITEABLE: (e) => {
          e.connection.write("one");
          e.connection.write("two"); // SECOND_WRITE_IN_WRITEABLE, not caught
        },
      },
    });
    t.serverConn.requestWriteable();
    t.driver.run();
    expect(t.serverLogs.filter((l) => l.level === "err").map((l) => l.message)).toEqual([
      expect.stringMatching(/SERVER_WRITEABLE[\s\S]*only one write per WRITEABLE/),
    ]);
    // The first write went out before the close.
    expect(t.clientProto.take()).toEqual([
      'CLIENT_RECEIVE text "one" first final',
      'WS_PEER_INITIATED_CLOSE 1011 "internal error"',
      'CLIENT_CLOSED 1011 "internal error" clean',
    ]);
  });

  it("refuses the connection when FILTER_NETWORK_CONNECTION throws", () => {
    const t = createPair({
      serverHandlers: {
        FILTER_NETWORK_CONNECTION: () => {
          throw new Error("filter bug");
        },
      },
    });
    const connection = t.connect();
    t.driver.run();
    expect(connection.state).toBe("closed");
    expect(t.driver.network.accepted[0]!.isDestroyed).toBe(true);
    expect(t.serverLogs.some((l) => l.level === "err" && /filter bug/.test(l.message))).toBe(true);
  });

  it("logs a throw from CLOSED and nothing else happens", () => {
    const t = establishedPair({
      serverHandlers: {
        CLOSED: () => {
          throw new Error("cleanup bug");
        },
      },
    });
    t.clientConn.close(1000);
    t.driver.run();
    expect(t.serverProto.take()).toEqual(['WS_PEER_INITIATED_CLOSE 1000 ""', 'CLOSED 1000 "" clean']);
    expect(t.serverLogs.filter((l) => l.level === "err")).toHaveLength(1);
    expect(t.server.connectionCount).toBe(0);
  });

  it("logs a throw from a context event and still tells the other protocols", () => {
    const t = createPair({
      serverHandlers: {
        EVENT_WAIT_CANCELLED: () => {
          throw new Error("wake bug");
        },
      },
    });
    t.server.cancelService();
    t.driver.run();
    expect(t.serverLogs.filter((l) => l.level === "err").map((l) => l.message)).toEqual([expect.stringMatching(/EVENT_WAIT_CANCELLED: wake bug/)]);
  });
});

describe("serviceFd with a descriptor that is not the context's", () => {
  it("returns false, leaves revents untouched and does not throw", () => {
    const t = establishedPair();
    const pollfd = { fd: 99, events: POLLIN, revents: POLLIN | POLLOUT };
    expect(t.server.serviceFd(pollfd)).toBe(false);
    expect(pollfd).toEqual({ fd: 99, events: POLLIN, revents: POLLIN | POLLOUT });
    t.expectServerHooks([]);
  });

  it("returns false for a descriptor the context released, so a stale poll set entry is harmless", () => {
    const t = establishedPair();
    const fd = t.serverConn.fd;
    t.clientConn.close();
    t.driver.run();
    const pollfd = { fd, events: POLLIN, revents: POLLIN };
    expect(t.server.serviceFd(pollfd)).toBe(false);
    expect(pollfd.revents).toBe(POLLIN);
  });

  it("zeroes revents of a descriptor it handles, even with nothing to do", () => {
    const t = establishedPair();
    const pollfd = { fd: t.serverConn.fd, events: POLLIN, revents: POLLIN };
    expect(t.server.serviceFd(pollfd)).toBe(true);
    expect(pollfd.revents).toBe(0);
    expect(t.serverProto.take()).toEqual([]);
  });
});

describe("writing by the rules", () => {
  it("throws WRITE_OUTSIDE_WRITEABLE for a write outside any callback", () => {
    const t = establishedPair();
    expect(usageCode(() => t.serverConn.write("x"))).toBe("WRITE_OUTSIDE_WRITEABLE");
    t.expectServerHooks([]);
  });

  it("throws WRITE_OUTSIDE_WRITEABLE for a write from RECEIVE", () => {
    const codes: string[] = [];
    const clientOut = new Outbox();
    const t = establishedPair({
      serverHandlers: { RECEIVE: (e) => void codes.push(usageCode(() => e.connection.write("echo"))) },
      clientHandlers: { CLIENT_WRITEABLE: clientOut.onWriteable },
    });
    clientOut.send(t.clientConn, "hi");
    t.driver.run();
    expect(codes).toEqual(["WRITE_OUTSIDE_WRITEABLE"]);
    expect(t.serverConn.state).toBe("established");
  });

  it("throws WRITE_OUTSIDE_WRITEABLE for a write to another connection from inside this one's WRITEABLE", () => {
    const codes: string[] = [];
    const pair = createPair();
    pair.connect();
    pair.connect();
    pair.driver.run();
    const [a, b] = pair.serverProto.established as [Connection, Connection];
    pair.serverProto.handlers.SERVER_WRITEABLE = (e) => {
      const other = e.connection === a ? b : a;
      codes.push(usageCode(() => other.write("not yours")));
    };
    a.requestWriteable();
    pair.driver.run();
    expect(codes).toEqual(["WRITE_OUTSIDE_WRITEABLE"]);
  });

  it("throws SECOND_WRITE_IN_WRITEABLE for a second write in one WRITEABLE; the first one is sent", () => {
    const codes: string[] = [];
    const t = establishedPair({
      serverHandlers: {
        SERVER_WRITEABLE: (e) => {
          e.connection.write("first");
          codes.push(usageCode(() => e.connection.write("second")));
        },
      },
    });
    t.serverConn.requestWriteable();
    t.driver.run();
    expect(codes).toEqual(["SECOND_WRITE_IN_WRITEABLE"]);
    expect(t.clientProto.take()).toEqual(['CLIENT_RECEIVE text "first" first final']);
    t.expectServerHooks([mode(4, INOUT, IN), mode(4, IN, INOUT)]);
  });

  it("throws CONNECTION_CLOSED for a write on a closed connection, and requestWriteable says false", () => {
    const t = establishedPair();
    t.clientConn.close();
    t.driver.run();
    expect(t.serverConn.state).toBe("closed");
    expect(usageCode(() => t.serverConn.write("late"))).toBe("CONNECTION_CLOSED");
    expect(t.serverConn.requestWriteable()).toBe(false);
    t.expectServerHooks([mode(4, INOUT, IN), del(4)]);
  });

  it("throws CONNECTION_CLOSED for a write once our close has begun, even inside a WRITEABLE asked for before", () => {
    const codes: string[] = [];
    const t = establishedPair({ serverHandlers: { SERVER_WRITEABLE: (e) => void codes.push(usageCode(() => e.connection.write("x"))) } });
    t.serverConn.requestWriteable();
    t.serverConn.close(1000);
    expect(usageCode(() => t.serverConn.write("y"))).toBe("CONNECTION_CLOSED");
    t.driver.run();
    // The WRITEABLE asked for before the close is not delivered.
    expect(codes).toEqual([]);
  });

  it("throws INVALID_STATE for a write before the connection is established", () => {
    const t = createPair();
    const connection = t.connect();
    expect(usageCode(() => connection.write("too early"))).toBe("INVALID_STATE");
  });
});
