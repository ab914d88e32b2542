/**
 * An RxJS scheduler that runs work in Node's check phase (setImmediate), after libuv has
 * delivered every I/O event of its poll; work with a delay runs on setTimeout. It is the
 * rx loop's default.
 *
 * Why not asapScheduler: it runs work as a microtask, and Node drains microtasks after
 * every callback, so a loop turn scheduled on it runs once per socket event — one turn,
 * one pass of bookkeeping and one flush of writes for each socket that had data. On
 * setImmediate one turn serves every socket that became ready in the same poll, and its
 * writes leave together. With 50 connections echoing, that was ~9 % more messages per
 * second at 32 bytes and ~25 % at 4 KiB (6 paired runs; docs/performance.md).
 */
import { Subscription, type SchedulerAction, type SchedulerLike } from "rxjs";

type Work<T> = (this: SchedulerAction<T>, state?: T) => void;

class ImmediateAction<T> extends Subscription implements SchedulerAction<T> {
  private handle: NodeJS.Immediate | NodeJS.Timeout | null = null;
  private state: T | undefined = undefined;
  /** Set while the work runs: a schedule() from inside it re-arms this action. */
  private running = false;
  private rescheduled = false;

  constructor(private readonly work: Work<T>) {
    super();
    this.add(() => this.cancel());
  }

  schedule(state?: T, delay = 0): Subscription {
    if (this.closed) return this;
    this.cancel();
    this.state = state;
    if (this.running) this.rescheduled = true;
    this.handle = delay > 0 ? setTimeout(this.run, delay) : setImmediate(this.run);
    return this;
  }

  private readonly run = (): void => {
    this.handle = null;
    this.running = true;
    this.rescheduled = false;
    try {
      this.work.call(this, this.state);
    } finally {
      this.running = false;
      // Done unless the work scheduled it again (a recursive action, as RxJS allows).
      if (!this.rescheduled) this.unsubscribe();
    }
  };

  private cancel(): void {
    const handle = this.handle;
    if (handle === null) return;
    this.handle = null;
    if (isImmediate(handle)) clearImmediate(handle);
    else clearTimeout(handle);
  }
}

function isImmediate(handle: NodeJS.Immediate | NodeJS.Timeout): handle is NodeJS.Immediate {
  return !("refresh" in handle);
}

/** Node's check phase as an RxJS scheduler; `now()` is Date.now(), like RxJS's own. */
export const immediateScheduler: SchedulerLike = {
  now: () => Date.now(),
  schedule<T>(work: Work<T>, delay = 0, state?: T): Subscription {
    return new ImmediateAction<T>(work).schedule(state, delay);
  },
};
