/**
 * The client side of the opening handshake on one connection: once the transport is
 * connected, send the upgrade request (with headers the protocol appends), read the
 * answer with bounded memory, check it, let the protocol filter it, and establish.
 */
import type { HttpResponseHead, ResponseHeadParser } from "../core/http/head-parser.js";
import { buildClientRequest, checkServerResponse } from "../core/handshake/client-handshake.js";
import type { ExtensionNegotiator } from "../core/handshake/extension.js";
import { WsSession } from "../core/ws-session.js";
import type { Connection } from "./connection.js";
import type { ResolvedConnectInfo } from "./connect-info.js";
import type { HandshakeRole } from "./handshake-role.js";
import { sendClientRequest } from "./client-request.js";
import { sessionOptions } from "./session-options.js";

export class ClientUpgrade implements HandshakeRole {
  private parser: ResponseHeadParser | null = null;
  private sent: { key: string; offeredProtocols: readonly string[]; offeredExtensions: readonly ExtensionNegotiator[] } | null =
    null;

  constructor(
    private readonly connection: Connection,
    private readonly info: ResolvedConnectInfo,
  ) {}

  onConnected(): void {
    const connection = this.connection;
    const info = this.info;
    this.parser = sendClientRequest(connection, info, {
      refused: "the protocol refused to send the handshake (CLIENT_APPEND_HANDSHAKE_HEADER)",
      timeoutCause: "no answer to the upgrade request",
      build: (headers) => {
        const request = buildClientRequest({
          path: info.path,
          host: info.host,
          ...(info.origin !== undefined ? { origin: info.origin } : {}),
          protocols: info.protocols,
          extensions: connection.protocol.extensions ?? [],
          headers,
        });
        this.sent = request;
        return [request.bytes];
      },
    });
  }

  onData(chunk: Buffer): void {
    if (!this.parser) return;
    const result = this.parser.push(chunk);
    if (result.kind === "incomplete") return;
    if (result.kind === "error") {
      this.connection.failClient(new Error(`bad handshake response: ${result.message}`));
      return;
    }
    this.onResponse(result.head, result.rest);
  }

  private onResponse(head: HttpResponseHead, rest: Buffer): void {
    const connection = this.connection;
    const check = checkServerResponse(head, this.sent!);
    if (!check.ok) {
      connection.failClient(Object.assign(new Error(check.message), { status: check.status }));
      return;
    }
    connection.subprotocol = check.protocol;
    if (check.extensions.length > 0) connection.extensions = check.extensions;
    connection.setHeaders(head.headers);
    const refused = connection.emitConnection({
      reason: "CLIENT_FILTER_PRE_ESTABLISH",
      connection,
      headers: head.headers,
      status: head.status,
    });
    if (refused) {
      connection.failClient(new Error("the protocol refused the server's answer (CLIENT_FILTER_PRE_ESTABLISH)"));
      return;
    }
    const session = new WsSession(
      sessionOptions("client", connection.protocol, check.extensions, connection.context.maskSource),
      connection,
    );
    connection.establish(session, rest.length > 0 ? rest : null);
  }
}
