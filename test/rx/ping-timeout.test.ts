/**
 * The validity check (vhost timeouts.pingIntervalMs / pongTimeoutMs) in virtual time: a
 * peer that answers keeps the connection; a peer that stops reading is hung up on at
 * exactly interval + pong timeout, and a client learns it as TimeoutError("pong").
 */
import { NEVER, mergeMap } from "rxjs";
import { describe, it } from "vitest";
import { ConnectionLostError, TimeoutError } from "../../src/loops/rx/index.js";
import { URL, rxPair, testScheduler } from "./harness.js";

const pinging = { timeouts: { pingIntervalMs: 1_000, pongTimeoutMs: 500 } };

describe("rx loop: ping timeouts in virtual time", () => {
  it("keeps a connection whose peer answers the pings, however long it is quiet", () => {
    const ts = testScheduler();
    ts.run(({ cold, expectObservable }) => {
      const pair = rxPair(ts, { server: { vhost: pinging } });
      const serverClosed$ = pair.server.connections$.pipe(mergeMap((c) => c.closed$));
      pair.client.connect(URL).subscribe();
      cold("10000ms x").subscribe(() => pair.destroy());
      // Ten pings answered; the connection only ends when the loops are destroyed.
      expectObservable(serverClosed$).toBe("10000ms (c|)", { c: { code: 1006, reason: "context destroyed", clean: false } });
    });
  });

  it("hangs up at interval + pong timeout on a peer that stopped reading (its consumer is stuck)", () => {
    const ts = testScheduler();
    ts.run(({ expectObservable }) => {
      const pair = rxPair(ts, { server: { vhost: pinging }, client: { connection: { highWaterMark: 0 } } });
      pair.server.connections$.subscribe((c) => c.send("take this"));
      // The client never finishes processing that message: with highWaterMark 0 it holds rx,
      // so the server's ping at 1000 is never read and never answered.
      const client$ = pair.client.connect(URL).pipe(mergeMap((c) => c.consume(() => NEVER)));
      const serverClosed$ = pair.server.connections$.pipe(mergeMap((c) => c.closed$));
      expectObservable(serverClosed$).toBe("1500ms c", { c: { code: 1006, reason: "no reply to a ping within 500 ms", clean: false } });
      expectObservable(client$).toBe("1500ms #", undefined, new ConnectionLostError(1006, "peer hung up"));
    });
  });

  it("fails a client's connect() with TimeoutError('pong') when its server stops answering", () => {
    const ts = testScheduler();
    ts.run(({ expectObservable }) => {
      const pair = rxPair(ts, { client: { vhost: pinging }, server: { connection: { highWaterMark: 0 } } });
      pair.server.connections$.pipe(mergeMap((c) => c.consume(() => NEVER))).subscribe();
      const client$ = pair.client.connect(URL).pipe(mergeMap((c) => c.sendAll(["hold on"])));
      expectObservable(client$).toBe("1500ms #", undefined, new TimeoutError("pong", "no reply to a ping within 500 ms", 1006));
    });
  });
});
