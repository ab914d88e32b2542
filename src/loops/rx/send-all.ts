/**
 * sendAll(): messages from a source, written as the connection can take them. How a
 * source is read depends on whether it can be paused:
 *
 * - another connection's messages$ (a MessageStream) is pulled through consume(): its
 *   next message is taken only once the previous one was written, so a slow receiver
 *   here holds back the sender there (echo and proxies keep backpressure end to end);
 * - an Iterable is pulled inside WRITEABLE, one message per callback;
 * - an AsyncIterable is pulled from WRITEABLE too, its message written once it resolves
 *   (promises settle outside virtual time: use iterables or observables in such tests);
 * - anything else (Observable, Promise, ...) pushes: its messages go through the
 *   budget and the overflow policy (see sender.ts).
 *
 * The result is cold and emits nothing: it completes once the source has completed and
 * all of its messages were written, or when the connection closes (closed$ says how).
 */
import { Observable, from, isObservable, type ObservableInput, type Subscriber } from "rxjs";
import { usage } from "../../core/errors.js";
import { SendOverflowError } from "./errors.js";
import type { Consumer } from "./inbox.js";
import { MessageStream } from "./message-stream.js";
import type { OutgoingMessage, OverflowPolicy, PullFeed, Sender } from "./sender.js";

/** What sendAll() reads: any ObservableInput of messages; iterables and messages$ are pulled. */
export type SendSource = ObservableInput<OutgoingMessage>;

export interface SendPort {
  readonly sender: Sender;
  /** Run later, outside every context call. */
  defer(work: () => void): void;
  /** `listener` runs (from a notice) when the connection closes; returns its removal. */
  onClose(listener: () => void): () => void;
}

export function sendAll(port: SendPort, source: SendSource, policy: OverflowPolicy): Observable<never> {
  if (typeof source === "string" || ArrayBuffer.isView(source)) {
    throw usage("INVALID_ARGUMENT", "sendAll() takes a source of messages; to send one message, use send()");
  }
  return new Observable<never>((subscriber) => {
    if (!port.sender.isOpen) {
      subscriber.complete();
      return;
    }
    const offClose = port.onClose(() => subscriber.complete());
    const stop = feed(port, source, policy, subscriber);
    return () => {
      offClose();
      stop();
    };
  });
}

function feed(port: SendPort, source: SendSource, policy: OverflowPolicy, subscriber: Subscriber<never>): () => void {
  if (source instanceof MessageStream) return pullStream(port, source as MessageStream<OutgoingMessage>, subscriber);
  if (!isObservable(source)) {
    if (isIterable(source)) return pullIterable(port, source, subscriber);
    if (isAsyncIterable(source)) return pullAsyncIterable(port, source, subscriber);
  }
  return push(port, source, policy, subscriber);
}

function pullStream(port: SendPort, stream: MessageStream<OutgoingMessage>, subscriber: Subscriber<never>): () => void {
  const pull = new StreamPull(port, subscriber);
  const detach = stream.attachConsumer(pull);
  return () => pull.stop(detach);
}

/**
 * One message at a time, as consume() with concurrency 1 would take them, but as a
 * consumer of the inbox itself: no observable per message. A message is processed
 * (the stream may hand out the next) once it has been written.
 */
class StreamPull implements Consumer<OutgoingMessage> {
  /** Tells the stream that the message taken was processed; null when none is. */
  private processing: (() => void) | null = null;
  private removeFeed: (() => void) | null = null;
  private ended = false;
  private stopped = false;

  constructor(
    private readonly port: SendPort,
    private readonly subscriber: Subscriber<never>,
  ) {}

  room(): number {
    return this.processing === null ? 1 : 0;
  }

  take(message: OutgoingMessage, done: () => void): void {
    this.processing = done;
    this.removeFeed = writeOne(this.port, message, this);
  }

  /** The message taken was written (from a notice). */
  written(): void {
    if (this.stopped) return;
    const done = this.processing;
    this.removeFeed = null;
    this.processing = null;
    done?.();
    this.finishIfIdle();
  }

  end(): void {
    this.ended = true;
    this.finishIfIdle();
  }

  stop(detach: () => void): void {
    this.stopped = true;
    detach();
    this.removeFeed?.();
    this.removeFeed = null;
    const done = this.processing;
    this.processing = null;
    done?.();
  }

  private finishIfIdle(): void {
    if (this.ended && this.processing === null) this.subscriber.complete();
  }
}

