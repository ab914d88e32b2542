/**
 * A client connection as a cold observable. Subscribing connects; the connection is
 * emitted once the handshake succeeds (the "open" notification); the observable
 * completes when the connection closes cleanly and fails with a typed error otherwise —
 * so `retry` reconnects after failures and `repeat` after clean closes, each time with a
 * new connection and a new open notification. Unsubscribing closes with 1000.
 *
 * A loop that was destroyed makes no connections: subscribing then completes at once,
 * and connections the destroy dropped complete too — not an error, or a `retry` would
 * go on reconnecting to a loop that is gone.
 */
import { Observable } from "rxjs";
import type { ConnectInfo } from "../../poll/connect-info.js";
import type { Connection } from "../../poll/connection.js";
import type { Context } from "../../poll/context.js";
import { connectFailure, lossFailure } from "./errors.js";
import type { ConnectionLink } from "./link.js";
import { defaultConnectionOptions, resolveConnectionOptions, type RxConnectionOptions } from "./options.js";
import type { RxConnection } from "./rx-connection.js";

export function connectObservable(context: Context, target: string | ConnectInfo, options: RxConnectionOptions = {}): Observable<RxConnection> {
  const info: ConnectInfo = typeof target === "string" ? { url: target } : target;
  resolveConnectionOptions(defaultConnectionOptions, options); // misuse throws here, at the call
  return new Observable<RxConnection>((subscriber) => {
    if (context.isDestroyed) {
      subscriber.complete();
      return;
    }
    let connection: Connection<ConnectionLink>;
    try {
      connection = context.connect(info) as Connection<ConnectionLink>;
    } catch (error) {
      subscriber.error(error);
      return;
    }
    const link = connection.userData;
    let finished = false;
    link.configure(options);
    link.client = {
      open: (rx) => subscriber.next(rx),
      closed: (closed) => {
        finished = true;
        if (closed.clean || context.isDestroyed) subscriber.complete();
        else subscriber.error(lossFailure(closed.code, closed.reason));
      },
      failed: (error) => {
        finished = true;
        if (context.isDestroyed) subscriber.complete();
        else subscriber.error(connectFailure(error));
      },
    };
    return () => {
      link.client = null;
      if (!finished && connection.state !== "closed") connection.close(1000, "");
    };
  });
}
