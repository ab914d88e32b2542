/**
 * What a connection may tune about permessage-deflate without renegotiating (lws's
 * lws_set_extension_option idea): how hard it compresses, what it bothers to compress,
 * and how much it inflates per service call. Window sizes and context takeover are
 * agreed in the handshake; see negotiator.ts.
 */
import { usage } from "../errors.js";

export interface DeflateTuning {
  /** zlib compression level, 0 (store) to 9 (smallest). Default 6, zlib's own. */
  level: number;
  /**
   * zlib memLevel, 1 to 9: the compressor's hash table and buffers (see docs/deflate.md
   * for the bytes each costs). Default 8, zlib's own.
   */
  memLevel: number;
  /**
   * Messages shorter than this many bytes are sent uncompressed (for a fragmented
   * message, its first fragment decides). Default 0: everything is compressed unless a
   * write says otherwise.
   */
  threshold: number;
  /**
   * Largest window our compressor uses, 8 to 15; never more than the handshake allows
   * (it is clamped). A smaller window is always readable by the peer. Default 15.
   */
  windowBits: number;
  /**
   * Most inflated bytes one receive()/continueRx() call produces; the rest waits for
   * the next call (forced service). Default 65536.
   */
  inflateChunk: number;
}

export const defaultTuning: Readonly<DeflateTuning> = {
  level: 6,
  memLevel: 8,
  threshold: 0,
  windowBits: 15,
  inflateChunk: 64 * 1024,
};

function integerIn(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw usage("INVALID_ARGUMENT", `permessage-deflate ${name} must be an integer from ${min} to ${max}, got ${String(value)}`);
  }
}

/** Throws a usage error naming the first option out of range. */
export function checkTuning(t: Partial<DeflateTuning>): void {
  if (t.level !== undefined) integerIn("level", t.level, 0, 9);
  if (t.memLevel !== undefined) integerIn("memLevel", t.memLevel, 1, 9);
  if (t.threshold !== undefined) integerIn("threshold", t.threshold, 0, Number.MAX_SAFE_INTEGER);
  if (t.windowBits !== undefined) integerIn("windowBits", t.windowBits, 8, 15);
  if (t.inflateChunk !== undefined) integerIn("inflateChunk", t.inflateChunk, 1, 16 * 1024 * 1024);
}

/** Only the keys that are set: spreading `{ level: undefined }` must not erase a default. */
export function definedTuning(t: Partial<DeflateTuning> | undefined): Partial<DeflateTuning> {
  const out: Partial<DeflateTuning> = {};
  if (!t) return out;
  for (const key of Object.keys(defaultTuning) as Array<keyof DeflateTuning>) {
    const value = t[key];
    if (value !== undefined) out[key] = value;
  }
  return out;
}
