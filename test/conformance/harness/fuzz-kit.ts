/**
 * Shared by the property tests (test/conformance/properties.test.ts) and the long fuzz
 * runner (fuzz/run.ts): generators of valid WebSocket conversations and HTTP heads,
 * mutators that break them in the ways that matter (bit flips, splices, length fields,
 * opcodes, mask bits), and one checker per target that returns the problems it found:
 *
 * - frame parser: only onProtocolError with 1002/1009 may report a fault, nothing throws;
 * - session: nothing but a PeerError value reports a fault; a failed session owes exactly
 *   one close with the error's code; a valid conversation ended by a close reaches
 *   "closed" (no state machine stalls);
 * - server over the manual driver: nothing throws, nothing is logged as an internal
 *   error, the server's close code is one the input explains, every server frame is
 *   well formed, and the connection count returns to 0;
 * - HTTP head parsers: nothing throws, errors carry the statuses the parser documents,
 *   and the verdict does not depend on how the input was cut.
 *
 * Everything is driven by a seeded PRNG so a finding replays from its seed.
 */
import { WsloopError, PeerError } from "../../../src/core/errors.js";
import { FrameParser, type FrameSink } from "../../../src/core/frame-parser.js";
import type { FrameHeader } from "../../../src/core/frame.js";
import { RequestHeadParser, ResponseHeadParser, type HeadParseResult } from "../../../src/core/http/head-parser.js";
import { HeaderList } from "../../../src/core/http/headers.js";
import { WsSession, type WsSessionEvents } from "../../../src/core/ws-session.js";
import { echoProtocol } from "../../../src/demo/echo-protocol.js";
import { ManualDriver } from "../../../src/loops/manual/index.js";
import { END_OF_STREAM, createMemoryPair } from "../../../src/poll/index.js";
import { FrameReader, OP, closePayload, frame, prng } from "./frames.js";
import { failPoint } from "./utf8-reference.js";

// ---- randomness -----------------------------------------------------------------------------

export class Rng {
  private readonly next: () => number;
  constructor(readonly seed: number) {
    this.next = prng(seed);
  }
  float(): number {
    return this.next();
  }
  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }
  bool(p = 0.5): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  bytes(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) out[i] = this.int(256);
    return out;
  }
  /** A size skewed towards small values (most inputs are small, some are large). */
  size(max: number): number {
    const r = this.next();
    if (r < 0.5) return this.int(Math.min(max, 16) + 1);
    if (r < 0.85) return this.int(Math.min(max, 300) + 1);
    return this.int(max + 1);
  }
  /** Piece sizes for cutting `length` bytes: whole, bytewise, or random. */
  pieces(length: number): number[] {
    const mode = this.int(10);
    if (mode < 3 || length === 0) return [Math.max(1, length)];
    if (mode === 3 && length <= 512) return [1];
    const sizes: number[] = [];
    for (let i = 0, n = this.range(1, 8); i < n; i++) sizes.push(this.range(1, this.bool(0.7) ? 7 : 600));
    return sizes;
  }
}

export function cut(bytes: Buffer, sizes: readonly number[]): Buffer[] {
  const out: Buffer[] = [];
  let k = 0;
  for (let at = 0; at < bytes.length; ) {
    const n = Math.max(1, sizes[k++ % sizes.length]!);
    // Fresh copies: the parser unmasks in place.
    out.push(Buffer.from(bytes.subarray(at, at + n)));
    at += n;
  }
  return out;
}

// ---- valid conversations ------------------------------------------------------------------------

const SAMPLE_TEXT = ["", "a", "Hello", "κόσμε", "日本語", "🎉🎉", "Hello-µ@ßöäüàá-UTF-8!!", "x".repeat(200)];

export interface Conversation {
  /** The client's bytes: masked frames. */
  bytes: Buffer;
  messages: Array<{ binary: boolean; payload: Buffer }>;
  /** Whether it ends with a close frame (code 1000). */
  closed: boolean;
}

function textOf(rng: Rng, maxBytes: number): Buffer {
  let s = "";
  while (Buffer.byteLength(s) < maxBytes && rng.bool(0.7)) s += rng.pick(SAMPLE_TEXT);
  const b = Buffer.from(s, "utf8");
  if (b.length <= maxBytes) return b;
  // Cut at a code point boundary.
  let end = maxBytes;
  while (end > 0 && (b[end]! & 0xc0) === 0x80) end--;
  return b.subarray(0, end);
}

