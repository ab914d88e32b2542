/**
 * Window sizes: what we send under an agreed window never reaches back further than it,
 * the 8-bit window included (compressed by zlib with 9 bits, whose matches reach back at
 * most 2^9 - 262 = 250 bytes), and what we receive is read with the peer's window.
 */
import { Buffer } from "node:buffer";
import { describe, expect, it } from "vitest";
import { Opcode } from "../../../src/core/frame.js";
import { parseFrames } from "../ws-session/harness.js";
import { decodeDeflate } from "./distance-decoder.js";
import { TAIL, ReferenceDeflater, compressedFrames, deflateOptions, feedAll, keeperSession, noise, text, wire } from "./harness.js";

/** Data full of repeats at every distance from 1 to 1100. */
function repeats(seed: number): Buffer {
  const parts: Buffer[] = [];
  for (let d = 1; d <= 1100; d += 7 + (seed % 5)) {
    const block = noise(d, seed + d);
    parts.push(block, block.subarray(0, Math.min(d, 40)));
  }
  return Buffer.concat(parts);
}

describe("the decoder used here", () => {
  it("decodes zlib's output and sees long distances when the window allows them", () => {
    const data = repeats(1);
    const s = keeperSession("server", deflateOptions({ serverMaxWindowBits: 12 })).session;
    const payload = parseFrames("server", wire(s, (out) => s.encodeData(out, Opcode.BINARY, data)))[0]!.payload;
    const decoded = decodeDeflate(Buffer.concat([payload, TAIL]));
    expect(decoded.output.equals(data)).toBe(true);
    expect(decoded.maxDistance).toBeGreaterThan(1000);
  });
});

describe("what we send stays inside the agreed window", () => {
  for (const bits of [8, 9, 10, 11, 15]) {
    for (const role of ["server", "client"] as const) {
      it(`${bits} bits, from a ${role}, across messages with context takeover, at every level and memLevel`, () => {
        const agreed = role === "server" ? { serverMaxWindowBits: bits } : { clientMaxWindowBits: bits };
        const limit = bits === 8 ? 256 : (1 << bits) - 262;
        for (const level of [1, 6, 9]) {
          for (const memLevel of [1, 8]) {
            const s = keeperSession(role, deflateOptions(agreed, { level, memLevel })).session;
            const messages = [repeats(level), text(3000, memLevel), repeats(level + 1), noise(700, 3), repeats(level + 2)];
            const stream: Buffer[] = [];
            for (const m of messages) {
              const frames = parseFrames(role, wire(s, (out) => s.encodeData(out, Opcode.BINARY, m)));
              stream.push(...frames.map((f) => f.payload), TAIL);
            }
            // With context takeover the messages are one deflate stream.
            const decoded = decodeDeflate(Buffer.concat(stream));
            expect(decoded.output.equals(Buffer.concat(messages))).toBe(true);
            expect(decoded.maxDistance, `level ${level} memLevel ${memLevel}`).toBeLessThanOrEqual(limit);
            if (bits === 8) expect(decoded.maxDistance).toBeGreaterThan(100);
          }
        }
      });
    }
  }

  it("tuning the window down is allowed, up is clamped to the agreement", () => {
    const s = keeperSession("server", deflateOptions({ serverMaxWindowBits: 10 }, { windowBits: 15 })).session;
    const data = repeats(4);
    const once = (): number => decodeDeflate(Buffer.concat([parseFrames("server", wire(s, (out) => s.encodeData(out, Opcode.BINARY, data)))[0]!.payload, TAIL])).maxDistance;
    expect(once()).toBeLessThanOrEqual(1024 - 262);
    // The next message starts a fresh context with the smaller window: it decodes alone.
    s.setDeflateOptions({ windowBits: 8 });
    const d8 = once();
    expect(d8).toBeLessThanOrEqual(250);
    expect(d8).toBeGreaterThan(100);
  });
});

describe("what we receive is read with the peer's window", () => {
  for (const bits of [8, 9, 12, 15]) {
    it(`${bits} bits with context takeover, messages referring to earlier ones`, () => {
      const peer = new ReferenceDeflater(true, Math.max(9, bits));
      const messages = [repeats(1), repeats(1), text(5000, 2), text(5000, 2)];
      const { session, keeper } = keeperSession("client", deflateOptions({ serverMaxWindowBits: bits }));
      feedAll(session, messages.map((m) => compressedFrames("client", Opcode.BINARY, peer.compress(m))));
      expect(keeper.messages().map((m, i) => m.data.equals(messages[i]!))).toEqual([true, true, true, true]);
    });
  }
});
