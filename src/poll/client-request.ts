/**
 * Sending a client's request, the step the upgrade (client-upgrade.ts) and the HTTP
 * client (http/client-role.ts) share once the transport is connected: leave
 * "connecting", let the protocol append headers (CLIENT_APPEND_HANDSHAKE_HEADER; a
 * non-zero return refuses), build the request, bound the wait for the answer and write
 * it. What each role sends is its `build`; everything around it is the same.
 */
import { ResponseHeadParser } from "../core/http/head-parser.js";
import type { Connection } from "./connection.js";
import type { ResolvedConnectInfo } from "./connect-info.js";

export interface ClientRequest {
  /** The request's bytes, given the headers from ConnectInfo and the protocol. Throws to fail the connection. */
  build(headers: Array<[string, string]>): Uint8Array[];
  /** What a refusal in CLIENT_APPEND_HANDSHAKE_HEADER fails the connection with. */
  refused: string;
  /** The cause reported when no answer comes within the handshake timeout. */
  timeoutCause: string;
}

/**
 * Send the request; returns the parser for the answer's head, or null when the
 * connection failed instead (CLIENT_CONNECTION_ERROR has been told).
 */
export function sendClientRequest(connection: Connection, info: ResolvedConnectInfo, request: ClientRequest): ResponseHeadParser | null {
  connection.enterHandshake();
  const headers: Array<[string, string]> = [...info.headers];
  const refused = connection.emitConnection({
    reason: "CLIENT_APPEND_HANDSHAKE_HEADER",
    connection,
    addHeader: (name: string, value: string) => {
      headers.push([name, value]);
    },
  });
  if (refused) {
    connection.failClient(new Error(request.refused));
    return null;
  }
  let chunks: Uint8Array[];
  try {
    chunks = request.build(headers);
  } catch (error) {
    connection.failClient(error instanceof Error ? error : new Error(String(error)));
    return null;
  }
  connection.armStateTimer(connection.vhost.timeouts.handshakeMs, request.timeoutCause);
  let bytes = 0;
  for (const chunk of chunks) bytes += chunk.length;
  connection.writeOut(chunks, bytes);
  return new ResponseHeadParser({ maxHeadBytes: connection.vhost.maxHeadBytes });
}
