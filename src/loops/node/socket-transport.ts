/**
 * A Node socket (net.Socket or tls.TLSSocket) seen as a readiness-based transport.
 *
 * Node pushes data at us; the context pulls. Received chunks wait in a short queue
 * (never copied or joined) until the context reads them; when the context stops asking
 * for POLLIN the loop pauses the socket, so libuv stops reading and TCP pushes back.
 * Writes go to the socket corked — by the loop for its whole turn, or by the transport
 * itself until the current tick is done — so that every frame made ready meanwhile
 * leaves in one vectored write; small frames are first copied into one buffer.
 *
 * Memory: a server holds one of these per connection, idle or not, so it keeps little —
 * the socket's listeners are shared functions (they find the transport through the
 * socket), and the receive queue is a field until a second chunk waits.
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
  /**
   * Called once when the socket has closed, with the transport. Pass a function shared
   * by every transport (a loop's bookkeeping), not a closure per socket.
   */
  onClose?: (transport: SocketTransport) => void;
}

/** Chunks up to this size are copied together while the socket is corked (see write()). */
const SMALL_CHUNK = 512;
/** ... and handed over once this many bytes are held. */
const SMALL_BATCH = 16 * 1024;

/** The transport a socket belongs to, for the shared listeners. */
const transportOf = Symbol("wsloop.socketTransport");
type OwnedSocket = Socket & { [transportOf]?: SocketTransport };

export class SocketTransport implements Transport {
  onReadiness: (() => void) | null = null;
  /** The oldest chunk waiting to be read; the ones after it in `more`. */
  private head: Buffer | null = null;
  private more: Buffer[] | null = null;
  private ended = false;
  private closed = false;
  private connectingValue: boolean;
  private errorValue: Error | null = null;
  private remoteValue: PeerAddress | null = null;
  private readonly lingerMs: number;
  private readonly describeError: ((error: Error) => Error) | null;
  private readonly onCloseHook: ((transport: SocketTransport) => void) | null;
  /** Corked by write() until the current tick's work is done (see write()). */
  private autoCorked = false;
  /** Corked by the loop (cork()/uncork() around a service pass): no auto-cork needed. */
  private loopCorked = false;
  /**
   * Small chunks written while corked, copied together into one buffer at uncork: one
   * chunk for Node's writev instead of a header and a payload per message. The first is
   * a field, the others wait in a list made for the second (like `head` and `more`): a
   * connection that writes one small chunk at a time, the 101 of an idle one, holds no list.
   */
  private smallHead: Uint8Array | null = null;
  private smallMore: Uint8Array[] | null = null;
  private smallBytes = 0;
  /** After end(): destroys the socket if the peer does not close within lingerMs. */
  private lingerTimer: NodeJS.Timeout | null = null;

  constructor(
    readonly socket: Socket,
    options: SocketTransportOptions = {},
  ) {
    this.connectingValue = options.connecting ?? false;
    this.lingerMs = options.lingerMs ?? 5_000;
    this.describeError = options.describeError ?? null;
    this.onCloseHook = options.onClose ?? null;
    if (options.preface) for (const chunk of options.preface) if (chunk.length > 0) this.push(chunk);
    (socket as OwnedSocket)[transportOf] = this;
    socket.on("data", onData);
    socket.on("end", onEnd);
    socket.on("drain", onDrain);
    socket.on("close", onClose);
    socket.on("error", onError);
    if (this.connectingValue) socket.once(options.connectEvent ?? "connect", onConnect);
  }

  /**
   * Asked of the socket the first time it is wanted, not at accept: most servers never
   * ask, and the answer costs a getpeername(2) and two objects per connection. Like
   * lws_get_peer_simple(), it needs the socket open: asked first after the socket has
   * closed, it is null.
   */
  get remote(): PeerAddress | null {
    if (this.remoteValue === null && !this.connectingValue) this.captureRemote();
    return this.remoteValue;
  }

  get connecting(): boolean {
    return this.connectingValue;
  }

  get error(): Error | null {
    return this.errorValue;
  }

  poll(): number {
    const waiting = this.head !== null;
    if (this.errorValue) return POLLERR | (waiting ? POLLIN : 0);
    if (this.connectingValue) return 0;
    let bits = 0;
    if (waiting || this.ended) bits |= POLLIN;
    if (this.closed) bits |= POLLHUP;
    else if (!this.socket.writableNeedDrain && this.socket.writable) bits |= POLLOUT;
    return bits;
  }

  read(): Buffer | null | EndOfStream {
    const chunk = this.head;
    if (chunk !== null) {
      const more = this.more;
      this.head = more !== null && more.length > 0 ? more.shift()! : null;
      return chunk;
    }
    return this.ended ? END_OF_STREAM : null;
  }

