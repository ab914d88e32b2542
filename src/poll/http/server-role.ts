/**
 * The server's HTTP/1.1 role on one connection: the request reader.
 *
 * It reads one request at a time: the head (bounded by the vhost's maxHeadBytes), then
 * the body (Content-Length or chunked, bounded by maxBodyBytes), handing both to the
 * dispatcher (dispatch.ts), which picks the vhost, the mount and the protocol. Bytes
 * that arrive after a complete request (a pipelined next one) are held and the
 * connection stops reading, so responses go out in request order and a client that
 * pipelines a thousand requests costs one held chunk. The next request is read once the
 * current response is complete and every byte of it has been taken by the transport.
 *
 * An upgrade request leaves this role for the WebSocket handshake (server-upgrade.ts);
 * with the vhost's raw fallback, first bytes that cannot start a request make the
 * connection RAW (raw-role.ts).
 *
 * Timers: the request timer (vhost timeouts.requestMs) runs from a request's first byte
 * (the first request's: from accept) until its body is in; over it → 408. Between
 * requests the keep-alive timer (timeouts.keepAliveMs) closes an idle connection.
 */
import { usage } from "../../core/errors.js";
import { requestBodyFraming, LengthDecoder, type BodyDecoder } from "../../core/http/body.js";
import { ChunkedDecoder } from "../../core/http/chunked.js";
import { errorPage } from "../../core/http/error-page.js";
import { RequestHeadParser, type HttpRequestHead } from "../../core/http/head-parser.js";
import { splitAbsoluteForm } from "../../core/handshake/server-handshake.js";
import { parseRequestPath } from "../../core/http/request-path.js";
import { buildResponseHead, type HeadersInit } from "../../core/http/response-head.js";
import { sniffHttp } from "../../core/http/method-sniff.js";
import { matchVhostName } from "../../core/vhost-match.js";
import type { Connection } from "../connection.js";
import type { CloseData } from "../events.js";
import type { HandshakeRole } from "../handshake-role.js";
import type { ProtocolDefinition } from "../protocol.js";
import { acceptUpgrade } from "../server-upgrade.js";
import { Timer } from "../timer-queue.js";
import type { ResolvedRoutes, Vhost } from "../vhost.js";
import { dispatch } from "./dispatch.js";
import { serveErrorDocument, stylesheetFor, type FileStream } from "./file-server.js";
import { becomeRaw } from "./raw-role.js";
import { endChunkedBody, writeBody, writeHead, writeWhole, type HttpHeadOptions } from "./response-writer.js";
import { HttpTransaction, isGone, type HttpRequestInfo } from "./transaction.js";

export type { HttpHeadOptions, HttpRequestInfo };

type Phase =
  /** Reading a request head (or waiting for one). */
  | "head"
  /** Reading the request body. */
  | "body"
  /** The request is in; its response is not complete yet. Input is held. */
  | "wait"
  /** Handed over (upgrade, raw) or failed: this role reads nothing more. */
  | "gone";

/** The host an upgrade's absolute-form target names; null for origin-form, or an authority with no usable host. */
function absoluteFormHost(target: string): string | null {
  if (target.startsWith("/")) return null;
  const host = splitAbsoluteForm(target)?.authority;
  return host === undefined || host === "" || host.includes("@") ? null : host;
}

const CONTINUE = Buffer.from("HTTP/1.1 100 Continue\r\n\r\n", "latin1");

export class HttpServerRole implements HandshakeRole {
  readonly kind = "http-server";
  private phase: Phase = "head";
  private parser: RequestHeadParser;
  /** Bytes of the current head received so far (0: nothing of a request yet). */
  private headBytes = 0;
  private held: Buffer | null = null;
  private body: BodyDecoder | null = null;
  private tx: HttpTransaction | null = null;
  private transactions = 0;
  /** The response is complete; the next request waits until every byte of it is out. */
  private awaitingFlush = false;
  /** The peer ended its side after a complete request: answer it, then close. */
  private peerEnded = false;
  private stream: FileStream | null = null;
  /** The protocol HTTP callbacks go to, and whether a CALLBACK mount bound it. */
  private bound: { protocol: ProtocolDefinition<unknown>; byMount: boolean } | null = null;
  /** Raw fallback: the first bytes are kept until they show whether they start a request. */
  private sniffing: Buffer | null;
  private readonly requestTimer = new Timer(() => this.onRequestTimeout());
  /** Made when a response completes: most connections (every WebSocket) never wait for a second request. */
  private keepAliveTimer: Timer | null = null;

