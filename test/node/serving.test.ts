/**
 * Serving on real sockets: a NodeLoop listening on 127.0.0.1 (and ::1), with `ws` as the
 * peer. Echo round trips of text and binary, ordering under a burst, several vhosts,
 * the bound port reported for port 0, and graceful shutdown.
 */
import { createServer } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { NodeLoop } from "../../src/loops/node/index.js";
import { defineProtocol } from "../../src/poll/protocol.js";
import { echoProtocol } from "../../src/demo/echo-protocol.js";
import { EventLog } from "../helpers/event-log.js";
import { LOOPBACK, rawConnect } from "../helpers/sockets.js";
import { waitUntil } from "../helpers/wait.js";
import { Inbox, closeOf, closeWs, openWs } from "../helpers/ws-client.js";
import { listeningLoop, recordingEcho } from "./helpers.js";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

function track(loop: NodeLoop): NodeLoop {
  cleanups.push(() => loop.close(1_000));
  return loop;
}

function trackWs(ws: WebSocket): WebSocket {
  cleanups.push(() => closeWs(ws));
  return ws;
}

async function canListenOnIpv6Loopback(): Promise<boolean> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once("error", () => resolve(false));
    server.listen(0, "::1", () => server.close(() => resolve(true)));
  });
}
const ipv6 = await canListenOnIpv6Loopback();

