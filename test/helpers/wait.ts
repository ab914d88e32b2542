/**
 * Waiting in tests without fixed sleeps: poll a condition, wait for a value to stop
 * moving, or bound a promise. Each gives up after a timeout and says what it waited for,
 * so a hung test fails with a reason instead of at vitest's own limit.
 */

/**
 * Resolve with true when `condition()` holds, checked every 5 ms, or with false after
 * `timeoutMs`: for waits whose end is not itself the assertion (a transcript is compared
 * afterwards, say).
 */
export function waitFor(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (condition()) return resolve(true);
    const started = Date.now();
    const timer = setInterval(() => {
      if (condition()) {
        clearInterval(timer);
        resolve(true);
      } else if (Date.now() - started > timeoutMs) {
        clearInterval(timer);
        resolve(false);
      }
    }, 5);
  });
}

/**
 * Resolve when `condition()` holds, checked every 5 ms; reject naming `what` after
 * `timeoutMs`. `what` may be a function, read only on failure, when the message should
 * carry state (a peer's log, say) as it was at the timeout.
 */
export async function waitUntil(condition: () => boolean, what: string | (() => string), timeoutMs = 5_000): Promise<void> {
  if (!(await waitFor(condition, timeoutMs))) {
    throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === "string" ? what : what()}`);
  }
}

export interface SettleOptions {
  /** Consecutive equal samples that count as settled. */
  checks?: number;
  /** Time between samples. */
  everyMs?: number;
  /** Give up (reject) after this long. */
  timeoutMs?: number;
}

/**
 * Resolve with the value `sample()` settles at: unchanged across `checks` consecutive
 * looks `everyMs` apart. For "the pipe has filled and nothing moves any more", where
 * there is no event to wait for; the test then asserts on the value.
 */
export async function settled<T>(sample: () => T, what: string, options: SettleOptions = {}): Promise<T> {
  const { checks = 5, everyMs = 20, timeoutMs = 10_000 } = options;
  let last = sample();
  let same = 0;
  const started = Date.now();
  while (same < checks) {
    await new Promise((resolve) => setTimeout(resolve, everyMs));
    const now = sample();
    if (now === last) same++;
    else {
      same = 0;
      last = now;
    }
    if (Date.now() - started > timeoutMs) throw new Error(`${what} did not settle within ${timeoutMs} ms`);
  }
  return last;
}

/** `promise`, or a rejection naming `what` after `ms`. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
