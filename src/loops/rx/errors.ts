/**
 * The typed failures of the rx loop's observables. Like the rest of wsloop's errors they
 * extend WsloopError; unlike usage errors they are not thrown at a call but delivered
 * through an observable's error channel, so `retry` and `catchError` can tell them apart.
 */
import { WsloopError } from "../../core/errors.js";

/** A client connection could not be made (refused, unreachable, TLS, a bad answer). */
export class ConnectError extends WsloopError {
  override name = "ConnectError";
}

/** The server answered the upgrade request with something other than 101. */
export class HandshakeRefusedError extends ConnectError {
  override name = "HandshakeRefusedError";
  constructor(
    /** The HTTP status the server answered. */
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** An established connection ended without a clean close handshake. */
export class ConnectionLostError extends WsloopError {
  override name = "ConnectionLostError";
  constructor(
    /** The close code: 1006 when the transport just went away, ours when we failed the peer. */
    readonly code: number,
    readonly reason: string,
  ) {
    super(`connection lost (${code}${reason ? `: ${reason}` : ""})`);
  }
}

/** What timed out: the transport's connect, the opening handshake, a ping's pong, or the close handshake. */
export type TimeoutPhase = "connect" | "handshake" | "pong" | "close";

/** A timeout of the context (vhost `timeouts`) ended the connection. */
export class TimeoutError extends WsloopError {
  override name = "TimeoutError";
  constructor(
    readonly phase: TimeoutPhase,
    message: string,
    /** The close code reported, for connections that had been established (1006). */
    readonly code: number | null = null,
  ) {
    super(message);
  }
}

/**
 * A push source offered more than `maxBufferedBytes` could hold. With the "wait" policy
 * the source is unsubscribed (it cannot be paused); with "close" the connection is
 * closed with 1008 as well.
 */
export class SendOverflowError extends WsloopError {
  override name = "SendOverflowError";
  constructor(
    /** Bytes held when the message came. */
    readonly held: number,
    /** The message's size on the wire. */
    readonly bytes: number,
    readonly limit: number,
  ) {
    super(`send buffer full: ${held} bytes held, a ${bytes}-byte message does not fit in ${limit}`);
  }
}

/**
 * Which timeout a close reason names, if any. The context reports timeouts only in its
 * human-readable reasons; this is the one place that reads them (see docs/rxjs.md: a
 * structured cause in CloseData would replace it).
 */
export function timeoutPhaseOf(reason: string): TimeoutPhase | null {
  if (reason.startsWith("no reply to a ping")) return "pong";
  if (!reason.startsWith("timed out: ")) return null;
  const cause = reason.slice("timed out: ".length);
  if (cause.startsWith("could not connect")) return "connect";
  if (cause.startsWith("no answer to the upgrade request") || cause.startsWith("no complete upgrade request")) return "handshake";
  return "close";
}

/** The error for a client that never reached CLIENT_ESTABLISHED. */
export function connectFailure(error: Error): WsloopError {
  const status = (error as { status?: unknown }).status;
  if (typeof status === "number" && status !== 101) return new HandshakeRefusedError(status, error.message);
  const phase = timeoutPhaseOf(error.message);
  if (phase) return new TimeoutError(phase, error.message);
  return new ConnectError(error.message, { cause: error });
}

/** The error for an established connection that ended uncleanly. */
export function lossFailure(code: number, reason: string): WsloopError {
  const phase = timeoutPhaseOf(reason);
  if (phase) return new TimeoutError(phase, reason, code);
  return new ConnectionLostError(code, reason);
}
