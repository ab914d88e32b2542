/**
 * One connection (lws's wsi): a transport, the role it is in (server handshake, client
 * handshake, WebSocket) and what it owes. The context calls service() with the readiness
 * a loop reported; everything else here is the user-facing API of a connection.
 *
 * Write readiness is a ladder (design notes): a partial write is finished first, then
 * the frames the library owes (close, pong, validity ping), then the user's WRITEABLE.
 */
import { CloseCode } from "../core/close-codes.js";
import { PeerError, usage, type WsloopUsageError } from "../core/errors.js";
import { Opcode } from "../core/frame.js";
import type { HeaderList } from "../core/http/headers.js";
import type { NegotiatedExtension } from "../core/handshake/extension.js";
import { WsSession, type FragmentInfo, type WsSessionEvents } from "../core/ws-session.js";
import type { Context } from "./context.js";
import type { CallbackEvent, CallbackResult, CloseData } from "./events.js";
import { POLLERR, POLLHUP, POLLIN, POLLOUT } from "./pollfd.js";
import type { ProtocolDefinition } from "./protocol.js";
import { Timer } from "./timer-queue.js";
import { END_OF_STREAM, type PeerAddress, type Transport } from "./transport.js";
import type { Vhost } from "./vhost.js";
import type { HandshakeRole } from "./handshake-role.js";
import type { HeadersInit } from "../core/http/response-head.js";
import type { HttpServerRole, HttpHeadOptions, HttpRequestInfo } from "./http/server-role.js";
import type { HttpClientRole } from "./http/client-role.js";

export type ConnectionState =
  /** Client: the transport is still connecting (or connected, until the next service sees it). */
  | "connecting"
  /** Reading the server's upgrade request, or (client) waiting for the 101. */
  | "handshake"
  | "established"
  /** Serving HTTP requests that are not upgrades (between them too, while kept alive). */
  | "http"
  /** A RAW connection: bytes both ways, no protocol of ours on top. */
  | "raw"
  /** The close handshake has begun. */
  | "closing"
  | "closed";

/** Kinds of user write, lws's LWS_WRITE_TEXT / BINARY / CONTINUATION / PING. */
export type WriteKind = "text" | "binary" | "continuation" | "ping";

export interface WriteOptions {
  /** false leaves the message open: continue it with kind "continuation". Default true. */
  fin?: boolean;
  /** permessage-deflate: compress this message or not (default: by the protocol's threshold). */
  compress?: boolean;
}

let nextConnectionId = 1;

/** Where a connection that handed its transport on (or has none yet) points: never ready, takes nothing. */
export const DETACHED: Transport = {
  onReadiness: null,
  poll: () => 0,
  read: () => null,
  write: () => 0,
  end: () => {},
  destroy: () => {},
  remote: null,
  connecting: true,
  error: null,
};

/**
 * Shared empty lists: a connection holds no array of its own until it has something to
 * put in it. Frozen, so a push that forgot to replace it throws instead of sharing.
 */
const NO_EXTENSIONS: readonly NegotiatedExtension[] = Object.freeze([]);
/** `pending` while pendingBytes is 0 (keepUnwritten() gives it a list of its own). */
const NO_CHUNKS = Object.freeze([]) as unknown as Uint8Array[];

/**
 * Times for the idle and validity timers (lws's timeout_idle, ws_ping_pong_interval), made
 * at ESTABLISHED only on a vhost that sets one of them: they change with every read, and
 * V8 keeps each such time in a heap number of its own, so a connection without these
 * timeouts holds none.
 */
interface Liveness {
  lastRx: number;
  lastTraffic: number;
  /** When the validity ping went out; NaN when none is awaiting its pong. */
  pingSentAt: number;
}

export class Connection<U = unknown> implements WsSessionEvents {
  readonly id = nextConnectionId++;
  /** The per-connection user data (lws's per_session_data); made when the protocol is bound. */
  userData!: U;
  /** The protocol this connection is bound to; for servers, settled by the handshake. */
  protocol: ProtocolDefinition<U>;
  /** The subprotocol agreed in the handshake, or null when none was. */
  subprotocol: string | null = null;
  /** The request path (server) or the path asked for (client). */
  path = "";
  /** Extensions agreed in the handshake. */
  extensions: readonly NegotiatedExtension[] = NO_EXTENSIONS;

  /** @internal */ session: WsSession | null = null;
  /** @internal */ handshake: HandshakeRole | null = null;
  private stateValue: ConnectionState;
  private headersValue: HeaderList | null = null;

  // Output: bytes the transport did not take yet, in order.
  private pending: Uint8Array[] = NO_CHUNKS;
  private pendingBytes = 0;
  /** Close the transport once `pending` drains (a rejected handshake, a finished close). */
  private endAfterFlush = false;

  // Input held back by rx flow control (or by a paused session), delivered on resume.
  private heldInput: Buffer | null = null;
  private rxEnabled = true;

  private writeableRequested = false;
  /**
   * The peer broke the protocol while a WRITEABLE was requested: that one WRITEABLE still
   * runs, before our close frame goes out (see onPeerError).
   */
  private writeableBeforeClose = false;
  private inWriteable = false;
  private wroteInWriteable = false;
  private validityPingOwed = false;
  private wasEstablished = false;
  private closeInfo: CloseData | null = null;
  private eventsValue = 0;

