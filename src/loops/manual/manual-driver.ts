/**
 * The manual poll driver: for embedding wsloop in a loop the caller owns (a game tick,
 * a test), and for driving whole conversations by hand. It keeps each context's pollfd
 * set exactly as the hooks say, asks the pollables for readiness when told to step, and
 * services what is ready. Time is a VirtualClock unless another clock is given, so every
 * timeout can be reached without waiting.
 */
import { Context, type ContextOptions } from "../../poll/context.js";
import { VirtualClock, type Clock } from "../../poll/clock.js";
import type { PollHooks } from "../../poll/events.js";
import { POLLERR, POLLHUP, type PollFd } from "../../poll/pollfd.js";
import type { Pollable } from "../../poll/transport.js";
import { MemoryNetwork } from "./memory-network.js";

/** One call the context made to its hooks, as recorded for tests. */
export type HookCall =
  | { hook: "add"; fd: number; events: number }
  | { hook: "del"; fd: number }
  | { hook: "changeMode"; fd: number; events: number; prevEvents: number };

interface Entry {
  pollfd: PollFd;
  source: Pollable;
}

interface Driven {
  context: Context;
  entries: Map<number, Entry>;
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
    const driven: Driven = { context: undefined as unknown as Context, entries: new Map(), hookLog: [] };
    const hooks: PollHooks = {
      add: (fd, events, source) => {
        if (driven.entries.has(fd)) throw new Error(`add hook for fd ${fd}, which is already in the poll set`);
        driven.entries.set(fd, { pollfd: { fd, events, revents: 0 }, source });
        if (this.onReady) source.onReadiness = this.onReady;
        source.setInterest?.(events);
        driven.hookLog.push({ hook: "add", fd, events });
      },
      del: (fd) => {
        if (!driven.entries.delete(fd)) throw new Error(`del hook for fd ${fd}, which is not in the poll set`);
        driven.hookLog.push({ hook: "del", fd });
      },
      changeMode: (fd, events, prevEvents) => {
        const entry = driven.entries.get(fd);
        if (!entry) throw new Error(`changeMode hook for fd ${fd}, which is not in the poll set`);
        if (entry.pollfd.events !== prevEvents) {
          throw new Error(`changeMode hook for fd ${fd} says it was ${prevEvents}, the poll set has ${entry.pollfd.events}`);
        }
        entry.pollfd.events = events;
        entry.source.setInterest?.(events);
        driven.hookLog.push({ hook: "changeMode", fd, events, prevEvents });
      },
    };
    this.driven.push(driven);
    driven.context = new Context({ dialer: this.network.dial, ...options, hooks, clock: this.clock });
    return driven.context;
  }

  /** The context's poll set as its hooks built it (copies). */
  pollfds(context: Context): PollFd[] {
    return [...this.find(context).entries.values()].map((e) => ({ ...e.pollfd })).sort((x, y) => x.fd - y.fd);
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
   * that is ready for what it is polled for (POLLERR and POLLHUP always count), then run
   * forced service and due timers. Returns the number of services performed.
   */
  step(): number {
    let work = this.network.acceptPending();
    for (const driven of this.driven) {
      const context = driven.context;
      if (context.isDestroyed) continue;
      const ready: PollFd[] = [];
      for (const { pollfd, source } of driven.entries.values()) {
        const revents = source.poll() & (pollfd.events | POLLERR | POLLHUP);
        if (revents) ready.push({ fd: pollfd.fd, events: pollfd.events, revents });
      }
      ready.sort((x, y) => x.fd - y.fd);
      for (const pollfd of ready) {
        // A service above may have removed or re-purposed this descriptor.
        if (driven.entries.get(pollfd.fd)?.pollfd.events !== pollfd.events) continue;
        context.serviceFd(pollfd);
        work++;
      }
      if (context.hasPendingService || context.adjustTimeout(1) === 0) {
        context.servicePending();
        work++;
      }
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
