/**
 * The client's HTTP/1.1 role (lws's client connections with info.method set): send the
 * request, read the response head with bounded memory, deliver the body as it comes
 * (Content-Length, chunked, or until the close) and say when it is complete. rx flow
 * control holds the rest of a chunk back, so TCP pushes back on the server.
 *
 * A request body is either whole (written with the head) or streamed by the protocol,
 * a piece per CLIENT_HTTP_WRITEABLE under the write ladder (lws's
 * lws_client_http_body_pending). The response is read all along: a server may answer
 * before the body is finished (413, 401); then no more of it is asked for and the
 * connection ends with the response, since the server can no longer tell where our
 * request ends.
 *
 * Redirects are followed when asked, up to a limit: the connection moves to a new
 * transport (the new location may be another host) and the user sees only the final
 * response. A streamed body cannot be sent again, so a redirect that would keep it is
 * the final response. Requests say "Connection: close" unless pipelined.
 */
import { CloseDelimitedDecoder, LengthDecoder, responseBodyFraming, type BodyDecoder } from "../../core/http/body.js";
import { ChunkedDecoder } from "../../core/http/chunked.js";
import { usage } from "../../core/errors.js";
import { ResponseHeadParser, type HttpResponseHead } from "../../core/http/head-parser.js";
import { assertHeaderField } from "../../core/http/headers.js";
import { sendClientRequest } from "../client-request.js";
import type { Connection } from "../connection.js";
import type { ResolvedConnectInfo } from "../connect-info.js";
import type { CloseData } from "../events.js";
import type { HandshakeRole } from "../handshake-role.js";
import { END_OF_STREAM } from "../transport.js";
import { RequestBody } from "./client-body.js";
import { isGone } from "./transaction.js";

/** Headers the request writes itself. */
const OWNED = ["host", "content-length", "transfer-encoding", "connection"];

/** Timeout causes: the handshake timeout bounds each wait for a piece of the body, then the wait for the answer. */
const NO_ANSWER = "no answer to the HTTP request";
const BODY_STALLED = "no piece of the request body was written";

export class HttpClientRole implements HandshakeRole {
  readonly kind = "http-client";
  private parser: ResponseHeadParser | null = null;
  private body: BodyDecoder | null = null;
  private held: Buffer | null = null;
  private status = 0;
  private redirects = 0;
  private established = false;
  private completed = false;
  /** The server hung up; what it sent is in `held`, to be delivered first. */
  private endPending = false;

  /** Pipelined requests to the same server waiting for this connection's transport. */
  private queue: Connection[] = [];
  /** The response allows another request on this connection (pipelining). */
  private reusable = false;
  /** The streamed request body still being written; null when there is none (left). */
  private outgoing: RequestBody | null = null;
  /** The server answered before the streamed body was finished: the rest is never sent. */
  private bodyCut = false;

  constructor(
    private readonly connection: Connection,
    private info: ResolvedConnectInfo,
  ) {}

  /** May another pipelined request wait for this connection? (Not once its response said no.) */
  get canQueue(): boolean {
    return !this.completed && !isGone(this.connection) && (!this.established || this.reusable);
  }

  enqueue(connection: Connection): void {
    this.queue.push(connection);
  }

  get method(): string {
    return this.info.method!;
  }

  onConnected(): void {
    const connection = this.connection;
    const info = this.info;
    const streamed = info.bodyLength === null ? null : new RequestBody(info.bodyLength);
    // Set before CLIENT_APPEND_HANDSHAKE_HEADER, where lws users ask for the first WRITEABLE.
    this.outgoing = streamed && !streamed.done ? streamed : null;
    this.bodyCut = false;
    this.parser = sendClientRequest(connection, info, {
      refused: "the protocol refused to send the request (CLIENT_APPEND_HANDSHAKE_HEADER)",
      timeoutCause: this.outgoing ? BODY_STALLED : NO_ANSWER,
      build: (headers) => this.buildRequest(headers, streamed),
    });
  }

