import type { Buffer } from "node:buffer";
import { CloseCode } from "./close-codes.js";
import { MAX_CONTROL_PAYLOAD, Opcode, isControlOpcode, isKnownOpcode } from "./frame.js";
import type { FrameHeader } from "./frame.js";
import { applyMaskKey, maskIntoKey } from "./mask.js";

/** Receives what a {@link FrameParser} reads. Callbacks must not call `push` re-entrantly. */
export interface FrameSink {
  /**
   * After the full header (mask key included) is read and validated. The header is the
   * parser itself, seen as a {@link FrameHeader}: it describes the frame being read and
   * changes with the next one, so copy what you need to keep past its `onFrameEnd`.
   */
  onFrameHeader(header: FrameHeader): void;
  /**
   * A piece of payload, already unmasked (unless the sink asked for it masked with
   * `leaveMasked()`). `data` is a view of the pushed chunk (no
   * copy), valid until the caller reuses that chunk. `remaining` is the number of this
   * frame's payload bytes still to come. Never called for a 0-length payload.
   */
  onFramePayload(data: Buffer, remaining: number): void;
  /** After the last payload byte; also for 0-length frames. The same header (the parser). */
  onFrameEnd(header: FrameHeader): void;
  /** Called once; the parser is then failed and ignores all further input. */
  onProtocolError(closeCode: number, message: string): void;
}

export interface FrameParserOptions {
  /** server: incoming frames MUST be masked; client: they MUST NOT be (RFC 6455 §5.1). */
  role: "server" | "client";
  /** A frame declaring a longer payload fails with 1009 as soon as its length is read. */
  maxFramePayload: number;
  /** RSV bits an extension negotiated: 4 = RSV1, 2 = RSV2, 1 = RSV3. */
  allowedRsv: number;
}

const enum State {
  /** Reading a header; `headerFill` bytes of it are in `scratch`. */
  Header,
  /** Reading payload; `remaining` bytes to go. */
  Payload,
  /** The last payload byte was delivered but a pause held back `onFrameEnd`. */
  EndPending,
  Failed,
}

/** 2 bytes of base header + 8 of extended length + 4 of mask key. */
const MAX_HEADER = 14;
/** Highest 32 bits of a 64-bit length that still give a safe integer (2^53 - 1). */
const MAX_SAFE_HIGH_WORD = 0x1fffff;

/**
 * Reads WebSocket frames (RFC 6455 §5.2) from bytes pushed in chunks split anywhere.
 *
 * It holds no payload: each piece of payload is unmasked in place inside the pushed
 * chunk and handed to the sink as a view. Only a header that straddles chunks is
 * copied, into a 14-byte scratch buffer. So the same sequence of events comes out
 * whatever the chunking, except that a frame's payload may arrive in more pieces.
 *
 * Besides framing, it enforces the frame-level rules of the RFC that need no message
 * context beyond "is a fragmented message open": masking by role, RSV bits, reserved
 * opcodes, control frame limits, minimal length encoding and fragment ordering.
 *
 * The parser is also the header of the frame it is reading ({@link FrameHeader}), which
 * it hands to the sink: one object per connection instead of two, for the whole life of
 * the connection, since the header is rewritten for every frame anyway.
 */
export class FrameParser implements FrameHeader {
  /** RSV bits an extension negotiated; may be changed once negotiation is done. */
  allowedRsv: number;

  private readonly role: "server" | "client";
  private readonly maxFramePayload: number;
  private readonly sink: FrameSink;

  private state: State = State.Header;
  private isPaused = false;
  private fragmentOpen = false;

  /** Made the first time a header straddles chunks (most connections never need it). */
  private scratch: Uint8Array | null = null;
  private headerFill = 0;
  /** Total size of the header being read, known once its first 2 bytes are. */
  private headerSize = 0;
  /** Where the length field of the header being read ends: 2, 4 or 10. */
  private lengthEnd = 2;

