/**
 * The rx examples are documentation that runs. They import the package ("wsloop/rx"),
 * so these tests use it too: chat and reconnect in virtual time over an in-memory
 * network, echo over real sockets with `ws`.
 */
import { map, mergeMap, take, toArray } from "rxjs";
import { describe, expect, it } from "vitest";
import WebSocket from "ws";
import { MemoryNetwork } from "wsloop";
import { RxLoop } from "wsloop/rx";
import { chatRoom } from "../../examples/rx-chat.js";
import { startRxEcho } from "../../examples/rx-echo.js";
import { reconnecting } from "../../examples/rx-reconnect.js";
import { testScheduler } from "./harness.js";

describe("rx examples", () => {
  it("rx-echo echoes over real sockets", async () => {
    const echo = await startRxEcho(0);
    try {
      const ws = new WebSocket(`ws://127.0.0.1:${echo.port}/`);
      const reply = await new Promise<string>((resolve, reject) => {
        ws.once("open", () => ws.send("ping?"));
        ws.once("message", (data) => resolve(String(data)));
        ws.once("error", reject);
      });
      expect(reply).toBe("ping?");
      ws.close();
    } finally {
      await echo.stop();
    }
  });

  it("rx-chat broadcasts to the others, paced by each speaker's rate limit", () => {
    const ts = testScheduler();
    ts.run(({ cold, expectObservable }) => {
      const network = new MemoryNetwork();
      const server = new RxLoop({ scheduler: ts, network, protocols: ["chat"] });
      const clients = new RxLoop({ scheduler: ts, network, protocols: ["chat"] });
      network.listen("127.0.0.1", 7684, server.context);
      chatRoom(server, { messagesPerSecond: 10 });

      // bob joins and listens; ada joins at 10 ms and says three things in one go.
      const bobHears$ = clients.connect("ws://127.0.0.1:7684/?name=bob").pipe(mergeMap((c) => c.messages$));
      cold("10ms x")
        .pipe(mergeMap(() => clients.connect("ws://127.0.0.1:7684/?name=ada")))
        .subscribe((ada) => ada.sendAll(["hi", "how are you", "bye"]).subscribe());
      // ada's messages reach the room 100 ms apart: the rate limit holds her back.
      expectObservable(bobHears$, "^ 1000ms !").toBe("10ms (ab) 96ms c 99ms d", {
        a: "* ada joined",
        b: "ada: hi",
        c: "ada: how are you",
        d: "ada: bye",
      });
    });
  });

  it("rx-reconnect backs off exponentially while the server is away, and starts over after each open", () => {
    const ts = testScheduler();
    ts.run(({ cold, expectObservable }) => {
      const network = new MemoryNetwork();
      const server = new RxLoop({ scheduler: ts, network, logger: { level: "err" } });
      const client = new RxLoop({ scheduler: ts, network, logger: { level: "err" } });
      // Away until 1 s; then up, but the first connection is cut at 2 s.
      cold("1000ms x").subscribe(() => network.listen("127.0.0.1", 7683, server.context));
      cold("2000ms x").subscribe(() => network.accepted[0]!.destroy());
      const attempts: number[] = [];
      const opens$ = reconnecting(client, "ws://127.0.0.1:7683/", { initialDelayMs: 100 }).pipe(map(() => "o"));
      // Failed dials at 0, 100, 300, 700 (waits of 100, 200, 400); open at 1500 (after 800);
      // cut at 2000, and the first retry after an open waits 100 again.
      expectObservable(opens$, "^ 3000ms !").toBe("1500ms o 599ms o");
      network.dialed.length = 0;
      cold("2999ms x").subscribe(() => attempts.push(network.dialed.length));
      ts.flush();
      expect(attempts).toEqual([6]);
    });
  });

  it("rx-reconnect reconnects after a clean close too", () => {
    const ts = testScheduler();
    ts.run(({ expectObservable }) => {
      const network = new MemoryNetwork();
      const server = new RxLoop({ scheduler: ts, network });
      const client = new RxLoop({ scheduler: ts, network });
      network.listen("127.0.0.1", 7683, server.context);
      server.connections$.subscribe((c) => c.sendAll(["welcome"]).subscribe({ complete: () => c.close(1000, "that is all") }));
      const welcomes$ = reconnecting(client, "ws://127.0.0.1:7683/", { pauseAfterCloseMs: 1_000 }).pipe(
        mergeMap((c) => c.messages$),
        take(3),
        toArray(),
      );
      expectObservable(welcomes$).toBe("2000ms (a|)", { a: ["welcome", "welcome", "welcome"] });
    });
  });
});