  // Timers: one for the current state's deadline (handshake, connect, close-wait),
  // one for traffic (idle and validity), one for the user (TIMER).
  // Made when first armed: an idle connection with no timeouts configured holds none.
  private stateTimerValue: Timer | null = null;
  private activityTimerValue: Timer | null = null;
  private userTimerValue: Timer | null = null;
  private get stateTimer(): Timer {
    return (this.stateTimerValue ??= new Timer(() => this.onStateTimeout()));
  }
  private get activityTimer(): Timer {
    return (this.activityTimerValue ??= new Timer(() => this.onActivityTimer()));
  }
  private get userTimer(): Timer {
    return (this.userTimerValue ??= new Timer(() => this.emitConnection({ reason: "TIMER", connection: this })));
  }
  private stateTimeoutCause = "";
  /** When the peer was last heard, for the idle and validity timers; null when neither is set. */
  private liveness: Liveness | null = null;

  private vhostValue: Vhost;
  private transportValue: Transport;
  private fdValue: number;

  constructor(
    readonly context: Context,
    vhost: Vhost,
    readonly role: "server" | "client",
    transport: Transport,
    fd: number,
    initialProtocol: ProtocolDefinition<U>,
  ) {
    this.transportValue = transport;
    this.fdValue = fd;
    this.vhostValue = vhost;
    this.protocol = initialProtocol;
    // A client always starts "connecting", even on a transport that is already connected
    // or already failed: its first service (POLLOUT, or POLLERR) moves it on, so no
    // callback runs inside context.connect().
    this.stateValue = role === "client" ? "connecting" : "handshake";
  }

  // ---- public API ----------------------------------------------------------------------

  get state(): ConnectionState {
    return this.stateValue;
  }

  /** @internal The transport this connection sits on (a followed redirect moves it to a new one). */
  get transport(): Transport {
    return this.transportValue;
  }

  /** The descriptor number, as announced through the hooks. */
  get fd(): number {
    return this.fdValue;
  }

  /** @internal A client moves to a new transport and descriptor (an HTTP redirect): back to connecting. */
  replaceTransport(transport: Transport, fd: number): void {
    this.transportValue = transport;
    this.fdValue = fd;
    this.pending = NO_CHUNKS;
    this.pendingBytes = 0;
    this.endAfterFlush = false;
    this.heldInput = null;
    this.stateValue = "connecting";
  }

  /** @internal Give up the transport (it went on to another connection): what is left here touches nothing. */
  detachTransport(): void {
    this.transportValue = DETACHED;
    this.fdValue = -1;
  }

  /** The vhost serving this connection; for HTTP, the one the Host header chose. */
  get vhost(): Vhost {
    return this.vhostValue;
  }

  /** The peer's address, as the transport reports it. */
  get peer(): PeerAddress | null {
    return this.transport.remote;
  }

  /**
   * Request headers (server) or response headers (client) of the upgrade. Available
   * until the ESTABLISHED callback returns, then dropped to save memory (as lws does).
   * On HTTP connections: the current request's headers, until its transaction completes
   * (client: the response's, for the whole response).
   */
  get headers(): HeaderList | null {
    return this.headersValue;
  }

  /** Bytes written to this connection that the transport has not taken yet. */
  get bufferedAmount(): number {
    return this.pendingBytes;
  }

  /** Poll events this connection currently asks for. */
  get events(): number {
    return this.eventsValue;
  }

  get rxFlowEnabled(): boolean {
    return this.rxEnabled;
  }

  /**
   * Ask for one WRITEABLE callback (lws_callback_on_writable). Returns false when the
   * connection can no longer be written (closing or closed).
   */
  requestWriteable(): boolean {
    if (this.stateValue === "closed" || this.stateValue === "closing") return false;
    if (!this.writeableRequested) {
      this.writeableRequested = true;
      this.context.markDirty(this);
    }
    return true;
  }

  /**
   * Write one frame (or one whole message) from inside a WRITEABLE callback — once per
   * callback, as lws requires. A string is sent as text, bytes as binary, unless `kind`
   * says otherwise. What the transport does not take at once is buffered and finished
   * before the next WRITEABLE.
   *
   * Bytes are sent without a copy (a client's masked frames aside): do not modify a
   * buffer after passing it here. Pass a copy if you reuse it. This is what lets a large
   * message go out without being duplicated; `bufferedAmount` tells when it is all out.
   */
  write(data: string | Uint8Array, kind?: WriteKind, options?: WriteOptions): void {
    if (this.stateValue === "raw") {
      // RAW: the bytes as they are (lws_write with LWS_WRITE_RAW), once per RAW_WRITEABLE.
      this.claimWrite("write");
      const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data;
      this.noteTraffic(false);
      this.writeOut([bytes], bytes.length);
      return;
    }
    // "closing" with a WRITEABLE running: the one requested before the peer broke the
    // protocol (serviceWrite); what it writes goes out before our close frame.
    if (this.stateValue !== "established" && !(this.stateValue === "closing" && this.inWriteable)) {
      throw this.closedError("write");
    }
    this.claimWrite("write", false);
    const payload = typeof data === "string" ? Buffer.from(data, "utf8") : data;
    const resolved = kind ?? (typeof data === "string" ? "text" : "binary");
    const out: Uint8Array[] = [];
    const session = this.session!;
    let bytes: number;
    if (resolved === "ping") bytes = session.encodePing(out, payload);
    else {
      const encodeOptions = options?.compress === undefined ? undefined : { compress: options.compress };
      bytes = session.encodeData(out, opcodeOf(resolved), payload, options?.fin ?? true, encodeOptions);
    }
    this.wroteInWriteable = true;
    this.noteTraffic(false);
    this.writeOut(out, bytes);
  }

