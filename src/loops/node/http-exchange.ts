/**
 * One request that an http.Server (or https.Server) has parsed, carried to the context
 * as a transport of its own, so that wsloop's HTTP role — mounts, CALLBACK protocols,
 * FILE serving — answers requests arriving at a server someone else owns (Express's,
 * Fastify's), on the same port as its routes.
 *
 * Node keeps the socket: its parser owns it (keep-alive, pipelining), and a plain
 * request, unlike an upgrade, is never handed over. So the exchange is bridged: the
 * context reads the request as bytes (the head rebuilt from rawHeaders with
 * `Connection: close`, the body from the IncomingMessage, chunked again when it came
 * chunked) and writes its response as bytes, which are parsed back into
 * `res.writeHead()` and `res.write()` (Node frames the body again). The context closes
 * the connection after its one transaction; the transport's end is `res.end()`. Both
 * directions keep flow control: POLLIN only while the request has bytes, POLLOUT only
 * while `res.write()` has not asked to wait for 'drain'.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { LengthDecoder, CloseDelimitedDecoder, responseBodyFraming, type BodyDecoder } from "../../core/http/body.js";
import { ChunkedDecoder } from "../../core/http/chunked.js";
import { ResponseHeadParser } from "../../core/http/head-parser.js";
import { POLLERR, POLLHUP, POLLIN, POLLOUT } from "../../poll/pollfd.js";
import { END_OF_STREAM, type EndOfStream, type PeerAddress, type Transport } from "../../poll/transport.js";

/** Request header fields the bridge does not forward: hop-by-hop, or framing it redoes. */
const DROPPED_REQUEST = new Set(["connection", "keep-alive", "transfer-encoding", "content-length", "expect", "upgrade", "te", "trailer"]);
/** Response header fields Node decides itself. */
const DROPPED_RESPONSE = new Set(["connection", "keep-alive", "transfer-encoding"]);

export class HttpExchangeTransport implements Transport {
  onReadiness: (() => void) | null = null;
  readonly remote: PeerAddress | null;
  readonly connecting = false;
  private failure: Error | null = null;
  private readonly incoming: Buffer[] = [];
  private readonly chunked: boolean;
  private requestEnded = false;
  private interest = POLLIN | POLLOUT;
  private waitingForDrain = false;
  private head = new ResponseHeadParser({ maxHeadBytes: 64 * 1024 });
  private decoder: BodyDecoder | null = null;
  private headSent = false;
  private finished = false;

  constructor(
    private readonly request: IncomingMessage,
    private readonly response: ServerResponse,
  ) {
    const socket = request.socket;
    this.remote = socket.remoteAddress
      ? { address: socket.remoteAddress, port: socket.remotePort ?? 0, family: socket.remoteFamily === "IPv6" ? "IPv6" : "IPv4" }
      : null;
    const lines = [`${request.method} ${request.url} HTTP/${request.httpVersion}`];
    const raw = request.rawHeaders;
    for (let i = 0; i + 1 < raw.length; i += 2) {
      if (!DROPPED_REQUEST.has(raw[i]!.toLowerCase())) lines.push(`${raw[i]}: ${raw[i + 1]}`);
    }
    const length = request.headers["content-length"];
    this.chunked = length === undefined && request.headers["transfer-encoding"] !== undefined;
    if (length !== undefined) lines.push(`Content-Length: ${length}`);
    if (this.chunked) lines.push("Transfer-Encoding: chunked");
    lines.push("Connection: close");
    this.incoming.push(Buffer.from(`${lines.join("\r\n")}\r\n\r\n`, "latin1"));

    request.on("data", (data: Buffer) => {
      this.incoming.push(this.chunked ? Buffer.concat([Buffer.from(`${data.length.toString(16)}\r\n`), data, Buffer.from("\r\n")]) : data);
      if (!(this.interest & POLLIN)) request.pause();
      this.notify();
    });
    request.on("end", () => {
      this.requestEnded = true;
      if (this.chunked) this.incoming.push(Buffer.from("0\r\n\r\n"));
      this.notify();
    });
    response.on("drain", () => {
      this.waitingForDrain = false;
      this.notify();
    });
    response.on("close", () => {
      // The client went away before the response was done.
      if (!this.finished && !response.writableFinished) {
        this.failure ??= new Error("the client closed the connection");
        this.notify();
      }
    });
  }

