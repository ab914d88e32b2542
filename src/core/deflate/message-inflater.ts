/**
 * The receiving half of permessage-deflate (RFC 7692 §7.2.2): compressed payload goes
 * in as it arrives, the 00 00 ff ff tail after the last byte of the message, and
 * inflated bytes come out in pieces no bigger than the caller asks for — so the caller
 * decides how much a peer's few kilobytes may expand to before it stops and looks
 * (limits, UTF-8), and how much one service call may produce.
 *
 * With context takeover the inflater lives as long as the connection (once a first
 * compressed message arrived). Without it, one is borrowed from the process-wide pool
 * for the length of a message and given back reset.
 */
import { Buffer } from "node:buffer";
import { borrowZlib, returnZlib, RawZlib, type ZlibSettings } from "./native-zlib.js";

/** Its own allocation (not a slice of Node's shared pool), so a view can be told apart from input. */
export const TAIL: Buffer = (() => {
  const tail = Buffer.alloc(4);
  tail[2] = 0xff;
  tail[3] = 0xff;
  return tail;
})();
const empty = Buffer.alloc(0);

export class MessageInflater {
  private stream: RawZlib | null = null;
  /** Compressed input not yet consumed: `input[inOff..]`, then the tail if `tailQueued`. */
  private input: Buffer = empty;
  private inOff = 0;
  private tailQueued = false;
  /** The last read filled its output: zlib may have more without more input. */
  private outputFull = false;
  /**
   * The peer ended its deflate stream (a block with BFINAL set, RFC 7692 §7.2.3.4).
   * Whatever follows in the message is padding and is ignored; the next message starts
   * a new stream.
   */
  private streamEnded = false;
  /** zlib's complaint about the data, once it had one. */
  error: string | null = null;

  constructor(
    private readonly settings: ZlibSettings,
    private readonly takeover: boolean,
  ) {}

  /**
   * Hand over the next piece of the message, and with `last` the end of the message.
   * `data` may be a view of the caller's buffer: it is only read during {@link read}
   * calls until {@link keepInput} copies what is left.
   */
  push(data: Buffer, last: boolean): void {
    this.input = data;
    this.inOff = 0;
    if (last) this.tailQueued = true;
  }

  /** Is there input left, or possibly output, for {@link read}? */
  get hasMore(): boolean {
    if (this.error !== null) return false;
    if (this.streamEnded) return false;
    return this.outputFull || this.inOff < this.input.length || this.tailQueued;
  }

  /**
   * Inflate into `out[0..cap)`. Returns the number of bytes written, or -1 if the data
   * is not valid deflate (see {@link error}).
   */
  read(out: Buffer, cap: number): number {
    const stream = (this.stream ??= this.takeover ? new RawZlib("inflate", this.settings) : borrowZlib("inflate", this.settings));
    let written = 0;
    for (;;) {
      let source = this.input;
      let offset = this.inOff;
      let fromTail = false;
      if (offset >= source.length && this.tailQueued) {
        source = TAIL;
        offset = 0;
        fromTail = true;
      }
      const inLen = source.length - offset;
      if (!stream.run(source, offset, inLen, out, written, cap - written)) {
        this.error = stream.error ?? "invalid compressed data";
        return -1;
      }
      const consumed = inLen - stream.availIn;
      const produced = cap - written - stream.availOut;
      written += produced;
      if (fromTail) {
        // The tail is handed to zlib whole; once it is consumed the message is over.
        if (stream.availIn === 0) {
          this.tailQueued = false;
        } else if (stream.availOut > 0) {
          // Output space left but input not taken: the deflate stream ended before.
          this.streamEnded = true;
        } else {
          // The tail itself is partly consumed: carry the rest as ordinary input.
          this.input = TAIL.subarray(consumed);
          this.inOff = 0;
          this.tailQueued = false;
        }
      } else {
        this.inOff = offset + consumed;
        if (stream.availIn > 0 && stream.availOut > 0) this.streamEnded = true;
      }
      this.outputFull = stream.availOut === 0;
      if (this.outputFull || this.streamEnded || !this.hasMore) return written;
      // Input moved from the piece to the tail within one read: keep filling.
    }
  }

  /** The caller's buffer may change after this: copy the input not yet consumed. */
  keepInput(): void {
    if (this.inOff < this.input.length && this.input.buffer !== TAIL.buffer) {
      this.input = Buffer.from(this.input.subarray(this.inOff));
      this.inOff = 0;
    }
  }

  /**
   * The message is over (its tail was read). Without context takeover the inflater goes
   * back to the pool; a stream the peer ended is reset for the next message.
   */
  endMessage(): void {
    this.input = empty;
    this.inOff = 0;
    this.tailQueued = false;
    this.outputFull = false;
    if (this.streamEnded) {
      this.streamEnded = false;
      this.stream?.reset();
    }
    if (!this.takeover) this.release();
  }

  /** Frees (or pools) zlib's state. */
  release(): void {
    const stream = this.stream;
    this.stream = null;
    if (!stream) return;
    if (this.takeover || this.error !== null) stream.close();
    else returnZlib(stream);
  }

  /** Does this inflater hold zlib memory right now? */
  get holdsMemory(): boolean {
    return this.stream !== null;
  }
}

/**
 * The buffer inflation writes into, shared by every session: output is copied out of it
 * before any event runs, so a session receiving from inside another's event is safe.
 */
let scratch: Buffer | null = null;
export function inflateScratch(): Buffer {
  return (scratch ??= Buffer.allocUnsafe(64 * 1024));
}
