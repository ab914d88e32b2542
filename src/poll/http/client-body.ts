/**
 * The client's request body on the wire: Content-Length or chunked, written in pieces
 * and counted against what the head announced. A whole `ConnectInfo.body` is the
 * one-piece case, written with the head; a streamed one (`bodyLength`) comes a piece per
 * CLIENT_HTTP_WRITEABLE. Pieces are views, never copied: one per write, as on the server.
 */
import { usage } from "../../core/errors.js";
import { encodeChunk } from "../../core/http/chunked.js";

/** A body length announced in the head, or "chunked" when it is not known in advance. */
export type RequestBodyLength = number | "chunked";

export class RequestBody {
  /** Bytes still owed under Content-Length (unused when chunked). */
  private remaining: number;
  private doneValue: boolean;

  constructor(readonly length: RequestBodyLength) {
    this.remaining = length === "chunked" ? 0 : length;
    this.doneValue = length === 0;
  }

  /** The framing header the request head carries. */
  get header(): [string, string] {
    return this.length === "chunked" ? ["Transfer-Encoding", "chunked"] : ["Content-Length", String(this.length)];
  }

  /** Every byte (and, chunked, the last chunk) has been written. */
  get done(): boolean {
    return this.doneValue;
  }

  /** Throw if `data` cannot be the next piece (too long, or final short of the length). Changes nothing. */
  check(data: Uint8Array, final: boolean): void {
    if (this.doneValue) throw usage("INVALID_STATE", "the request body is already complete");
    if (this.length === "chunked") return;
    if (data.length > this.remaining) {
      throw usage("INVALID_ARGUMENT", `${data.length} bytes written with only ${this.remaining} left of the request's Content-Length`);
    }
    if (final && data.length < this.remaining) {
      throw usage("INVALID_ARGUMENT", `final write leaves ${this.remaining - data.length} bytes of the request's Content-Length unwritten`);
    }
  }

  /**
   * Append the piece's wire bytes to `out` and return their count. A Content-Length body
   * ends with its last byte (`final` is optional then); a chunked one with `final`.
   */
  encode(out: Uint8Array[], data: Uint8Array, final: boolean): number {
    this.check(data, final);
    if (this.length === "chunked") {
      this.doneValue = final;
      return encodeChunk(out, data, final);
    }
    this.remaining -= data.length;
    this.doneValue = this.remaining === 0;
    if (data.length === 0) return 0;
    out.push(data);
    return data.length;
  }
}
