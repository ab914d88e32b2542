/**
 * An independent UTF-8 reference for the fail-fast cases: where, exactly, a byte string
 * stops being the start of any valid UTF-8 (Unicode Table 3-7), and a catalogue of test
 * sequences after Markus Kuhn's UTF-8 decoder stress test, which Autobahn's category 6
 * also uses.
 */

/**
 * How many bytes a receiver must have seen to know `bytes` is invalid: the index of the
 * first byte no continuation can rescue, plus one; `bytes.length` when the only fault is
 * a sequence cut off at the end; null when `bytes` is valid UTF-8.
 */
export function failPoint(bytes: Uint8Array): number | null {
  let need = 0;
  let lo = 0x80;
  let hi = 0xbf;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (need > 0) {
      if (b < lo || b > hi) return i + 1;
      lo = 0x80;
      hi = 0xbf;
      need--;
      continue;
    }
    if (b <= 0x7f) continue;
    if (b >= 0xc2 && b <= 0xdf) need = 1;
    else if (b === 0xe0) (need = 2), (lo = 0xa0);
    else if ((b >= 0xe1 && b <= 0xec) || b === 0xee || b === 0xef) need = 2;
    else if (b === 0xed) (need = 2), (hi = 0x9f);
    else if (b === 0xf0) (need = 3), (lo = 0x90);
    else if (b >= 0xf1 && b <= 0xf3) need = 3;
    else if (b === 0xf4) (need = 3), (hi = 0x8f);
    else return i + 1;
  }
  return need > 0 ? bytes.length : null;
}

export interface Utf8Vector {
  label: string;
  bytes: Buffer;
}

const h = (hex: string) => Buffer.from(hex.replace(/\s+/g, ""), "hex");
const u = (text: string) => Buffer.from(text, "utf8");

/** Valid sequences: they must be echoed unchanged, whole or cut at any byte. */
export const validVectors: Utf8Vector[] = [
  { label: "Greek κόσμε", bytes: u("κόσμε") },
  { label: "first 1-byte sequence U+0000", bytes: h("00") },
  { label: "first 2-byte sequence U+0080", bytes: h("c280") },
  { label: "first 3-byte sequence U+0800", bytes: h("e0a080") },
  { label: "first 4-byte sequence U+10000", bytes: h("f0908080") },
  { label: "last 1-byte sequence U+007F", bytes: h("7f") },
  { label: "last 2-byte sequence U+07FF", bytes: h("dfbf") },
  { label: "last 3-byte sequence U+FFFF", bytes: h("efbfbf") },
  { label: "last 4-byte sequence U+10FFFF", bytes: h("f48fbfbf") },
  { label: "U+D7FF (below the surrogates)", bytes: h("ed9fbf") },
  { label: "U+E000 (above the surrogates)", bytes: h("ee8080") },
  { label: "U+FFFD replacement character", bytes: h("efbfbd") },
  { label: "noncharacters U+FFFE U+FFFF (valid)", bytes: h("efbfbe efbfbf") },
  { label: "noncharacter U+10FFFE (valid)", bytes: h("f48fbfbe") },
  { label: "mixed scripts and emoji", bytes: u("Hello-µ@ßöäüàá-UTF-8!! 日本語 🎉 ∀x∈ℝ") },
];

/** Invalid sequences: the connection must fail with 1007 as soon as they are certain. */
export const invalidVectors: Utf8Vector[] = [
  { label: "κόσμε with a surrogate U+D800 inside", bytes: h("cebae1bdb9cf83cebcceb5 eda080 656469746564") },
  { label: "code point above U+10FFFF (F4 90 80 80)", bytes: h("f4908080") },
  { label: "code point U+1FFFFF (F7 BF BF BF)", bytes: h("f7bfbfbf") },
  { label: "5-byte sequence", bytes: h("f888808080") },
  { label: "6-byte sequence", bytes: h("fc8480808080") },
  { label: "lone continuation byte 0x80", bytes: h("80") },
  { label: "lone continuation byte 0xBF", bytes: h("bf") },
  { label: "three continuation bytes", bytes: h("80bf80") },
  { label: "all 64 continuation bytes", bytes: Buffer.from(Array.from({ length: 64 }, (_, i) => 0x80 + i)) },
  { label: "2-byte lead bytes each followed by a space", bytes: Buffer.from(Array.from({ length: 32 }, (_, i) => [0xc0 + i, 0x20]).flat()) },
  { label: "3-byte lead bytes each followed by a space", bytes: Buffer.from(Array.from({ length: 16 }, (_, i) => [0xe0 + i, 0x20]).flat()) },
  { label: "4-byte lead bytes each followed by a space", bytes: Buffer.from(Array.from({ length: 8 }, (_, i) => [0xf0 + i, 0x20]).flat()) },
  { label: "2-byte sequence cut short (C2) at the end", bytes: h("41c2") },
  { label: "3-byte sequence cut short (E0 A0) at the end", bytes: h("41e0a0") },
  { label: "4-byte sequence cut short (F0 90 80) at the end", bytes: h("41f09080") },
  { label: "3-byte sequence cut short, then ASCII", bytes: h("e0a041") },
  { label: "impossible byte FE", bytes: h("fe") },
  { label: "impossible byte FF", bytes: h("ff") },
  { label: "impossible bytes FE FE FF FF", bytes: h("fefeffff") },
  { label: "overlong slash C0 AF", bytes: h("c0af") },
  { label: "overlong slash E0 80 AF", bytes: h("e080af") },
  { label: "overlong slash F0 80 80 AF", bytes: h("f08080af") },
  { label: "maximal overlong C1 BF", bytes: h("c1bf") },
  { label: "maximal overlong E0 9F BF", bytes: h("e09fbf") },
  { label: "maximal overlong F0 8F BF BF", bytes: h("f08fbfbf") },
  { label: "overlong NUL C0 80", bytes: h("c080") },
  { label: "overlong NUL E0 80 80", bytes: h("e08080") },
  { label: "high surrogate U+D800", bytes: h("eda080") },
  { label: "high surrogate U+DB7F", bytes: h("edadbf") },
  { label: "low surrogate U+DC00", bytes: h("edb080") },
  { label: "low surrogate U+DFFF", bytes: h("edbfbf") },
  { label: "surrogate pair U+D800 U+DC00", bytes: h("eda080 edb080") },
  { label: "surrogate pair U+DBFF U+DFFF", bytes: h("edafbf edbfbf") },
  { label: "valid text, then F5 (never in UTF-8)", bytes: Buffer.concat([u("valid text then "), h("f5")]) },
];