  /**
   * Close politely: a close frame with `code` and `reason`, then the close handshake.
   * Before the connection is established it is simply dropped. Closing twice is harmless.
   */
  close(code: number = CloseCode.NORMAL, reason = ""): void {
    if (this.stateValue === "closed") return;
    if (this.session && (this.stateValue === "established" || this.stateValue === "closing")) {
      const wasClosing = this.session.closing;
      this.session.close(code, reason); // validates code and reason, throws on misuse
      // The close-wait deadline starts now, not when the close frame goes out: a peer that
      // stopped reading would otherwise keep a partial write, and the connection, forever.
      if (!wasClosing) this.armStateTimer(this.vhost.timeouts.closeWaitMs, "our close frame could not be sent");
      // The peer's answer must be read for the close to complete, whatever rx flow
      // control was doing: the conversation is ending, there is nothing to push back on.
      if (!this.rxEnabled) this.setRxFlowControl(true);
      this.stateValue = "closing";
      this.writeableRequested = false;
      this.writeableBeforeClose = false;
      this.context.markDirty(this);
      return;
    }
    if (this.role === "client" && !this.wasEstablished) {
      this.failClient(new Error(reason || "closed by the user before the connection was established"));
      return;
    }
    if (this.stateValue === "http" || this.stateValue === "raw") {
      // No close frame either, but what was written is delivered first, then the end.
      this.endAfterFlush = true;
      this.writeableRequested = false;
      if (this.pendingBytes === 0) this.endTransport();
      else this.context.markDirty(this);
      return;
    }
    // Before the handshake there is no close frame to send: drop the transport, or the
    // peer would never learn that we gave up on it.
    this.transport.destroy();
    this.finish({ code: CloseCode.ABNORMAL, closeReason: reason || "closed before the handshake completed", clean: false });
  }

  /**
   * rx flow control (lws_rx_flow_control): false stops reading this connection, so TCP
   * pushes back on the sender; true resumes, delivering what was held first.
   */
  setRxFlowControl(enabled: boolean): void {
    if (enabled === this.rxEnabled) return;
    this.rxEnabled = enabled;
    if (enabled) {
      this.session?.resumeRx();
      if (this.heldInput || (!this.session && this.handshake?.hasHeldInput?.())) this.context.markForced(this);
    } else {
      this.session?.pauseRx();
    }
    this.context.markDirty(this);
  }

  /** Schedule a TIMER callback after `ms` (lws_set_timer_usecs); null cancels. */
  setTimer(ms: number | null): void {
    if (ms === null) {
      this.context.timers.cancel(this.userTimerValue);
      return;
    }
    if (!(ms >= 0)) throw usage("INVALID_ARGUMENT", `timer delay must be a non-negative number of ms, got ${ms}`);
    if (this.stateValue === "closed") throw this.closedError("setTimer");
    this.context.timers.arm(this.userTimer, this.context.clock.now() + ms);
  }

  // ---- HTTP (server) -------------------------------------------------------------------------

  /** The request being served (HTTP), or null between requests and on other connections. */
  get httpRequest(): HttpRequestInfo | null {
    return this.httpRole()?.currentRequest ?? null;
  }

  /**
   * Start the response: status line, headers by name, and the end of the head
   * (lws_add_http_header_status, _by_name, lws_finalize_http_header and the HEADERS
   * write, in one). With `contentLength` the body is that long; without, it is chunked
   * (HTTP/1.0 peers: ends with the connection). Content-Length, Transfer-Encoding and
   * Connection are the library's: pass `contentLength` / `close` instead. The body
   * follows with writeHttp() from HTTP_WRITEABLE; nothing is sent for HEAD.
   */
  writeHttpHead(status: number, headers?: HeadersInit, options: HttpHeadOptions = {}): void {
    this.requireHttp("writeHttpHead").writeHead(status, headers, options);
  }

  /**
   * Write one piece of the response body, from HTTP_WRITEABLE, once per callback (lws_write
   * with LWS_WRITE_HTTP / LWS_WRITE_HTTP_FINAL). `final` ends a chunked body; a body with a
   * Content-Length ends with its last byte. Not copied: do not change `data` after.
   * An HTTP client writes its streamed request body (ConnectInfo.bodyLength) the same way,
   * from CLIENT_HTTP_WRITEABLE.
   */
  writeHttp(data: string | Uint8Array, options: { final?: boolean } = {}): void {
    const client = this.session ? null : this.handshake;
    if (client && (client as { kind?: string }).kind === "http-client") {
      if (this.stateValue === "closed") throw this.closedError("writeHttp");
      (client as HttpClientRole).writeBody(typeof data === "string" ? Buffer.from(data, "utf8") : data, options.final ?? false);
      return;
    }
    const role = this.requireHttp("writeHttp");
    this.claimWrite("writeHttp", false);
    role.writeBody(typeof data === "string" ? Buffer.from(data, "utf8") : data, options.final ?? false);
    // Counted once it is written: a write refused for its content leaves the turn unused.
    this.wroteInWriteable = true;
  }

