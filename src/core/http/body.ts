/**
 * How long a message body is (RFC 9112 §6), decided from the head, and the decoders
 * that find its end in the bytes that follow. Pure: head in, framing out.
 *
 * Every decoder has the same shape: next(input, start) returns the next piece of body
 * as a view of the input, or says it needs more, is done, or met an error (with the
 * status a server answers). A caller that must stop between pieces (rx flow control)
 * keeps `input` and the offset, and calls again later.
 */
import type { HttpRequestHead } from "./head-parser.js";
import type { HeaderList } from "./headers.js";

export type BodyStep =
  /** A piece of body: input[…, end). Call again from `end`. */
  | { kind: "data"; data: Buffer; end: number }
  /** Everything given was consumed; the body goes on. */
  | { kind: "more" }
  /** The body ended at `end`; the bytes from there belong to the next message. */
  | { kind: "done"; end: number }
  | { kind: "error"; status: number; message: string };

export interface BodyDecoder {
  next(input: Buffer, start: number): BodyStep;
  /** The peer ended the stream: "done" for a body that ends that way, an error otherwise. */
  end(): BodyStep;
  /** Body bytes passed out so far. */
  readonly received: number;
  readonly done: boolean;
}

/** A body of a known length (Content-Length), or none (length 0). */
export class LengthDecoder implements BodyDecoder {
  private remaining: number;
  private receivedValue = 0;

  constructor(readonly length: number) {
    this.remaining = length;
  }

  get received(): number {
    return this.receivedValue;
  }

  get done(): boolean {
    return this.remaining === 0;
  }

  next(input: Buffer, start: number): BodyStep {
    if (this.remaining === 0) return { kind: "done", end: start };
    if (start >= input.length) return { kind: "more" };
    const n = Math.min(this.remaining, input.length - start);
    this.remaining -= n;
    this.receivedValue += n;
    return { kind: "data", data: input.subarray(start, start + n), end: start + n };
  }

  end(): BodyStep {
    if (this.remaining === 0) return { kind: "done", end: 0 };
    return { kind: "error", status: 400, message: `connection ended ${this.remaining} bytes before the end of the body` };
  }
}

/** A response body that ends when the connection does (no length, not chunked). */
export class CloseDelimitedDecoder implements BodyDecoder {
  private receivedValue = 0;
  private ended = false;

  get received(): number {
    return this.receivedValue;
  }

  get done(): boolean {
    return this.ended;
  }

  next(input: Buffer, start: number): BodyStep {
    if (start >= input.length) return { kind: "more" };
    this.receivedValue += input.length - start;
    return { kind: "data", data: input.subarray(start), end: input.length };
  }

  end(): BodyStep {
    this.ended = true;
    return { kind: "done", end: 0 };
  }
}

export type BodyFraming =
  | { kind: "none" }
  | { kind: "length"; length: number }
  | { kind: "chunked" }
  /** Responses only: the body runs until the connection ends. */
  | { kind: "close" };

export type FramingResult = BodyFraming | { kind: "error"; status: number; message: string };

/**
 * Transfer-Encoding read strictly: chunked, once, last. Any other coding is one we do
 * not implement (501, RFC 9112 §6.1); chunked twice or not last leaves the length
 * undecidable (400).
 */
function transferCodings(headers: HeaderList): { chunked: boolean; error?: { status: number; message: string } } {
  const codings = headers.tokens("transfer-encoding");
  if (codings.length === 0) return { chunked: false, error: { status: 400, message: "empty Transfer-Encoding" } };
  const unknown = codings.find((c) => c !== "chunked");
  if (unknown !== undefined) {
    return { chunked: false, error: { status: 501, message: `transfer coding "${unknown}" is not implemented` } };
  }
  if (codings.length > 1) return { chunked: false, error: { status: 400, message: "chunked is applied more than once" } };
  return { chunked: true };
}

/** How a request's body is framed (RFC 9112 §6.3). The head parser has already refused CL together with TE. */
export function requestBodyFraming(head: HttpRequestHead): FramingResult {
  const h = head.headers;
  if (h.has("transfer-encoding")) {
    if (head.versionMinor === 0) {
      return { kind: "error", status: 400, message: "Transfer-Encoding in an HTTP/1.0 request" };
    }
    const te = transferCodings(h);
    if (te.error) return { kind: "error", ...te.error };
    return { kind: "chunked" };
  }
  const cl = h.get("content-length");
  if (cl === undefined) return { kind: "none" };
  // The parser checked the syntax and that repeated values agree.
  const length = Number(cl.split(",")[0]!.trim());
  if (!Number.isSafeInteger(length)) return { kind: "error", status: 413, message: `Content-Length ${cl} is too large` };
  return length === 0 ? { kind: "none" } : { kind: "length", length };
}

/** How a response's body is framed, for the request that asked for it (RFC 9112 §6.3). */
export function responseBodyFraming(requestMethod: string, status: number, headers: HeaderList): FramingResult {
  if (requestMethod === "HEAD" || (status >= 100 && status < 200) || status === 204 || status === 304) return { kind: "none" };
  if (headers.has("transfer-encoding")) {
    const codings = headers.tokens("transfer-encoding");
    // A response whose last coding is not chunked runs to the end of the connection.
    return codings[codings.length - 1] === "chunked" && codings.length === 1 ? { kind: "chunked" } : { kind: "close" };
  }
  const cl = headers.get("content-length");
  if (cl === undefined) return { kind: "close" };
  const length = Number(cl.split(",")[0]!.trim());
  if (!Number.isSafeInteger(length)) return { kind: "error", status: 0, message: `Content-Length ${cl} is too large` };
  return length === 0 ? { kind: "none" } : { kind: "length", length };
}
