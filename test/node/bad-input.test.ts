/**
 * Bad input at start-up and from peers. Start-up problems (a port in use, a missing or
 * unusable certificate) are clear errors naming the problem. Peers that misbehave — say
 * nothing, reset mid-frame, ask for a path nobody serves, are not WebSocket clients —
 * are dealt with and the loop goes on serving everyone else.
 */
import { writeFileSync } from "node:fs";
import { createServer as createNetServer, type Server } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { NodeLoop } from "../../src/loops/node/index.js";
import { EventLog } from "../helpers/event-log.js";
import { LOOPBACK, rawConnect, readAll, readUntil } from "../helpers/sockets.js";
import { clientFrame, statusOf, upgradeRequest } from "../helpers/wire.js";
import { Inbox, closeWs, openWs } from "../helpers/ws-client.js";
import { TestPki, capturingLogger, hasOpenssl, listeningLoop, recordingEcho } from "./helpers.js";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

function loopOn(log: EventLog, listen: Record<string, unknown>): NodeLoop {
  const loop = new NodeLoop({ logger: { level: "warn" }, vhosts: [{ name: "main", protocols: [recordingEcho(log)], listen: { host: LOOPBACK, port: 0, ...listen } }] });
  cleanups.push(() => loop.close(500));
  return loop;
}

describe("start-up errors name the problem", () => {
  it("a port in use: listen() rejects naming the address and the vhost", async () => {
    const taken: Server = createNetServer();
    await new Promise<void>((resolve) => taken.listen(0, LOOPBACK, resolve));
    cleanups.push(() => new Promise<void>((resolve) => taken.close(() => resolve())));
    const port = (taken.address() as { port: number }).port;
    const loop = loopOn(new EventLog(), { port });
    const failure = loop.listen();
    await expect(failure).rejects.toThrow(`cannot listen for vhost "main": ${LOOPBACK}:${port} is already in use`);
    await expect(failure).rejects.toMatchObject({ code: "EADDRINUSE" });
  });

  it("an interface that is not this machine's: listen() rejects saying so", async () => {
    // 192.0.2.0/24 is TEST-NET-1: never assigned to a real interface.
    const loop = loopOn(new EventLog(), { host: "192.0.2.1" });
    await expect(loop.listen()).rejects.toThrow('cannot listen for vhost "main": 192.0.2.1 is not an address of this machine');
  });

  it("a missing certificate file: listen() rejects naming the file", async () => {
    const loop = loopOn(new EventLog(), { tls: { certFile: "/nonexistent/wsloop/cert.pem", keyFile: "/nonexistent/wsloop/key.pem" } });
    await expect(loop.listen()).rejects.toThrow('vhost "main": cannot read the TLS certificate file "/nonexistent/wsloop/cert.pem": no such file');
  });

  it("TLS without a key: listen() rejects saying what is missing", async () => {
    const loop = loopOn(new EventLog(), { tls: { cert: "-----BEGIN CERTIFICATE-----\n" } });
    await expect(loop.listen()).rejects.toThrow('vhost "main": TLS needs a private key (key or keyFile)');
  });

  describe.skipIf(!hasOpenssl)("with a real certificate (needs the openssl CLI)", () => {
    let pki: TestPki;
    beforeAll(() => (pki = new TestPki()));
    afterAll(() => pki?.dispose());

    it("an unusable key (not a key, or not the certificate's): listen() rejects saying so", async () => {
      const good = pki.selfSigned("good", "good.test");
      const other = pki.selfSigned("other", "other.test");
      const garbage = `${pki.dir}/garbage.key`;
      writeFileSync(garbage, "this is not a PEM key\n");
      const loop = loopOn(new EventLog(), { tls: { certFile: good.certFile, keyFile: garbage } });
      await expect(loop.listen()).rejects.toThrow(/^vhost "main": the TLS certificate or key is not usable: /);
      const mismatched = loopOn(new EventLog(), { tls: { cert: good.cert, key: other.key } });
      await expect(mismatched.listen()).rejects.toThrow(/^vhost "main": the TLS certificate or key is not usable: .*key values mismatch/);
    });
  });
});

