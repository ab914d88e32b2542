/**
 * The client side of the opening handshake on one connection: once the transport is
 * connected, send the upgrade request (with headers the protocol appends), read the
 * answer with bounded memory, check it, let the protocol filter it, and establish.
 */
import { ResponseHeadParser, type HttpResponseHead } from "../core/http/head-parser.js";
import { buildClientRequest, checkServerResponse } from "../core/handshake/client-handshake.js";
import type { ExtensionNegotiator } from "../core/handshake/extension.js";
import { WsSession } from "../core/ws-session.js";
import type { Connection } from "./connection.js";
import type { ResolvedConnectInfo } from "./connect-info.js";
import type { HandshakeRole } from "./handshake-role.js";
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
    connection.enterHandshake();
    const headers: Array<[string, string]> = [...this.info.headers];
    const refused = connection.emitConnection({
      reason: "CLIENT_APPEND_HANDSHAKE_HEADER",
      connection,
      addHeader: (name: string, value: string) => {
        headers.push([name, value]);
      },
    });
    if (refused) {
      connection.failClient(new Error("the protocol refused to send the handshake (CLIENT_APPEND_HANDSHAKE_HEADER)"));
      return;
    }
    let request: ReturnType<typeof buildClientRequest>;
    try {
      request = buildClientRequest({
        path: this.info.path,
        host: this.info.host,
        ...(this.info.origin !== undefined ? { origin: this.info.origin } : {}),
        protocols: this.info.protocols,
        extensions: connection.protocol.extensions ?? [],
        headers,
      });
    } catch (error) {
      connection.failClient(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    this.sent = request;
    this.parser = new ResponseHeadParser({ maxHeadBytes: connection.vhost.maxHeadBytes });
    connection.armStateTimer(connection.vhost.timeouts.handshakeMs, "no answer to the upgrade request");
    connection.writeOut([request.bytes], request.bytes.length);
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
    connection.extensions = check.extensions;
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