  constructor(
    readonly connection: Connection,
    /** The vhosts sharing the listener; the Host header picks one, the first is the default. */
    private readonly group: readonly Vhost[],
    /** WebSocket routes given at adopt, instead of the chosen vhost's. */
    private readonly routes: ResolvedRoutes | null,
  ) {
    this.parser = this.newParser();
    this.sniffing = group[0]!.rawFallbackProtocol ? Buffer.alloc(0) : null;
    this.arm(this.requestTimer, connection.vhost.timeouts.requestMs);
  }

  /** The request being answered, until its transaction completes. */
  get currentRequest(): HttpRequestInfo | null {
    return this.tx && !this.tx.completed ? this.tx.request : null;
  }

  // ---- HandshakeRole ------------------------------------------------------------------

  onConnected(): void {
    // Server connections arrive connected.
  }

  onData(chunk: Buffer): void {
    if (this.phase === "gone") return;
    let input = chunk;
    if (this.sniffing) {
      const seen = this.sniffing.length > 0 ? Buffer.concat([this.sniffing, chunk]) : chunk;
      const verdict = sniffHttp(seen);
      if (verdict === "undecided") {
        // At most a method's length: a request line's first word.
        this.sniffing = Buffer.from(seen);
        return;
      }
      this.sniffing = null;
      if (verdict === "raw") {
        this.phase = "gone";
        this.cancelTimers();
        becomeRaw(this.connection, this.group[0]!.rawFallbackProtocol!, seen);
        return;
      }
      input = seen;
    }
    this.consume(input);
  }

  wantsRead(): boolean {
    return this.phase !== "gone" && this.phase !== "wait" && this.held === null && !this.peerEnded;
  }

  wantsWrite(): boolean {
    return this.awaitingFlush || this.stream !== null;
  }

  onWriteable(): void {
    if (this.awaitingFlush) {
      if (this.connection.pendingOutput === 0) {
        this.awaitingFlush = false;
        this.afterResponse();
      }
      return;
    }
    if (this.stream) {
      this.stream.pump();
      return;
    }
    if (this.connection.takeWriteableRequest()) {
      if (this.tx) this.tx.taken = true;
      this.connection.runWriteable("HTTP_WRITEABLE");
    }
  }

  hasHeldInput(): boolean {
    return this.held !== null && this.phase !== "wait" && this.phase !== "gone";
  }

  serviceForced(): void {
    if (!this.hasHeldInput() || !this.connection.rxFlowEnabled) return;
    const input = this.held!;
    this.held = null;
    this.consume(input);
    this.dirty();
  }

  onEnd(): boolean {
    // A client may end its side once its request is sent (HTTP/1.0 style): it still gets
    // its answer, then the connection closes. Anywhere else the end is the end.
    if (this.tx && !this.tx.completed && this.phase === "wait") {
      this.peerEnded = true;
      this.dirty();
      return true;
    }
    return false;
  }

  onFinish(_info: CloseData): boolean {
    this.phase = "gone";
    this.cancelTimers();
    this.stream?.abort();
    this.stream = null;
    if (this.transactions > 0) this.connection.emitConnection({ reason: "CLOSED_HTTP", connection: this.connection });
    if (this.bound?.byMount) this.connection.emitConnection({ reason: "HTTP_DROP_PROTOCOL", connection: this.connection });
    this.bound = null;
    return true;
  }

  // ---- reading requests ---------------------------------------------------------------

  private consume(chunk: Buffer): void {
    let input = chunk;
    let offset = 0;
    // A body that ended with the last byte of the input still has its completion to tell.
    while (offset < input.length || (this.phase === "body" && this.body!.done)) {
      if (isGone(this.connection)) return;
      switch (this.phase) {
        case "gone":
          return;
        case "wait":
          this.held = input.subarray(offset);
          this.dirty();
          return;
        case "head": {
          if (this.headBytes === 0) {
            // The first byte of a request: from now on it must arrive within requestMs.
            this.cancel(this.keepAliveTimer);
            if (this.transactions > 0) this.arm(this.requestTimer, this.connection.vhost.timeouts.requestMs);
          }
          const piece = offset === 0 ? input : input.subarray(offset);
          this.headBytes += piece.length;
          const result = this.parser.push(piece);
          if (result.kind === "incomplete") return;
          if (result.kind === "error") {
            this.fail(result.status, result.message);
            return;
          }
          input = result.rest;
          offset = 0;
          this.onHead(result.head, result.rest);
          break;
        }
        case "body": {
          if (!this.connection.rxFlowEnabled) {
            // rx flow control: the rest waits for setRxFlowControl(true) (forced service).
            this.held = input.subarray(offset);
            this.dirty();
            return;
          }
          const step = this.body!.next(input, offset);
          if (step.kind === "more") return;
          if (step.kind === "error") {
            this.fail(step.status, step.message);
            return;
          }
          offset = step.end;
          if (step.kind === "done") {
            this.onBodyDone();
            break;
          }
          this.deliverBody(step.data);
          break;
        }
      }
    }
  }

