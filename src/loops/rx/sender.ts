/**
 * The send side of one connection. The receiver is the boss: nothing is written except
 * from a WRITEABLE callback, one message per callback, after the connection has finished
 * its previous partial write. Two kinds of source feed it:
 *
 * - pushed messages (send(), push observables) wait in an outbox that, with the
 *   connection's own partial write, holds at most `maxBufferedBytes` (one message that is
 *   bigger on its own is let through when nothing else is held). Beyond that the
 *   overflow policy decides: "wait" refuses the message (a push source cannot be paused,
 *   so its sendAll ends with SendOverflowError), "drop" counts and forgets it, "close"
 *   closes the connection with 1008.
 * - pull feeds (iterables, another connection's messages$) are asked for one message
 *   only inside a WRITEABLE with the outbox empty, so they never overflow: they wait.
 */
import type { Connection } from "../../poll/connection.js";
import { fewAt, fewCount, fewWith, fewWithout, type Few } from "./few.js";
import type { Defer } from "./notices.js";

/** The part of a connection the sender uses. */
export type SenderConnection = Pick<Connection, "state" | "role" | "bufferedAmount" | "requestWriteable" | "write" | "close">;

export type OverflowPolicy = "wait" | "drop" | "close";

/** A message to send: a string goes as text, bytes go as binary. */
export type OutgoingMessage = string | Uint8Array;

/**
 * The result of offering a pushed message: queued; over the budget and "dropped",
 * "refused" (wait) or the connection closed ("closing", close); or "not-open" (it was
 * closed already).
 */
export type OfferResult = "queued" | "dropped" | "refused" | "closing" | "not-open";

/** Where a pull feed writes the message it has. */
export interface FeedSink {
  /** Write one message; called at most once per pull(). */
  put(data: OutgoingMessage, kind: "text" | "binary"): void;
}

/** A source asked for messages one at a time, inside WRITEABLE. */
export interface PullFeed {
  /** True while asking it may produce a message (so a WRITEABLE is worth requesting). */
  readonly wantsWriteable: boolean;
  /**
   * Put the next message into `sink` and return true, or return false when it has none
   * now. Called inside a WRITEABLE callback; what follows the put (counting the message
   * written) runs there too, so it must not call user code.
   */
  pull(sink: FeedSink): boolean;
}

interface Queued {
  payload: Uint8Array;
  kind: "text" | "binary";
  bytes: number;
  onWritten: (() => void) | null;
}

export interface SenderLimits {
  maxBufferedBytes: number;
  overflow: OverflowPolicy;
}

export class Sender implements FeedSink {
  // Made when first used: an idle connection holds neither.
  private outbox: Queued[] | null = null;
  private outboxBytes = 0;
  private feeds: Few<PullFeed> = null;
  private nextFeed = 0;
  private droppedCount = 0;
  private closed = false;

  constructor(
    private readonly connection: SenderConnection,
    /** Replaced, not changed, when a connection gets limits of its own. */
    public limits: SenderLimits,
    /** Where onWritten callbacks run: later, outside every context call. */
    private readonly port: Defer,
  ) {}

  /** Bytes held for this connection: queued messages (as frames) plus the unfinished write. */
  get held(): number {
    return this.outboxBytes + this.connection.bufferedAmount;
  }

  get dropped(): number {
    return this.droppedCount;
  }

  get isOpen(): boolean {
    return !this.closed && this.connection.state === "established";
  }

  /** Queue a pushed message within the budget, or apply `policy` to it. `onWritten` runs (deferred) once it is written. */
  offer(message: OutgoingMessage, policy: OverflowPolicy = this.limits.overflow, onWritten: (() => void) | null = null): OfferResult {
    if (!this.isOpen) return "not-open";
    const item = toQueued(message, onWritten, this.connection.role === "client");
    const held = this.held;
    if (held > 0 && held + item.bytes > this.limits.maxBufferedBytes) {
      switch (policy) {
        case "drop":
          this.droppedCount++;
          return "dropped";
        case "close":
          this.connection.close(1008, "send buffer full");
          return "closing";
        default:
          return "refused";
      }
    }
    (this.outbox ??= []).push(item);
    this.outboxBytes += item.bytes;
    this.request();
    return "queued";
  }

  /** The size `message` would have on the wire, as the budget counts it. */
  sizeOf(message: OutgoingMessage): number {
    const length = typeof message === "string" ? Buffer.byteLength(message) : message.length;
    return frameBytes(length, this.connection.role === "client");
  }

  /** Add a pull feed. */
  addFeed(feed: PullFeed): void {
    this.feeds = fewWith(this.feeds, feed);
    this.request();
  }

  removeFeed(feed: PullFeed): void {
    this.feeds = fewWithout(this.feeds, feed);
  }

  /** Ask for a WRITEABLE if anything may be written. */
  request(): void {
    if (!this.isOpen) return;
    if ((this.outbox !== null && this.outbox.length > 0) || this.anyFeedWants()) this.connection.requestWriteable();
  }

  /** A feed has a message now (it knows: no need to ask every feed). */
  wake(): void {
    if (this.isOpen) this.connection.requestWriteable();
  }

  private anyFeedWants(): boolean {
    const feeds = this.feeds;
    for (let i = 0, n = fewCount(feeds); i < n; i++) if (fewAt(feeds, i).wantsWriteable) return true;
    return false;
  }

  /** Inside SERVER_WRITEABLE / CLIENT_WRITEABLE: write one message, then ask for the next WRITEABLE. */
  onWriteable(): void {
    const item = this.outbox !== null && this.outbox.length > 0 ? this.outbox.shift()! : undefined;
    if (item) {
      this.outboxBytes -= item.bytes;
      this.connection.write(item.payload, item.kind);
      if (item.onWritten) this.port.defer(item.onWritten);
    } else {
      this.writeFromFeeds();
    }
    this.request();
  }

  /** FeedSink: a feed's message, written inside its pull(). */
  put(data: OutgoingMessage, kind: "text" | "binary"): void {
    this.connection.write(data, kind);
  }

  /** Round-robin over the feeds: the first that has a message now writes it. */
  private writeFromFeeds(): void {
    const feeds = this.feeds;
    const count = fewCount(feeds);
    // Not isOpen: a WRITEABLE may come while "closing" (the reply a peer's protocol error
    // let through, see Connection.onPeerError), and what it writes goes before the close.
    for (let i = 0; i < count && !this.closed; i++) {
      const feed = fewAt(feeds, (this.nextFeed + i) % count);
      if (!feed.wantsWriteable || !feed.pull(this)) continue;
      this.nextFeed = (this.nextFeed + i + 1) % Math.max(1, fewCount(this.feeds));
      return;
    }
  }

  /** The connection is gone: what was queued will never be written. */
  close(): void {
    this.closed = true;
    this.outbox = null;
    this.outboxBytes = 0;
    this.feeds = null;
  }
}

function toQueued(message: OutgoingMessage, onWritten: (() => void) | null, masked: boolean): Queued {
  const text = typeof message === "string";
  const payload = text ? Buffer.from(message, "utf8") : message;
  return { payload, kind: text ? "text" : "binary", bytes: frameBytes(payload.length, masked), onWritten };
}

/** A single frame's size: header (2, 4 or 10 bytes), the client's mask key, the payload. */
export function frameBytes(payload: number, masked: boolean): number {
  const header = payload > 0xffff ? 10 : payload > 125 ? 4 : 2;
  return header + (masked ? 4 : 0) + payload;
}