  /** A whole response at once (head and body in one write), then transactionCompleted(). For small bodies: a large one belongs in HTTP_WRITEABLE pieces. */
  respond(status: number, headers?: HeadersInit, body?: string | Uint8Array): void {
    this.requireHttp("respond").respond(status, headers, body === undefined ? null : typeof body === "string" ? Buffer.from(body, "utf8") : body);
  }

  /**
   * Answer with an error status and a short HTML page that links /error.css when the
   * vhost serves one (lws_return_http_status); a 404 serves the vhost's errorDocument404
   * instead when it has one. Completes the transaction.
   */
  respondError(status: number, message?: string): void {
    this.requireHttp("respondError").respondError(status, message);
  }

  /** Redirect (lws_http_redirect): `status` 301, 302, 303, 307 or 308 with Location. Completes the transaction. */
  redirect(status: number, location: string): void {
    this.requireHttp("redirect").redirect(status, location);
  }

  /**
   * The response is complete (lws_http_transaction_completed): the connection goes back
   * to keep-alive and reads the next request once every byte is out; it is closed
   * instead when the response could not be delimited or either side asked for close.
   * A chunked body not yet ended is ended here.
   */
  transactionCompleted(): void {
    this.requireHttp("transactionCompleted").complete();
  }

  private httpRole(): HttpServerRole | null {
    const role = this.session ? null : this.handshake;
    return role && (role as { kind?: string }).kind === "http-server" ? (role as HttpServerRole) : null;
  }

  private requireHttp(what: string): HttpServerRole {
    const role = this.httpRole();
    if (!role || !role.currentRequest) {
      if (this.stateValue === "closed") throw this.closedError(what);
      throw usage("INVALID_STATE", `${what}() on connection ${this.id}, which is not serving an HTTP request (state ${this.stateValue})`);
    }
    return role;
  }

  // ---- writeable bookkeeping for roles ------------------------------------------------------

  /** @internal Check that a write may happen now (inside WRITEABLE, once) and count it (unless `count` is false). */
  claimWrite(what: string, count = true): void {
    if (!this.inWriteable) {
      throw usage(
        "WRITE_OUTSIDE_WRITEABLE",
        `${what}() is only allowed inside a WRITEABLE callback: call requestWriteable() and write when it comes`,
      );
    }
    if (this.wroteInWriteable) {
      throw usage("SECOND_WRITE_IN_WRITEABLE", "only one write per WRITEABLE callback: call requestWriteable() again for the next");
    }
    if (count) this.wroteInWriteable = true;
  }

  /** @internal Was a WRITEABLE requested? Clears the request. */
  takeWriteableRequest(): boolean {
    if (!this.writeableRequested) return false;
    this.writeableRequested = false;
    return true;
  }

  /** @internal Is a WRITEABLE requested (not cleared)? */
  get hasWriteableRequest(): boolean {
    return this.writeableRequested;
  }

  /** @internal Deliver a WRITEABLE: the session's (SERVER_/CLIENT_WRITEABLE) or a role's. */
  runWriteable(
    reason: "SERVER_WRITEABLE" | "CLIENT_WRITEABLE" | "HTTP_WRITEABLE" | "RAW_WRITEABLE" | "CLIENT_HTTP_WRITEABLE",
  ): void {
    this.inWriteable = true;
    this.wroteInWriteable = false;
    try {
      this.emitConnection({ reason, connection: this });
    } finally {
      this.inWriteable = false;
    }
  }

  /** @internal A role moves the connection on (handshake → http, → raw, → handshake for an upgrade). */
  setState(state: "handshake" | "http" | "raw"): void {
    if (this.stateValue === "closed") return;
    this.stateValue = state;
    this.context.markDirty(this);
  }

  /** @internal The Host header chose another vhost of the listener's group. */
  moveToVhost(vhost: Vhost): void {
    this.vhostValue = vhost;
  }

  /** @internal The state's deadline (connect, handshake) no longer applies. */
  cancelStateTimer(): void {
    this.context.timers.cancel(this.stateTimerValue);
  }

  /** @internal The connection is past its opening: failures from now are closes, not connection errors. */
  markEstablished(): void {
    this.wasEstablished = true;
  }

  /** @internal Bytes handed out and not yet taken by the transport (roles wait for 0 to move on). */
  get pendingOutput(): number {
    return this.pendingBytes;
  }

  /** @internal Traffic for the idle timer, from roles. */
  noteActivity(rx: boolean): void {
    this.noteTraffic(rx);
  }

  // ---- service (called by the context) ---------------------------------------------------

  /** @internal Handle readiness reported by the loop. */
  service(revents: number): void {
    if (this.stateValue === "connecting") {
      if (revents & (POLLERR | POLLHUP) || this.transport.error) {
        this.failClient(this.transport.error ?? new Error("connection failed"));
        return;
      }
      if (revents & POLLOUT && !this.transport.connecting) this.handshake!.onConnected();
      return;
    }
    if (revents & POLLOUT) this.serviceWrite();
    if (this.isClosed) return;
    if (revents & POLLIN || this.heldInput) this.serviceRead();
    if (this.isClosed) return;
    if (revents & POLLERR) {
      this.onTransportGone(this.transport.error?.message ?? "transport error");
    } else if (revents & POLLHUP && !(revents & POLLIN)) {
      if (!this.session && this.handshake?.onHangup?.()) return;
      this.onTransportGone("peer hung up");
    }
  }

