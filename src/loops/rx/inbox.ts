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
 */

/** One taker of messages: a messages$ subscriber or a consume() handler. */
export interface Consumer<T> {
  /** How many more messages it can take now. */
  room(): number;
  /** Take one; `done` must be called once it has been processed (calling it again is harmless). */
  take(message: T, done: () => void): void;
  /** No message will come any more. */
  end(): void;
}

export interface InboxLimits {
  /** Unprocessed messages above which rx is held. */
  highWaterMark: number;
  /** Unprocessed bytes above which rx is held. */
  highWaterBytes: number;
}

export interface InboxPort {
  /** Stop reading the connection (called inside RECEIVE, so the parser stops there). */
  hold(): void;
  /** Read again. */
  release(): void;
  /** Run later, outside every context call. */
  defer(work: () => void): void;
}

export class Inbox<T> {
  // Waiting messages and their sizes, oldest at `head` (parallel arrays: nothing is
  // allocated per message).
  private queue: T[] = [];
  private sizes: number[] = [];
  private head = 0;
  private inFlight = 0;
  private bytes = 0;
  private readonly consumers = new Set<Consumer<T>>();
  private ended = false;
  private holding = false;
  private pumpScheduled = false;

  constructor(
    private readonly limits: InboxLimits,
    private readonly port: InboxPort,
  ) {}

  /** Messages received and not yet processed by every consumer. */
  get unprocessed(): number {
    return this.queue.length - this.head + this.inFlight;
  }

  /** Their payload bytes. */
  get unprocessedBytes(): number {
    return this.bytes;
  }

  get isHolding(): boolean {
    return this.holding;
  }

  /** A message arrived (inside RECEIVE). */
  push(message: T, bytes: number): void {
    if (this.ended) return;
    this.queue.push(message);
    this.sizes.push(bytes);
    this.bytes += bytes;
    if (!this.holding && (this.unprocessed > this.limits.highWaterMark || this.bytes > this.limits.highWaterBytes)) {
      this.holding = true;
      this.port.hold();
    }
    this.schedulePump();
  }

  /** The connection is gone: what waits is still delivered, then consumers end. */
  end(): void {
    this.ended = true;
    this.schedulePump();
  }

  /** Add a consumer; returns its detach function. Delivery starts from a later notice. */
  attach(consumer: Consumer<T>): () => void {
    this.consumers.add(consumer);
    this.schedulePump();
    return () => {
      if (this.consumers.delete(consumer)) this.schedulePump();
    };
  }

  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    this.port.defer(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    while (this.head < this.queue.length && this.consumers.size > 0 && this.everyoneHasRoom()) {
      const message = this.queue[this.head]!;
      const bytes = this.sizes[this.head]!;
      this.queue[this.head++] = undefined as never; // let it be collected
      if (this.head === this.queue.length) {
        // Drained: start over (the arrays keep their room for the next burst).
        this.queue.length = 0;
        this.sizes.length = 0;
        this.head = 0;
      } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
        this.queue = this.queue.slice(this.head);
        this.sizes = this.sizes.slice(this.head);
        this.head = 0;
      }
      this.deliver(message, bytes);
    }
    if (this.ended && this.head >= this.queue.length) {
      const consumers = [...this.consumers];
      this.consumers.clear();
      for (const consumer of consumers) consumer.end();
    }
  }

  private everyoneHasRoom(): boolean {
    for (const consumer of this.consumers) if (consumer.room() < 1) return false;
    return true;
  }

  private deliver(message: T, bytes: number): void {
    this.inFlight++;
    if (this.consumers.size === 1) {
      // The usual case (one messages$ subscriber, or one sendAll): no list, one closure.
      for (const consumer of this.consumers) {
        let called = false;
        consumer.take(message, () => {
          if (called) return;
          called = true;
          this.processed(bytes);
        });
      }
      return;
    }
    const takers = [...this.consumers];
    let remaining = takers.length;
    const doneOnce = () => {
      let called = false;
      return () => {
        if (called) return;
        called = true;
        if (--remaining === 0) this.processed(bytes);
      };
    };
    for (const consumer of takers) {
      const done = doneOnce();
      // A consumer that left while an earlier one took the message is simply done.
      if (this.consumers.has(consumer)) consumer.take(message, done);
      else done();
    }
  }

  private processed(bytes: number): void {
    this.inFlight--;
    this.bytes -= bytes;
    if (this.holding && this.unprocessed <= this.limits.highWaterMark / 2 && this.bytes <= this.limits.highWaterBytes / 2) {
      this.holding = false;
      if (!this.ended) this.port.release();
    }
    this.schedulePump();
  }
}
