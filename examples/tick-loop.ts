/**
 * A WebSocket server serviced from a fixed-rate game loop: 60 ticks a second, each tick
 * steps the poll driver over real sockets, advances the "game", and broadcasts its state
 * to every player with one requestWriteableAll(). The game owns the loop; wsloop only
 * runs when the tick says so.
 *
 *   npm run build && node dist-examples/tick-loop.js     (then connect to ws://127.0.0.1:7682/)
 */
import { createServer, type Server } from "node:net";
import { ManualDriver, defineProtocol, monotonicClock } from "wsloop";
import { SocketTransport } from "wsloop/node";
import { isMain } from "./is-main.js";

export interface TickServer {
  port: number;
  ticks(): number;
  stop(): Promise<void>;
}

export async function startTickServer(port = 7682, tickMs = 1000 / 60): Promise<TickServer> {
  const driver = new ManualDriver({ clock: monotonicClock });
  let tick = 0;

  const game = defineProtocol<{ name: string }>({
    name: "game",
    createUserData: () => ({ name: "player" }),
    callback(event) {
      if (event.reason === "RECEIVE") event.connection.userData.name = event.data.toString().slice(0, 32);
      // One state line per WRITEABLE; the tick asks for one per player per broadcast.
      if (event.reason === "SERVER_WRITEABLE") event.connection.write(JSON.stringify({ tick, you: event.connection.userData.name }));
    },
  });
  const context = driver.createContext({ vhosts: [{ protocols: [game] }] });

  const server: Server = createServer({ noDelay: true }, (socket) => context.adopt(new SocketTransport(socket)));
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  const address = server.address();
  const boundPort = typeof address === "object" && address ? address.port : port;

  const interval = setInterval(() => {
    tick++;
    driver.step(); // network in, timers, forced service
    if (tick % 6 === 0) context.requestWriteableAll("game"); // 10 state updates a second
    driver.step(); // network out
  }, tickMs);

  return {
    port: boundPort,
    ticks: () => tick,
    stop: async () => {
      clearInterval(interval);
      context.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

if (isMain(import.meta.url)) {
  const server = await startTickServer();
  console.log(`tick-loop server on ws://127.0.0.1:${server.port}/ (protocol "game")`);
}
