/**
 * sendAll(): messages from a source, written as the connection can take them. How a
 * source is read depends on whether it can be paused:
 *
 * - a connection's messages$ (a MessageStream, this one's or another's) is pulled from
 *   its inbox inside WRITEABLE: its next message is taken only once the previous one was
 *   written, so a slow receiver here holds back the sender there (echo and proxies keep
 *   backpressure end to end);
 * - an Iterable is pulled inside WRITEABLE, one message per callback;
 * - an AsyncIterable is pulled from WRITEABLE too, its message written once it resolves
 *   (promises settle outside virtual time: use iterables or observables in such tests);
 * - anything else (Observable, Promise, ...) pushes: its messages go through the
 *   budget and the overflow policy (see sender.ts).
 *
 * The result is cold and emits nothing: it completes once the source has completed and
 * all of its messages were written, or when the connection closes (closed$ says how).
 */
import {
  Observable,
  Subscription,
  config,
  from,
  isObservable,
  type ObservableInput,
  type Observer,
  type Subscriber,
  type TeardownLogic,
} from "rxjs";
import { usage } from "../../core/errors.js";
import { SendOverflowError } from "./errors.js";
import type { Consumer, Inbox } from "./inbox.js";
import { MessageStream } from "./message-stream.js";
import type { Defer } from "./notices.js";
import type { FeedSink, OutgoingMessage, OverflowPolicy, PullFeed, Sender } from "./sender.js";

/** What sendAll() reads: any ObservableInput of messages; iterables and messages$ are pulled. */
export type SendSource = ObservableInput<OutgoingMessage>;

/** Told (from a notice) that the connection has closed. */
export interface CloseListener {
  connectionClosed(): void;
}

/** The sending connection, as sendAll() sees it; defer() runs work later, outside every context call. */
export interface SendPort extends Defer {
  readonly sender: Sender;
  /** `listener` is told from a notice when the connection closes (at once, deferred, if it has). */
  addCloseListener(listener: CloseListener): void;
  removeCloseListener(listener: CloseListener): void;
}

export function sendAll(port: SendPort, source: SendSource, policy: OverflowPolicy): Observable<never> {
  if (typeof source === "string" || ArrayBuffer.isView(source)) {
    throw usage("INVALID_ARGUMENT", "sendAll() takes a source of messages; to send one message, use send()");
  }
  return new SendAll(port, source, policy);
}

/**
 * sendAll()'s observable: its subscribe function is shared, its arguments are fields (no
 * closure per call).
 *
 * A messages$ subscribed with a plain observer (what an application does: an echo, a
 * proxy) skips RxJS's subscriber: the StreamPull is the Subscription handed back and calls
 * the observer itself. RxJS's way costs a SafeSubscriber, its ConsumerObserver and a
 * finalizer array that its first push grows to 17 slots, ~290 B on every connection, held
 * for the connection's life; the pull alone is ~130 B. Anything that passes a Subscriber
 * (operators do) goes RxJS's way.
 */
class SendAll extends Observable<never> {
  readonly #port: SendPort;
  readonly #source: SendSource;
  readonly #policy: OverflowPolicy;