/** A valid client conversation: messages (some fragmented, with control frames between), maybe a close. */
export function conversation(rng: Rng, maxMessage = 1500): Conversation {
  const frames: Buffer[] = [];
  const messages: Conversation["messages"] = [];
  for (let m = 0, count = rng.range(0, 6); m < count; m++) {
    const binary = rng.bool();
    const payload = binary ? rng.bytes(rng.size(maxMessage)) : textOf(rng, rng.size(maxMessage));
    messages.push({ binary, payload });
    const parts = rng.bool(0.6) ? 1 : rng.range(2, 6);
    // Split at arbitrary bytes: fragments may end inside a UTF-8 sequence, which is legal.
    const cuts = [0, ...Array.from({ length: parts - 1 }, () => rng.int(payload.length + 1)).sort((a, b) => a - b), payload.length];
    for (let p = 0; p < parts; p++) {
      const piece = payload.subarray(cuts[p]!, cuts[p + 1]!);
      frames.push(frame({ opcode: p === 0 ? (binary ? OP.BINARY : OP.TEXT) : OP.CONT, payload: piece, fin: p === parts - 1, mask: rng.bytes(4) }));
      if (rng.bool(0.2)) frames.push(frame({ opcode: rng.bool() ? OP.PING : OP.PONG, payload: rng.bytes(rng.int(126)), mask: rng.bytes(4) }));
    }
  }
  const closed = rng.bool(0.5);
  if (closed) frames.push(frame({ opcode: OP.CLOSE, payload: closePayload(1000, rng.bool() ? "bye" : ""), mask: rng.bytes(4) }));
  return { bytes: Buffer.concat(frames), messages, closed };
}

// ---- mutations -----------------------------------------------------------------------------------

/** Break `input` in 1-4 ways that reach deep into a frame parser. */
export function mutate(rng: Rng, input: Buffer): Buffer {
  let b = Buffer.from(input);
  for (let i = 0, n = rng.range(1, 4); i < n; i++) {
    const at = b.length === 0 ? 0 : rng.int(b.length);
    switch (rng.int(9)) {
      case 0: // bit flip
        if (b.length) b[at] = b[at]! ^ (1 << rng.int(8));
        break;
      case 1: // byte set to an interesting value
        if (b.length) b[at] = rng.pick([0x00, 0x7e, 0x7f, 0x80, 0xff, 0xc0, 0xed, 0xf4, 0xf5, 0x88, 0x09, 0x0a]);
        break;
      case 2: // insert random bytes
        b = Buffer.concat([b.subarray(0, at), rng.bytes(rng.range(1, 8)), b.subarray(at)]);
        break;
      case 3: // delete a range
        b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + rng.range(1, 16)))]);
        break;
      case 4: {
        // splice: copy a range of the input elsewhere
        const from = rng.int(Math.max(1, b.length));
        const piece = b.subarray(from, from + rng.range(1, 64));
        b = Buffer.concat([b.subarray(0, at), piece, b.subarray(at)]);
        break;
      }
      case 5: // length field: the 7-bit code becomes 126/127/125 or a random one, mask bit kept
        if (b.length > 1) {
          const h = Math.min(at, b.length - 1);
          b[h] = (b[h]! & 0x80) | rng.pick([0, 1, 125, 126, 127, rng.int(128)]);
        }
        break;
      case 6: // extended length bytes set to extremes
        if (b.length > 9) {
          const h = Math.min(at, b.length - 8);
          b.fill(rng.pick([0x00, 0xff, 0x7f, 0x80]), h, h + rng.range(1, 8));
        }
        break;
      case 7: // opcode / FIN / RSV nibble
        if (b.length) b[at] = (b[at]! & 0x0f) | (rng.int(16) << 4);
        if (b.length && rng.bool()) b[at] = (b[at]! & 0xf0) | rng.int(16);
        break;
      case 8: // truncate
        b = b.subarray(0, at);
        break;
    }
  }
  return b;
}

// ---- target: the frame parser ------------------------------------------------------------------------

export interface Problem {
  target: string;
  what: string;
}

