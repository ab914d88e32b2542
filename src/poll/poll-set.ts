/**
 * A loop's side of the external-poll contract, for loops that learn readiness from
 * notifications rather than by calling poll(2): the poll set kept exactly as the hooks
 * say, a ready set fed by each pollable's onReadiness, and level-triggered servicing.
 * The Node loop and the RxJS loop are both built on it; they differ only in how they
 * schedule a turn and a timer.
 */
import type { Context } from "./context.js";
import type { PollHooks } from "./events.js";
import { POLLERR, POLLHUP } from "./pollfd.js";
import type { Pollable } from "./transport.js";

interface Entry {
  fd: number;
  events: number;
  source: Pollable;
}

/** Sources that batch writes between cork() and uncork() (Node sockets). */
interface Corkable {
  cork(): void;
  uncork(): void;
}

/** Services one descriptor gets in a row before the others get their turn. */
const MAX_SERVICES_IN_A_ROW = 64;

export class PollSet {
  /** Hooks to give the context: they keep this set and mark what may be ready. */
  readonly hooks: PollHooks;
  private readonly entries = new Map<number, Entry>();
  private readonly ready = new Set<number>();

  /**
   * @param onReady called when a descriptor may have become ready; it may be called
   * from inside a context call, so it must only schedule a turn, never service.
   */
  constructor(private readonly onReady: () => void) {
    this.hooks = {
      add: (fd, events, source) => {
        this.entries.set(fd, { fd, events, source });
        source.onReadiness = () => this.mark(fd);
        source.setInterest?.(events);
        // A new descriptor, or a hook from user code outside any service, may come with a
        // deadline or forced work no socket event will announce: always look once.
        this.mark(fd);
      },
      del: (fd) => {
        const entry = this.entries.get(fd);
        if (!entry) return;
        entry.source.onReadiness = null;
        this.entries.delete(fd);
        this.ready.delete(fd);
      },
      changeMode: (fd, events) => {
        const entry = this.entries.get(fd);
        if (!entry) return;
        entry.events = events;
        entry.source.setInterest?.(events);
        this.mark(fd);
      },
    };
  }

  get hasReady(): boolean {
    return this.ready.size > 0;
  }

  /**
   * Service each descriptor marked ready, level-triggered: again while its pollable still
   * reports what it is polled for, at most MAX_SERVICES_IN_A_ROW times (then it stays
   * marked for the next pass). Writes made meanwhile are corked into one.
   */
  serviceReady(context: Context): void {
    const batch = [...this.ready];
    this.ready.clear();
    for (const fd of batch) {
      if (context.isDestroyed) return;
      this.serviceOne(context, fd);
    }
  }

  clear(): void {
    this.ready.clear();
  }

  private serviceOne(context: Context, fd: number): void {
    const entry = this.entries.get(fd);
    if (!entry) return;
    const corkable = isCorkable(entry.source) ? entry.source : null;
    corkable?.cork();
    try {
      for (let i = 0; i < MAX_SERVICES_IN_A_ROW; i++) {
        const revents = entry.source.poll() & (entry.events | POLLERR | POLLHUP);
        if (revents === 0) return;
        context.serviceFd({ fd, events: entry.events, revents });
        if (this.entries.get(fd) !== entry) return;
      }
      this.ready.add(fd);
    } finally {
      corkable?.uncork();
    }
  }

  private mark(fd: number): void {
    this.ready.add(fd);
    this.onReady();
  }
}

function isCorkable(source: Pollable): source is Pollable & Corkable {
  const candidate = source as Partial<Corkable>;
  return typeof candidate.cork === "function" && typeof candidate.uncork === "function";
}