  private onHead(head: HttpRequestHead, rest: Buffer): void {
    const connection = this.connection;
    this.headBytes = 0;
    const hosts = head.headers.getAll("host");
    const hostHeader = hosts.length === 1 ? hosts[0]! : null;
    if (head.headers.tokens("upgrade").includes("websocket")) {
      // The WebSocket handshake reads its own target (undecoded: the path is the
      // protocol's); all that matters here is the host an absolute-form target names.
      this.selectVhost(absoluteFormHost(head.target) ?? hostHeader);
      this.handOverToWebSocket(head, rest);
      return;
    }
    const target = parseRequestPath(head.target === "*" ? "/" : head.target);
    this.selectVhost((target.ok ? target.host : null) ?? hostHeader);
    if (hosts.length > 1) return this.fail(400, `${hosts.length} Host headers; exactly one is allowed`);
    if (head.versionMinor >= 1 && hosts.length === 0) return this.fail(400, "missing Host header (required in HTTP/1.1)");
    const framing = requestBodyFraming(head);
    if (framing.kind === "error") return this.fail(framing.status, framing.message);
    const vhost = connection.vhost;
    if (framing.kind === "length" && framing.length > vhost.maxBodyBytes) {
      return this.fail(413, `body of ${framing.length} bytes is over the limit of ${vhost.maxBodyBytes}`);
    }
    const request: HttpRequestInfo = {
      method: head.method,
      path: target.ok ? target.path : "/",
      query: target.ok ? target.query : "",
      headers: head.headers,
      version: `1.${head.versionMinor}`,
      mountpoint: null,
      target: head.target,
    };
    const connectionTokens = head.headers.tokens("connection");
    const keepAlive = head.versionMinor >= 1 ? !connectionTokens.includes("close") : connectionTokens.includes("keep-alive");
    const tx = new HttpTransaction(request, keepAlive, framing.kind !== "none");
    this.tx = tx;
    this.transactions++;
    this.awaitingFlush = false;
    connection.setState("http");
    connection.setHeaders(head.headers);
    connection.path = head.target;
    if (framing.kind === "none") {
      this.requestIn();
    } else {
      this.body =
        framing.kind === "length"
          ? new LengthDecoder(framing.length)
          : new ChunkedDecoder({ maxBodyBytes: vhost.maxBodyBytes });
      this.phase = "body";
    }

    const expect = head.headers.get("expect");
    if (expect !== undefined && head.versionMinor >= 1) {
      if (expect.trim().toLowerCase() !== "100-continue") return this.libraryError(tx, 417, `expectation ${JSON.stringify(expect)} is not supported`);
      tx.expectsContinue = tx.hasBody;
    }
    if (!target.ok) return this.libraryError(tx, target.status, target.message);
    if (head.target === "*") {
      if (head.method !== "OPTIONS") return this.libraryError(tx, 400, `"*" is a request-target for OPTIONS only`);
      tx.userHandled = false;
      this.respond(204, { Allow: "GET, HEAD, POST, PUT, DELETE, OPTIONS" }, null);
      return;
    }
    dispatch(this, tx);
  }

  private deliverBody(data: Buffer): void {
    const tx = this.tx!;
    if (!tx.userHandled || tx.completed) return;
    this.connection.emitConnection({ reason: "HTTP_BODY", connection: this.connection, data });
    this.noteTaken(tx);
  }

  private onBodyDone(): void {
    this.body = null;
    const tx = this.tx!;
    this.requestIn();
    if (tx.completed) return;
    if (tx.userHandled) {
      this.connection.emitConnection({ reason: "HTTP_BODY_COMPLETION", connection: this.connection });
      if (isGone(this.connection)) return;
      this.noteTaken(tx);
      this.answerIfUntaken(tx);
    }
  }

  /** The request (head and body) is all in: stop its timer and hold what follows. */
  private requestIn(): void {
    this.cancel(this.requestTimer);
    this.phase = "wait";
    this.dirty();
  }

  // ---- used by dispatch ------------------------------------------------------------------

  /** @internal After a callback: did it take the request up? */
  noteTaken(tx: HttpTransaction): void {
    if (tx.headSent || tx.completed || this.connection.hasWriteableRequest) tx.taken = true;
  }

