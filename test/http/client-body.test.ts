/**
 * Streamed request bodies (ConnectInfo.bodyLength, lws's lws_client_http_body_pending):
 * the head announces a Content-Length or chunked framing, the protocol asks for
 * CLIENT_HTTP_WRITEABLE and writes one piece per callback with writeHttp(), the last one
 * final. Pieces wait for the socket (the write ladder), misuse throws typed errors, a
 * server may answer before the body is done, and a streamed body is never replayed on a
 * redirect. Servers are raw peers driven by hand or a wsloop server on the memory network.
 */
import { createHash, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ManualDriver } from "../../src/loops/manual/index.js";
import { WsloopUsageError } from "../../src/core/errors.js";
import { createMemoryPair, type Connection, type ConnectInfo, type MemoryPipeOptions, type MemoryTransport } from "../../src/poll/index.js";
import { recording, RawPeer, type Handlers } from "../poll/harness.js";

/** The pieces a protocol streams: asks for the first WRITEABLE while appending headers, then one per piece. */
function streaming(pieces: readonly Buffer[], handlers: Handlers = {}) {
  const bodies: Buffer[] = [];
  const seen = { writeables: 0, bufferedAtWriteable: [] as number[] };
  const proto = recording("client", {
    CLIENT_APPEND_HANDSHAKE_HEADER: (e) => void e.connection.requestWriteable(),
    CLIENT_HTTP_WRITEABLE: (e) => {
      const i = seen.writeables++;
      seen.bufferedAtWriteable.push(e.connection.bufferedAmount);
      e.connection.writeHttp(pieces[i]!, { final: i === pieces.length - 1 });
      if (i + 1 < pieces.length) e.connection.requestWriteable();
    },
    RECEIVE_CLIENT_HTTP: (e) => void bodies.push(Buffer.from(e.data)),
    ...handlers,
  });
  return { proto, bodies, seen, body: () => Buffer.concat(bodies).toString("latin1") };
}

/** A client context whose dialer hands out memory pairs; the far ends are raw servers driven by hand. */
function againstRawServers(proto: ReturnType<typeof streaming>["proto"], pipe: MemoryPipeOptions = {}) {
  const driver = new ManualDriver();
  const servers: RawPeer[] = [];
  const client = driver.createContext({
    vhosts: [{ protocols: [proto.protocol] }],
    dialer: () => {
      const { a, b } = createMemoryPair({ ...pipe, connecting: true });
      servers.push(new RawPeer(b));
      (a as MemoryTransport).completeConnect();
      return a;
    },
  });
  proto.take();
  return { driver, client, servers };
}

type Answer = (connection: Connection, body: Buffer) => void;

/** Answers a request with its method, body length and SHA-256. */
const digest: Answer = (connection, body) => connection.respond(200, {}, `${connection.httpRequest!.method} ${body.length} ${sha256(body)}`);

/** A wsloop server at 10.0.0.1:80 (and 10.0.0.2:8080) that answers each request once its body (if any) is in. */
function againstWsloopServer(proto: ReturnType<typeof streaming>["proto"], answer: Answer = digest) {
  const driver = new ManualDriver();
  const received = new Map<Connection, Buffer[]>();
  const server = recording("srv", {
    HTTP: (e) => {
      if (e.headers.get("content-length") === undefined && e.headers.get("transfer-encoding") === undefined) answer(e.connection, Buffer.alloc(0));
      else received.set(e.connection, []);
    },
    HTTP_BODY: (e) => void received.get(e.connection)!.push(Buffer.from(e.data)),
    HTTP_BODY_COMPLETION: (e) => answer(e.connection, Buffer.concat(received.get(e.connection)!)),
  });
  const serverContext = driver.createContext({ vhosts: [{ protocols: [server.protocol] }] });
  driver.network.listen("10.0.0.1", 80, serverContext);
  driver.network.listen("10.0.0.2", 8080, serverContext);
  const client = driver.createContext({ vhosts: [{ protocols: [proto.protocol] }] });
  proto.take();
  return { driver, client, server };
}

const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

/** The usage error `fn` throws, as "CODE: message". */
function misuse(fn: () => void): string {
  try {
    fn();
  } catch (error) {
    if (error instanceof WsloopUsageError) return `${error.code}: ${error.message}`;
    throw error;
  }
  return "no error";
}

/** A body split into `n` pieces. */
function split(body: Buffer, n: number): Buffer[] {
  const size = Math.ceil(body.length / n);
  return Array.from({ length: n }, (_, i) => body.subarray(i * size, (i + 1) * size));
}

