/**
 * The manual poll driver: for embedding wsloop in a loop the caller owns (a game tick,
 * a test), and for driving whole conversations by hand. It keeps each context's pollfd
 * set exactly as the hooks say, asks the pollables for readiness when told to step, and
 * services what is ready. Time is a VirtualClock unless another clock is given, so every
 * timeout can be reached without waiting.
 *
 * Without `onReady` a step asks every pollable (poll(2)'s way: nothing is assumed about
 * notifications). With `onReady` the pollables' notifications are relied on anyway — the
 * embedder steps when told — so readiness is kept the way the Node and rx loops keep it,
 * by a PollSet: a step asks only the descriptors that announced readiness or were added
 * or changed mode since, services each again while it stays ready (level-triggered,
 * bounded), and corks what can batch writes until the step ends. Stepping then costs
 * what is active, not what is connected.
 */
import { Context, type ContextOptions } from "../../poll/context.js";
import { VirtualClock, type Clock } from "../../poll/clock.js";
import type { PollHooks } from "../../poll/events.js";
import { PollSet } from "../../poll/poll-set.js";
import type { PollFd } from "../../poll/pollfd.js";
import { MemoryNetwork } from "./memory-network.js";
import { PollEverything } from "./poll-everything.js";

/** One call the context made to its hooks, as recorded for tests. */
export type HookCall =
  | { hook: "add"; fd: number; events: number }
  | { hook: "del"; fd: number }
  | { hook: "changeMode"; fd: number; events: number; prevEvents: number };

/** How a context's descriptors are kept and found ready: PollSet or PollEverything. */
type DescriptorSet = Pick<PollSet, "hooks" | "eventsOf" | "pollfds" | "serviceReady" | "flushWrites">;

interface Driven {
  context: Context;
  /** The poll set as the hooks built it; it also finds what is ready. */
  set: DescriptorSet;
  hookLog: HookCall[];
}

export interface ManualDriverOptions {
  /** Default: a new VirtualClock at 0. Pass a real clock to drive real time. */
  clock?: Clock;
  /**
   * Told whenever a descriptor may have become ready (data arrived, room freed,
   * cancelService). It may be called from inside a service: only schedule a step there.
   * Lets an embedder step on demand instead of on a fixed tick.
   */
  onReady?: () => void;
}

export class ManualDriver {
  readonly clock: Clock;
  /** In-memory network whose dialer every context made here uses by default. */
  readonly network = new MemoryNetwork();
  private readonly driven: Driven[] = [];

  private readonly onReady: (() => void) | null;

  constructor(options: ManualDriverOptions = {}) {
    this.clock = options.clock ?? new VirtualClock();
    this.onReady = options.onReady ?? null;
  }

  /** Make a context whose hooks, clock and (unless given) dialer are this driver's. */
  createContext(options: Omit<ContextOptions, "hooks" | "clock">): Context {
    const set: DescriptorSet = this.onReady ? new PollSet(this.onReady) : new PollEverything();
    const driven: Driven = { context: undefined as unknown as Context, set, hookLog: [] };
    // The set's own hooks, after checking that the context keeps the contract.
    const hooks: PollHooks = {
      add: (fd, events, source) => {
        if (set.eventsOf(fd) !== null) throw new Error(`add hook for fd ${fd}, which is already in the poll set`);
        set.hooks.add(fd, events, source);
        driven.hookLog.push({ hook: "add", fd, events });
      },
      del: (fd) => {
        if (set.eventsOf(fd) === null) throw new Error(`del hook for fd ${fd}, which is not in the poll set`);
        set.hooks.del(fd);
        driven.hookLog.push({ hook: "del", fd });
      },
      changeMode: (fd, events, prevEvents) => {
        const was = set.eventsOf(fd);
        if (was === null) throw new Error(`changeMode hook for fd ${fd}, which is not in the poll set`);
        if (was !== prevEvents) throw new Error(`changeMode hook for fd ${fd} says it was ${prevEvents}, the poll set has ${was}`);
        set.hooks.changeMode(fd, events, prevEvents);
        driven.hookLog.push({ hook: "changeMode", fd, events, prevEvents });
      },
    };
    this.driven.push(driven);
    driven.context = new Context({ dialer: this.network.dial, ...options, hooks, clock: this.clock });
    return driven.context;
  }

  /** The context's poll set as its hooks built it (copies). */
  pollfds(context: Context): PollFd[] {
    return this.find(context).set.pollfds().sort((x, y) => x.fd - y.fd);
  }

  /** Hook calls the context made since the last call of this method. */
  takeHookLog(context: Context): HookCall[] {
    const driven = this.find(context);
    const log = driven.hookLog;
    driven.hookLog = [];
    return log;
  }

  /**
   * One pass: complete pending connects, then for every context service each descriptor
   * that is ready for what it is polled for (POLLERR and POLLHUP always count) — once, or
   * with onReady while it stays ready (see the top of this file) — then run forced
   * service and due timers. Returns the number of services performed.
   */
  step(): number {
    let work = this.network.acceptPending();
    try {
      for (const driven of this.driven) {
        const context = driven.context;
        if (context.isDestroyed) continue;
        work += driven.set.serviceReady(context);
        if (context.hasPendingService || context.adjustTimeout(1) === 0) {
          context.servicePending();
          work++;
        }
      }
    } finally {
      for (const driven of this.driven) driven.set.flushWrites();
    }
    return work;
  }

  /** Step until nothing is ready. Throws if that takes more than `maxSteps` (a livelock). */
  run(maxSteps = 100_000): number {
    let steps = 0;
    while (this.step() > 0) {
      if (++steps > maxSteps) throw new Error(`manual driver: still busy after ${maxSteps} steps`);
    }
    return steps;
  }

  /**
   * Move virtual time forward by `ms`, stopping at every timer deadline on the way so
   * timers fire in order and at their time, and running to quiescence at each stop.
   */
  advance(ms: number): void {
    const clock = this.virtualClock();
    const end = clock.now() + ms;
    this.run();
    for (;;) {
      const next = Math.min(...this.driven.map((d) => (d.context.isDestroyed ? Infinity : clock.now() + d.context.adjustTimeout(end - clock.now()))));
      if (!(next < end)) break;
      clock.set(Math.max(next, clock.now()));
      this.run();
      if (clock.now() >= end) break;
    }
    clock.set(end);
    this.run();
  }

  private virtualClock(): VirtualClock {
    if (!(this.clock instanceof VirtualClock)) throw new Error("advance() needs the driver's VirtualClock");
    return this.clock;
  }

  private find(context: Context): Driven {
    const driven = this.driven.find((d) => d.context === context);
    if (!driven) throw new Error("this context was not made by this driver");
    return driven;
  }
}
