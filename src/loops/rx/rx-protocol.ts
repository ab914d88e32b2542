/**
 * The protocol definition behind an rx loop's connections: its callback routes each
 * reason to the connection's link (its user data), which records it for the
 * observables. Users describe protocols by name and limits; they write no callback.
 */
import type { ExtensionNegotiator } from "../../core/handshake/extension.js";
import type { Connection } from "../../poll/connection.js";
import { defineProtocol, type ProtocolDefinition } from "../../poll/protocol.js";
import { headerSelection } from "./kept-headers.js";
import type { ConnectionLink } from "./link.js";

export interface RxProtocolOptions {
  /** The subprotocol name clients ask for. */
  name: string;
  /** Largest message accepted; over it the connection closes with 1009. Default 16 MiB. */
  maxMessageSize?: number;
  /** Largest frame accepted. Default: maxMessageSize. */
  maxFrameSize?: number;
  /** Outgoing messages are split into frames of at most this many bytes. Default: never. */
  txPacketSize?: number;
  /** Extensions to negotiate, e.g. permessageDeflate() from wsloop/core. */
  extensions?: readonly ExtensionNegotiator[];
  /**
   * Which of the handshake's headers RxConnection.headers keeps once the connection is
   * established: all (true, the default), none (false), or the fields named (any case).
   * They are held for the connection's life (~150 B for a small client's request,
   * ~0.5–0.7 KB for a browser's); a protocol that reads none of them can keep none.
   */
  keepHeaders?: boolean | readonly string[];
}

export function rxProtocol(
  options: RxProtocolOptions,
  createLink: (connection: Connection<ConnectionLink>) => ConnectionLink,
): ProtocolDefinition<ConnectionLink> {
  const maxMessageSize = options.maxMessageSize ?? 16 * 1024 * 1024;
  const keep = headerSelection(options.keepHeaders);
  return defineProtocol<ConnectionLink>({
    name: options.name,
    maxMessageSize,
    maxFrameSize: options.maxFrameSize ?? maxMessageSize,
    ...(options.txPacketSize !== undefined ? { txPacketSize: options.txPacketSize } : {}),
    ...(options.extensions ? { extensions: options.extensions } : {}),
    delivery: "message",
    createUserData: createLink,
    callback(event) {
      switch (event.reason) {
        case "ESTABLISHED":
        case "CLIENT_ESTABLISHED":
          event.connection.userData.established(keep);
          return;
        case "RECEIVE":
        case "CLIENT_RECEIVE":
          event.connection.userData.received(event.data, event.binary);
          return;
        case "SERVER_WRITEABLE":
        case "CLIENT_WRITEABLE":
          event.connection.userData.writeable();
          return;
        case "CLOSED":
        case "CLIENT_CLOSED":
          event.connection.userData.closed(event);
          return;
        case "CLIENT_CONNECTION_ERROR":
          // A failed dial can come before the protocol was bound; then nobody waits for it.
          event.connection.userData?.failed(event.error);
          return;
        default:
          return;
      }
    },
  });
}
