/**
 * Time is an input. The context asks its clock for "now" in milliseconds and never
 * sleeps; a loop decides how long to wait from adjustTimeout(). Node's loop passes a
 * monotonic clock, the manual driver and tests pass a virtual one.
 */
export interface Clock {
  /** Milliseconds on a monotonic scale; only differences matter. */
  now(): number;
}

/** The process's monotonic clock. */
export const monotonicClock: Clock = { now: () => performance.now() };

/** A clock that moves only when told: for the manual driver and deterministic tests. */
export class VirtualClock implements Clock {
  constructor(private time = 0) {}
  now(): number {
    return this.time;
  }
  /** Move time forward by `ms` (never backward). */
  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`a virtual clock only moves forward; got ${ms} ms`);
    this.time += ms;
  }
  /** Set the time to `ms`, which must not be in the past. */
  set(ms: number): void {
    if (ms < this.time) throw new RangeError(`a virtual clock only moves forward; ${ms} < ${this.time}`);
    this.time = ms;
  }
}