describe("a streamed body of known length", () => {
  it("goes out a piece per CLIENT_HTTP_WRITEABLE behind a Content-Length head, each piece waiting for the slow reader to make room", () => {
    const body = randomBytes(40_000);
    const pieces = split(body, 16); // 2500 bytes each, against a 4000-byte pipe: most pieces only partly fit
    const c = streaming(pieces);
    const t = againstRawServers(c.proto, { capacity: 4000, chunkSize: 700 });
    const conn = t.client.connect({ url: "http://10.0.0.9/up", method: "PUT", bodyLength: body.length });
    t.driver.run();
    const server = t.servers[0]!;
    const got: Buffer[] = [];
    let read = 0;
    let sawPartial = false;
    for (let turn = 0; turn < 1000 && c.seen.writeables < pieces.length; turn++) {
      // Whatever the client handed out is read by the server, in the pipe, or owed by
      // the connection — and what it owes is never more than the piece being written.
      expect(conn.bufferedAmount).toBeLessThanOrEqual(2500);
      sawPartial ||= conn.bufferedAmount > 0;
      const chunk = server.transport.read(); // one read of at most 700 bytes per turn: a slow reader
      if (chunk && typeof chunk !== "symbol") {
        got.push(chunk);
        read += chunk.length;
      }
      t.driver.run();
      const handedOut = c.seen.writeables * 2500;
      expect(handedOut - read).toBeLessThanOrEqual(4000 + 2500 + 200); // the pipe, one owed piece, the head
    }
    got.push(server.readAll());
    t.driver.run();
    got.push(server.readAll());
    expect(sawPartial).toBe(true);
    expect(c.seen.bufferedAtWriteable.every((b) => b === 0)).toBe(true);
    const wire = Buffer.concat(got);
    const headEnd = wire.indexOf("\r\n\r\n") + 4;
    expect(wire.subarray(0, headEnd).toString("latin1")).toBe(
      `PUT /up HTTP/1.1\r\nHost: 10.0.0.9\r\nContent-Length: 40000\r\nConnection: close\r\n\r\n`,
    );
    expect(wire.subarray(headEnd).equals(body)).toBe(true);
    // Only now does the server answer.
    expect(c.proto.take().filter((l) => l !== "CLIENT_HTTP_WRITEABLE")).toEqual(["CLIENT_APPEND_HANDSHAKE_HEADER"]);
    server.send("HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok");
    t.driver.run();
    expect(c.body()).toBe("ok");
    expect(c.proto.take()).toEqual(["ESTABLISHED_CLIENT_HTTP", "RECEIVE_CLIENT_HTTP", "COMPLETED_CLIENT_HTTP", "CLOSED_CLIENT_HTTP"]);
  });

  it("reaches a wsloop server whole, in any number of pieces, and the last byte ends it without final", () => {
    for (const n of [1, 2, 7, 64]) {
      const body = randomBytes(10_000);
      const pieces = split(body, n);
      const c = streaming(pieces, {
        CLIENT_HTTP_WRITEABLE: (e) => {
          const i = c.seen.writeables++;
          e.connection.writeHttp(pieces[i]!); // no final: Content-Length says where it ends
          if (i + 1 < pieces.length) e.connection.requestWriteable();
        },
      });
      const t = againstWsloopServer(c.proto);
      t.client.connect({ url: "http://10.0.0.1/up", method: "POST", bodyLength: body.length });
      t.driver.run();
      expect(c.body(), `${n} pieces`).toBe(`POST 10000 ${sha256(body)}`);
      expect(c.seen.writeables).toBe(n);
    }
  });

  it("bodyLength 0 sends Content-Length: 0 and asks for no piece", () => {
    const c = streaming([]);
    const t = againstRawServers(c.proto);
    t.client.connect({ url: "http://10.0.0.9/", method: "POST", bodyLength: 0 });
    t.driver.run();
    expect(t.servers[0]!.readAll().toString("latin1")).toContain("Content-Length: 0\r\n");
    expect(c.proto.take()).toEqual(["CLIENT_APPEND_HANDSHAKE_HEADER"]);
  });
});

