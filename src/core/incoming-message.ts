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
   * The assembled message, and the pieces let go: its one piece as it is, or the pieces
   * copied together. Pieces held masked are unmasked with `parser`'s current key.
   */
  take(parser: FrameParser): Buffer {
    const first = this.firstPiece;
    const more = this.morePieces;
    const masked = this.piecesMasked;
    this.drop();
    if (first === null) return emptyBuffer;
    if (more === null) {
      if (masked) parser.unmask(first, 0);
      return first;
    }
    if (!masked) return Buffer.concat([first, ...more], this.size);
    // Unmask while copying. The copy starts at the first piece's word alignment, so the
    // pieces after it (whole reads, mostly multiples of 4 bytes) line up word for word.
    const shift = first.byteOffset & 3;
    const whole = Buffer.allocUnsafe(this.size + shift).subarray(shift);
    parser.unmaskInto(whole, first, 0);
    let at = first.length;
    for (const piece of more) {
      parser.unmaskInto(whole.subarray(at), piece, at);
      at += piece.length;
    }
    return whole;
  }

  /** Let go of the pieces held (the message will never be delivered). */
  drop(): void {
    this.firstPiece = null;
    this.morePieces = null;
    this.piecesMasked = false;
  }
}
