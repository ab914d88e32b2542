/**
 * The HTTP client (connect with a method, or an http:// URL): the request with its
 * headers and body, the response through ESTABLISHED_CLIENT_HTTP, RECEIVE_CLIENT_HTTP,
 * COMPLETED_CLIENT_HTTP and CLOSED_CLIENT_HTTP, under rx flow control; redirects
 * followed when asked. Servers are either a wsloop HTTP server on the memory network
 * or hand-driven raw servers that send exactly the bytes a test needs.
 */
import { describe, expect, it } from "vitest";
import { ManualDriver } from "../../src/loops/manual/index.js";
import { createMemoryPair, type Connection, type MemoryTransport } from "../../src/poll/index.js";
import { recording, RawPeer, type Handlers } from "../poll/harness.js";
import { splitPoints } from "../helpers/splits.js";

function clientRecording(handlers: Handlers = {}) {
  const bodies: Buffer[] = [];
  const proto = recording("client", {
    RECEIVE_CLIENT_HTTP: (e) => void bodies.push(Buffer.from(e.data)),
    ...handlers,
  });
  return { proto, bodies, body: () => Buffer.concat(bodies).toString("latin1") };
}

/** A wsloop HTTP server at 10.0.0.1:80 and a client context on one driver. */
function overNetwork(serverHandlers: Handlers, clientHandlers: Handlers = {}) {
  const driver = new ManualDriver();
  const server = recording("srv", serverHandlers);
  const serverContext = driver.createContext({ vhosts: [{ protocols: [server.protocol] }] });
  driver.network.listen("10.0.0.1", 80, serverContext);
  driver.network.listen("10.0.0.2", 8080, serverContext);
  const c = clientRecording(clientHandlers);
  const client = driver.createContext({ vhosts: [{ protocols: [c.proto.protocol] }] });
  c.proto.take();
  server.take();
  return { driver, server, client, ...c };
}

/** A client whose dialer hands out memory pairs; the far ends are raw servers driven by hand. */
function againstRawServers(handlers: Handlers = {}, pipe = {}) {
  const driver = new ManualDriver();
  const c = clientRecording(handlers);
  const servers: RawPeer[] = [];
  const client = driver.createContext({
    vhosts: [{ protocols: [c.proto.protocol] }],
    dialer: () => {
      const { a, b } = createMemoryPair({ ...pipe, connecting: true });
      servers.push(new RawPeer(b));
      (a as MemoryTransport).completeConnect();
      return a;
    },
  });
  c.proto.take();
  return { driver, client, servers, ...c };
}

