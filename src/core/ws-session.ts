/**
 * The WebSocket role of one connection, after the opening handshake: bytes in, events
 * and frames out. It owns the frame parser, message assembly, UTF-8 validation, the
 * close handshake and the control frames it owes the peer. It never writes anywhere:
 * frames leave as chunks appended to an array the caller gives.
 */
import { CloseCode, isValidUserCloseCode, isValidWireCloseCode } from "./close-codes.js";
import { PeerError, usage } from "./errors.js";
import { Opcode, type FrameHeader } from "./frame.js";
import { FrameParser, type FrameSink } from "./frame-parser.js";
import { encodeFrame, encodeMessage } from "./frame-writer.js";
import type { MaskSource } from "./mask-source.js";
import { Utf8Validator, isValidUtf8 } from "./utf8.js";

export interface WsSessionLimits {
  /** Largest frame payload accepted; a bigger declared length closes with 1009. */
  maxFramePayload: number;
  /** Largest message accepted (bytes held while assembling, see fragmentOverhead). */
  maxMessageSize: number;
  /**
   * Bytes charged for every piece held while assembling a message, on top of its
   * payload, so that a flood of tiny fragments meets the same budget as one big frame.
   */
  fragmentOverhead: number;
}

export const defaultLimits: WsSessionLimits = {
  maxFramePayload: 16 * 1024 * 1024,
  maxMessageSize: 16 * 1024 * 1024,
  fragmentOverhead: 64,
};

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
  limits?: Partial<WsSessionLimits>;
  delivery?: "message" | "fragment";
  /** Client side: where mask keys come from. */
  maskSource?: MaskSource;
  /** RSV bits negotiated by extensions (4 = RSV1). */
  allowedRsv?: number;
  /** Outgoing messages are split into frames of at most this many payload bytes (0 = never). */
  maxOutgoingFrame?: number;
}

const emptyBuffer = Buffer.alloc(0);

/**
 * One WebSocket conversation. Feed received bytes to {@link receive}; write what
 * {@link takeOwedFrames} and {@link encodeData} append when the transport is writeable.
 */
export class WsSession implements FrameSink {
  readonly role: "server" | "client";
  readonly limits: WsSessionLimits;
  readonly delivery: "message" | "fragment";
  private readonly parser: FrameParser;
  private readonly mask: MaskSource | null;
  private readonly maxOutgoingFrame: number;

  private stateValue: WsSessionState = "open";
  private closeSent = false;
  private closeReceived = false;
  /** Nothing more is read from the peer: its close arrived, or it broke the protocol. */
  private inputEnded = false;
  private failed = false;
  /** Control frames we owe, sent before user data: at most one pong and one close. */
  private owedPong: Buffer | null = null;
  private owedClose: Buffer | null = null;

  // Incoming message assembly.
  private messageOpen = false;
  private messageBinary = false;
  private messageFirstPiece = true;
  private messageHeld = 0; // bytes charged against maxMessageSize (payload + overhead)
  private messageSize = 0; // payload bytes of the message so far
  private pieces: Buffer[] = [];
  private readonly utf8 = new Utf8Validator();
  // Control frame payloads (≤ 125 bytes) are gathered here when split across reads.
  private control: Buffer | null = null;
  private controlLength = 0;
  private frame: FrameHeader | null = null;

  // Outgoing fragmented message state, to catch misuse early.
  private sendingFragmented = false;

