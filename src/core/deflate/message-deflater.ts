/**
 * The sending half of permessage-deflate (RFC 7692 §7.2.1): each message, or each
 * fragment of one, is compressed with a sync flush, and the 00 00 ff ff that flush ends
 * with is taken off the end of the message.
 *
 * With context takeover the compressor lives as long as the connection (once a first
 * message was compressed). Without it, a compressor is borrowed from the process-wide
 * pool for one message and given back reset, so an idle connection holds none.
 */
import { Buffer } from "node:buffer";
import { borrowZlib, returnZlib, RawZlib, type ZlibSettings } from "./native-zlib.js";

/** Shared output buffer: output is copied out of it before anything else can run. */
const SCRATCH_SIZE = 64 * 1024;
let scratch: Buffer | null = null;

export class MessageDeflater {
  private stream: RawZlib | null = null;
  /** A fragmented message is being compressed: the stream must stay until it ends. */
  private midMessage = false;
  /** Settings changed mid-message: apply them once it ends. */
  private next: ZlibSettings | null = null;

  constructor(
    private settings: ZlibSettings,
    private readonly takeover: boolean,
  ) {}

  /**
   * Compress the next piece of a message. `fin`: it is the last piece, so the flush
   * marker is removed (and a message whose compressed form would then be empty is sent
   * as the single byte 00, RFC 7692 §7.2.3.6).
   */
  compress(payload: Uint8Array, fin: boolean): Buffer {
    const stream = (this.stream ??= this.takeover ? new RawZlib("deflate", this.settings) : borrowZlib("deflate", this.settings));
    this.midMessage = !fin;
    const pieces: Buffer[] = [];
    let total = 0;
    let inOff = 0;
    const out = (scratch ??= Buffer.allocUnsafe(SCRATCH_SIZE));
    for (;;) {
      if (!stream.run(payload, inOff, payload.length - inOff, out, 0, SCRATCH_SIZE)) {
        // Compressing valid memory cannot fail; if zlib says otherwise it is a bug here.
        const message = stream.error;
        this.release();
        throw new Error(`zlib deflate failed: ${message}`);
      }
      const produced = SCRATCH_SIZE - stream.availOut;
      if (produced > 0) {
        pieces.push(Buffer.from(out.subarray(0, produced)));
        total += produced;
      }
      inOff = payload.length - stream.availIn;
      // A full output buffer may leave input or pending output behind: go again.
      if (stream.availOut !== 0) break;
    }
    let data = pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces, total);
    if (fin) {
      if (total >= 4 && data[total - 4] === 0 && data[total - 3] === 0 && data[total - 2] === 0xff && data[total - 1] === 0xff) {
        data = data.subarray(0, total - 4);
      }
      if (data.length === 0) data = Buffer.from([0]);
      this.endMessage();
    }
    return data;
  }

  /** New settings (level, memLevel, window): the next message starts a fresh context. */
  reconfigure(settings: ZlibSettings): void {
    if (this.midMessage) {
      this.next = settings;
      return;
    }
    this.settings = settings;
    if (this.takeover) this.release();
  }

  /** Frees (or pools) the compressor; the next message starts a fresh context. */
  release(): void {
    const stream = this.stream;
    this.stream = null;
    this.midMessage = false;
    if (!stream) return;
    if (this.takeover) stream.close();
    else returnZlib(stream);
  }

  /** Does this deflater hold zlib memory right now? */
  get holdsMemory(): boolean {
    return this.stream !== null;
  }

  private endMessage(): void {
    this.midMessage = false;
    if (this.next) {
      this.settings = this.next;
      this.next = null;
      this.release();
      return;
    }
    if (!this.takeover) this.release();
  }
}
