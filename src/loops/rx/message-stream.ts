/**
 * A connection's received messages as an Observable that also knows how to be pulled.
 *
 * Subscribing is the plain way: each message is processed when the observer's next()
 * returns. consume() is the way for asynchronous work: a message is processed when the
 * observable its handler returned completes, with at most `concurrency` handlers at
 * once; until then the next messages wait in the inbox, and past the high-water mark the
 * peer is held back. Operators such as concatMap or mergeMap would instead take every
 * message at once and queue it themselves, without bound — use consume() for that.
 *
 * Both complete when the connection has closed and every message has been processed;
 * how it closed is the connection's closed$.
 */
import { Observable, from, type ObservableInput, type Subscriber, type Subscription, type TeardownLogic } from "rxjs";
import { usage } from "../../core/errors.js";
import type { Consumer, Inbox } from "./inbox.js";

/** What a consumer that wants values sees: text decoded (its UTF-8 was validated on receipt), binary as it is. */
function valueOf<T>(data: Buffer, binary: boolean): T {
  return (binary ? data : data.toString("utf8")) as T;
}

export interface ConsumeOptions {
  /** Handlers running at once. Default 1 (in order, one at a time). */
  concurrency?: number;
}

export class MessageStream<T> extends Observable<T> {
  readonly #inbox: Inbox;

  constructor(inbox: Inbox) {
    // A shared function, not a closure per stream (RxJS calls it with the stream as `this`).
    super(MessageStream.#subscribe as (this: Observable<T>, subscriber: Subscriber<T>) => TeardownLogic);
    this.#inbox = inbox;
  }

  static #subscribe(this: MessageStream<unknown>, subscriber: Subscriber<unknown>): TeardownLogic {
    const inbox = this.#inbox;
    const consumer: Consumer = {
      room: () => Number.POSITIVE_INFINITY,
      take: (data, binary, done) => {
        subscriber.next(valueOf(data, binary));
        done();
      },
      end: () => subscriber.complete(),
    };
    inbox.attach(consumer);
    return () => inbox.detach(consumer);
  }

  /**
   * @internal The inbox behind this stream: sendAll() takes messages from it directly,
   * as bytes, without an observable per message.
   */
  get inbox(): Inbox {
    return this.#inbox;
  }

  /**
   * Process each message with `handler`; the result is what the handlers emit. A
   * handler that returns nothing has processed its message when it returns; one that
   * returns an ObservableInput (observable, promise, array...) when that completes. An
   * error from a handler ends the result with it (the connection stays open).
   */
  consume<R = never>(handler: (message: T) => ObservableInput<R> | void, options: ConsumeOptions = {}): Observable<R> {
    const concurrency = options.concurrency ?? 1;
    if (!(concurrency >= 1) || (!Number.isInteger(concurrency) && concurrency !== Number.POSITIVE_INFINITY)) {
      throw usage("INVALID_ARGUMENT", `consume: concurrency must be a whole number of at least 1 (or Infinity), got ${concurrency}`);
    }
    const inbox = this.#inbox;
    return new Observable<R>((subscriber) => {
      const running = new Map<number, { subscription: Subscription | null; done: () => void }>();
      let nextId = 0;
      let ended = false;
      const finishIfIdle = () => {
        if (ended && running.size === 0) subscriber.complete();
      };
      const consumer: Consumer = {
        room: () => concurrency - running.size,
        take: (data, binary, done) => {
          let result: ObservableInput<R> | void;
          try {
            result = handler(valueOf<T>(data, binary));
          } catch (error) {
            done();
            subscriber.error(error);
            return;
          }
          if (result === undefined || result === null) {
            done();
            return;
          }
          const id = nextId++;
          const entry: { subscription: Subscription | null; done: () => void } = { subscription: null, done };
          running.set(id, entry);
          const subscription = from(result).subscribe({
            next: (value) => subscriber.next(value),
            error: (error: unknown) => subscriber.error(error),
            complete: () => {
              running.delete(id);
              done();
              finishIfIdle();
            },
          });
          // A handler that completed synchronously is already gone from `running`.
          if (running.has(id)) entry.subscription = subscription;
        },
        end: () => {
          ended = true;
          finishIfIdle();
        },
      };
      inbox.attach(consumer);
      return () => {
        inbox.detach(consumer);
        for (const entry of running.values()) {
          entry.subscription?.unsubscribe();
          entry.done();
        }
        running.clear();
      };
    });
  }
}
