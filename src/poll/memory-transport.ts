/**
 * An in-memory transport pair: two ends joined by two bounded pipes. A full pipe makes
 * its writer's write() return short (or 0), exactly as a full socket buffer does, so
 * flow control and partial writes can be exercised without sockets.
 */
import { POLLERR, POLLHUP, POLLIN, POLLOUT } from "./pollfd.js";
import { END_OF_STREAM, type EndOfStream, type PeerAddress, type Transport } from "./transport.js";

export interface MemoryPipeOptions {
  /** Bytes a direction holds before its writer blocks. Default 64 KiB. */
  capacity?: number;
  /** Largest piece a read returns; models how TCP splits data. Default: whatever is there, up to 64 KiB. */
  chunkSize?: number;
}

export interface MemoryPairOptions extends MemoryPipeOptions {
  /** Addresses each end reports as its remote (what the other end is). */
  addressA?: PeerAddress;
  addressB?: PeerAddress;
  /** Start end A as an outgoing connection still connecting (see MemoryTransport.completeConnect). */
  connecting?: boolean;
}

class Pipe {
  readonly queue: Buffer[] = [];
  queued = 0;
  ended = false;
  constructor(
    readonly capacity: number,
    readonly chunkSize: number,
  ) {}
  get room(): number {
    return Math.max(0, this.capacity - this.queued);
  }
}

let nextMemoryPort = 40000;

export class MemoryTransport implements Transport {
  onReadiness: (() => void) | null = null;
  peer!: MemoryTransport;
  private destroyed = false;
  private connectingValue: boolean;
  private errorValue: Error | null = null;

  constructor(
    private readonly incoming: Pipe,
    private readonly outgoing: Pipe,
    readonly remote: PeerAddress,
    connecting: boolean,
  ) {
    this.connectingValue = connecting;
  }

  get connecting(): boolean {
    return this.connectingValue;
  }

  get error(): Error | null {
    return this.errorValue;
  }

  /** Bytes written by this end and not yet read by the other. */
  get bufferedOut(): number {
    return this.outgoing.queued;
  }

  get isDestroyed(): boolean {
    return this.destroyed;
  }

  poll(): number {
    if (this.errorValue) return POLLERR;
    if (this.destroyed) return POLLHUP;
    if (this.connectingValue) return 0;
    let bits = 0;
    if (this.incoming.queued > 0 || this.incoming.ended) bits |= POLLIN;
    if (this.outgoing.room > 0 && !this.outgoing.ended) bits |= POLLOUT;
    if (this.peer.destroyed) bits |= POLLHUP;
    return bits;
  }

  read(): Buffer | null | EndOfStream {
    if (this.destroyed || this.connectingValue) return null;
    const pipe = this.incoming;
    const first = pipe.queue[0];
    if (!first) return pipe.ended ? END_OF_STREAM : null;
    let out: Buffer;
    if (first.length > pipe.chunkSize) {
      out = first.subarray(0, pipe.chunkSize);
      pipe.queue[0] = first.subarray(pipe.chunkSize);
    } else {
      pipe.queue.shift();
      out = first;
    }
    const wasFull = pipe.room === 0;
    pipe.queued -= out.length;
    if (wasFull) this.peer.notify();
    return out;
  }

  write(chunks: readonly Uint8Array[]): number {
    if (this.destroyed) return 0;
    const pipe = this.outgoing;
    if (pipe.ended) return 0;
    if (this.peer.destroyed) {
      // Like TCP before the reset comes back: the bytes vanish.
      let total = 0;
      for (const c of chunks) total += c.length;
      return total;
    }
    let room = pipe.room;
    let total = 0;
    for (const c of chunks) total += c.length;
    const take = Math.min(room, total);
    if (take === 0) return 0;
    // Copy: the reader owns what it reads (it unmasks in place) and the writer may reuse its buffers.
    const copy = Buffer.allocUnsafe(take);
    let at = 0;
    for (const c of chunks) {
      if (at === take) break;
      const n = Math.min(c.length, take - at);
      copy.set(n === c.length ? c : c.subarray(0, n), at);
      at += n;
    }
    pipe.queue.push(copy);
    pipe.queued += take;
    room -= take;
    this.peer.notify();
    return take;
  }

  end(): void {
    if (this.outgoing.ended) return;
    this.outgoing.ended = true;
    this.peer.notify();
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.outgoing.ended = true;
    this.incoming.queue.length = 0;
    this.incoming.queued = 0;
    this.peer.notify();
  }

  /** Finish a pending outgoing connect: POLLOUT follows. */
  completeConnect(): void {
    if (!this.connectingValue) return;
    this.connectingValue = false;
    this.notify();
  }

  /** Fail a pending outgoing connect (or a live transport): POLLERR follows. */
  fail(error: Error): void {
    this.connectingValue = false;
    this.errorValue = error;
    this.notify();
  }

  private notify(): void {
    this.onReadiness?.();
  }
}

/** Make a joined pair: bytes written to `a` are read from `b`, and the other way round. */
export function createMemoryPair(options: MemoryPairOptions = {}): { a: MemoryTransport; b: MemoryTransport } {
  const capacity = options.capacity ?? 64 * 1024;
  const chunkSize = options.chunkSize ?? 64 * 1024;
  if (!(capacity >= 1)) throw new RangeError("memory pipe capacity must be at least 1 byte");
  if (!(chunkSize >= 1)) throw new RangeError("memory pipe chunkSize must be at least 1 byte");
  const aToB = new Pipe(capacity, chunkSize);
  const bToA = new Pipe(capacity, chunkSize);
  const addressA = options.addressA ?? { address: "127.0.0.1", port: nextMemoryPort++, family: "memory" as const };
  const addressB = options.addressB ?? { address: "127.0.0.1", port: nextMemoryPort++, family: "memory" as const };
  // Each end's `remote` is the other end's address.
  const a = new MemoryTransport(bToA, aToB, addressB, options.connecting ?? false);
  const b = new MemoryTransport(aToB, bToA, addressA, false);
  a.peer = b;
  b.peer = a;
  return { a, b };
}
