/**
 * The WebSocket role of one connection, after the opening handshake: bytes in, events
 * and frames out. It owns the frame parser, message assembly, UTF-8 validation, the
 * close handshake and the control frames it owes the peer. It never writes anywhere:
 * frames leave as chunks appended to an array the caller gives.
 */
import { CloseCode, isValidUserCloseCode, isValidWireCloseCode } from "./close-codes.js";
import { inflateScratch } from "./deflate/message-inflater.js";
import type { DeflateSessionConfig } from "./deflate/negotiator.js";
import type { DeflateTuning } from "./deflate/options.js";
import { SessionDeflate, type DeflateState } from "./deflate/session-deflate.js";
import { PeerError, usage } from "./errors.js";
import { Opcode, type FrameHeader } from "./frame.js";
import { FrameParser, type FrameSink } from "./frame-parser.js";
import { appendFrame, encodeFrame, encodeMessage } from "./frame-writer.js";
import { IncomingMessage } from "./incoming-message.js";
import type { MaskSource } from "./mask-source.js";
import { sessionLimits, type WsSessionLimits } from "./session-limits.js";
import { isValidUtf8 } from "./utf8.js";

export { defaultLimits, type WsSessionLimits } from "./session-limits.js";
export type { DeflateState, DeflateStats } from "./deflate/session-deflate.js";

export interface FragmentInfo {
  /** First piece of a message. */
  first: boolean;
  /** Last piece of a message (its frame had FIN and no payload remains). */
  final: boolean;
  binary: boolean;
  /** Payload bytes of the current frame still to come (lws_remaining_packet_payload). */
  remaining: number;
}

/** What the session reports. Callbacks run synchronously from {@link WsSession.receive}. */
export interface WsSessionEvents {
  /** A whole message (delivery "message"). `data` may be a view of received bytes. */
  onMessage(data: Buffer, binary: boolean): void;
  /** One piece of a message as it arrived (delivery "fragment"). */
  onFragment(data: Buffer, info: FragmentInfo): void;
  onPing(payload: Buffer): void;
  onPong(payload: Buffer): void;
  /**
   * The peer's close frame arrived. `code` is 1005 when it carried none. If we had not
   * sent a close yet, an echo with the same code is now owed.
   */
  onClose(code: number, reason: string, initiatedByPeer: boolean): void;
  /** The peer broke the protocol; a close with `error.closeCode` is now owed. */
  onPeerError(error: PeerError, tooLarge: { kind: "frame" | "message"; size: number; limit: number } | null): void;
}

export type WsSessionState =
  /** Data flows both ways. */
  | "open"
  /** We owe or sent a close and wait for the peer's. */
  | "closing"
  /** Both closes exchanged (or ours sent after the peer's): only flushing is left. */
  | "closed";

export interface WsSessionOptions {
  role: "server" | "client";
  /**
   * Over {@link defaultLimits}. Sessions given the same frozen object share one merged
   * copy (see {@link sessionLimits}); so give a protocol's limits frozen, made once.
   */
  limits?: Partial<WsSessionLimits>;
  delivery?: "message" | "fragment";
  /** Client side: where mask keys come from. */
  maskSource?: MaskSource;
  /** RSV bits negotiated by extensions (4 = RSV1). */
  allowedRsv?: number;
  /** Outgoing messages are split into frames of at most this many payload bytes (0 = never). */
  maxOutgoingFrame?: number;
  /**
   * permessage-deflate in force, as {@link deflateSessionConfig} reads it from the
   * handshake (RSV1 is then allowed whatever `allowedRsv` says). Absent/null: none.
   */
  deflate?: DeflateSessionConfig | null;
}

/** Per-write choices of {@link WsSession.encodeData}. */
export interface EncodeDataOptions {
  /**
   * permessage-deflate: compress this message (true) or send it as it is (false).
   * Default: compress when it is at least the threshold long. Decided by the call that
   * starts a message; ignored when permessage-deflate was not negotiated.
   */
  compress?: boolean;
}

