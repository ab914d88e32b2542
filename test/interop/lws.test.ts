/**
 * Interop with libwebsockets itself: Debian's libwebsockets 4.1.6 test apps (package
 * libwebsockets-test-server, installed by .ci/install-peers.sh; their behaviour is
 * written down in ./peers/lws-apps.md, helpers in ./peers/lws.ts).
 *
 * - libwebsockets-test-client against wsloop's demo protocols (echo, dumb-increment,
 *   lws-mirror, in-process on a NodeLoop): it opens a dumb-increment and a mirror
 *   connection; it must receive rising numbers (logged with -d 15) and its mirror
 *   messages must be mirrored (seen by a second member of the same ?mirror= instance).
 *   It offers permessage-deflate on both and breaks if the server accepts it: wsloop
 *   declines (it has no deflate yet).
 * - wsloop's client (NodeLoop.connect) against libwebsockets-test-server bound to
 *   loopback (-i lo): dumb-increment numbers, "reset\n", "closeme\n"; two mirror
 *   connections on one ?mirror= instance.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { dumbIncrementProtocol } from "../../src/demo/dumb-increment-protocol.js";
import { mirrorProtocol } from "../../src/demo/mirror-protocol.js";
import type { Connection } from "../../src/poll/connection.js";
import {
  LWS_LOG_INFO,
  LWS_TEST_CLIENT,
  LWS_TEST_SERVER,
  dumbIncrementReceived,
  runLwsTestClient,
  startLwsTestServer,
  summarizeLwsClient,
  type LwsTestServer,
} from "./peers/lws.js";
import { EventLog as Recorder } from "../helpers/event-log.js";
import { LOOPBACK } from "../helpers/sockets.js";
import { waitUntil } from "../helpers/wait.js";
import {
  clientLoop,
  describeWithPeer,
  echoWithCloseMe,
  executableCheck,
  recordHandshakes,
  recordingClient,
  startWsloopServer,
  type SeenHandshake,
  type WsloopServer,
} from "./helpers.js";

const LWS_CHECK = executableCheck(LWS_TEST_SERVER, LWS_TEST_CLIENT);
const MIRROR_LINE = /^c #[0-9A-F]{6} \d+ \d+ \d+;$/;
const DUMB = "dumb-increment-protocol";
const MIRROR = "lws-mirror-protocol";

/** Consecutive decimal numbers, each one more than the one before? */
function consecutive(values: readonly string[]): boolean {
  return values.every((v, i) => /^\d+$/.test(v) && (i === 0 || Number(v) === Number(values[i - 1]) + 1));
}

const texts = (recorder: Recorder, connection: unknown) =>
  recorder
    .of("CLIENT_RECEIVE")
    .filter((e) => e.connection === connection)
    .map((e) => e.data.toString("utf8"));