/** Feed bytes to a FrameParser in pieces; report anything but its documented behaviour. */
export function checkFrameParser(bytes: Buffer, sizes: readonly number[], role: "server" | "client", maxFramePayload: number): Problem[] {
  const problems: Problem[] = [];
  let errors = 0;
  let inFrame = false;
  let payloadLeft = 0;
  const sink: FrameSink = {
    onFrameHeader(h: FrameHeader) {
      if (inFrame) problems.push({ target: "frame-parser", what: "header inside a frame" });
      if (h.payloadLength > maxFramePayload) problems.push({ target: "frame-parser", what: `header of ${h.payloadLength} bytes passed the limit` });
      inFrame = true;
      payloadLeft = h.payloadLength;
    },
    onFramePayload(data: Buffer, remaining: number) {
      payloadLeft -= data.length;
      if (payloadLeft !== remaining) problems.push({ target: "frame-parser", what: `remaining ${remaining}, expected ${payloadLeft}` });
    },
    onFrameEnd() {
      if (payloadLeft !== 0) problems.push({ target: "frame-parser", what: "frame ended with payload left" });
      inFrame = false;
    },
    onProtocolError(code: number) {
      errors++;
      if (code !== 1002 && code !== 1009) problems.push({ target: "frame-parser", what: `protocol error code ${code}` });
    },
  };
  const parser = new FrameParser({ role, maxFramePayload, allowedRsv: 0 }, sink);
  try {
    for (const piece of cut(bytes, sizes)) {
      const consumed = parser.push(piece);
      if (consumed !== piece.length) problems.push({ target: "frame-parser", what: `consumed ${consumed} of ${piece.length} without a pause` });
    }
  } catch (error) {
    problems.push({ target: "frame-parser", what: `threw ${describeError(error)}` });
  }
  if (errors > 1) problems.push({ target: "frame-parser", what: `${errors} protocol errors (at most one)` });
  return problems;
}

// ---- target: the session ----------------------------------------------------------------------------

export interface SessionRun {
  problems: Problem[];
  failedWith: number | null;
  closedBy: number | null;
  messages: Array<{ binary: boolean; payload: Buffer }>;
  state: string;
}

/**
 * Feed a server session; check the two kinds of error and what it owes. With
 * `thenClose`, a valid close frame follows the input (for stall checks).
 */
export function checkSession(bytes: Buffer, sizes: readonly number[], limits: { maxMessageSize: number; maxFramePayload: number }, thenClose = false): SessionRun {
  const problems: Problem[] = [];
  const messages: SessionRun["messages"] = [];
  let failedWith: number | null = null;
  let closedBy: number | null = null;
  let ended = false;
  const events: WsSessionEvents = {
    onMessage(data, binary) {
      if (ended) problems.push({ target: "session", what: "message after the end" });
      if (!binary && failPoint(data) !== null) problems.push({ target: "session", what: "invalid UTF-8 delivered as text" });
      if (data.length > limits.maxMessageSize) problems.push({ target: "session", what: `message of ${data.length} bytes over the limit` });
      messages.push({ binary, payload: Buffer.from(data) });
    },
    onFragment() {
      problems.push({ target: "session", what: "fragment event in message delivery" });
    },
    onPing() {},
    onPong() {},
    onClose(code) {
      if (ended) problems.push({ target: "session", what: "close after the end" });
      ended = true;
      closedBy = code;
    },
    onPeerError(error) {
      if (ended) problems.push({ target: "session", what: "peer error after the end" });
      ended = true;
      if (!(error instanceof PeerError)) problems.push({ target: "session", what: "peer error that is not a PeerError" });
      if (![1002, 1007, 1009].includes(error.closeCode)) problems.push({ target: "session", what: `peer error code ${error.closeCode}` });
      failedWith = error.closeCode;
    },
  };
  const session = new WsSession({ role: "server", limits: { ...limits, fragmentOverhead: 64 } }, events);
  const input = thenClose ? Buffer.concat([bytes, frame({ opcode: OP.CLOSE, payload: closePayload(1000) })]) : bytes;
  try {
    for (const piece of cut(input, sizes)) {
      const consumed = session.receive(piece);
      if (consumed !== piece.length && !session.inputDone) problems.push({ target: "session", what: `consumed ${consumed} of ${piece.length}` });
    }
    const out: Uint8Array[] = [];
    session.takeOwedFrames(out);
    const owed = new FrameReader().push(Buffer.concat(out));
    const closes = owed.filter((f) => f.opcode === OP.CLOSE);
    if (failedWith !== null) {
      if (closes.length !== 1 || closes[0]!.payload.readUInt16BE(0) !== failedWith) problems.push({ target: "session", what: `failed with ${failedWith} but owes ${closes.length} close(s)` });
      if (session.state !== "closed") problems.push({ target: "session", what: `failed, state ${session.state} after the close went out` });
    } else if (closedBy !== null) {
      if (closes.length !== 1) problems.push({ target: "session", what: "peer closed but no close echo is owed" });
      if (session.state !== "closed") problems.push({ target: "session", what: `stalled: peer closed, echo sent, state ${session.state}` });
    } else if (closes.length > 0) {
      problems.push({ target: "session", what: "a close is owed for no reason" });
    }
    if (owed.some((f) => f.masked)) problems.push({ target: "session", what: "server owes a masked frame" });
  } catch (error) {
    problems.push({ target: "session", what: `threw ${describeError(error)}` });
  }
  return { problems, failedWith, closedBy, messages, state: session.state };
}

