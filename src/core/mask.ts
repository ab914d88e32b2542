/**
 * WebSocket payload masking (RFC 6455 §5.3): byte i of a payload is XORed with byte
 * (i mod 4) of the frame's 4-byte key. Masking and unmasking are the same operation.
 *
 * Both functions take a `phase`, the key offset of `data[0]`, so a payload that arrives
 * in several chunks can be unmasked piece by piece without copying it together.
 */

/**
 * Below this length the cost of building an Int32Array view outweighs the word loop,
 * so short payloads (most control frames, small chat messages) go byte by byte, four
 * bytes per step.
 */
const WORD_THRESHOLD = 64;

// The rotated key is assembled byte by byte and read back as one int32 through this
// pair of views, so the word has the platform's byte order — the same order the
// Int32Array view over the payload uses. Module-level so nothing is allocated per call.
// Int32, not Uint32: a Uint32 element above 2^31 is not a small integer to V8, and a
// loop over such values runs at less than half the speed.
const keyWord = new Int32Array(1);
const keyWordBytes = new Uint8Array(keyWord.buffer);

/** XORs `length` bytes of `data` from `start` with the key bytes k0..k3 (k0 first). */
function maskBytes(data: Uint8Array, start: number, length: number, k0: number, k1: number, k2: number, k3: number): void {
  let i = start;
  const end = start + length;
  const end4 = end - 3;
  for (; i < end4; i += 4) {
    data[i]! ^= k0;
    data[i + 1]! ^= k1;
    data[i + 2]! ^= k2;
    data[i + 3]! ^= k3;
  }
  if (i < end) data[i++]! ^= k0;
  if (i < end) data[i++]! ^= k1;
  if (i < end) data[i]! ^= k2;
}

/** XORs every word of `view` with `mask`, eight words per step. */
function maskWords(view: Int32Array, mask: number): void {
  const words = view.length;
  let w = 0;
  const end8 = words - 7;
  for (; w < end8; w += 8) {
    view[w]! ^= mask;
    view[w + 1]! ^= mask;
    view[w + 2]! ^= mask;
    view[w + 3]! ^= mask;
    view[w + 4]! ^= mask;
    view[w + 5]! ^= mask;
    view[w + 6]! ^= mask;
    view[w + 7]! ^= mask;
  }
  for (; w < words; w++) view[w]! ^= mask;
}

/**
 * XORs `data` with `key` in place, starting at key offset `phase` (0..3).
 * `key` must hold at least 4 bytes; only the first 4 are used.
 */
export function applyMask(data: Uint8Array, key: Uint8Array, phase: number): void {
  applyMaskKey(data, key[0]!, key[1]!, key[2]!, key[3]!, phase);
}

/**
 * applyMask() with the key as its four bytes, for holders of a key that keep no typed
 * array for it (a frame parser per connection: a Uint8Array costs more memory than the
 * whole key). @internal
 */
export function applyMaskKey(data: Uint8Array, b0: number, b1: number, b2: number, b3: number, phase: number): void {
  const length = data.length;
  phase &= 3;
  // The key rotated to start at `phase`.
  const k0 = phase === 0 ? b0 : phase === 1 ? b1 : phase === 2 ? b2 : b3;
  const k1 = phase === 0 ? b1 : phase === 1 ? b2 : phase === 2 ? b3 : b0;
  const k2 = phase === 0 ? b2 : phase === 1 ? b3 : phase === 2 ? b0 : b1;
  const k3 = phase === 0 ? b3 : phase === 1 ? b0 : phase === 2 ? b1 : b2;
  if (length < WORD_THRESHOLD) {
    maskBytes(data, 0, length, k0, k1, k2, k3);
    return;
  }

  // Typed-array views must start on a 4-byte boundary of the underlying buffer,
  // so bytes before the first boundary are done one at a time.
  const head = (4 - (data.byteOffset & 3)) & 3;
  if (head > 0) maskBytes(data, 0, head, k0, k1, k2, k3);
  const words = (length - head) >>> 2;
  maskWords(new Int32Array(data.buffer, data.byteOffset + head, words), keyWordOf(k0, k1, k2, k3, head));
  const done = head + (words << 2);
  // The tail starts on a word boundary of the payload's key too: (done - head) is a multiple of 4.
  if (done < length) {
    const r = head & 3;
    maskBytes(
      data,
      done,
      length - done,
      r === 0 ? k0 : r === 1 ? k1 : r === 2 ? k2 : k3,
      r === 0 ? k1 : r === 1 ? k2 : r === 2 ? k3 : k0,
      r === 0 ? k2 : r === 1 ? k3 : r === 2 ? k0 : k1,
      r === 0 ? k3 : r === 1 ? k0 : r === 2 ? k1 : k2,
    );
  }
}