  /** A method, not a narrowed field read: callbacks run above may have closed us. */
  private get isClosed(): boolean {
    return this.stateValue === "closed";
  }

  /** @internal Forced service: deliver input held while rx was off. */
  serviceForced(): void {
    if (this.stateValue === "closed") return;
    if (!this.session && this.handshake?.serviceForced) {
      this.handshake.serviceForced();
      return;
    }
    if (this.heldInput && this.rxEnabled) this.serviceRead();
  }

  /** @internal Poll events this connection should be polled for now. */
  wantedEvents(): number {
    switch (this.stateValue) {
      case "closed":
        return 0;
      case "connecting":
        return POLLOUT;
      default: {
        let events = 0;
        const role = this.session ? null : this.handshake;
        if (this.rxEnabled && !this.endAfterFlush && (role?.wantsRead?.() ?? true)) events |= POLLIN;
        if (this.pendingBytes > 0 || this.endAfterFlush || this.validityPingOwed) events |= POLLOUT;
        else if (this.session?.hasOwedFrames) events |= POLLOUT;
        else if (this.writeableRequested && this.canWrite) events |= POLLOUT;
        else if (role?.wantsWrite?.()) events |= POLLOUT;
        return events;
      }
    }
  }

  /** States in which a requested WRITEABLE is delivered. */
  private get canWrite(): boolean {
    const s = this.stateValue;
    return s === "established" || s === "http" || s === "raw";
  }

  /** @internal The context records what the hooks were told. */
  setEvents(events: number): void {
    this.eventsValue = events;
  }

  /** @internal Needs forced service? */
  get hasHeldInput(): boolean {
    return this.heldInput !== null && this.rxEnabled;
  }

  // ---- reading -----------------------------------------------------------------------

  private serviceRead(): void {
    let chunk: Buffer | null | typeof END_OF_STREAM;
    if (this.heldInput) {
      if (!this.rxEnabled) return;
      chunk = this.heldInput;
      this.heldInput = null;
    } else {
      if (!this.rxEnabled || this.endAfterFlush) return;
      chunk = this.transport.read();
      if (chunk === null) return;
      if (chunk === END_OF_STREAM) {
        if (!this.session && this.handshake?.onEnd?.()) return;
        this.onTransportGone("peer closed the connection");
        return;
      }
    }
    this.noteTraffic(true);
    this.feed(chunk);
  }

  /** @internal Feed bytes to whichever role is current. */
  feed(chunk: Buffer): void {
    if (this.session) {
      const session = this.session;
      const consumed = session.receive(chunk);
      // A paused parser may hold back the end of a frame even when every byte was
      // consumed, so the (possibly empty) rest is kept and fed again on resume.
      if (session.rxPaused && !session.inputDone && this.stateValue !== "closed") {
        this.heldInput = chunk.subarray(consumed);
      } else if (session.inputDone) {
        this.heldInput = null;
      }
      // Inflated output still pending (one chunk per pass): no network event will
      // announce it, so ask for forced service; the held input is fed again from there.
      if (session.hasPendingWork && this.rxEnabled) this.context.markForced(this);
      this.context.markDirty(this);
      return;
    }
    this.handshake?.onData(chunk);
  }

  // ---- writing -----------------------------------------------------------------------

  /** @internal Hand chunks to the transport; keep what it does not take, in order. */
  writeOut(chunks: Uint8Array[], bytes: number): void {
    if (bytes === 0) return;
    if (this.pendingBytes > 0) {
      for (const c of chunks) this.pending.push(c);
      this.pendingBytes += bytes;
      this.context.markDirty(this);
      return;
    }
    const taken = this.transport.write(chunks);
    if (taken < bytes) {
      this.keepUnwritten(chunks, taken, bytes);
      this.context.markDirty(this);
    }
  }

  private keepUnwritten(chunks: Uint8Array[], taken: number, bytes: number): void {
    let skip = taken;
    let i = 0;
    while (skip > 0 && skip >= chunks[i]!.length) skip -= chunks[i++]!.length;
    const rest = i === 0 && skip === 0 ? chunks : chunks.slice(i);
    if (skip > 0) rest[0] = rest[0]!.subarray(skip);
    this.pending = rest;
    this.pendingBytes = bytes - taken;
  }

  /** Returns true when nothing is left pending. */
  private flushPending(): boolean {
    if (this.pendingBytes === 0) return true;
    const chunks = this.pending;
    const bytes = this.pendingBytes;
    this.pending = NO_CHUNKS;
    this.pendingBytes = 0;
    const taken = this.transport.write(chunks);
    if (taken < bytes) {
      this.keepUnwritten(chunks, taken, bytes);
      return false;
    }
    return true;
  }

