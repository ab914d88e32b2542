/**
 * The callback reasons, as a discriminated union on `reason`. Names are lws's
 * LWS_CALLBACK_* without the prefix, so lws users find what they know (see
 * docs/porting-from-lws.md). Connection events carry their connection; context events
 * carry their vhost.
 */
import type { PeerError } from "../core/errors.js";
import type { HeaderList } from "../core/http/headers.js";
import type { Connection } from "./connection.js";
import type { PeerAddress, Pollable } from "./transport.js";
import type { Vhost } from "./vhost.js";

interface ConnectionEvent<U> {
  connection: Connection<U>;
}

/** Data of RECEIVE / CLIENT_RECEIVE. In "message" delivery, first and final are both true. */
export interface ReceiveData {
  data: Buffer;
  binary: boolean;
  /** First piece of its message (lws_is_first_fragment). */
  first: boolean;
  /** Last piece of its message (lws_is_final_fragment). */
  final: boolean;
  /** Payload bytes of the current frame still to come (lws_remaining_packet_payload). */
  remaining: number;
}

export interface CloseData {
  /** The close code: the peer's (1005 when its close had none), ours when we failed the peer, 1006 when the connection ended without a close handshake. */
  code: number;
  closeReason: string;
  /** Both close frames were exchanged. */
  clean: boolean;
  /** Set when the peer broke the protocol or a limit. */
  error?: PeerError;
}

/** An HTTP request as FILTER_HTTP_CONNECTION and HTTP see it. Headers stay readable on the connection until the transaction completes. */
export interface HttpRequestData {
  method: string;
  /** The path, percent-decoded and checked (no dot segments, no encoded slashes): "/docs/a b.txt". */
  path: string;
  /** The raw query after "?", without it; "" when there is none. */
  query: string;
  headers: HeaderList;
  /** "1.0" or "1.1". */
  version: string;
  /** The mountpoint that routed the request here (a CALLBACK mount), or null. */
  mountpoint: string | null;
}