describe("misbehaving peers", () => {
  it("a client that connects and sends nothing is closed at the handshake timeout", async () => {
    const log = new EventLog();
    const loop = new NodeLoop({
      logger: { level: "warn" },
      vhosts: [{ protocols: [recordingEcho(log)], timeouts: { handshakeMs: 300 }, listen: { port: 0, host: LOOPBACK } }],
    });
    cleanups.push(() => loop.close(500));
    await loop.listen();
    const started = performance.now();
    const socket = await rawConnect(loop.port);
    cleanups.push(() => void socket.destroy());
    const received = await readAll(socket, 3_000);
    const took = performance.now() - started;
    expect(received).toBe(""); // no answer, just the end
    expect(took).toBeGreaterThanOrEqual(299);
    expect(took).toBeLessThan(3_000);
    expect(log.of("ESTABLISHED")).toHaveLength(0);
    expect(loop.context.connectionCount).toBe(0);
  });

  it("a peer that resets mid-frame: CLOSED with 1006, nothing thrown, another connection unaffected", async () => {
    const logger = capturingLogger("info");
    const log = new EventLog();
    const loop = await listeningLoop({ protocols: [recordingEcho(log)], logger: logger.options });
    cleanups.push(() => loop.close(500));
    const bystander = await openWs(`ws://${LOOPBACK}:${loop.port}/`);
    cleanups.push(() => closeWs(bystander));
    const inbox = new Inbox(bystander);

    const socket = await rawConnect(loop.port);
    socket.on("error", () => {});
    socket.write(upgradeRequest());
    await readUntil(socket, "\r\n\r\n");
    const frame = clientFrame(Buffer.alloc(1000, 7), 0x2);
    socket.write(frame.subarray(0, 500));
    await log.waitFor("ESTABLISHED", (e) => log.of("ESTABLISHED").indexOf(e) === 1);
    const gone = log.waitFor("CLOSED");
    socket.resetAndDestroy();
    const closed = await gone;
    expect([closed.code, closed.clean]).toEqual([1006, false]);
    expect(log.of("RECEIVE")).toHaveLength(0);
    expect(logger.lines.filter((l) => l.level === "err")).toEqual([]);

    bystander.send("still here");
    expect((await inbox.next()).data.toString()).toBe("still here");
  });

  it("an upgrade to a path no route serves is answered 404", async () => {
    const log = new EventLog();
    const loop = new NodeLoop({
      logger: { level: "warn" },
      vhosts: [{ protocols: [recordingEcho(log)], routes: { "/ws": "echo" }, listen: { port: 0, host: LOOPBACK } }],
    });
    cleanups.push(() => loop.close(500));
    await loop.listen();
    const socket = await rawConnect(loop.port);
    const response = readAll(socket);
    socket.write(upgradeRequest("/elsewhere"));
    const answer = await response;
    expect(statusOf(answer)).toBe(404);
    expect(answer).toContain("no WebSocket service at /elsewhere");
    // The served path still works.
    const ws = await openWs(`ws://${LOOPBACK}:${loop.port}/ws`);
    cleanups.push(() => closeWs(ws));
    expect(log.of("ESTABLISHED")).toHaveLength(1);
  });

  it("a plain HTTP request (no upgrade), with no mount and no HTTP handler, is answered 404 and closed when it asks", async () => {
    const loop = await listeningLoop({ protocols: [recordingEcho(new EventLog())] });
    cleanups.push(() => loop.close(500));
    const socket = await rawConnect(loop.port);
    const response = readAll(socket);
    socket.write(`GET / HTTP/1.1\r\nHost: ${LOOPBACK}\r\nConnection: close\r\n\r\n`);
    const answer = await response;
    expect(statusOf(answer)).toBe(404);
    expect(answer).toContain("<title>404 Not Found</title>");
  });
});