  private serviceWrite(): void {
    // Rung 1: finish the partial write.
    if (!this.flushPending()) return;
    if (this.endAfterFlush) {
      this.endTransport();
      return;
    }
    const session = this.session;
    if (!session) {
      // HTTP, RAW: the role's own writing, or the user's WRITEABLE.
      this.handshake?.onWriteable?.();
      return;
    }
    // A reply the protocol asked for before the peer broke the protocol goes before the
    // close we owe for it (only the input after the failure is ignored, RFC 6455 §7.1.7).
    // Once only: WRITEABLEs requested from here on are refused, so the close cannot be
    // put off. A reply the transport does not take is finished first (rung 1, next time);
    // the close-wait timer armed at the failure bounds how long that may take.
    if (this.writeableBeforeClose) {
      this.writeableBeforeClose = false;
      this.runSessionWriteable();
      if (this.isClosed || this.pendingBytes > 0) return;
    }
    // Rung 2: frames the library owes.
    if (session.hasOwedFrames || this.validityPingOwed) {
      const out: Uint8Array[] = [];
      let bytes = 0;
      if (this.validityPingOwed) {
        this.validityPingOwed = false;
        if (!session.closing) bytes += session.encodePing(out);
      }
      const wasClosing = session.closing;
      bytes += session.takeOwedFrames(out);
      this.writeOut(out, bytes);
      if (session.closing && !wasClosing) this.stateValue = "closing";
      if (this.afterOwedFrames()) return;
      if (this.pendingBytes > 0) return;
    }
    // Rung 3: the user's WRITEABLE.
    if (this.writeableRequested && this.stateValue === "established") {
      this.writeableRequested = false;
      this.runSessionWriteable();
    }
  }

  private runSessionWriteable(): void {
    this.runWriteable(this.role === "server" ? "SERVER_WRITEABLE" : "CLIENT_WRITEABLE");
  }

  /** After a close frame went out: decide whether we are done. Returns true if the connection ended. */
  private afterOwedFrames(): boolean {
    const session = this.session!;
    if (session.state === "closed") {
      // Both closes exchanged, or we failed the peer: the server ends the TCP connection
      // first (RFC 6455 §7.1.1); a client waits a while for the server to do it.
      if (this.role === "server" || !session.receivedClose) {
        this.endAfterFlush = true;
        if (this.pendingBytes === 0) {
          this.endTransport();
          return true;
        }
      } else {
        this.armStateTimer(this.vhost.timeouts.closeWaitMs, "server did not end the connection after the close handshake");
      }
      return false;
    }
    if (session.closing && !session.receivedClose) {
      this.armStateTimer(this.vhost.timeouts.closeWaitMs, "peer did not answer our close frame");
    }
    return false;
  }

  private endTransport(): void {
    this.transport.end();
    this.finish(this.closeInfo ?? { code: CloseCode.ABNORMAL, closeReason: "", clean: false });
  }

  // ---- session events ------------------------------------------------------------------

  /** @internal */
  onMessage(data: Buffer, binary: boolean): void {
    this.emitReceive(data, binary, true, true, 0);
  }

  /** @internal */
  onFragment(data: Buffer, info: FragmentInfo): void {
    this.emitReceive(data, info.binary, info.first, info.final, info.remaining);
  }

  private emitReceive(data: Buffer, binary: boolean, first: boolean, final: boolean, remaining: number): void {
    if (this.stateValue !== "established" && this.stateValue !== "closing") return;
    this.emitConnection({
      reason: this.role === "server" ? "RECEIVE" : "CLIENT_RECEIVE",
      connection: this,
      data,
      binary,
      first,
      final,
      remaining,
    });
  }

  /** @internal */
  onPing(): void {
    this.context.markDirty(this);
  }

  /** @internal */
  onPong(payload: Buffer): void {
    if (this.liveness !== null) this.liveness.pingSentAt = Number.NaN;
    this.emitConnection({ reason: this.role === "server" ? "RECEIVE_PONG" : "CLIENT_RECEIVE_PONG", connection: this, data: payload });
  }

  /** @internal */
  onClose(code: number, reason: string, initiatedByPeer: boolean): void {
    this.closeInfo = { code, closeReason: reason, clean: true };
    this.heldInput = null;
    if (initiatedByPeer) {
      this.stateValue = "closing";
      this.writeableRequested = false;
      // Bound the wait for our echo to go out, as for our own close (see close()).
      this.armStateTimer(this.vhost.timeouts.closeWaitMs, "our answer to the peer's close could not be sent");
      this.emitConnection({ reason: "WS_PEER_INITIATED_CLOSE", connection: this, code, closeReason: reason });
    } else {
      this.context.timers.cancel(this.stateTimerValue);
      // Our close was answered: a server ends now; a client waits for the server's end.
      if (this.session!.state === "closed") {
        if (this.role === "server") {
          this.endAfterFlush = true;
        } else {
          this.armStateTimer(this.vhost.timeouts.closeWaitMs, "server did not end the connection after the close handshake");
        }
      }
    }
    this.context.markDirty(this);
  }

  /** @internal */
  onPeerError(error: PeerError, tooLarge: { kind: "frame" | "message"; size: number; limit: number } | null): void {
    this.context.logger.info(`connection ${this.id}: ${error.message} (closing with ${error.closeCode})`);
    this.closeInfo = { code: error.closeCode, closeReason: error.message, clean: false, error };
    // Bound the wait for our close frame to go out, as in close(). It also bounds a reply
    // requested before the failure, which goes out first.
    if (this.stateValue === "established") {
      this.armStateTimer(this.vhost.timeouts.closeWaitMs, "our close frame could not be sent");
      this.writeableBeforeClose = this.writeableRequested;
    }
    this.stateValue = "closing";
    this.writeableRequested = false;
    this.heldInput = null;
    if (tooLarge) {
      this.emitConnection({ reason: "RECEIVE_TOO_LARGE", connection: this, ...tooLarge });
    }
    // Our close already went out and nothing more will be read: no close is coming, end now.
    if (this.session?.state === "closed" && !this.session.hasOwedFrames) this.endAfterFlush = true;
    this.context.markDirty(this);
  }

