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
import type { PollHooks } from "../../poll/events.js";
import { POLLERR, POLLHUP } from "../../poll/pollfd.js";
import type { Pollable } from "../../poll/transport.js";
import type { CancelScheduled, LoopScheduler } from "./scheduler.js";

interface Entry {
  fd: number;
  events: number;
  source: Pollable;
}

/** Node sockets (SocketTransport) batch writes between cork() and uncork(). */
interface Corkable {
  cork(): void;
  uncork(): void;
}

/** Services that one descriptor gets in a row before the others get their turn. */
const MAX_SERVICES_PER_DESCRIPTOR = 64;
/** Passes (service, then notices) in one turn before the scheduler gets control back. */
const MAX_PASSES_PER_TURN = 256;
/** The longest single timer delay (setTimeout's limit, under RxJS's real schedulers). */
const MAX_TIMER_MS = 2_147_000_000;

export class ScheduledBridge {
  readonly context: Context;
  private readonly entries = new Map<number, Entry>();
  private readonly ready = new Set<number>();
  private notices: Array<() => void> = [];
  private readonly idleListeners = new Set<() => void>();
  private inTurn = false;
  private turnScheduled: CancelScheduled | null = null;
  private timer: CancelScheduled | null = null;
  private timerDeadline = Number.POSITIVE_INFINITY;

  constructor(
    private readonly host: LoopScheduler,
    options: Omit<ContextOptions, "hooks" | "clock">,
  ) {
    const hooks: PollHooks = {
      add: (fd, events, source) => this.onAdd(fd, events, source),
      del: (fd) => this.onDel(fd),
      changeMode: (fd, events) => this.onChangeMode(fd, events),
    };
    this.context = new Context({ ...options, hooks, clock: host });
  }

  /**
   * Run `notice` after the current service, outside every context call (from a later
   * turn when called outside one). Notices run in the order they were given.
   */
  defer(notice: () => void): void {
    this.notices.push(notice);
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
    this.clearTimer();
  }

  // ---- turns -----------------------------------------------------------------------------

  private scheduleTurn(): void {
    if (this.turnScheduled) return;
    this.turnScheduled = this.host.schedule(() => {
      this.turnScheduled = null;
      this.turn();
    }, 0);
  }

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
    }
    if (this.hasWork()) {
      // Still busy after its share: give the scheduler back, come again.
      this.scheduleTurn();
      return;
    }
    for (const listener of [...this.idleListeners]) listener();
    this.rearmTimer();
  }

  private hasWork(): boolean {
    if (this.ready.size > 0 || this.notices.length > 0) return true;
    const context = this.context;
    return !context.isDestroyed && (context.hasPendingService || context.adjustTimeout(1) === 0);
  }

  private serviceOnce(): void {
    const context = this.context;
    if (context.isDestroyed) {
      this.ready.clear();
      return;
    }
    const batch = [...this.ready];
    this.ready.clear();
    for (const fd of batch) this.serviceReady(fd);
    if (!context.isDestroyed && (context.hasPendingService || context.adjustTimeout(1) === 0)) context.servicePending();
  }

  /** Level-triggered: service while poll() still reports what the descriptor is polled for. */
  private serviceReady(fd: number): void {
    const entry = this.entries.get(fd);
    if (!entry) return;
    const corkable = isCorkable(entry.source) ? entry.source : null;
    corkable?.cork();
    try {
      for (let i = 0; i < MAX_SERVICES_PER_DESCRIPTOR; i++) {
        const revents = entry.source.poll() & (entry.events | POLLERR | POLLHUP);
        if (revents === 0) return;
        this.context.serviceFd({ fd, events: entry.events, revents });
        if (this.entries.get(fd) !== entry) return;
      }
      this.ready.add(fd); // had its share: again in the next pass
    } finally {
      corkable?.uncork();
    }
  }

  private runNotices(): void {
    while (this.notices.length > 0) {
      const batch = this.notices;
      this.notices = [];
      for (const notice of batch) {
        try {
          notice();
        } catch (error) {
          // RxJS reports observer errors itself; this is a bug of ours, and must not stop the loop.
          this.context.logger.err(`rx loop: a notice threw: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
        }
      }
    }
  }

  /** One timer action, at the context's next deadline; an early one fires and re-arms. */
  private rearmTimer(): void {
    const context = this.context;
    if (context.isDestroyed) {
      this.clearTimer();
      return;
    }
    const wait = context.adjustTimeout(MAX_TIMER_MS);
    if (wait >= MAX_TIMER_MS) {
      this.clearTimer();
      return;
    }
    const deadline = this.host.now() + wait;
    // Deadlines mostly move later (traffic pushes idle and ping timers away): keep the
    // earlier action, let it fire and re-arm then, rather than re-scheduling every turn.
    if (this.timer && this.timerDeadline <= deadline) return;
    this.clearTimer();
    this.timerDeadline = deadline;
    this.timer = this.host.schedule(() => {
      this.timer = null;
      this.timerDeadline = Number.POSITIVE_INFINITY;
      this.turn();
    }, wait);
  }

  private clearTimer(): void {
    this.timer?.();
    this.timer = null;
    this.timerDeadline = Number.POSITIVE_INFINITY;
  }

  // ---- the hooks: record, never call back into the context ---------------------------------

  private markReady(fd: number): void {
    this.ready.add(fd);
    if (!this.inTurn) this.scheduleTurn();
  }

  private onAdd(fd: number, events: number, source: Pollable): void {
    this.entries.set(fd, { fd, events, source });
    source.onReadiness = () => this.markReady(fd);
    source.setInterest?.(events);
    this.markReady(fd);
  }

  private onDel(fd: number): void {
    const entry = this.entries.get(fd);
    if (!entry) return;
    entry.source.onReadiness = null;
    this.entries.delete(fd);
    this.ready.delete(fd);
  }

  /**
   * A mode change may come from user code outside any service (rx turned back on, a
   * write requested): the descriptor is looked at again in a turn, which also runs the
   * forced service that re-enabled rx leaves pending.
   */
  private onChangeMode(fd: number, events: number): void {
    const entry = this.entries.get(fd);
    if (!entry) return;
    entry.events = events;
    entry.source.setInterest?.(events);
    this.markReady(fd);
  }
}

function isCorkable(source: Pollable): source is Pollable & Corkable {
  const candidate = source as Partial<Corkable>;
  return typeof candidate.cork === "function" && typeof candidate.uncork === "function";
}
