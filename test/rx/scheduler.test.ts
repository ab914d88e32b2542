/**
 * Time and scheduling: the loop runs on whatever RxJS scheduler it is given — a
 * VirtualTimeScheduler driven by flush(), TestScheduler (see the other files),
 * asapScheduler, or the default immediateScheduler (Node's check phase) in real time —
 * through one small adapter.
 */
import { VirtualTimeScheduler, asapScheduler, firstValueFrom, mergeMap, queueScheduler, take, toArray, type SchedulerLike } from "rxjs";
import { describe, expect, it } from "vitest";
import { RxLoop, fromRxScheduler, immediateScheduler, schedulerClock } from "../../src/loops/rx/index.js";
import { URL, rxPair } from "./harness.js";

describe("rx loop: schedulers", () => {
  it("runs a conversation, timeouts included, on a VirtualTimeScheduler by flush()", () => {
    const scheduler = new VirtualTimeScheduler();
    const pair = rxPair(scheduler, { server: { vhost: { timeouts: { idleMs: 30_000 } } } });
    const log: string[] = [];
    pair.server.connections$.subscribe((c) => {
      c.messages$.subscribe((m) => log.push(`${scheduler.now()} server got ${String(m)}`));
      c.closed$.subscribe((x) => log.push(`${scheduler.now()} server closed ${x.code} clean=${x.clean}`));
    });
    pair.client.connect(URL).subscribe({
      next: (c) => c.send("hi"),
      complete: () => log.push(`${scheduler.now()} client complete`),
    });
    scheduler.flush();
    // The idle timeout closes with 1001 at exactly 30 s of virtual time; nothing waited.
    expect(log).toEqual(["0 server got hi", "30000 server closed 1001 clean=true", "30000 client complete"]);
  });

  it("adapts an RxJS scheduler to wsloop's Clock, which never goes backwards", () => {
    let time = 100;
    const jumpy = { now: () => time, schedule: asapScheduler.schedule.bind(asapScheduler) } as SchedulerLike;
    const clock = schedulerClock(jumpy);
    expect(clock.now()).toBe(100);
    time = 40; // Date.now() can step back (NTP); the context's clock must not
    expect(clock.now()).toBe(100);
    time = 150;
    expect(clock.now()).toBe(150);
  });

  it("schedules and cancels work through the adapter", () => {
    const scheduler = new VirtualTimeScheduler();
    const host = fromRxScheduler(scheduler);
    const ran: string[] = [];
    host.schedule(() => ran.push(`a at ${host.now()}`), 10);
    const cancel = host.schedule(() => ran.push("b"), 20);
    host.schedule(() => ran.push(`c at ${host.now()}`), 0);
    cancel();
    scheduler.flush();
    expect(ran).toEqual(["c at 0", "a at 10"]);
  });

  it("on asapScheduler, runs work without delay as a microtask (never inside the call), and cancels it", async () => {
    const host = fromRxScheduler(asapScheduler);
    const ran: string[] = [];
    host.schedule(() => ran.push("a"), 0);
    const cancel = host.schedule(() => ran.push("b"), 0);
    host.schedule(() => ran.push("later"), 5);
    cancel();
    expect(ran).toEqual([]);
    await Promise.resolve();
    expect(ran).toEqual(["a"]);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(ran).toEqual(["a", "later"]);
  });

  it("on immediateScheduler, runs work without delay in Node's check phase — after pending I/O callbacks and microtasks — and cancels it", async () => {
    const host = fromRxScheduler(immediateScheduler);
    const ran: string[] = [];
    host.schedule(() => ran.push("immediate"), 0);
    const cancel = host.schedule(() => ran.push("cancelled"), 0);
    host.schedule(() => ran.push("later"), 5);
    cancel();
    void Promise.resolve().then(() => ran.push("microtask"));
    expect(ran).toEqual([]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(ran).toEqual(["microtask", "immediate"]);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(ran).toEqual(["microtask", "immediate", "later"]);
  });

  it("immediateScheduler is an RxJS scheduler: delays, recursive actions, unsubscribe", async () => {
    const ran: Array<[string, number]> = [];
    const start = Date.now();
    immediateScheduler.schedule(() => ran.push(["delayed", Date.now() - start]), 15);
    immediateScheduler.schedule<number>(function (n = 0) {
      ran.push(["count", n]);
      if (n < 2) this.schedule(n + 1);
    }, 0);
    const dropped = immediateScheduler.schedule(() => ran.push(["dropped", 0]), 0);
    dropped.unsubscribe();
    expect(dropped.closed).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(ran.filter(([what]) => what === "count")).toEqual([["count", 0], ["count", 1], ["count", 2]]);
    const delayed = ran.find(([what]) => what === "delayed");
    expect(delayed?.[1]).toBeGreaterThanOrEqual(14);
    expect(ran.some(([what]) => what === "dropped")).toBe(false);
  });

  it.each([
    ["immediateScheduler", immediateScheduler],
    ["asapScheduler", asapScheduler],
  ] as const)("runs a conversation on %s in real time", async (_name, scheduler) => {
    const pair = rxPair(scheduler);
    pair.server.connections$.pipe(mergeMap((c) => c.sendAll(c.messages$))).subscribe();
    const echoes = await firstValueFrom(
      pair.client.connect(URL).pipe(
        mergeMap((c) => (c.sendAll(["one", "two", "three"]).subscribe(), c.messages$)),
        take(3),
        toArray(),
      ),
    );
    expect(echoes).toEqual(["one", "two", "three"]);
    pair.destroy();
  });

  it("uses immediateScheduler when given none", () => {
    const loop = new RxLoop();
    expect(loop.scheduler).toBe(immediateScheduler);
    loop.destroy();
  });

  it("refuses queueScheduler, which would run servicing inside the context call that asked for it", () => {
    expect(() => new RxLoop({ scheduler: queueScheduler })).toThrow(/queueScheduler runs work synchronously/);
  });
});
