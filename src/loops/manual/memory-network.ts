/**
 * A network of in-memory transports: contexts listen on (address, port) and client
 * connections dial them. Connects complete on the driver's next step, as a real
 * non-blocking connect completes on a later poll, so the "connecting" state is exercised.
 */
import type { Context } from "../../poll/context.js";
import { createMemoryPair, type MemoryPipeOptions, type MemoryTransport } from "../../poll/memory-transport.js";
import type { DialRequest, Transport } from "../../poll/transport.js";

export interface MemoryListenOptions {
  /** The vhost that serves these connections. Default: the context's first. */
  vhost?: string;
  /** Pipe capacity and read chunking of connections accepted here. */
  pipe?: MemoryPipeOptions;
  /** Vhosts sharing this listener: each HTTP request's Host header picks one (the first is the default). */
  vhosts?: readonly string[];
}

interface Listener {
  context: Context;
  options: MemoryListenOptions;
}

let nextClientPort = 50000;

export class MemoryNetwork {
  private readonly listeners = new Map<string, Listener>();
  private pendingAccepts: Array<{ client: MemoryTransport; server: MemoryTransport; listener: Listener }> = [];
  /** Transports of accepted connections, server side, newest last: for tests that poke at them. */
  readonly accepted: MemoryTransport[] = [];
  /** Transports of dialed connections, client side, newest last. */
  readonly dialed: MemoryTransport[] = [];

  /** Accept connections to `address:port` into `context`. */
  listen(address: string, port: number, context: Context, options: MemoryListenOptions = {}): void {
    const key = `${address}:${port}`;
    if (this.listeners.has(key)) throw new Error(`address in use: something already listens on ${key}`);
    this.listeners.set(key, { context, options });
  }

  unlisten(address: string, port: number): void {
    this.listeners.delete(`${address}:${port}`);
  }

  /** A Dialer for contexts on this network. */
  readonly dial = (request: DialRequest): Transport => {
    const listener = this.listeners.get(`${request.address}:${request.port}`);
    const { a: client, b: server } = createMemoryPair({
      ...listener?.options.pipe,
      connecting: true,
      addressA: { address: "127.0.0.1", port: nextClientPort++, family: "memory" },
      addressB: { address: request.address, port: request.port, family: "memory" },
    });
    this.dialed.push(client);
    if (!listener) {
      client.fail(new Error(`connection refused: nothing listens on ${request.address}:${request.port}`));
      return client;
    }
    this.pendingAccepts.push({ client, server, listener });
    return client;
  };

  /** Complete pending connects: the listener adopts the server end. Returns how many. */
  acceptPending(): number {
    const batch = this.pendingAccepts;
    this.pendingAccepts = [];
    for (const { client, server, listener } of batch) {
      if (client.isDestroyed) continue;
      this.accepted.push(server);
      const { vhost, vhosts } = listener.options;
      const adopted = listener.context.adopt(server, { ...(vhost !== undefined ? { vhost } : {}), ...(vhosts ? { vhosts } : {}) });
      if (adopted) client.completeConnect();
      else client.fail(new Error("connection reset: the server refused it"));
    }
    return batch.length;
  }
}