describe("a streamed body of unknown length (chunked)", () => {
  it("is framed in chunks: an empty piece sends nothing, the final piece ends the body", () => {
    const pieces = ["abc", "", "defgh", ""].map((p) => Buffer.from(p));
    const c = streaming(pieces);
    const t = againstRawServers(c.proto);
    t.client.connect({ url: "http://10.0.0.9/log", method: "POST", bodyLength: "chunked", headers: { "Content-Type": "text/plain" } });
    t.driver.run();
    expect(t.servers[0]!.readAll().toString("latin1")).toBe(
      "POST /log HTTP/1.1\r\nHost: 10.0.0.9\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
        "3\r\nabc\r\n5\r\ndefgh\r\n0\r\n\r\n",
    );
    expect(c.seen.writeables).toBe(4);
  });

  it("reaches a wsloop server whole", () => {
    const body = randomBytes(100_000);
    const pieces = split(body, 13);
    const c = streaming(pieces);
    const t = againstWsloopServer(c.proto);
    t.client.connect({ url: "http://10.0.0.1/up", method: "POST", bodyLength: "chunked" });
    t.driver.run();
    expect(c.body()).toBe(`POST 100000 ${sha256(body)}`);
  });
});

describe("misuse is a typed error", () => {
  it("in connect(): bodyLength with body, a bad length, a body without an HTTP method", () => {
    const c = streaming([]);
    const t = againstRawServers(c.proto);
    const connect = (info: ConnectInfo) => misuse(() => t.client.connect(info));
    expect(connect({ url: "http://10.0.0.9/", method: "POST", body: "x", bodyLength: 1 })).toMatch(/^INVALID_ARGUMENT: give either body/);
    for (const bad of [-1, 1.5, Number.NaN, "lots" as "chunked"]) {
      expect(connect({ url: "http://10.0.0.9/", method: "POST", bodyLength: bad })).toMatch(/^INVALID_ARGUMENT: bodyLength must be/);
    }
    expect(connect({ url: "ws://10.0.0.9/", bodyLength: 3 })).toMatch(/^INVALID_ARGUMENT: a body is sent only with an HTTP method/);
    expect(connect({ url: "raw://10.0.0.9:23", bodyLength: 3 })).toMatch(/^INVALID_ARGUMENT: a body is sent only with an HTTP method/);
  });

  it("in writeHttp(): more than the declared length, final short of it, a second piece in one callback — each leaving the turn usable", () => {
    const errors: string[] = [];
    const c = streaming([], {
      CLIENT_HTTP_WRITEABLE: (e) => {
        errors.push(misuse(() => e.connection.writeHttp("0123456789ab")));
        errors.push(misuse(() => e.connection.writeHttp("01234", { final: true })));
        e.connection.writeHttp("0123456789", { final: true });
        errors.push(misuse(() => e.connection.writeHttp("")));
      },
    });
    const t = againstRawServers(c.proto);
    t.client.connect({ url: "http://10.0.0.9/", method: "POST", bodyLength: 10 });
    t.driver.run();
    expect(errors).toEqual([
      "INVALID_ARGUMENT: 12 bytes written with only 10 left of the request's Content-Length",
      "INVALID_ARGUMENT: final write leaves 5 bytes of the request's Content-Length unwritten",
      "INVALID_STATE: the request body is already complete",
    ]);
    expect(t.servers[0]!.readAll().toString("latin1")).toMatch(/\r\n\r\n0123456789$/);
  });

  it("outside CLIENT_HTTP_WRITEABLE, twice in one, after the final piece, after the close, without a streamed body", () => {
    let conn!: Connection;
    const errors: string[] = [];
    const c = streaming([], {
      CLIENT_APPEND_HANDSHAKE_HEADER: (e) => {
        conn = e.connection;
        errors.push(misuse(() => e.connection.writeHttp("early")));
        e.connection.requestWriteable();
      },
      CLIENT_HTTP_WRITEABLE: (e) => {
        if (c.seen.writeables++ === 0) {
          e.connection.writeHttp("a");
          errors.push(misuse(() => e.connection.writeHttp("b")));
          e.connection.requestWriteable();
        } else {
          e.connection.writeHttp("", { final: true });
        }
      },
    });
    const t = againstRawServers(c.proto);
    t.client.connect({ url: "http://10.0.0.9/", method: "POST", bodyLength: "chunked" });
    t.driver.run();
    expect(t.servers[0]!.readAll().toString("latin1")).toMatch(/\r\n\r\n1\r\na\r\n0\r\n\r\n$/);
    errors.push(misuse(() => conn.writeHttp("more")));
    t.servers[0]!.send("HTTP/1.1 204 No Content\r\n\r\n");
    t.driver.run();
    errors.push(misuse(() => conn.writeHttp("more")));
    c.proto.handlers.CLIENT_APPEND_HANDSHAKE_HEADER = (e) => void (conn = e.connection);
    t.client.connect({ url: "http://10.0.0.9/", method: "POST", body: "whole" });
    t.driver.run();
    errors.push(misuse(() => conn.writeHttp("more")));
    expect(errors).toEqual([
      "WRITE_OUTSIDE_WRITEABLE: writeHttp() is only allowed inside a WRITEABLE callback: call requestWriteable() and write when it comes",
      "SECOND_WRITE_IN_WRITEABLE: only one write per WRITEABLE callback: call requestWriteable() again for the next",
      "INVALID_STATE: the request body is already complete",
      expect.stringMatching(/^CONNECTION_CLOSED: writeHttp\(\) on connection \d+, which is closed$/),
      expect.stringMatching(/^INVALID_STATE: connection \d+ has no streamed request body: connect with bodyLength to stream one$/),
    ]);
  });

  it("a protocol that never writes the body: the request times out, the wait restarting with each piece", () => {
    let conn!: Connection;
    const c = streaming([], { CLIENT_APPEND_HANDSHAKE_HEADER: (e) => void (conn = e.connection), CLIENT_HTTP_WRITEABLE: (e) => e.connection.writeHttp("x") });
    const t = againstRawServers(c.proto);
    t.client.connect({ url: "http://10.0.0.9/", method: "POST", bodyLength: 3 });
    t.driver.run();
    for (let i = 0; i < 3; i++) {
      t.driver.advance(10_000); // under the 15 s handshake timeout each time
      conn.requestWriteable();
      t.driver.run();
    }
    expect(c.proto.take().filter((l) => l.startsWith("CLIENT_CONNECTION_ERROR"))).toEqual([]);
    t.driver.advance(15_000); // the body is done: now the answer is awaited
    expect(c.proto.take().at(-1)).toBe("CLIENT_CONNECTION_ERROR timed out: no answer to the HTTP request");

    t.client.connect({ url: "http://10.0.0.9/", method: "POST", bodyLength: 3 });
    t.driver.run();
    t.driver.advance(15_000);
    expect(c.proto.take().at(-1)).toBe("CLIENT_CONNECTION_ERROR timed out: no piece of the request body was written");
  });
});

