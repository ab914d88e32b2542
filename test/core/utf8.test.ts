import { Buffer } from "node:buffer";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Utf8Validator, isValidUtf8 } from "../../src/core/utf8.js";
import { chunkBySizes, splitPoints } from "../helpers/splits.js";

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ""), "hex");

/**
 * Independent oracle: the WHATWG decoder in streaming, fatal mode also rejects a byte
 * as soon as no continuation could make the stream valid. Returns the index of the
 * first such byte, -1 if every prefix is viable.
 */
function firstFatalIndex(bytes: Uint8Array): number {
  const decoder = new TextDecoder("utf-8", { fatal: true });
  for (let i = 0; i < bytes.length; i++) {
    try {
      decoder.decode(bytes.subarray(i, i + 1), { stream: true });
    } catch {
      return i;
    }
  }
  return -1;
}

/** Feeds chunks; returns how many whole chunks were accepted before push said false. */
function feed(chunks: readonly Uint8Array[]): { accepted: number; finished: boolean } {
  const v = new Utf8Validator();
  let accepted = 0;
  for (const c of chunks) {
    if (!v.push(c)) return { accepted, finished: v.finish() };
    accepted++;
  }
  return { accepted, finished: v.finish() };
}

const invalid: Array<[string, string]> = [
  ["a lone continuation byte", "80"],
  ["a continuation byte after ASCII", "41 bf"],
  ["overlong 2-byte (C0 80)", "c0 80"],
  ["overlong 2-byte (C1 BF)", "c1 bf"],
  ["overlong 3-byte (E0 80 80)", "e0 80 80"],
  ["overlong 3-byte (E0 9F BF)", "e0 9f bf"],
  ["overlong 4-byte (F0 80 80 80)", "f0 80 80 80"],
  ["overlong 4-byte (F0 8F BF BF)", "f0 8f bf bf"],
  ["high surrogate U+D800", "ed a0 80"],
  ["low surrogate U+DFFF", "ed bf bf"],
  ["a surrogate pair encoded as two 3-byte sequences", "ed a0 80 ed b0 80"],
  ["above U+10FFFF (F4 90 80 80)", "f4 90 80 80"],
  ["lead byte F5", "f5 80 80 80"],
  ["lead byte FF", "ff"],
  ["lead byte FE", "fe"],
  ["a 2-byte sequence cut by ASCII", "c3 41"],
  ["a 3-byte sequence cut by ASCII", "e2 82 41"],
  ["a 4-byte sequence cut by a new lead byte", "f0 9f 98 f0 9f 98 80"],
  ["five continuation bytes after a lead", "f0 9f 98 80 80"],
  ["valid text then a bad byte", "48 65 6c 6c 6f ff"],
];

const truncated: Array<[string, string]> = [
  ["a 2-byte sequence missing its last byte", "41 c3"],
  ["a 3-byte sequence missing one byte", "e2 82"],
  ["a 3-byte sequence missing two bytes", "e2"],
  ["a 4-byte sequence missing one byte", "f0 9f 98"],
  ["a 4-byte sequence missing three bytes", "f4"],
];

const valid: Array<[string, string]> = [
  ["empty", ""],
  ["ASCII", "Hello, world"],
  ["2-byte characters", "ÄÖÜ é ß"],
  ["3-byte characters", "€ 中文 \u0800 \uffff \ud7ff \ue000"],
  ["4-byte characters", "😀 \u{10000} \u{10ffff}"],
  ["a mix of every length", "a€😀é中\u{10ffff}z"],
];