export type ConnectionEvents<U> =
  | ({ reason: "FILTER_NETWORK_CONNECTION"; peer: PeerAddress | null } & ConnectionEvent<U>)
  | ({ reason: "FILTER_PROTOCOL_CONNECTION"; headers: HeaderList; path: string } & ConnectionEvent<U>)
  | ({ reason: "ESTABLISHED" } & ConnectionEvent<U>)
  | ({ reason: "RECEIVE" } & ReceiveData & ConnectionEvent<U>)
  | ({ reason: "RECEIVE_PONG"; data: Buffer } & ConnectionEvent<U>)
  | ({ reason: "SERVER_WRITEABLE" } & ConnectionEvent<U>)
  | ({ reason: "WS_PEER_INITIATED_CLOSE"; code: number; closeReason: string } & ConnectionEvent<U>)
  | ({ reason: "RECEIVE_TOO_LARGE"; kind: "frame" | "message"; size: number; limit: number } & ConnectionEvent<U>)
  | ({ reason: "CLOSED" } & CloseData & ConnectionEvent<U>)
  | ({ reason: "CLIENT_CONNECTION_ERROR"; cause: string; error: Error } & ConnectionEvent<U>)
  | ({ reason: "CLIENT_APPEND_HANDSHAKE_HEADER"; addHeader(name: string, value: string): void } & ConnectionEvent<U>)
  | ({ reason: "CLIENT_FILTER_PRE_ESTABLISH"; headers: HeaderList; status: number } & ConnectionEvent<U>)
  | ({ reason: "CLIENT_ESTABLISHED" } & ConnectionEvent<U>)
  | ({ reason: "CLIENT_RECEIVE" } & ReceiveData & ConnectionEvent<U>)
  | ({ reason: "CLIENT_RECEIVE_PONG"; data: Buffer } & ConnectionEvent<U>)
  | ({ reason: "CLIENT_WRITEABLE" } & ConnectionEvent<U>)
  | ({ reason: "CLIENT_CLOSED" } & CloseData & ConnectionEvent<U>)
  | ({ reason: "TIMER" } & ConnectionEvent<U>)
  // ---- HTTP server (lws's LWS_CALLBACK_HTTP*) ----
  /** Before the request is acted on; non-zero refuses it with 403. */
  | ({ reason: "FILTER_HTTP_CONNECTION" } & HttpRequestData & ConnectionEvent<U>)
  /** A request to answer. Answer now (respond, respondError, writeHttpHead) or ask for HTTP_WRITEABLE; a request nobody takes up is answered 404. */
  | ({ reason: "HTTP" } & HttpRequestData & ConnectionEvent<U>)
  /** A piece of the request body (a view: copy it to keep it). */
  | ({ reason: "HTTP_BODY"; data: Buffer } & ConnectionEvent<U>)
  | ({ reason: "HTTP_BODY_COMPLETION" } & ConnectionEvent<U>)
  /** Write one piece of the response body (writeHttp), once. */
  | ({ reason: "HTTP_WRITEABLE" } & ConnectionEvent<U>)
  /** A connection that carried HTTP transactions ended. */
  | ({ reason: "CLOSED_HTTP" } & ConnectionEvent<U>)
  /** A CALLBACK mount bound the connection to this protocol (user data made just before). */
  | ({ reason: "HTTP_BIND_PROTOCOL"; path: string } & ConnectionEvent<U>)
  /** The binding ends: a request went elsewhere, or the connection closed. */
  | ({ reason: "HTTP_DROP_PROTOCOL" } & ConnectionEvent<U>)
  // ---- HTTP client ----
  /**
   * A streamed request body (ConnectInfo.bodyLength) may take its next piece: write it
   * with writeHttp(piece, { final }), once. Only after requestWriteable(), and only while
   * the body is unfinished and the server has not answered.
   */
  | ({ reason: "CLIENT_HTTP_WRITEABLE" } & ConnectionEvent<U>)
  /** The response head arrived. */
  | ({ reason: "ESTABLISHED_CLIENT_HTTP"; status: number; headers: HeaderList } & ConnectionEvent<U>)
  /** A piece of the response body (a view: copy it to keep it). Turn rx off to push back. */
  | ({ reason: "RECEIVE_CLIENT_HTTP"; data: Buffer } & ConnectionEvent<U>)
  /** The whole response body arrived. */
  | ({ reason: "COMPLETED_CLIENT_HTTP"; status: number } & ConnectionEvent<U>)
  | ({ reason: "CLOSED_CLIENT_HTTP" } & ConnectionEvent<U>)
  // ---- RAW sockets ----
  | ({ reason: "RAW_ADOPT" } & ConnectionEvent<U>)
  | ({ reason: "RAW_RX"; data: Buffer } & ConnectionEvent<U>)
  | ({ reason: "RAW_WRITEABLE" } & ConnectionEvent<U>)
  | ({ reason: "RAW_CLOSE" } & ConnectionEvent<U>);

export type ContextEvents =
  | { reason: "PROTOCOL_INIT"; vhost: Vhost }
  | { reason: "PROTOCOL_DESTROY"; vhost: Vhost }
  | { reason: "EVENT_WAIT_CANCELLED"; vhost: Vhost }
  | { reason: "ADD_POLL_FD"; vhost: Vhost; fd: number; events: number }
  | { reason: "DEL_POLL_FD"; vhost: Vhost; fd: number }
  | { reason: "CHANGE_MODE_POLL_FD"; vhost: Vhost; fd: number; events: number; prevEvents: number };

/** Everything a protocol callback can be told. */
export type CallbackEvent<U = unknown> = ConnectionEvents<U> | ContextEvents;

export type CallbackReason = CallbackEvent["reason"];

/**
 * What a callback returns. Like lws: 0 / nothing to carry on; a non-zero number (lws's
 * -1) or `true` to close the connection politely (1000, or the code given to close()),
 * or, from a FILTER_* reason, to refuse it.
 */
export type CallbackResult = void | number | boolean;

export type ProtocolCallback<U = unknown> = (event: CallbackEvent<U>) => CallbackResult;

/** lws's external-poll hooks, as a typed object. Each call also reaches protocol 0 as *_POLL_FD. */
export interface PollHooks {
  /** A new descriptor to poll for `events`; `source` can report its readiness (see Pollable). */
  add(fd: number, events: number, source: Pollable): void;
  /** The descriptor is gone; stop polling it. */
  del(fd: number): void;
  /** Poll `fd` for `events` from now on (it was `prevEvents`). */
  changeMode(fd: number, events: number, prevEvents: number): void;
}
