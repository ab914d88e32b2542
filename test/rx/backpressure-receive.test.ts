/**
 * Receive-side backpressure: a consumer that is slow holds the peer back through rx
 * flow control, so the bytes and messages held on every hop stay under their bounds
 * while the reader is slow, and nothing is lost or reordered.
 */
import { interval, mergeMap, takeWhile, timer } from "rxjs";
import { describe, expect, it } from "vitest";
import type { RxConnection } from "../../src/loops/rx/index.js";
import { URL, rxPair, testScheduler } from "./harness.js";

const CAPACITY = 512; // bytes an in-memory pipe holds before its writer blocks
const messages = Array.from({ length: 200 }, (_, i) => `${String(i).padStart(4, "0")}:${"x".repeat(45)}`); // 50 bytes each

describe("rx loop: receive backpressure", () => {
  it("a slow consume() holds the peer: unprocessed, the pipe and the sender's buffer stay bounded; all arrive in order", () => {
    const ts = testScheduler();
    ts.run(() => {
      const pair = rxPair(ts, {
        pipe: { capacity: CAPACITY },
        server: { connection: { highWaterMark: 4 } },
        client: { connection: { maxBufferedBytes: 1_024 } },
      });
      const processed: string[] = [];
      let serverSide: RxConnection | undefined;
      pair.server.connections$
        .pipe(
          mergeMap((c) => {
            serverSide = c;
            // 10 ms of work per message: far slower than the client can send.
            return c.consume((m) => timer(10).pipe(mergeMap(() => (processed.push(m as string), [])))); 
          }),
        )
        .subscribe();
      let clientSide: RxConnection | undefined;
      pair.client.connect(URL).subscribe((c) => {
        clientSide = c;
        c.sendAll(messages).subscribe();
      });

      const peak = { unprocessed: 0, pipe: 0, clientHeld: 0 };
      let held = false;
      interval(1)
        .pipe(takeWhile(() => processed.length < messages.length))
        .subscribe(() => {
          peak.unprocessed = Math.max(peak.unprocessed, serverSide?.unprocessed ?? 0);
          peak.pipe = Math.max(peak.pipe, pair.network.dialed[0]?.bufferedOut ?? 0);
          peak.clientHeld = Math.max(peak.clientHeld, clientSide?.bufferedAmount ?? 0);
          held ||= serverSide?.isHoldingPeer ?? false;
        });
      ts.flush();

      expect(processed).toEqual(messages);
      expect(held).toBe(true);
      // The high-water mark is 4: rx stops inside the message that makes it 5.
      expect(peak.unprocessed).toBeLessThanOrEqual(5);
      expect(peak.pipe).toBeLessThanOrEqual(CAPACITY);
      expect(peak.clientHeld).toBeLessThanOrEqual(1_024);
      pair.destroy();
    });
  });

  it("messages wait while nobody subscribes, the peer held past the high-water mark; a late subscriber gets them all", () => {
    const ts = testScheduler();
    ts.run(({ cold }) => {
      const pair = rxPair(ts, { server: { connection: { highWaterMark: 2 } } });
      const wanted = messages.slice(0, 20);
      const received: unknown[] = [];
      const snapshot: Array<{ unprocessed: number; holding: boolean }> = [];
      pair.server.connections$.subscribe((c) => {
        cold("50ms x").subscribe(() => snapshot.push({ unprocessed: c.unprocessed, holding: c.isHoldingPeer }));
        cold("100ms x").subscribe(() => c.messages$.subscribe((m) => received.push(m)));
      });
      pair.client.connect(URL).subscribe((c) => c.sendAll(wanted).subscribe());
      ts.flush();
      expect(snapshot).toEqual([{ unprocessed: 3, holding: true }]);
      expect(received).toEqual(wanted);
      pair.destroy();
    });
  });

  it("consume() runs at most `concurrency` handlers at once, and the peer is held meanwhile", () => {
    const ts = testScheduler();
    ts.run(() => {
      const pair = rxPair(ts, { server: { connection: { highWaterMark: 4 } } });
      let running = 0;
      let most = 0;
      const done: string[] = [];
      pair.server.connections$
        .pipe(
          mergeMap((c) =>
            c.consume(
              (m) => {
                running++;
                most = Math.max(most, running);
                return timer(10).pipe(mergeMap(() => (running--, done.push(m as string), [])));
              },
              { concurrency: 3 },
            ),
          ),
        )
        .subscribe();
      pair.client.connect(URL).subscribe((c) => c.sendAll(messages.slice(0, 30)).subscribe());
      ts.flush();
      expect(most).toBe(3);
      expect(done).toHaveLength(30);
      pair.destroy();
    });
  });

  it("every subscriber sees every message, and the slowest one sets the pace", () => {
    const ts = testScheduler();
    ts.run(() => {
      const pair = rxPair(ts, { server: { connection: { highWaterMark: 1 } } });
      const fast: unknown[] = [];
      const slow: unknown[] = [];
      pair.server.connections$.subscribe((c) => {
        c.messages$.subscribe((m) => fast.push(m));
        c.consume((m) => timer(5).pipe(mergeMap(() => (slow.push(m), [])))).subscribe();
      });
      const wanted = messages.slice(0, 10);
      const seen: Array<[number, number]> = [];
      pair.client.connect(URL).subscribe((c) => c.sendAll(wanted).subscribe());
      interval(1)
        .pipe(takeWhile(() => slow.length < wanted.length))
        .subscribe(() => seen.push([fast.length, slow.length]));
      ts.flush();
      expect(fast).toEqual(wanted);
      expect(slow).toEqual(wanted);
      // The fast subscriber is never more than the one message in progress ahead.
      expect(seen.every(([f, s]) => f - s <= 1)).toBe(true);
      pair.destroy();
    });
  });
});