describe("the server answers before the body is finished", () => {
  it("the response is delivered, no more CLIENT_HTTP_WRITEABLE comes, and the connection ends with the response", () => {
    const pieces = split(randomBytes(10_000), 10);
    let conn!: Connection;
    const c = streaming(pieces, {
      CLIENT_APPEND_HANDSHAKE_HEADER: (e) => {
        conn = e.connection;
        e.connection.requestWriteable();
      },
    });
    // A small pipe: the body stalls after a few pieces, as against a server that stopped reading.
    const t = againstRawServers(c.proto, { capacity: 3000 });
    t.client.connect({ url: "http://10.0.0.9/up", method: "POST", bodyLength: 10_000 });
    t.driver.run();
    const sent = c.seen.writeables;
    expect(sent).toBeGreaterThan(0);
    expect(sent).toBeLessThan(10);
    const server = t.servers[0]!;
    server.send("HTTP/1.1 413 Payload Too Large\r\nContent-Length: 8\r\n\r\ntoo long");
    t.driver.run();
    expect(c.body()).toBe("too long");
    expect(c.proto.take().filter((l) => l !== "CLIENT_HTTP_WRITEABLE")).toEqual([
      "CLIENT_APPEND_HANDSHAKE_HEADER",
      "ESTABLISHED_CLIENT_HTTP",
      "RECEIVE_CLIENT_HTTP",
      "COMPLETED_CLIENT_HTTP",
      "CLOSED_CLIENT_HTTP",
    ]);
    // Closed at once, without waiting for the server to read the piece still owed.
    expect(conn.state).toBe("closed");
    expect(t.client.connectionCount).toBe(0);
    const wire = server.readAll();
    t.driver.run();
    expect(c.seen.writeables).toBe(sent);
    expect(wire.length - wire.indexOf("\r\n\r\n") - 4).toBeLessThan(sent * 1000);
    expect(server.sawEnd).toBe(true);
  });

  it("a write while the response is read (before it completes) is refused: the rest is not sent", () => {
    let error = "";
    const c = streaming([Buffer.from("abc")], {
      ESTABLISHED_CLIENT_HTTP: (e) => void (error = misuse(() => e.connection.writeHttp("x"))),
      CLIENT_HTTP_WRITEABLE: () => {}, // asks and then writes nothing: the body stays pending
    });
    const t = againstRawServers(c.proto);
    t.client.connect({ url: "http://10.0.0.9/", method: "POST", bodyLength: 3 });
    t.driver.run();
    t.servers[0]!.send("HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n");
    t.driver.run();
    expect(error).toBe("INVALID_STATE: the server answered before the request body was complete: the rest is not sent");
    expect(c.proto.take().slice(-3)).toEqual(["ESTABLISHED_CLIENT_HTTP", "COMPLETED_CLIENT_HTTP", "CLOSED_CLIENT_HTTP"]);
  });

  it("a pipelined connection whose body was cut is not reused, even when the response would keep it alive", () => {
    const c = streaming([], { CLIENT_HTTP_WRITEABLE: () => {} });
    const t = againstRawServers(c.proto);
    t.client.connect({ address: "10.0.0.9", port: 80, path: "/1", method: "POST", bodyLength: 5, pipeline: true });
    t.client.connect({ address: "10.0.0.9", port: 80, path: "/2", method: "GET", pipeline: true });
    t.driver.run();
    t.servers[0]!.send("HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n");
    t.driver.run();
    expect(t.servers).toHaveLength(2);
    t.servers[0]!.readAll();
    expect(t.servers[0]!.sawEnd).toBe(true);
    expect(t.servers[1]!.readAll().toString("latin1")).toMatch(/^GET \/2 HTTP\/1\.1\r\n/);
  });
});

