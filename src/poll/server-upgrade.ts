/**
 * The server side of the opening handshake on one connection: read the request with
 * bounded memory, check it, bind a protocol, let the protocol filter it, answer 101
 * (or an error status), and hand the bytes that followed the request to the WebSocket.
 */
import { RequestHeadParser, type HttpRequestHead } from "../core/http/head-parser.js";
import {
  buildAcceptResponse,
  buildRejectResponse,
  checkUpgradeRequest,
  negotiateExtensions,
  selectSubprotocol,
} from "../core/handshake/server-handshake.js";
import { WsSession } from "../core/ws-session.js";
import type { Connection } from "./connection.js";
import type { HandshakeRole } from "./handshake-role.js";
import { sessionOptions } from "./session-options.js";
import type { ResolvedRoutes } from "./vhost.js";

export class ServerUpgrade implements HandshakeRole {
  private readonly parser: RequestHeadParser;

  constructor(
    private readonly connection: Connection,
    private readonly routes: ResolvedRoutes | null,
  ) {
    this.parser = new RequestHeadParser({ maxHeadBytes: connection.vhost.maxHeadBytes });
  }

  onConnected(): void {
    // Server connections arrive connected.
  }

  onData(chunk: Buffer): void {
    const result = this.parser.push(chunk);
    if (result.kind === "incomplete") return;
    if (result.kind === "error") {
      this.refuse(result.status, result.message);
      return;
    }
    this.upgrade(result.head, result.rest);
  }

  private upgrade(head: HttpRequestHead, rest: Buffer): void {
    const connection = this.connection;
    const vhost = connection.vhost;
    const check = checkUpgradeRequest(head);
    if (!check.ok) {
      this.refuse(check.status, check.message, check.headers);
      return;
    }
    const request = check.request;
    connection.path = request.path;
    connection.setHeaders(head.headers);
    let served = vhost.protocolNames;
    let fallback = vhost.defaultProtocol.name;
    if (this.routes) {
      const pathname = request.path.split("?", 1)[0]!;
      const route = this.routes.get(pathname);
      if (!route) {
        this.refuse(404, `no WebSocket service at ${pathname}`);
        return;
      }
      served = route;
      fallback = route[0]!;
    }
    const selected = selectSubprotocol(request.offeredProtocols, served, fallback);
    if (!selected.ok) {
      this.refuse(selected.status, selected.message);
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
    if (refused) {
      this.refuse(403, `connection refused by protocol "${protocol.name}"`);
      return;
    }
    const extensions = negotiateExtensions(request.offeredExtensions, protocol.extensions ?? []);
    connection.extensions = extensions.negotiated;
    const response = buildAcceptResponse(request.key, selected.protocol, extensions.responseHeader);
    connection.writeOut([response], response.length);
    const session = new WsSession(sessionOptions("server", protocol, extensions.negotiated, null), connection);
    connection.establish(session, rest.length > 0 ? rest : null);
  }

  private refuse(status: number, message: string, headers: Array<[string, string]> = []): void {
    const connection = this.connection;
    connection.context.logger.info(`connection ${connection.id}: handshake refused with ${status}: ${message}`);
    connection.setHeaders(null);
    connection.respondAndEnd(buildRejectResponse(status, message, headers));
  }
}
