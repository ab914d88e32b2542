/**
 * The receive side of one connection: received messages wait here until their consumers
 * have processed them. "Unprocessed" counts messages waiting plus messages handed to a
 * consumer and not yet done (a messages$ observer is done when its next() returns, a
 * consume() handler when its observable completes). Past the high-water marks the
 * connection's rx is held (rx flow control), so a slow consumer slows the peer through
 * TCP instead of growing this queue; it is released at half the marks.
 *
 * Every message goes to every consumer present (a broadcast), and only when all of them
 * have room: the slowest consumer sets the pace. With no consumer, messages wait.
 *
 * Messages are kept as received — the payload bytes and whether they are binary — and a
 * text message becomes a string only in a consumer that wants one (messages$, consume()).
 * sendAll(messages$) passes the bytes through: an echo never decodes and re-encodes.
 */

import { fewAt, fewCount, fewHas, fewWith, fewWithout, type Few } from "./few.js";
import type { Defer } from "./notices.js";

/** One taker of messages: a messages$ subscriber, a consume() handler, a sendAll(). */
export interface Consumer {
  /** How many more messages it can take now. */
  room(): number;
  /** Take one; `done` must be called once it has been processed (calling it again is harmless). */
  take(data: Buffer, binary: boolean, done: () => void): void;
  /** No message will come any more. */
  end(): void;
  /**
   * Present on a consumer that pulls (sendAll): while it is the only consumer it is not
   * handed messages from a notice; it takes them itself with oldestFor() and
   * discardOldest() — inside the WRITEABLE that writes them, so a message costs no
   * notice. Called when messages wait for it (inside RECEIVE, or from a notice).
   */
  waiting?(): void;
}

export interface InboxLimits {
  /** Unprocessed messages above which rx is held. */
  highWaterMark: number;
  /** Unprocessed bytes above which rx is held. */
  highWaterBytes: number;
}

/** What the inbox needs of its connection; defer() runs work later, outside every context call. */
export interface InboxPort extends Defer {
  /** Stop reading the connection (called inside RECEIVE, so the parser stops there). */
  hold(): void;
  /** Read again. */
  release(): void;
}

export class Inbox {
  // Waiting messages, oldest at `head`, as parallel arrays (nothing is allocated per
  // message); made for the first message, so an idle connection holds none.
  private data: Buffer[] | null = null;
  private kinds: boolean[] | null = null;
  private head = 0;
  private inFlight = 0;
  private bytes = 0;
  // Replaced on every change, so a pump can iterate it while consumers come and go.
  private consumers: Few<Consumer> = null;
  /** The only consumer, when it pulls; else null. */
  private puller: Consumer | null = null;
  private ended = false;
  private holding = false;
  private pumpScheduled = false;

  constructor(
    /** Replaced, not changed, when a connection gets limits of its own. */
    public limits: InboxLimits,
    private readonly port: InboxPort,
  ) {}

  /** Messages received and not yet processed by every consumer. */
  get unprocessed(): number {
    return this.waitingCount + this.inFlight;
  }

  /** Their payload bytes. */
  get unprocessedBytes(): number {
    return this.bytes;
  }

  get isHolding(): boolean {
    return this.holding;
  }

  private get waitingCount(): number {
    return this.data === null ? 0 : this.data.length - this.head;
  }

  /** A message arrived (inside RECEIVE). */
  push(data: Buffer, binary: boolean): void {
    if (this.ended) return;
    (this.data ??= []).push(data);
    (this.kinds ??= []).push(binary);
    this.bytes += data.length;
    if (!this.holding && (this.unprocessed > this.limits.highWaterMark || this.bytes > this.limits.highWaterBytes)) {
      this.holding = true;
      this.port.hold();
    }
    if (this.puller !== null) this.puller.waiting!();
    else if (this.consumers !== null) this.schedulePump();
  }

  /** The connection is gone: what waits is still delivered, then consumers end. */
  end(): void {
    this.ended = true;
    // Consumers that come later are ended when they attach.
    if (this.consumers !== null) this.schedulePump();
  }

  /** Add a consumer. Delivery starts from a later notice. */
  attach(consumer: Consumer): void {
    this.setConsumers(fewWith(this.consumers, consumer));
    this.pumpIfDue();
  }

