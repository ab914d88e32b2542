/**
 * Driving a WsSession alone (no sockets) in tests: frames built by hand, every event
 * recorded as a plain value, and the same input fed in one piece, byte by byte and at
 * every split point, with and without pausing rx in every event.
 */
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { expect } from "vitest";
import type { PeerError } from "../../../src/core/errors.js";
import { FrameParser } from "../../../src/core/frame-parser.js";
import type { FrameHeader } from "../../../src/core/frame.js";
import type { MaskSource } from "../../../src/core/mask-source.js";
import { zeroMaskSource } from "../../../src/core/mask-source.js";
import { MAX_OWED_PONGS, MAX_OWED_PONG_BYTES, WsSession } from "../../../src/core/ws-session.js";
import type { FragmentInfo, WsSessionEvents, WsSessionOptions, WsSessionState } from "../../../src/core/ws-session.js";
import { splitPoints } from "../../helpers/splits.js";

export type Role = "server" | "client";
export const roles: readonly Role[] = ["server", "client"];

// ---------------------------------------------------------------------------
// Frames by hand, independent of the writer, so malformed ones can be made.

export const RFC_KEY = Uint8Array.of(0x37, 0xfa, 0x21, 0x3d);

export interface RawFrame {
  opcode: number;
  payload?: Uint8Array | string;
  fin?: boolean;
  /** 4 = RSV1, 2 = RSV2, 1 = RSV3. */
  rsv?: number;
  /** Declare this length instead of the payload's (only the payload's bytes follow). */
  declared?: number;
}

function build(f: RawFrame, key: Uint8Array | null): Buffer {
  const payload = typeof f.payload === "string" ? Buffer.from(f.payload) : Buffer.from(f.payload ?? []);
  const declared = f.declared ?? payload.length;
  const head: number[] = [((f.fin ?? true) ? 0x80 : 0) | ((f.rsv ?? 0) << 4) | f.opcode];
  const maskBit = key ? 0x80 : 0;
  if (declared < 126) head.push(maskBit | declared);
  else if (declared < 65536) head.push(maskBit | 126, declared >>> 8, declared & 0xff);
  else {
    const big = BigInt(declared);
    head.push(maskBit | 127);
    for (let s = 56n; s >= 0n; s -= 8n) head.push(Number((big >> s) & 0xffn));
  }
  if (key) head.push(...key);
  const body = Buffer.from(payload);
  if (key) for (let i = 0; i < body.length; i++) body[i]! ^= key[i & 3]!;
  return Buffer.concat([Buffer.from(head), body]);
}

/** A frame as the peer of a session with `role` sends it: masked to a server, not to a client. */
export function inbound(role: Role, ...frames: RawFrame[]): Buffer {
  return Buffer.concat(frames.map((f) => build(f, role === "server" ? RFC_KEY : null)));
}

/** Size of the header `inbound` writes for a frame of this payload length. */
export function inboundHeaderSize(role: Role, payloadLength: number): number {
  const extended = payloadLength < 126 ? 0 : payloadLength < 65536 ? 2 : 8;
  return 2 + extended + (role === "server" ? 4 : 0);
}

export const closePayload = (code: number, reason: string | Uint8Array = ""): Buffer =>
  Buffer.concat([Buffer.from([code >>> 8, code & 0xff]), Buffer.from(reason)]);

/** A mask source that always hands out the same key, so masked output can be checked byte for byte. */
export function fixedMaskSource(key: readonly number[]): MaskSource & { calls: number } {
  const source = {
    calls: 0,
    next(): Uint8Array {
      source.calls++;
      return Uint8Array.from(key);
    },
  };
  return source;
}

/** The bytes a frame has on the wire, built by hand, with the given mask key or none. */
export function expectedFrame(opcode: number, payload: Uint8Array | string, key: readonly number[] | null, fin = true): Buffer {
  return build({ opcode, payload, fin }, key ? Uint8Array.from(key) : null);
}

// ---------------------------------------------------------------------------
// Recording what a session reports.

export type Event =
  | { type: "message"; binary: boolean; data: string }
  | { type: "fragment"; data: string; first: boolean; final: boolean; binary: boolean; remaining: number }
  | { type: "ping"; data: string }
  | { type: "pong"; data: string }
  | { type: "close"; code: number; reason: string; byPeer: boolean }
  | { type: "error"; code: number; tooLarge: { kind: "frame" | "message"; size: number; limit: number } | null }
  | { type: "violation"; what: string };

/** Short payloads as hex, long ones as length + digest. */
export function digest(buf: Uint8Array): string {
  return buf.length <= 64 ? Buffer.from(buf).toString("hex") : `${buf.length}:${createHash("sha256").update(buf).digest("hex")}`;
}
export const hex = (s: string | Uint8Array): string => digest(typeof s === "string" ? Buffer.from(s) : s);

export interface Recorded {
  event: Event;
  /** Offset in the whole input of the chunk being fed when the event fired, and its end. */
  chunkStart: number;
  chunkEnd: number;
  /** The payload as delivered (a copy), and whether it was a view of the chunk being fed. */
  data: Buffer | null;
  viewOfChunk: boolean;
}

