/**
 * Every timeout of every connection lives in one binary heap, so the loop needs one host
 * timer (re-armed to the earliest deadline) however many connections there are.
 *
 * Entries are cancelled lazily: a cancelled or re-armed timer stays in the heap, marked
 * stale, and is dropped when it reaches the top. Re-arming is therefore O(log n) with no
 * search, which matters for the validity timer that moves on every received frame.
 */
export class Timer {
  /** Deadline in clock milliseconds; NaN when not armed. */
  deadline = Number.NaN;
  /** Bumped on every arm/cancel; heap entries carrying an older value are stale. */
  generation = 0;
  constructor(readonly fire: () => void) {}
  get armed(): boolean {
    return !Number.isNaN(this.deadline);
  }
}

interface Entry {
  deadline: number;
  seq: number;
  generation: number;
  timer: Timer;
}

export class TimerQueue {
  private heap: Entry[] = [];
  private seq = 0;

  /** Called when an arm() makes the earliest deadline earlier than it was. */
  onEarlierDeadline: (() => void) | null = null;

  arm(timer: Timer, deadline: number): void {
    const earlier = this.onEarlierDeadline !== null && deadline < this.nextDeadline();
    if (timer.armed) this.stale++;
    timer.deadline = deadline;
    timer.generation++;
    this.push({ deadline, seq: this.seq++, generation: timer.generation, timer });
    if (earlier) this.onEarlierDeadline!();
  }

  /** Disarm `timer` (null, or a timer that is not armed: nothing to do). */
  cancel(timer: Timer | null): void {
    if (timer === null || !timer.armed) return;
    this.stale++;
    timer.deadline = Number.NaN;
    timer.generation++;
    // Connections that cancel their handshake timer and then sit idle would otherwise
    // leave one dead entry each (and the timer it holds) until the next arm().
    this.compactIfMostlyStale();
  }

  /** The earliest live deadline, or Infinity. */
  nextDeadline(): number {
    this.dropStale();
    return this.heap.length ? this.heap[0]!.deadline : Number.POSITIVE_INFINITY;
  }

  /** Fire every timer due at `now`, in deadline order. Timers armed while firing wait for the next call if not yet due. */
  runExpired(now: number): number {
    let fired = 0;
    for (;;) {
      this.dropStale();
      const top = this.heap[0];
      if (!top || top.deadline > now) return fired;
      this.pop();
      // Firing consumes the entry: the timer is disarmed without leaving a stale one.
      top.timer.deadline = Number.NaN;
      top.timer.generation++;
      fired++;
      top.timer.fire();
    }
  }

  /** Live and stale entries; a bound check for tests. */
  get size(): number {
    return this.heap.length;
  }

  private dropStale(): void {
    while (this.heap.length) {
      const top = this.heap[0]!;
      if (top.generation === top.timer.generation) return;
      this.pop();
      this.stale--;
    }
  }

  private push(entry: Entry): void {
    const heap = this.heap;
    heap.push(entry);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(entry, heap[parent]!)) break;
      heap[i] = heap[parent]!;
      i = parent;
    }
    heap[i] = entry;
    // Re-arming leaves stale entries behind; compact when they outnumber the live ones,
    // so a timer that is moved on every frame cannot grow the heap without bound.
    this.compactIfMostlyStale();
  }

  private compactIfMostlyStale(): void {
    if (this.stale > 32 && this.stale > this.heap.length - this.stale) this.compact();
  }

  /** Entries in the heap that no longer count (cancelled or re-armed). */
  private stale = 0;

  private compact(): void {
    const live = this.heap.filter((e) => e.generation === e.timer.generation);
    live.sort((a, b) => (before(a, b) ? -1 : 1));
    this.heap = live; // a sorted array is a valid heap
    this.stale = 0;
  }

  private pop(): void {
    const heap = this.heap;
    const last = heap.pop()!;
    if (heap.length === 0) return;
    let i = 0;
    const n = heap.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && before(heap[r]!, heap[l]!) ? r : l;
      if (!before(heap[c]!, last)) break;
      heap[i] = heap[c]!;
      i = c;
    }
    heap[i] = last;
  }
}

function before(a: Entry, b: Entry): boolean {
  return a.deadline < b.deadline || (a.deadline === b.deadline && a.seq < b.seq);
}