describe("NodeLoop serving ws:// on 127.0.0.1", () => {
  it("reports the port it bound when asked for port 0", async () => {
    const log = new EventLog();
    const loop = track(await listeningLoop({ protocols: [recordingEcho(log)] }));
    const [bound] = loop.addresses;
    expect(bound).toMatchObject({ host: LOOPBACK, family: "IPv4", tls: false, vhosts: ["default"] });
    expect(bound!.port).toBeGreaterThan(0);
    expect(loop.port).toBe(bound!.port);
    // The reported port is the one that answers.
    const ws = trackWs(await openWs(`ws://${LOOPBACK}:${loop.port}/`));
    expect(ws.readyState).toBe(WebSocket.OPEN);
  });

  it("echoes text, multi-byte UTF-8 included, as text", async () => {
    const loop = track(await listeningLoop({ protocols: [recordingEcho(new EventLog())] }));
    const ws = trackWs(await openWs(`ws://${LOOPBACK}:${loop.port}/`));
    const inbox = new Inbox(ws);
    const texts = ["hello", "", "héllo wörld — ünïcödé", "日本語のテキスト", "emoji 🎉🚀 and 𝄞 (four-byte)", "ß".repeat(70_000)];
    for (const text of texts) ws.send(text);
    const echoed = await inbox.take(texts.length);
    expect(echoed.map((m) => m.binary)).toEqual(texts.map(() => false));
    expect(echoed.map((m) => m.data.toString("utf8"))).toEqual(texts);
  });

  it("echoes binary messages from 0 B to 16 MiB byte for byte", async () => {
    // The demo echo protocol, as `wsloop echo` serves it (16 MiB limit).
    const loop = track(await listeningLoop({ protocols: [echoProtocol()] }));
    const ws = trackWs(await openWs(`ws://${LOOPBACK}:${loop.port}/`, undefined, { maxPayload: 64 * 1024 * 1024 }));
    const inbox = new Inbox(ws);
    const sizes = [0, 1, 125, 126, 127, 65_535, 65_536, 65_537, 1024 * 1024, 16 * 1024 * 1024];
    for (const size of sizes) {
      const payload = Buffer.alloc(size);
      for (let i = 0; i < size; i += 4096) payload[i] = (i / 4096 + size) & 0xff;
      if (size > 0) payload[size - 1] = 0x5a;
      ws.send(payload, { binary: true });
      const [echo] = await inbox.take(1, 15_000);
      expect(echo!.binary).toBe(true);
      expect(echo!.data.length).toBe(size);
      expect(echo!.data.equals(payload)).toBe(true);
    }
  });

  it("delivers a burst of 1000 messages in order", async () => {
    const log = new EventLog();
    const loop = track(await listeningLoop({ protocols: [recordingEcho(log)] }));
    const ws = trackWs(await openWs(`ws://${LOOPBACK}:${loop.port}/`));
    const inbox = new Inbox(ws);
    for (let i = 0; i < 1000; i++) ws.send(`message ${i}`);
    const echoed = await inbox.take(1000);
    expect(echoed.map((m) => m.data.toString())).toEqual(Array.from({ length: 1000 }, (_, i) => `message ${i}`));
    expect(log.of("RECEIVE").map((e) => e.data.toString())).toEqual(Array.from({ length: 1000 }, (_, i) => `message ${i}`));
  });

  it("knows the peer's address from FILTER_NETWORK_CONNECTION on, and keeps it once asked", async () => {
    const seen: Array<{ reason: string; address: string | undefined; port: number | undefined }> = [];
    const note = (reason: string, peer: { address: string; port: number } | null): void => {
      seen.push({ reason, address: peer?.address, port: peer?.port });
    };
    const log = new EventLog();
    const echo = recordingEcho(log);
    const loop = track(
      await listeningLoop({
        protocols: [
          {
            ...echo,
            callback(event) {
              if (event.reason === "FILTER_NETWORK_CONNECTION") note(event.reason, event.peer);
              if (event.reason === "ESTABLISHED" || event.reason === "CLOSED") note(event.reason, event.connection.peer);
              return echo.callback(event);
            },
          },
        ],
      }),
    );
    const ws = await openWs(`ws://${LOOPBACK}:${loop.port}/`);
    const local = (ws as unknown as { _socket: { localPort: number } })._socket.localPort;
    await closeWs(ws);
    await log.waitFor("CLOSED");
    const peer = { address: LOOPBACK, port: local };
    expect(seen).toEqual([
      { reason: "FILTER_NETWORK_CONNECTION", ...peer },
      { reason: "ESTABLISHED", ...peer },
      // The socket is closed by now: the address is the one read while it was open.
      { reason: "CLOSED", ...peer },
    ]);
  });

  it.skipIf(!ipv6)("serves IPv6 on [::1] (skipped when this machine cannot listen on ::1)", async () => {
    const log = new EventLog();
    const loop = track(new NodeLoop({ logger: { level: "warn" }, vhosts: [{ protocols: [recordingEcho(log)], listen: { port: 0, host: "::1" } }] }));
    const [bound] = await loop.listen();
    expect(bound).toMatchObject({ host: "::1", family: "IPv6" });
    const ws = trackWs(await openWs(`ws://[::1]:${bound!.port}/`));
    const inbox = new Inbox(ws);
    ws.send("over six");
    expect((await inbox.next()).data.toString()).toBe("over six");
    const established = await log.waitFor("ESTABLISHED");
    expect(established.connection.peer).toMatchObject({ address: "::1", family: "IPv6" });
  });

  it("serves several vhosts, each on its own port with its own protocols", async () => {
    const upper = defineProtocol<{ queue: string[] }>({
      name: "upper",
      createUserData: () => ({ queue: [] }),
      callback(event) {
        if (event.reason === "RECEIVE") {
          event.connection.userData.queue.push(event.data.toString().toUpperCase());
          event.connection.requestWriteable();
        } else if (event.reason === "SERVER_WRITEABLE") {
          const next = event.connection.userData.queue.shift();
          if (next !== undefined) event.connection.write(next);
        }
      },
    });
    const log = new EventLog();
    const loop = track(
      new NodeLoop({
        logger: { level: "warn" },
        vhosts: [
          { name: "plain", protocols: [recordingEcho(log)], listen: { port: 0, host: LOOPBACK } },
          { name: "shouty", protocols: [upper], listen: { port: 0, host: LOOPBACK } },
          { name: "client-only", protocols: [recordingEcho(log, "other")] },
        ],
      }),
    );
    const addresses = await loop.listen();
    expect(addresses.map((a) => a.vhosts)).toEqual([["plain"], ["shouty"]]);
    expect(addresses[0]!.port).not.toBe(addresses[1]!.port);
    const plain = trackWs(await openWs(`ws://${LOOPBACK}:${addresses[0]!.port}/`));
    const shouty = trackWs(await openWs(`ws://${LOOPBACK}:${addresses[1]!.port}/`));
    const plainInbox = new Inbox(plain);
    const shoutyInbox = new Inbox(shouty);
    plain.send("quiet please");
    shouty.send("quiet please");
    expect((await plainInbox.next()).data.toString()).toBe("quiet please");
    expect((await shoutyInbox.next()).data.toString()).toBe("QUIET PLEASE");
    expect((await log.waitFor("ESTABLISHED")).connection.vhost.name).toBe("plain");
  });

  it("binds a client that asks for no subprotocol to the vhost's default, and one that asks to its choice", async () => {
    const echoLog = new EventLog();
    const chatLog = new EventLog();
    const loop = track(
      new NodeLoop({
        logger: { level: "warn" },
        vhosts: [{ protocols: [recordingEcho(chatLog, "chat"), recordingEcho(echoLog, "echo")], defaultProtocol: "echo", listen: { port: 0, host: LOOPBACK } }],
      }),
    );
    await loop.listen();
    const none = trackWs(await openWs(`ws://${LOOPBACK}:${loop.port}/`));
    const chat = trackWs(await openWs(`ws://${LOOPBACK}:${loop.port}/`, ["nope", "chat"]));
    expect(none.protocol).toBe("");
    expect(chat.protocol).toBe("chat");
    await echoLog.waitFor("ESTABLISHED");
    await chatLog.waitFor("ESTABLISHED");
  });
});