const emptyBuffer = Buffer.alloc(0);

/**
 * Pongs owed at once, at most: pings that arrive faster than we can write are answered
 * in order up to this many; beyond it the oldest owed pong is dropped (RFC 6455 §5.5.3
 * lets an endpoint answer only the most recent ping), so a peer that floods pings and
 * never reads costs a bounded amount of memory.
 */
export const MAX_OWED_PONGS = 16;
/**
 * Payload bytes of owed pongs held at once, at most: 8 pongs of the largest size (125
 * bytes), 16 small ones. The newest pong always fits.
 */
export const MAX_OWED_PONG_BYTES = 1024;

/**
 * One WebSocket conversation. Feed received bytes to {@link receive}; write what
 * {@link takeOwedFrames} and {@link encodeData} append when the transport is writeable.
 *
 * Most of a server's connections sit idle most of the time, and every field is paid for
 * by each of them: what only traffic needs (the frame parser, the message being
 * received, owed pongs) is made when it is first needed, and permessage-deflate lives
 * in an object of its own that sessions without it do not have.
 */
export class WsSession implements FrameSink {
  readonly role: "server" | "client";
  readonly limits: Readonly<WsSessionLimits>;
  readonly delivery: "message" | "fragment";
  /**
   * Made at the first received byte: an idle connection never reads a frame, and
   * between the handshake and that byte nothing needs one ({@link rxPaused} is false).
   */
  private parser: FrameParser | null = null;
  /** RSV bits incoming frames may carry, for the parser when it is made. */
  private readonly allowedRsv: number;
  private readonly mask: MaskSource | null;
  private readonly maxOutgoingFrame: number;

  private stateValue: WsSessionState = "open";
  private closeSent = false;
  private closeReceived = false;
  /** Nothing more is read from the peer: its close arrived, or it broke the protocol. */
  private inputEnded = false;
  private failed = false;
  /**
   * We failed the connection while it was open, so the close we owe is ours to time: data
   * the application still sends goes out before it (encodeData), until it is sent.
   */
  private failedWhileOpen = false;
  /** rx flow control: paused by {@link pauseRx}. */
  private userPaused = false;
  /**
   * Control frames we owe, sent before user data: pongs, oldest first (made when a ping
   * arrives, gone once written), and one close.
   */
  private owedPongs: Buffer[] | null = null;
  private owedClose: Buffer | null = null;

  /** The data message being received; made at the first data frame. */
  private incoming: IncomingMessage | null = null;
  /** The payload of the control frame being read (≤ 125 bytes), gathered across reads. */
  private control: Buffer | null = null;

  /** A fragmented message is being sent (to catch misuse early). */
  private sendingFragmented = false;

  /** permessage-deflate, when it was negotiated. */
  private readonly pmd: SessionDeflate | null = null;

  constructor(
    options: WsSessionOptions,
    private readonly events: WsSessionEvents,
  ) {
    this.role = options.role;
    this.limits = sessionLimits(options.limits);
    this.delivery = options.delivery ?? "message";
    this.mask = options.role === "client" ? (options.maskSource ?? null) : null;
    if (options.role === "client" && !this.mask) {
      throw usage("INVALID_ARGUMENT", "a client session needs a maskSource: clients must mask every frame");
    }
    this.maxOutgoingFrame = options.maxOutgoingFrame ?? 0;
    let allowedRsv = options.allowedRsv ?? 0;
    if (options.deflate) {
      this.pmd = new SessionDeflate(options.role, options.deflate);
      allowedRsv |= 4;
    }
    this.allowedRsv = allowedRsv;
  }

  get state(): WsSessionState {
    return this.stateValue;
  }

  /** True once we have sent (or queued) our close frame. */
  get closing(): boolean {
    return this.closeSent || this.owedClose !== null;
  }

