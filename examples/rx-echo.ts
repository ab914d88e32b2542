/**
 * An echo server in RxJS terms: every connection's messages sent back to it. Because
 * sendAll() pulls from messages$, a client that sends faster than it reads is slowed by
 * TCP instead of filling the server's memory.
 *
 *   npm run build && node dist-examples/rx-echo.js      (then connect to ws://127.0.0.1:7683/)
 */
import { lastValueFrom, mergeMap } from "rxjs";
import { RxLoop, listenRx } from "wsloop/rx";
import { isMain } from "./is-main.js";

export interface RxEcho {
  port: number;
  stop(): Promise<void>;
}

export async function startRxEcho(port = 7683): Promise<RxEcho> {
  const loop = new RxLoop({ protocols: ["echo"] });
  const echoing = loop.connections$.pipe(mergeMap((connection) => connection.sendAll(connection.messages$))).subscribe();
  const listener = await listenRx(loop, { port });
  return {
    port: listener.port,
    async stop() {
      await listener.close();
      await lastValueFrom(loop.shutdown(1_000), { defaultValue: undefined });
      echoing.unsubscribe();
    },
  };
}

if (isMain(import.meta.url)) {
  const echo = await startRxEcho();
  console.log(`rx echo listening on ws://127.0.0.1:${echo.port}/`);
}