  /** The head, and a whole body as the body's one piece. */
  private buildRequest(headers: Array<[string, string]>, streamed: RequestBody | null): Uint8Array[] {
    const info = this.info;
    if (!/^\/[\x21-\x7e]*$/.test(info.path)) throw new Error(`path ${JSON.stringify(info.path)} must be visible ASCII starting with "/"`);
    let text = `${info.method} ${info.path} HTTP/1.1\r\nHost: ${info.host}\r\n`;
    for (const [name, value] of headers) {
      assertHeaderField(name, value);
      if (OWNED.includes(name.toLowerCase())) throw new Error(`header "${name}" is written by the library`);
      text += `${name}: ${value}\r\n`;
    }
    // body and bodyLength exclude each other: at most one of these is set.
    const whole = info.body ? new RequestBody(info.body.length) : null;
    const framing = streamed ?? whole;
    if (framing) text += `${framing.header[0]}: ${framing.header[1]}\r\n`;
    // One request per connection, unless pipelined: then the connection is kept for the next.
    text += this.info.pipeline ? "\r\n" : "Connection: close\r\n\r\n";
    const chunks: Uint8Array[] = [Buffer.from(text, "latin1")];
    if (whole && info.body && info.body.length > 0) whole.encode(chunks, info.body, true);
    return chunks;
  }

  wantsWrite(): boolean {
    return this.outgoing !== null && this.connection.hasWriteableRequest;
  }

  onWriteable(): void {
    const connection = this.connection;
    // A request made when no body is owed is dropped, or it would keep POLLOUT on.
    if (connection.takeWriteableRequest() && this.outgoing) connection.runWriteable("CLIENT_HTTP_WRITEABLE");
  }

  /** @internal connection.writeHttp() on this client: the next piece of the streamed request body. */
  writeBody(data: Uint8Array, final: boolean): void {
    const connection = this.connection;
    const body = this.outgoing;
    if (!body) {
      if (this.bodyCut) throw usage("INVALID_STATE", "the server answered before the request body was complete: the rest is not sent");
      if (this.info.bodyLength === null) {
        throw usage("INVALID_STATE", `connection ${connection.id} has no streamed request body: connect with bodyLength to stream one`);
      }
      throw usage("INVALID_STATE", "the request body is already complete");
    }
    connection.claimWrite("writeHttp", false);
    body.check(data, final);
    // Counted once it is sure to be written: a piece refused for its size leaves the turn unused.
    connection.claimWrite("writeHttp");
    const out: Uint8Array[] = [];
    const bytes = body.encode(out, data, final);
    connection.noteActivity(false);
    connection.writeOut(out, bytes);
    const timeoutMs = connection.vhost.timeouts.handshakeMs;
    if (body.done) {
      this.outgoing = null;
      connection.armStateTimer(timeoutMs, NO_ANSWER);
    } else {
      connection.armStateTimer(timeoutMs, BODY_STALLED);
    }
  }

  wantsRead(): boolean {
    return this.held === null && !this.completed;
  }

  hasHeldInput(): boolean {
    return this.held !== null || (this.endPending && !this.completed);
  }

  serviceForced(): void {
    if (!this.connection.rxFlowEnabled) return;
    if (this.held) {
      const input = this.held;
      this.held = null;
      this.consume(input);
      this.connection.context.markDirty(this.connection);
    }
    if (this.endPending && !this.held && !this.completed && !isGone(this.connection)) {
      if (!this.onEnd()) this.fail("the server closed the connection before the end of the response");
    }
  }

  onHangup(): boolean {
    // A server answering "Connection: close" sends its response and hangs up; with rx
    // held back by the protocol the end of the response is still unread. Keep it.
    if (!this.established || this.completed) return false;
    const connection = this.connection;
    const parts = this.held ? [this.held] : [];
    for (;;) {
      const chunk = connection.transport.read();
      if (chunk === null || chunk === END_OF_STREAM) break;
      parts.push(chunk);
    }
    this.held = parts.length > 0 ? Buffer.concat(parts) : null;
    this.endPending = true;
    connection.transport.destroy();
    // Nothing more will come from this transport: stop polling it.
    connection.context.removeConnection(connection);
    if (connection.rxFlowEnabled) connection.context.markForced(connection);
    return true;
  }