// ---- target: a whole server over the manual driver ----------------------------------------------------

export const UPGRADE =
  "GET /chat HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

export interface ServedRun {
  problems: Problem[];
  status: number | null;
  /** The server's close code (null: none; 1005: an empty close). */
  closeCode: number | null;
  messages: Array<{ binary: boolean; payload: Buffer }>;
  open: boolean;
}

/**
 * Serve `bytes` (sent after a valid upgrade request, or instead of one with `raw`) to an
 * echo server on a manual driver, in pieces, then hang up and let virtual time run out
 * every timeout. Everything the server wrote is parsed and judged.
 */
export function serveOverManualDriver(bytes: Buffer, sizes: readonly number[], options: { raw?: boolean; maxMessageSize?: number; readChunk?: number } = {}): ServedRun {
  const problems: Problem[] = [];
  const logged: string[] = [];
  const driver = new ManualDriver();
  const context = driver.createContext({
    vhosts: [{ protocols: [echoProtocol({ maxMessageSize: options.maxMessageSize ?? 2048 })], timeouts: { handshakeMs: 5_000, closeWaitMs: 1_000 } }],
    logger: { level: "err", emit: (_level, message) => void logged.push(message) },
  });
  const { a, b } = createMemoryPair({ capacity: 1 << 20, chunkSize: options.readChunk ?? 64 * 1024 });
  const out: Buffer[] = [];
  const readOut = () => {
    for (;;) {
      const chunk = a.read();
      if (chunk === null || chunk === END_OF_STREAM) break;
      out.push(Buffer.from(chunk));
    }
  };
  try {
    context.adopt(b);
    const input = options.raw ? bytes : Buffer.concat([Buffer.from(UPGRADE, "latin1"), bytes]);
    for (const piece of cut(input, sizes)) {
      a.write([piece]);
      driver.run();
      readOut();
    }
    driver.run();
    readOut();
    const openBeforeHangup = context.connectionCount > 0;
    a.end();
    driver.advance(20_000);
    readOut();
    a.destroy();
    driver.advance(20_000);
    if (context.connectionCount !== 0) problems.push({ target: "server", what: `${context.connectionCount} connection(s) left after the peer hung up` });
    for (const line of logged) problems.push({ target: "server", what: `logged an error: ${line.split("\n")[0]}` });
    const result = judgeServerOutput(Buffer.concat(out), problems);
    return { ...result, problems, open: openBeforeHangup };
  } catch (error) {
    problems.push({ target: "server", what: `threw ${describeError(error)}` });
    return { problems, status: null, closeCode: null, messages: [], open: false };
  } finally {
    if (!context.isDestroyed) context.destroy();
  }
}

function judgeServerOutput(output: Buffer, problems: Problem[]): Omit<ServedRun, "problems" | "open"> {
  const headEnd = output.indexOf("\r\n\r\n");
  if (headEnd === -1) {
    if (output.length) problems.push({ target: "server", what: "output without a complete HTTP head" });
    return { status: null, closeCode: null, messages: [] };
  }
  const status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(output.subarray(0, headEnd).toString("latin1"))?.[1] ?? NaN);
  if (!(status >= 100)) problems.push({ target: "server", what: "bad status line" });
  if (status !== 101) return { status, closeCode: null, messages: [] };
  const frames = new FrameReader().push(output.subarray(headEnd + 4));
  const messages: ServedRun["messages"] = [];
  let closeCode: number | null = null;
  let partial: { binary: boolean; pieces: Buffer[] } | null = null;
  for (const f of frames) {
    if (closeCode !== null) problems.push({ target: "server", what: "frame after its close" });
    if (f.masked || f.rsv !== 0 || !f.minimalLength) problems.push({ target: "server", what: "malformed server frame" });
    if (f.opcode === OP.CLOSE) {
      closeCode = f.payload.length >= 2 ? f.payload.readUInt16BE(0) : 1005;
    } else if (f.opcode === OP.TEXT || f.opcode === OP.BINARY || f.opcode === OP.CONT) {
      if (f.opcode !== OP.CONT) partial = { binary: f.opcode === OP.BINARY, pieces: [] };
      if (!partial) {
        problems.push({ target: "server", what: "continuation out of place" });
        continue;
      }
      partial.pieces.push(f.payload);
      if (f.fin) {
        const payload = Buffer.concat(partial.pieces);
        if (!partial.binary && failPoint(payload) !== null) problems.push({ target: "server", what: "server sent invalid UTF-8 text" });
        messages.push({ binary: partial.binary, payload });
        partial = null;
      }
    } else if (f.opcode !== OP.PING && f.opcode !== OP.PONG) {
      problems.push({ target: "server", what: `server sent opcode ${f.opcode}` });
    }
  }
  return { status, closeCode, messages };
}