describe("HTTP client against a wsloop server", () => {
  it("GET by URL: ESTABLISHED_CLIENT_HTTP with status and headers, the body, COMPLETED_CLIENT_HTTP, CLOSED_CLIENT_HTTP", () => {
    let status = 0;
    let type: string | undefined;
    const t = overNetwork(
      { HTTP: (e) => e.connection.respond(200, { "Content-Type": "text/plain" }, `you asked for ${e.path}?${e.query} with ${e.headers.get("x-token")}`) },
      {
        CLIENT_APPEND_HANDSHAKE_HEADER: (e) => e.addHeader("X-Token", "t0k"),
        ESTABLISHED_CLIENT_HTTP: (e) => {
          status = e.status;
          type = e.headers.get("content-type");
        },
      },
    );
    const conn = t.client.connect({ url: "http://10.0.0.1/things?id=7", method: "GET" });
    expect(conn.state).toBe("connecting");
    t.driver.run();
    expect([status, type, t.body()]).toEqual([200, "text/plain", "you asked for /things?id=7 with t0k"]);
    expect(t.proto.take()).toEqual(["CLIENT_APPEND_HANDSHAKE_HEADER", "ESTABLISHED_CLIENT_HTTP", "RECEIVE_CLIENT_HTTP", "COMPLETED_CLIENT_HTTP", "CLOSED_CLIENT_HTTP"]);
    expect(conn.state).toBe("closed");
    expect(t.client.connectionCount).toBe(0);
  });

  it("POST with a body and headers from ConnectInfo", () => {
    const t = overNetwork({
      HTTP: () => {},
      HTTP_BODY: (e) => void (e.connection.userData = String(e.connection.userData ?? "") + e.data.toString()),
      HTTP_BODY_COMPLETION: (e) => e.connection.respond(201, {}, `${e.connection.httpRequest!.headers.get("content-type")}: ${String(e.connection.userData)}`),
    });
    t.client.connect({ address: "10.0.0.1", port: 80, path: "/items", method: "POST", body: '{"a":1}', headers: { "Content-Type": "application/json" } });
    t.driver.run();
    expect(t.body()).toBe('application/json: {"a":1}');
  });

  it("a chunked response of many pieces arrives whole", () => {
    const pieces = Array.from({ length: 10 }, (_, i) => `<${i}>`);
    const t = overNetwork({
      HTTP: (e) => {
        e.connection.writeHttpHead(200, {});
        e.connection.requestWriteable();
        e.connection.userData = 0;
      },
      HTTP_WRITEABLE: (e) => {
        const i = e.connection.userData as number;
        e.connection.writeHttp(pieces[i]!, { final: i === pieces.length - 1 });
        e.connection.userData = i + 1;
        if (i + 1 < pieces.length) e.connection.requestWriteable();
        else e.connection.transactionCompleted();
      },
    });
    t.client.connect({ url: "http://10.0.0.1/", method: "GET" });
    t.driver.run();
    expect(t.body()).toBe(pieces.join(""));
  });

  it("follows redirects when asked (303 turns POST into GET), up to the limit", () => {
    const t = overNetwork({
      HTTP: (e) => {
        if (e.path === "/a") e.connection.redirect(303, "http://10.0.0.2:8080/b");
        else if (e.path === "/b") e.connection.redirect(302, "/c");
        else e.connection.respond(200, {}, `${e.method} ${e.path} on ${e.headers.get("host")}`);
      },
    });
    t.client.connect({ url: "http://10.0.0.1/a", method: "POST", body: "x", followRedirects: 5 });
    t.driver.run();
    expect(t.body()).toBe("GET /c on 10.0.0.2:8080");
    expect(t.proto.take().filter((l) => l === "ESTABLISHED_CLIENT_HTTP")).toHaveLength(1);

    let status = 0;
    t.proto.handlers.ESTABLISHED_CLIENT_HTTP = (e) => void (status = e.status);
    t.client.connect({ url: "http://10.0.0.1/a", method: "GET", followRedirects: 1 });
    t.driver.run();
    expect(status).toBe(302);
    t.client.connect({ url: "http://10.0.0.1/a", method: "GET" });
    t.driver.run();
    expect(status).toBe(303);
  });
});