  /**
   * The frame's first byte, once checked: FIN, RSV1-3 and the opcode, which the getters
   * below read out of it (one field instead of five).
   */
  private firstByte = 0;
  private frameMasked = false;
  private frameLength = 0;
  // The mask key's four bytes: plain fields, because a typed array per connection costs
  // more memory than the rest of the parser's state.
  private key0 = 0;
  private key1 = 0;
  private key2 = 0;
  private key3 = 0;
  /** Key offset of the next payload byte, carried across chunks. */
  private maskPhase = 0;
  /** The sink unmasks this frame's payload itself (see {@link leaveMasked}). */
  private keepMasked = false;
  private remaining = 0;

  constructor(options: FrameParserOptions, sink: FrameSink) {
    this.role = options.role;
    this.maxFramePayload = options.maxFramePayload;
    this.allowedRsv = options.allowedRsv;
    this.sink = sink;
  }

  // ---- FrameHeader: the frame being read (the last one announced between frames) --------

  get fin(): boolean {
    return (this.firstByte & 0x80) !== 0;
  }

  get rsv1(): boolean {
    return (this.firstByte & 0x40) !== 0;
  }

  get rsv2(): boolean {
    return (this.firstByte & 0x20) !== 0;
  }

  get rsv3(): boolean {
    return (this.firstByte & 0x10) !== 0;
  }

  get opcode(): number {
    return this.firstByte & 0x0f;
  }

  get masked(): boolean {
    return this.frameMasked;
  }

  get payloadLength(): number {
    return this.frameLength;
  }

  // ---------------------------------------------------------------------------------------

  get paused(): boolean {
    return this.isPaused;
  }

  /** Payload length declared by the frame being parsed (also of one refused as too large). */
  get declaredLength(): number {
    return this.frameLength;
  }

  get failed(): boolean {
    return this.state === State.Failed;
  }

  /**
   * True while a fragmented data message is open: from the header of a non-FIN TEXT or
   * BINARY frame until just before the `onFrameEnd` of its FIN continuation.
   */
  get inFragmentedMessage(): boolean {
    return this.fragmentOpen;
  }

  /**
   * From `onFrameHeader`: deliver this frame's payload still masked; the sink unmasks
   * it itself with {@link unmask} or {@link unmaskInto}. A sink that gathers a frame
   * spread over many chunks into one buffer does so in one pass (unmask while copying)
   * instead of two (unmask in place, then copy).
   */
  leaveMasked(): void {
    if (this.frameMasked) this.keepMasked = true;
  }

  /**
   * Unmask `data` in place with the current frame's key, `data[0]` being at payload
   * offset `offset`. Valid until the next frame's header is read.
   */
  unmask(data: Uint8Array, offset: number): void {
    applyMaskKey(data, this.key0, this.key1, this.key2, this.key3, offset);
  }

  /** Write `src` unmasked into `dst` (see {@link unmask}). */
  unmaskInto(dst: Uint8Array, src: Uint8Array, offset: number): void {
    maskIntoKey(dst, src, this.key0, this.key1, this.key2, this.key3, offset);
  }

  /** Stop parsing after the current sink callback returns (see {@link push}). */
  pause(): void {
    this.isPaused = true;
  }

  /**
   * Allow parsing again. It does not parse by itself: push the rest of the chunk that
   * was held back, even if that rest is empty, since an `onFrameEnd` may be pending.
   */
  resume(): void {
    this.isPaused = false;
  }

  /**
   * Feeds bytes and returns how many were consumed: all of them, unless `pause()` was
   * called from a sink callback, in which case parsing stops right after that callback
   * and the caller pushes `chunk.subarray(consumed)` again after `resume()`. Pushing an
   * empty chunk is valid and delivers an `onFrameEnd` a pause held back.
   *
   * Masked payload is unmasked in place: the parser takes ownership of the chunk's
   * bytes. Once failed, every chunk is consumed and ignored.
   */
  push(chunk: Buffer): number {
    const length = chunk.length;
    let pos = 0;
    while (!this.isPaused) {
      switch (this.state) {
        case State.Header: {
          if (pos === length) return pos;
          pos = this.readHeader(chunk, pos);
          break;
        }
        case State.Payload: {
          if (pos === length) return pos;
          const n = Math.min(this.remaining, length - pos);
          const piece = chunk.subarray(pos, pos + n);
          pos += n;
          if (this.frameMasked && !this.keepMasked) {
            applyMaskKey(piece, this.key0, this.key1, this.key2, this.key3, this.maskPhase);
            this.maskPhase = (this.maskPhase + n) & 3;
          }
          this.remaining -= n;
          if (this.remaining === 0) this.state = State.EndPending;
          this.sink.onFramePayload(piece, this.remaining);
          break;
        }
        case State.EndPending:
          this.endFrame();
          break;
        case State.Failed:
          return length;
      }
    }
    return this.state === State.Failed ? length : pos;
  }

