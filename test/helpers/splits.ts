import { Buffer } from "node:buffer";

export interface Chunking {
  label: string;
  chunks: Buffer[];
}

/** Buffers up to this size are split at every point; larger ones at a sample. */
const EXHAUSTIVE_LIMIT = 512;
/** How many evenly spread split points a large buffer gets, besides both ends. */
const SAMPLE_POINTS = 64;
/** Bytes at each end of a large buffer where every split point is tried (headers live there). */
const EDGE_POINTS = 16;

/**
 * Ways to deliver `buf` in pieces: whole, byte by byte, and in two pieces at every
 * split point (a bounded sample for buffers over 512 bytes: the first and last 16
 * points, where headers and trailers live, plus 64 spread evenly).
 *
 * Every chunk is a fresh copy, because the frame parser unmasks its input in place.
 */
export function* splitPoints(buf: Buffer): Generator<Chunking> {
  yield { label: "one piece", chunks: [Buffer.from(buf)] };
  if (buf.length <= 1) return;

  const bytes: Buffer[] = [];
  for (let i = 0; i < buf.length; i++) bytes.push(Buffer.from(buf.subarray(i, i + 1)));
  yield { label: "byte by byte", chunks: bytes };

  for (const at of twoWayPoints(buf.length)) {
    yield {
      label: `split at ${at}`,
      chunks: [Buffer.from(buf.subarray(0, at)), Buffer.from(buf.subarray(at))],
    };
  }
}

function twoWayPoints(length: number): number[] {
  if (length <= EXHAUSTIVE_LIMIT) {
    return Array.from({ length: length - 1 }, (_, i) => i + 1);
  }
  const points = new Set<number>();
  for (let i = 1; i <= EDGE_POINTS; i++) {
    points.add(i);
    points.add(length - i);
  }
  for (let k = 1; k <= SAMPLE_POINTS; k++) {
    points.add(Math.max(1, Math.min(length - 1, Math.round((k * length) / (SAMPLE_POINTS + 1)))));
  }
  return [...points].sort((a, b) => a - b);
}

/** Cuts `buf` into fresh copies of the given sizes, cycling through them (each ≥ 1). */
export function chunkBySizes(buf: Uint8Array, sizes: readonly number[]): Buffer[] {
  const chunks: Buffer[] = [];
  let offset = 0;
  let k = 0;
  while (offset < buf.length) {
    const size = Math.max(1, sizes.length === 0 ? buf.length : sizes[k++ % sizes.length]!);
    chunks.push(Buffer.from(buf.subarray(offset, offset + size)));
    offset += size;
  }
  return chunks;
}
