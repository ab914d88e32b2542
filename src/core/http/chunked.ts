/**
 * The chunked transfer coding (RFC 9112 §7.1), both ways.
 *
 * Decoding is incremental and bounded: input may be split at any byte, data comes out
 * as views of the input (never copied), and the only bytes held are a count of the
 * size line and of the trailer section, each capped, so a peer sending an endless
 * chunk extension or trailer meets a limit instead of our memory. Line ends must be
 * CRLF: a lenient reading (bare LF, bare CR) is where a proxy and a server disagree
 * about where a body ends, which is how requests are smuggled.
 */
import type { BodyDecoder, BodyStep } from "./body.js";
import { TCHAR } from "./headers.js";

export interface ChunkedDecoderOptions {
  /** Longest chunk-size line (size and extensions), CRLF excluded. Default 4096. */
  maxLineBytes?: number;
  /** Most bytes of trailer section, line ends included. Default 8192. */
  maxTrailerBytes?: number;
  /** Most body bytes accepted; a chunk that would cross it is refused with 413. Default: no limit. */
  maxBodyBytes?: number;
}

const CR = 0x0d;
const LF = 0x0a;

const enum State {
  Size,
  Extension,
  SizeLf,
  Data,
  DataCr,
  DataLf,
  TrailerLine,
  TrailerLf,
  Done,
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

export class ChunkedDecoder implements BodyDecoder {
  private readonly maxLineBytes: number;
  private readonly maxTrailerBytes: number;
  private readonly maxBodyBytes: number;
  private state = State.Size;
  private size = 0;
  private digits = 0;
  private lineBytes = 0;
  private remaining = 0;
  private trailerBytes = 0;
  /** The current trailer line's name is still being read (for the colon check). */
  private trailerName = true;
  private trailerNameLength = 0;
  private receivedValue = 0;

  constructor(options: ChunkedDecoderOptions = {}) {
    this.maxLineBytes = options.maxLineBytes ?? 4096;
    this.maxTrailerBytes = options.maxTrailerBytes ?? 8192;
    this.maxBodyBytes = options.maxBodyBytes ?? Number.POSITIVE_INFINITY;
  }

  get received(): number {
    return this.receivedValue;
  }

  get done(): boolean {
    return this.state === State.Done;
  }

  next(input: Buffer, start: number): BodyStep {
    let i = start;
    while (i < input.length) {
      const c = input[i]!;
      switch (this.state) {
        case State.Size: {
          const v = hexValue(c);
          if (v >= 0) {
            this.size = this.size * 16 + v;
            if (this.size > Number.MAX_SAFE_INTEGER) return bad("chunk size is too large");
            this.digits++;
            i++;
            if (++this.lineBytes > this.maxLineBytes) return bad(`chunk-size line is over ${this.maxLineBytes} bytes`);
            break;
          }
          if (this.digits === 0) return bad(`chunk size expected, got byte 0x${c.toString(16).padStart(2, "0")}`);
          this.state = State.Extension;
          break;
        }
        case State.Extension: {
          // Extensions are skipped (nobody defines one we act on), but counted.
          if (c === CR) {
            this.state = State.SizeLf;
            i++;
            break;
          }
          if (c === LF) return bad("chunk-size line ends with a bare LF");
          if (c !== 0x09 && (c < 0x20 || c === 0x7f)) return bad("control character in a chunk extension");
          i++;
          if (++this.lineBytes > this.maxLineBytes) return bad(`chunk-size line is over ${this.maxLineBytes} bytes`);
          break;
        }
        case State.SizeLf: {
          if (c !== LF) return bad("CR not followed by LF after the chunk size");
          i++;
          if (this.size === 0) {
            this.state = State.TrailerLine;
            this.startTrailerLine();
            break;
          }
          if (this.receivedValue + this.size > this.maxBodyBytes) {
            return { kind: "error", status: 413, message: `body is over ${this.maxBodyBytes} bytes` };
          }
          this.remaining = this.size;
          this.state = State.Data;
          break;
        }
        case State.Data: {
          const n = Math.min(this.remaining, input.length - i);
          const data = input.subarray(i, i + n);
          this.remaining -= n;
          this.receivedValue += n;
          if (this.remaining === 0) this.state = State.DataCr;
          return { kind: "data", data, end: i + n };
        }
        case State.DataCr:
          if (c !== CR) return bad("chunk data is longer than its size (no CRLF after it)");
          this.state = State.DataLf;
          i++;
          break;
        case State.DataLf:
          if (c !== LF) return bad("CR not followed by LF after chunk data");
          i++;
          this.state = State.Size;
          this.size = 0;
          this.digits = 0;
          this.lineBytes = 0;
          break;
        case State.TrailerLine: {
          if (++this.trailerBytes > this.maxTrailerBytes) {
            return { kind: "error", status: 431, message: `trailer section is over ${this.maxTrailerBytes} bytes` };
          }
          i++;
          if (c === CR) {
            if (this.trailerName && this.trailerNameLength > 0) return bad("trailer line without a colon");
            this.state = State.TrailerLf;
            break;
          }
          if (c === LF) return bad("trailer line ends with a bare LF");
          if (this.trailerName) {
            if (c === 0x3a) {
              if (this.trailerNameLength === 0) return bad("trailer field with an empty name");
              this.trailerName = false;
            } else if (TCHAR[c] !== 1) {
              return bad("trailer field name is not a token");
            } else {
              this.trailerNameLength++;
            }
          } else if (c !== 0x09 && (c < 0x20 || c === 0x7f)) {
            return bad("control character in a trailer field");
          }
          break;
        }
        case State.TrailerLf: {
          if (c !== LF) return bad("CR not followed by LF in the trailer section");
          i++;
          this.trailerBytes++;
          if (this.trailerNameLength === 0 && this.trailerName) {
            // The empty line: the message is complete.
            this.state = State.Done;
            return { kind: "done", end: i };
          }
          this.state = State.TrailerLine;
          this.startTrailerLine();
          break;
        }
        case State.Done:
          return { kind: "done", end: i };
      }
    }
    return { kind: "more" };
  }

  end(): BodyStep {
    if (this.state === State.Done) return { kind: "done", end: 0 };
    return { kind: "error", status: 400, message: "connection ended inside a chunked body" };
  }

  private startTrailerLine(): void {
    this.trailerName = true;
    this.trailerNameLength = 0;
  }
}

function bad(message: string): BodyStep {
  return { kind: "error", status: 400, message };
}

const CRLF = Buffer.from("\r\n", "latin1");
const LAST_CHUNK = Buffer.from("0\r\n\r\n", "latin1");

/**
 * Frame `data` as one chunk, appending views to `out` (no copy of the data). An empty
 * `data` appends nothing: a zero-size chunk would end the body. With `last`, the
 * terminating chunk follows. Returns the bytes appended.
 */
export function encodeChunk(out: Uint8Array[], data: Uint8Array, last = false): number {
  let bytes = 0;
  if (data.length > 0) {
    const size = Buffer.from(`${data.length.toString(16)}\r\n`, "latin1");
    out.push(size, data, CRLF);
    bytes += size.length + data.length + 2;
  }
  if (last) {
    out.push(LAST_CHUNK);
    bytes += LAST_CHUNK.length;
  }
  return bytes;
}
