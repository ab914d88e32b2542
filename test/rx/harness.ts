/**
 * Test fixtures for the rx loop: a server loop and a client loop on one scheduler,
 * joined by an in-memory network, and a TestScheduler whose assertions are vitest's.
 */
import type { SchedulerLike } from "rxjs";
import { TestScheduler } from "rxjs/testing";
import { expect } from "vitest";
import { MemoryNetwork } from "../../src/loops/manual/memory-network.js";
import { RxLoop, type RxLoopOptions } from "../../src/loops/rx/index.js";
import type { MemoryPipeOptions } from "../../src/poll/memory-transport.js";

export const URL = "ws://127.0.0.1:7681/";

export function testScheduler(): TestScheduler {
  return new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
}

export interface PairOptions {
  server?: Omit<RxLoopOptions, "scheduler" | "network">;
  client?: Omit<RxLoopOptions, "scheduler" | "network">;
  /** Capacity and read chunking of the connections' in-memory pipes. */
  pipe?: MemoryPipeOptions;
}

export interface Pair {
  network: MemoryNetwork;
  server: RxLoop;
  client: RxLoop;
  /** Destroy both loops (ends every timer, so a virtual-time flush can finish). */
  destroy(): void;
}

export function rxPair(scheduler: SchedulerLike, options: PairOptions = {}): Pair {
  const network = new MemoryNetwork();
  const quiet = { level: "err" as const };
  const server = new RxLoop({ logger: quiet, ...options.server, scheduler, network });
  const client = new RxLoop({ logger: quiet, ...options.client, scheduler, network });
  network.listen("127.0.0.1", 7681, server.context, options.pipe ? { pipe: options.pipe } : {});
  return {
    network,
    server,
    client,
    destroy() {
      client.destroy();
      server.destroy();
    },
  };
}
