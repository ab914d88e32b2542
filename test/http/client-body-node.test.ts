/**
 * A streamed request body on a real socket: the Node loop's HTTP client uploads to a
 * node:http server that reads the body and answers with its length and SHA-256. The
 * server holds the body back for a while first: the client's pieces must stop coming
 * (TCP pushes back through the write ladder) rather than pile up in memory.
 */
import { createHash, randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { NodeLoop } from "../../src/loops/node/index.js";
import { defineProtocol, type CallbackEvent, type ConnectInfo } from "../../src/poll/index.js";

const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A node:http server answering "<length> <sha256>" of each request body, reading it only once `gate` opens. */
async function digestServer(gate: Promise<void> = Promise.resolve()): Promise<{ port: number; started: Promise<void> }> {
  let markStarted!: () => void;
  const started = new Promise<void>((resolve) => (markStarted = resolve));
  const server: Server = createServer((req, res) => {
    req.pause();
    markStarted();
    void gate.then(() => {
      const hash = createHash("sha256");
      let length = 0;
      req.on("data", (chunk: Buffer) => {
        hash.update(chunk);
        length += chunk.length;
      });
      req.on("end", () => res.end(`${length} ${hash.digest("hex")} ${req.headers["transfer-encoding"] ?? req.headers["content-length"]}`));
      req.resume();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  return { port: (server.address() as AddressInfo).port, started };
}

/** A Node-loop client streaming `body` in `pieceBytes` pieces; resolves with the response text. */
function upload(info: ConnectInfo, body: Buffer, pieceBytes: number) {
  const stats = { writeables: 0, written: 0, bufferedAtWriteable: 0 };
  let answer = "";
  let resolveDone!: (reasons: string[]) => void;
  const done = new Promise<string[]>((resolve) => (resolveDone = resolve));
  const reasons: string[] = [];
  const client = defineProtocol<null>({
    name: "uploader",
    callback(event: CallbackEvent<null>) {
      if (!event.reason.endsWith("_POLL_FD") && event.reason !== "PROTOCOL_INIT" && event.reason !== "CLIENT_HTTP_WRITEABLE") reasons.push(event.reason);
      switch (event.reason) {
        case "CLIENT_APPEND_HANDSHAKE_HEADER":
          event.connection.requestWriteable();
          break;
        case "CLIENT_HTTP_WRITEABLE": {
          stats.writeables++;
          stats.bufferedAtWriteable = Math.max(stats.bufferedAtWriteable, event.connection.bufferedAmount);
          const piece = body.subarray(stats.written, stats.written + pieceBytes);
          stats.written += piece.length;
          const final = stats.written === body.length;
          event.connection.writeHttp(piece, { final });
          if (!final) event.connection.requestWriteable();
          break;
        }
        case "RECEIVE_CLIENT_HTTP":
          answer += event.data.toString("latin1");
          break;
        case "CLOSED_CLIENT_HTTP":
        case "CLIENT_CONNECTION_ERROR":
          resolveDone(reasons);
          break;
      }
    },
  });
  const loop = new NodeLoop({ logger: { level: "warn" }, vhosts: [{ protocols: [client] }] });
  cleanups.push(() => loop.close(500));
  loop.connect(info);
  return { stats, done, answer: () => answer };
}

describe("a streamed request body over a real socket", () => {
  it("Content-Length, 16 MiB in 64 KiB pieces: the pieces stop while the server does not read, then all arrive", async () => {
    const body = randomBytes(16 * 1024 * 1024);
    let open!: () => void;
    const server = await digestServer(new Promise<void>((resolve) => (open = resolve)));
    const up = upload({ url: `http://127.0.0.1:${server.port}/up`, method: "PUT", bodyLength: body.length }, body, 64 * 1024);
    await server.started;
    // Wait until the writer has stalled: no piece for 100 ms.
    let last = -1;
    for (let i = 0; i < 100 && up.stats.writeables !== last; i++) {
      last = up.stats.writeables;
      await sleep(100);
    }
    expect(up.stats.writeables).toBe(last);
    expect(up.stats.written).toBeLessThan(body.length);
    open();
    const reasons = await up.done;
    expect(reasons).toEqual(["CLIENT_APPEND_HANDSHAKE_HEADER", "ESTABLISHED_CLIENT_HTTP", "RECEIVE_CLIENT_HTTP", "COMPLETED_CLIENT_HTTP", "CLOSED_CLIENT_HTTP"]);
    expect(up.answer()).toBe(`${body.length} ${sha256(body)} ${body.length}`);
    expect(up.stats.writeables).toBe(256);
    expect(up.stats.bufferedAtWriteable).toBe(0);
  }, 20_000);

  it("chunked, 1 MiB in 10 KiB pieces", async () => {
    const body = randomBytes(1024 * 1024);
    const server = await digestServer();
    const up = upload({ url: `http://127.0.0.1:${server.port}/up`, method: "POST", bodyLength: "chunked" }, body, 10 * 1024);
    await up.done;
    expect(up.answer()).toBe(`${body.length} ${sha256(body)} chunked`);
  }, 20_000);
});