describeWithPeer("interop: libwebsockets-test-client → wsloop demo protocols", "libwebsockets-test-server", LWS_CHECK, () => {
  let server: WsloopServer;
  const seen: SeenHandshake[] = [];
  const loops: Array<{ close(ms?: number): Promise<void> }> = [];

  beforeAll(async () => {
    server = await startWsloopServer(
      [echoWithCloseMe("echo", seen), recordHandshakes(dumbIncrementProtocol(), seen), recordHandshakes(mirrorProtocol(), seen)],
      "echo",
    );
  });
  afterAll(async () => {
    await Promise.allSettled(loops.map((l) => l.close(1_000)));
    await server?.close();
  });

  it("connects on both protocols, gets rising numbers from dumb-increment, and its mirror messages are mirrored", async () => {
    // A wsloop client joins the same mirror instance first, to watch what the lws
    // client's drawing commands turn into.
    const watcher = new Recorder();
    const watch = recordingClient(watcher, MIRROR);
    const loop = clientLoop([watch.protocol]);
    loops.push(loop);
    const watching = loop.connect({ url: `ws://${LOOPBACK}:${server.port}/?mirror=lws-interop`, protocols: [MIRROR] });
    await watcher.waitFor("CLIENT_ESTABLISHED", () => true, 5_000, "the watcher on the mirror instance");

    // Bounded run: SIGINT after 3 s (the client never exits by itself without -O, and with
    // -O only after 16k..82k mirror messages). It then leaves without close frames.
    const run = await runLwsTestClient([`ws://${LOOPBACK}:${server.port}/?mirror=lws-interop`, "-d", String(LWS_LOG_INFO)], 3_000);
    const summary = summarizeLwsClient(run.stderr);
    const why = `libwebsockets-test-client stderr (tail):\n${run.stderr.split("\n").slice(-40).join("\n")}\nwsloop log: ${server.log.join(" | ") || "none"}`;

    expect(run.timedOut, why).toBe(true);
    expect(summary.connectionErrors, why).toEqual([]);
    expect(run.stderr, why).not.toMatch(/DROPPING|failed construction/);

    // Both connections went through the handshake on the protocol they asked for, and the
    // deflate offer (on both) was declined.
    const dumbSeen = seen.filter((s) => s.protocol === DUMB);
    const mirrorSeen = seen.filter((s) => s.protocol === MIRROR);
    expect(dumbSeen.length, why).toBeGreaterThanOrEqual(1);
    expect(mirrorSeen.length, why).toBeGreaterThanOrEqual(1);
    expect(dumbSeen[0]!.extensions ?? "", "the lws client offers permessage-deflate").toMatch(/permessage-deflate/);
    expect(summary.httpResponses, why).toContain(101);

    // dumb-increment: "0", "1", "2", … every 50 ms.
    const numbers = dumbIncrementReceived(run.stderr);
    expect(numbers.length, why).toBeGreaterThanOrEqual(10);
    expect(numbers[0], why).toBe("0");
    expect(consecutive(numbers), `not consecutive: ${numbers.join(",")}`).toBe(true);

    // mirror: established, and what it sent reached the other member of the instance.
    expect(summary.mirrorEstablished, why).toBeGreaterThanOrEqual(1);
    expect(summary.mirrorLifetimes.length, why).toBeGreaterThanOrEqual(1);
    const mirrored = texts(watcher, watching);
    expect(mirrored.length, why).toBeGreaterThanOrEqual(10);
    const bad = mirrored.filter((m) => !MIRROR_LINE.test(m));
    expect(bad.slice(0, 5), "mirrored messages that are not the lws client's drawing commands").toEqual([]);
    expect(watcher.of("CLIENT_RECEIVE").every((e) => !e.binary)).toBe(true);
    expect(watcher.of("CLIENT_CLOSED"), "the watcher stays connected").toEqual([]);
  }, 20_000);

  it("with -O it exits as soon as wsloop closes the mirror connection, echoing the close", async () => {
    // A mirror protocol that closes every connection with 4002 "mirror-bye" after its
    // first message: the lws client answers the close and, with -O, exits at once.
    const mirror = mirrorProtocol();
    const closing = recordHandshakes({
      ...mirror,
      callback(event) {
        if (event.reason === "RECEIVE") {
          event.connection.close(4002, "mirror-bye");
          return;
        }
        return mirror.callback(event);
      },
    });
    const closed: Array<{ code: number; reason: string; clean: boolean }> = [];
    const observed = {
      ...closing,
      callback(event: Parameters<typeof closing.callback>[0]) {
        if (event.reason === "CLOSED") closed.push({ code: event.code, reason: event.closeReason, clean: event.clean });
        return closing.callback(event);
      },
    };
    const own = await startWsloopServer([echoWithCloseMe(), dumbIncrementProtocol(), observed], "echo");
    try {
      const started = Date.now();
      const run = await runLwsTestClient([`ws://${LOOPBACK}:${own.port}/`, "-O"], 10_000);
      const summary = summarizeLwsClient(run.stderr);
      const why = `stderr:\n${run.stderr}\nwsloop log: ${own.log.join(" | ") || "none"}`;
      expect(run.timedOut, why).toBe(false);
      expect(Date.now() - started).toBeLessThan(8_000);
      expect(summary.mirrorEstablished, why).toBe(1);
      expect(summary.mirrorClosedByClient, "closed by wsloop, not by its lifetime").toBe(0);
      expect(summary.exiting, why).toBe(true);
      // wsloop saw the lws client answer its close: a clean close handshake.
      expect(closed, why).toEqual([{ code: 4002, reason: "mirror-bye", clean: true }]);
    } finally {
      await own.close();
    }
  }, 20_000);
});

