/**
 * An echo server on the rx loop, for `wsloop echo --loop rx`: every message back to its
 * sender as what it was (text or binary). Echoing through sendAll(messages$) keeps
 * backpressure end to end: the next message is taken only when the previous one was
 * written, so a client that does not read its echoes is held back by TCP. Messages go
 * back as the bytes that came (text is not decoded into a string and encoded again), and
 * each is taken inside the WRITEABLE that writes it: no notice or object per message.
 */
import { permessageDeflate } from "../../core/deflate/negotiator.js";
import { lastValueFrom, type Observer, type SchedulerLike, type Subscription } from "rxjs";
import type { LogLevel } from "../../poll/logger.js";
import { listenRx } from "./listen.js";
import type { RxConnection } from "./rx-connection.js";
import { RxLoop } from "./rx-loop.js";

export interface RxEchoServerOptions {
  /** Default 0 (any free port). */
  port?: number;
  /** Default "127.0.0.1". */
  host?: string;
  /** Largest message echoed; over it the connection closes with 1009. Default 16 MiB. */
  maxMessageSize?: number;
  /** Negotiate permessage-deflate. Default off. */
  deflate?: boolean;
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** Default immediateScheduler (Node's check phase). */
  scheduler?: SchedulerLike;
  logLevel?: LogLevel;
}

export interface RxEchoServer {
  readonly loop: RxLoop;
  readonly host: string;
  readonly port: number;
  readonly url: string;
  /** Stop listening, close every connection with 1001, wait up to `graceMs`, destroy the loop. */
  close(graceMs?: number): Promise<void>;
}

export async function startRxEchoServer(options: RxEchoServerOptions = {}): Promise<RxEchoServer> {
  const maxMessageSize = options.maxMessageSize ?? 16 * 1024 * 1024;
  const loop = new RxLoop({
    ...(options.scheduler ? { scheduler: options.scheduler } : {}),
    // An echo reads no header: it keeps none past the handshake.
    protocols: [{ name: "echo", maxMessageSize, keepHeaders: false, ...(options.deflate ? { extensions: [permessageDeflate()] } : {}) }],
    // A whole message may wait while the previous one is written.
    connection: { highWaterBytes: Math.max(1024 * 1024, maxMessageSize) },
    logger: { level: options.logLevel ?? "notice" },
  });
  const echoing: Subscription = loop.connections$.subscribe(echo);
  let listener;
  try {
    listener = await listenRx(loop, {
      ...(options.port !== undefined ? { port: options.port } : {}),
      ...(options.host !== undefined ? { host: options.host } : {}),
      ...(options.tls ? { tls: options.tls } : {}),
    });
  } catch (error) {
    echoing.unsubscribe();
    loop.destroy();
    throw error;
  }
  const bound = listener;
  const hostPart = bound.host.includes(":") ? `[${bound.host}]` : bound.host;
  return {
    loop,
    host: bound.host,
    port: bound.port,
    url: `${bound.tls ? "wss" : "ws"}://${hostPart}:${bound.port}/`,
    async close(graceMs = 3_000) {
      await bound.close();
      await lastValueFrom(loop.shutdown(graceMs), { defaultValue: undefined });
      echoing.unsubscribe();
    },
  };
}

/**
 * One connection's echo. Subscribed directly rather than through mergeMap: mergeMap's
 * inner subscriber, its four closures and their contexts were ~0.45 KB per connection,
 * to collect results an echo does not have. An echo ends by itself when its connection
 * closes (see sendAll), shutdown included, so nothing needs to hold the subscriptions.
 */
function echo(connection: RxConnection): void {
  connection.sendAll(connection.messages$).subscribe(unattended);
}

/** Shared by every echo: a sendAll emits nothing, and an error is RxJS's to report. */
const unattended: Partial<Observer<never>> = {};
