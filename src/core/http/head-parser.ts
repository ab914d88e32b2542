/**
 * Incremental parsers for an HTTP/1.1 message head: the start line and the header
 * fields up to the blank line (RFC 7230 §3).
 *
 * Input may be split at any byte. Each byte is looked at a bounded number of times:
 * the parser searches only the new bytes for the next LF and parses each line once,
 * when it is complete, so a peer trickling a head one byte at a time costs linear work.
 * Only the unfinished line is copied and held, and never more than `maxHeadBytes`
 * of head are accepted: the limit is enforced as bytes arrive, not at the blank line.
 *
 * The grammar is the strict one. A head that a lenient intermediary could read
 * differently from us (obs-fold, whitespace before the colon, bare CR, NUL, ambiguous
 * message length) is refused, because such disagreements are how requests are smuggled.
 * Bare LF line ends are accepted (RFC 7230 §3.5 allows it) since they are unambiguous.
 */
import { usage } from "../errors.js";
import { HeaderList, TCHAR } from "./headers.js";

export interface HttpRequestHead {
  method: string;
  /** The request-target exactly as received (origin-form, absolute-form, ...). */
  target: string;
  versionMajor: number;
  versionMinor: number;
  headers: HeaderList;
}

export interface HttpResponseHead {
  versionMajor: number;
  versionMinor: number;
  status: number;
  /** The reason phrase as received; may be empty. */
  reason: string;
  headers: HeaderList;
}

export type HeadParseResult<H> =
  | { kind: "incomplete" }
  /** `rest`: the bytes after the blank line, a view of the last chunk pushed. */
  | { kind: "done"; head: H; rest: Buffer }
  /**
   * `status`: the HTTP status a server should answer (400, 414, 431, 505) for a request;
   * always 0 for a response, which nobody answers.
   */
  | { kind: "error"; status: number; message: string };

export interface HeadParserOptions {
  /** Most bytes of head accepted: start line, header lines and every line end. Default 16384. */
  maxHeadBytes?: number;
  /** Longest request-target accepted before answering 414. Default 8192. */
  maxTargetLength?: number;
  /** Most header fields accepted before answering 431. Default 100. */
  maxHeaderCount?: number;
}

const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const HTAB = 0x09;
const COLON = 0x3a;

type ErrorResult = { kind: "error"; status: number; message: string };

function positiveInt(value: number | undefined, fallback: number, what: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw usage("INVALID_ARGUMENT", `${what} must be a positive integer, got ${String(value)}`);
  }
  return value;
}

/** A short printable excerpt of raw bytes for error messages. */
function show(bytes: Buffer): string {
  const limit = 64;
  const text = bytes.subarray(0, limit).toString("latin1");
  return JSON.stringify(text) + (bytes.length > limit ? "..." : "");
}

function hex(byte: number): string {
  return "0x" + byte.toString(16).padStart(2, "0");
}

abstract class HeadParser<H> {
  protected readonly maxHeadBytes: number;
  protected readonly maxTargetLength: number;
  protected readonly maxHeaderCount: number;
  protected readonly headers = new HeaderList();

  #finished = false;
  #sawStartLine = false;
  /** Bytes of head consumed so far, the unfinished line included. */
  #seen = 0;
  /** Physical line number of the line being read, for messages. */
  #lineNo = 1;
  /** The unfinished line, copied because the caller may reuse its chunks. */
  #partial: Buffer | null = null;
  #partialLength = 0;

  constructor(o: HeadParserOptions = {}) {
    this.maxHeadBytes = positiveInt(o.maxHeadBytes, 16384, "maxHeadBytes");
    this.maxTargetLength = positiveInt(o.maxTargetLength, 8192, "maxTargetLength");
    this.maxHeaderCount = positiveInt(o.maxHeaderCount, 100, "maxHeaderCount");
  }

  /** The status for errors: requests get one to answer with, responses get 0. */
  protected abstract status(requestStatus: number): number;
  /** "request" or "response", for messages. */
  protected abstract readonly what: string;
  protected abstract parseStartLine(line: Buffer, lineNo: number): ErrorResult | undefined;
  protected abstract finish(): { kind: "done"; head: H } | ErrorResult;
  /** The error for a head that crossed maxHeadBytes while `line` was unfinished. */
  protected tooLarge(_line: Buffer, inStartLine: boolean): ErrorResult {
    return this.fail(
      431,
      `${this.what} head is over ${this.maxHeadBytes} bytes` +
        (inStartLine ? " (in the start line)" : ` (at line ${this.#lineNo})`),
    );
  }

