/**
 * Notices: the user-facing work that the rx loop records inside context calls and runs
 * after the service, in the order it was recorded (see scheduled-bridge.ts).
 *
 * A notice is a function and its argument. Most are "this connection has something to
 * say" — a function shared by every connection, called with the one it is about — so
 * they are queued as the pair, in two parallel arrays, and recording one allocates
 * nothing; a plain closure is a notice too (its argument is undefined).
 */

/** Somewhere to defer work to: it runs later, outside every context call. */
export interface Defer {
  defer(work: () => void): void;
  defer<T>(work: (arg: T) => void, arg: T): void;
}

type Work = (arg: unknown) => void;

export class NoticeQueue {
  private works: Work[] = [];
  private args: unknown[] = [];
  /** The previous batch's arrays, emptied and kept for the next swap. */
  private spareWorks: Work[] = [];
  private spareArgs: unknown[] = [];

  get isEmpty(): boolean {
    return this.works.length === 0;
  }

  push(work: Work, arg: unknown): void {
    this.works.push(work);
    this.args.push(arg);
  }

  /**
   * Run every notice, those recorded meanwhile included, in order. One that throws is
   * given to `onError` and the others still run.
   */
  run(onError: (error: unknown) => void): void {
    while (this.works.length > 0) {
      const works = this.works;
      const args = this.args;
      this.works = this.spareWorks;
      this.args = this.spareArgs;
      for (let i = 0; i < works.length; i++) {
        try {
          works[i]!(args[i]);
        } catch (error) {
          onError(error);
        }
      }
      works.length = 0;
      args.length = 0;
      this.spareWorks = works;
      this.spareArgs = args;
    }
  }
}