/** Offers `message` to the sender; `to.written()` runs (from a notice) once it has been written. Returns its withdrawal. */
function writeOne(port: SendPort, message: OutgoingMessage, to: { written(): void }): () => void {
  const feed = new OneMessage(port, message, to);
  feed.remove = port.sender.addFeed(feed);
  return feed.remove;
}

/** A feed of one message (a class, not an object literal with a getter: one is made per message). */
class OneMessage implements PullFeed {
  private taken = false;
  remove: () => void = noop;

  constructor(
    private readonly port: SendPort,
    private readonly message: OutgoingMessage,
    private readonly to: { written(): void },
  ) {}

  get wantsWriteable(): boolean {
    return !this.taken;
  }

  pull(): OutgoingMessage | undefined {
    if (this.taken) return undefined;
    this.taken = true;
    this.port.defer(() => {
      this.remove();
      this.to.written();
    });
    return this.message;
  }
}

const noop = (): void => {};

function pullIterable(port: SendPort, iterable: Iterable<OutgoingMessage>, subscriber: Subscriber<never>): () => void {
  const iterator = iterable[Symbol.iterator]();
  let finished = false;
  const remove = port.sender.addFeed({
    get wantsWriteable() {
      return !finished;
    },
    pull() {
      let step: IteratorResult<OutgoingMessage>;
      try {
        step = iterator.next();
      } catch (error) {
        finished = true;
        port.defer(() => subscriber.error(error));
        return undefined;
      }
      if (step.done) {
        finished = true;
        port.defer(() => subscriber.complete());
        return undefined;
      }
      return step.value;
    },
  });
  return () => {
    remove();
    if (!finished) {
      finished = true;
      iterator.return?.();
    }
  };
}

function pullAsyncIterable(port: SendPort, iterable: AsyncIterable<OutgoingMessage>, subscriber: Subscriber<never>): () => void {
  const iterator = iterable[Symbol.asyncIterator]();
  let ready: { value: OutgoingMessage } | null = null;
  let pending = false;
  let finished = false;
  const remove = port.sender.addFeed({
    get wantsWriteable() {
      return !finished && (ready !== null || !pending);
    },
    pull() {
      if (ready) {
        const { value } = ready;
        ready = null;
        return value;
      }
      if (!pending && !finished) {
        pending = true;
        iterator.next().then(
          (step) => {
            pending = false;
            if (finished) return;
            if (step.done) {
              finished = true;
              subscriber.complete();
              return;
            }
            ready = { value: step.value };
            port.sender.request();
          },
          (error: unknown) => {
            pending = false;
            finished = true;
            subscriber.error(error);
          },
        );
      }
      return undefined;
    },
  });
  return () => {
    remove();
    if (!finished) {
      finished = true;
      iterator.return?.()?.catch(() => {});
    }
  };
}

function push(port: SendPort, source: SendSource, policy: OverflowPolicy, subscriber: Subscriber<never>): () => void {
  let outstanding = 0;
  let sourceDone = false;
  const finishIfDone = () => {
    if (sourceDone && outstanding === 0) subscriber.complete();
  };
  const onWritten = () => {
    outstanding--;
    finishIfDone();
  };
  const subscription = from(source).subscribe({
    next: (message) => {
      if (subscriber.closed) return; // a synchronous source goes on after we stopped it
      const sender = port.sender;
      const held = sender.held;
      switch (sender.offer(message, policy, onWritten)) {
        case "queued":
          outstanding++;
          return;
        case "dropped":
          return;
        case "not-open":
          subscriber.complete();
          return;
        case "refused":
        case "closing":
          subscriber.error(new SendOverflowError(held, sender.sizeOf(message), sender.limits.maxBufferedBytes));
          return;
      }
    },
    error: (error: unknown) => subscriber.error(error),
    complete: () => {
      sourceDone = true;
      finishIfDone();
    },
  });
  return () => subscription.unsubscribe();
}

function isIterable(value: unknown): value is Iterable<OutgoingMessage> {
  return value !== null && typeof value === "object" && typeof (value as Iterable<unknown>)[Symbol.iterator] === "function";
}

function isAsyncIterable(value: unknown): value is AsyncIterable<OutgoingMessage> {
  return value !== null && typeof value === "object" && typeof (value as AsyncIterable<unknown>)[Symbol.asyncIterator] === "function";
}