  onData(chunk: Buffer): void {
    this.consume(chunk);
  }

  private consume(chunk: Buffer): void {
    let input = chunk;
    let offset = 0;
    while ((offset < input.length || (this.body?.done && !this.parser)) && !this.completed && !isGone(this.connection)) {
      if (this.parser) {
        const result = this.parser.push(offset === 0 ? input : input.subarray(offset));
        if (result.kind === "incomplete") return;
        if (result.kind === "error") return this.fail(`bad HTTP response: ${result.message}`);
        input = result.rest;
        offset = 0;
        this.parser = null;
        if (!this.onHead(result.head)) return;
        continue;
      }
      const step = this.body!.next(input, offset);
      if (step.kind === "more") return;
      if (step.kind === "error") return this.fail(`bad response body: ${step.message}`);
      offset = step.end;
      if (step.kind === "done") {
        this.complete();
        return;
      }
      this.connection.emitConnection({ reason: "RECEIVE_CLIENT_HTTP", connection: this.connection, data: step.data });
      if (!this.connection.rxFlowEnabled && (offset < input.length || this.body!.done) && !isGone(this.connection)) {
        this.held = input.subarray(offset);
        this.connection.context.markDirty(this.connection);
        return;
      }
    }
  }

  /** Returns false when reading this transport is over (a redirect, a refusal). */
  private onHead(head: HttpResponseHead): boolean {
    const connection = this.connection;
    if (head.status >= 100 && head.status < 200) {
      // Interim (100 Continue): the real response follows.
      this.parser = new ResponseHeadParser({ maxHeadBytes: connection.vhost.maxHeadBytes });
      return true;
    }
    if (this.outgoing) {
      // An early answer (a 413, a 401): stop sending. The server cannot tell where the
      // unsent rest would end, so the connection ends with this response.
      this.outgoing = null;
      this.bodyCut = true;
      connection.takeWriteableRequest();
      connection.context.logger.info(`client connection ${connection.id}: the server answered ${head.status} before the request body was complete`);
    }
    const location = head.headers.get("location");
    if ([301, 302, 303, 307, 308].includes(head.status) && location !== undefined && this.redirects < this.info.followRedirects) {
      if (this.info.bodyLength === null || turnsIntoGet(head.status, this.method)) {
        this.followRedirect(head.status, location);
        return false;
      }
      connection.context.logger.info(`client connection ${connection.id}: ${head.status} not followed: a streamed request body cannot be sent again`);
    }
    const framing = responseBodyFraming(this.method, head.status, head.headers);
    if (framing.kind === "error") {
      this.fail(framing.message);
      return false;
    }
    // Pipelining goes on only when the server keeps the connection and says where the body ends.
    this.reusable =
      this.info.pipeline &&
      !this.bodyCut &&
      head.versionMinor >= 1 &&
      !head.headers.tokens("connection").includes("close") &&
      framing.kind !== "close";
    if (!this.reusable) this.detachQueue();
    this.status = head.status;
    this.established = true;
    connection.markEstablished();
    connection.cancelStateTimer();
    connection.setState("http");
    connection.setHeaders(head.headers);
    const refused = connection.emitConnection({ reason: "ESTABLISHED_CLIENT_HTTP", connection, status: head.status, headers: head.headers });
    if (refused || isGone(connection)) return false;
    switch (framing.kind) {
      case "none":
        this.complete();
        return false;
      case "length":
        this.body = new LengthDecoder(framing.length);
        return true;
      case "chunked":
        this.body = new ChunkedDecoder();
        return true;
      case "close":
        this.body = new CloseDelimitedDecoder();
        return true;
    }
  }