  get receivedClose(): boolean {
    return this.closeReceived;
  }

  /**
   * Feed received bytes (they are unmasked in place: the session owns them). Returns how
   * many were consumed: fewer than given only when {@link pauseRx} was called from an
   * event (feed the rest again after {@link resumeRx}), or when a compressed message
   * inflates to more than one call may produce (feed the rest again from forced
   * service, see {@link hasPendingWork}). In both cases {@link rxPaused} is true.
   */
  receive(chunk: Buffer): number {
    if (this.inputEnded) return chunk.length;
    const pmd = this.pmd;
    if (pmd !== null) {
      pmd.rxBudget = pmd.tuning.inflateChunk;
      if (pmd.backlog) {
        if (this.userPaused) return 0;
        // Inflation held back by the previous call comes first: the bytes after it wait.
        this.drain(pmd);
        if (this.inputEnded) return chunk.length;
        if (pmd.backlog || this.userPaused) return 0;
        this.parser!.resume();
      }
    }
    const consumed = this.frames().push(chunk);
    // Input after the end of the conversation is discarded, not held.
    return this.inputEnded ? chunk.length : consumed;
  }

  /**
   * Work is pending that no input will bring: a compressed message inflates to more
   * than one call may produce (`inflateChunk`), and the rest waits. While it does,
   * {@link rxPaused} is true, so the caller holds its input; a forced service call feeds
   * it again ({@link receive}, or {@link continueRx} when nothing is held), which
   * continues the inflation first. False while rx is paused by {@link pauseRx}.
   */
  get hasPendingWork(): boolean {
    return this.backlog && !this.userPaused && !this.inputEnded;
  }

  /** Inflation is behind (see {@link SessionDeflate.backlog}). */
  private get backlog(): boolean {
    return this.pmd !== null && this.pmd.backlog;
  }

  /**
   * Forced service without held input: continue pending inflation (at most one
   * `inflateChunk` of output), exactly as `receive` of an empty chunk.
   */
  continueRx(): void {
    this.receive(emptyBuffer);
  }

  /** True once nothing more will be read: the peer's close arrived or it broke the protocol. */
  get inputDone(): boolean {
    return this.inputEnded;
  }

  /** Stop consuming input right after the current event (rx flow control). */
  pauseRx(): void {
    this.userPaused = true;
    this.frames().pause();
  }

  resumeRx(): void {
    this.userPaused = false;
    // No parser yet: none was paused.
    if (!this.inputEnded && !this.backlog) this.parser?.resume();
  }

  /** No input is consumed now: paused by {@link pauseRx}, or inflation is pending ({@link hasPendingWork}). */
  get rxPaused(): boolean {
    return this.parser !== null && this.parser.paused;
  }

  /** The frame parser, made when first needed (see {@link parser}). */
  private frames(): FrameParser {
    return (this.parser ??= new FrameParser(
      { role: this.role, maxFramePayload: this.limits.maxFramePayload, allowedRsv: this.allowedRsv },
      this,
    ));
  }

  // ---- permessage-deflate --------------------------------------------------------------

  /** permessage-deflate as negotiated and tuned, or null when it is not in force. */
  get deflate(): DeflateState | null {
    return this.pmd?.state ?? null;
  }

  /**
   * Tune permessage-deflate on this connection (lws_set_extension_option). Level,
   * memLevel and windowBits apply from the next message on (it starts a fresh
   * compression context, which a sender may always do); threshold and inflateChunk at
   * once. Throws when permessage-deflate is not in force.
   */
  setDeflateOptions(tuning: Partial<DeflateTuning>): void {
    if (!this.pmd) throw usage("INVALID_STATE", "permessage-deflate is not in force on this connection");
    this.pmd.retune(tuning);
  }

