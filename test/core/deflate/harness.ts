/**
 * permessage-deflate in tests: agreements, a reference compressor and decompressor built
 * on Node's public one-shot zlib API (independent of the engine's persistent streams:
 * context takeover is reproduced with a dictionary of the previous plaintext), sessions
 * that talk to each other, and a recorder that keeps whole payloads.
 */
import { Buffer } from "node:buffer";
import zlib from "node:zlib";
import type { DeflateAgreement } from "../../../src/core/deflate/params.js";
import type { DeflateTuning } from "../../../src/core/deflate/options.js";
import type { PeerError } from "../../../src/core/errors.js";
import type { FragmentInfo, WsSession, WsSessionEvents, WsSessionOptions } from "../../../src/core/ws-session.js";
import { inbound, newSession, type RawFrame, type Role } from "../ws-session/harness.js";

export const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

export function agreement(partial: Partial<DeflateAgreement> = {}): DeflateAgreement {
  return {
    serverNoContextTakeover: false,
    clientNoContextTakeover: false,
    serverMaxWindowBits: 15,
    clientMaxWindowBits: 15,
    ...partial,
  };
}

export function deflateOptions(
  partial: Partial<DeflateAgreement> = {},
  tuning: Partial<DeflateTuning> = {},
  rest: Partial<WsSessionOptions> = {},
): Partial<WsSessionOptions> {
  return { deflate: { agreement: agreement(partial), tuning }, ...rest };
}

// ---------------------------------------------------------------------------
// Reference compression, with Node's one-shot API.

/**
 * Compresses messages as a peer would, with or without context takeover: each message
 * is deflated with a sync flush, with the last `2^windowBits` bytes of the plaintext so
 * far as the dictionary when taking over, and the tail removed.
 */
export class ReferenceDeflater {
  private history: Buffer = Buffer.alloc(0);
  constructor(
    private readonly takeover = true,
    private readonly windowBits = 15,
    private readonly level = 6,
  ) {}

  compress(message: Uint8Array): Buffer {
    const options: zlib.ZlibOptions = { windowBits: this.windowBits, level: this.level, finishFlush: zlib.constants.Z_SYNC_FLUSH };
    if (this.takeover && this.history.length > 0) options.dictionary = this.history;
    const out = zlib.deflateRawSync(message, options);
    if (this.takeover) this.remember(message);
    if (out.length >= 4 && out.subarray(out.length - 4).equals(TAIL)) {
      const stripped = out.subarray(0, out.length - 4);
      return stripped.length === 0 ? Buffer.from([0]) : stripped;
    }
    return out;
  }

  private remember(message: Uint8Array): void {
    const window = 1 << this.windowBits;
    this.history = Buffer.concat([this.history, message]);
    if (this.history.length > window) this.history = Buffer.from(this.history.subarray(this.history.length - window));
  }
}

/** Decompresses messages the way RFC 7692 §7.2.2 says, with a dictionary for context takeover. */
export class ReferenceInflater {
  private history: Buffer = Buffer.alloc(0);
  constructor(
    private readonly takeover = true,
    private readonly windowBits = 15,
  ) {}

  inflate(compressed: Uint8Array): Buffer {
    const options: zlib.ZlibOptions = { windowBits: this.windowBits, finishFlush: zlib.constants.Z_SYNC_FLUSH };
    if (this.takeover && this.history.length > 0) options.dictionary = this.history;
    const out = zlib.inflateRawSync(Buffer.concat([compressed, TAIL]), options);
    if (this.takeover) {
      const window = 1 << this.windowBits;
      this.history = Buffer.concat([this.history, out]);
      if (this.history.length > window) this.history = Buffer.from(this.history.subarray(this.history.length - window));
    }
    return out;
  }
}

/** A compressed message as frames from the peer of a session with `role`. */
export function compressedFrames(role: Role, opcode: number, compressed: Uint8Array, fragmentSize = 0): Buffer {
  const frames: RawFrame[] = [];
  if (fragmentSize <= 0 || compressed.length <= fragmentSize) {
    frames.push({ opcode, rsv: 4, payload: compressed });
  } else {
    for (let offset = 0; offset < compressed.length; offset += fragmentSize) {
      const end = Math.min(offset + fragmentSize, compressed.length);
      frames.push({
        opcode: offset === 0 ? opcode : 0,
        rsv: offset === 0 ? 4 : 0,
        fin: end === compressed.length,
        payload: compressed.subarray(offset, end),
      });
    }
  }
  return inbound(role, ...frames);
}

// ---------------------------------------------------------------------------
// Recording with whole payloads.