  /** @internal A request nobody took up is answered 404 (lws's dummy HTTP callback does the same). */
  answerIfUntaken(tx: HttpTransaction): void {
    if (tx.taken || tx.completed || isGone(this.connection)) return;
    tx.userHandled = false;
    this.respondError(404, `nothing is served at ${tx.request.path}`);
  }

  /** @internal The client is waiting for 100 Continue before its body: the protocol wants it, say so. */
  sendContinue(tx: HttpTransaction): void {
    if (!tx.expectsContinue || tx.headSent || tx.completed || this.phase !== "body") return;
    tx.expectsContinue = false;
    this.connection.writeOut([CONTINUE], CONTINUE.length);
  }

  /**
   * @internal Route HTTP callbacks to `protocol`. A CALLBACK mount's binding is
   * announced (HTTP_BIND_PROTOCOL) and ended (HTTP_DROP_PROTOCOL) when a request goes
   * elsewhere, as lws does; the user data is made afresh for each binding.
   */
  bind(protocol: ProtocolDefinition<unknown>, byMount: boolean, path: string): void {
    const current = this.bound;
    if (current && current.protocol === protocol && current.byMount === byMount) return;
    if (current?.byMount) this.connection.emitConnection({ reason: "HTTP_DROP_PROTOCOL", connection: this.connection });
    if (isGone(this.connection)) return;
    this.connection.bindProtocol(protocol);
    this.bound = { protocol, byMount };
    if (byMount) this.connection.emitConnection({ reason: "HTTP_BIND_PROTOCOL", connection: this.connection, path });
  }

  /** @internal The library answers this request itself (files, redirects). */
  startStream(stream: FileStream): void {
    this.stream = stream;
    this.dirty();
  }

  /** @internal */
  endStream(): void {
    this.stream = null;
    this.dirty();
  }

  // ---- responses (the connection's HTTP methods land here) -----------------------------------

  writeHead(status: number, headers: HeadersInit | undefined, options: HttpHeadOptions): void {
    writeHead(this.connection, this.current("writeHttpHead"), status, headers, options);
  }

  writeBody(data: Uint8Array, final: boolean): void {
    writeBody(this.connection, this.current("writeHttp"), data, final);
  }

  respond(status: number, headers: HeadersInit | undefined, body: Uint8Array | null): void {
    const tx = this.current("respond");
    writeWhole(this.connection, tx, status, headers, body);
    this.complete();
  }

  respondError(status: number, message?: string): void {
    this.respondErrorWith(status, message, undefined);
  }

  /** @internal respondError with headers the status calls for (Allow, Content-Range). */
  respondErrorWith(status: number, message: string | undefined, headers: Record<string, string> | undefined): void {
    const tx = this.current("respondError");
    if (tx.headSent) throw usage("INVALID_STATE", `respondError(${status}) after the response head was written`);
    if (!Number.isInteger(status) || status < 400 || status > 599) {
      throw usage("INVALID_ARGUMENT", `respondError needs a 4xx or 5xx status, got ${String(status)}`);
    }
    if (status === 404 && serveErrorDocument(this, tx)) return;
    const page = errorPage(status, message, stylesheetFor(this.connection));
    this.respond(status, { ...headers, "Content-Type": "text/html; charset=utf-8" }, page);
  }

  redirect(status: number, location: string): void {
    if (![301, 302, 303, 307, 308].includes(status)) {
      throw usage("INVALID_ARGUMENT", `a redirect status is 301, 302, 303, 307 or 308, got ${String(status)}`);
    }
    this.respond(status, { Location: location }, null);
  }

  /** lws_http_transaction_completed. */
  complete(): void {
    const tx = this.current("transactionCompleted");
    const connection = this.connection;
    tx.completed = true;
    this.stream?.abort();
    this.stream = null;
    if (!tx.headSent) {
      connection.context.logger.info(`connection ${connection.id}: transaction completed without a response; closing`);
      connection.close();
      return;
    }
    if (!tx.bodyDone) endChunkedBody(connection, tx);
    // A body cut short, or a request body not read to its end (its rest would be read
    // as the next request): the peer learns where this ends from the close.
    if (!tx.bodyDone || this.phase === "body" || this.peerEnded) tx.keepAlive = false;
    if (!tx.keepAlive) {
      this.phase = "gone";
      this.cancelTimers();
      connection.close();
      return;
    }
    if (connection.pendingOutput > 0) {
      this.awaitingFlush = true;
      this.dirty();
      return;
    }
    this.afterResponse();
  }

