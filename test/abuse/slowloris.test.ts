/**
 * Slowloris and header floods on real sockets. Each test states its bound:
 *
 * - one header byte every 50 ms with handshakeMs 500: the server hangs up at the
 *   handshake timeout (500 ms, well before the ~150-byte head could complete; the HTTP
 *   role may say 408 first), and
 *   50 such peers at once do not delay an honest client;
 * - a 64 KiB header: 431 and the end of the connection, the 431 coming before 32 KiB
 *   have been sent when the header trickles in (the head limit is 16 KiB);
 * - 101 header fields: 431.
 */
import { afterEach, describe, expect, it } from "vitest";
import { echoProtocol } from "../../src/demo/echo-protocol.js";
import { waitUntil } from "../helpers/wait.js";
import { clientFrame, upgradeRequest } from "../helpers/wire.js";
import { Sink, connectRaw, openWebSocket, serve, type Served } from "./helpers.js";

const HANDSHAKE_MS = 500;
let served: Served | null = null;
afterEach(async () => {
  await served?.stop();
  served = null;
});

describe("slowloris", () => {
  it("one header byte every 50 ms: closed at the handshake timeout (500 ms), long before the head completes", async () => {
    served = await serve(echoProtocol(), { timeouts: { handshakeMs: HANDSHAKE_MS } });
    const socket = await connectRaw(served.port);
    const sink = new Sink(socket);
    const request = Buffer.from(upgradeRequest(), "latin1");
    const started = Date.now();
    let sent = 0;
    // The attacker's pace, not a wait: it stops as soon as the server hangs up.
    const drip = setInterval(() => {
      if (sink.closed || sent >= request.length) return;
      socket.write(request.subarray(sent, sent + 1));
      sent++;
    }, 50);
    try {
      await waitUntil(() => sink.closed, "the server to hang up", 5_000);
    } finally {
      clearInterval(drip);
    }
    const elapsed = sink.closedAt - started;
    expect(elapsed).toBeGreaterThanOrEqual(HANDSHAKE_MS - 20);
    expect(elapsed).toBeLessThan(HANDSHAKE_MS + 700);
    // ~10 of ~150 bytes: the head was nowhere near complete. At most a 408 was answered.
    expect(sent).toBeLessThan(request.length / 4);
    expect(sink.text()).toMatch(/^(|HTTP\/1\.1 408 [^]*)$/);
    await waitUntil(() => served!.loop.context.connectionCount === 0, "no connection left");
  });

  it("50 slowloris peers at once are all dropped at the timeout while an honest client is served meanwhile", async () => {
    served = await serve(echoProtocol(), { timeouts: { handshakeMs: HANDSHAKE_MS } });
    const attackers = await Promise.all(Array.from({ length: 50 }, () => connectRaw(served!.port)));
    const sinks = attackers.map((s) => new Sink(s));
    const started = Date.now();
    const drip = setInterval(() => {
      for (const s of attackers) if (!s.destroyed) s.write("G");
    }, 50);
    try {
      // An honest client gets its echo while the attackers are connected.
      const honest = await openWebSocket(served.port);
      const got = new Sink(honest);
      honest.write(clientFrame(0x1, "still served"));
      await waitUntil(() => got.text().includes("still served"), "the honest client's echo", 2_000);
      // Served meanwhile: the attackers are still connected when the echo arrives.
      expect(sinks.filter((s) => !s.closed).length).toBe(50);
      honest.destroy();
      await waitUntil(() => sinks.every((s) => s.closed), "every attacker dropped", 5_000);
    } finally {
      clearInterval(drip);
    }
    const latest = Math.max(...sinks.map((s) => s.closedAt)) - started;
    expect(latest).toBeLessThan(HANDSHAKE_MS + 1_000);
    await waitUntil(() => served!.loop.context.connectionCount === 0, "no connection left");
  });
});

describe("header floods", () => {
  it("a 64 KiB header in one write: 431, then the server ends the connection", async () => {
    served = await serve(echoProtocol());
    const socket = await connectRaw(served.port);
    const sink = new Sink(socket);
    socket.write(upgradeRequest([`X-Flood: ${"a".repeat(64 * 1024)}`]));
    await waitUntil(() => sink.closed, "the server to hang up", 5_000);
    expect(sink.text()).toMatch(/^HTTP\/1\.1 431 /);
    expect(sink.text()).toMatch(/\r\nConnection: close\r\n/i);
    await waitUntil(() => served!.loop.context.connectionCount === 0, "no connection left");
  });

  it("a header trickled in 1 KiB pieces: the 431 comes before 32 KiB are sent (the head limit is 16 KiB)", async () => {
    served = await serve(echoProtocol());
    const socket = await connectRaw(served.port);
    const sink = new Sink(socket);
    const flood = Buffer.from(upgradeRequest([`X-Flood: ${"a".repeat(256 * 1024)}`]), "latin1");
    let sent = 0;
    let sentWhenAnswered = -1;
    while (sent < flood.length && !sink.closed) {
      if (sink.bytes > 0 && sentWhenAnswered < 0) sentWhenAnswered = sent;
      socket.write(flood.subarray(sent, sent + 1024));
      sent += 1024;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    await waitUntil(() => sink.closed, "the server to hang up", 5_000);
    if (sentWhenAnswered < 0) sentWhenAnswered = sent;
    expect(sink.text()).toMatch(/^HTTP\/1\.1 431 /);
    expect(sentWhenAnswered).toBeLessThanOrEqual(32 * 1024);
    await waitUntil(() => served!.loop.context.connectionCount === 0, "no connection left");
  });

  it("101 header fields: 431", async () => {
    served = await serve(echoProtocol());
    const socket = await connectRaw(served.port);
    const sink = new Sink(socket);
    socket.write(upgradeRequest(Array.from({ length: 101 }, (_, i) => `X-F${i}: v`)));
    await waitUntil(() => sink.closed, "the server to hang up", 5_000);
    expect(sink.text()).toMatch(/^HTTP\/1\.1 431 /);
  });
});
