/**
 * connect() is cold, so RxJS's own operators reconnect: `retry` after a failure (a lost
 * connection, a refused connect), `repeat` after a clean close. Each reconnect is a new
 * connection with its own open notification.
 */
import { map, mergeMap, repeat, retry, tap, timer } from "rxjs";
import { describe, expect, it } from "vitest";
import { ConnectError, ConnectionLostError, type RxConnection } from "../../src/loops/rx/index.js";
import { URL, rxPair, testScheduler } from "./harness.js";

describe("rx loop: reconnecting", () => {
  it("retry reconnects after the connection is lost, with an open notification each time", () => {
    const ts = testScheduler();
    ts.run(({ cold, expectObservable }) => {
      const pair = rxPair(ts);
      const failures: unknown[] = [];
      const opened: RxConnection[] = [];
      // The first connection's transport is torn down at 100 ms: no close handshake.
      cold("100ms x").subscribe(() => pair.network.accepted[0]!.destroy());
      const opens$ = pair.client.connect(URL).pipe(
        tap({ next: (c) => opened.push(c), error: (e: unknown) => failures.push(e) }),
        map(() => "o"),
        retry({ delay: 1_000 }),
      );
      expectObservable(opens$, "^ 1999ms !").toBe("o 1099ms o");
      expectObservable(pair.server.connections$.pipe(map(() => "s"))).toBe("s 1099ms s");
      ts.flush();
      expect(failures).toEqual([new ConnectionLostError(1006, "peer closed the connection")]);
      expect(opened[0]).not.toBe(opened[1]);
      expect(opened.map((c) => c.isOpen)).toEqual([false, false]); // the second was closed by the unsubscribe
    });
  });

  it("repeat reconnects after each clean close", () => {
    const ts = testScheduler();
    ts.run(({ expectObservable }) => {
      const pair = rxPair(ts);
      pair.server.connections$.pipe(mergeMap((c) => timer(100).pipe(tap(() => c.close(1001, "restarting"))))).subscribe();
      const opens$ = pair.client.connect(URL).pipe(
        map(() => "o"),
        repeat({ delay: 500 }),
      );
      expectObservable(opens$, "^ 1500ms !").toBe("o 599ms o 599ms o");
    });
  });

  it("retry keeps trying a server that is not listening yet, and connects once it is", () => {
    const ts = testScheduler();
    ts.run(({ cold, expectObservable }) => {
      const pair = rxPair(ts);
      pair.network.unlisten("127.0.0.1", 7681);
      cold("2500ms x").subscribe(() => pair.network.listen("127.0.0.1", 7681, pair.server.context));
      const failures: unknown[] = [];
      const opens$ = pair.client.connect(URL).pipe(
        map(() => "o"),
        tap({ error: (e: unknown) => failures.push(e) }),
        retry({ delay: 1_000 }),
      );
      expectObservable(opens$, "^ 4000ms !").toBe("3000ms o");
      ts.flush();
      expect(failures).toHaveLength(3);
      expect(failures.every((e) => e instanceof ConnectError)).toBe(true);
    });
  });

  it("unsubscribing while connecting leaves no connection behind on either side", () => {
    const ts = testScheduler();
    ts.run(() => {
      const pair = rxPair(ts);
      const subscription = pair.client.connect(URL).subscribe();
      expect(pair.client.context.connectionCount).toBe(1);
      subscription.unsubscribe();
      ts.flush();
      expect(pair.client.context.connectionCount).toBe(0);
      expect(pair.server.context.connectionCount).toBe(0);
    });
  });

  it("a destroyed loop ends its connections and makes no new ones, so retry stops instead of spinning", () => {
    const ts = testScheduler();
    ts.run(({ cold, expectObservable }) => {
      const pair = rxPair(ts);
      cold("300ms x").subscribe(() => pair.client.destroy());
      const opens$ = pair.client.connect(URL).pipe(
        map(() => "o"),
        retry({ delay: 100 }),
      );
      expectObservable(opens$).toBe("o 299ms |");
    });
  });
});
