/**
 * One host timer kept at the context's next deadline: what a loop needs, however many
 * connections and timeouts there are. Loops give it their way of scheduling.
 */
import type { Context } from "./context.js";

/** Schedules `work` after `ms`; returns a function that cancels it. */
export type ScheduleTimer = (work: () => void, ms: number) => () => void;

/** The longest single delay (setTimeout's limit is 2^31 - 1 ms). */
const MAX_TIMER_MS = 2_147_000_000;

export class DeadlineTimer {
  private cancel: (() => void) | null = null;
  private deadline = Number.POSITIVE_INFINITY;

  constructor(
    private readonly schedule: ScheduleTimer,
    private readonly now: () => number,
    private readonly onFire: () => void,
  ) {}

  /** Arm for the context's next deadline (or disarm when there is none). */
  rearm(context: Context): void {
    if (context.isDestroyed) {
      this.clear();
      return;
    }
    const wait = context.adjustTimeout(MAX_TIMER_MS);
    if (wait >= MAX_TIMER_MS) {
      this.clear();
      return;
    }
    const deadline = this.now() + wait;
    // Deadlines mostly move later (traffic pushes idle and validity timers away): keep
    // the earlier timer, let it fire and re-arm then, rather than re-arming every turn.
    if (this.cancel && this.deadline <= deadline + 1) return;
    this.clear();
    this.deadline = deadline;
    this.cancel = this.schedule(() => {
      this.cancel = null;
      this.deadline = Number.POSITIVE_INFINITY;
      this.onFire();
    }, wait);
  }

  clear(): void {
    this.cancel?.();
    this.cancel = null;
    this.deadline = Number.POSITIVE_INFINITY;
  }
}
