/**
 * What a connection is doing while it does not speak WebSocket: the server reading an
 * upgrade request or serving HTTP, the client sending an upgrade request or an HTTP
 * request, or a RAW connection. A role that ends the handshake calls
 * connection.establish(); the others keep the connection for themselves.
 *
 * The optional members let a role that outlives the handshake take part in service:
 * what to poll for, the writeable rung of the ladder, forced service, the end.
 */
import type { CloseData } from "./events.js";

export interface HandshakeRole {
  /** Bytes read from the transport. */
  onData(chunk: Buffer): void;
  /** Client: the transport finished connecting. */
  onConnected(): void;
  /** Should the connection read now? (false holds the peer back: pipelined requests wait their turn) Default true. */
  wantsRead?(): boolean;
  /** The role has writing of its own to do (a file to stream, a flush to wait for). */
  wantsWrite?(): boolean;
  /** The writeable rung, reached with nothing left pending: the role's own work, or the user's WRITEABLE. */
  onWriteable?(): void;
  /** Input the role holds and can act on now (forced service). */
  hasHeldInput?(): boolean;
  serviceForced?(): void;
  /** The peer ended its direction. Return true when the role dealt with it. */
  onEnd?(): boolean;
  /**
   * The peer hung up while input the role has not taken yet is still there (held back by
   * rx flow control). Return true when the role keeps it to deliver first.
   */
  onHangup?(): boolean;
  /** A client connection failed before it was established (CLIENT_CONNECTION_ERROR follows). */
  onFail?(): void;
  /** The connection has ended: tell the protocol what the role owes it. Return true when it did (no generic notice then). */
  onFinish?(info: CloseData): boolean;
}
