import { isUtf8 } from "node:buffer";

/** Pieces up to this many bytes go through the automaton alone (see push). */
const SHORT_PIECE = 64;

/**
 * Incremental UTF-8 validation (RFC 3629, Unicode Table 3-7) for text messages that
 * arrive in pieces. RFC 6455 §8.1 lets an endpoint fail a connection as soon as the
 * text it has received can no longer be valid, so `push` answers after every piece:
 * a byte that no continuation could rescue is reported at once, not at the end of the
 * message.
 *
 * The bulk of each piece is checked by Node's native `isUtf8`. Only the few bytes that
 * straddle piece boundaries, and pieces of at most SHORT_PIECE bytes (where the native
 * call costs more than the bytes), go through the byte-wise automaton below.
 */
export class Utf8Validator {
  /** Continuation bytes still owed by the sequence that started in an earlier piece. */
  private need = 0;
  /** Allowed range of the next continuation byte (narrowed after E0, ED, F0, F4). */
  private lo = 0x80;
  private hi = 0xbf;
  private failed = false;

  /**
   * Adds the next piece of the stream. Returns false as soon as the stream so far
   * cannot be the start of valid UTF-8; once false, it stays false until `reset()`.
   */
  push(bytes: Uint8Array): boolean {
    if (this.failed) return false;
    const length = bytes.length;
    let i = 0;

    // Finish the sequence carried over from the previous piece.
    while (this.need > 0) {
      if (i === length) return true;
      const b = bytes[i++]!;
      if (b < this.lo || b > this.hi) return this.fail();
      this.need--;
      this.lo = 0x80;
      this.hi = 0xbf;
    }
    if (i === length) return true;

    // A short piece (a chat message, a header) is cheaper to walk here than to hand to
    // the native checker: the call costs more than the bytes.
    if (length - i <= SHORT_PIECE) {
      while (i < length && bytes[i]! < 0x80) i++; // ASCII, the common case
      for (; i < length; i++) {
        if (!this.step(bytes[i]!)) return this.fail();
      }
      return true;
    }

    // Find where the last, possibly incomplete, sequence starts: its lead byte is at
    // most 3 bytes before the end. Everything before it is complete and goes to the
    // native checker; the incomplete tail is fed to the automaton.
    let end = length;
    const stop = Math.max(i, length - 4);
    for (let j = length - 1; j >= stop; j--) {
      const b = bytes[j]!;
      if ((b & 0xc0) === 0x80) continue; // continuation byte: keep looking back
      if (j + sequenceLength(b) > length) end = j;
      break;
    }
    // If no lead byte was found (only continuation bytes), or the lead byte is invalid,
    // `end` stays at `length` and the native check rejects the span.

    if (end > i && !isUtf8(i === 0 && end === length ? bytes : bytes.subarray(i, end))) {
      return this.fail();
    }
    for (i = end; i < length; i++) {
      if (!this.step(bytes[i]!)) return this.fail();
    }
    return true;
  }

  /** True iff nothing has failed and no sequence is left incomplete. Changes no state. */
  finish(): boolean {
    return !this.failed && this.need === 0;
  }

  /** Forgets everything, ready for the next message. */
  reset(): void {
    this.need = 0;
    this.lo = 0x80;
    this.hi = 0xbf;
    this.failed = false;
  }

  /** One byte through the automaton; false if it makes the stream invalid. */
  private step(b: number): boolean {
    if (this.need > 0) {
      if (b < this.lo || b > this.hi) return false;
      this.need--;
      this.lo = 0x80;
      this.hi = 0xbf;
      return true;
    }
    if (b < 0x80) return true;
    if (b < 0xc2) return false; // stray continuation, or C0/C1 (always overlong)
    if (b < 0xe0) {
      this.need = 1;
    } else if (b < 0xf0) {
      this.need = 2;
      if (b === 0xe0) this.lo = 0xa0; // overlong 3-byte forms
      else if (b === 0xed) this.hi = 0x9f; // UTF-16 surrogates
    } else if (b < 0xf5) {
      this.need = 3;
      if (b === 0xf0) this.lo = 0x90; // overlong 4-byte forms
      else if (b === 0xf4) this.hi = 0x8f; // above U+10FFFF
    } else {
      return false; // F5..FF never occur in UTF-8
    }
    return true;
  }

  private fail(): false {
    this.failed = true;
    this.need = 0;
    return false;
  }
}

/**
 * Length of the sequence a lead byte announces; 0 for bytes that cannot start one,
 * which makes the caller hand them to the native check, where they fail.
 */
function sequenceLength(lead: number): number {
  if (lead < 0x80) return 1;
  if (lead < 0xc2) return 0;
  if (lead < 0xe0) return 2;
  if (lead < 0xf0) return 3;
  if (lead < 0xf5) return 4;
  return 0;
}

/** Is this complete byte string valid UTF-8? */
export function isValidUtf8(bytes: Uint8Array): boolean {
  return isUtf8(bytes);
}