  /**
   * Free zlib memory now and end the session (the connection is gone). Without it the
   * memory is freed when the session is collected; after a close handshake or a peer
   * error it is already freed.
   */
  dispose(): void {
    this.inputEnded = true;
    this.stateValue = "closed";
    this.incoming?.drop();
    this.owedPongs = null;
    this.pmd?.release();
  }

  /** Are there control frames owed to the peer? */
  get hasOwedFrames(): boolean {
    return this.owedPongs !== null || this.owedClose !== null;
  }

  /**
   * Append owed control frames (pongs in the order of their pings, then close) to `out`.
   * Returns bytes appended. After the close goes out, no data frame may follow.
   */
  takeOwedFrames(out: Uint8Array[]): number {
    let bytes = 0;
    if (this.owedPongs) {
      if (!this.closeSent) {
        for (const payload of this.owedPongs) bytes += encodeFrame(out, Opcode.PONG, payload, { mask: this.mask });
      }
      this.owedPongs = null;
    }
    if (this.owedClose) {
      bytes += encodeFrame(out, Opcode.CLOSE, this.owedClose, { mask: this.mask });
      this.owedClose = null;
      this.closeSent = true;
      // No data follows a close: the compressor is needless from here on.
      this.pmd?.deflater.release();
      // After failing there is no close to wait for (RFC 6455 §7.1.7).
      this.stateValue = this.closeReceived || this.failed ? "closed" : "closing";
    }
    return bytes;
  }

  /**
   * Encode user data. `opcode` is TEXT, BINARY or CONTINUATION; `fin` false leaves the
   * message open for continuations. Throws on misuse (after close, bad sequence).
   *
   * After the peer broke the protocol data may still be encoded until our close frame is
   * taken ({@link takeOwedFrames}): it is what the application owed before the failure
   * (RFC 6455 §7.1.7 stops the processing of input, not the sending of replies), and the
   * caller writes it before the owed close. Otherwise data ends once a close is owed.
   */
  encodeData(out: Uint8Array[], opcode: number, payload: Uint8Array, fin = true, options?: EncodeDataOptions): number {
    if (this.stateValue !== "open" && !(this.failedWhileOpen && this.stateValue === "closing" && !this.closeSent)) {
      throw usage("CONNECTION_CLOSED", "cannot send data after the close handshake has begun");
    }
    if (opcode === Opcode.CONTINUATION) {
      if (!this.sendingFragmented) {
        throw usage("INVALID_STATE", "a continuation frame needs a fragmented message started with fin=false");
      }
    } else if (opcode === Opcode.TEXT || opcode === Opcode.BINARY) {
      if (this.sendingFragmented) {
        throw usage("INVALID_STATE", "a new message cannot start before the fragmented one ends (send a continuation with fin=true)");
      }
    } else {
      throw usage("INVALID_ARGUMENT", `opcode ${opcode} is not a data opcode (use ping() or close() for control frames)`);
    }
    const starts = opcode !== Opcode.CONTINUATION;
    const pmd = this.pmd;
    let data = payload;
    let rsv1 = false;
    if (pmd !== null) {
      if (starts) {
        pmd.sending = options?.compress ?? payload.length >= pmd.tuning.threshold;
      } else if (options?.compress !== undefined && options.compress !== pmd.sending) {
        throw usage("INVALID_ARGUMENT", "whether a message is compressed is decided by its first frame; a continuation cannot change it");
      }
      if (pmd.sending) {
        data = pmd.deflater.compress(payload, fin);
        const sent = pmd.stats.sent;
        sent.plainBytes += payload.length;
        sent.compressedBytes += data.length;
        if (fin) sent.messages++;
        // RSV1 marks the first frame of a compressed message only (RFC 7692 §6).
        rsv1 = starts;
      }
    }
    this.sendingFragmented = !fin;
    // One frame, the common case: no options objects, the checks above stand for encodeFrame's.
    if (this.maxOutgoingFrame === 0) return appendFrame(out, opcode, data, fin, rsv1, this.mask);
    if (fin && starts) {
      return encodeMessage(out, opcode, data, this.maxOutgoingFrame, { mask: this.mask, rsv1 });
    }
    const max = this.maxOutgoingFrame;
    if (data.length <= max) return encodeFrame(out, opcode, data, { fin, rsv1, mask: this.mask });
    // A fragment the caller sends is bound by maxOutgoingFrame too (the peer's frame
    // limit does not care how the message was cut): split it, the first piece keeping
    // the opcode and only the last one taking the caller's fin.
    let total = 0;
    for (let offset = 0; offset < data.length; offset += max) {
      const end = Math.min(offset + max, data.length);
      total += encodeFrame(out, offset === 0 ? opcode : Opcode.CONTINUATION, data.subarray(offset, end), {
        fin: fin && end === data.length,
        rsv1: rsv1 && offset === 0,
        mask: this.mask,
      });
    }
    return total;
  }

