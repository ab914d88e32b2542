/**
 * A Node socket (net.Socket or tls.TLSSocket) seen as a readiness-based transport.
 *
 * Node pushes data at us; the context pulls. Received chunks wait in a short queue
 * (never copied or joined) until the context reads them; when the context stops asking
 * for POLLIN the loop pauses the socket, so libuv stops reading and TCP pushes back.
 * Writes go straight to the socket, which the loop corks around a service pass so that
 * every frame made ready in one pass leaves in one vectored write.
 */
import type { Socket } from "node:net";
import { POLLERR, POLLHUP, POLLIN, POLLOUT } from "../../poll/pollfd.js";
import { END_OF_STREAM, type EndOfStream, type PeerAddress, type Transport } from "../../poll/transport.js";

export interface SocketTransportOptions {
  /** The socket is still connecting (client); POLLOUT is reported once it is connected. */
  connecting?: boolean;
  /** Event that means "connected": "connect" for TCP, "secureConnect" for TLS clients. */
  connectEvent?: "connect" | "secureConnect";
  /** Bytes already read from the socket by someone else (an http.Server's upgrade head). */
  preface?: readonly Buffer[];
  /** After end(), destroy the socket if the peer has not closed within this many ms. */
  lingerMs?: number;
  /** Turns a connect/TLS error into a message a person can act on. */
  describeError?: (error: Error) => Error;
}

export class SocketTransport implements Transport {
  onReadiness: (() => void) | null = null;
  private readonly queue: Buffer[] = [];
  private ended = false;
  private closed = false;
  private connectingValue: boolean;
  private errorValue: Error | null = null;
  private remoteValue: PeerAddress | null = null;
  private readonly lingerMs: number;

  constructor(
    readonly socket: Socket,
    options: SocketTransportOptions = {},
  ) {
    this.connectingValue = options.connecting ?? false;
    this.lingerMs = options.lingerMs ?? 5_000;
    if (options.preface) for (const chunk of options.preface) if (chunk.length > 0) this.queue.push(chunk);
    this.captureRemote();
    socket.on("data", (chunk: Buffer) => {
      this.queue.push(chunk);
      this.notify();
    });
    socket.on("end", () => {
      this.ended = true;
      this.notify();
    });
    socket.on("drain", () => this.notify());
    socket.on("close", () => {
      this.closed = true;
      this.ended = true;
      this.notify();
    });
    socket.on("error", (error: Error) => {
      this.errorValue = options.describeError ? options.describeError(error) : error;
      this.connectingValue = false;
      this.notify();
    });
    if (this.connectingValue) {
      socket.once(options.connectEvent ?? "connect", () => {
        this.connectingValue = false;
        this.captureRemote();
        this.notify();
      });
    }
  }

  get remote(): PeerAddress | null {
    return this.remoteValue;
  }

  get connecting(): boolean {
    return this.connectingValue;
  }

  get error(): Error | null {
    return this.errorValue;
  }

  poll(): number {
    if (this.errorValue) return POLLERR | (this.queue.length > 0 ? POLLIN : 0);
    if (this.connectingValue) return 0;
    let bits = 0;
    if (this.queue.length > 0 || this.ended) bits |= POLLIN;
    if (this.closed) bits |= POLLHUP;
    else if (!this.socket.writableNeedDrain && this.socket.writable) bits |= POLLOUT;
    return bits;
  }

  read(): Buffer | null | EndOfStream {
    const chunk = this.queue.shift();
    if (chunk) return chunk;
    return this.ended ? END_OF_STREAM : null;
  }

  write(chunks: readonly Uint8Array[]): number {
    const socket = this.socket;
    if (this.closed || !socket.writable || socket.writableNeedDrain) return 0;
    // Node buffers whatever write() is given; "would block" is needDrain, checked above.
    // The chunks are not copied: a payload passed to write() must not be changed after.
    let total = 0;
    for (const chunk of chunks) {
      socket.write(chunk);
      total += chunk.length;
    }
    return total;
  }

  /** Hold writes until uncork(): the loop brackets a service pass with these. */
  cork(): void {
    this.socket.cork();
  }

  uncork(): void {
    this.socket.uncork();
  }

  /** No POLLIN interest, no reading: libuv stops reading the socket and TCP pushes back. */
  setInterest(events: number): void {
    if (events & POLLIN) this.socket.resume();
    else this.socket.pause();
  }

  end(): void {
    if (this.closed) return;
    this.socket.end();
    // The peer may never close its side; don't let the socket linger forever.
    const timer = setTimeout(() => this.socket.destroy(), this.lingerMs);
    timer.unref();
    this.socket.once("close", () => clearTimeout(timer));
  }

  destroy(): void {
    this.socket.destroy();
  }

  private captureRemote(): void {
    const s = this.socket;
    if (s.remoteAddress === undefined) return;
    this.remoteValue = {
      address: s.remoteAddress,
      port: s.remotePort ?? 0,
      family: s.remoteFamily === "IPv6" ? "IPv6" : "IPv4",
    };
  }

  private notify(): void {
    this.onReadiness?.();
  }
}