  // ---- handshake results (called by the handshake roles) -------------------------------------

  /** @internal The handshake succeeded: switch to the WebSocket role. */
  establish(session: WsSession, rest: Buffer | null): void {
    this.session = session;
    // rx may have been turned off before the session existed (FILTER_PROTOCOL_CONNECTION,
    // CLIENT_FILTER_PRE_ESTABLISH); without this the bytes that came with the handshake
    // would be delivered anyway.
    if (!this.rxEnabled) session.pauseRx();
    this.handshake = null;
    this.stateValue = "established";
    this.wasEstablished = true;
    // Dropped, not only cancelled: an established connection holds no timer until it needs one.
    this.context.timers.cancel(this.stateTimerValue);
    this.stateTimerValue = null;
    const t = this.vhost.timeouts;
    if (t.idleMs > 0 || t.pingIntervalMs > 0) {
      const now = this.context.clock.now();
      this.liveness = { lastRx: now, lastTraffic: now, pingSentAt: Number.NaN };
      this.armActivityTimer();
    }
    const closeRequested = this.emitConnection({ reason: this.role === "server" ? "ESTABLISHED" : "CLIENT_ESTABLISHED", connection: this });
    this.headersValue = null;
    if (closeRequested || this.stateValue !== "established") {
      this.context.markDirty(this);
      return;
    }
    if (rest && rest.length > 0) this.feed(rest);
    this.context.markDirty(this);
  }

  /** @internal Handshake bookkeeping for the roles. */
  setHeaders(headers: HeaderList | null): void {
    this.headersValue = headers;
  }

  /** @internal */
  bindProtocol(protocol: ProtocolDefinition<U>): void {
    this.protocol = protocol;
    this.userData = protocol.createUserData ? protocol.createUserData(this) : (undefined as U);
  }

  /** @internal Send bytes and close once they are out (a refused handshake). */
  respondAndEnd(bytes: Buffer): void {
    this.endAfterFlush = true;
    this.writeOut([bytes], bytes.length);
    if (this.pendingBytes === 0) this.endTransport();
    else this.context.markDirty(this);
  }

  /** @internal Client-side failure before establishment: CLIENT_CONNECTION_ERROR, then gone. */
  failClient(error: Error): void {
    if (this.stateValue === "closed") return;
    this.stateValue = "closed";
    this.cancelTimers();
    this.transport.destroy();
    this.context.removeConnection(this);
    this.context.logger.info(`client connection ${this.id} failed: ${error.message}`);
    this.handshake?.onFail?.();
    this.emitConnection({ reason: "CLIENT_CONNECTION_ERROR", connection: this, cause: error.message, error });
  }

  /** @internal Client: the transport connected; the upgrade request goes out. */
  enterHandshake(): void {
    if (this.stateValue === "connecting") this.stateValue = "handshake";
    this.context.markDirty(this);
  }

  /** @internal */
  armStateTimer(ms: number, cause: string): void {
    this.stateTimeoutCause = cause;
    if (ms > 0) this.context.timers.arm(this.stateTimer, this.context.clock.now() + ms);
    // 0 disables this state's timeout; the previous state's deadline must not outlive it
    // (a connect timeout would otherwise fire, with the wrong cause, during the handshake).
    else this.context.timers.cancel(this.stateTimerValue);
  }

  // ---- endings -----------------------------------------------------------------------

  private onTransportGone(why: string): void {
    if (this.stateValue === "closed") return;
    if (this.role === "client" && !this.wasEstablished) {
      this.failClient(new Error(`${why} during the opening handshake`));
      return;
    }
    if (this.closeInfo?.clean && this.session?.state === "closed") {
      this.transport.destroy();
      this.finish(this.closeInfo);
      return;
    }
    this.transport.destroy();
    this.finish({ code: CloseCode.ABNORMAL, closeReason: why, clean: false, ...(this.closeInfo?.error ? { error: this.closeInfo.error } : {}) });
  }

  private onStateTimeout(): void {
    const cause = this.stateTimeoutCause;
    this.context.logger.info(`connection ${this.id}: timed out: ${cause}`);
    if (this.role === "client" && !this.wasEstablished) {
      this.failClient(new Error(`timed out: ${cause}`));
      return;
    }
    this.transport.destroy();
    if (this.closeInfo?.clean && this.session?.state === "closed") this.finish(this.closeInfo);
    else this.finish({ code: CloseCode.ABNORMAL, closeReason: `timed out: ${cause}`, clean: false });
  }

