/**
 * The bridge between Node's event loop and a context, in the shape of lws's libuv
 * adapter. Socket events mark descriptors ready; a run queue services them (level
 * triggered: a descriptor still ready after a service is serviced again); forced service
 * runs from setImmediate; one timer is re-armed to the context's next deadline.
 */
import { Context, type ContextOptions } from "../../poll/context.js";
import { monotonicClock } from "../../poll/clock.js";
import type { PollHooks } from "../../poll/events.js";
import { POLLERR, POLLHUP } from "../../poll/pollfd.js";
import type { Pollable } from "../../poll/transport.js";
import { SocketTransport } from "./socket-transport.js";

interface Entry {
  fd: number;
  events: number;
  source: Pollable;
}

/** Services that one descriptor gets in a row before others get their turn. */
const MAX_SERVICES_PER_TURN = 64;
/** Passes over the run queue in one turn of Node's loop before yielding to it. */
const MAX_PASSES_PER_TURN = 256;
/** The longest a single host timer is armed for (setTimeout's limit is 2^31-1 ms). */
const MAX_TIMER_MS = 2_147_000_000;

export class ReadinessBridge {
  readonly context: Context;
  private readonly entries = new Map<number, Entry>();
  private readonly ready = new Set<number>();
  private running = false;
  private drainScheduled = false;
  private immediate: NodeJS.Immediate | null = null;
  private timer: NodeJS.Timeout | null = null;
  private timerDeadline = Number.POSITIVE_INFINITY;

  constructor(options: Omit<ContextOptions, "hooks" | "clock">) {
    const hooks: PollHooks = {
      add: (fd, events, source) => this.onAdd(fd, events, source),
      del: (fd) => this.onDel(fd),
      changeMode: (fd, events) => this.onChangeMode(fd, events),
    };
    this.context = new Context({ ...options, hooks, clock: monotonicClock });
    this.afterService();
  }

  /** Service everything that is ready now, then arrange the next forced service and timer. */
  private drain(): void {
    if (this.running) return;
    this.running = true;
    this.drainScheduled = false;
    const context = this.context;
    try {
      let passes = 0;
      while (this.ready.size > 0 && passes++ < MAX_PASSES_PER_TURN) {
        const batch = [...this.ready];
        this.ready.clear();
        for (const fd of batch) this.serviceReady(fd);
      }
      if (this.ready.size > 0) this.scheduleDrain(true);
      if (context.hasPendingService) this.scheduleImmediate();
    } finally {
      this.running = false;
    }
    this.afterService();
  }

  private serviceReady(fd: number): void {
    const entry = this.entries.get(fd);
    if (!entry) return;
    const transport = entry.source instanceof SocketTransport ? entry.source : null;
    transport?.cork();
    try {
      for (let i = 0; i < MAX_SERVICES_PER_TURN; i++) {
        const revents = entry.source.poll() & (entry.events | POLLERR | POLLHUP);
        if (revents === 0) return;
        this.context.serviceFd({ fd, events: entry.events, revents });
        if (this.entries.get(fd) !== entry) return;
      }
      // Still ready after its share: come back to it after the others.
      this.ready.add(fd);
    } finally {
      transport?.uncork();
    }
  }

  private markReady(fd: number): void {
    this.ready.add(fd);
    if (!this.running) this.scheduleDrain(false);
  }

  /**
   * Readiness reported from a socket event is serviced at once (we are on Node's loop,
   * not inside the context); readiness that arises inside a context call (a hook, a
   * cancelService from a callback) waits for a microtask, so the context is never re-entered.
   */
  private scheduleDrain(yieldToLoop: boolean): void {
    if (this.drainScheduled) return;
    this.drainScheduled = true;
    if (yieldToLoop) setImmediate(() => this.drain());
    else queueMicrotask(() => this.drain());
  }

  private scheduleImmediate(): void {
    if (this.immediate) return;
    this.immediate = setImmediate(() => {
      this.immediate = null;
      this.context.servicePending();
      this.drain();
    });
  }

  /** Re-arm the one host timer to the context's next deadline. */
  private afterService(): void {
    const context = this.context;
    if (context.isDestroyed) {
      this.clearTimer();
      return;
    }
    if (context.hasPendingService) {
      this.scheduleImmediate();
      return;
    }
    const wait = context.adjustTimeout(MAX_TIMER_MS);
    if (wait >= MAX_TIMER_MS) {
      this.clearTimer();
      return;
    }
    const deadline = monotonicClock.now() + wait;
    // Deadlines mostly move later (traffic pushes idle and validity timers away): let an
    // early timer fire and re-arm then, rather than re-arming on every service.
    if (this.timer && deadline >= this.timerDeadline - 1) return;
    this.clearTimer();
    this.timerDeadline = deadline;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.timerDeadline = Number.POSITIVE_INFINITY;
      this.context.servicePending();
      this.drain();
    }, wait);
    this.timer.unref();
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.timerDeadline = Number.POSITIVE_INFINITY;
  }

  // ---- the hooks -------------------------------------------------------------------------

  private onAdd(fd: number, events: number, source: Pollable): void {
    const entry: Entry = { fd, events, source };
    this.entries.set(fd, entry);
    source.onReadiness = () => this.markReady(fd);
    this.applyReadInterest(entry);
    if (source.poll() & (events | POLLERR | POLLHUP)) this.markReady(fd);
    else this.reviewSoon();
  }

  private onDel(fd: number): void {
    const entry = this.entries.get(fd);
    if (!entry) return;
    entry.source.onReadiness = null;
    this.entries.delete(fd);
    this.ready.delete(fd);
  }

  private onChangeMode(fd: number, events: number): void {
    const entry = this.entries.get(fd);
    if (!entry) return;
    entry.events = events;
    this.applyReadInterest(entry);
    if (entry.source.poll() & (events | POLLERR | POLLHUP)) this.markReady(fd);
    else this.reviewSoon();
  }

  /**
   * A hook called from outside a service (user code: connect(), adoptSocket(), rx turned
   * back on from a timer of the user's own) can come with a new deadline (the connect or
   * handshake timer) or forced work (input held by rx flow control) that no socket event
   * will announce. Inside a service drain() re-arms afterwards; outside, a drain with
   * nothing ready does it — without this a client connect that never completed never
   * timed out, and held input was never delivered.
   */
  private reviewSoon(): void {
    if (!this.running) this.scheduleDrain(false);
  }

  private applyReadInterest(entry: Entry): void {
    entry.source.setInterest?.(entry.events);
  }

  /** Stop the loop's timers; the context is destroyed. Sockets still open are destroyed. */
  destroy(): void {
    this.context.destroy();
    this.clearTimer();
    if (this.immediate) clearImmediate(this.immediate);
    this.immediate = null;
  }
}
