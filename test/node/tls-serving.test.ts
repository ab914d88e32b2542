/**
 * Serving wss://: certificate and key from PEM in memory or from files, SNI choosing the
 * vhost by name (exact, then a parent domain, as lws matches), a CA verifying client
 * certificates, and a cipher list. Certificates are made at test time with `openssl`.
 */
import type { TLSSocket } from "node:tls";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { NodeLoop, type NodeTlsOptions } from "../../src/loops/node/index.js";
import { EventLog } from "../helpers/event-log.js";
import { LOOPBACK, rawConnect, readAll } from "../helpers/sockets.js";
import { Inbox, closeWs, openWs } from "../helpers/ws-client.js";
import { TestPki, hasOpenssl, recordingEcho, type Pem } from "./helpers.js";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function tlsLoop(log: EventLog, tls: NodeTlsOptions): Promise<NodeLoop> {
  const loop = new NodeLoop({ logger: { level: "warn" }, vhosts: [{ protocols: [recordingEcho(log)], listen: { port: 0, host: LOOPBACK, tls } }] });
  cleanups.push(() => loop.close(1_000));
  await loop.listen();
  return loop;
}

/** ws hands these to tls.connect; its types leave out servername (SNI). */
type TlsClientOptions = WebSocket.ClientOptions & { servername?: string };

async function wss(url: string, options: TlsClientOptions): Promise<WebSocket> {
  const ws = await openWs(url, undefined, options);
  cleanups.push(() => closeWs(ws));
  return ws;
}

function tlsSocketOf(ws: WebSocket): TLSSocket {
  return (ws as unknown as { _socket: TLSSocket })._socket;
}

async function roundTrip(ws: WebSocket, text: string): Promise<string> {
  const inbox = new Inbox(ws);
  ws.send(text);
  return (await inbox.next()).data.toString();
}