export class Recorder implements WsSessionEvents {
  readonly log: Recorded[] = [];
  session!: WsSession;
  /** Pause rx from inside events this predicate picks. */
  pauseWhen: ((e: Event) => boolean) | null = null;
  chunk: Buffer | null = null;
  chunkStart = 0;
  private ended = false;
  private errors = 0;
  /** `remaining` of the previous fragment piece, to check the next piece continues it. */
  private pieceRemaining = 0;

  onMessage(data: Buffer, binary: boolean): void {
    this.add({ type: "message", binary, data: digest(data) }, data);
  }
  onFragment(data: Buffer, info: FragmentInfo): void {
    if (this.pieceRemaining > 0 && data.length === 0) this.violation("empty piece inside a frame");
    if (this.pieceRemaining > 0 && this.pieceRemaining - data.length !== info.remaining) {
      this.violation(`remaining ${info.remaining} does not continue ${this.pieceRemaining} after ${data.length} bytes`);
    }
    if (info.final && info.remaining !== 0) this.violation("final piece with payload remaining");
    this.pieceRemaining = info.remaining;
    this.add({ type: "fragment", data: digest(data), ...info }, data);
  }
  onPing(payload: Buffer): void {
    this.add({ type: "ping", data: digest(payload) }, payload);
  }
  onPong(payload: Buffer): void {
    this.add({ type: "pong", data: digest(payload) }, payload);
  }
  onClose(code: number, reason: string, initiatedByPeer: boolean): void {
    this.add({ type: "close", code, reason, byPeer: initiatedByPeer }, null);
    this.ended = true;
  }
  onPeerError(error: PeerError, tooLarge: { kind: "frame" | "message"; size: number; limit: number } | null): void {
    this.errors++;
    if (this.errors > 1) this.violation("second onPeerError");
    this.add({ type: "error", code: error.closeCode, tooLarge: tooLarge ? { ...tooLarge } : null }, null);
    this.ended = true;
  }

  events(): Event[] {
    return this.log.map((r) => r.event);
  }

  private add(event: Event, data: Buffer | null): void {
    if (this.ended) this.violation(`${event.type} after the end of input`);
    const viewOfChunk = data !== null && this.chunk !== null && data.length > 0 && data.buffer === this.chunk.buffer;
    this.log.push({ event, chunkStart: this.chunkStart, chunkEnd: this.chunkStart + (this.chunk?.length ?? 0), data: data && Buffer.from(data), viewOfChunk });
    if (this.pauseWhen?.(event)) this.session.pauseRx();
  }
  private violation(what: string): void {
    this.log.push({ event: { type: "violation", what }, chunkStart: this.chunkStart, chunkEnd: this.chunkStart, data: null, viewOfChunk: false });
  }
}

export function newSession(role: Role, options: Partial<WsSessionOptions> = {}, rec = new Recorder()): { session: WsSession; rec: Recorder } {
  const session = new WsSession({ role, maskSource: zeroMaskSource, ...options }, rec);
  rec.session = session;
  return { session, rec };
}

/** Owed control frames as one buffer. */
export function takeOwed(session: WsSession): Buffer {
  const out: Uint8Array[] = [];
  const bytes = session.takeOwedFrames(out);
  const all = Buffer.concat(out);
  expect(all.length).toBe(bytes);
  return all;
}

/** Feeds one chunk the way a connection does: on a pause, resume and feed the (possibly empty) rest. */
export function feed(session: WsSession, rec: Recorder, chunk: Buffer, offset: number): void {
  let rest = chunk;
  let at = offset;
  for (;;) {
    rec.chunk = rest;
    rec.chunkStart = at;
    const consumed = session.receive(rest);
    if (!(consumed >= 0 && consumed <= rest.length)) throw new Error(`receive returned ${consumed} for ${rest.length} bytes`);
    rest = rest.subarray(consumed);
    at += consumed;
    if (!session.rxPaused || session.inputDone) {
      if (rest.length !== 0 && !session.inputDone) throw new Error("bytes left unconsumed without a pause");
      return;
    }
    session.resumeRx();
  }
}

export interface RunResult {
  events: Event[];
  log: Recorded[];
  /** Owed control frames taken after all input, as hex. */
  owed: string;
  state: WsSessionState;
  inputDone: boolean;
}

export interface RunOptions extends Partial<WsSessionOptions> {
  /** Pause rx in every event (the driver resumes at once and feeds the rest). */
  pauseEverywhere?: boolean;
  /** Called before any input, e.g. to call close(). */
  before?: (session: WsSession) => void;
}

export function run(role: Role, chunks: readonly Buffer[], options: RunOptions = {}): RunResult {
  const { pauseEverywhere, before, ...sessionOptions } = options;
  const { session, rec } = newSession(role, sessionOptions);
  if (pauseEverywhere) rec.pauseWhen = () => true;
  before?.(session);
  let offset = 0;
  for (const chunk of chunks) {
    feed(session, rec, chunk, offset);
    offset += chunk.length;
  }
  return { events: rec.events(), log: rec.log, owed: takeOwed(session).toString("hex"), state: session.state, inputDone: session.inputDone };
}

