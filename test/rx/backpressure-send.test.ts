/**
 * Send-side backpressure: a message is written only when the connection is WRITEABLE,
 * pulled sources are pulled only that fast, and pushed sources meet the budget
 * (maxBufferedBytes) and its policy — wait, drop or close — so the bytes held stay under
 * the bound while the reader is slow.
 */
import { Subject, interval, map, mergeMap, take, takeWhile, timer } from "rxjs";
import { describe, expect, it } from "vitest";
import { SendOverflowError, type RxConnection } from "../../src/loops/rx/index.js";
import { URL, rxPair, testScheduler, type PairOptions } from "./harness.js";

const CAPACITY = 256;
const message = (i: number) => `${String(i).padStart(4, "0")}:${"y".repeat(95)}`; // 100 bytes; 106 as a client frame
const FRAME = 106;

/** A server that takes `msPerMessage` to process each message, holding its peer past highWaterMark 1. */
function slowReader(ts: Parameters<typeof rxPair>[0], msPerMessage: number, client: PairOptions["client"] = {}) {
  const pair = rxPair(ts, { pipe: { capacity: CAPACITY }, server: { connection: { highWaterMark: 1 } }, client });
  const processed: string[] = [];
  const serverClosed: unknown[] = [];
  pair.server.connections$
    .pipe(mergeMap((c) => (c.closed$.subscribe((x) => serverClosed.push(x)), c.consume((m) => timer(msPerMessage).pipe(mergeMap(() => (processed.push(m as string), [])))))))
    .subscribe();
  return { pair, processed, serverClosed };
}

/** Run `check` every virtual millisecond while `more()` says so. */
function everyMs(more: () => boolean, check: () => void): void {
  interval(1).pipe(takeWhile(more)).subscribe(check);
}

