/**
 * A protocol is what lws calls struct lws_protocols: a name (the subprotocol), one
 * callback for every reason, per-connection user data (lws's per_session_data) and the
 * limits of what it receives.
 */
import type { ExtensionNegotiator } from "../core/handshake/extension.js";
import type { Connection } from "./connection.js";
import type { ProtocolCallback } from "./events.js";

export interface ProtocolDefinition<U = unknown> {
  /** The subprotocol name clients ask for in Sec-WebSocket-Protocol. */
  name: string;
  callback: ProtocolCallback<U>;
  /** Makes the per-connection user data, once per connection, before its first event. */
  createUserData?: (connection: Connection<U>) => U;
  /** Largest frame payload accepted; over it → close 1009. Default 16 MiB. */
  maxFrameSize?: number;
  /** Largest message accepted (held bytes, see fragmentOverhead); over it → close 1009. Default 16 MiB. */
  maxMessageSize?: number;
  /** Bookkeeping bytes charged per held piece of a message. Default 64. */
  fragmentOverhead?: number;
  /** "message": RECEIVE once per whole message; "fragment": once per piece as it arrives. Default "message". */
  delivery?: "message" | "fragment";
  /** Outgoing messages are split into frames of at most this many bytes (lws's tx_packet_size). 0 = never. */
  txPacketSize?: number;
  /** Extensions this protocol negotiates (permessage-deflate plugs in here). */
  extensions?: readonly ExtensionNegotiator[];
}

/** Identity function that fixes the user-data type: `defineProtocol<MyData>({ ... })`. */
export function defineProtocol<U>(definition: ProtocolDefinition<U>): ProtocolDefinition<U> {
  return definition;
}