  /** Encode a ping now (it bypasses the owed queue: the caller is in a write slot). */
  encodePing(out: Uint8Array[], payload: Uint8Array = emptyBuffer): number {
    if (payload.length > 125) throw usage("INVALID_ARGUMENT", "a ping payload is at most 125 bytes");
    if (this.closing) throw usage("CONNECTION_CLOSED", "cannot ping after the close handshake has begun");
    return encodeFrame(out, Opcode.PING, payload, { mask: this.mask });
  }

  /**
   * Start the close handshake from our side: a close frame with `code` and `reason` is
   * owed. Closing twice is a no-op (the first code stands).
   */
  close(code: number = CloseCode.NORMAL, reason = ""): void {
    if (!isValidUserCloseCode(code)) {
      throw usage("INVALID_CLOSE_CODE", `close code ${code} may not be sent: use 1000-1003, 1007-1014 or 3000-4999`);
    }
    const reasonBytes = Buffer.from(reason, "utf8");
    if (reasonBytes.length > 123) {
      throw usage("INVALID_ARGUMENT", `a close reason is at most 123 bytes of UTF-8, got ${reasonBytes.length}`);
    }
    if (this.closing) return;
    this.owedClose = closePayload(code, reasonBytes);
    this.stateValue = "closing";
  }

  // ---- FrameSink -------------------------------------------------------------------

  onFrameHeader(header: FrameHeader): void {
    const op = header.opcode;
    if (op >= Opcode.CLOSE) {
      this.control = header.payloadLength > 0 ? Buffer.allocUnsafe(header.payloadLength) : null;
      return;
    }
    // A continuation follows a first frame (the parser sees to it), which made this.
    const m = (this.incoming ??= new IncomingMessage());
    const pmd = this.pmd;
    if (op !== Opcode.CONTINUATION) {
      m.start(op === Opcode.BINARY);
      if (pmd !== null) {
        pmd.receiving = header.rsv1;
        pmd.compressedInMessage = 0;
        pmd.messageEnding = false;
      }
    }
    if (pmd !== null && pmd.receiving) {
      // Declared lengths are compressed bytes, which are not held: the limit applies to
      // what they inflate to, as it comes out (takeInflated). Each fragment still costs
      // its overhead, so the budget does not depend on how the input was chunked.
      if (this.delivery === "message" && header.payloadLength > 0) {
        m.held += this.limits.fragmentOverhead;
        if (m.held > this.limits.maxMessageSize + this.limits.fragmentOverhead) {
          this.tooLarge("message", m.held, this.limits.maxMessageSize);
        }
      }
      return;
    }
    // The frame limit is the parser's; the message limit is checked as bytes arrive,
    // but a declared length that cannot fit is refused before any of it is held.
    if (m.size + header.payloadLength > this.limits.maxMessageSize) {
      this.tooLarge("message", m.size + header.payloadLength, this.limits.maxMessageSize);
      return;
    }
    // The overhead is charged once per fragment, here, not per received piece: per piece,
    // the same message would cost more the more finely the input happened to be chunked
    // (a message fed byte by byte paid 64 bytes per byte) and fit or not by chance.
    if (this.delivery === "message" && header.payloadLength > 0) {
      m.held += header.payloadLength + this.limits.fragmentOverhead;
      if (m.held > this.limits.maxMessageSize + this.limits.fragmentOverhead) {
        this.tooLarge("message", m.held, this.limits.maxMessageSize);
        return;
      }
      // A binary message in one masked frame: nothing looks at its bytes before the
      // end, so they are unmasked then, in the copy that joins its pieces (take).
      if (header.masked && header.fin && m.binary && op !== Opcode.CONTINUATION) {
        this.parser!.leaveMasked();
        m.piecesMasked = true;
      }
    }
  }