describe("adoptSocket: serving a socket someone else accepted", () => {
  it("serves a socket from the user's own net.Server, bytes already read included", async () => {
    const log = new EventLog();
    const loop = track(new NodeLoop({ logger: { level: "warn" }, vhosts: [{ name: "adopted", protocols: [recordingEcho(log)] }] }));
    // The user's server reads the first bytes itself (say, to sniff the protocol) and
    // hands them over as the preface.
    const server = createServer((socket) => {
      socket.once("data", (first: Buffer) => {
        socket.pause();
        expect(loop.adoptSocket(socket, "adopted", [first])).not.toBeNull();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const ws = trackWs(await openWs(`ws://${LOOPBACK}:${(server.address() as { port: number }).port}/`));
    const inbox = new Inbox(ws);
    ws.send("adopted ✓");
    expect((await inbox.next()).data.toString()).toBe("adopted ✓");
    expect((await log.waitFor("ESTABLISHED")).connection.vhost.name).toBe("adopted");
  });
});

describe("graceful shutdown", () => {
  it("close() sends 1001 to every connected client and resolves once they are gone", async () => {
    const log = new EventLog();
    const loop = await listeningLoop({ protocols: [recordingEcho(log)] });
    const a = await openWs(`ws://${LOOPBACK}:${loop.port}/`);
    const b = await openWs(`ws://${LOOPBACK}:${loop.port}/`);
    const closedA = closeOf(a);
    const closedB = closeOf(b);
    await waitForEstablished(log, 2);
    const started = Date.now();
    await loop.close(2_000);
    // ws answers the close at once, so close() does not need its whole grace period.
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(await closedA).toEqual({ code: 1001, reason: "server shutting down" });
    expect(await closedB).toEqual({ code: 1001, reason: "server shutting down" });
    const closed = log.of("CLOSED");
    expect(closed).toHaveLength(2);
    expect(closed.every((e) => e.code === 1001 && e.clean)).toBe(true);
    expect(loop.context.isDestroyed).toBe(true);
    // Nothing listens any more.
    await expect(openWs(`ws://${LOOPBACK}:${loop.addresses[0]!.port}/`)).rejects.toThrow(/ECONNREFUSED/);
  });

  it("close() resolves within its bound when a client never answers the close", async () => {
    const log = new EventLog();
    const loop = await listeningLoop({ protocols: [recordingEcho(log)] });
    const ws = await openWs(`ws://${LOOPBACK}:${loop.port}/`);
    await waitForEstablished(log, 1);
    // The client stops reading: our close frame is never seen, never answered.
    const socket = (ws as unknown as { _socket: import("node:net").Socket })._socket;
    socket.pause();
    const started = Date.now();
    await loop.close(300);
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(290);
    expect(took).toBeLessThan(3_000);
    // The connection was dropped: the protocol was told (1006, not clean), and the client,
    // once it reads again, finds the 1001 close frame and then the end of the stream.
    expect(log.of("CLOSED").map((e) => [e.code, e.clean])).toEqual([[1006, false]]);
    const closed = closeOf(ws);
    socket.resume();
    expect((await closed).code).toBe(1001);
  });

  it("close() twice returns the same promise, and adoptSocket after close refuses", async () => {
    const loop = await listeningLoop({ protocols: [recordingEcho(new EventLog())] });
    const first = loop.close(100);
    expect(loop.close(100)).toBe(first);
    await first;
    const socket = await rawConnect(await echoPort());
    expect(loop.adoptSocket(socket)).toBeNull();
    expect(socket.destroyed).toBe(true);
  });
});

/** A plain TCP server that accepts (and ignores) connections, for a socket to adopt. */
async function echoPort(): Promise<number> {
  const accepted: import("node:net").Socket[] = [];
  const server = createServer((s) => accepted.push(s.on("error", () => {})));
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of accepted) s.destroy();
        server.close(() => resolve());
      }),
  );
  return (server.address() as { port: number }).port;
}

async function waitForEstablished(log: EventLog, count: number): Promise<void> {
  await waitUntil(() => log.of("ESTABLISHED").length >= count, `${count} ESTABLISHED`);
}