  private followRedirect(status: number, location: string): void {
    const info = this.info;
    let target: URL;
    try {
      const base = `${info.tls ? "https" : "http"}://${info.host}${info.path}`;
      target = new URL(location, base);
    } catch {
      this.fail(`redirect to an unusable location ${JSON.stringify(location)}`);
      return;
    }
    if (target.protocol !== "http:" && target.protocol !== "https:") {
      this.fail(`redirect to ${target.protocol}// is not followed`);
      return;
    }
    this.redirects++;
    // The transport is left for another: whoever waited for it connects on their own.
    this.detachQueue();
    this.connection.context.leavePipeline(this.connection, info);
    const secure = target.protocol === "https:";
    const port = target.port ? Number(target.port) : secure ? 443 : 80;
    const toGet = turnsIntoGet(status, info.method!);
    const address = target.hostname.replace(/^\[(.*)\]$/, "$1");
    this.info = {
      ...info,
      address,
      port,
      host: target.host,
      path: `${target.pathname || "/"}${target.search}`,
      method: toGet && info.method !== "HEAD" ? "GET" : info.method,
      body: toGet ? null : info.body,
      bodyLength: toGet ? null : info.bodyLength,
      tls: secure ? (info.tls || { allowSelfSigned: false, skipHostnameCheck: false }) : false,
    };
    this.parser = null;
    this.body = null;
    this.held = null;
    this.connection.context.logger.info(`client connection ${this.connection.id}: following ${status} to ${target.href}`);
    this.connection.context.redial(this.connection, { ...this.info, pipeline: false });
  }

  private complete(): void {
    if (this.completed) return;
    this.completed = true;
    this.held = null;
    const connection = this.connection;
    connection.emitConnection({ reason: "COMPLETED_CLIENT_HTTP", connection, status: this.status });
    if (isGone(connection)) return;
    const next = this.takeQueued();
    if (next && this.reusable && connection.pendingOutput === 0) {
      // The kept-alive transport goes on to the next request; this one is over.
      const rest = this.queue;
      this.queue = [];
      (next.handshake as HttpClientRole).queue.push(...rest);
      connection.context.handOver(connection, next, this.info);
      connection.finish({ code: 1000, closeReason: "", clean: true });
      if (!isGone(next)) next.handshake!.onConnected();
      return;
    }
    if (next) this.queue.unshift(next);
    if (this.bodyCut) {
      // What is owed of the cut body would only be misread: end now, without it.
      connection.transport.end();
      connection.finish({ code: 1000, closeReason: "", clean: true });
      return;
    }
    connection.close();
  }

  private takeQueued(): Connection | undefined {
    while (this.queue.length > 0) {
      const next = this.queue.shift()!;
      if (!isGone(next)) return next;
    }
    return undefined;
  }

  /** Whoever waits for this connection gets one of their own. */
  private detachQueue(): void {
    const queue = this.queue;
    this.queue = [];
    for (const waiting of queue) {
      const role = waiting.handshake as HttpClientRole;
      waiting.context.dialOwn(waiting, role.info);
    }
  }

  onEnd(): boolean {
    // A close-delimited body ends here; any other end before completion is a failure.
    if (this.body instanceof CloseDelimitedDecoder && !this.completed) {
      this.complete();
      return true;
    }
    return false;
  }

  onFail(): void {
    this.detachQueue();
    this.connection.context.leavePipeline(this.connection, this.info);
  }

  onFinish(_info: CloseData): boolean {
    this.detachQueue();
    this.connection.context.leavePipeline(this.connection, this.info);
    if (!this.established) return false;
    this.connection.emitConnection({ reason: "CLOSED_CLIENT_HTTP", connection: this.connection });
    return true;
  }

  private fail(message: string): void {
    const connection = this.connection;
    this.detachQueue();
    connection.context.leavePipeline(connection, this.info);
    if (!this.established) {
      connection.failClient(new Error(message));
      return;
    }
    connection.context.logger.info(`client connection ${connection.id}: ${message}`);
    connection.transport.destroy();
    connection.finish({ code: 1006, closeReason: message, clean: false });
  }
}

/** 303 always, and 301 / 302 after a POST (what browsers do), turn into a GET without body. */
function turnsIntoGet(status: number, method: string): boolean {
  return status === 303 || ((status === 301 || status === 302) && method === "POST");
}