  write(chunks: readonly Uint8Array[]): number {
    const socket = this.socket;
    if (this.closed || !socket.writable || socket.writableNeedDrain) return 0;
    // Node buffers whatever write() is given; "would block" is needDrain, checked above.
    // Payloads are not copied (a payload passed to write() must not be changed after);
    // only chunks of up to SMALL_CHUNK bytes are, into one buffer per flush. A loop that does not cork (the manual driver, an embedder's own) still gets one
    // vectored write per tick, not one syscall per message: the socket is corked until
    // the work of the current tick is done.
    if (!this.autoCorked && !this.loopCorked) {
      this.autoCorked = true;
      socket.cork();
      process.nextTick(uncorkAfterTick, this);
    }
    let total = 0;
    for (const chunk of chunks) {
      const length = chunk.length;
      total += length;
      if (length <= SMALL_CHUNK) {
        if (this.smallHead === null) this.smallHead = chunk;
        else {
          const more = (this.smallMore ??= []);
          if (more.length === 0) more.push(this.smallHead);
          more.push(chunk);
        }
        this.smallBytes += length;
        if (this.smallBytes >= SMALL_BATCH) this.flushSmall();
      } else {
        if (this.smallBytes > 0) this.flushSmall();
        socket.write(chunk);
      }
    }
    return total;
  }

  /** Hand the small chunks held so far to the socket, as one buffer. */
  private flushSmall(): void {
    const more = this.smallMore;
    const bytes = this.smallBytes;
    this.smallBytes = 0;
    if (more !== null && more.length > 1) {
      this.socket.write(Buffer.concat(more, bytes));
      more.length = 0;
    } else if (this.smallHead !== null) {
      this.socket.write(this.smallHead);
    }
    this.smallHead = null;
  }

  /** Hold writes until uncork(): the loop brackets a service pass with these. */
  cork(): void {
    this.loopCorked = true;
    this.socket.cork();
  }

  uncork(): void {
    this.loopCorked = false;
    if (this.smallBytes > 0) this.flushSmall();
    this.socket.uncork();
  }

  /** No POLLIN interest, no reading: libuv stops reading the socket and TCP pushes back. */
  setInterest(events: number): void {
    if (events & POLLIN) this.socket.resume();
    else this.socket.pause();
  }

  end(): void {
    if (this.closed) return;
    if (this.smallBytes > 0) this.flushSmall();
    this.socket.end();
    // The peer may never close its side; don't let the socket linger forever.
    if (this.lingerTimer === null) {
      this.lingerTimer = setTimeout(destroyLingering, this.lingerMs, this.socket);
      this.lingerTimer.unref();
    }
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** @internal The tick that wrote is done: let its writes go. */
  releaseAutoCork(): void {
    this.autoCorked = false;
    if (this.smallBytes > 0) this.flushSmall();
    // After end() Node has uncorked already; uncork() of an uncorked socket does nothing.
    this.socket.uncork();
  }

  /** @internal A chunk arrived. */
  push(chunk: Buffer): void {
    if (this.head === null) this.head = chunk;
    else (this.more ??= []).push(chunk);
  }

  /** @internal The socket told something: end, close, error or connect. */
  onSocketEvent(kind: "end" | "close" | "connect", error: Error | null): void {
    if (kind === "end") {
      this.ended = true;
    } else if (kind === "close") {
      if (this.closed) return;
      this.closed = true;
      this.ended = true;
      if (this.lingerTimer !== null) clearTimeout(this.lingerTimer);
      this.lingerTimer = null;
      this.onCloseHook?.(this);
    } else if (error) {
      this.errorValue = this.describeError ? this.describeError(error) : error;
      this.connectingValue = false;
    } else {
      this.connectingValue = false;
    }
    this.notify();
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

  /** @internal */
  notify(): void {
    this.onReadiness?.();
  }
}

// The socket listeners, one set for every socket: `this` is the socket.
function onData(this: OwnedSocket, chunk: Buffer): void {
  const transport = this[transportOf]!;
  transport.push(chunk);
  transport.notify();
}
function onEnd(this: OwnedSocket): void {
  this[transportOf]!.onSocketEvent("end", null);
}
function onDrain(this: OwnedSocket): void {
  this[transportOf]!.notify();
}
function onClose(this: OwnedSocket): void {
  this[transportOf]!.onSocketEvent("close", null);
}
function onError(this: OwnedSocket, error: Error): void {
  this[transportOf]!.onSocketEvent("connect", error);
}
function onConnect(this: OwnedSocket): void {
  this[transportOf]!.onSocketEvent("connect", null);
}

function destroyLingering(socket: Socket): void {
  socket.destroy();
}

function uncorkAfterTick(transport: SocketTransport): void {
  transport.releaseAutoCork();
}
