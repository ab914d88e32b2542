/**
 * A whole conversation in virtual time: handshake, messages both ways (text as string,
 * binary as Buffer), closes from either side, and the client's typed failures. Every
 * in-memory byte moves within the frame it was written in, so times in these marbles
 * are the times the test chose, never real waiting.
 */
import { EMPTY, merge, mergeMap, of, take, tap, toArray } from "rxjs";
import { describe, expect, it } from "vitest";
import { createMemoryPair } from "../../src/poll/memory-transport.js";
import { ConnectError, HandshakeRefusedError, RxLoop, TimeoutError, type RxConnection } from "../../src/loops/rx/index.js";
import { URL, rxPair, testScheduler } from "./harness.js";

const chat = { server: { protocols: ["chat"] }, client: { protocols: ["chat"] } };

describe("rx loop: a conversation in virtual time", () => {
  it("echoes messages sent over time, at the times they were sent", () => {
    const ts = testScheduler();
    ts.run(({ cold, expectObservable }) => {
      const { server, client } = rxPair(ts);
      server.connections$.pipe(mergeMap((c) => c.sendAll(c.messages$))).subscribe();
      const said = { a: "hello", b: "wsloop", c: "bye" };
      const echoes$ = client.connect(URL).pipe(
        mergeMap((c) => merge(c.sendAll(cold("a 99ms b 99ms c", said)), c.messages$)),
        take(3),
      );
      expectObservable(echoes$).toBe("a 99ms b 99ms (c|)", said);
    });
  });

  it("opens with the handshake's facts on both sides: protocol, path, headers, peer", () => {
    const ts = testScheduler();
    ts.run(() => {
      const { server, client } = rxPair(ts, chat);
      let accepted: RxConnection | undefined;
      let opened: RxConnection | undefined;
      server.connections$.subscribe((c) => (accepted = c));
      client.connect({ url: "ws://127.0.0.1:7681/room?x=1", protocols: ["chat"], headers: { "X-User": "ada" } }).subscribe((c) => (opened = c));
      ts.flush();
      expect(accepted).toMatchObject({ role: "server", protocol: "chat", subprotocol: "chat", path: "/room?x=1", isOpen: true });
      expect(accepted!.headers.get("x-user")).toBe("ada");
      expect(accepted!.peer).toMatchObject({ address: "127.0.0.1", family: "memory" });
      expect(opened).toMatchObject({ role: "client", protocol: "chat", subprotocol: "chat" });
      expect(opened!.headers.get("sec-websocket-protocol")).toBe("chat");
      expect(opened!.peer).toMatchObject({ address: "127.0.0.1", port: 7681 });
    });
  });

  it("keeps past ESTABLISHED only the headers its protocol asks for: all by default, the named ones, or none", () => {
    const ts = testScheduler();
    ts.run(() => {
      const { server, client } = rxPair(ts, {
        server: { protocols: [{ name: "all" }, { name: "named", keepHeaders: ["x-user", "X-TRACE"] }, { name: "none", keepHeaders: false }] },
      });
      const accepted = new Map<string, RxConnection>();
      server.connections$.subscribe((c) => accepted.set(c.protocol, c));
      for (const protocol of ["all", "named", "none"]) {
        client.connect({ url: URL, protocols: [protocol], headers: { "X-User": "ada", "X-Trace": "t1", "X-Other": "1" } }).subscribe();
      }
      ts.flush();
      expect(accepted.get("all")!.headers.get("x-other")).toBe("1");
      expect(accepted.get("all")!.headers.get("sec-websocket-key")).not.toBeUndefined();
      expect([...accepted.get("named")!.headers]).toEqual([
        ["X-User", "ada"],
        ["X-Trace", "t1"],
      ]);
      expect([...accepted.get("none")!.headers]).toEqual([]);
    });
  });

  it("types messages by what they are on the wire: text as string, binary as Buffer, both ways", () => {
    const ts = testScheduler();
    ts.run(() => {
      const { server, client } = rxPair(ts);
      const atServer: unknown[] = [];
      const atClient: unknown[] = [];
      server.connections$.subscribe((c) => {
        c.messages$.subscribe((m) => atServer.push(m));
        c.send("text from the server");
        c.send(Buffer.from([1, 2, 3]));
      });
      client.connect(URL).subscribe((c) => {
        c.messages$.subscribe((m) => atClient.push(m));
        c.sendAll(["héllo", new Uint8Array([0xff, 0x00]), ""]).subscribe();
      });
      ts.flush();
      expect(atServer).toEqual(["héllo", Buffer.from([0xff, 0x00]), ""]);
      expect(atClient).toEqual(["text from the server", Buffer.from([1, 2, 3])]);
      expect(Buffer.isBuffer(atServer[1])).toBe(true);
    });
  });

  it("a client's unsubscribe closes with 1000: clean on both sides, and messages$ completes", () => {
    const ts = testScheduler();
    ts.run(({ expectObservable, cold }) => {
      const { server, client } = rxPair(ts);
      const serverClosed$ = server.connections$.pipe(mergeMap((c) => c.closed$));
      const serverMessages$ = server.connections$.pipe(mergeMap((c) => c.messages$));
      const session = client.connect(URL).pipe(mergeMap((c) => c.sendAll(["hi"]))).subscribe();
      cold("50ms x").subscribe(() => session.unsubscribe());
      expectObservable(serverMessages$).toBe("a", { a: "hi" });
      expectObservable(serverClosed$).toBe("50ms c", { c: { code: 1000, reason: "", clean: true } });
    });
  });

  it("a server's close ends the client's connect() with completion (clean) and tells closed$ the code", () => {
    const ts = testScheduler();
    ts.run(({ expectObservable, cold }) => {
      const { server, client } = rxPair(ts);
      server.connections$.pipe(mergeMap((c) => cold("20ms x").pipe(tap(() => c.close(4000, "bye"))))).subscribe();
      const connection$ = client.connect(URL);
      expectObservable(connection$.pipe(mergeMap(() => EMPTY))).toBe("20ms |");
      expectObservable(connection$.pipe(mergeMap((c) => c.closed$))).toBe("20ms (c|)", { c: { code: 4000, reason: "bye", clean: true } });
    });
  });

  it("messages$ still delivers what arrived before the close, then completes", () => {
    const ts = testScheduler();
    ts.run(({ expectObservable }) => {
      const { server, client } = rxPair(ts);
      // The server reads late: everything, the close included, has arrived by then.
      const late$ = server.connections$.pipe(mergeMap((c) => c.messages$.pipe(toArray())));
      client.connect(URL).subscribe((c) => {
        c.sendAll(["one", "two"]).subscribe({ complete: () => c.close() });
      });
      // connections$ stays open for more connections; this one's messages ended with it.
      expectObservable(late$).toBe("a", { a: ["one", "two"] });
    });
  });

  it("fails with HandshakeRefusedError and the status when the server refuses the upgrade", () => {
    const ts = testScheduler();
    ts.run(({ expectObservable }) => {
      const { client } = rxPair(ts, { server: { protocols: ["chat"], vhost: { routes: { "/chat": "chat" } } } });
      const refused$ = client.connect("ws://127.0.0.1:7681/elsewhere");
      expectObservable(refused$).toBe("#", undefined, new HandshakeRefusedError(404, "server answered 404 Not Found instead of 101"));
    });
  });

  it("fails with ConnectError when nothing listens", () => {
    const ts = testScheduler();
    ts.run(() => {
      const { client } = rxPair(ts);
      let error: unknown;
      client.connect("ws://127.0.0.1:9/").subscribe({ error: (e: unknown) => (error = e) });
      ts.flush();
      expect(error).toBeInstanceOf(ConnectError);
      expect((error as Error).message).toMatch(/nothing listens on 127.0.0.1:9/);
    });
  });

  it("fails with TimeoutError('connect') when the connect never completes, at the vhost's connectMs", () => {
    const ts = testScheduler();
    ts.run(({ expectObservable }) => {
      const stuck = new RxLoop({ scheduler: ts, vhost: { timeouts: { connectMs: 2_000 } }, logger: { level: "err" }, dialer: () => createMemoryPair({ connecting: true }).a });
      const connection$ = stuck.connect(URL).pipe(mergeMap(() => of("opened")));
      expectObservable(connection$).toBe("2000ms #", undefined, new TimeoutError("connect", "timed out: could not connect to 127.0.0.1:7681"));
    });
  });

  it("fails with TimeoutError('handshake') when the server never answers the upgrade", () => {
    const ts = testScheduler();
    ts.run(({ expectObservable }) => {
      const silent = new RxLoop({ scheduler: ts, vhost: { timeouts: { handshakeMs: 3_000 } }, logger: { level: "err" }, dialer: () => createMemoryPair().a });
      expectObservable(silent.connect(URL)).toBe("3000ms #", undefined, new TimeoutError("handshake", "timed out: no answer to the upgrade request"));
    });
  });

  it("throws a usage error at connect() for a bad URL or bad limits, before anything is dialed", () => {
    const ts = testScheduler();
    const { client } = rxPair(ts);
    expect(() => client.connect(URL, { maxBufferedBytes: 0 })).toThrow(/maxBufferedBytes must be a whole number of at least 1/);
    let error: unknown;
    client.connect("http://example.com/").subscribe({ error: (e: unknown) => (error = e) });
    expect((error as { code?: string }).code).toBe("INVALID_ARGUMENT");
    expect(client.context.connectionCount).toBe(0);
  });
});