/** The key k0..k3 rotated by `by` bytes, as a native-endian int32. */
function keyWordOf(k0: number, k1: number, k2: number, k3: number, by: number): number {
  const r = by & 3;
  keyWordBytes[(4 - r) & 3] = k0;
  keyWordBytes[(5 - r) & 3] = k1;
  keyWordBytes[(6 - r) & 3] = k2;
  keyWordBytes[(7 - r) & 3] = k3;
  return keyWord[0]!;
}

/**
 * Writes `src` XOR `key` (from key offset `phase`) into `dst`, leaving `src` untouched.
 * Used for outgoing client frames, where the payload belongs to the caller.
 * `dst` must be at least as long as `src`; bytes of `dst` past `src.length` are not
 * touched.
 */
export function maskInto(dst: Uint8Array, src: Uint8Array, key: Uint8Array, phase: number): void {
  maskIntoKey(dst, src, key[0]!, key[1]!, key[2]!, key[3]!, phase);
}

/** maskInto() with the key as its four bytes (see applyMaskKey). @internal */
export function maskIntoKey(dst: Uint8Array, src: Uint8Array, b0: number, b1: number, b2: number, b3: number, phase: number): void {
  const length = src.length;
  if (dst.length < length) {
    throw new RangeError(`maskInto: destination (${dst.length} bytes) is shorter than source (${length} bytes)`);
  }
  phase &= 3;
  const k0 = phase === 0 ? b0 : phase === 1 ? b1 : phase === 2 ? b2 : b3;
  const k1 = phase === 0 ? b1 : phase === 1 ? b2 : phase === 2 ? b3 : b0;
  const k2 = phase === 0 ? b2 : phase === 1 ? b3 : phase === 2 ? b0 : b1;
  const k3 = phase === 0 ? b3 : phase === 1 ? b0 : phase === 2 ? b1 : b2;
  if (length < WORD_THRESHOLD || ((dst.byteOffset ^ src.byteOffset) & 3) !== 0) {
    if (length >= WORD_THRESHOLD) {
      // The two can never be word-aligned at the same index. A native copy followed by
      // an in-place word pass is still much faster than a byte loop over the whole span.
      dst.set(src, 0);
      applyMaskKey(dst.subarray(0, length), k0, k1, k2, k3, 0);
      return;
    }
    let i = 0;
    for (; i + 3 < length; i += 4) {
      dst[i] = src[i]! ^ k0;
      dst[i + 1] = src[i + 1]! ^ k1;
      dst[i + 2] = src[i + 2]! ^ k2;
      dst[i + 3] = src[i + 3]! ^ k3;
    }
    if (i < length) dst[i] = src[i++]! ^ k0;
    if (i < length) dst[i] = src[i++]! ^ k1;
    if (i < length) dst[i] = src[i]! ^ k2;
    return;
  }

  const keys = [k0, k1, k2, k3];
  let i = 0;
  const head = (4 - (src.byteOffset & 3)) & 3;
  for (; i < head; i++) dst[i] = src[i]! ^ keys[i & 3]!;

  const words = (length - head) >>> 2;
  if (words > 0) {
    const mask = keyWordOf(k0, k1, k2, k3, head);
    const from = new Int32Array(src.buffer, src.byteOffset + head, words);
    const to = new Int32Array(dst.buffer, dst.byteOffset + head, words);
    let w = 0;
    const end4 = words - 3;
    for (; w < end4; w += 4) {
      to[w] = from[w]! ^ mask;
      to[w + 1] = from[w + 1]! ^ mask;
      to[w + 2] = from[w + 2]! ^ mask;
      to[w + 3] = from[w + 3]! ^ mask;
    }
    for (; w < words; w++) to[w] = from[w]! ^ mask;
    i += words << 2;
  }

  for (; i < length; i++) dst[i] = src[i]! ^ keys[i & 3]!;
}