  /** Consumes header bytes from `chunk` at `pos`; returns the new position. */
  private readHeader(chunk: Buffer, pos: number): number {
    if (this.headerFill === 0 && chunk.length - pos >= 2) {
      if (!this.checkBaseHeader(chunk[pos]!, chunk[pos + 1]!)) return pos;
      // Common case: the whole header lies in this chunk, read it where it is.
      if (chunk.length - pos >= this.headerSize) {
        if (this.lengthEnd > 2 && !this.checkExtendedLength(chunk, pos + 2)) return pos;
        this.finishHeader(chunk, pos);
        return pos + this.headerSize;
      }
    }
    const scratch = (this.scratch ??= new Uint8Array(MAX_HEADER));
    if (this.headerFill === 0 && chunk.length - pos >= 2) {
      scratch[0] = chunk[pos]!;
      scratch[1] = chunk[pos + 1]!;
      this.headerFill = 2;
      pos += 2;
    }

    // The header straddles chunks: gather it in the scratch buffer, checking each part
    // as soon as it is complete so a bad frame fails without waiting for the rest.
    let fill = this.headerFill;
    if (fill < 2) {
      while (fill < 2 && pos < chunk.length) scratch[fill++] = chunk[pos++]!;
      this.headerFill = fill;
      if (fill < 2) return pos;
      if (!this.checkBaseHeader(scratch[0]!, scratch[1]!)) return pos;
    }
    const lengthEnd = this.lengthEnd;
    if (fill < lengthEnd) {
      while (fill < lengthEnd && pos < chunk.length) scratch[fill++] = chunk[pos++]!;
      this.headerFill = fill;
      if (fill < lengthEnd) return pos;
      if (!this.checkExtendedLength(scratch, 2)) return pos;
    }
    const size = this.headerSize;
    while (fill < size && pos < chunk.length) scratch[fill++] = chunk[pos++]!;
    this.headerFill = fill;
    if (fill === size) this.finishHeader(scratch, 0);
    return pos;
  }

  /**
   * Validates the first two header bytes and records what they say. Returns false
   * (after reporting) if the frame breaks a rule these bytes already decide.
   */
  private checkBaseHeader(b0: number, b1: number): boolean {
    const opcode = b0 & 0x0f;
    const fin = (b0 & 0x80) !== 0;
    const rsv = (b0 >>> 4) & 0x07;
    const masked = (b1 & 0x80) !== 0;
    const lengthCode = b1 & 0x7f;

    if ((rsv & ~this.allowedRsv) !== 0) {
      return this.fail(CloseCode.PROTOCOL_ERROR, `RSV bits 0x${(rsv & ~this.allowedRsv).toString(16)} set without an extension that defines them`);
    }
    if (!isKnownOpcode(opcode)) {
      return this.fail(CloseCode.PROTOCOL_ERROR, `reserved opcode 0x${opcode.toString(16)}`);
    }
    const control = isControlOpcode(opcode);
    if (control) {
      if (!fin) return this.fail(CloseCode.PROTOCOL_ERROR, "fragmented control frame");
      if (lengthCode > MAX_CONTROL_PAYLOAD) {
        return this.fail(CloseCode.PROTOCOL_ERROR, "control frame payload longer than 125 bytes");
      }
    }
    // RSV1 marks the first frame of a compressed message (RFC 7692 §6); it never
    // belongs on a control frame or a continuation.
    if ((rsv & 0x4) !== 0 && (control || opcode === Opcode.CONTINUATION)) {
      return this.fail(CloseCode.PROTOCOL_ERROR, `RSV1 set on a ${control ? "control" : "continuation"} frame`);
    }
    if (masked !== (this.role === "server")) {
      return this.fail(
        CloseCode.PROTOCOL_ERROR,
        masked ? "masked frame from a server" : "unmasked frame from a client",
      );
    }
    if (opcode === Opcode.CONTINUATION) {
      if (!this.fragmentOpen) return this.fail(CloseCode.PROTOCOL_ERROR, "continuation frame without a fragmented message to continue");
    } else if (!control && this.fragmentOpen) {
      return this.fail(CloseCode.PROTOCOL_ERROR, "new data frame while a fragmented message is still open");
    }
    if (lengthCode < 126 && lengthCode > this.maxFramePayload) {
      return this.tooBig(lengthCode);
    }

    this.firstByte = b0;
    this.frameMasked = masked;
    this.frameLength = lengthCode;
    this.lengthEnd = lengthCode < 126 ? 2 : lengthCode === 126 ? 4 : 10;
    this.headerSize = this.lengthEnd + (masked ? 4 : 0);
    return true;
  }

