/**
 * A context serviced from work scheduled on a {@link LoopScheduler}: the same contract as
 * the Node loop's ReadinessBridge, with the host loop replaced by a scheduler so that
 * virtual time drives it as well as real time.
 *
 * A "turn" is one scheduled action: service every ready descriptor (level-triggered,
 * bounded per descriptor), run forced service and due timers, then run the notices —
 * the user-facing notifications recorded meanwhile — and repeat while work remains (a
 * bounded number of passes). Notices run outside every context call, so user code
 * (observers, operators) never re-enters the context from inside a callback. One timer
 * action is kept armed at the context's next deadline.
 */
import { Context, type ContextOptions } from "../../poll/context.js";
import { DeadlineTimer } from "../../poll/deadline-timer.js";
import { PollSet } from "../../poll/poll-set.js";
import { NoticeQueue, type Defer } from "./notices.js";
import type { LoopScheduler } from "./scheduler.js";

/** Passes (service, then notices) in one turn before the scheduler gets control back. */
const MAX_PASSES_PER_TURN = 256;

export class ScheduledBridge implements Defer {
  readonly context: Context;
  private readonly pollSet: PollSet;
  private readonly timer: DeadlineTimer;
  private readonly notices = new NoticeQueue();
  private readonly idleListeners = new Set<() => void>();
  private inTurn = false;
  private turnScheduled = false;

  constructor(
    private readonly host: LoopScheduler,
    options: Omit<ContextOptions, "hooks" | "clock">,
  ) {
    // Hooks only record: a turn does the servicing, outside every context call.
    this.pollSet = new PollSet(() => {
      if (!this.inTurn) this.scheduleTurn();
    });
    this.timer = new DeadlineTimer((work, ms) => host.schedule(work, ms), () => host.now(), () => this.turn());
    this.context = new Context({ ...options, hooks: this.pollSet.hooks, clock: host });
  }

  /**
   * Run `notice` (with `arg`) after the current service, outside every context call (from
   * a later turn when called outside one). Notices run in the order they were given.
   */
  defer(notice: () => void): void;
  defer<T>(notice: (arg: T) => void, arg: T): void;
  defer(notice: (arg: unknown) => void, arg?: unknown): void {
    this.notices.push(notice, arg);
    if (!this.inTurn) this.scheduleTurn();
  }

  /** Called after every turn that leaves nothing to do (for shutdown's "all gone" check). */
  onIdle(listener: () => void): () => void {
    this.idleListeners.add(listener);
    return () => this.idleListeners.delete(listener);
  }

  /** Destroy the context; notices it causes (CLOSED of every connection) still run. */
  destroy(): void {
    if (!this.context.isDestroyed) this.context.destroy();
    this.timer.clear();
  }

  // ---- turns -----------------------------------------------------------------------------

  private scheduleTurn(): void {
    if (this.turnScheduled) return;
    this.turnScheduled = true;
    // A turn is never cancelled (destroy lets the notices it causes run): no handle kept.
    this.host.schedule(this.scheduledTurn, 0);
  }

  /** One function for every scheduled turn, not a closure per turn. */
  private readonly scheduledTurn = (): void => {
    this.turnScheduled = false;
    this.turn();
  };

  private turn(): void {
    if (this.inTurn) return;
    this.inTurn = true;
    try {
      for (let pass = 0; pass < MAX_PASSES_PER_TURN; pass++) {
        this.serviceOnce();
        this.runNotices();
        if (!this.hasWork()) break;
      }
    } finally {
      this.inTurn = false;
      // Every message this turn wrote to a socket leaves in one vectored write.
      this.pollSet.flushWrites();
    }
    if (this.hasWork()) {
      // Still busy after its share: give the scheduler back, come again.
      this.scheduleTurn();
      return;
    }
    if (this.idleListeners.size > 0) for (const listener of [...this.idleListeners]) listener();
    this.timer.rearm(this.context);
  }

  private hasWork(): boolean {
    if (this.pollSet.hasReady || !this.notices.isEmpty) return true;
    const context = this.context;
    return !context.isDestroyed && (context.hasPendingService || context.adjustTimeout(1) === 0);
  }

  private serviceOnce(): void {
    const context = this.context;
    if (context.isDestroyed) {
      this.pollSet.clear();
      return;
    }
    this.pollSet.serviceReady(context);
    if (!context.isDestroyed && (context.hasPendingService || context.adjustTimeout(1) === 0)) context.servicePending();
  }

  private runNotices(): void {
    if (!this.notices.isEmpty) this.notices.run(this.noticeThrew);
  }

  /** RxJS reports observer errors itself; a notice that throws is a bug of ours, and must not stop the loop. */
  private readonly noticeThrew = (error: unknown): void => {
    this.context.logger.err(`rx loop: a notice threw: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  };
}
