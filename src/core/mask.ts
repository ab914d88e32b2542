/**
 * WebSocket payload masking (RFC 6455 §5.3): byte i of a payload is XORed with byte
 * (i mod 4) of the frame's 4-byte key. Masking and unmasking are the same operation.
 *
 * Both functions take a `phase`, the key offset of `data[0]`, so a payload that arrives
 * in several chunks can be unmasked piece by piece without copying it together.
 */

/**
 * Below this length the cost of building a Uint32Array view outweighs the word loop,
 * so short payloads (most control frames, small chat messages) go byte by byte.
 */
const WORD_THRESHOLD = 32;

// The rotated key is assembled byte by byte and read back as one uint32 through this
// pair of views, so the word has the platform's byte order — the same order the
// Uint32Array view over the payload uses. Module-level so nothing is allocated per call.
const keyWord = new Uint32Array(1);
const keyWordBytes = new Uint8Array(keyWord.buffer);

/** The key as a native-endian uint32 whose first byte is `key[phase]`. */
function rotatedKeyWord(key: Uint8Array, phase: number): number {
  keyWordBytes[0] = key[phase & 3]!;
  keyWordBytes[1] = key[(phase + 1) & 3]!;
  keyWordBytes[2] = key[(phase + 2) & 3]!;
  keyWordBytes[3] = key[(phase + 3) & 3]!;
  return keyWord[0]!;
}

/**
 * XORs `data` with `key` in place, starting at key offset `phase` (0..3).
 * `key` must hold at least 4 bytes; only the first 4 are used.
 */
export function applyMask(data: Uint8Array, key: Uint8Array, phase: number): void {
  const length = data.length;
  const k0 = key[0]!;
  const k1 = key[1]!;
  const k2 = key[2]!;
  const k3 = key[3]!;
  phase &= 3;
  if (length < WORD_THRESHOLD) {
    for (let i = 0; i < length; i++) {
      const p = (phase + i) & 3;
      data[i]! ^= p === 0 ? k0 : p === 1 ? k1 : p === 2 ? k2 : k3;
    }
    return;
  }

  // Typed-array views must start on a 4-byte boundary of the underlying buffer,
  // so bytes before the first boundary are done one at a time.
  let i = 0;
  const head = (4 - (data.byteOffset & 3)) & 3;
  for (; i < head; i++) {
    const p = (phase + i) & 3;
    data[i]! ^= p === 0 ? k0 : p === 1 ? k1 : p === 2 ? k2 : k3;
  }

  const words = (length - head) >>> 2;
  if (words > 0) {
    const mask = rotatedKeyWord(key, phase + head);
    const view = new Uint32Array(data.buffer, data.byteOffset + head, words);
    for (let w = 0; w < words; w++) view[w]! ^= mask;
    i += words << 2;
  }

  for (; i < length; i++) {
    const p = (phase + i) & 3;
    data[i]! ^= p === 0 ? k0 : p === 1 ? k1 : p === 2 ? k2 : k3;
  }
}

/**
 * Writes `src` XOR `key` (from key offset `phase`) into `dst`, leaving `src` untouched.
 * Used for outgoing client frames, where the payload belongs to the caller.
 * `dst` must be at least as long as `src`; bytes of `dst` past `src.length` are not
 * touched.
 */
export function maskInto(dst: Uint8Array, src: Uint8Array, key: Uint8Array, phase: number): void {
  const length = src.length;
  if (dst.length < length) {
    throw new RangeError(`maskInto: destination (${dst.length} bytes) is shorter than source (${length} bytes)`);
  }
  phase &= 3;
  if (length < WORD_THRESHOLD) {
    for (let i = 0; i < length; i++) dst[i] = src[i]! ^ key[(phase + i) & 3]!;
    return;
  }
  if (((dst.byteOffset ^ src.byteOffset) & 3) !== 0) {
    // The two can never be word-aligned at the same index. A native copy followed by
    // an in-place word pass is still much faster than a byte loop over the whole span.
    dst.set(src, 0);
    applyMask(dst.subarray(0, length), key, phase);
    return;
  }

  let i = 0;
  const head = (4 - (src.byteOffset & 3)) & 3;
  for (; i < head; i++) dst[i] = src[i]! ^ key[(phase + i) & 3]!;

  const words = (length - head) >>> 2;
  if (words > 0) {
    const mask = rotatedKeyWord(key, phase + head);
    const from = new Uint32Array(src.buffer, src.byteOffset + head, words);
    const to = new Uint32Array(dst.buffer, dst.byteOffset + head, words);
    for (let w = 0; w < words; w++) to[w] = from[w]! ^ mask;
    i += words << 2;
  }

  for (; i < length; i++) dst[i] = src[i]! ^ key[(phase + i) & 3]!;
}
