/**
 * A client that stays connected: connect() is cold, so reconnecting is RxJS's retry and
 * repeat. Failures (refused, lost, timed out) are retried with exponential backoff that
 * starts again after each successful open; a clean close by the server is followed by a
 * short pause and a reconnect. Every reconnect emits a new, open connection.
 *
 *   npm run build && node dist-examples/rx-reconnect.js ws://127.0.0.1:7683/
 */
import { repeat, retry, switchMap, timer, type Observable } from "rxjs";
import { RxLoop, type RxConnection } from "wsloop/rx";
import { isMain } from "./is-main.js";

export interface BackoffOptions {
  /** First retry delay; doubles on each failure in a row. Default 100 ms. */
  initialDelayMs?: number;
  /** Longest delay. Default 10 s. */
  maxDelayMs?: number;
  /** Pause after a clean close before connecting again. Default: initialDelayMs. */
  pauseAfterCloseMs?: number;
}

/** Connections to `url`, one after another, for as long as it is subscribed. */
export function reconnecting(loop: RxLoop, url: string, options: BackoffOptions = {}): Observable<RxConnection> {
  const initial = options.initialDelayMs ?? 100;
  const max = options.maxDelayMs ?? 10_000;
  return loop.connect(url).pipe(
    retry({
      delay: (_error, attempt) => timer(Math.min(max, initial * 2 ** (attempt - 1)), loop.scheduler),
      resetOnSuccess: true, // an open connection starts the backoff over
    }),
    repeat({ delay: () => timer(options.pauseAfterCloseMs ?? initial, loop.scheduler) }),
  );
}

if (isMain(import.meta.url)) {
  const url = process.argv[2] ?? "ws://127.0.0.1:7683/";
  const loop = new RxLoop({ logger: { level: "warn" } });
  reconnecting(loop, url)
    .pipe(
      switchMap((connection) => {
        console.log(`connected to ${url} (connection ${connection.id})`);
        connection.send(`hello at ${new Date().toISOString()}`);
        return connection.messages$;
      }),
    )
    .subscribe((message) => console.log("received:", message));
}
