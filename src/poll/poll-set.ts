/**
 * A loop's side of the external-poll contract, for loops that learn readiness from
 * notifications rather than by calling poll(2): the poll set kept exactly as the hooks
 * say, a ready set fed by each pollable's onReadiness, and level-triggered servicing.
 * The Node loop and the RxJS loop are both built on it; they differ only in how they
 * schedule a turn and a timer.
 */
import type { Context } from "./context.js";
import type { PollHooks } from "./events.js";
import type { PollFd } from "./pollfd.js";
import { POLLERR, POLLHUP } from "./pollfd.js";
import type { Pollable } from "./transport.js";
import { asCorkable, corkForPass, uncorkPass, type Corkable } from "./corkable.js";


interface Entry {
  fd: number;
  events: number;
  source: Pollable;
  /** The source, when it can batch writes; found once, at add. */
  corkable: Corkable | null;
  /** Corked in the current turn, waiting for flushWrites(). */
  corked: boolean;
  /** In the ready list. */
  marked: boolean;
  /** Deleted by the hooks: a ready list may still hold it, it is skipped. */
  removed: boolean;
}

/** Services one descriptor gets in a row before the others get their turn. */
const MAX_SERVICES_IN_A_ROW = 64;

export class PollSet {
  /** Hooks to give the context: they keep this set and mark what may be ready. */
  readonly hooks: PollHooks;
  private readonly entries = new Map<number, Entry>();
  private ready: Entry[] = [];
  /** The previous ready list, emptied and kept for the next swap. */
  private spare: Entry[] = [];
  private readonly corked: Entry[] = [];
  /** Given to every serviceFd() call: the context does not keep it, and never re-enters. */
  private readonly pollfd: PollFd = { fd: -1, events: 0, revents: 0 };

  /**
   * @param onReady called when a descriptor may have become ready; it may be called
   * from inside a context call, so it must only schedule a turn, never service.
   */
  constructor(private readonly onReady: () => void) {
    this.hooks = {
      add: (fd, events, source) => {
        const entry: Entry = {
          fd,
          events,
          source,
          corkable: asCorkable(source),
          corked: false,
          marked: false,
          removed: false,
        };
        this.entries.set(fd, entry);
        source.onReadiness = () => this.mark(entry);
        source.setInterest?.(events);
        // A new descriptor, or a hook from user code outside any service, may come with a
        // deadline or forced work no socket event will announce: always look once.
        this.mark(entry);
      },
      del: (fd) => {
        const entry = this.entries.get(fd);
        if (!entry) return;
        entry.source.onReadiness = null;
        entry.removed = true;
        this.entries.delete(fd);
      },
      changeMode: (fd, events) => {
        const entry = this.entries.get(fd);
        if (!entry) return;
        entry.events = events;
        entry.source.setInterest?.(events);
        this.mark(entry);
      },
    };
  }

  get hasReady(): boolean {
    return this.ready.length > 0;
  }

  /**
   * Service each descriptor marked ready, level-triggered: again while its pollable still
   * reports what it is polled for, at most MAX_SERVICES_IN_A_ROW times (then it stays
   * marked for the next pass). Writes made meanwhile are corked until flushWrites(),
   * which the loop calls at the end of its turn: everything a turn wrote to one socket,
   * over however many passes, leaves in one vectored write.
   */
  serviceReady(context: Context): void {
    const batch = this.ready;
    this.ready = this.spare;
    for (let i = 0; i < batch.length; i++) {
      const entry = batch[i]!;
      entry.marked = false;
      if (entry.removed || context.isDestroyed) continue;
      this.serviceOne(context, entry);
    }
    batch.length = 0;
    this.spare = batch;
  }

  /** Let the writes corked in this turn go (the loop calls it at the end of every turn). */
  flushWrites(): void {
    uncorkPass(this.corked);
  }

  clear(): void {
    for (const entry of this.ready) entry.marked = false;
    this.ready.length = 0;
  }

  private serviceOne(context: Context, entry: Entry): void {
    corkForPass(entry, this.corked);
    const source = entry.source;
    const pollfd = this.pollfd;
    pollfd.fd = entry.fd;
    for (let i = 0; i < MAX_SERVICES_IN_A_ROW; i++) {
      const events = entry.events;
      const revents = source.poll() & (events | POLLERR | POLLHUP);
      if (revents === 0) return;
      pollfd.events = events;
      pollfd.revents = revents;
      context.serviceFd(pollfd);
      if (entry.removed) return;
    }
    this.mark(entry);
  }

  private mark(entry: Entry): void {
    if (!entry.marked) {
      entry.marked = true;
      this.ready.push(entry);
    }
    this.onReady();
  }
}