// ---- target: the HTTP head parsers ---------------------------------------------------------------------

const METHODS = ["GET", "POST", "HEAD", "PUT", "OPTIONS", "G\u00e9T", ""];
const HEADER_NAMES = ["Host", "Upgrade", "Connection", "Content-Length", "Transfer-Encoding", "Sec-WebSocket-Key", "X-A", "x-b"];

export function requestHead(rng: Rng): Buffer {
  const lines = [`${rng.pick(METHODS)} /${"p".repeat(rng.size(rng.pick([40, 400, 3000])))} HTTP/1.${rng.int(2)}`];
  for (let i = 0, n = rng.range(0, 8); i < n; i++) lines.push(`${rng.pick(HEADER_NAMES)}: ${rng.bool(0.8) ? "v".repeat(rng.size(30)) : String(rng.int(100))}`);
  const eol = rng.bool(0.9) ? "\r\n" : "\n";
  return Buffer.from(lines.join(eol) + eol + eol + (rng.bool(0.2) ? "body" : ""), "latin1");
}

export function responseHead(rng: Rng): Buffer {
  const lines = [`HTTP/1.${rng.int(2)} ${rng.pick([101, 200, 204, 301, 404, 500])} ${rng.pick(["OK", "Switching Protocols", ""])}`];
  for (let i = 0, n = rng.range(0, 8); i < n; i++) lines.push(`${rng.pick(HEADER_NAMES)}: ${"v".repeat(rng.size(30))}`);
  return Buffer.from(lines.join("\r\n") + "\r\n\r\n", "latin1");
}

type Verdict = string;

function verdictOf(result: HeadParseResult<unknown> | null): Verdict {
  if (result === null) return "incomplete";
  if (result.kind === "error") return `error ${result.status}`;
  if (result.kind === "done") return `done ${JSON.stringify(result.head, (_k, v) => (v instanceof HeaderList ? [...v] : v))} rest=${result.rest.length}`;
  return "incomplete";
}

/** Parse `bytes` whole and in pieces with a fresh parser each time; the verdicts must agree. */
export function checkHeadParser(bytes: Buffer, sizes: readonly number[], kind: "request" | "response", maxHeadBytes = 1024): Problem[] {
  const problems: Problem[] = [];
  const target = `${kind}-head-parser`;
  const run = (pieces: Buffer[]): Verdict | null => {
    const parser = kind === "request" ? new RequestHeadParser({ maxHeadBytes, maxTargetLength: 256, maxHeaderCount: 20 }) : new ResponseHeadParser({ maxHeadBytes, maxHeaderCount: 20 });
    let result: HeadParseResult<unknown> | null = null;
    let restAfter = 0;
    try {
      for (const piece of pieces) {
        if (result) {
          restAfter += piece.length;
          continue;
        }
        const r = parser.push(piece);
        if (r.kind !== "incomplete") result = r;
      }
    } catch (error) {
      problems.push({ target, what: `threw ${describeError(error)}` });
      return null;
    }
    if (result?.kind === "error") {
      const allowed = kind === "request" ? [400, 414, 431, 505] : [0];
      if (!allowed.includes(result.status)) problems.push({ target, what: `error status ${result.status}` });
    }
    // `rest` is what follows the head in the last piece; count all of it for comparison.
    if (result?.kind === "done") return verdictOf({ ...result, rest: Buffer.alloc(result.rest.length + restAfter) });
    return verdictOf(result);
  };
  const whole = run([Buffer.from(bytes)]);
  const pieces = run(cut(bytes, sizes));
  if (whole !== null && pieces !== null && whole !== pieces) {
    problems.push({ target, what: `verdict depends on the cut: whole "${whole.slice(0, 120)}" vs pieces "${pieces.slice(0, 120)}"` });
  }
  return problems;
}

export function describeError(error: unknown): string {
  if (error instanceof WsloopError) return `${error.name}: ${error.message}`;
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