export type Got =
  | { type: "message"; binary: boolean; data: Buffer }
  | { type: "fragment"; data: Buffer; info: FragmentInfo }
  | { type: "ping" | "pong"; data: Buffer }
  | { type: "close"; code: number }
  | { type: "error"; code: number; message: string; tooLarge: { kind: string; size: number; limit: number } | null };

export class Keeper implements WsSessionEvents {
  readonly got: Got[] = [];
  session!: WsSession;
  pauseWhen: ((g: Got) => boolean) | null = null;
  onMessage(data: Buffer, binary: boolean): void {
    this.add({ type: "message", binary, data: Buffer.from(data) });
  }
  onFragment(data: Buffer, info: FragmentInfo): void {
    this.add({ type: "fragment", data: Buffer.from(data), info: { ...info } });
  }
  onPing(payload: Buffer): void {
    this.add({ type: "ping", data: Buffer.from(payload) });
  }
  onPong(payload: Buffer): void {
    this.add({ type: "pong", data: Buffer.from(payload) });
  }
  onClose(code: number): void {
    this.add({ type: "close", code });
  }
  onPeerError(error: PeerError, tooLarge: { kind: "frame" | "message"; size: number; limit: number } | null): void {
    this.add({ type: "error", code: error.closeCode, message: error.message, tooLarge: tooLarge ? { ...tooLarge } : null });
  }
  private add(g: Got): void {
    this.got.push(g);
    if (this.pauseWhen?.(g)) this.session.pauseRx();
  }
  /** Messages, with fragments joined into messages. */
  messages(): Array<{ binary: boolean; data: Buffer }> {
    const out: Array<{ binary: boolean; data: Buffer }> = [];
    let parts: Buffer[] = [];
    for (const g of this.got) {
      if (g.type === "message") out.push({ binary: g.binary, data: g.data });
      if (g.type === "fragment") {
        parts.push(g.data);
        if (g.info.final) {
          out.push({ binary: g.info.binary, data: Buffer.concat(parts) });
          parts = [];
        }
      }
    }
    return out;
  }
  errors(): Array<Extract<Got, { type: "error" }>> {
    return this.got.filter((g): g is Extract<Got, { type: "error" }> => g.type === "error");
  }
}

export function keeperSession(role: Role, options: Partial<WsSessionOptions> = {}): { session: WsSession; keeper: Keeper } {
  const keeper = new Keeper();
  const { session } = newSession(role, options, keeper as never);
  keeper.session = session;
  return { session, keeper };
}

/**
 * Feeds chunks the way a connection does: whatever a call leaves unconsumed is held and
 * fed again (the next service call: forced service when the session has pending work,
 * after resuming when an event paused it). Returns how many receive calls it took.
 */
export function feedAll(session: WsSession, chunks: readonly Buffer[], onCall?: () => void): number {
  let calls = 0;
  for (const chunk of chunks) {
    let rest = chunk;
    for (;;) {
      calls++;
      const consumed = session.receive(rest);
      onCall?.();
      rest = rest.subarray(consumed);
      if (session.inputDone) break;
      if (!session.rxPaused) {
        if (rest.length !== 0) throw new Error("bytes left unconsumed without a pause");
        break;
      }
      if (!session.hasPendingWork) session.resumeRx();
    }
  }
  return calls;
}

/** Encodes with `encode` on `from`, returns the bytes on the wire. */
export function wire(from: WsSession, encode: (out: Uint8Array[]) => number): Buffer {
  const out: Uint8Array[] = [];
  const bytes = encode(out);
  const all = Buffer.concat(out);
  if (all.length !== bytes) throw new Error(`encode reported ${bytes} bytes, wrote ${all.length}`);
  return all;
}

// ---------------------------------------------------------------------------
// Payloads.

/** Valid UTF-8 text of exactly `length` bytes, mixing 1- to 4-byte sequences, compressible. */
export function text(length: number, seed = 0): Buffer {
  const words = ["hello ", "wörld ", "ça va ", "日本語 ", "😀 ", "{\"id\":", "42, ", "\"name\": \"x\" "];
  const parts: Buffer[] = [];
  let size = 0;
  let i = seed;
  while (size < length) {
    const w = Buffer.from(words[i++ % words.length]! + (i % 7 === 0 ? String(i) : ""));
    parts.push(w);
    size += w.length;
  }
  const all = Buffer.concat(parts);
  // Cut at a character boundary and pad with ASCII to the exact length.
  let end = length;
  while (end > 0 && (all[end]! & 0xc0) === 0x80) end--;
  return Buffer.concat([all.subarray(0, end), Buffer.alloc(length - end, 0x61)]);
}

/** Incompressible bytes (xorshift). */
export function noise(length: number, seed = 7): Buffer {
  const b = Buffer.allocUnsafe(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    b[i] = x & 0xff;
  }
  return b;
}