  protected fail(requestStatus: number, message: string): ErrorResult {
    return { kind: "error", status: this.status(requestStatus), message };
  }

  push(chunk: Buffer): HeadParseResult<H> {
    if (this.#finished) {
      throw usage(
        "INVALID_STATE",
        `this ${this.what} head parser already returned its result; bytes after the head belong to the body or the next protocol`,
      );
    }
    const result = this.#consume(chunk);
    if (result.kind !== "incomplete") {
      this.#finished = true;
      this.#partial = null;
    }
    return result;
  }

  #consume(chunk: Buffer): HeadParseResult<H> {
    let pos = 0;
    while (pos < chunk.length) {
      const budget = this.maxHeadBytes - this.#seen;
      // One byte past the budget is enough to see the limit crossed; never search further.
      const end = Math.min(chunk.length, pos + budget + 1);
      const lf = chunk.subarray(pos, end).indexOf(LF);
      if (lf === -1) {
        const segment = chunk.subarray(pos, end);
        if (this.#seen + segment.length > this.maxHeadBytes) {
          return this.tooLarge(Buffer.concat([this.#partialView(), segment]), !this.#sawStartLine);
        }
        this.#appendPartial(segment);
        this.#seen += segment.length;
        return { kind: "incomplete" };
      }
      const lfAt = pos + lf;
      this.#seen += lf + 1;
      let line: Buffer;
      if (this.#partialLength === 0) {
        line = chunk.subarray(pos, lfAt);
      } else {
        this.#appendPartial(chunk.subarray(pos, lfAt));
        line = this.#partialView();
        this.#partialLength = 0;
      }
      if (this.#seen > this.maxHeadBytes) return this.tooLarge(line, !this.#sawStartLine);
      pos = lfAt + 1;

      const lineNo = this.#lineNo++;
      const outcome = this.#line(line, lineNo);
      if (outcome === "end") {
        const finished = this.finish();
        if (finished.kind === "error") return finished;
        return { kind: "done", head: finished.head, rest: chunk.subarray(pos) };
      }
      if (outcome !== undefined) return outcome;
    }
    return { kind: "incomplete" };
  }

  #line(raw: Buffer, lineNo: number): ErrorResult | "end" | undefined {
    const nul = raw.indexOf(0);
    if (nul !== -1) return this.fail(400, `NUL byte in line ${lineNo} of the ${this.what} head`);
    const length = raw.length > 0 && raw[raw.length - 1] === CR ? raw.length - 1 : raw.length;
    const line = raw.subarray(0, length);
    if (line.indexOf(CR) !== -1) {
      return this.fail(400, `bare CR not followed by LF in line ${lineNo} of the ${this.what} head`);
    }
    if (!this.#sawStartLine) {
      // RFC 7230 §3.5: empty lines before the start line are leftovers of a previous
      // message's CRLF and are skipped; they still count against maxHeadBytes.
      if (line.length === 0) return undefined;
      this.#sawStartLine = true;
      return this.parseStartLine(line, lineNo);
    }
    if (line.length === 0) return "end";
    return this.#headerLine(line, lineNo);
  }

  #headerLine(line: Buffer, lineNo: number): ErrorResult | undefined {
    const first = line[0]!;
    if (first === SP || first === HTAB) {
      return this.fail(
        400,
        `line ${lineNo} starts with whitespace: obsolete header line folding is not accepted`,
      );
    }
    let i = 0;
    while (i < line.length && TCHAR[line[i]!] === 1) i++;
    if (i === line.length) return this.fail(400, `header line ${lineNo} ${show(line)} has no colon`);
    const stop = line[i]!;
    if (stop !== COLON) {
      const name = line.subarray(0, i).toString("latin1");
      if ((stop === SP || stop === HTAB) && line.indexOf(COLON, i) !== -1) {
        return this.fail(
          400,
          `header line ${lineNo}: whitespace between the field name "${name}" and the colon`,
        );
      }
      return this.fail(
        400,
        `header line ${lineNo}: field name ${show(line.subarray(0, i + 1))} contains ${hex(stop)}, which is not a token character`,
      );
    }
    if (i === 0) return this.fail(400, `header line ${lineNo} has an empty field name`);
    const name = line.subarray(0, i).toString("latin1");

    let start = i + 1;
    let end = line.length;
    while (start < end && (line[start] === SP || line[start] === HTAB)) start++;
    while (end > start && (line[end - 1] === SP || line[end - 1] === HTAB)) end--;
    for (let j = start; j < end; j++) {
      const c = line[j]!;
      if ((c < 0x20 && c !== HTAB) || c === 0x7f) {
        return this.fail(400, `header "${name}" (line ${lineNo}): value contains control character ${hex(c)}`);
      }
    }
    // latin1 keeps every obs-text byte as one character, so nothing is lost or replaced.
    this.headers.append(name, line.subarray(start, end).toString("latin1"));
    if (this.headers.size > this.maxHeaderCount) {
      return this.fail(431, `${this.what} head has more than ${this.maxHeaderCount} header fields`);
    }
    return undefined;
  }

  /**
   * Content-Length must be unambiguous: one decimal value, or a list of identical values
   * (RFC 7230 §3.3.2 lets a recipient accept "5, 5"). Anything else is refused, never
   * guessed, since a guess is what a smuggled request relies on.
   */
  protected checkContentLength(): ErrorResult | undefined {
    const values = this.headers.getAll("content-length");
    if (values.length === 0) return undefined;
    let first: string | undefined;
    for (const v of values) {
      for (const part of v.split(",")) {
        const n = part.trim();
        if (!/^[0-9]+$/.test(n)) return this.fail(400, `invalid Content-Length ${JSON.stringify(v)}`);
        const normal = n.replace(/^0+(?=.)/, "");
        if (first === undefined) first = normal;
        else if (first !== normal) {
          return this.fail(400, `differing Content-Length values: ${values.join(", ")}`);
        }
      }
    }
    return undefined;
  }

  #partialView(): Buffer {
    return this.#partial === null ? Buffer.alloc(0) : this.#partial.subarray(0, this.#partialLength);
  }

