/**
 * A small raw DEFLATE decoder (RFC 1951) for tests, written from the RFC and independent
 * of zlib, that reports the longest back-reference the stream makes. It is how the tests
 * check that what we send under an agreed window never reaches further back than it.
 */
import { Buffer } from "node:buffer";

const LENGTH_BASE = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
const LENGTH_EXTRA = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const DIST_BASE = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577];
const DIST_EXTRA = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
const CL_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

interface Huffman {
  counts: number[];
  symbols: number[];
}

function huffman(lengths: number[]): Huffman {
  const counts = new Array<number>(16).fill(0);
  for (const l of lengths) counts[l]!++;
  counts[0] = 0;
  const offs = new Array<number>(16).fill(0);
  for (let i = 1; i < 16; i++) offs[i] = offs[i - 1]! + counts[i - 1]!;
  const symbols = new Array<number>(lengths.length).fill(0);
  lengths.forEach((l, s) => {
    if (l !== 0) symbols[offs[l]!++] = s;
  });
  return { counts, symbols };
}

export interface Decoded {
  output: Buffer;
  maxDistance: number;
  /** Input bytes left when the data ran out in the middle of a block (a sync-flushed stream ends at a block boundary). */
  complete: boolean;
}

/** Decodes `data` (a raw deflate stream, possibly unfinished at a block boundary). */
export function decodeDeflate(data: Uint8Array): Decoded {
  let pos = 0;
  let bitBuf = 0;
  let bitCount = 0;
  const out: number[] = [];
  let maxDistance = 0;
  class End extends Error {}
  const bits = (n: number): number => {
    let v = bitBuf;
    while (bitCount < n) {
      if (pos >= data.length) throw new End();
      v |= data[pos++]! << bitCount;
      bitCount += 8;
    }
    bitBuf = v >>> n;
    bitCount -= n;
    return v & ((1 << n) - 1);
  };
  const decode = (h: Huffman): number => {
    let code = 0;
    let first = 0;
    let index = 0;
    for (let len = 1; len < 16; len++) {
      code |= bits(1);
      const count = h.counts[len]!;
      if (code - count < first) return h.symbols[index + (code - first)]!;
      index += count;
      first += count;
      first <<= 1;
      code <<= 1;
    }
    throw new Error("bad Huffman code");
  };
  const fixedLit = huffman([...new Array(144).fill(8), ...new Array(112).fill(9), ...new Array(24).fill(7), ...new Array(8).fill(8)]);
  const fixedDist = huffman(new Array(30).fill(5));
  let blockStart = 0;
  try {
    for (;;) {
      blockStart = out.length;
      const final = bits(1);
      const type = bits(2);
      if (type === 0) {
        bitBuf = 0;
        bitCount = 0;
        if (pos + 4 > data.length) throw new End();
        const len = data[pos]! | (data[pos + 1]! << 8);
        const nlen = data[pos + 2]! | (data[pos + 3]! << 8);
        if ((len ^ 0xffff) !== nlen) throw new Error("bad stored length");
        pos += 4;
        if (pos + len > data.length) throw new End();
        for (let i = 0; i < len; i++) out.push(data[pos++]!);
      } else if (type === 1 || type === 2) {
        let lit = fixedLit;
        let dist = fixedDist;
        if (type === 2) {
          const nlen = bits(5) + 257;
          const ndist = bits(5) + 1;
          const ncode = bits(4) + 4;
          const cl = new Array<number>(19).fill(0);
          for (let i = 0; i < ncode; i++) cl[CL_ORDER[i]!] = bits(3);
          const clh = huffman(cl);
          const lengths: number[] = [];
          while (lengths.length < nlen + ndist) {
            const sym = decode(clh);
            if (sym < 16) lengths.push(sym);
            else if (sym === 16) {
              const prev = lengths[lengths.length - 1]!;
              for (let r = 3 + bits(2); r > 0; r--) lengths.push(prev);
            } else if (sym === 17) for (let r = 3 + bits(3); r > 0; r--) lengths.push(0);
            else for (let r = 11 + bits(7); r > 0; r--) lengths.push(0);
          }
          lit = huffman(lengths.slice(0, nlen));
          dist = huffman(lengths.slice(nlen));
        }
        for (;;) {
          const sym = decode(lit);
          if (sym < 256) out.push(sym);
          else if (sym === 256) break;
          else {
            const li = sym - 257;
            const length = LENGTH_BASE[li]! + bits(LENGTH_EXTRA[li]!);
            const di = decode(dist);
            const distance = DIST_BASE[di]! + bits(DIST_EXTRA[di]!);
            if (distance > out.length) throw new Error("distance before the start of the stream");
            maxDistance = Math.max(maxDistance, distance);
            for (let i = 0; i < length; i++) out.push(out[out.length - distance]!);
          }
        }
      } else {
        throw new Error("bad block type");
      }
      if (final) return { output: Buffer.from(out), maxDistance, complete: true };
    }
  } catch (e) {
    if (!(e instanceof End)) throw e;
    // Ran out of input: fine at a block boundary with no block begun.
    return { output: Buffer.from(out.slice(0, blockStart)), maxDistance, complete: false };
  }
}