  /**
   * Reads and validates the 16- or 64-bit length that starts at `buf[p]`. Returns
   * false (after reporting) if it is not minimal, not representable, or over the limit.
   */
  private checkExtendedLength(buf: Uint8Array, p: number): boolean {
    let length: number;
    if (this.lengthEnd === 4) {
      length = (buf[p]! << 8) | buf[p + 1]!;
      if (length < 126) {
        return this.fail(CloseCode.PROTOCOL_ERROR, `length ${length} sent in the 16-bit form; the minimal form is required`);
      }
    } else {
      const high = ((buf[p]! << 24) | (buf[p + 1]! << 16) | (buf[p + 2]! << 8) | buf[p + 3]!) >>> 0;
      const low = ((buf[p + 4]! << 24) | (buf[p + 5]! << 16) | (buf[p + 6]! << 8) | buf[p + 7]!) >>> 0;
      if (high > 0x7fffffff) {
        return this.fail(CloseCode.PROTOCOL_ERROR, "64-bit payload length with the most significant bit set");
      }
      if (high === 0 && low < 65536) {
        return this.fail(CloseCode.PROTOCOL_ERROR, `length ${low} sent in the 64-bit form; the minimal form is required`);
      }
      if (high > MAX_SAFE_HIGH_WORD) {
        return this.fail(CloseCode.MESSAGE_TOO_BIG, "payload length above 2^53 - 1 bytes");
      }
      length = high * 0x100000000 + low;
    }
    if (length > this.maxFramePayload) return this.tooBig(length);
    this.frameLength = length;
    return true;
  }

  /** Takes the mask key of the checked header that starts at `buf[at]`, then announces the frame. */
  private finishHeader(buf: Uint8Array, at: number): void {
    this.headerFill = 0;
    if (this.frameMasked) {
      const p = at + this.lengthEnd;
      this.key0 = buf[p]!;
      this.key1 = buf[p + 1]!;
      this.key2 = buf[p + 2]!;
      this.key3 = buf[p + 3]!;
    }
    const length = this.frameLength;
    this.maskPhase = 0;
    this.keepMasked = false;
    this.remaining = length;
    const opcode = this.opcode;
    if (!this.fin && opcode !== Opcode.CONTINUATION && !isControlOpcode(opcode)) {
      this.fragmentOpen = true;
    }
    this.state = length === 0 ? State.EndPending : State.Payload;
    this.sink.onFrameHeader(this);
  }

  private endFrame(): void {
    this.state = State.Header;
    if (this.fin && this.opcode === Opcode.CONTINUATION) this.fragmentOpen = false;
    this.sink.onFrameEnd(this);
  }

  private tooBig(length: number): false {
    // The sink reads the declared size (declaredLength) when it reports "too large".
    this.frameLength = length;
    return this.fail(CloseCode.MESSAGE_TOO_BIG, `frame payload of ${length} bytes exceeds the limit of ${this.maxFramePayload}`);
  }

  private fail(code: number, message: string): false {
    this.state = State.Failed;
    this.sink.onProtocolError(code, message);
    return false;
  }
}
