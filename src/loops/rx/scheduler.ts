/**
 * Time and deferred work, as the rx loop needs them. The loop itself only knows
 * {@link LoopScheduler} (wsloop's Clock plus "run this later"); the functions below adapt
 * RxJS 7's SchedulerLike to it. A future RxJS whose schedulers look different needs a
 * new adapter here, nothing else.
 */
import { asapScheduler, type SchedulerLike } from "rxjs";
import type { Clock } from "../../poll/clock.js";
import { immediateScheduler } from "./immediate-scheduler.js";

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
 * Adapt an RxJS scheduler (immediate, asap, async, TestScheduler, VirtualTimeScheduler)
 * to the loop.
 *
 * The loop asks for work without delay once per turn. For the two real-time schedulers
 * it may run on, that is done directly: through the scheduler each turn would cost an
 * action and its subscription (on asap also a handle table entry, a promise reaction
 * and a bound flush — about 3 % of an echo's CPU). On immediateScheduler (the default)
 * the timer is a plain setTimeout too; on asapScheduler it still goes through it.
 */
export function fromRxScheduler(scheduler: SchedulerLike): LoopScheduler {
  const clock = schedulerClock(scheduler);
  if (scheduler === immediateScheduler) {
    return { now: () => clock.now(), schedule: (work, delayMs) => (delayMs > 0 ? timeout(work, delayMs) : immediate(work)) };
  }
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

function immediate(work: () => void): CancelScheduled {
  const handle = setImmediate(work);
  return () => clearImmediate(handle);
}

function timeout(work: () => void, delayMs: number): CancelScheduled {
  const handle = setTimeout(work, delayMs);
  return () => clearTimeout(handle);
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
