/**
 * `--loop manual` on real sockets: the manual poll driver, stepped on demand. Readiness
 * from any socket schedules one run of the driver on the next turn of Node's loop, and
 * one timer waits for the context's next deadline. This is what an embedder with a loop
 * of its own does; here Node's loop merely plays that part.
 */
import { createServer, type Server } from "node:net";
import { ManualDriver } from "../loops/manual/manual-driver.js";
import { SocketTransport } from "../loops/node/socket-transport.js";
import { monotonicClock } from "../poll/clock.js";
import { DeadlineTimer } from "../poll/deadline-timer.js";
import type { Context, ContextOptions } from "../poll/context.js";

export interface ManualServer {
  context: Context;
  port: number;
  host: string;
  close(graceMs?: number): Promise<void>;
}

export async function startManualServer(options: Omit<ContextOptions, "hooks" | "clock">, port: number, host: string): Promise<ManualServer> {
  let scheduled = false;
  const pump = () => {
    scheduled = false;
    driver.run();
    timer.rearm(context);
  };
  // One timer at the context's next deadline, re-armed only when that comes earlier.
  const timer = new DeadlineTimer(
    (work, ms) => {
      const handle = setTimeout(work, ms);
      handle.unref();
      return () => clearTimeout(handle);
    },
    () => monotonicClock.now(),
    pump,
  );
  const driver = new ManualDriver({
    clock: monotonicClock,
    onReady: () => {
      if (scheduled) return;
      scheduled = true;
      setImmediate(pump);
    },
  });
  const context = driver.createContext(options);
  const server: Server = createServer({ noDelay: true }, (socket) => {
    // Serviced on the next turn, with every other connection accepted in this poll.
    context.adopt(new SocketTransport(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  pump();
  return {
    context,
    port: typeof address === "object" && address ? address.port : port,
    host,
    async close(graceMs = 3_000) {
      server.close();
      for (const connection of [...context.connections]) {
        if (connection.state === "established") connection.close(1001, "server shutting down");
      }
      const deadline = Date.now() + graceMs;
      while (context.connectionCount > 0 && Date.now() < deadline) {
        driver.run();
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      timer.clear();
      context.destroy();
    },
  };
}