/**
 * Pieces of one frame (all but its last carry `remaining` > 0) merged into one event, so
 * fragment delivery can be compared across chunkings: only the number of pieces differs.
 */
export function mergePieces(log: readonly Recorded[]): Event[] {
  const merged: Event[] = [];
  let open: Extract<Event, { type: "fragment" }> | null = null;
  let bytes: Buffer[] = [];
  for (const { event: e, data } of log) {
    if (e.type !== "fragment") {
      merged.push(e);
      continue;
    }
    const started: Extract<Event, { type: "fragment" }> = open ?? e;
    open = { ...started, final: e.final, remaining: e.remaining };
    bytes.push(data!);
    if (e.remaining === 0) {
      merged.push({ ...open, data: digest(Buffer.concat(bytes)) });
      open = null;
      bytes = [];
    }
  }
  if (open) merged.push({ ...open, data: digest(Buffer.concat(bytes)) });
  return merged;
}

/**
 * A run reduced to what must not depend on chunking. In fragment delivery the valid start
 * of a frame that an error cut short is streamed out as far as the chunks reached before
 * the bad byte, so the pieces of such an unfinished frame (remaining > 0) are left out.
 */
export function comparable(r: RunResult): Omit<RunResult, "log"> {
  const events = mergePieces(r.log).filter((e) => !(e.type === "fragment" && e.remaining > 0));
  return { events, owed: r.owed, state: r.state, inputDone: r.inputDone };
}

/**
 * Runs `buf` in one piece, byte by byte and at every split point, each with and without
 * pausing in every event; all must agree. Returns the one-piece run.
 */
export function runAtEverySplit(role: Role, buf: Buffer, options: RunOptions = {}): RunResult {
  const reference = run(role, [Buffer.from(buf)], options);
  expect(reference.events.filter((e) => e.type === "violation")).toEqual([]);
  const expected = comparable(reference);
  for (const { label, chunks } of splitPoints(buf)) {
    const again = chunks.map((c) => Buffer.from(c)); // copied first: receiving unmasks in place
    expect(comparable(run(role, chunks, options)), label).toEqual(expected);
    expect(comparable(run(role, again, { ...options, pauseEverywhere: true })), `${label}, pausing in every event`).toEqual(expected);
  }
  return reference;
}

/** Parses output chunks back into frames (as the peer of `senderRole` would read them). */
export function parseFrames(senderRole: Role, bytes: Uint8Array): Array<{ fin: boolean; opcode: number; masked: boolean; rsv1: boolean; payload: Buffer }> {
  const frames: Array<{ fin: boolean; opcode: number; masked: boolean; rsv1: boolean; payload: Buffer }> = [];
  let pieces: Buffer[] = [];
  let errorMessage: string | null = null;
  const parser = new FrameParser(
    { role: senderRole === "client" ? "server" : "client", maxFramePayload: Number.MAX_SAFE_INTEGER, allowedRsv: 7 },
    {
      onFrameHeader() {
        pieces = [];
      },
      onFramePayload(data) {
        pieces.push(Buffer.from(data));
      },
      onFrameEnd(h: FrameHeader) {
        frames.push({ fin: h.fin, opcode: h.opcode, masked: h.masked, rsv1: h.rsv1, payload: Buffer.concat(pieces) });
      },
      onProtocolError(code, message) {
        errorMessage = `${code} ${message}`;
      },
    },
  );
  parser.push(Buffer.from(bytes));
  if (errorMessage !== null) throw new Error(`output does not parse: ${errorMessage}`);
  return frames;
}

export function pattern(length: number, seed = 1): Buffer {
  const b = Buffer.allocUnsafe(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    b[i] = x & 0xff;
  }
  return b;
}

/**
 * The pongs a session owes for these pings (payloads, oldest first) when nothing was
 * written in between: the newest ones, as many as fit MAX_OWED_PONGS and
 * MAX_OWED_PONG_BYTES, in their order. A model of the rule, written apart from it.
 */
export function newestWithinBounds<T extends Uint8Array>(pings: readonly T[]): T[] {
  const kept: T[] = [];
  let bytes = 0;
  for (let i = pings.length - 1; i >= 0 && kept.length < MAX_OWED_PONGS; i--) {
    bytes += pings[i]!.length;
    if (bytes > MAX_OWED_PONG_BYTES) break;
    kept.unshift(pings[i]!);
  }
  return kept;
}

/** The owed output (hex) is exactly one close frame, masked iff the session is a client, with this code. */
export function expectOwedClose(role: Role, owedHex: string, code: number | null): void {
  const frames = parseFrames(role, Buffer.from(owedHex, "hex"));
  expect(frames.map((f) => ({ opcode: f.opcode, masked: f.masked }))).toEqual([{ opcode: 8, masked: role === "client" }]);
  const payload = frames[0]!.payload;
  if (code === null) expect(payload.length).toBe(0);
  else expect(payload.readUInt16BE(0)).toBe(code);
}
