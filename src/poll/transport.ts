/**
 * A transport is the byte channel one connection sits on: non-blocking and
 * readiness-based, like a socket under poll(). The context never waits on it; it reads
 * what is there, writes what fits, and learns about readiness from the loop.
 */
export const END_OF_STREAM: unique symbol = Symbol("wsloop.endOfStream");
export type EndOfStream = typeof END_OF_STREAM;

export interface PeerAddress {
  /** An IP address, or a name for transports that have none (e.g. "memory"). */
  address: string;
  port: number;
  family: "IPv4" | "IPv6" | "memory";
}

/** Anything that sits in the descriptor table and can say whether it is ready. */
export interface Pollable {
  /**
   * Readiness now, as poll() bits: POLLIN when read() would return data or the end,
   * POLLOUT when write() would accept at least one byte, POLLERR, POLLHUP.
   * Loops that learn readiness from events (Node's) may not need it; the manual driver does.
   */
  poll(): number;
  /**
   * Called by the pollable when poll() may have changed (data arrived, room freed).
   * The loop that drives it sets this; it must not service from inside the call.
   */
  onReadiness: (() => void) | null;
  /**
   * Optional: told what the descriptor is polled for now, on add and on every mode
   * change. A transport that is fed by pushes (a Node socket) uses it to stop reading
   * when POLLIN is not wanted, so that rx flow control reaches TCP.
   */
  setInterest?(events: number): void;
}

export interface Transport extends Pollable {
  /**
   * Take the bytes available now: a Buffer (ownership passes to the caller, which may
   * modify it in place), `null` when none are (would block), or END_OF_STREAM once the
   * peer has ended and everything before the end has been read.
   */
  read(): Buffer | null | EndOfStream;
  /**
   * Offer chunks to send, in order. Returns how many bytes were accepted, from the
   * start: 0 means it would block. Accepted bytes belong to the transport, which must
   * not hold on to the caller's chunk objects past the call unless it accepted them whole.
   */
  write(chunks: readonly Uint8Array[]): number;
  /** No more writes: the peer sees the end after what was accepted. */
  end(): void;
  /** Release everything now; the peer sees a reset or an end. Idempotent. */
  destroy(): void;
  /** The other side's address, when known. */
  readonly remote: PeerAddress | null;
  /**
   * For outgoing connections: true until the connection is made. A pending connect
   * reports POLLOUT when it completes and POLLERR (with `error`) when it fails.
   */
  readonly connecting: boolean;
  /** Why the transport failed, once POLLERR is reported. */
  readonly error: Error | null;
}

/** Everything a client connection needs to reach its server, for the loop's dialer. */
export interface DialRequest {
  address: string;
  port: number;
  /** TLS for wss:// / https://, with lws's client TLS flags. */
  tls: false | { serverName: string; allowSelfSigned: boolean; skipHostnameCheck: boolean; ca?: string | Buffer };
}

/** A loop's way of making outgoing transports. It must not block: return a connecting transport. */
export type Dialer = (request: DialRequest) => Transport;