describeWithPeer("interop: wsloop client → libwebsockets-test-server", "libwebsockets-test-server", LWS_CHECK, () => {
  let lws: LwsTestServer;
  const loops: Array<{ close(ms?: number): Promise<void> }> = [];
  beforeAll(async () => {
    lws = await startLwsTestServer(0);
  }, 15_000);
  afterAll(async () => {
    await Promise.allSettled(loops.map((l) => l.close(1_000)));
    await lws?.stop();
  });

  const why = () => `libwebsockets-test-server stderr:\n${lws.stderr().split("\n").slice(-30).join("\n")}`;

  function client(protocolName: string) {
    const recorder = new Recorder();
    const c = recordingClient(recorder, protocolName);
    const loop = clientLoop([c.protocol]);
    loops.push(loop);
    return { recorder, send: c.send, loop };
  }

  it("dumb-increment-protocol: rising numbers; \"reset\\n\" restarts the counter; \"closeme\\n\" closes with 1001 \"seeya\"", async () => {
    const { recorder, send, loop } = client(DUMB);
    const connection = loop.connect({ url: `ws://${LOOPBACK}:${lws.port}/`, protocols: [DUMB] }) as Connection;
    await recorder.waitFor("CLIENT_ESTABLISHED", () => true, 5_000);
    expect(connection.subprotocol).toBe(DUMB);

    const numbers = () => texts(recorder, connection);
    await recorder.waitFor("CLIENT_RECEIVE", () => numbers().length >= 8, 5_000, "8 numbers");
    const before = numbers();
    // The first "0" may share a TCP read with the 101 response (lws-apps.md): it must not be lost.
    expect(before[0], `first numbers: ${before.join(",")}`).toBe("0");
    expect(consecutive(before), `not consecutive: ${before.join(",")}`).toBe(true);
    expect(recorder.of("CLIENT_RECEIVE").every((e) => !e.binary && e.first && e.final)).toBe(true);

    // Reset: the counter starts again from 0 and rises from there.
    const countAtReset = numbers().length;
    const highest = Number(before.at(-1));
    send(connection, "reset\n");
    await recorder.waitFor(
      "CLIENT_RECEIVE",
      () => {
        const after = numbers().slice(countAtReset);
        const restart = after.indexOf("0");
        return restart >= 0 && after.length - restart >= 3;
      },
      5_000,
      "the counter to restart at 0 after reset",
    );
    const after = numbers().slice(countAtReset);
    const restart = after.indexOf("0");
    // Numbers already on their way when the reset arrived continue the old sequence.
    expect(consecutive([String(highest), ...after.slice(0, restart)]), `before the restart: ${after.join(",")}`).toBe(true);
    expect(consecutive(after.slice(restart)), `after the restart: ${after.join(",")}`).toBe(true);

    send(connection, "closeme\n");
    const closed = await recorder.waitFor("CLIENT_CLOSED", () => true, 5_000);
    expect({ code: closed.code, reason: closed.closeReason, clean: closed.clean }, why()).toEqual({ code: 1001, reason: "seeya", clean: true });
    expect(closed.error).toBeUndefined();
  }, 20_000);

  it("a subprotocol lws does not serve: lws drops the TCP connection, wsloop reports CLIENT_CONNECTION_ERROR with the cause", async () => {
    const { recorder, loop } = client("no-such-protocol");
    loop.connect({ url: `ws://${LOOPBACK}:${lws.port}/`, protocols: ["no-such-protocol"] });
    const error = await recorder.waitFor("CLIENT_CONNECTION_ERROR", () => true, 5_000);
    expect(error.cause, why()).toMatch(/closed the connection during the opening handshake/);
    expect(recorder.of("CLIENT_ESTABLISHED")).toEqual([]);
    await waitUntil(() => /No supported protocol "no-such-protocol"/.test(lws.stderr()), () => `lws to log the refusal; ${why()}`, 3_000);
  }, 15_000);

  it("lws-mirror-protocol: two connections on ?mirror=x each get what the other sends, then close cleanly", async () => {
    const { recorder, send, loop } = client(MIRROR);
    const url = `ws://${LOOPBACK}:${lws.port}/?mirror=wsloop-${process.pid}`;
    const a = loop.connect({ url, protocols: [MIRROR] }) as Connection;
    const b = loop.connect({ url, protocols: [MIRROR] }) as Connection;
    await recorder.waitFor("CLIENT_ESTABLISHED", () => recorder.of("CLIENT_ESTABLISHED").length === 2, 5_000, "both mirror connections");
    expect([a.subprotocol, b.subprotocol]).toEqual([MIRROR, MIRROR]);

    const fromA = "c #12AB34 100 50 8; from wsloop A ✓";
    send(a, fromA);
    await recorder.waitFor("CLIENT_RECEIVE", (e) => e.connection === b && e.data.toString("utf8") === fromA, 5_000, "A's message at B");
    const fromB = "c #FEDCBA 7 8 9; from wsloop B 🚀";
    send(b, fromB);
    await recorder.waitFor("CLIENT_RECEIVE", (e) => e.connection === a && e.data.toString("utf8") === fromB, 5_000, "B's message at A");
    // lws mirrors to every member, the sender included, in the order received.
    await recorder.waitFor("CLIENT_RECEIVE", () => texts(recorder, a).length >= 2 && texts(recorder, b).length >= 2, 5_000, "both messages at both");
    expect(texts(recorder, a)).toEqual([fromA, fromB]);
    expect(texts(recorder, b)).toEqual([fromA, fromB]);

    a.close(1000, "bye A");
    b.close(4000, "bye B");
    await recorder.waitFor("CLIENT_CLOSED", () => recorder.of("CLIENT_CLOSED").length === 2, 5_000, "both closed");
    const closes = recorder.of("CLIENT_CLOSED").map((e) => ({ who: e.connection === a ? "a" : "b", code: e.code, clean: e.clean }));
    expect(closes.sort((x, y) => x.who.localeCompare(y.who)), why()).toEqual([
      { who: "a", code: 1000, clean: true },
      { who: "b", code: 4000, clean: true },
    ]);
  }, 20_000);
});
