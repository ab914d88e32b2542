/**
 * Recording protocol callbacks: a protocol's callback pushes every event into an
 * EventLog, and the test reads what happened or waits for an event to come.
 */
import type { CallbackEvent } from "../../src/poll/events.js";

export type AnyEvent = CallbackEvent<unknown>;
type EventOf<R extends AnyEvent["reason"]> = Extract<AnyEvent, { reason: R }>;

/** Records every callback a protocol gets, and lets a test wait for one. */
export class EventLog {
  readonly events: AnyEvent[] = [];
  private waiters: Array<{ test: (e: AnyEvent) => boolean; resolve: (e: AnyEvent) => void }> = [];

  push(event: AnyEvent): void {
    this.events.push(event);
    this.waiters = this.waiters.filter((w) => {
      if (!w.test(event)) return true;
      w.resolve(event);
      return false;
    });
  }

  reasons(): string[] {
    return this.events.map((e) => e.reason);
  }

  of<R extends AnyEvent["reason"]>(reason: R): Array<EventOf<R>> {
    return this.events.filter((e) => e.reason === reason) as Array<EventOf<R>>;
  }

  /**
   * The first event with `reason` that `match` accepts, already recorded or still to
   * come. On timeout the error names `what` and summarises the events seen so far.
   */
  waitFor<R extends AnyEvent["reason"]>(
    reason: R,
    match: (e: EventOf<R>) => boolean = () => true,
    timeoutMs = 5_000,
    what: string = reason,
  ): Promise<EventOf<R>> {
    const test = (e: AnyEvent) => e.reason === reason && match(e as EventOf<R>);
    const seen = this.events.find(test);
    if (seen) return Promise.resolve(seen as EventOf<R>);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; saw: ${this.summary()}`));
      }, timeoutMs);
      const waiter = {
        test,
        resolve: (e: AnyEvent) => {
          clearTimeout(timer);
          resolve(e as EventOf<R>);
        },
      };
      this.waiters.push(waiter);
    });
  }

  /**
   * Reasons in order with runs collapsed ("CLIENT_RECEIVE x12"), then how a client
   * connection ended, if it did: short enough for a failure message.
   */
  summary(): string {
    const out: string[] = [];
    let last = "";
    let n = 0;
    for (const r of this.reasons()) {
      if (r === last) n++;
      else {
        if (last) out.push(n > 1 ? `${last} x${n}` : last);
        last = r;
        n = 1;
      }
    }
    if (last) out.push(n > 1 ? `${last} x${n}` : last);
    const closed = this.events.find((e) => e.reason === "CLIENT_CLOSED" || e.reason === "CLIENT_CONNECTION_ERROR");
    if (closed?.reason === "CLIENT_CONNECTION_ERROR") out.push(`(cause: ${closed.cause})`);
    if (closed?.reason === "CLIENT_CLOSED") out.push(`(code ${closed.code} ${JSON.stringify(closed.closeReason)} clean=${closed.clean})`);
    return out.join(", ") || "none";
  }
}