  detach(consumer: Consumer): void {
    if (!fewHas(this.consumers, consumer)) return;
    this.setConsumers(fewWithout(this.consumers, consumer));
    this.pumpIfDue();
  }

  private setConsumers(consumers: Few<Consumer>): void {
    this.consumers = consumers;
    this.puller = fewCount(consumers) === 1 && fewAt(consumers, 0).waiting !== undefined ? fewAt(consumers, 0) : null;
  }

  /** A pump has work only if messages wait or the end is due. */
  private pumpIfDue(): void {
    if (this.waitingCount > 0 || this.ended) this.schedulePump();
  }

  // ---- a consumer that pulls -------------------------------------------------------------

  /** The oldest waiting message when `consumer` is the only consumer (it pulls), else null. */
  oldestFor(consumer: Consumer): Buffer | null {
    if (consumer !== this.puller || this.waitingCount === 0) return null;
    return this.data![this.head]!;
  }

  /** Whether the oldest waiting message is binary (after oldestFor() returned it). */
  get oldestIsBinary(): boolean {
    return this.kinds![this.head]!;
  }

  /** The puller has written the oldest message: it is processed. */
  discardOldest(): void {
    this.processed(this.shift().length);
  }

  // ---- delivery --------------------------------------------------------------------------

  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    this.port.defer(Inbox.#pump, this);
  }

  static #pump(inbox: Inbox): void {
    inbox.pumpScheduled = false;
    inbox.pump();
  }

  private pump(): void {
    if (this.puller !== null) {
      if (this.waitingCount > 0) this.puller.waiting!();
    } else {
      while (this.waitingCount > 0 && this.consumers !== null && this.everyoneHasRoom()) {
        const binary = this.kinds![this.head]!;
        const data = this.shift();
        this.inFlight++;
        this.deliver(data, binary);
      }
    }
    if (this.ended && this.waitingCount === 0) {
      const consumers = this.consumers;
      this.setConsumers(null);
      for (let i = 0, n = fewCount(consumers); i < n; i++) fewAt(consumers, i).end();
    }
  }

  /** Remove the oldest waiting message; its bytes still count until processed(). */
  private shift(): Buffer {
    const data = this.data!;
    const kinds = this.kinds!;
    const message = data[this.head]!;
    data[this.head++] = undefined as never; // let it be collected
    if (this.head === data.length) {
      // Drained: start over (the arrays keep their room for the next burst).
      data.length = 0;
      kinds.length = 0;
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > data.length) {
      this.data = data.slice(this.head);
      this.kinds = kinds.slice(this.head);
      this.head = 0;
    }
    return message;
  }

  private everyoneHasRoom(): boolean {
    const consumers = this.consumers;
    for (let i = 0, n = fewCount(consumers); i < n; i++) if (fewAt(consumers, i).room() < 1) return false;
    return true;
  }

  private deliver(data: Buffer, binary: boolean): void {
    const takers = this.consumers;
    const count = fewCount(takers);
    if (count === 1) {
      // The usual case (one messages$ subscriber, or one consume()): one closure.
      let called = false;
      fewAt(takers, 0).take(data, binary, () => {
        if (called) return;
        called = true;
        this.inFlight--;
        this.processed(data.length);
      });
      return;
    }
    let remaining = count;
    const doneOnce = () => {
      let called = false;
      return () => {
        if (called) return;
        called = true;
        if (--remaining > 0) return;
        this.inFlight--;
        this.processed(data.length);
      };
    };
    for (let i = 0; i < count; i++) {
      const consumer = fewAt(takers, i);
      const done = doneOnce();
      // A consumer that left while an earlier one took the message is simply done.
      if (fewHas(this.consumers, consumer)) consumer.take(data, binary, done);
      else done();
    }
  }

  private processed(bytes: number): void {
    this.bytes -= bytes;
    if (this.holding && this.unprocessed <= this.limits.highWaterMark / 2 && this.bytes <= this.limits.highWaterBytes / 2) {
      this.holding = false;
      if (!this.ended) this.port.release();
    }
    // A lone puller takes the next message itself; only the end is left for a pump.
    if (this.puller === null || this.ended) this.pumpIfDue();
  }
}