  /** The response is complete and out: on to the next request. */
  private afterResponse(): void {
    if (this.phase !== "wait" || isGone(this.connection)) return;
    this.tx = null;
    this.phase = "head";
    this.parser = this.newParser();
    this.headBytes = 0;
    this.connection.setHeaders(null);
    if (this.held) this.connection.context.markForced(this.connection);
    else this.arm((this.keepAliveTimer ??= new Timer(() => this.onKeepAliveTimeout())), this.connection.vhost.timeouts.keepAliveMs);
    this.dirty();
  }

  private current(what: string): HttpTransaction {
    const tx = this.tx;
    if (!tx || tx.completed) throw usage("INVALID_STATE", `${what}() on connection ${this.connection.id}, which is not serving an HTTP request`);
    return tx;
  }

  // ---- failures and timeouts ---------------------------------------------------------------

  /** The library answers an error inside a transaction (the request was readable). */
  private libraryError(tx: HttpTransaction, status: number, message: string): void {
    tx.userHandled = false;
    this.respondError(status, message);
  }

  /**
   * The request cannot be read on (a bad head, a bad body, a timeout): answer the status
   * if no response has started, then close. Nothing after it can be trusted to be a request.
   */
  private fail(status: number, message: string): void {
    const connection = this.connection;
    connection.context.logger.info(`connection ${connection.id}: HTTP request refused with ${status}: ${message}`);
    this.phase = "gone";
    this.held = null;
    this.cancelTimers();
    this.stream?.abort();
    this.stream = null;
    if (this.tx?.headSent) {
      connection.close();
      return;
    }
    if (this.tx) this.tx.completed = true;
    const page = errorPage(status, message, stylesheetFor(connection));
    const head = buildResponseHead(status, [
      ["Content-Type", "text/html; charset=utf-8"],
      ["Content-Length", String(page.length)],
      ["Connection", "close"],
    ]);
    connection.respondAndEnd(Buffer.concat([head, page]));
  }

  private onRequestTimeout(): void {
    const connection = this.connection;
    if (this.phase === "gone" || isGone(connection)) return;
    if (this.transactions === 0 && this.phase === "head" && this.headBytes === 0) {
      // Nothing was ever sent: there is no one to answer, as before any handshake.
      const cause = "no complete upgrade request or HTTP request";
      connection.context.logger.info(`connection ${connection.id}: timed out: ${cause}`);
      connection.transport.destroy();
      connection.finish({ code: 1006, closeReason: `timed out: ${cause}`, clean: false });
      return;
    }
    this.fail(408, `the request did not arrive within ${connection.vhost.timeouts.requestMs} ms`);
  }

  private onKeepAliveTimeout(): void {
    if (this.phase !== "head" || this.headBytes > 0 || isGone(this.connection)) return;
    this.phase = "gone";
    this.connection.close();
  }

  // ---- helpers -------------------------------------------------------------------------

  private selectVhost(requested: string | null): void {
    if (this.group.length < 2 || requested === null) return;
    const index = matchVhostName(requested, this.group.map((v) => v.name));
    const vhost = this.group[index >= 0 ? index : 0]!;
    if (vhost === this.connection.vhost) return;
    this.connection.moveToVhost(vhost);
    // HTTP callbacks of the new vhost go to its own first protocol.
    if (this.bound && !this.bound.byMount) this.bound = null;
  }

  private handOverToWebSocket(head: HttpRequestHead, rest: Buffer): void {
    const connection = this.connection;
    this.phase = "gone";
    this.cancelTimers();
    if (this.bound?.byMount) connection.emitConnection({ reason: "HTTP_DROP_PROTOCOL", connection });
    this.bound = null;
    if (isGone(connection)) return;
    connection.setState("handshake");
    acceptUpgrade(connection, head, rest, this.routes ?? connection.vhost.routes);
  }

  private newParser(): RequestHeadParser {
    return new RequestHeadParser({ maxHeadBytes: this.connection.vhost.maxHeadBytes });
  }

  private arm(timer: Timer, ms: number): void {
    const timers = this.connection.context.timers;
    if (ms > 0) timers.arm(timer, this.connection.context.clock.now() + ms);
    else timers.cancel(timer);
  }

  private cancel(timer: Timer | null): void {
    this.connection.context.timers.cancel(timer);
  }

  private cancelTimers(): void {
    this.cancel(this.requestTimer);
    this.cancel(this.keepAliveTimer);
  }

  private dirty(): void {
    this.connection.context.markDirty(this.connection);
  }
}