describe("pipelined requests (lws's LCCSCF_PIPELINE)", () => {
  it("requests made while one is in flight wait for it, then share its kept-alive connection, one after another", () => {
    const t = overNetwork({ HTTP: (e) => e.connection.respond(200, {}, `${e.path} on connection ${e.connection.id}`) });
    const done: string[] = [];
    t.proto.handlers.COMPLETED_CLIENT_HTTP = () => void done.push(t.body());
    const conns = ["/1", "/2", "/3"].map((path) => t.client.connect({ address: "10.0.0.1", port: 80, path, method: "GET", pipeline: true }));
    expect(conns.map((c) => c.state)).toEqual(["connecting", "connecting", "connecting"]);
    t.driver.run();
    expect(t.server.take().filter((l) => l === "FILTER_NETWORK_CONNECTION")).toHaveLength(1);
    const serverConnection = /on connection (\d+)/.exec(done[0]!)![1];
    expect(done.map((d) => d.replace(/on connection \d+/g, "on C"))).toEqual(["/1 on C", "/1 on C/2 on C", "/1 on C/2 on C/3 on C"]);
    expect(t.body()).toContain(`/3 on connection ${serverConnection}`);
    expect(t.proto.take().filter((l) => !/RECEIVE|APPEND/.test(l))).toEqual([
      "ESTABLISHED_CLIENT_HTTP", "COMPLETED_CLIENT_HTTP", "CLOSED_CLIENT_HTTP",
      "ESTABLISHED_CLIENT_HTTP", "COMPLETED_CLIENT_HTTP", "CLOSED_CLIENT_HTTP",
      "ESTABLISHED_CLIENT_HTTP", "COMPLETED_CLIENT_HTTP", "CLOSED_CLIENT_HTTP",
    ]);
    expect(conns.map((c) => c.state)).toEqual(["closed", "closed", "closed"]);
    expect(t.client.connectionCount).toBe(0);
  });

  it("the waiting requests get connections of their own when the server will not keep one alive", () => {
    const t = againstRawServers();
    const conns = ["/1", "/2", "/3"].map((path) => t.client.connect({ address: "10.0.0.9", port: 80, path, method: "GET", pipeline: true }));
    t.driver.run();
    expect(t.servers).toHaveLength(1);
    expect(t.servers[0]!.readAll().toString("latin1")).not.toContain("Connection: close");
    t.servers[0]!.send("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\na");
    t.driver.run();
    expect(t.servers).toHaveLength(3);
    for (const server of t.servers.slice(1)) server.send("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb");
    t.driver.run();
    expect(t.body()).toBe("abb");
    expect(conns.map((c) => c.state)).toEqual(["closed", "closed", "closed"]);
  });

  it("destroying the context fails the waiting requests instead of dialing for them", () => {
    const t = againstRawServers();
    t.client.connect({ address: "10.0.0.9", port: 80, path: "/1", method: "GET", pipeline: true });
    const waiting = t.client.connect({ address: "10.0.0.9", port: 80, path: "/2", method: "GET", pipeline: true });
    t.driver.run();
    t.client.destroy();
    expect(t.servers).toHaveLength(1);
    expect(waiting.state).toBe("closed");
    expect(t.proto.take().filter((l) => l.startsWith("CLIENT_CONNECTION_ERROR"))).toEqual([
      "CLIENT_CONNECTION_ERROR the context was destroyed while the request waited for its pipeline",
      "CLIENT_CONNECTION_ERROR context destroyed",
    ]);
  });

  it("a waiting request whose carrier fails connects on its own", () => {
    const t = againstRawServers();
    const first = t.client.connect({ address: "10.0.0.9", port: 80, path: "/1", method: "GET", pipeline: true });
    t.client.connect({ address: "10.0.0.9", port: 80, path: "/2", method: "GET", pipeline: true });
    t.driver.run();
    first.close();
    t.driver.run();
    expect(t.servers).toHaveLength(2);
    t.servers[1]!.send("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    t.driver.run();
    expect(t.body()).toBe("ok");
  });
});

describe("HTTP client against hand-driven servers", () => {
  const head = "HTTP/1.1 200 OK\r\n";

  it.each([
    ["Content-Length", `${head}Content-Length: 10\r\n\r\n0123456789`, false],
    ["chunked", `${head}Transfer-Encoding: chunked\r\n\r\n3\r\n012\r\n7\r\n3456789\r\n0\r\n\r\n`, false],
    ["close-delimited", `${head}\r\n0123456789`, true],
    ["after a 100 Continue", `HTTP/1.1 100 Continue\r\n\r\n${head}Content-Length: 10\r\n\r\n0123456789`, false],
  ])("reads a %s body split at every point", (_name, response, endAfter) => {
    for (const { label, chunks } of splitPoints(Buffer.from(response, "latin1"))) {
      const t = againstRawServers();
      t.client.connect({ url: "http://10.0.0.9/", method: "GET" });
      t.driver.run();
      const server = t.servers[0]!;
      expect(server.readAll().toString("latin1")).toMatch(/^GET \/ HTTP\/1\.1\r\nHost: 10\.0\.0\.9\r\nConnection: close\r\n\r\n$/);
      for (const chunk of chunks) {
        server.send(chunk);
        t.driver.run();
      }
      if (endAfter) {
        server.transport.end();
        t.driver.run();
      }
      expect(t.body(), label).toBe("0123456789");
      expect(t.proto.take().filter((l) => l !== "RECEIVE_CLIENT_HTTP"), label).toEqual([
        "CLIENT_APPEND_HANDSHAKE_HEADER",
        "ESTABLISHED_CLIENT_HTTP",
        "COMPLETED_CLIENT_HTTP",
        "CLOSED_CLIENT_HTTP",
      ]);
    }
  });

  it("HEAD and 204: no body is read, whatever the headers say", () => {
    const t = againstRawServers();
    t.client.connect({ url: "http://10.0.0.9/", method: "HEAD" });
    t.driver.run();
    t.servers[0]!.send(`${head}Content-Length: 100\r\n\r\n`);
    t.driver.run();
    expect(t.proto.take()).toEqual(["CLIENT_APPEND_HANDSHAKE_HEADER", "ESTABLISHED_CLIENT_HTTP", "COMPLETED_CLIENT_HTTP", "CLOSED_CLIENT_HTTP"]);
  });

  it("rx flow control: turning rx off in RECEIVE_CLIENT_HTTP holds the rest until it is on again", () => {
    let conn: Connection | null = null;
    const t = againstRawServers({
      RECEIVE_CLIENT_HTTP: (e) => {
        conn = e.connection;
        t.bodies.push(Buffer.from(e.data));
        e.connection.setRxFlowControl(false);
      },
    });
    t.client.connect({ url: "http://10.0.0.9/", method: "GET" });
    t.driver.run();
    t.servers[0]!.send(`${head}Transfer-Encoding: chunked\r\n\r\n2\r\nab\r\n2\r\ncd\r\n0\r\n\r\n`);
    t.driver.run();
    expect(t.body()).toBe("ab");
    conn!.setRxFlowControl(true);
    t.driver.run();
    expect(t.body()).toBe("abcd");
    expect(t.proto.log.includes("COMPLETED_CLIENT_HTTP")).toBe(false);
    conn!.setRxFlowControl(true);
    t.driver.run();
    expect(t.proto.take().slice(-2)).toEqual(["COMPLETED_CLIENT_HTTP", "CLOSED_CLIENT_HTTP"]);
  });

  it("a server that sends everything and hangs up while rx is off: the rest of the body is still delivered when rx is on", () => {
    let conn: Connection | null = null;
    const t = againstRawServers({
      RECEIVE_CLIENT_HTTP: (e) => {
        conn = e.connection;
        t.bodies.push(Buffer.from(e.data));
        e.connection.setRxFlowControl(false);
      },
    });
    t.client.connect({ url: "http://10.0.0.9/", method: "GET" });
    t.driver.run();
    const server = t.servers[0]!;
    server.send(`${head}Content-Length: 4\r\n\r\nab`);
    t.driver.run();
    server.send("cd");
    server.transport.destroy();
    t.driver.run();
    expect(t.body()).toBe("ab");
    conn!.setRxFlowControl(true);
    t.driver.run();
    expect(t.body()).toBe("abcd");
    expect(t.proto.log.includes("COMPLETED_CLIENT_HTTP")).toBe(false); // rx went off again in RECEIVE
    conn!.setRxFlowControl(true);
    t.driver.run();
    expect(t.proto.take().slice(-2)).toEqual(["COMPLETED_CLIENT_HTTP", "CLOSED_CLIENT_HTTP"]);
    expect(conn!.state).toBe("closed");
  });

  it("a server that ends before the head: CLIENT_CONNECTION_ERROR; before the end of a known-length body: CLOSED_CLIENT_HTTP without COMPLETED", () => {
    const t = againstRawServers();
    t.client.connect({ url: "http://10.0.0.9/", method: "GET" });
    t.driver.run();
    t.servers[0]!.transport.end();
    t.driver.run();
    expect(t.proto.take().at(-1)).toMatch(/^CLIENT_CONNECTION_ERROR peer closed the connection during the opening handshake/);
    t.client.connect({ url: "http://10.0.0.9/", method: "GET" });
    t.driver.run();
    t.servers[1]!.send(`${head}Content-Length: 10\r\n\r\n01234`);
    t.servers[1]!.transport.end();
    t.driver.run();
    expect(t.proto.take().slice(-2)).toEqual(["RECEIVE_CLIENT_HTTP", "CLOSED_CLIENT_HTTP"]);
  });

  it("a malformed response is a CLIENT_CONNECTION_ERROR naming it; no answer within the handshake timeout too", () => {
    const t = againstRawServers();
    t.client.connect({ url: "http://10.0.0.9/", method: "GET" });
    t.driver.run();
    t.servers[0]!.send("SPDY/3 200 OK\r\n\r\n");
    t.driver.run();
    expect(t.proto.take().at(-1)).toMatch(/^CLIENT_CONNECTION_ERROR bad HTTP response: malformed status line/);
    t.client.connect({ url: "http://10.0.0.9/", method: "GET" });
    t.driver.advance(15_000);
    expect(t.proto.take().at(-1)).toBe("CLIENT_CONNECTION_ERROR timed out: no answer to the HTTP request");
  });

  it("misuse: a body without a method, a method that is not a token, a header the library writes", () => {
    const t = againstRawServers();
    expect(() => t.client.connect({ url: "ws://10.0.0.9/", body: "x" })).toThrow(/only with an HTTP method/);
    expect(() => t.client.connect({ url: "http://10.0.0.9/", method: "GE T" })).toThrow(/not an HTTP token/);
    expect(() => t.client.connect({ url: "ftp://10.0.0.9/", method: "GET" })).toThrow(/starts with ws:\/\//);
    t.client.connect({ url: "http://10.0.0.9/", method: "GET", headers: { "Content-Length": "5" } });
    t.driver.run();
    expect(t.proto.take().at(-1)).toMatch(/CLIENT_CONNECTION_ERROR header "Content-Length" is written by the library/);
  });
});