  #appendPartial(bytes: Buffer): void {
    if (bytes.length === 0) return;
    const needed = this.#partialLength + bytes.length;
    if (this.#partial === null || this.#partial.length < needed) {
      // Doubling keeps copying linear; the cap keeps a held line within the head budget.
      let size = Math.max(256, this.#partial?.length ?? 0);
      while (size < needed) size *= 2;
      const grown = Buffer.allocUnsafe(Math.min(size, Math.max(needed, this.maxHeadBytes)));
      if (this.#partial !== null) this.#partial.copy(grown, 0, 0, this.#partialLength);
      this.#partial = grown;
    }
    bytes.copy(this.#partial, this.#partialLength);
    this.#partialLength = needed;
  }
}

const HTTP_VERSION = /^HTTP\/([0-9])\.([0-9])$/;

/** Server side: parses a request line and its headers. */
export class RequestHeadParser extends HeadParser<HttpRequestHead> {
  protected readonly what = "request";
  #method = "";
  #target = "";
  #major = 0;
  #minor = 0;

  constructor(o?: HeadParserOptions) {
    super(o);
  }

  protected status(requestStatus: number): number {
    return requestStatus;
  }

  protected override tooLarge(line: Buffer, inStartLine: boolean): ErrorResult {
    // A start line that runs over the head limit is almost always a huge target; say so
    // with 414 when the target seen so far is already over its own limit.
    if (inStartLine) {
      const sp = line.indexOf(SP);
      if (sp !== -1) {
        const sp2 = line.indexOf(SP, sp + 1);
        const targetLength = (sp2 === -1 ? line.length : sp2) - (sp + 1);
        if (targetLength > this.maxTargetLength) {
          return this.fail(414, `request-target is longer than ${this.maxTargetLength} bytes`);
        }
      }
    }
    return super.tooLarge(line, inStartLine);
  }

  protected parseStartLine(line: Buffer, lineNo: number): ErrorResult | undefined {
    const sp1 = line.indexOf(SP);
    if (sp1 === -1) return this.fail(400, `request line ${show(line)} has no spaces`);
    if (sp1 === 0) return this.fail(400, `request line ${show(line)} starts with a space: empty method`);
    for (let i = 0; i < sp1; i++) {
      if (TCHAR[line[i]!] !== 1) {
        return this.fail(400, `method ${show(line.subarray(0, sp1))} contains ${hex(line[i]!)}, which is not a token character`);
      }
    }
    const sp2 = line.indexOf(SP, sp1 + 1);
    if (sp2 === -1) return this.fail(400, `request line ${show(line)} has no HTTP version`);
    if (sp2 === sp1 + 1) return this.fail(400, `request line ${show(line)} has an empty request-target`);
    if (sp2 - sp1 - 1 > this.maxTargetLength) {
      return this.fail(414, `request-target is longer than ${this.maxTargetLength} bytes`);
    }
    for (let i = sp1 + 1; i < sp2; i++) {
      const c = line[i]!;
      if (c <= 0x20 || c >= 0x7f) {
        return this.fail(
          400,
          `request-target contains byte ${hex(c)}; only visible ASCII is allowed (percent-encode the rest)`,
        );
      }
    }
    const version = line.subarray(sp2 + 1).toString("latin1");
    const m = HTTP_VERSION.exec(version);
    if (!m) return this.fail(400, `malformed HTTP version ${JSON.stringify(version)} in line ${lineNo}`);
    this.#method = line.subarray(0, sp1).toString("latin1");
    this.#target = line.subarray(sp1 + 1, sp2).toString("latin1");
    this.#major = Number(m[1]);
    this.#minor = Number(m[2]);
    if (this.#major !== 1) return this.fail(505, `HTTP version ${version} is not supported, only HTTP/1.x`);
    return undefined;
  }

  protected finish(): { kind: "done"; head: HttpRequestHead } | ErrorResult {
    if (this.headers.has("transfer-encoding") && this.headers.has("content-length")) {
      return this.fail(400, "request has both Content-Length and Transfer-Encoding");
    }
    const bad = this.checkContentLength();
    if (bad) return bad;
    return {
      kind: "done",
      head: {
        method: this.#method,
        target: this.#target,
        versionMajor: this.#major,
        versionMinor: this.#minor,
        headers: this.headers,
      },
    };
  }
}

/** Client side: parses a status line and its headers. Every error has status 0. */
export class ResponseHeadParser extends HeadParser<HttpResponseHead> {
  protected readonly what = "response";
  #major = 0;
  #minor = 0;
  #status = 0;
  #reason = "";

  constructor(o?: HeadParserOptions) {
    super(o);
  }

  protected status(): number {
    return 0;
  }

  protected parseStartLine(line: Buffer): ErrorResult | undefined {
    // status-line = HTTP-version SP 3DIGIT SP reason-phrase. A missing "SP reason" is
    // tolerated: some servers send "HTTP/1.1 101" and nothing is ambiguous about it.
    const text = line.toString("latin1");
    const m = /^(HTTP\/([0-9])\.([0-9])) ([0-9]{3})(?: (.*))?$/s.exec(text);
    if (!m) return this.fail(0, `malformed status line ${show(line)}`);
    const reason = m[5] ?? "";
    for (let i = 0; i < reason.length; i++) {
      const c = reason.charCodeAt(i);
      if ((c < 0x20 && c !== HTAB) || c === 0x7f) {
        return this.fail(0, `reason phrase contains control character ${hex(c)}`);
      }
    }
    this.#major = Number(m[2]);
    this.#minor = Number(m[3]);
    this.#status = Number(m[4]);
    this.#reason = reason;
    if (this.#major !== 1) return this.fail(0, `response version ${m[1]} is not HTTP/1.x`);
    return undefined;
  }

  protected finish(): { kind: "done"; head: HttpResponseHead } | ErrorResult {
    const bad = this.checkContentLength();
    if (bad) return bad;
    return {
      kind: "done",
      head: {
        versionMajor: this.#major,
        versionMinor: this.#minor,
        status: this.#status,
        reason: this.#reason,
        headers: this.headers,
      },
    };
  }
}