describe("the whole-Buffer body", () => {
  it("still goes out with the head, in the same write, with its Content-Length; no CLIENT_HTTP_WRITEABLE", () => {
    const c = streaming([]);
    const t = againstRawServers(c.proto);
    const conn = t.client.connect({ url: "http://10.0.0.9/items", method: "POST", body: '{"a":1}' });
    t.driver.run();
    expect(t.servers[0]!.transport.read()!.toString()).toBe(
      'POST /items HTTP/1.1\r\nHost: 10.0.0.9\r\nContent-Length: 7\r\nConnection: close\r\n\r\n{"a":1}',
    );
    conn.requestWriteable(); // nothing to stream: dropped, no callback, no busy POLLOUT
    t.driver.run();
    expect(c.proto.take()).toEqual(["CLIENT_APPEND_HANDSHAKE_HEADER"]);
    expect(t.driver.pollfds(t.client).find((p) => p.fd === conn.fd)?.events).toBe(1 /* POLLIN */);
  });
});

describe("redirects and a streamed body", () => {
  const redirectingTo =
    (status: number): Answer =>
    (connection, body) => {
      const request = connection.httpRequest!;
      if (request.path === "/a") connection.redirect(status, "http://10.0.0.2:8080/b");
      else connection.respond(200, {}, `${request.method} ${request.path} ${request.headers.get("content-length") ?? "-"} ${body.toString()}`);
    };

  it.each([307, 308])("%i with a streamed body is the final response: the body cannot be sent again", (status) => {
    let got = 0;
    const c = streaming([Buffer.from("12345")], { ESTABLISHED_CLIENT_HTTP: (e) => void (got = e.status) });
    const t = againstWsloopServer(c.proto, redirectingTo(status));
    t.client.connect({ url: "http://10.0.0.1/a", method: "POST", bodyLength: 5, followRedirects: 5 });
    t.driver.run();
    expect(got).toBe(status);
    expect(c.proto.take().filter((l) => l === "CLIENT_APPEND_HANDSHAKE_HEADER")).toHaveLength(1);
  });

  it("301 after a streamed PUT keeps the method, so it is not followed either", () => {
    let got = 0;
    const c = streaming([Buffer.from("12345")], { ESTABLISHED_CLIENT_HTTP: (e) => void (got = e.status) });
    const t = againstWsloopServer(c.proto, redirectingTo(301));
    t.client.connect({ url: "http://10.0.0.1/a", method: "PUT", bodyLength: 5, followRedirects: 5 });
    t.driver.run();
    expect(got).toBe(301);
  });

  it.each([303, 302, 301])("%i after a streamed POST is followed as a GET without body", (status) => {
    const c = streaming([Buffer.from("12345")]);
    const t = againstWsloopServer(c.proto, redirectingTo(status));
    t.client.connect({ url: "http://10.0.0.1/a", method: "POST", bodyLength: 5, followRedirects: 5 });
    t.driver.run();
    expect(c.body()).toBe("GET /b - ");
    expect(c.seen.writeables).toBe(1);
  });

  it("307 with a whole body is followed and the body sent again, as before", () => {
    const c = streaming([]);
    const t = againstWsloopServer(c.proto, redirectingTo(307));
    t.client.connect({ url: "http://10.0.0.1/a", method: "POST", body: "12345", followRedirects: 5 });
    t.driver.run();
    expect(c.body()).toBe("POST /b 5 12345");
  });
});
