/**
 * Raw TCP clients on 127.0.0.1: for peers that misbehave on purpose or look at bytes a
 * WebSocket library would hide. What to write on them is in ./wire.ts.
 */
import { once } from "node:events";
import { createServer, connect, type Socket } from "node:net";

export const LOOPBACK = "127.0.0.1";

export interface RawConnectOptions {
  /** Where to connect; 127.0.0.1 unless given. */
  host?: string;
  /** Turn Nagle off, so that small writes leave at once (slow-drip attacks rely on it). */
  noDelay?: boolean;
  /**
   * Ignore socket errors once connected. An attacker expects the server to reset it;
   * an unhandled "error" would fail the run instead of the test that cares.
   */
  ignoreErrors?: boolean;
}

/** A connected socket; rejects if the connection fails. */
export async function rawConnect(port: number, options: RawConnectOptions = {}): Promise<Socket> {
  const socket = connect({ port, host: options.host ?? LOOPBACK });
  if (options.noDelay) socket.setNoDelay(true);
  await once(socket, "connect");
  if (options.ignoreErrors) socket.on("error", () => {});
  return socket;
}

/** A port nothing listens on: bound once, then released. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Reads from a raw socket until `text` has arrived; resolves with everything read. */
export function readUntil(socket: Socket, text: string, timeoutMs = 5_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = "";
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out waiting for ${JSON.stringify(text)}; got ${JSON.stringify(got)}`));
    }, timeoutMs);
    const onData = (chunk: Buffer) => {
      got += chunk.toString("latin1");
      if (got.includes(text)) {
        cleanup();
        resolve(got);
      }
    };
    const onEnd = () => {
      cleanup();
      if (got.includes(text)) resolve(got);
      else reject(new Error(`connection ended before ${JSON.stringify(text)}; got ${JSON.stringify(got)}`));
    };
    const cleanup = () => {
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("end", onEnd);
      socket.off("close", onEnd);
    };
    socket.on("data", onData);
    socket.on("end", onEnd);
    socket.on("close", onEnd);
  });
}

/** Everything a raw socket receives until the peer closes it. */
export function readAll(socket: Socket, timeoutMs = 5_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = "";
    const timer = setTimeout(() => reject(new Error(`timed out waiting for the end; got ${JSON.stringify(got)}`)), timeoutMs);
    socket.on("data", (chunk: Buffer) => (got += chunk.toString("latin1")));
    socket.once("close", () => {
      clearTimeout(timer);
      resolve(got);
    });
  });
}
