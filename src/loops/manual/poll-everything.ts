/**
 * The manual driver's poll set when nobody is told of readiness: poll(2)'s way. Each
 * step asks every pollable what it is ready for and services the ready ones once each, in
 * descriptor order; nothing is assumed about notifications. (Given onReady, the driver
 * uses a PollSet instead, as the Node and rx loops do.)
 */
import type { Context } from "../../poll/context.js";
import type { PollHooks } from "../../poll/events.js";
import { POLLERR, POLLHUP, type PollFd } from "../../poll/pollfd.js";
import type { Pollable } from "../../poll/transport.js";

interface Entry {
  events: number;
  source: Pollable;
}

export class PollEverything {
  readonly hooks: PollHooks;
  private readonly entries = new Map<number, Entry>();

  constructor() {
    this.hooks = {
      add: (fd, events, source) => {
        this.entries.set(fd, { events, source });
        source.setInterest?.(events);
      },
      del: (fd) => {
        this.entries.delete(fd);
      },
      changeMode: (fd, events) => {
        const entry = this.entries.get(fd);
        if (!entry) return;
        entry.events = events;
        entry.source.setInterest?.(events);
      },
    };
  }

  /** What `fd` is polled for, or null when it is not in the set. */
  eventsOf(fd: number): number | null {
    return this.entries.get(fd)?.events ?? null;
  }

  pollfds(): PollFd[] {
    return [...this.entries].map(([fd, entry]) => ({ fd, events: entry.events, revents: 0 }));
  }

  /** Every pollable asked, the ready ones serviced once each; returns how many were. */
  serviceReady(context: Context): number {
    const ready: PollFd[] = [];
    for (const [fd, { events, source }] of this.entries) {
      const revents = source.poll() & (events | POLLERR | POLLHUP);
      if (revents) ready.push({ fd, events, revents });
    }
    ready.sort((x, y) => x.fd - y.fd);
    let services = 0;
    for (const pollfd of ready) {
      // A service above may have removed or re-purposed this descriptor.
      if (this.entries.get(pollfd.fd)?.events !== pollfd.events) continue;
      context.serviceFd(pollfd);
      services++;
    }
    return services;
  }

  /** Nothing is corked here: a source that batches writes does so on its own. */
  flushWrites(): void {}
}
