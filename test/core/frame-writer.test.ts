import { Buffer } from "node:buffer";
import { describe, expect, it } from "vitest";
import { WsloopUsageError } from "../../src/core/errors.js";
import { Opcode } from "../../src/core/frame.js";
import { SMALL_PAYLOAD_COPY_LIMIT, encodeFrame, encodeMessage, frameHeaderSize } from "../../src/core/frame-writer.js";
import type { MaskSource } from "../../src/core/mask-source.js";
import { PooledMaskSource } from "../../src/core/mask-source.js";

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ""), "hex");
const joined = (chunks: Uint8Array[]): Buffer => Buffer.concat(chunks);

/** The key of RFC 6455 §5.7's examples. */
const rfcKey: MaskSource = { next: () => Uint8Array.of(0x37, 0xfa, 0x21, 0x3d) };

function pattern(length: number): Buffer {
  const b = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) b[i] = (i * 31 + 7) & 0xff;
  return b;
}

describe("frame writer", () => {
  describe("frameHeaderSize", () => {
    it("uses the 7-bit form up to 125, the 16-bit form up to 65535 and the 64-bit form above, plus 4 for a mask", () => {
      expect(frameHeaderSize(0, false)).toBe(2);
      expect(frameHeaderSize(125, false)).toBe(2);
      expect(frameHeaderSize(126, false)).toBe(4);
      expect(frameHeaderSize(65535, false)).toBe(4);
      expect(frameHeaderSize(65536, false)).toBe(10);
      expect(frameHeaderSize(0, true)).toBe(6);
      expect(frameHeaderSize(126, true)).toBe(8);
      expect(frameHeaderSize(65536, true)).toBe(14);
    });
  });

  describe("encodeFrame", () => {
    it("writes RFC 6455 §5.7's single-frame unmasked text message", () => {
      const out: Uint8Array[] = [];
      const n = encodeFrame(out, Opcode.TEXT, Buffer.from("Hello"));
      expect(joined(out)).toEqual(hex("81 05 48 65 6c 6c 6f"));
      expect(n).toBe(7);
    });

    it("writes RFC 6455 §5.7's single-frame masked text message", () => {
      const out: Uint8Array[] = [];
      encodeFrame(out, Opcode.TEXT, Buffer.from("Hello"), { mask: rfcKey });
      expect(joined(out)).toEqual(hex("81 85 37 fa 21 3d 7f 9f 4d 51 58"));
    });

    it("writes RFC 6455 §5.7's fragmented text message", () => {
      const out: Uint8Array[] = [];
      encodeFrame(out, Opcode.TEXT, Buffer.from("Hel"), { fin: false });
      encodeFrame(out, Opcode.CONTINUATION, Buffer.from("lo"));
      expect(joined(out)).toEqual(hex("01 03 48 65 6c 80 02 6c 6f"));
    });

    it("writes RFC 6455 §5.7's ping and masked pong", () => {
      const out: Uint8Array[] = [];
      encodeFrame(out, Opcode.PING, Buffer.from("Hello"));
      encodeFrame(out, Opcode.PONG, Buffer.from("Hello"), { mask: rfcKey });
      expect(joined(out)).toEqual(hex("89 05 48 65 6c 6c 6f 8a 85 37 fa 21 3d 7f 9f 4d 51 58"));
    });

    it("uses the 16-bit length form for 256 bytes and the 64-bit form for 64 KiB (RFC 6455 §5.7)", () => {
      const out: Uint8Array[] = [];
      encodeFrame(out, Opcode.BINARY, Buffer.alloc(256));
      expect(Buffer.from(out[0]!.subarray(0, 4))).toEqual(hex("82 7e 01 00"));
      const big: Uint8Array[] = [];
      const n = encodeFrame(big, Opcode.BINARY, Buffer.alloc(65536));
      expect(Buffer.from(big[0]!.subarray(0, 10))).toEqual(hex("82 7f 00 00 00 00 00 01 00 00"));
      expect(n).toBe(65546);
    });

    it("sends a payload over the copy limit as the caller's own view after a header chunk", () => {
      const payload = pattern(SMALL_PAYLOAD_COPY_LIMIT + 1);
      const out: Uint8Array[] = [];
      const n = encodeFrame(out, Opcode.BINARY, payload);
      expect(out).toHaveLength(2);
      expect(out[1]).toBe(payload);
      expect(out[0]!.length).toBe(4);
      expect(n).toBe(4 + payload.length);
    });

    it("copies a payload up to the copy limit into the header's chunk", () => {
      const payload = pattern(SMALL_PAYLOAD_COPY_LIMIT);
      const out: Uint8Array[] = [];
      encodeFrame(out, Opcode.BINARY, payload);
      expect(out).toHaveLength(1);
      expect(Buffer.from(out[0]!.subarray(4))).toEqual(payload);
    });

    it("masks into one chunk and never changes the caller's payload", () => {
      for (const length of [0, 1, 125, 126, 1000, 65535, 65536, 70001]) {
        const payload = pattern(length);
        const copy = Buffer.from(payload);
        const out: Uint8Array[] = [];
        const n = encodeFrame(out, Opcode.BINARY, payload, { mask: new PooledMaskSource() });
        expect(out).toHaveLength(1);
        expect(payload.equals(copy)).toBe(true);
        const frame = Buffer.from(out[0]!);
        const hs = frameHeaderSize(length, true);
        expect(frame.length).toBe(hs + length);
        expect(n).toBe(hs + length);
        expect(frame[1]! & 0x80).toBe(0x80);
        const key = frame.subarray(hs - 4, hs);
        const unmasked = Buffer.from(frame.subarray(hs));
        for (let i = 0; i < unmasked.length; i++) unmasked[i]! ^= key[i & 3]!;
        expect(unmasked.equals(payload)).toBe(true);
      }
    });

    it("sets FIN and RSV1 as asked", () => {
      const out: Uint8Array[] = [];
      encodeFrame(out, Opcode.TEXT, Buffer.alloc(0), { fin: false, rsv1: true });
      expect(out[0]![0]).toBe(0x41);
    });

    it("refuses a control frame over 125 bytes, a fragmented control frame and a reserved opcode", () => {
      expect(() => encodeFrame([], Opcode.PING, Buffer.alloc(126))).toThrow(WsloopUsageError);
      expect(() => encodeFrame([], Opcode.CLOSE, Buffer.alloc(2), { fin: false })).toThrow(WsloopUsageError);
      expect(() => encodeFrame([], 3, Buffer.alloc(0))).toThrow(WsloopUsageError);
      expect(() => encodeFrame([], 16, Buffer.alloc(0))).toThrow(WsloopUsageError);
    });
  });

  describe("encodeMessage", () => {
    function frames(out: Uint8Array[]): Array<{ b0: number; length: number }> {
      const data = joined(out);
      const result: Array<{ b0: number; length: number }> = [];
      let p = 0;
      while (p < data.length) {
        const b1 = data[p + 1]! & 0x7f;
        let length = b1;
        let hs = 2;
        if (b1 === 126) { length = data.readUInt16BE(p + 2); hs = 4; }
        else if (b1 === 127) { length = Number(data.readBigUInt64BE(p + 2)); hs = 10; }
        if (data[p + 1]! & 0x80) hs += 4;
        result.push({ b0: data[p]!, length });
        p += hs + length;
      }
      return result;
    }

    it("splits a message into a first frame, continuations and a final FIN frame; RSV1 only on the first", () => {
      const out: Uint8Array[] = [];
      const n = encodeMessage(out, Opcode.BINARY, pattern(10), 4, { rsv1: true });
      expect(frames(out)).toEqual([
        { b0: 0x42, length: 4 },
        { b0: 0x00, length: 4 },
        { b0: 0x80, length: 2 },
      ]);
      expect(n).toBe(joined(out).length);
    });

    it("does not leave an empty trailing frame when the length is a multiple of the limit", () => {
      const out: Uint8Array[] = [];
      encodeMessage(out, Opcode.TEXT, pattern(8), 4);
      expect(frames(out)).toEqual([
        { b0: 0x01, length: 4 },
        { b0: 0x80, length: 4 },
      ]);
    });

    it("sends one frame when the limit is 0 or Infinity, or the message fits", () => {
      for (const limit of [0, Infinity, 100]) {
        const out: Uint8Array[] = [];
        encodeMessage(out, Opcode.TEXT, pattern(100), limit);
        expect(frames(out)).toEqual([{ b0: 0x81, length: 100 }]);
      }
    });

    it("sends an empty message as one empty FIN frame", () => {
      const out: Uint8Array[] = [];
      encodeMessage(out, Opcode.BINARY, Buffer.alloc(0), 4);
      expect(frames(out)).toEqual([{ b0: 0x82, length: 0 }]);
    });

    it("masks every frame with its own key when given a mask source", () => {
      const out: Uint8Array[] = [];
      const payload = pattern(300);
      encodeMessage(out, Opcode.BINARY, payload, 100, { mask: new PooledMaskSource() });
      const data = joined(out);
      expect(out).toHaveLength(3);
      for (const chunk of out) expect(chunk[1]! & 0x80).toBe(0x80);
      expect(data.length).toBe(3 * (frameHeaderSize(100, true) + 100));
    });

    it("never splits a control message", () => {
      const out: Uint8Array[] = [];
      encodeMessage(out, Opcode.PING, pattern(50), 10);
      expect(frames(out)).toEqual([{ b0: 0x89, length: 50 }]);
    });

    it("refuses a negative or fractional limit and a CONTINUATION opcode", () => {
      expect(() => encodeMessage([], Opcode.TEXT, pattern(3), -1)).toThrow(WsloopUsageError);
      expect(() => encodeMessage([], Opcode.TEXT, pattern(3), 1.5)).toThrow(WsloopUsageError);
      expect(() => encodeMessage([], Opcode.TEXT, pattern(3), NaN)).toThrow(WsloopUsageError);
      expect(() => encodeMessage([], Opcode.CONTINUATION, pattern(3), 0)).toThrow(WsloopUsageError);
    });
  });
});