describe("rx loop: send backpressure", () => {
  it("pulls an iterable only as fast as the peer reads", () => {
    const ts = testScheduler();
    ts.run(() => {
      const { pair, processed } = slowReader(ts, 10);
      let pulled = 0;
      function* produce() {
        for (let i = 0; i < 100; i++) {
          pulled++;
          yield message(i);
        }
      }
      let client: RxConnection | undefined;
      let completed = false;
      pair.client.connect(URL).subscribe((c) => {
        client = c;
        c.sendAll(produce()).subscribe({ complete: () => (completed = true) });
      });
      let ahead = 0;
      let held = 0;
      everyMs(
        () => processed.length < 100,
        () => {
          ahead = Math.max(ahead, pulled - processed.length);
          held = Math.max(held, client?.bufferedAmount ?? 0);
        },
      );
      ts.flush();
      expect(processed).toEqual(Array.from({ length: 100 }, (_, i) => message(i)));
      expect(completed).toBe(true);
      // In flight at most: 2 at the server (high-water mark 1, +1), one chunk it read and
      // holds, what fits in the pipe (256 / 106 → 3 pieces) and the client's one partial frame.
      expect(ahead).toBeLessThanOrEqual(7);
      expect(held).toBeLessThanOrEqual(FRAME);
      pair.destroy();
    });
  });

  it('"wait": a push source that outruns the budget is unsubscribed with SendOverflowError; what fit is delivered', () => {
    const ts = testScheduler();
    ts.run(() => {
      const { pair, processed } = slowReader(ts, 1, { connection: { maxBufferedBytes: 1_000, overflow: "wait" } });
      const source = new Subject<string>();
      let error: unknown;
      let heldAtError = -1;
      let client: RxConnection | undefined;
      pair.client.connect(URL).subscribe((c) => {
        client = c;
        c.sendAll(source).subscribe({ error: (e: unknown) => ((error = e), (heldAtError = c.bufferedAmount)) });
        for (let i = 0; i < 20 && source.observed; i++) source.next(message(i));
      });
      ts.flush();
      expect(error).toBeInstanceOf(SendOverflowError);
      expect(error).toMatchObject({ limit: 1_000, bytes: FRAME });
      expect(heldAtError).toBeLessThanOrEqual(1_000);
      expect(source.observed).toBe(false);
      // floor(1000 / 106) = 9 messages fit; they all arrive, and the connection stays open.
      expect(processed).toEqual(Array.from({ length: 9 }, (_, i) => message(i)));
      expect(client!.isOpen).toBe(true);
      pair.destroy();
    });
  });

  it('"drop": what does not fit is counted and forgotten; held bytes stay under the bound; the rest arrives in order', () => {
    const ts = testScheduler();
    ts.run(() => {
      const { pair, processed } = slowReader(ts, 20, { connection: { maxBufferedBytes: 500, overflow: "drop" } });
      let client: RxConnection | undefined;
      let offered = 0;
      let held = 0;
      let sent = false;
      pair.client.connect(URL).subscribe((c) => {
        client = c;
        // A message every millisecond, to a reader that takes 20 ms per message.
        c.sendAll(interval(1).pipe(take(200), map((i) => (offered++, message(i))))).subscribe({ complete: () => (sent = true) });
      });
      everyMs(
        () => !sent,
        () => (held = Math.max(held, client?.bufferedAmount ?? 0)),
      );
      ts.flush();
      expect(offered).toBe(200);
      expect(client!.dropped).toBeGreaterThan(100);
      expect(processed.length + client!.dropped).toBe(200);
      expect(held).toBeLessThanOrEqual(500);
      const order = processed.map((m) => Number(m.slice(0, 4)));
      expect([...order].sort((a, b) => a - b)).toEqual(order);
      expect(client!.isOpen).toBe(true);
      pair.destroy();
    });
  });

  it('"close": the first message that does not fit closes the connection with 1008', () => {
    const ts = testScheduler();
    ts.run(() => {
      const { pair, serverClosed } = slowReader(ts, 5, { connection: { maxBufferedBytes: 500, overflow: "close" } });
      let error: unknown;
      const clientClosed: unknown[] = [];
      pair.client.connect(URL).subscribe({
        next: (c) => {
          c.closed$.subscribe((x) => clientClosed.push(x));
          c.sendAll(interval(1).pipe(map(message))).subscribe({ error: (e: unknown) => (error = e) });
        },
        error: () => {},
      });
      ts.flush();
      expect(error).toBeInstanceOf(SendOverflowError);
      expect(serverClosed).toEqual([{ code: 1008, reason: "send buffer full", clean: true }]);
      // The client's closed$ tells the server's answer: the same code echoed.
      expect(clientClosed).toMatchObject([{ code: 1008, clean: true }]);
    });
  });

  it("send() never waits: it returns false for a message that does not fit, and counts it under \"drop\"", () => {
    const ts = testScheduler();
    ts.run(() => {
      const { pair } = slowReader(ts, 1_000, { connection: { maxBufferedBytes: 300, overflow: "drop" } });
      const results: boolean[] = [];
      let client: RxConnection | undefined;
      pair.client.connect(URL).subscribe((c) => {
        client = c;
        for (let i = 0; i < 4; i++) results.push(c.send(message(i)));
      });
      ts.flush();
      expect(results).toEqual([true, true, false, false]); // 2 × 106 fit in 300, a third does not
      expect(client!.dropped).toBe(2);
      pair.destroy();
    });
  });

  it("echo through sendAll(messages$) keeps backpressure end to end: a client that does not read its echoes is held back", () => {
    const ts = testScheduler();
    ts.run(({ cold }) => {
      const pair = rxPair(ts, { pipe: { capacity: CAPACITY }, server: { connection: { highWaterMark: 2 } }, client: { connection: { highWaterMark: 2 } } });
      pair.server.connections$.pipe(mergeMap((c) => c.sendAll(c.messages$))).subscribe();
      let pulled = 0;
      function* produce() {
        for (let i = 0; i < 100; i++) {
          pulled++;
          yield message(i);
        }
      }
      const echoes: unknown[] = [];
      let pulledBeforeReading = 0;
      let serverHeld = 0;
      pair.server.connections$.subscribe((s) => everyMs(() => echoes.length < 100, () => (serverHeld = Math.max(serverHeld, s.bufferedAmount))));
      pair.client.connect(URL).subscribe((c) => {
        c.sendAll(produce()).subscribe();
        // The client reads its echoes only from 100 ms on.
        cold("100ms x").subscribe(() => {
          pulledBeforeReading = pulled;
          c.messages$.subscribe((m) => echoes.push(m));
        });
      });
      ts.flush();
      // Both directions' pipes, both sides' high-water marks and partial frames: a handful, not 100.
      expect(pulledBeforeReading).toBeLessThan(20);
      expect(serverHeld).toBeLessThanOrEqual(FRAME);
      expect(echoes).toEqual(Array.from({ length: 100 }, (_, i) => message(i)));
      pair.destroy();
    });
  });
});
