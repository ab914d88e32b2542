import { Buffer } from "node:buffer";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { applyMask, maskInto } from "../../src/core/mask.js";
import { PooledMaskSource, zeroMaskSource } from "../../src/core/mask-source.js";

function naiveMask(data: Uint8Array, key: Uint8Array, phase: number): Uint8Array {
  const out = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = data[i]! ^ key[(phase + i) % 4]!;
  return out;
}

const key4 = fc.uint8Array({ minLength: 4, maxLength: 4 });
const phase = fc.integer({ min: 0, max: 3 });
const offset = fc.integer({ min: 0, max: 7 });

describe("applyMask", () => {
  it("equals a byte-by-byte XOR for any data, byte offset and phase", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), key4, phase, offset, (data, key, ph, off) => {
        const backing = new Uint8Array(off + data.length + 5);
        const view = backing.subarray(off, off + data.length);
        view.set(data);
        applyMask(view, key, ph);
        expect(Buffer.from(view).equals(naiveMask(data, key, ph))).toBe(true);
        // bytes around the view are untouched
        expect(backing.subarray(0, off).every((b) => b === 0)).toBe(true);
        expect(backing.subarray(off + data.length).every((b) => b === 0)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it("is its own inverse", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), key4, phase, (data, key, ph) => {
        const copy = Uint8Array.from(data);
        applyMask(copy, key, ph);
        applyMask(copy, key, ph);
        expect(Buffer.from(copy).equals(data)).toBe(true);
      }),
    );
  });

  it("gives the same result when a payload is masked piece by piece with the carried phase", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 400 }), key4, fc.array(fc.integer({ min: 1, max: 90 })), (data, key, cuts) => {
        const whole = Uint8Array.from(data);
        applyMask(whole, key, 0);
        const pieces = Uint8Array.from(data);
        let at = 0;
        let ph = 0;
        for (const size of [...cuts, data.length]) {
          if (at >= data.length) break;
          const end = Math.min(data.length, at + size);
          applyMask(pieces.subarray(at, end), key, ph);
          ph = (ph + end - at) & 3;
          at = end;
        }
        expect(Buffer.from(pieces).equals(whole)).toBe(true);
      }),
    );
  });

  it("handles a large payload (word path) on a Node Buffer", () => {
    const data = Buffer.alloc(100_003, 0x5a);
    const key = Uint8Array.of(1, 2, 3, 4);
    const expected = naiveMask(data, key, 3);
    applyMask(data, key, 3);
    expect(data.equals(expected)).toBe(true);
  });
});

describe("maskInto", () => {
  it("writes the masked bytes into the destination and leaves the source untouched, whatever the alignments", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), key4, phase, offset, offset, (data, key, ph, srcOff, dstOff) => {
        const srcBacking = new Uint8Array(srcOff + data.length);
        const src = srcBacking.subarray(srcOff);
        src.set(data);
        const dstBacking = new Uint8Array(dstOff + data.length + 3).fill(0xee);
        const dst = dstBacking.subarray(dstOff);
        maskInto(dst, src, key, ph);
        expect(Buffer.from(dst.subarray(0, data.length)).equals(naiveMask(data, key, ph))).toBe(true);
        expect(Buffer.from(src).equals(data)).toBe(true);
        expect(dst.subarray(data.length).every((b) => b === 0xee)).toBe(true);
        expect(dstBacking.subarray(0, dstOff).every((b) => b === 0xee)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it("throws a RangeError when the destination is too short", () => {
    expect(() => maskInto(new Uint8Array(3), new Uint8Array(4), new Uint8Array(4), 0)).toThrow(RangeError);
  });
});

describe("mask sources", () => {
  it("PooledMaskSource hands out 4-byte keys that vary, across pool refills", () => {
    const source = new PooledMaskSource(16);
    const seen = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const key = source.next();
      expect(key.length).toBe(4);
      seen.add(Buffer.from(key).toString("hex"));
    }
    // 40 draws of 32 random bits: collisions are practically impossible
    expect(seen.size).toBeGreaterThan(35);
  });

  it("PooledMaskSource rejects a pool size that is not a positive multiple of 4", () => {
    expect(() => new PooledMaskSource(6)).toThrow(/multiple of 4/);
    expect(() => new PooledMaskSource(0)).toThrow(/multiple of 4/);
  });

  it("zeroMaskSource always gives the all-zero key, even after a caller scribbled on it", () => {
    const key = zeroMaskSource.next();
    expect([...key]).toEqual([0, 0, 0, 0]);
    key[2] = 9;
    expect([...zeroMaskSource.next()]).toEqual([0, 0, 0, 0]);
  });
});