  constructor(
    options: WsSessionOptions,
    private readonly events: WsSessionEvents,
  ) {
    this.role = options.role;
    this.limits = { ...defaultLimits, ...options.limits };
    this.delivery = options.delivery ?? "message";
    this.mask = options.role === "client" ? (options.maskSource ?? null) : null;
    if (options.role === "client" && !this.mask) {
      throw usage("INVALID_ARGUMENT", "a client session needs a maskSource: clients must mask every frame");
    }
    this.maxOutgoingFrame = options.maxOutgoingFrame ?? 0;
    this.parser = new FrameParser(
      { role: options.role, maxFramePayload: this.limits.maxFramePayload, allowedRsv: options.allowedRsv ?? 0 },
      this,
    );
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
   * event; feed the rest again after {@link resumeRx}.
   */
  receive(chunk: Buffer): number {
    if (this.inputEnded) return chunk.length;
    const consumed = this.parser.push(chunk);
    // Input after the end of the conversation is discarded, not held.
    return this.inputEnded ? chunk.length : consumed;
  }

  /** True once nothing more will be read: the peer's close arrived or it broke the protocol. */
  get inputDone(): boolean {
    return this.inputEnded;
  }

  /** Stop consuming input right after the current event (rx flow control). */
  pauseRx(): void {
    this.parser.pause();
  }

  resumeRx(): void {
    if (!this.inputEnded) this.parser.resume();
  }

  get rxPaused(): boolean {
    return this.parser.paused;
  }

  /** Are there control frames owed to the peer? */
  get hasOwedFrames(): boolean {
    return this.owedPong !== null || this.owedClose !== null;
  }

  /**
   * Append owed control frames (pong, then close) to `out`. Returns bytes appended.
   * After the close goes out, no data frame may follow.
   */
  takeOwedFrames(out: Uint8Array[]): number {
    let bytes = 0;
    if (this.owedPong) {
      if (!this.closeSent) bytes += encodeFrame(out, Opcode.PONG, this.owedPong, { mask: this.mask });
      this.owedPong = null;
    }
    if (this.owedClose) {
      bytes += encodeFrame(out, Opcode.CLOSE, this.owedClose, { mask: this.mask });
      this.owedClose = null;
      this.closeSent = true;
      // After failing there is no close to wait for (RFC 6455 §7.1.7).
      this.stateValue = this.closeReceived || this.failed ? "closed" : "closing";
    }
    return bytes;
  }

  /**
   * Encode user data. `opcode` is TEXT, BINARY or CONTINUATION; `fin` false leaves the
   * message open for continuations. Throws on misuse (after close, bad sequence).
   */
  encodeData(out: Uint8Array[], opcode: number, payload: Uint8Array, fin = true): number {
    if (this.closing || this.stateValue !== "open") {
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
    this.sendingFragmented = !fin;
    if (fin && opcode !== Opcode.CONTINUATION) {
      return encodeMessage(out, opcode, payload, this.maxOutgoingFrame, { mask: this.mask });
    }
    const max = this.maxOutgoingFrame;
    if (max === 0 || payload.length <= max) return encodeFrame(out, opcode, payload, { fin, mask: this.mask });
    // A fragment the caller sends is bound by maxOutgoingFrame too (the peer's frame
    // limit does not care how the message was cut): split it, the first piece keeping
    // the opcode and only the last one taking the caller's fin.
    let total = 0;
    for (let offset = 0; offset < payload.length; offset += max) {
      const end = Math.min(offset + max, payload.length);
      total += encodeFrame(out, offset === 0 ? opcode : Opcode.CONTINUATION, payload.subarray(offset, end), {
        fin: fin && end === payload.length,
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
    this.frame = header;
    const op = header.opcode;
    if (op >= Opcode.CLOSE) {
      this.controlLength = 0;
      this.control = header.payloadLength > 0 ? Buffer.allocUnsafe(header.payloadLength) : null;
      return;
    }
    if (op !== Opcode.CONTINUATION) {
      this.messageOpen = true;
      this.messageBinary = op === Opcode.BINARY;
      this.messageFirstPiece = true;
      this.messageHeld = 0;
      this.messageSize = 0;
      if (!this.messageBinary) this.utf8.reset();
    }
    // The frame limit is the parser's; the message limit is checked as bytes arrive,
    // but a declared length that cannot fit is refused before any of it is held.
    if (this.messageSize + header.payloadLength > this.limits.maxMessageSize) {
      this.tooLarge("message", this.messageSize + header.payloadLength, this.limits.maxMessageSize);
      return;
    }
    // The overhead is charged once per fragment, here, not per received piece: per piece,
    // the same message would cost more the more finely the input happened to be chunked
    // (a message fed byte by byte paid 64 bytes per byte) and fit or not by chance.
    if (this.delivery === "message" && header.payloadLength > 0) {
      this.messageHeld += header.payloadLength + this.limits.fragmentOverhead;
      if (this.messageHeld > this.limits.maxMessageSize + this.limits.fragmentOverhead) {
        this.tooLarge("message", this.messageHeld, this.limits.maxMessageSize);
      }
    }
  }

  onFramePayload(data: Buffer, remaining: number): void {
    const header = this.frame!;
    if (header.opcode >= Opcode.CLOSE) {
      data.copy(this.control!, this.controlLength);
      this.controlLength += data.length;
      return;
    }
    if (!this.messageBinary && !this.utf8.push(data)) {
      this.fail(CloseCode.INVALID_PAYLOAD, "text message is not valid UTF-8");
      return;
    }
    this.messageSize += data.length;
    if (this.delivery === "fragment") {
      const final = header.fin && remaining === 0;
      if (final && !this.messageBinary && !this.utf8.finish()) {
        this.fail(CloseCode.INVALID_PAYLOAD, "text message ends inside a UTF-8 sequence");
        return;
      }
      const first = this.messageFirstPiece;
      this.messageFirstPiece = false;
      if (final) this.messageOpen = false;
      this.events.onFragment(data, { first, final, binary: this.messageBinary, remaining });
      return;
    }
    this.pieces.push(data);
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
    if (!this.messageBinary && !this.utf8.finish()) {
      this.fail(CloseCode.INVALID_PAYLOAD, "text message ends inside a UTF-8 sequence");
      return;
    }
    if (this.delivery === "fragment") {
      // A FIN frame with no payload: the empty final piece still has to be told.
      if (this.messageOpen) {
        const first = this.messageFirstPiece;
        this.messageOpen = false;
        this.events.onFragment(emptyBuffer, { first, final: true, binary: this.messageBinary, remaining: 0 });
      }
      return;
    }
    this.messageOpen = false;
    const pieces = this.pieces;
    const data =
      pieces.length === 0 ? emptyBuffer : pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces, this.messageSize);
    this.pieces = [];
    this.events.onMessage(data, this.messageBinary);
  }

  onProtocolError(closeCode: number, message: string): void {
    if (closeCode === CloseCode.MESSAGE_TOO_BIG) {
      const size = this.parser.declaredLength;
      this.fail(closeCode, message, { kind: "frame", size, limit: this.limits.maxFramePayload }, false);
      return;
    }
    this.fail(closeCode, message, null, false);
  }

  // ---- internals -------------------------------------------------------------------

  private onPingFrame(payload: Buffer): void {
    // Only the newest ping is answered when several arrive before we can write
    // (RFC 6455 §5.5.3 allows it), so a ping flood holds at most 125 bytes here.
    if (!this.closing) this.owedPong = payload;
    this.events.onPing(payload);
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
    this.pieces = [];
    const initiatedByPeer = !this.closing;
    if (initiatedByPeer) {
      // Echo the peer's code (RFC 6455 §5.5.1); an empty close is answered empty.
      this.owedClose = code === CloseCode.NO_STATUS ? emptyBuffer : closePayload(code, emptyBuffer);
      this.stateValue = "closing";
    } else if (this.closeSent) {
      this.stateValue = "closed";
    }
    this.owedPong = null;
    this.parser.pause();
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
    this.pieces = [];
    this.owedPong = null;
    if (!this.closing) {
      // Our messages are ASCII, so cutting at 123 bytes cannot split a UTF-8 sequence.
      this.owedClose = closePayload(code, Buffer.from(message, "utf8").subarray(0, 123));
      this.stateValue = "closing";
    } else if (this.closeSent) {
      // Our close is already out and nothing more is read, so the peer's close can never
      // arrive: there is nothing left to wait for (RFC 6455 §7.1.7), as takeOwedFrames
      // decides when the close goes out after a failure.
      this.stateValue = "closed";
    }
    if (stopParser) this.parser.pause();
    this.events.onPeerError(new PeerError(code, message), tooLarge);
  }
}

function closePayload(code: number, reason: Uint8Array): Buffer {
  const payload = Buffer.allocUnsafe(2 + reason.length);
  payload.writeUInt16BE(code, 0);
  payload.set(reason, 2);
  return payload;
}