// Without openssl there is no way to make certificates here; say so instead of passing.
describe.skipIf(!hasOpenssl)("NodeLoop serving wss:// (needs the openssl CLI to make certificates)", () => {
  let pki: TestPki;
  let localhost: Pem;
  beforeAll(() => {
    pki = new TestPki();
    localhost = pki.signed("localhost", "localhost", ["DNS:localhost", "IP:127.0.0.1"]);
  });
  afterAll(() => pki?.dispose());

  it("serves with a certificate and key given as PEM in memory", async () => {
    const log = new EventLog();
    const loop = await tlsLoop(log, { cert: localhost.cert, key: localhost.key });
    expect(loop.addresses[0]!.tls).toBe(true);
    // A properly verifying client: the CA is trusted, the name checked.
    const ws = await wss(`wss://127.0.0.1:${loop.port}/`, { ca: pki.ca.cert, servername: "localhost" });
    expect(tlsSocketOf(ws).authorized).toBe(true);
    expect(await roundTrip(ws, "über TLS 🔒")).toBe("über TLS 🔒");
  });

  it("serves with a certificate and key read from files", async () => {
    const log = new EventLog();
    const loop = await tlsLoop(log, { certFile: localhost.certFile, keyFile: localhost.keyFile });
    const ws = await wss(`wss://127.0.0.1:${loop.port}/`, { ca: pki.ca.cert });
    expect(tlsSocketOf(ws).getPeerCertificate().subject.CN).toBe("localhost");
    expect(await roundTrip(ws, "from files")).toBe("from files");
  });

  it("accepts a self-signed certificate (a client that skips verification connects)", async () => {
    const self = pki.selfSigned("self", "self.test");
    const loop = await tlsLoop(new EventLog(), { cert: self.cert, key: self.key });
    const ws = await wss(`wss://127.0.0.1:${loop.port}/`, { rejectUnauthorized: false });
    expect(tlsSocketOf(ws).authorized).toBe(false);
    expect(await roundTrip(ws, "anyway")).toBe("anyway");
  });

  it("uses the cipher list it is given (TLS 1.2)", async () => {
    const loop = await tlsLoop(new EventLog(), { cert: localhost.cert, key: localhost.key, ciphers: "ECDHE-ECDSA-AES128-GCM-SHA256" });
    const ws = await wss(`wss://127.0.0.1:${loop.port}/`, { ca: pki.ca.cert, maxVersion: "TLSv1.2" });
    expect(tlsSocketOf(ws).getCipher().name).toBe("ECDHE-ECDSA-AES128-GCM-SHA256");
  });

  it("a client that opens TCP and never starts TLS is dropped at the vhost's handshake timeout", async () => {
    const loop = new NodeLoop({
      logger: { level: "warn" },
      vhosts: [{ protocols: [recordingEcho(new EventLog())], timeouts: { handshakeMs: 300 }, listen: { port: 0, host: LOOPBACK, tls: { cert: localhost.cert, key: localhost.key } } }],
    });
    cleanups.push(() => loop.close(500));
    await loop.listen();
    const started = performance.now();
    const socket = await rawConnect(loop.port);
    cleanups.push(() => void socket.destroy());
    expect(await readAll(socket, 3_000)).toBe("");
    const took = performance.now() - started;
    expect(took).toBeGreaterThanOrEqual(299);
    expect(took).toBeLessThan(3_000);
  });

  it("close() does not wait for a TLS handshake still in progress", async () => {
    const loop = await tlsLoop(new EventLog(), { cert: localhost.cert, key: localhost.key });
    const socket = await rawConnect(loop.port); // TCP only: the handshake never starts
    cleanups.push(() => void socket.destroy());
    const ended = readAll(socket, 3_000);
    const started = Date.now();
    await loop.close(2_000);
    expect(Date.now() - started).toBeLessThan(2_000);
    await ended;
  });

  describe("SNI: two vhosts on one port, each with its own certificate", () => {
    let a: Pem;
    let b: Pem;
    let loop: NodeLoop;
    const log = new EventLog();
    beforeAll(async () => {
      a = pki.selfSigned("a", "a.test", ["DNS:a.test"]);
      b = pki.selfSigned("b", "b.test", ["DNS:b.test"]);
      loop = new NodeLoop({
        logger: { level: "warn" },
        vhosts: [
          { name: "a.test", protocols: [recordingEcho(log)], listen: { port: 0, host: LOOPBACK, tls: { cert: a.cert, key: a.key } } },
          { name: "b.test", protocols: [recordingEcho(log)], listen: { port: 0, host: LOOPBACK, tls: { cert: b.cert, key: b.key } } },
        ],
      });
      await loop.listen();
      // Port 0 would give each its own port: share the first one's, as a fixed port would.
      await loop.close(100);
      const port = loop.addresses[0]!.port;
      loop = new NodeLoop({
        logger: { level: "warn" },
        vhosts: [
          { name: "a.test", protocols: [recordingEcho(log)], listen: { port, host: LOOPBACK, tls: { cert: a.cert, key: a.key } } },
          { name: "b.test", protocols: [recordingEcho(log)], listen: { port, host: LOOPBACK, tls: { cert: b.cert, key: b.key } } },
        ],
      });
      const addresses = await loop.listen();
      expect(addresses).toHaveLength(1);
      expect(addresses[0]!.vhosts).toEqual(["a.test", "b.test"]);
    });
    afterAll(() => loop?.close(1_000));

    async function connectAs(servername: string | undefined): Promise<{ cn: string; vhost: string }> {
      const before = log.of("ESTABLISHED").length;
      const ws = await wss(`wss://127.0.0.1:${loop.port}/`, { rejectUnauthorized: false, ...(servername ? { servername } : {}) });
      const cn = tlsSocketOf(ws).getPeerCertificate().subject.CN as string;
      const established = await log.waitFor("ESTABLISHED", () => log.of("ESTABLISHED").length > before);
      const vhost = log.of("ESTABLISHED")[before]!.connection.vhost.name;
      void established;
      return { cn, vhost };
    }

    it("an exact name gets its vhost's certificate and is served by that vhost", async () => {
      expect(await connectAs("b.test")).toEqual({ cn: "b.test", vhost: "b.test" });
      expect(await connectAs("a.test")).toEqual({ cn: "a.test", vhost: "a.test" });
    });

    it("a name under a vhost's domain (x.b.test) gets the parent's certificate, as lws matches", async () => {
      expect(await connectAs("x.b.test")).toEqual({ cn: "b.test", vhost: "b.test" });
      expect(await connectAs("deep.x.a.test")).toEqual({ cn: "a.test", vhost: "a.test" });
    });

    it("an unknown name, or no SNI at all, gets the first vhost", async () => {
      expect(await connectAs("c.test")).toEqual({ cn: "a.test", vhost: "a.test" });
      expect(await connectAs(undefined)).toEqual({ cn: "a.test", vhost: "a.test" });
    });
  });

  describe("client certificates verified against a CA", () => {
    let loop: NodeLoop;
    const log = new EventLog();
    beforeAll(async () => {
      loop = new NodeLoop({
        logger: { level: "warn" },
        vhosts: [
          {
            protocols: [recordingEcho(log)],
            listen: { port: 0, host: LOOPBACK, tls: { cert: localhost.cert, key: localhost.key, ca: pki.ca.cert, requireClientCert: true } },
          },
        ],
      });
      await loop.listen();
    });
    afterAll(() => loop?.close(1_000));

    it("a client with a certificate signed by the CA is accepted", async () => {
      const client = pki.signed("alice", "alice", ["DNS:alice"], "client");
      const ws = await wss(`wss://127.0.0.1:${loop.port}/`, { ca: pki.ca.cert, cert: client.cert, key: client.key });
      expect(await roundTrip(ws, "it's me")).toBe("it's me");
    });

    it("a client without a certificate is refused and never reaches a protocol", async () => {
      const before = log.of("FILTER_NETWORK_CONNECTION").length;
      await expect(openWs(`wss://127.0.0.1:${loop.port}/`, undefined, { ca: pki.ca.cert })).rejects.toThrow();
      await expect(refusedAgain(loop, pki.ca.cert)).resolves.toBe(true);
      expect(log.of("FILTER_NETWORK_CONNECTION").length).toBe(before);
    });

    it("a client whose certificate no trusted CA signed is refused", async () => {
      const stranger = pki.selfSigned("mallory", "mallory");
      const before = log.of("FILTER_NETWORK_CONNECTION").length;
      await expect(
        openWs(`wss://127.0.0.1:${loop.port}/`, undefined, { ca: pki.ca.cert, cert: stranger.cert, key: stranger.key }),
      ).rejects.toThrow();
      expect(log.of("FILTER_NETWORK_CONNECTION").length).toBe(before);
    });
  });
});

/** The refusal is not a fluke of one attempt: the listener still refuses, and still serves. */
async function refusedAgain(loop: NodeLoop, ca: string): Promise<boolean> {
  try {
    const ws = await openWs(`wss://127.0.0.1:${loop.port}/`, undefined, { ca });
    ws.terminate();
    return false;
  } catch {
    return true;
  }
}
