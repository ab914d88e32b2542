/**
 * The manual poll driver: for embedding wsloop in a loop the caller owns (a game tick,
 * a test), and for driving whole conversations by hand. It keeps each context's pollfd
 * set exactly as the hooks say, asks the pollables for readiness when told to step, and
 * services what is ready. Time is a VirtualClock unless another clock is given, so every
 * timeout can be reached without waiting.
 *
 * Without `onReady` a step asks every pollable (poll(2)'s way: nothing is assumed about
 * notifications). With `onReady` the pollables' notifications are relied on anyway — the
 * embedder steps when told — so a step asks only the descriptors that announced
 * readiness or were added or changed mode since, and services each again while it stays
 * ready (level-triggered, bounded). Stepping then costs what is active, not what is
 * connected.
 */
import { Context, type ContextOptions } from "../../poll/context.js";
import { VirtualClock, type Clock } from "../../poll/clock.js";
import type { PollHooks } from "../../poll/events.js";
import { POLLERR, POLLHUP, type PollFd } from "../../poll/pollfd.js";
import type { Pollable } from "../../poll/transport.js";
import { asCorkable, corkForPass, uncorkPass, type Corkable } from "../../poll/corkable.js";
import { MemoryNetwork } from "./memory-network.js";

/** One call the context made to its hooks, as recorded for tests. */
export type HookCall =
  | { hook: "add"; fd: number; events: number }
  | { hook: "del"; fd: number }
  | { hook: "changeMode"; fd: number; events: number; prevEvents: number };

/** Services one descriptor gets in a row, in notify mode, before the others get theirs. */
const MAX_SERVICES_IN_A_ROW = 64;

interface Entry {
  pollfd: PollFd;
  source: Pollable;
  /** The source, when it can batch writes: corked while a step services it. */
  corkable: Corkable | null;
  corked: boolean;
  /** In the driven context's `marked` list (notify mode only). */
  marked: boolean;
  /** Set when a step finds it ready: what it was polled for then, and what it reported. */
  readyEvents: number;
  revents: number;
}

interface Driven {
  context: Context;
  entries: Map<number, Entry>;
  /** Notify mode: the entries to ask on the next step; null when every entry is asked. */
  marked: Entry[] | null;
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
  /** Given to every serviceFd() call: the context does not keep it. */
  private readonly pollfd: PollFd = { fd: -1, events: 0, revents: 0 };
  /** Entries corked in the current step. */
  private readonly corked: Entry[] = [];

  constructor(options: ManualDriverOptions = {}) {
    this.clock = options.clock ?? new VirtualClock();
    this.onReady = options.onReady ?? null;
  }

  /** Make a context whose hooks, clock and (unless given) dialer are this driver's. */
  createContext(options: Omit<ContextOptions, "hooks" | "clock">): Context {
    const onReady = this.onReady;
    const driven: Driven = { context: undefined as unknown as Context, entries: new Map(), marked: onReady ? [] : null, hookLog: [] };
    const hooks: PollHooks = {
      add: (fd, events, source) => {
        if (driven.entries.has(fd)) throw new Error(`add hook for fd ${fd}, which is already in the poll set`);
        const entry: Entry = { pollfd: { fd, events, revents: 0 }, source, corkable: asCorkable(source), corked: false, marked: false, readyEvents: 0, revents: 0 };
        driven.entries.set(fd, entry);
        if (onReady) {
          source.onReadiness = () => {
            mark(driven, entry);
            onReady();
          };
          // A new descriptor may have work no event will announce (a handshake already read).
          mark(driven, entry);
          onReady();
        }
        source.setInterest?.(events);
        driven.hookLog.push({ hook: "add", fd, events });
      },
      del: (fd) => {
        const entry = driven.entries.get(fd);
        if (!entry) throw new Error(`del hook for fd ${fd}, which is not in the poll set`);
        driven.entries.delete(fd);
        if (onReady) entry.source.onReadiness = null;
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
        if (driven.marked) mark(driven, entry);
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
        work += driven.marked ? this.serviceMarked(driven) : this.serviceAll(driven);
        if (context.hasPendingService || context.adjustTimeout(1) === 0) {
          context.servicePending();
          work++;
        }
      }
    } finally {
      uncorkPass(this.corked);
    }
    return work;
  }

  /** Every entry asked, the ready ones serviced once each, in descriptor order. */
  private serviceAll(driven: Driven): number {
    const ready: Entry[] = [];
    for (const entry of driven.entries.values()) if (readiness(entry)) ready.push(entry);
    ready.sort(byFd);
    let work = 0;
    for (const entry of ready) {
      // A service above may have removed or re-purposed this descriptor.
      if (driven.entries.get(entry.pollfd.fd) !== entry || entry.pollfd.events !== entry.readyEvents) continue;
      this.service(driven.context, entry);
      work++;
    }
    return work;
  }

  /**
   * Only the marked entries asked, in the order they were marked; each serviced while it
   * stays ready, up to MAX_SERVICES_IN_A_ROW times, then left marked for the next step if
   * it still is (one busy descriptor cannot hold the others off).
   */
  private serviceMarked(driven: Driven): number {
    const marked = driven.marked!;
    driven.marked = [];
    let work = 0;
    for (const entry of marked) {
      entry.marked = false;
      for (let i = 0; ; i++) {
        if (driven.entries.get(entry.pollfd.fd) !== entry || driven.context.isDestroyed || !readiness(entry)) break;
        if (i === MAX_SERVICES_IN_A_ROW) {
          mark(driven, entry);
          break;
        }
        this.service(driven.context, entry);
        work++;
      }
    }
    return work;
  }

  private service(context: Context, entry: Entry): void {
    // Everything this step writes to the source leaves together when the step ends.
    corkForPass(entry, this.corked);
    const pollfd = this.pollfd;
    pollfd.fd = entry.pollfd.fd;
    pollfd.events = entry.readyEvents;
    pollfd.revents = entry.revents;
    context.serviceFd(pollfd);
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

function mark(driven: Driven, entry: Entry): void {
  if (entry.marked) return;
  entry.marked = true;
  driven.marked!.push(entry);
}

/** Whether the entry is ready for what it is polled for (POLLERR and POLLHUP always count); records what it reported. */
function readiness(entry: Entry): boolean {
  const events = entry.pollfd.events;
  const revents = entry.source.poll() & (events | POLLERR | POLLHUP);
  if (revents === 0) return false;
  entry.readyEvents = events;
  entry.revents = revents;
  return true;
}

function byFd(x: Entry, y: Entry): number {
  return x.pollfd.fd - y.pollfd.fd;
}