  onFramePayload(data: Buffer, remaining: number): void {
    // The parser is the header of the frame it is reading.
    const header: FrameHeader = this.parser!;
    if (header.opcode >= Opcode.CLOSE) {
      // Where this piece goes: what came before it is the length less what is still to come.
      data.copy(this.control!, header.payloadLength - remaining - data.length);
      return;
    }
    const m = this.incoming!;
    const pmd = this.pmd;
    if (pmd !== null && pmd.receiving) {
      pmd.compressedInMessage += data.length;
      pmd.stats.received.compressedBytes += data.length;
      pmd.frameRemaining = remaining;
      const last = header.fin && remaining === 0;
      pmd.inflater.push(data, last);
      if (last) pmd.messageEnding = true;
      this.drain(pmd);
      return;
    }
    if (!m.binary && !m.utf8!.push(data)) {
      this.fail(CloseCode.INVALID_PAYLOAD, "text message is not valid UTF-8");
      return;
    }
    m.size += data.length;
    if (this.delivery === "fragment") {
      const final = header.fin && remaining === 0;
      if (final && !m.binary && !m.utf8!.finish()) {
        this.fail(CloseCode.INVALID_PAYLOAD, "text message ends inside a UTF-8 sequence");
        return;
      }
      const first = m.atFirstPiece;
      m.atFirstPiece = false;
      if (final) m.open = false;
      this.events.onFragment(data, { first, final, binary: m.binary, remaining });
      return;
    }
    if (m.piecesMasked) m.holdMasked(data, header.payloadLength, this.parser!);
    else m.hold(data);
  }

  onFrameEnd(header: FrameHeader): void {
    const op = header.opcode;
    if (op >= Opcode.CLOSE) {
      const payload = this.control ?? emptyBuffer;
      this.control = null;
      if (op === Opcode.PING) this.onPingFrame(payload);
      else if (op === Opcode.PONG) this.events.onPong(payload);
      else this.onCloseFrame(payload);
      return;
    }
    if (!header.fin) return;
    const m = this.incoming!;
    const pmd = this.pmd;
    if (pmd !== null && pmd.receiving) {
      // A last frame with payload queued the tail with its last byte; the message ended
      // when the inflater ran dry (or will, when the backlog is done).
      if (header.payloadLength > 0) return;
      if (pmd.compressedInMessage === 0) {
        // No compressed byte at all: an empty message (the inflater is not involved, so a
        // peer that sends RSV1 with nothing cannot leave it inside a half-read block).
        this.endCompressedMessage(pmd, emptyBuffer);
        return;
      }
      pmd.inflater.push(emptyBuffer, true);
      pmd.messageEnding = true;
      pmd.frameRemaining = 0;
      this.drain(pmd);
      return;
    }
    if (!m.binary && !m.utf8!.finish()) {
      this.fail(CloseCode.INVALID_PAYLOAD, "text message ends inside a UTF-8 sequence");
      return;
    }
    if (this.delivery === "fragment") {
      // A FIN frame with no payload: the empty final piece still has to be told.
      if (m.open) {
        const first = m.atFirstPiece;
        m.open = false;
        this.events.onFragment(emptyBuffer, { first, final: true, binary: m.binary, remaining: 0 });
      }
      return;
    }
    m.open = false;
    this.events.onMessage(m.take(this.parser!), m.binary);
  }

