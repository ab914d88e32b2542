/**
 * Byte ranges (RFC 9110 §14): one range of a representation of known size. A Range
 * header we do not act on (another unit, several ranges, bad syntax) is ignored, which
 * the RFC allows: the whole representation is served with 200.
 */

export type RangeResult =
  /** Serve the whole representation (200). */
  | { kind: "none" }
  /** Serve bytes start..end inclusive (206 with Content-Range). */
  | { kind: "range"; start: number; end: number }
  /** No byte of the range exists (416 with Content-Range: bytes *\/size). */
  | { kind: "unsatisfiable" };

const RANGE = /^bytes[ \t]*=[ \t]*(\d*)[ \t]*-[ \t]*(\d*)[ \t]*$/i;

export function parseRange(header: string | undefined, size: number): RangeResult {
  if (header === undefined) return { kind: "none" };
  const m = RANGE.exec(header);
  if (!m) return { kind: "none" };
  const [, first, last] = m;
  if (first === "" && last === "") return { kind: "none" };
  if (first === "") {
    // A suffix: the last N bytes.
    const n = Number(last);
    if (!Number.isSafeInteger(n)) return { kind: "none" };
    if (n === 0 || size === 0) return { kind: "unsatisfiable" };
    return { kind: "range", start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(first);
  const end = last === "" ? Number.MAX_SAFE_INTEGER : Number(last);
  // last < first is invalid syntax (ignored); a valid range starting past the end is unsatisfiable.
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end < start) return { kind: "none" };
  if (start >= size) return { kind: "unsatisfiable" };
  return { kind: "range", start, end: Math.min(end, size - 1) };
}

/** The Content-Range value of a 206, or of a 416 (range null). */
export function contentRange(range: { start: number; end: number } | null, size: number): string {
  return range ? `bytes ${range.start}-${range.end}/${size}` : `bytes */${size}`;
}
