/**
 * The bridge between Node's event loop and a context, in the shape of lws's libuv
 * adapter. Socket events mark descriptors ready (PollSet); a drain services them, level
 * triggered; forced service runs from setImmediate; one timer is kept at the context's
 * next deadline (DeadlineTimer).
 */
import { Context, type ContextOptions } from "../../poll/context.js";
import { monotonicClock } from "../../poll/clock.js";
import { DeadlineTimer } from "../../poll/deadline-timer.js";
import { PollSet } from "../../poll/poll-set.js";

/** Passes over the ready set in one turn of Node's loop before yielding to it. */
const MAX_PASSES_PER_TURN = 256;

export class ReadinessBridge {
  readonly context: Context;
  private readonly pollSet: PollSet;
  private readonly timer: DeadlineTimer;
  private running = false;
  /** The next turn, when one is scheduled: readiness and forced service share it. */
  private immediate: NodeJS.Immediate | null = null;

  constructor(options: Omit<ContextOptions, "hooks" | "clock">) {
    this.pollSet = new PollSet(() => {
      if (!this.running) this.scheduleTurn();
    });
    this.timer = new DeadlineTimer(
      (work, ms) => {
        const handle = setTimeout(work, ms);
        handle.unref();
        return () => clearTimeout(handle);
      },
      monotonicClock.now,
      () => {
        this.context.servicePending();
        this.drain();
      },
    );
    this.context = new Context({ ...options, hooks: this.pollSet.hooks, clock: monotonicClock });
    this.afterService();
  }

  /** Service everything that is ready now, then arrange the next forced service and timer. */
  private drain(): void {
    if (this.running) return;
    this.running = true;
    try {
      for (let passes = 0; this.pollSet.hasReady && passes < MAX_PASSES_PER_TURN; passes++) {
        this.pollSet.serviceReady(this.context);
      }
      // Still busy after its share: give Node's loop back (other I/O, timers), come again.
      if (this.pollSet.hasReady) this.scheduleTurn();
    } finally {
      this.running = false;
      this.pollSet.flushWrites();
    }
    this.afterService();
  }

  /**
   * Readiness is serviced in Node's check phase, once libuv has delivered every event of
   * its poll: a drain per socket event (a microtask) would run between two accepts of one
   * poll, and a write that completes at once reports "drain" from a nextTick, so sockets
   * that always have room kept the loop in nextTicks and microtasks while new connections
   * waited (with 50 clients fetching 1 MiB, accepts came ~10 ms apart and first requests
   * waited up to a second). Readiness that arises inside a context call (a hook, a
   * cancelService from a callback) waits too, so the context is never re-entered.
   * Forced service (held input, rx flow control) runs in the same turn, first.
   */
  private scheduleTurn(): void {
    this.immediate ??= setImmediate(this.turn);
  }

  private readonly turn = (): void => {
    this.immediate = null;
    if (!this.context.isDestroyed && this.context.hasPendingService) this.context.servicePending();
    this.drain();
  };

  private afterService(): void {
    if (!this.context.isDestroyed && this.context.hasPendingService) this.scheduleTurn();
    else this.timer.rearm(this.context);
  }

  /** Stop the loop's timers; the context is destroyed. Sockets still open are destroyed. */
  destroy(): void {
    this.context.destroy();
    this.timer.clear();
    this.pollSet.clear();
    if (this.immediate) clearImmediate(this.immediate);
    this.immediate = null;
  }
}
