/**
 * The data message a WebSocket session is receiving: its kind, the pieces held until it
 * is whole and what they cost against the message budget, and its UTF-8 state. A
 * session makes one at its first data frame and reuses it for every message after, so
 * a connection that never receives one holds none of this.
 */
import type { FrameParser } from "./frame-parser.js";
import { Utf8Validator } from "./utf8.js";

const emptyBuffer = Buffer.alloc(0);

export class IncomingMessage {
  /** From its first frame's header until it is delivered (or its last fragment is). */
  open = false;
  binary = false;
  /** No piece of it has been delivered yet (fragment delivery). */
  atFirstPiece = true;
  /** Bytes charged against maxMessageSize: payload plus the overhead of each fragment. */
  held = 0;
  /** Payload bytes so far. */
  size = 0;
  /** Made for the first text message (a binary-only connection never needs one). */
  utf8: Utf8Validator | null = null;
  /**
   * The message is one binary frame whose pieces are held masked (FrameParser.leaveMasked)
   * and unmasked while they are copied together: one pass over a large message, not two.
   */
  piecesMasked = false;
  /** The first piece held (most messages have one), then the rest. */
  private firstPiece: Buffer | null = null;
  private morePieces: Buffer[] | null = null;
  /**
   * A masked message's buffer, once a quarter of it has come (holdMasked): later pieces
   * are unmasked into it as they arrive, while the read that brought them is still in
   * the CPU's cache, and are not held. Its `filled` bytes are done.
   */
  private whole: Buffer | null = null;
  private filled = 0;

  /** A new message begins (its first frame's header was read). */
  start(binary: boolean): void {
    this.open = true;
    this.binary = binary;
    this.atFirstPiece = true;
    this.held = 0;
    this.size = 0;
    if (!binary) {
      if (this.utf8 === null) this.utf8 = new Utf8Validator();
      else this.utf8.reset();
    }
  }

  hold(piece: Buffer): void {
    if (this.firstPiece === null) this.firstPiece = piece;
    else (this.morePieces ??= []).push(piece);
  }

  /**
   * A piece of a message whose pieces are held masked (piecesMasked), `expected` bytes
   * long in all. Until a quarter of it has come the piece is held, so a peer that
   * announces a large message and sends little of it costs at most four times what it
   * sent; then the message's buffer is made, what was held is unmasked into it, and so
   * is each piece after, as it comes. A message that comes in one piece is never copied.
   */
  holdMasked(piece: Buffer, expected: number, parser: FrameParser): void {
    const whole = this.whole;
    if (whole !== null) {
      parser.unmaskInto(whole.subarray(this.filled), piece, this.filled);
      this.filled += piece.length;
      return;
    }
    this.hold(piece);
    if (this.size < expected && this.size * 4 >= expected) this.gather(expected, parser);
  }

  /** Make the buffer of a masked message and unmask what is held into it. */
  private gather(expected: number, parser: FrameParser): void {
    const first = this.firstPiece!;
    // The buffer starts at the first piece's word alignment, so the pieces after it
    // (whole reads, mostly multiples of 4 bytes) line up word for word.
    const shift = first.byteOffset & 3;
    const whole = Buffer.allocUnsafe(expected + shift).subarray(shift);
    parser.unmaskInto(whole, first, 0);
    let at = first.length;
    const more = this.morePieces;
    if (more !== null) {
      for (const piece of more) {
        parser.unmaskInto(whole.subarray(at), piece, at);
        at += piece.length;
      }
    }
    this.firstPiece = null;
    this.morePieces = null;
    this.whole = whole;
    this.filled = at;
  }

  /**
   * The assembled message, and the pieces let go: its one piece as it is, or the pieces
   * copied together. Pieces held masked are unmasked with `parser`'s current key.
   */
  take(parser: FrameParser): Buffer {
    // Pieces still held masked: the last one took the message from under a quarter to whole.
    if (this.piecesMasked && this.morePieces !== null) this.gather(this.size, parser);
    const first = this.firstPiece;
    const more = this.morePieces;
    const masked = this.piecesMasked;
    const whole = this.whole;
    this.drop();
    if (whole !== null) return whole;
    if (first === null) return emptyBuffer;
    if (more === null) {
      if (masked) parser.unmask(first, 0);
      return first;
    }
    return Buffer.concat([first, ...more], this.size);
  }

  /** Let go of the pieces held (the message will never be delivered). */
  drop(): void {
    this.firstPiece = null;
    this.morePieces = null;
    this.piecesMasked = false;
    this.whole = null;
    this.filled = 0;
  }
}