  onProtocolError(closeCode: number, message: string): void {
    if (closeCode === CloseCode.MESSAGE_TOO_BIG) {
      const size = this.parser!.declaredLength;
      this.fail(closeCode, message, { kind: "frame", size, limit: this.limits.maxFramePayload }, false);
      return;
    }
    this.fail(closeCode, message, null, false);
  }

  // ---- internals -------------------------------------------------------------------

  /**
   * Inflate what the inflater holds, within this call's budget, handing each piece on.
   * Stops with `backlog` set when the budget is spent or an event paused rx with input
   * left; the parser is then paused until a later call finishes the work.
   */
  private drain(pmd: SessionDeflate): void {
    const inflater = pmd.inflater;
    while (!this.inputEnded) {
      const more = inflater.hasMore;
      if (!more && !pmd.messageEnding) {
        pmd.backlog = false;
        return;
      }
      if (this.userPaused || (more && pmd.rxBudget <= 0)) {
        inflater.keepInput();
        pmd.backlog = true;
        this.parser!.pause();
        return;
      }
      if (!more) {
        pmd.backlog = false;
        this.endCompressedMessage(pmd, emptyBuffer);
        return;
      }
      const scratch = inflateScratch();
      // At most one byte past the limit is ever inflated: that byte is what proves it.
      const cap = Math.min(pmd.rxBudget, scratch.length, this.limits.maxMessageSize - this.incoming!.size + 1);
      const n = inflater.read(scratch, cap);
      if (n < 0) {
        this.fail(CloseCode.INVALID_PAYLOAD, `invalid compressed data: ${inflater.error ?? "zlib error"}`);
        return;
      }
      pmd.rxBudget -= n;
      pmd.stats.received.inflatedBytes += n;
      if (n === 0) continue;
      // Copied out of the shared scratch before any event can run.
      const piece = Buffer.from(scratch.subarray(0, n));
      if (pmd.messageEnding && !inflater.hasMore) {
        pmd.backlog = false;
        this.endCompressedMessage(pmd, piece);
        return;
      }
      this.takeInflated(piece, false);
    }
  }

  private endCompressedMessage(pmd: SessionDeflate, last: Buffer): void {
    pmd.messageEnding = false;
    pmd.inflater.endMessage();
    pmd.stats.received.messages++;
    this.takeInflated(last, true);
  }

  /** One inflated piece: checked (UTF-8, limits) like received payload, then delivered or held. */
  private takeInflated(piece: Buffer, final: boolean): void {
    const m = this.incoming!;
    const limit = this.limits.maxMessageSize;
    if (piece.length > 0) {
      if (!m.binary && !m.utf8!.push(piece)) {
        this.fail(CloseCode.INVALID_PAYLOAD, "text message is not valid UTF-8");
        return;
      }
      m.size += piece.length;
      if (m.size > limit) {
        this.tooLarge("message", m.size, limit);
        return;
      }
      if (this.delivery === "message") {
        m.held += piece.length;
        if (m.held > limit + this.limits.fragmentOverhead) {
          this.tooLarge("message", m.held, limit);
          return;
        }
      }
    }
    if (final && !m.binary && !m.utf8!.finish()) {
      this.fail(CloseCode.INVALID_PAYLOAD, "text message ends inside a UTF-8 sequence");
      return;
    }
    if (this.delivery === "fragment") {
      if (piece.length === 0 && !final) return;
      const first = m.atFirstPiece;
      m.atFirstPiece = false;
      if (final) m.open = false;
      this.events.onFragment(piece, { first, final, binary: m.binary, remaining: final ? 0 : this.pmd!.frameRemaining });
      return;
    }
    if (piece.length > 0) m.hold(piece);
    if (!final) return;
    m.open = false;
    this.events.onMessage(m.take(this.parser!), m.binary);
  }