describe("UTF-8 validation", () => {
  for (const [name, bytes] of invalid) {
    it(`rejects ${name}, at every split point`, () => {
      const buf = hex(bytes);
      expect(isValidUtf8(buf)).toBe(false);
      for (const { label, chunks } of splitPoints(buf)) {
        const v = new Utf8Validator();
        const results = chunks.map((c) => v.push(c));
        expect(results.includes(false), label).toBe(true);
        expect(v.finish(), label).toBe(false);
      }
    });
  }

  for (const [name, bytes] of truncated) {
    it(`accepts ${name} while it may still complete, but finish() rejects it`, () => {
      const buf = hex(bytes);
      expect(isValidUtf8(buf)).toBe(false);
      for (const { label, chunks } of splitPoints(buf)) {
        const v = new Utf8Validator();
        for (const c of chunks) expect(v.push(c), label).toBe(true);
        expect(v.finish(), label).toBe(false);
      }
    });
  }

  for (const [name, text] of valid) {
    it(`accepts ${name} split at every point`, () => {
      const buf = Buffer.from(text, "utf8");
      expect(isValidUtf8(buf)).toBe(true);
      for (const { label, chunks } of splitPoints(buf)) {
        const v = new Utf8Validator();
        for (const c of chunks) expect(v.push(c), label).toBe(true);
        expect(v.finish(), label).toBe(true);
      }
    });
  }

  it("fails fast: push returns false on the first byte that cannot be completed validly, before finish", () => {
    const cases: Array<[string, number]> = [
      ["41 42 e0 80", 3], // E0 must be followed by A0..BF
      ["ed a0", 1], // surrogate range
      ["f0 8f", 1], // overlong 4-byte
      ["f4 90", 1], // above U+10FFFF
      ["e2 82 ac c0", 3], // C0 never valid
      ["41 f5", 1],
      ["c3 a9 80", 2],
      ["f0 9f 98 41", 3],
    ];
    for (const [bytes, badIndex] of cases) {
      const buf = hex(bytes);
      expect(firstFatalIndex(buf), bytes).toBe(badIndex);
      const v = new Utf8Validator();
      for (let i = 0; i < buf.length; i++) {
        expect(v.push(buf.subarray(i, i + 1)), `${bytes} byte ${i}`).toBe(i < badIndex);
      }
    }
  });

  it("stays failed until reset, then validates afresh", () => {
    const v = new Utf8Validator();
    expect(v.push(hex("ff"))).toBe(false);
    expect(v.push(Buffer.from("ok"))).toBe(false);
    expect(v.finish()).toBe(false);
    v.reset();
    expect(v.push(Buffer.from("ok"))).toBe(true);
    expect(v.finish()).toBe(true);
  });

  it("reset forgets an incomplete sequence", () => {
    const v = new Utf8Validator();
    expect(v.push(hex("e2 82"))).toBe(true);
    v.reset();
    expect(v.push(Buffer.from("A"))).toBe(true);
    expect(v.finish()).toBe(true);
  });

  it("agrees with the WHATWG fatal decoder on random byte strings in random chunkings (first failing chunk and final verdict)", () => {
    // Bias towards bytes that form and break multi-byte sequences.
    const byte = fc.oneof(
      fc.integer({ min: 0x00, max: 0x7f }),
      fc.integer({ min: 0x80, max: 0xbf }),
      fc.constantFrom(0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe1, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf3, 0xf4, 0xf5, 0xff),
    );
    fc.assert(
      fc.property(fc.array(byte, { maxLength: 64 }), fc.array(fc.integer({ min: 1, max: 9 }), { maxLength: 8 }), (arr, sizes) => {
        const buf = Buffer.from(arr);
        const bad = firstFatalIndex(buf);
        const chunks = chunkBySizes(buf, sizes);
        const { accepted, finished } = feed(chunks);
        if (bad === -1) {
          expect(accepted).toBe(chunks.length);
        } else {
          // the chunk containing the first fatal byte is the one rejected
          let end = 0;
          let expectedAccepted = 0;
          for (const c of chunks) {
            end += c.length;
            if (end > bad) break;
            expectedAccepted++;
          }
          expect(accepted).toBe(expectedAccepted);
        }
        expect(finished).toBe(isValidUtf8(buf));
      }),
      { numRuns: 2000 },
    );
  });

  it("accepts any valid Unicode string in any chunking", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme", maxLength: 80 }), fc.array(fc.integer({ min: 1, max: 7 }), { maxLength: 6 }), (s, sizes) => {
        const buf = Buffer.from(s, "utf8");
        const { accepted, finished } = feed(chunkBySizes(buf, sizes));
        expect(finished).toBe(true);
        expect(accepted).toBe(chunkBySizes(buf, sizes).length);
      }),
    );
  });
});
