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

/** Sources that batch writes between cork() and uncork() (Node sockets). */
interface Corkable {
  cork(): void;
  uncork(): void;
}

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
  private corked: Entry[] = [];
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
          corkable: isCorkable(source) ? source : null,
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

  /** What `fd` is polled for, or null when it is not in the set. */
  eventsOf(fd: number): number | null {
    return this.entries.get(fd)?.events ?? null;
  }

  /** The poll set as the hooks built it (copies). */
  pollfds(): PollFd[] {
    return [...this.entries.values()].map((entry) => ({ fd: entry.fd, events: entry.events, revents: 0 }));
  }

  get hasReady(): boolean {
    return this.ready.length > 0;
  }

  /**
   * Service each descriptor marked ready, level-triggered: again while its pollable still
   * reports what it is polled for, at most MAX_SERVICES_IN_A_ROW times (then it stays
   * marked for the next pass). Writes made meanwhile are corked until flushWrites(),
   * which the loop calls at the end of its turn: everything a turn wrote to one socket,
   * over however many passes, leaves in one vectored write. Returns the number of
   * services performed.
   */
  serviceReady(context: Context): number {
    const batch = this.ready;
    this.ready = this.spare;
    let services = 0;
    for (let i = 0; i < batch.length; i++) {
      const entry = batch[i]!;
      entry.marked = false;
      if (entry.removed || context.isDestroyed) continue;
      services += this.serviceOne(context, entry);
    }
    batch.length = 0;
    this.spare = batch;
    return services;
  }

  /** Let the writes corked in this turn go (the loop calls it at the end of every turn). */
  flushWrites(): void {
    const corked = this.corked;
    if (corked.length === 0) return;
    this.corked = [];
    for (const entry of corked) {
      entry.corked = false;
      entry.corkable!.uncork();
    }
  }

  clear(): void {
    for (const entry of this.ready) entry.marked = false;
    this.ready.length = 0;
  }

  /** Service one descriptor while it stays ready; returns how many times it was serviced. */
  private serviceOne(context: Context, entry: Entry): number {
    const corkable = entry.corkable;
    if (corkable && !entry.corked) {
      entry.corked = true;
      corkable.cork();
      this.corked.push(entry);
    }
    const source = entry.source;
    const pollfd = this.pollfd;
    pollfd.fd = entry.fd;
    for (let i = 0; i < MAX_SERVICES_IN_A_ROW; i++) {
      const events = entry.events;
      const revents = source.poll() & (events | POLLERR | POLLHUP);
      if (revents === 0) return i;
      pollfd.events = events;
      pollfd.revents = revents;
      context.serviceFd(pollfd);
      if (entry.removed) return i + 1;
    }
    this.mark(entry);
    return MAX_SERVICES_IN_A_ROW;
  }

  private mark(entry: Entry): void {
    if (!entry.marked) {
      entry.marked = true;
      this.ready.push(entry);
    }
    this.onReady();
  }
}

function isCorkable(source: Pollable): source is Pollable & Corkable {
  const candidate = source as Partial<Corkable>;
  return typeof candidate.cork === "function" && typeof candidate.uncork === "function";
}