  setInterest(events: number): void {
    this.interest = events;
    if (events & POLLIN) {
      if (this.request.isPaused() && !this.requestEnded) this.request.resume();
    }
  }

  poll(): number {
    if (this.failure) return POLLERR | POLLHUP;
    let events = 0;
    if (this.incoming.length > 0) events |= POLLIN;
    if (!this.waitingForDrain && !this.finished) events |= POLLOUT;
    return events;
  }

  read(): Buffer | null | EndOfStream {
    const next = this.incoming.shift();
    if (next) return next;
    // The request's end is not the client hanging up: it waits for the response.
    return this.failure ? END_OF_STREAM : null;
  }

  write(chunks: readonly Uint8Array[]): number {
    if (this.finished || this.failure || this.waitingForDrain) return 0;
    let taken = 0;
    for (const chunk of chunks) {
      const bytes = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      taken += bytes.length;
      if (!this.take(bytes)) break;
    }
    return taken;
  }

  /** Parse response bytes into the ServerResponse; false once nothing more is wanted. */
  private take(bytes: Buffer): boolean {
    let body = bytes;
    while (!this.decoder) {
      const r = this.head.push(body);
      if (r.kind === "incomplete") return true;
      if (r.kind === "error") return this.fail(new Error(`the context's response: ${r.message}`));
      const { status, reason, headers } = r.head;
      body = r.rest;
      if (status >= 100 && status < 200) {
        // An interim response: skipped (Expect is not forwarded; Node answers it).
        this.head = new ResponseHeadParser({ maxHeadBytes: 64 * 1024 });
        continue;
      }
      const framing = responseBodyFraming(this.request.method ?? "GET", status, headers);
      if (framing.kind === "error") return this.fail(new Error(`the context's response: ${framing.message}`));
      this.decoder =
        framing.kind === "chunked" ? new ChunkedDecoder() : framing.kind === "length" ? new LengthDecoder(framing.length) : framing.kind === "close" ? new CloseDelimitedDecoder() : new LengthDecoder(0);
      const flat: string[] = [];
      for (const [name, value] of headers) if (!DROPPED_RESPONSE.has(name.toLowerCase())) flat.push(name, value);
      this.response.writeHead(status, reason, flat);
      this.headSent = true;
    }
    let at = 0;
    while (at < body.length && !this.decoder.done) {
      const step = this.decoder.next(body, at);
      if (step.kind === "data") {
        if (!this.response.write(step.data)) this.waitingForDrain = true;
        at = step.end;
      } else if (step.kind === "more" || step.kind === "done") {
        break;
      } else {
        return this.fail(new Error(`the context's response body: ${step.message}`));
      }
    }
    return !this.waitingForDrain;
  }

  end(): void {
    if (this.finished) return;
    this.finished = true;
    if (!this.headSent || (this.decoder && !this.decoder.done && !(this.decoder instanceof CloseDelimitedDecoder))) {
      // The context closed short of a whole response: the client must not take it for one.
      this.response.destroy();
      return;
    }
    this.response.end();
  }

  destroy(): void {
    if (this.finished && this.response.writableFinished) return;
    this.finished = true;
    if (!this.response.writableFinished) this.response.destroy();
  }

  get error(): Error | null {
    return this.failure;
  }

  private fail(error: Error): false {
    this.failure ??= error;
    this.notify();
    return false;
  }

  private notify(): void {
    this.onReadiness?.();
  }
}
