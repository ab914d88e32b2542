/**
 * The server side of the opening handshake: the HTTP role (http/server-role.ts) reads
 * the request with bounded memory and, when it asks for websocket, hands it here.
 */
import type { HttpRequestHead } from "../core/http/head-parser.js";
import {
  buildAcceptResponse,
  buildRejectResponse,
  checkUpgradeRequest,
  negotiateExtensions,
  selectSubprotocol,
} from "../core/handshake/server-handshake.js";
import { WsSession } from "../core/ws-session.js";
import type { Connection } from "./connection.js";
import { sessionOptions } from "./session-options.js";
import type { ResolvedRoutes } from "./vhost.js";

/**
 * Answer an upgrade request whose head the HTTP role has read: check it, bind a
 * protocol, let the protocol filter it, answer 101 (or an error status), and hand the
 * bytes that followed the request to the WebSocket.
 */
export function acceptUpgrade(connection: Connection, head: HttpRequestHead, rest: Buffer, routes: ResolvedRoutes | null): void {
  const vhost = connection.vhost;
  const check = checkUpgradeRequest(head);
  if (!check.ok) {
    refuse(connection, check.status, check.message, check.headers);
    return;
  }
  const request = check.request;
  connection.path = request.path;
  connection.setHeaders(head.headers);
  let served = vhost.protocolNames;
  let fallback = vhost.defaultProtocol.name;
  if (routes) {
    const pathname = request.path.split("?", 1)[0]!;
    const route = routes.get(pathname);
    if (!route) {
      refuse(connection, 404, `no WebSocket service at ${pathname}`);
      return;
    }
    served = route;
    fallback = route[0]!;
  }
  const selected = selectSubprotocol(request.offeredProtocols, served, fallback);
  if (!selected.ok) {
    refuse(connection, selected.status, selected.message);
    return;
  }
  const protocol = vhost.protocol(selected.bound!)!;
  connection.bindProtocol(protocol);
  connection.subprotocol = selected.protocol;
  const refused = connection.emitConnection({
    reason: "FILTER_PROTOCOL_CONNECTION",
    connection,
    headers: head.headers,
    path: request.path,
  });
  if (connection.state === "closed") return;
  if (refused) {
    refuse(connection, 403, `connection refused by protocol "${protocol.name}"`);
    return;
  }
  const extensions = negotiateExtensions(request.offeredExtensions, protocol.extensions ?? []);
  if (extensions.negotiated.length > 0) connection.extensions = extensions.negotiated;
  const response = buildAcceptResponse(request.key, selected.protocol, extensions.responseHeader);
  connection.writeOut([response], response.length);
  const session = new WsSession(sessionOptions("server", protocol, extensions.negotiated, null), connection);
  connection.establish(session, rest.length > 0 ? rest : null);
}

function refuse(connection: Connection, status: number, message: string, headers: Array<[string, string]> = []): void {
  connection.context.logger.info(`connection ${connection.id}: handshake refused with ${status}: ${message}`);
  connection.setHeaders(null);
  connection.respondAndEnd(buildRejectResponse(status, message, headers));
}