  private onPingFrame(payload: Buffer): void {
    if (!this.closing) this.owePong(payload);
    this.events.onPing(payload);
  }

  /** Queue a pong (the payload is already a copy: see onFrameHeader), within the bounds. */
  private owePong(payload: Buffer): void {
    const owed = (this.owedPongs ??= []);
    owed.push(payload);
    let bytes = 0;
    for (const p of owed) bytes += p.length;
    // Over a bound: drop the oldest until within it (the newest always stays, ≤ 125 bytes).
    while (owed.length > MAX_OWED_PONGS || (bytes > MAX_OWED_PONG_BYTES && owed.length > 1)) {
      bytes -= owed.shift()!.length;
    }
  }

  private onCloseFrame(payload: Buffer): void {
    let code: number = CloseCode.NO_STATUS;
    let reason = "";
    if (payload.length === 1) {
      this.fail(CloseCode.PROTOCOL_ERROR, "close frame payload of 1 byte: a close code needs 2");
      return;
    }
    if (payload.length >= 2) {
      code = payload.readUInt16BE(0);
      if (!isValidWireCloseCode(code)) {
        this.fail(CloseCode.PROTOCOL_ERROR, `close code ${code} is not allowed on the wire`);
        return;
      }
      const reasonBytes = payload.subarray(2);
      if (!isValidUtf8(reasonBytes)) {
        this.fail(CloseCode.INVALID_PAYLOAD, "close reason is not valid UTF-8");
        return;
      }
      reason = reasonBytes.toString("utf8");
    }
    this.closeReceived = true;
    this.inputEnded = true;
    this.incoming?.drop();
    this.pmd?.inflater.release();
    const initiatedByPeer = !this.closing;
    if (initiatedByPeer) {
      // Echo the peer's code (RFC 6455 §5.5.1); an empty close is answered empty.
      this.owedClose = code === CloseCode.NO_STATUS ? emptyBuffer : closePayload(code, emptyBuffer);
      this.stateValue = "closing";
    } else if (this.closeSent) {
      this.stateValue = "closed";
    }
    this.owedPongs = null;
    this.parser!.pause();
    this.events.onClose(code, reason, initiatedByPeer);
  }

  private tooLarge(kind: "frame" | "message", size: number, limit: number): void {
    this.fail(CloseCode.MESSAGE_TOO_BIG, `${kind} of ${size} bytes exceeds the limit of ${limit}`, { kind, size, limit });
  }

  private fail(
    code: number,
    message: string,
    tooLarge: { kind: "frame" | "message"; size: number; limit: number } | null = null,
    stopParser = true,
  ): void {
    if (this.inputEnded) return;
    this.inputEnded = true;
    this.failed = true;
    this.incoming?.drop();
    this.pmd?.inflater.release();
    this.owedPongs = null;
    if (!this.closing) {
      // Our messages are ASCII, so cutting at 123 bytes cannot split a UTF-8 sequence.
      this.owedClose = closePayload(code, Buffer.from(message, "utf8").subarray(0, 123));
      this.stateValue = "closing";
      this.failedWhileOpen = true;
    } else if (this.closeSent) {
      // Our close is already out and nothing more is read, so the peer's close can never
      // arrive: there is nothing left to wait for (RFC 6455 §7.1.7), as takeOwedFrames
      // decides when the close goes out after a failure.
      this.stateValue = "closed";
    }
    if (stopParser) this.parser?.pause();
    this.events.onPeerError(new PeerError(code, message), tooLarge);
  }
}

function closePayload(code: number, reason: Uint8Array): Buffer {
  const payload = Buffer.allocUnsafe(2 + reason.length);
  payload.writeUInt16BE(code, 0);
  payload.set(reason, 2);
  return payload;
}
