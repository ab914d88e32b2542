/**
 * A chat room built from operators. What each connection says goes into one Subject;
 * each connection hears everyone else through filter and map. Two kinds of backpressure
 * are at work:
 *
 * - speaking is rate-limited per connection with consume(): each message holds its
 *   speaker's consumer for 1/rate of a second, so a client that talks too fast is slowed
 *   down by TCP (its messages wait on its side), not cut off;
 * - hearing uses the "drop" policy: a listener too slow to keep up misses messages
 *   (counted in `dropped`) rather than holding up the room or growing the server.
 *
 * chatRoom() works on any RxLoop, so the test drives it in virtual time.
 *
 *   npm run build && node dist-examples/rx-chat.js      (then connect to ws://127.0.0.1:7684/?name=ada)
 */
import { Subject, filter, ignoreElements, lastValueFrom, map, merge, mergeMap, tap, timer, type Subscription } from "rxjs";
import { RxLoop, listenRx, type RxConnection } from "wsloop/rx";
import { isMain } from "./is-main.js";

export interface ChatOptions {
  /** Messages a second each connection may say. Default 5. */
  messagesPerSecond?: number;
}

interface Said {
  from: RxConnection | null; // null: the room itself
  line: string;
}

/** Wire `loop`'s connections into one room. Unsubscribe to dissolve it. */
export function chatRoom(loop: RxLoop, options: ChatOptions = {}): Subscription {
  const pause = 1000 / (options.messagesPerSecond ?? 5);
  const room$ = new Subject<Said>();
  return loop.connections$
    .pipe(
      mergeMap((connection) => {
        const name = nameOf(connection);
        room$.next({ from: null, line: `* ${name} joined` });
        const hear = connection.sendAll(
          room$.pipe(
            filter((said) => said.from !== connection),
            map((said) => said.line),
          ),
          { overflow: "drop" },
        );
        const speak = connection.consume((message) => {
          if (typeof message === "string") room$.next({ from: connection, line: `${name}: ${message}` });
          return timer(pause, loop.scheduler); // the rate limit: the next message waits this long
        });
        const leave = connection.closed$.pipe(tap(() => room$.next({ from: null, line: `* ${name} left` })));
        return merge(hear, speak, leave).pipe(ignoreElements());
      }),
    )
    .subscribe();
}

/** ?name=... in the request path, else a name from the connection's id. */
function nameOf(connection: RxConnection): string {
  const query = connection.path.split("?")[1] ?? "";
  const name = new URLSearchParams(query).get("name")?.slice(0, 32);
  return name || `guest${connection.id}`;
}

export interface RxChat {
  port: number;
  stop(): Promise<void>;
}

export async function startRxChat(port = 7684, options: ChatOptions = {}): Promise<RxChat> {
  const loop = new RxLoop({ protocols: ["chat"] });
  const room = chatRoom(loop, options);
  const listener = await listenRx(loop, { port });
  return {
    port: listener.port,
    async stop() {
      await listener.close();
      await lastValueFrom(loop.shutdown(1_000), { defaultValue: undefined });
      room.unsubscribe();
    },
  };
}

if (isMain(import.meta.url)) {
  const chat = await startRxChat();
  console.log(`rx chat listening on ws://127.0.0.1:${chat.port}/?name=you`);
}
