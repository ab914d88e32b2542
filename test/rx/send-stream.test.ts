/**
 * sendAll(messages$): a stream of received messages sent on, by the echo and by proxies.
 * Messages cross as the bytes that arrived (text is never decoded and encoded again),
 * each keeps its type, and the stream can be shared with other consumers at any time
 * without a message being lost, duplicated or reordered.
 */
import { Subscriber, Subscription, concatMap, config, mergeMap, of, take, takeUntil, timer, toArray } from "rxjs";
import { describe, expect, it } from "vitest";
import type { RxConnection, RxMessage } from "../../src/loops/rx/index.js";
import { URL, rxPair, testScheduler } from "./harness.js";

const numbered = (n: number) => Array.from({ length: n }, (_, i) => `message ${i}`);

describe("rx loop: sendAll(messages$)", () => {
  it("echoes each message as what it was: text (multi-byte and empty too) as a string, binary as a Buffer", () => {
    const ts = testScheduler();
    ts.run(() => {
      const { server, client } = rxPair(ts);
      server.connections$.pipe(mergeMap((c) => c.sendAll(c.messages$))).subscribe();
      const sent: RxMessage[] = ["héllo ✓ 𝄞", Buffer.from([0xff, 0x00, 0x80]), "", Buffer.alloc(0), "x".repeat(70_000)];
      let echoes: RxMessage[] = [];
      client
        .connect(URL)
        .pipe(mergeMap((c) => (c.sendAll(sent).subscribe(), c.messages$.pipe(take(sent.length), toArray()))))
        .subscribe((all) => (echoes = all));
      ts.flush();
      expect(echoes).toEqual(sent);
      expect(echoes.map((m) => typeof m)).toEqual(["string", "object", "string", "object", "string"]);
      expect(Buffer.isBuffer(echoes[1])).toBe(true);
    });
  });

  it("shares the stream: a subscriber that comes and goes sees what arrived meanwhile, the echo sees everything, in order", () => {
    const ts = testScheduler();
    ts.run(({ cold }) => {
      const { server, client } = rxPair(ts);
      const seen: RxMessage[] = [];
      server.connections$
        .pipe(
          mergeMap((c) => {
            // From 25 ms to 55 ms a second consumer shares the stream.
            cold("25ms x").subscribe(() => c.messages$.pipe(take(3)).subscribe((m) => seen.push(m)));
            return c.sendAll(c.messages$);
          }),
        )
        .subscribe();
      const sent = numbered(10);
      let echoes: RxMessage[] = [];
      client
        .connect(URL)
        .pipe(
          mergeMap((c) => {
            // One message every 10 ms.
            c.sendAll(of(...sent).pipe(concatMap((m, i) => (i === 0 ? of(m) : timer(10).pipe(mergeMap(() => of(m))))))).subscribe();
            return c.messages$.pipe(take(sent.length), toArray());
          }),
        )
        .subscribe((all) => (echoes = all));
      ts.flush();
      expect(echoes).toEqual(sent);
      expect(seen).toEqual(["message 3", "message 4", "message 5"]);
    });
  });

  it("forwards another connection's messages (a proxy), types kept, in order", () => {
    const ts = testScheduler();
    ts.run(({ cold }) => {
      const { server, client } = rxPair(ts);
      const accepted: RxConnection[] = [];
      server.connections$.subscribe((c) => {
        accepted.push(c);
        // The second connection to arrive gets what the first one says.
        if (accepted.length === 2) accepted[1]!.sendAll(accepted[0]!.messages$).subscribe();
      });
      const said: RxMessage[] = ["one", Buffer.from([1, 2]), "three"];
      let heard: RxMessage[] = [];
      client.connect(URL).subscribe((speaker) => {
        cold("10ms x").subscribe(() => speaker.sendAll(said).subscribe());
      });
      cold("5ms x").subscribe(() =>
        client
          .connect(URL)
          .pipe(mergeMap((listener) => listener.messages$.pipe(take(said.length), toArray())))
          .subscribe((all) => (heard = all)),
      );
      ts.flush();
      expect(heard).toEqual(said);
    });
  });

  it("tells closed$ to every subscriber, those before the close and those after", () => {
    const ts = testScheduler();
    ts.run(({ cold }) => {
      const { server, client } = rxPair(ts);
      const told: string[] = [];
      server.connections$.subscribe((c) => {
        c.closed$.subscribe({ next: (x) => told.push(`early ${x.code}`), complete: () => told.push("early done") });
        c.closed$.subscribe((x) => told.push(`early too ${x.code}`));
        cold("50ms x").subscribe(() => c.closed$.subscribe({ next: (x) => told.push(`late ${x.code}`), complete: () => told.push("late done") }));
      });
      client.connect(URL).subscribe((c) => cold("10ms x").subscribe(() => c.close(4001, "bye")));
      ts.flush();
      expect(told).toEqual(["early 4001", "early too 4001", "early done", "late 4001", "late done"]);
    });
  });

  describe("subscribed with a plain observer (the pull is the Subscription)", () => {
    function echoOnce(ts: ReturnType<typeof testScheduler>, onServer: (c: RxConnection) => void, clientCloseAt: string) {
      const { server, client } = rxPair(ts);
      server.connections$.subscribe(onServer);
      let echoes: RxMessage[] = [];
      client
        .connect(URL)
        .pipe(
          mergeMap((c) => {
            c.sendAll(["a", "b"]).subscribe();
            ts.createColdObservable(clientCloseAt).subscribe(() => c.close(1000));
            return c.messages$.pipe(toArray());
          }),
        )
        .subscribe((all) => (echoes = all));
      return () => echoes;
    }

    it("echoes, then completes the observer once when the connection closes, closes itself and runs what was added to it", () => {
      const ts = testScheduler();
      ts.run(() => {
        const told: string[] = [];
        let subscription: Subscription | undefined;
        const echoes = echoOnce(
          ts,
          (c) => {
            subscription = c.sendAll(c.messages$).subscribe({ complete: () => told.push(`complete, closed=${subscription!.closed}`) });
            subscription.add(() => told.push("added teardown"));
          },
          "20ms x",
        );
        ts.flush();
        expect(echoes()).toEqual(["a", "b"]);
        expect(subscription).toBeInstanceOf(Subscription);
        // The pull itself, not RxJS's SafeSubscriber (a Subscriber) around it.
        expect(subscription).not.toBeInstanceOf(Subscriber);
        // As RxJS orders it: the observer first, then the subscription's teardowns.
        expect(told).toEqual(["complete, closed=false", "added teardown"]);
        expect(subscription!.closed).toBe(true);
      });
    });

    it("stops echoing when unsubscribed, and then tells the observer nothing", () => {
      const ts = testScheduler();
      ts.run(({ cold }) => {
        const told: string[] = [];
        const { server, client } = rxPair(ts);
        server.connections$.subscribe((c) => {
          const subscription = c.sendAll(c.messages$).subscribe({ complete: () => told.push("complete") });
          cold("15ms x").subscribe(() => subscription.unsubscribe());
        });
        let echoes: RxMessage[] = [];
        client
          .connect(URL)
          .pipe(
            mergeMap((c) => {
              c.sendAll(of("before", "at 10 ms").pipe(concatMap((m, i) => (i === 0 ? of(m) : timer(10).pipe(mergeMap(() => of(m))))))).subscribe();
              cold("20ms x").subscribe(() => c.send("after"));
              cold("40ms x").subscribe(() => c.close(1000));
              return c.messages$.pipe(toArray());
            }),
          )
          .subscribe((all) => (echoes = all));
        ts.flush();
        expect(echoes).toEqual(["before", "at 10 ms"]);
        expect(told).toEqual([]);
      });
    });

    it("reports an exception thrown by the observer's complete as RxJS does, to config.onUnhandledError, later", async () => {
      const reported: unknown[] = [];
      config.onUnhandledError = (error) => reported.push(error);
      try {
        const ts = testScheduler();
        ts.run(() => {
          echoOnce(
            ts,
            (c) =>
              void c.sendAll(c.messages$).subscribe({
                complete: () => {
                  throw new Error("observer failed");
                },
              }),
            "20ms x",
          );
          ts.flush();
        });
        expect(reported).toEqual([]);
        await new Promise((resolve) => setTimeout(resolve, 5));
        expect(reported).toEqual([new Error("observer failed")]);
      } finally {
        config.onUnhandledError = null;
      }
    });

    it("goes through RxJS's subscriber under an operator, with the same behaviour", () => {
      const ts = testScheduler();
      ts.run(({ cold }) => {
        const told: string[] = [];
        const echoes = echoOnce(
          ts,
          (c) => void c.sendAll(c.messages$).pipe(takeUntil(cold("100ms x"))).subscribe({ complete: () => told.push("complete") }),
          "20ms x",
        );
        ts.flush();
        expect(echoes()).toEqual(["a", "b"]);
        expect(told).toEqual(["complete"]);
      });
    });
  });
});
