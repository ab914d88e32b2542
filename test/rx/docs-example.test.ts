/** The worked example of docs/rxjs.md ("Testing in virtual time"), verbatim in substance. */
import { NEVER, mergeMap } from "rxjs";
import { it } from "vitest";
import { MemoryNetwork } from "../../src/loops/manual/memory-network.js";
import { RxLoop, TimeoutError } from "../../src/loops/rx/index.js";
import { testScheduler } from "./harness.js";

it("docs/rxjs.md: a server that stalls is detected by the client's ping at interval + pong timeout", () => {
  const ts = testScheduler();
  ts.run(({ cold, expectObservable }) => {
    const network = new MemoryNetwork();
    const server = new RxLoop({ scheduler: ts, network, connection: { highWaterMark: 0 } });
    const client = new RxLoop({ scheduler: ts, network, vhost: { timeouts: { pingIntervalMs: 1000, pongTimeoutMs: 500 } } });
    network.listen("127.0.0.1", 7681, server.context);

    // The server echoes, but never finishes processing "stall".
    server.connections$
      .pipe(mergeMap((c) => c.consume((m) => (m === "stall" ? NEVER : (c.send(m), [])))))
      .subscribe();
    const echoes$ = client.connect("ws://127.0.0.1:7681/").pipe(
      mergeMap((c) => (c.sendAll(cold("a 99ms b", { a: "hi", b: "stall" })).subscribe(), c.messages$)),
    );
    expectObservable(echoes$).toBe("a 1499ms #", { a: "hi" }, new TimeoutError("pong", "no reply to a ping within 500 ms", 1006));
  });
});