  constructor(port: SendPort, source: SendSource, policy: OverflowPolicy) {
    // RxJS calls it with this observable as `this`.
    super(SendAll.#subscribe as (this: Observable<never>, subscriber: Subscriber<never>) => TeardownLogic);
    this.#port = port;
    this.#source = source;
    this.#policy = policy;
  }

  override subscribe(
    observerOrNext?: Partial<Observer<never>> | ((value: never) => void) | null,
    error?: ((error: unknown) => void) | null,
    complete?: (() => void) | null,
  ): Subscription {
    const source = this.#source;
    if (
      source instanceof MessageStream &&
      error === undefined &&
      complete === undefined &&
      this.#port.sender.isOpen &&
      // Not a Subscriber, nor anything else that can be unsubscribed (RxJS treats those alike).
      typeof (observerOrNext as Partial<Subscription> | null | undefined)?.unsubscribe !== "function"
    ) {
      const observer = typeof observerOrNext === "object" ? observerOrNext : null;
      return new StreamPull(this.#port, source.inbox, observer).start();
    }
    if (error === undefined && complete === undefined) return super.subscribe(observerOrNext ?? undefined);
    return super.subscribe(observerOrNext as ((value: never) => void) | null | undefined, error, complete);
  }

  static #subscribe(this: SendAll, subscriber: Subscriber<never>): TeardownLogic {
    const port = this.#port;
    const source = this.#source;
    if (!port.sender.isOpen) {
      subscriber.complete();
      return;
    }
    if (source instanceof MessageStream) return new StreamPull(port, source.inbox, subscriber).start();
    const closed: CloseListener = { connectionClosed: () => subscriber.complete() };
    port.addCloseListener(closed);
    const stop = feed(port, source, this.#policy, subscriber);
    return () => {
      port.removeCloseListener(closed);
      stop();
    };
  }
}

function feed(port: SendPort, source: SendSource, policy: OverflowPolicy, subscriber: Subscriber<never>): () => void {
  if (!isObservable(source)) {
    if (isIterable(source)) return pullIterable(port, source, subscriber);
    if (isAsyncIterable(source)) return pullAsyncIterable(port, source, subscriber);
  }
  return push(port, source, policy, subscriber);
}

function kindOf(message: OutgoingMessage): "text" | "binary" {
  return typeof message === "string" ? "text" : "binary";
}

/**
 * A messages$ sent as it is received, one message at a time: the next is taken only once
 * the previous one was written, so the receiving connection is held back by the sending
 * one (echo, proxies). While it is the stream's only consumer it pulls from the inbox
 * inside WRITEABLE, as bytes (text stays UTF-8 from the wire to the wire); with other
 * consumers present it takes its share of the broadcast like any consumer. Either way no
 * object, closure or notice is spent per message. It is its own close listener and
 * Subscription, and tells either an RxJS subscriber or, subscribed directly (see
 * SendAll.subscribe), the application's observer.
 */
class StreamPull extends Subscription implements Consumer, PullFeed, CloseListener {
  /** A message handed over by a broadcast, waiting for WRITEABLE, and its done(). */
  private current: Buffer | null = null;
  private currentBinary = false;
  private done: (() => void) | null = null;
  private ended = false;
  private stopped = false;

  constructor(
    private readonly port: SendPort,
    private readonly inbox: Inbox,
    /**
     * Told of the end: RxJS's subscriber, or the application's observer when subscribed
     * directly (null: nobody listens).
     */
    private readonly observer: Partial<Observer<never>> | null,
  ) {
    super();
  }

  start(): this {
    this.port.addCloseListener(this);
    this.inbox.attach(this);
    this.port.sender.addFeed(this);
    return this;
  }

  // ---- Consumer (of the inbox) ----

  room(): number {
    return this.current === null ? 1 : 0;
  }

  take(data: Buffer, binary: boolean, done: () => void): void {
    this.current = data;
    this.currentBinary = binary;
    this.done = done;
    this.port.sender.wake();
  }

  waiting(): void {
    this.port.sender.wake();
  }

  end(): void {
    this.ended = true;
    if (this.current === null) this.finish();
  }

  // ---- PullFeed (of the sender) ----

  get wantsWriteable(): boolean {
    return !this.stopped && (this.current !== null || this.inbox.oldestFor(this) !== null);
  }

  pull(sink: FeedSink): boolean {
    if (this.stopped) return false;
    const current = this.current;
    if (current !== null) {
      const done = this.done!;
      this.current = null;
      this.done = null;
      sink.put(current, this.currentBinary ? "binary" : "text");
      done();
      if (this.ended) this.port.defer(StreamPull.#finish, this);
      return true;
    }
    const inbox = this.inbox;
    const data = inbox.oldestFor(this);
    if (data === null) return false;
    sink.put(data, inbox.oldestIsBinary ? "binary" : "text");
    inbox.discardOldest();
    return true;
  }

  // ---- CloseListener, Subscription ----

  connectionClosed(): void {
    this.finish();
  }

  override unsubscribe(): void {
    this.stop();
    super.unsubscribe();
  }

  private stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.port.removeCloseListener(this);
    this.inbox.detach(this);
    this.port.sender.removeFeed(this);
    const done = this.done;
    this.current = null;
    this.done = null;
    done?.();
  }

  /**
   * Completes as a SafeSubscriber would: stops, tells the observer (an RxJS subscriber
   * then runs its finalizers, this among them), then closes this Subscription.
   */
  private finish(): void {
    if (this.stopped) return;
    this.stop();
    const complete = this.observer?.complete;
    if (complete !== undefined) {
      try {
        complete.call(this.observer);
      } catch (error) {
        reportLater(error);
      }
    }
    super.unsubscribe();
  }

  static #finish(pull: StreamPull): void {
    pull.finish();
  }
}

/** An observer's exception, reported as RxJS reports one: to config.onUnhandledError, or thrown on a later turn. */
function reportLater(error: unknown): void {
  setTimeout(() => {
    const report = config.onUnhandledError;
    if (report) report(error);
    else throw error;
  });
}

function pullIterable(port: SendPort, iterable: Iterable<OutgoingMessage>, subscriber: Subscriber<never>): () => void {
  const iterator = iterable[Symbol.iterator]();
  let finished = false;
  const feed: PullFeed = {
    get wantsWriteable() {
      return !finished;
    },
    pull(sink) {
      let step: IteratorResult<OutgoingMessage>;
      try {
        step = iterator.next();
      } catch (error) {
        finished = true;
        port.defer(() => subscriber.error(error));
        return false;
      }
      if (step.done) {
        finished = true;
        port.defer(() => subscriber.complete());
        return false;
      }
      sink.put(step.value, kindOf(step.value));
      return true;
    },
  };
  port.sender.addFeed(feed);
  return () => {
    port.sender.removeFeed(feed);
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
  const feed: PullFeed = {
    get wantsWriteable() {
      return !finished && (ready !== null || !pending);
    },
    pull(sink) {
      if (ready) {
        const { value } = ready;
        ready = null;
        sink.put(value, kindOf(value));
        return true;
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
      return false;
    },
  };
  port.sender.addFeed(feed);
  return () => {
    port.sender.removeFeed(feed);
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
