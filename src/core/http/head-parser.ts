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
 * A complete line is read twice at most. First a scan in place, one pass over its bytes
 * with no view or copy made, which accepts only a well-formed line and makes its strings
 * once: every line of an ordinary head (a handshake's) ends there. A line the scan
 * declines is read again by the checked path, which tests the rules in a fixed order (NUL,
 * bare CR, then the line's own grammar) so a refusal names the same fault however the line
 * arrived. The checked path also accepts what it finds well-formed, so a scan that declines
 * too much costs time, never a different verdict.
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

/** Where the first LF in bytes [from, to) is, or -1; bytes past `to` are not looked at. */
function indexOfLf(chunk: Buffer, from: number, to: number): number {
  if (to === chunk.length) return chunk.indexOf(LF, from);
  const at = chunk.subarray(from, to).indexOf(LF);
  return at === -1 ? -1 : from + at;
}

/** A byte no field value or reason phrase may hold: the controls but HTAB, and DEL. */
function isControl(c: number): boolean {
  return c < 0x20 ? c !== HTAB : c === 0x7f;
}

function isBlank(c: number): boolean {
  return c === SP || c === HTAB;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** Are the 8 bytes at `at` "HTTP/1." and a digit? Other versions go the checked way. */
function isHttp1At(bytes: Buffer, at: number): boolean {
  return (
    bytes[at] === 0x48 && bytes[at + 1] === 0x54 && bytes[at + 2] === 0x54 && bytes[at + 3] === 0x50 &&
    bytes[at + 4] === 0x2f && bytes[at + 5] === 0x31 && bytes[at + 6] === 0x2e && isDigit(bytes[at + 7]!)
  );
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
  /**
   * The scan of a start line, bytes [start, end) without the line end: true when it is
   * well-formed HTTP/1.x, after keeping its parts; false, with nothing kept, otherwise.
   */
  protected abstract scanStartLine(bytes: Buffer, start: number, end: number): boolean;
  /** The checked reading of a start line the scan declined (NUL and bare CR ruled out). */
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
      const lfAt = indexOfLf(chunk, pos, end);
      if (lfAt === -1) {
        if (this.#seen + (end - pos) > this.maxHeadBytes) {
          const held = Buffer.concat([this.#partialView(), chunk.subarray(pos, end)]);
          return this.tooLarge(held, !this.#sawStartLine);
        }
        this.#appendPartial(chunk, pos, end);
        this.#seen += end - pos;
        return { kind: "incomplete" };
      }
      this.#seen += lfAt - pos + 1;
      // The line is bytes [from, to) of `bytes`: the chunk itself, or the held copy when
      // the line began in an earlier chunk.
      let bytes = chunk;
      let from = pos;
      let to = lfAt;
      if (this.#partial !== null && this.#partialLength !== 0) {
        this.#appendPartial(chunk, pos, lfAt);
        bytes = this.#partial;
        from = 0;
        to = this.#partialLength;
        this.#partialLength = 0;
      }
      if (this.#seen > this.maxHeadBytes) return this.tooLarge(bytes.subarray(from, to), !this.#sawStartLine);
      pos = lfAt + 1;

      const outcome = this.#line(bytes, from, to, this.#lineNo++);
      if (outcome === "end") {
        const finished = this.finish();
        if (finished.kind === "error") return finished;
        return { kind: "done", head: finished.head, rest: chunk.subarray(pos) };
      }
      if (outcome !== undefined) return outcome;
    }
    return { kind: "incomplete" };
  }

  /** One complete line, bytes [start, stop) of `bytes` without its LF. */
  #line(bytes: Buffer, start: number, stop: number, lineNo: number): ErrorResult | "end" | undefined {
    // Without the CR of a CRLF. Any other CR, like any NUL, makes the scans decline.
    const end = stop > start && bytes[stop - 1] === CR ? stop - 1 : stop;
    const startLine = !this.#sawStartLine;
    if (startLine) {
      // RFC 7230 §3.5: empty lines before the start line are leftovers of a previous
      // message's CRLF and are skipped; they still count against maxHeadBytes.
      if (end === start) return undefined;
      this.#sawStartLine = true;
      if (this.scanStartLine(bytes, start, end)) return undefined;
    } else {
      if (end === start) return "end";
      if (this.#scanHeaderLine(bytes, start, end)) return this.#checkHeaderCount();
    }
    return this.#checkedLine(bytes.subarray(start, stop), lineNo, startLine);
  }

  /**
   * The scan of a header line: true when it is `token ":" OWS value OWS` with no control
   * character in the value, after appending the field; false, with nothing done, otherwise.
   */
  #scanHeaderLine(bytes: Buffer, start: number, end: number): boolean {
    let colon = start;
    while (colon < end && TCHAR[bytes[colon]!] === 1) colon++;
    if (colon === start || colon === end || bytes[colon] !== COLON) return false;
    let from = colon + 1;
    let to = end;
    for (let i = from; i < to; i++) {
      if (isControl(bytes[i]!)) return false;
    }
    while (from < to && isBlank(bytes[from]!)) from++;
    while (to > from && isBlank(bytes[to - 1]!)) to--;
    // One string for the line; name and value are slices of it. latin1 keeps every
    // obs-text byte as one character, so nothing is lost or replaced.
    const text = bytes.toString("latin1", start, to);
    this.headers.append(text.slice(0, colon - start), text.slice(from - start));
    return true;
  }

  /** The checked reading of a line the scans declined: the first rule it breaks, if any. */
  #checkedLine(raw: Buffer, lineNo: number, startLine: boolean): ErrorResult | undefined {
    const nul = raw.indexOf(0);
    if (nul !== -1) return this.fail(400, `NUL byte in line ${lineNo} of the ${this.what} head`);
    const length = raw.length > 0 && raw[raw.length - 1] === CR ? raw.length - 1 : raw.length;
    const line = raw.subarray(0, length);
    if (line.indexOf(CR) !== -1) {
      return this.fail(400, `bare CR not followed by LF in line ${lineNo} of the ${this.what} head`);
    }
    return startLine ? this.parseStartLine(line, lineNo) : this.#headerLine(line, lineNo);
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
    while (start < end && isBlank(line[start]!)) start++;
    while (end > start && isBlank(line[end - 1]!)) end--;
    for (let j = start; j < end; j++) {
      const c = line[j]!;
      if (isControl(c)) {
        return this.fail(400, `header "${name}" (line ${lineNo}): value contains control character ${hex(c)}`);
      }
    }
    this.headers.append(name, line.subarray(start, end).toString("latin1"));
    return this.#checkHeaderCount();
  }

  #checkHeaderCount(): ErrorResult | undefined {
    if (this.headers.size <= this.maxHeaderCount) return undefined;
    return this.fail(431, `${this.what} head has more than ${this.maxHeaderCount} header fields`);
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

  /** Hold bytes [from, to) of `src` at the end of the unfinished line. */
  #appendPartial(src: Buffer, from: number, to: number): void {
    if (to === from) return;
    const needed = this.#partialLength + (to - from);
    if (this.#partial === null || this.#partial.length < needed) {
      // Doubling keeps copying linear; the cap keeps a held line within the head budget.
      let size = Math.max(256, this.#partial?.length ?? 0);
      while (size < needed) size *= 2;
      const grown = Buffer.allocUnsafe(Math.min(size, Math.max(needed, this.maxHeadBytes)));
      if (this.#partial !== null) this.#partial.copy(grown, 0, 0, this.#partialLength);
      this.#partial = grown;
    }
    src.copy(this.#partial, this.#partialLength, from, to);
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

  protected scanStartLine(bytes: Buffer, start: number, end: number): boolean {
    let sp1 = start;
    while (sp1 < end && TCHAR[bytes[sp1]!] === 1) sp1++;
    if (sp1 === start || sp1 === end || bytes[sp1] !== SP) return false;
    let sp2 = sp1 + 1;
    while (sp2 < end && bytes[sp2]! > SP && bytes[sp2]! < 0x7f) sp2++;
    if (sp2 === sp1 + 1 || sp2 - sp1 - 1 > this.maxTargetLength || bytes[sp2] !== SP) return false;
    if (end - sp2 !== 9 || !isHttp1At(bytes, sp2 + 1)) return false;
    const text = bytes.toString("latin1", start, sp2);
    this.#method = text.slice(0, sp1 - start);
    this.#target = text.slice(sp1 + 1 - start);
    this.#major = 1;
    this.#minor = bytes[end - 1]! - 0x30;
    return true;
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

  protected scanStartLine(bytes: Buffer, start: number, end: number): boolean {
    // "HTTP/1.x 101", then nothing or " " and a reason phrase without controls.
    const length = end - start;
    if (length < 12 || !isHttp1At(bytes, start) || bytes[start + 8] !== SP) return false;
    const d0 = bytes[start + 9]!;
    const d1 = bytes[start + 10]!;
    const d2 = bytes[start + 11]!;
    if (!isDigit(d0) || !isDigit(d1) || !isDigit(d2)) return false;
    if (length > 12 && bytes[start + 12] !== SP) return false;
    for (let i = start + 13; i < end; i++) {
      if (isControl(bytes[i]!)) return false;
    }
    this.#major = 1;
    this.#minor = bytes[start + 7]! - 0x30;
    this.#status = (d0 - 0x30) * 100 + (d1 - 0x30) * 10 + (d2 - 0x30);
    this.#reason = length > 13 ? bytes.toString("latin1", start + 13, end) : "";
    return true;
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
      if (isControl(c)) {
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
