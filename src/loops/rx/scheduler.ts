/**
 * Time and deferred work, as the rx loop needs them. The loop itself only knows
 * {@link LoopScheduler} (wsloop's Clock plus "run this later"); the functions below adapt
 * RxJS 7's SchedulerLike to it. A future RxJS whose schedulers look different needs a
 * new adapter here, nothing else.
 */
import { asapScheduler, type SchedulerLike } from "rxjs";
import type { Clock } from "../../poll/clock.js";

/** A way to cancel work scheduled on a {@link LoopScheduler}. */
export type CancelScheduled = () => void;

/** What the loop needs from a host scheduler: its notion of time, and work done later. */
export interface LoopScheduler extends Clock {
  /**
   * Run `work` after `delayMs` of this scheduler's time. 0 means "as soon as the
   * scheduler runs work" — never synchronously inside this call.
   */
  schedule(work: () => void, delayMs: number): CancelScheduled;
}

/**
 * The scheduler's time as a wsloop Clock. RxJS's real schedulers read Date.now(), which
 * can step backwards; the context's clock must not, so it is held where it was until
 * the scheduler's time passes it again. Virtual-time schedulers only move forward.
 */
export function schedulerClock(scheduler: SchedulerLike): Clock {
  let last = Number.NEGATIVE_INFINITY;
  return {
    now() {
      const time = scheduler.now();
      if (time > last) last = time;
      return last;
    },
  };
}

/**
 * Adapt an RxJS scheduler (asap, async, TestScheduler, VirtualTimeScheduler) to the loop.
 *
 * asapScheduler runs work without delay in a microtask. That is what the loop asks for
 * once per turn, so for asapScheduler (the default) it takes the microtask directly:
 * through the scheduler each turn cost an action, a handle table entry, a promise
 * reaction and a bound flush — about 3 % of an echo's CPU. Work with a delay (the
 * timer) still goes through the scheduler.
 */
export function fromRxScheduler(scheduler: SchedulerLike): LoopScheduler {
  const clock = schedulerClock(scheduler);
  const asap = scheduler === asapScheduler;
  return {
    now: () => clock.now(),
    schedule(work, delayMs) {
      if (asap && delayMs <= 0) return microtask(work);
      const subscription = scheduler.schedule(work, delayMs);
      return () => subscription.unsubscribe();
    },
  };
}

const settled = Promise.resolve();

/**
 * A reaction of a settled promise rather than queueMicrotask(), which wraps each job in
 * an async resource: three times the cost, once per turn. (A job that throws becomes an
 * unhandled rejection instead of an uncaught exception; both end the process.)
 */
function microtask(work: () => void): CancelScheduled {
  let cancelled = false;
  void settled.then(() => {
    if (!cancelled) work();
  });
  return () => {
    cancelled = true;
  };
}
