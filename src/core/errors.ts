/**
 * wsloop's two kinds of error.
 *
 * - The caller misused the API: a {@link WsloopUsageError} is thrown at once, at the
 *   call that broke the rule, with a `code` a program can test and a message that
 *   names the rule.
 * - The peer misbehaved: nothing is thrown. The engine closes the connection with the
 *   RFC's code and reports a {@link PeerError} value through its events.
 */

/** Codes of API misuse. Each names a rule of the API. */
export type UsageErrorCode =
  | "INVALID_ARGUMENT"
  | "INVALID_STATE"
  | "WRITE_OUTSIDE_WRITEABLE"
  | "SECOND_WRITE_IN_WRITEABLE"
  | "CONNECTION_CLOSED"
  | "INVALID_CLOSE_CODE"
  | "UNKNOWN_PROTOCOL"
  | "UNKNOWN_VHOST"
  | "BUFFER_BUDGET_EXCEEDED";

/** Base class of every error wsloop throws, so callers can catch them as one family. */
export class WsloopError extends Error {
  override name = "WsloopError";
}

/** Thrown when the caller misuses the API. */
export class WsloopUsageError extends WsloopError {
  override name = "WsloopUsageError";
  constructor(
    readonly code: UsageErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/**
 * What a misbehaving peer did, as a value. It is not thrown: the engine closes with
 * `closeCode` and reports this through its events. For a handshake that never became
 * a WebSocket, `closeCode` is 1002 and `httpStatus` says what the server answered.
 */
export class PeerError extends WsloopError {
  override name = "PeerError";
  constructor(
    /** The WebSocket close code this violation calls for (RFC 6455 §7.4.1). */
    readonly closeCode: number,
    message: string,
    /** For handshake failures: the HTTP status answered (server) or received (client). */
    readonly httpStatus?: number,
  ) {
    super(message);
  }
}

/** Shorthand used by argument checks. */
export function usage(code: UsageErrorCode, message: string): WsloopUsageError {
  return new WsloopUsageError(code, message);
}
