/**
 * Nothing leaks when peers vanish, on real sockets. Bounds asserted:
 *
 * - 300 connections dropped mid-handshake, mid-frame and mid-close (FIN or reset): the
 *   context's connection count returns to 0, the process's descriptors to the baseline
 *   (± 8), and the heap after GC to within 5 MB of the baseline;
 * - 10,000 connections opened and closed in batches of 200 concurrent (a mix of clean
 *   close handshakes, drops after the 101 and drops mid-handshake): descriptors back to
 *   the baseline (± 8), heap after GC within +10 MB, no connection left.
 */
import type { Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { echoProtocol } from "../../src/demo/echo-protocol.js";
import { waitUntil } from "../helpers/wait.js";
import { clientFrame, upgradeRequest } from "../helpers/wire.js";
import { MiB, collectGarbage, connectRaw, fdCount, heapUsed, openWebSocket, serve, type Served } from "./helpers.js";

let served: Served;
beforeAll(async () => {
  served = await serve(echoProtocol(), { timeouts: { handshakeMs: 2_000, closeWaitMs: 1_000 } });
});
afterAll(async () => {
  await served?.stop();
});

function closed(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve();
    socket.once("close", () => resolve());
  });
}

/** Reset (RST) when the platform can, else destroy (FIN). */
function hangUp(socket: Socket, reset: boolean): void {
  const s = socket as Socket & { resetAndDestroy?: () => void };
  if (reset && typeof s.resetAndDestroy === "function") s.resetAndDestroy();
  else socket.destroy();
}

/** One clean connection: upgrade, a message, its echo, a close handshake, the server hangs up. */
async function cleanConversation(port: number): Promise<void> {
  const socket = await openWebSocket(port);
  const done = closed(socket);
  let got = "";
  socket.on("data", (c: Buffer) => {
    got += c.toString("latin1");
    if (got.includes("ping-me")) socket.write(clientFrame(0x8, Buffer.from([0x03, 0xe8])));
  });
  socket.write(clientFrame(0x1, "ping-me"));
  await done;
}

async function settleBaseline(): Promise<{ fds: number; heap: number }> {
  // Warm up every path once so lazily created state is in the baseline.
  await cleanConversation(served.port);
  await waitUntil(() => served.loop.context.connectionCount === 0, "warm-up connection gone");
  collectGarbage();
  return { fds: fdCount(), heap: heapUsed() };
}

async function backToBaseline(base: { fds: number; heap: number }, heapSlack: number): Promise<void> {
  await waitUntil(() => served.loop.context.connectionCount === 0, "no connection left", 10_000);
  await waitUntil(() => fdCount() <= base.fds + 8, `descriptors back to ${base.fds} ± 8 (now ${fdCount()})`, 10_000);
  const heap = heapUsed();
  expect(heap - base.heap).toBeLessThan(heapSlack);
}

describe("peers that vanish", () => {
  it("300 connections dropped mid-handshake, mid-frame and mid-close leave nothing behind", async () => {
    const base = await settleBaseline();
    const request = upgradeRequest();
    const jobs: Array<Promise<void>> = [];
    for (let i = 0; i < 100; i++) {
      // Mid-handshake: half a request line and headers.
      jobs.push(
        (async () => {
          const s = await connectRaw(served.port);
          s.write(request.slice(0, 20 + (i % 60)));
          await new Promise<void>((resolve) => setImmediate(resolve));
          hangUp(s, i % 2 === 0);
          await closed(s);
        })(),
      );
      // Mid-frame: a header declaring 1000 bytes, 10 of them sent.
      jobs.push(
        (async () => {
          const s = await openWebSocket(served.port);
          s.write(clientFrame(0x2, Buffer.alloc(1000)).subarray(0, 18));
          await new Promise<void>((resolve) => setImmediate(resolve));
          hangUp(s, i % 2 === 1);
          await closed(s);
        })(),
      );
      // Mid-close: our close frame sent, gone before the server's answer is read.
      jobs.push(
        (async () => {
          const s = await openWebSocket(served.port);
          s.write(clientFrame(0x8, Buffer.from([0x03, 0xe8])));
          hangUp(s, i % 3 === 0);
          await closed(s);
        })(),
      );
    }
    await Promise.all(jobs);
    await backToBaseline(base, 5 * MiB);
  });

  it("10,000 connections opened and closed in batches of 200: no descriptor or memory leak", async () => {
    const base = await settleBaseline();
    const started = Date.now();
    const total = 10_000;
    const batch = 200;
    for (let done = 0; done < total; done += batch) {
      const jobs: Array<Promise<void>> = [];
      for (let k = 0; k < batch; k++) {
        const n = done + k;
        if (n % 5 === 4) {
          // Dropped mid-handshake.
          jobs.push(
            connectRaw(served.port).then(async (s) => {
              s.write(upgradeRequest().slice(0, 30));
              s.destroy();
              await closed(s);
            }),
          );
        } else if (n % 5 === 3) {
          // Dropped right after the 101.
          jobs.push(
            openWebSocket(served.port).then(async (s) => {
              s.destroy();
              await closed(s);
            }),
          );
        } else {
          jobs.push(cleanConversation(served.port));
        }
      }
      await Promise.all(jobs);
    }
    const elapsed = Date.now() - started;
    expect(elapsed).toBeLessThan(45_000);
    await backToBaseline(base, 10 * MiB);
  }, 60_000);
});
