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
import { Observable, from, type ObservableInput, type Subscription } from "rxjs";
import { usage } from "../../core/errors.js";
import type { Consumer, Inbox } from "./inbox.js";

export interface ConsumeOptions {
  /** Handlers running at once. Default 1 (in order, one at a time). */
  concurrency?: number;
}

export class MessageStream<T> extends Observable<T> {
  readonly #inbox: Inbox<T>;

  constructor(inbox: Inbox<T>) {
    super((subscriber) =>
      inbox.attach({
        room: () => Number.POSITIVE_INFINITY,
        take: (message, done) => {
          subscriber.next(message);
          done();
        },
        end: () => subscriber.complete(),
      }),
    );
    this.#inbox = inbox;
  }

  /**
   * @internal Take messages as a consumer of the inbox directly (sendAll pulls a stream
   * this way: without an observable per message).
   */
  attachConsumer(consumer: Consumer<T>): () => void {
    return this.#inbox.attach(consumer);
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
      const detach = inbox.attach({
        room: () => concurrency - running.size,
        take: (message, done) => {
          let result: ObservableInput<R> | void;
          try {
            result = handler(message);
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
      });
      return () => {
        detach();
        for (const entry of running.values()) {
          entry.subscription?.unsubscribe();
          entry.done();
        }
        running.clear();
      };
    });
  }
}