  private onActivityTimer(): void {
    const l = this.liveness;
    if (this.stateValue !== "established" || l === null) return;
    const t = this.vhost.timeouts;
    const now = this.context.clock.now();
    if (t.idleMs > 0 && now - l.lastTraffic >= t.idleMs) {
      this.close(CloseCode.GOING_AWAY, "idle timeout");
      return;
    }
    // While rx is off we hold the peer back on purpose and could not read its pong:
    // validity is not judged until reading resumes.
    if (t.pingIntervalMs > 0 && !this.rxEnabled) {
      l.lastRx = now;
      l.pingSentAt = Number.NaN;
    } else if (t.pingIntervalMs > 0) {
      if (!Number.isNaN(l.pingSentAt)) {
        if (l.lastRx <= l.pingSentAt && now - l.pingSentAt >= t.pongTimeoutMs) {
          this.transport.destroy();
          this.finish({ code: CloseCode.ABNORMAL, closeReason: `no reply to a ping within ${t.pongTimeoutMs} ms`, clean: false });
          return;
        }
        if (l.lastRx > l.pingSentAt) l.pingSentAt = Number.NaN;
      }
      if (Number.isNaN(l.pingSentAt) && now - l.lastRx >= t.pingIntervalMs) {
        this.validityPingOwed = true;
        l.pingSentAt = now;
        this.context.markDirty(this);
      }
    }
    this.armActivityTimer();
  }

  private armActivityTimer(): void {
    const l = this.liveness!;
    const t = this.vhost.timeouts;
    let deadline = Number.POSITIVE_INFINITY;
    if (t.idleMs > 0) deadline = l.lastTraffic + t.idleMs;
    if (t.pingIntervalMs > 0) {
      const next = Number.isNaN(l.pingSentAt) ? l.lastRx + t.pingIntervalMs : l.pingSentAt + t.pongTimeoutMs;
      deadline = Math.min(deadline, next);
    }
    if (deadline !== Number.POSITIVE_INFINITY) this.context.timers.arm(this.activityTimer, deadline);
  }

  /** Traffic keeps idle and validity timers away; the timer checks lazily, so this is cheap. */
  private noteTraffic(rx: boolean): void {
    const l = this.liveness;
    if (l === null) return;
    const now = this.context.clock.now();
    l.lastTraffic = now;
    if (rx) l.lastRx = now;
  }

  /** @internal The one place a connection ends: timers off, descriptor gone, CLOSED told. */
  finish(info: CloseData): void {
    if (this.stateValue === "closed") return;
    this.stateValue = "closed";
    this.cancelTimers();
    this.pending = NO_CHUNKS;
    this.pendingBytes = 0;
    this.heldInput = null;
    // zlib memory goes now, not when the session is collected.
    this.session?.dispose();
    this.context.removeConnection(this);
    const role = this.session ? null : this.handshake;
    if (role?.onFinish?.(info)) return;
    if (this.wasEstablished) {
      this.emitConnection({ reason: this.role === "server" ? "CLOSED" : "CLIENT_CLOSED", connection: this, ...info });
    } else if (this.role === "client") {
      this.emitConnection({ reason: "CLIENT_CONNECTION_ERROR", connection: this, cause: info.closeReason, error: new Error(info.closeReason) });
    }
  }

  private cancelTimers(): void {
    const timers = this.context.timers;
    timers.cancel(this.stateTimerValue);
    timers.cancel(this.activityTimerValue);
    timers.cancel(this.userTimerValue);
  }

  // ---- callbacks -----------------------------------------------------------------------

  /**
   * Run the protocol callback for a connection event. A non-zero result closes the
   * connection politely; a throw closes it with 1011 and is logged. Returns true when
   * the callback asked to close (or threw).
   */
  emitConnection(event: CallbackEvent<U>): boolean {
    let result: CallbackResult;
    try {
      result = this.protocol.callback(event);
    } catch (error) {
      this.context.logger.err(
        `protocol "${this.protocol.name}" callback threw on ${event.reason} (connection ${this.id}): ${describe(error)}`,
      );
      this.closeAfterCallback(CloseCode.INTERNAL_ERROR, "internal error", event.reason);
      return true;
    }
    if (result === undefined || result === 0 || result === false) return false;
    this.closeAfterCallback(CloseCode.NORMAL, "", event.reason);
    return true;
  }

  private closeAfterCallback(code: number, reason: string, during: string): void {
    if (this.stateValue === "closed") return;
    if (during === "CLOSED" || during === "CLIENT_CLOSED" || during === "CLIENT_CONNECTION_ERROR") return;
    if (during === "CLOSED_HTTP" || during === "CLOSED_CLIENT_HTTP" || during === "RAW_CLOSE" || during === "HTTP_DROP_PROTOCOL") return;
    // A refusing filter is answered by the role (403), not by closing.
    if (during.startsWith("FILTER_")) return;
    if (this.session && (this.stateValue === "established" || this.stateValue === "closing")) {
      if (!this.session.closing) this.close(code, reason);
      return;
    }
    if (this.stateValue === "http" || this.stateValue === "raw") {
      this.close();
      return;
    }
    // Before the WebSocket exists, the handshake role acts on emitConnection's result.
  }

  private closedError(what: string): WsloopUsageError {
    const state = this.stateValue;
    if (state === "closed" || state === "closing") {
      return usage("CONNECTION_CLOSED", `${what}() on connection ${this.id}, which is ${state}`);
    }
    return usage("INVALID_STATE", `${what}() on connection ${this.id} before it is established (state ${state})`);
  }
}

function opcodeOf(kind: Exclude<WriteKind, "ping">): number {
  return kind === "text" ? Opcode.TEXT : kind === "binary" ? Opcode.BINARY : Opcode.CONTINUATION;
}

function describe(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}
