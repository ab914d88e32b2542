import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Opcode } from "../../src/core/frame.js";
import type { FrameHeader } from "../../src/core/frame.js";
import { FrameParser } from "../../src/core/frame-parser.js";
import type { FrameParserOptions, FrameSink } from "../../src/core/frame-parser.js";
import { encodeFrame } from "../../src/core/frame-writer.js";
import { PooledMaskSource } from "../../src/core/mask-source.js";
import { chunkBySizes, splitPoints } from "../helpers/splits.js";

// ---------------------------------------------------------------------------
// Building frames by hand, independently of the writer, so malformed ones can be made.

const RFC_KEY = Uint8Array.of(0x37, 0xfa, 0x21, 0x3d);

interface RawFrame {
  opcode: number;
  payload?: Uint8Array | string;
  fin?: boolean;
  /** RSV bits as in FrameParserOptions.allowedRsv: 4 = RSV1, 2 = RSV2, 1 = RSV3. */
  rsv?: number;
  /** The masking key, or null for an unmasked frame. Defaults to RFC 6455's example key. */
  key?: Uint8Array | null;
  /** Force a length form, minimal or not. */
  form?: 7 | 16 | 64;
  /** Declare this length instead of the payload's (the payload bytes are still appended). */
  declared?: bigint;
}

function raw(f: RawFrame): Buffer {
  const payload = typeof f.payload === "string" ? Buffer.from(f.payload) : Buffer.from(f.payload ?? []);
  const key = f.key === undefined ? RFC_KEY : f.key;
  const declared = f.declared ?? BigInt(payload.length);
  const form = f.form ?? (declared < 126n ? 7 : declared < 65536n ? 16 : 64);
  const head: number[] = [((f.fin ?? true) ? 0x80 : 0) | ((f.rsv ?? 0) << 4) | f.opcode];
  const maskBit = key ? 0x80 : 0;
  if (form === 7) head.push(maskBit | Number(declared));
  else if (form === 16) head.push(maskBit | 126, Number(declared >> 8n) & 0xff, Number(declared) & 0xff);
  else {
    head.push(maskBit | 127);
    for (let s = 56n; s >= 0n; s -= 8n) head.push(Number((declared >> s) & 0xffn));
  }
  if (key) head.push(...key);
  const body = Buffer.from(payload);
  if (key) for (let i = 0; i < body.length; i++) body[i]! ^= key[i & 3]!;
  return Buffer.concat([Buffer.from(head), body]);
}

/** Unmasked frame, as a server sends it to a client. */
const fromServer = (f: RawFrame): Buffer => raw({ ...f, key: null });
const cat = (...bufs: Buffer[]): Buffer => Buffer.concat(bufs);

// ---------------------------------------------------------------------------
// Recording what the parser reports.

type Event =
  | { type: "header"; fin: boolean; rsv1: boolean; rsv2: boolean; rsv3: boolean; opcode: number; masked: boolean; payloadLength: number }
  | { type: "end"; opcode: number; payload: string }
  | { type: "error"; code: number; message: string }
  | { type: "violation"; what: string };

/** Payloads are recorded as hex when short and as length + digest when long. */
function digest(buf: Buffer): string {
  return buf.length <= 64 ? buf.toString("hex") : `${buf.length}:${createHash("sha256").update(buf).digest("hex")}`;
}

class Recorder implements FrameSink {
  readonly events: Event[] = [];
  parser!: FrameParser;
  pauseEverywhere = false;
  private pieces: Buffer[] = [];
  private received = 0;
  private declared = 0;
  private errors = 0;
  /** Chunks pushed so far, to check payload pieces are views of them. */
  currentChunk: Buffer | null = null;

  onFrameHeader(h: FrameHeader): void {
    this.check(this.errors === 0, "header after error");
    this.events.push({ type: "header", fin: h.fin, rsv1: h.rsv1, rsv2: h.rsv2, rsv3: h.rsv3, opcode: h.opcode, masked: h.masked, payloadLength: h.payloadLength });
    this.pieces = [];
    this.received = 0;
    this.declared = h.payloadLength;
    if (this.pauseEverywhere) this.parser.pause();
  }
  onFramePayload(data: Buffer, remaining: number): void {
    this.check(this.errors === 0, "payload after error");
    this.check(data.length > 0, "empty payload piece");
    this.check(this.currentChunk !== null && data.buffer === this.currentChunk.buffer, "payload piece is not a view of the input");
    this.received += data.length;
    this.check(remaining === this.declared - this.received, `remaining ${remaining} inconsistent`);
    this.pieces.push(Buffer.from(data));
    if (this.pauseEverywhere) this.parser.pause();
  }
  onFrameEnd(h: FrameHeader): void {
    this.check(this.errors === 0, "end after error");
    this.check(this.received === h.payloadLength, "end before all payload");
    this.events.push({ type: "end", opcode: h.opcode, payload: digest(Buffer.concat(this.pieces)) });
    if (this.pauseEverywhere) this.parser.pause();
  }
  onProtocolError(code: number, message: string): void {
    this.errors++;
    this.check(this.errors === 1, "second protocol error");
    this.events.push({ type: "error", code, message });
  }
  private check(ok: boolean, what: string): void {
    if (!ok) this.events.push({ type: "violation", what });
  }
}

const serverOptions: FrameParserOptions = { role: "server", maxFramePayload: 1 << 20, allowedRsv: 0 };
const clientOptions: FrameParserOptions = { role: "client", maxFramePayload: 1 << 20, allowedRsv: 0 };

/**
 * Feeds the chunks; with `pauseEverywhere` the sink pauses in every callback and the
 * driver resumes and re-feeds the unconsumed rest (possibly empty), as an engine does.
 */
function parse(chunks: readonly Buffer[], options: FrameParserOptions, pauseEverywhere = false): Event[] {
  const rec = new Recorder();
  const parser = new FrameParser(options, rec);
  rec.parser = parser;
  rec.pauseEverywhere = pauseEverywhere;
  for (const chunk of chunks) {
    rec.currentChunk = chunk;
    let rest = chunk;
    for (;;) {
      const consumed = parser.push(rest);
      if (consumed < 0 || consumed > rest.length) throw new Error(`bad consumed count ${consumed}`);
      rest = rest.subarray(consumed);
      if (!parser.paused) {
        if (rest.length !== 0) throw new Error("unpaused parser left bytes unconsumed");
        break;
      }
      parser.resume();
    }
  }
  return rec.events;
}

/** Parses `buf` at every split point, with and without pausing; all must agree. Returns the events. */
function parseAtEverySplit(buf: Buffer, options: FrameParserOptions): Event[] {
  const reference = parse([Buffer.from(buf)], options);
  for (const { label, chunks } of splitPoints(buf)) {
    const again = chunks.map((c) => Buffer.from(c)); // copied first: parsing unmasks in place
    expect(parse(chunks, options), label).toEqual(reference);
    expect(parse(again, options, true), `${label}, pausing in every callback`).toEqual(reference);
  }
  return reference;
}

const header = (opcode: number, payloadLength: number, extra: Partial<Extract<Event, { type: "header" }>> = {}): Event => ({
  type: "header", fin: true, rsv1: false, rsv2: false, rsv3: false, opcode, masked: true, payloadLength, ...extra,
});
const end = (opcode: number, payload: Uint8Array | string): Event => ({
  type: "end", opcode, payload: digest(typeof payload === "string" ? Buffer.from(payload) : Buffer.from(payload)),
});
const errorCode = (events: Event[]): number | undefined => {
  const last = events[events.length - 1];
  return last?.type === "error" ? last.code : undefined;
};
const errors = (events: Event[]) => events.filter((e) => e.type === "error");
const violations = (events: Event[]) => events.filter((e) => e.type === "violation");

function pattern(length: number, seed = 1): Buffer {
  const b = Buffer.allocUnsafe(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    b[i] = x & 0xff;
  }
  return b;
}

// ---------------------------------------------------------------------------

describe("frame parser", () => {
  describe("well-formed frames", () => {
    it("reads RFC 6455 §5.7's masked 'Hello' from a client", () => {
      const events = parseAtEverySplit(Buffer.from("818537fa213d7f9f4d5158", "hex"), serverOptions);
      expect(events).toEqual([header(Opcode.TEXT, 5), end(Opcode.TEXT, "Hello")]);
    });

    it("reads RFC 6455 §5.7's unmasked 'Hello' from a server", () => {
      const events = parseAtEverySplit(Buffer.from("810548656c6c6f", "hex"), clientOptions);
      expect(events).toEqual([header(Opcode.TEXT, 5, { masked: false }), end(Opcode.TEXT, "Hello")]);
    });

    for (const length of [0, 1, 125, 126, 127, 65535, 65536, 70000]) {
      it(`reads a masked ${length}-byte binary frame, announcing the header before the payload`, () => {
        const payload = pattern(length, length + 1);
        const events = parseAtEverySplit(raw({ opcode: Opcode.BINARY, payload }), serverOptions);
        expect(events).toEqual([header(Opcode.BINARY, length), end(Opcode.BINARY, payload)]);
      });
    }

    it("reads several frames from one chunk, including empty ones", () => {
      const buf = cat(raw({ opcode: Opcode.PING }), raw({ opcode: Opcode.TEXT, payload: "a" }), raw({ opcode: Opcode.PONG, payload: "xyz" }), raw({ opcode: Opcode.BINARY }));
      expect(parseAtEverySplit(buf, serverOptions)).toEqual([
        header(Opcode.PING, 0), end(Opcode.PING, ""),
        header(Opcode.TEXT, 1), end(Opcode.TEXT, "a"),
        header(Opcode.PONG, 3), end(Opcode.PONG, "xyz"),
        header(Opcode.BINARY, 0), end(Opcode.BINARY, ""),
      ]);
    });

    it("reads a fragmented message with control frames interleaved between its fragments", () => {
      const buf = cat(
        raw({ opcode: Opcode.TEXT, payload: "Hel", fin: false }),
        raw({ opcode: Opcode.PING, payload: "p" }),
        raw({ opcode: Opcode.CONTINUATION, payload: "l", fin: false }),
        raw({ opcode: Opcode.CLOSE, payload: Buffer.from([0x03, 0xe8]) }),
        raw({ opcode: Opcode.CONTINUATION, payload: "o" }),
        raw({ opcode: Opcode.BINARY, payload: "next" }),
      );
      expect(parseAtEverySplit(buf, serverOptions)).toEqual([
        header(Opcode.TEXT, 3, { fin: false }), end(Opcode.TEXT, "Hel"),
        header(Opcode.PING, 1), end(Opcode.PING, "p"),
        header(Opcode.CONTINUATION, 1, { fin: false }), end(Opcode.CONTINUATION, "l"),
        header(Opcode.CLOSE, 2), end(Opcode.CLOSE, Buffer.from([0x03, 0xe8])),
        header(Opcode.CONTINUATION, 1), end(Opcode.CONTINUATION, "o"),
        header(Opcode.BINARY, 4), end(Opcode.BINARY, "next"),
      ]);
    });

    it("accepts a control frame of exactly 125 bytes", () => {
      const payload = pattern(125);
      expect(parseAtEverySplit(raw({ opcode: Opcode.PING, payload }), serverOptions)).toEqual([header(Opcode.PING, 125), end(Opcode.PING, payload)]);
    });

    it("accepts a frame exactly at maxFramePayload", () => {
      const payload = pattern(300);
      const events = parseAtEverySplit(raw({ opcode: Opcode.BINARY, payload }), { ...serverOptions, maxFramePayload: 300 });
      expect(events).toEqual([header(Opcode.BINARY, 300), end(Opcode.BINARY, payload)]);
    });

    it("accepts RSV1 on the first frame of a message when an extension allowed it", () => {
      const buf = cat(raw({ opcode: Opcode.TEXT, payload: "ab", rsv: 4, fin: false }), raw({ opcode: Opcode.CONTINUATION, payload: "c" }));
      expect(parseAtEverySplit(buf, { ...serverOptions, allowedRsv: 4 })).toEqual([
        header(Opcode.TEXT, 2, { fin: false, rsv1: true }), end(Opcode.TEXT, "ab"),
        header(Opcode.CONTINUATION, 1), end(Opcode.CONTINUATION, "c"),
      ]);
    });

    it("accepts RSV2 and RSV3 when allowed, on any frame", () => {
      const buf = cat(raw({ opcode: Opcode.BINARY, rsv: 2 }), raw({ opcode: Opcode.PING, rsv: 1 }));
      expect(parseAtEverySplit(buf, { ...serverOptions, allowedRsv: 3 })).toEqual([
        header(Opcode.BINARY, 0, { rsv2: true }), end(Opcode.BINARY, ""),
        header(Opcode.PING, 0, { rsv3: true }), end(Opcode.PING, ""),
      ]);
    });

    it("delivers payload pieces as views of the pushed chunk, unmasked in place", () => {
      const chunk = raw({ opcode: Opcode.BINARY, payload: "abcdef" });
      let piece: Buffer | undefined;
      const parser = new FrameParser(serverOptions, {
        onFrameHeader() {}, onFrameEnd() {}, onProtocolError() {},
        onFramePayload(data) { piece = data; },
      });
      expect(parser.push(chunk)).toBe(chunk.length);
      expect(piece!.buffer).toBe(chunk.buffer);
      expect(piece!.byteOffset).toBe(chunk.byteOffset + 6);
      expect(chunk.subarray(6).toString()).toBe("abcdef");
    });

    it("carries the mask phase across chunk boundaries at every offset (covered by every split) and for a large masked frame fed in odd chunks", () => {
      const payload = pattern(100_001, 7);
      const buf = raw({ opcode: Opcode.BINARY, payload, key: Uint8Array.of(1, 2, 3, 4) });
      for (const sizes of [[3], [7, 1, 5], [4093], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]]) {
        expect(parse(chunkBySizes(buf, sizes), serverOptions)).toEqual([header(Opcode.BINARY, 100_001), end(Opcode.BINARY, payload)]);
      }
    });
  });

  describe("masking by role", () => {
    it("rejects an unmasked frame from a client with 1002", () => {
      const events = parseAtEverySplit(raw({ opcode: Opcode.TEXT, payload: "hi", key: null }), serverOptions);
      expect(events).toEqual([{ type: "error", code: 1002, message: "unmasked frame from a client" }]);
    });

    it("rejects a masked frame from a server with 1002", () => {
      const events = parseAtEverySplit(raw({ opcode: Opcode.TEXT, payload: "hi" }), clientOptions);
      expect(events).toEqual([{ type: "error", code: 1002, message: "masked frame from a server" }]);
    });
  });

  describe("RSV bits", () => {
    for (const [rsv, name] of [[4, "RSV1"], [2, "RSV2"], [1, "RSV3"]] as const) {
      it(`rejects ${name} with 1002 when no extension allowed it`, () => {
        const events = parseAtEverySplit(raw({ opcode: Opcode.TEXT, payload: "x", rsv }), serverOptions);
        expect(errorCode(events)).toBe(1002);
        expect(events).toHaveLength(1);
      });
    }

    it("rejects an RSV bit other than the allowed ones with 1002", () => {
      const events = parseAtEverySplit(raw({ opcode: Opcode.TEXT, rsv: 2 }), { ...serverOptions, allowedRsv: 4 });
      expect(errorCode(events)).toBe(1002);
    });

    it("rejects RSV1 on a control frame with 1002 even when allowed", () => {
      const events = parseAtEverySplit(raw({ opcode: Opcode.PING, rsv: 4 }), { ...serverOptions, allowedRsv: 4 });
      expect(events).toEqual([{ type: "error", code: 1002, message: "RSV1 set on a control frame" }]);
    });

    it("rejects RSV1 on a continuation frame with 1002 even when allowed", () => {
      const buf = cat(raw({ opcode: Opcode.TEXT, payload: "a", rsv: 4, fin: false }), raw({ opcode: Opcode.CONTINUATION, payload: "b", rsv: 4 }));
      const events = parseAtEverySplit(buf, { ...serverOptions, allowedRsv: 4 });
      expect(events.slice(0, 2)).toEqual([header(Opcode.TEXT, 1, { fin: false, rsv1: true }), end(Opcode.TEXT, "a")]);
      expect(events[2]).toEqual({ type: "error", code: 1002, message: "RSV1 set on a continuation frame" });
    });

    it("honours allowedRsv changed after construction (extension negotiated later)", () => {
      const rec = new Recorder();
      const parser = new FrameParser(serverOptions, rec);
      rec.parser = parser;
      const chunk = raw({ opcode: Opcode.BINARY, rsv: 4 });
      parser.allowedRsv = 4;
      rec.currentChunk = chunk;
      parser.push(chunk);
      expect(rec.events).toEqual([header(Opcode.BINARY, 0, { rsv1: true }), end(Opcode.BINARY, "")]);
    });
  });

  describe("opcodes", () => {
    for (const opcode of [3, 4, 5, 6, 7, 11, 12, 13, 14, 15]) {
      it(`rejects reserved opcode ${opcode} with 1002`, () => {
        const events = parseAtEverySplit(raw({ opcode }), serverOptions);
        expect(events).toEqual([{ type: "error", code: 1002, message: `reserved opcode 0x${opcode.toString(16)}` }]);
      });
    }
  });

  describe("control frames", () => {
    for (const opcode of [Opcode.CLOSE, Opcode.PING, Opcode.PONG]) {
      it(`rejects a fragmented control frame (opcode ${opcode}, FIN=0) with 1002`, () => {
        const events = parseAtEverySplit(raw({ opcode, fin: false }), serverOptions);
        expect(events).toEqual([{ type: "error", code: 1002, message: "fragmented control frame" }]);
      });
    }

    it("rejects a control frame with a 126-byte payload with 1002", () => {
      const events = parseAtEverySplit(raw({ opcode: Opcode.PING, payload: pattern(126) }), serverOptions);
      expect(events).toEqual([{ type: "error", code: 1002, message: "control frame payload longer than 125 bytes" }]);
    });

    it("rejects a control frame whose short length is sent in the 64-bit form with 1002", () => {
      const events = parseAtEverySplit(raw({ opcode: Opcode.PONG, payload: "x", form: 64 }), serverOptions);
      expect(errorCode(events)).toBe(1002);
    });
  });

  describe("payload length encoding", () => {
    it("rejects a 64-bit length with the most significant bit set with 1002", () => {
      const events = parseAtEverySplit(raw({ opcode: Opcode.BINARY, declared: 1n << 63n }), { ...serverOptions, maxFramePayload: Infinity });
      expect(events).toEqual([{ type: "error", code: 1002, message: "64-bit payload length with the most significant bit set" }]);
    });

    it("rejects a length under 126 sent in the 16-bit form with 1002 (the minimal form is required)", () => {
      const events = parseAtEverySplit(raw({ opcode: Opcode.BINARY, payload: "abc", form: 16 }), serverOptions);
      expect(events).toEqual([{ type: "error", code: 1002, message: "length 3 sent in the 16-bit form; the minimal form is required" }]);
    });

    it("rejects a length under 65536 sent in the 64-bit form with 1002", () => {
      const events = parseAtEverySplit(raw({ opcode: Opcode.BINARY, payload: pattern(200), form: 64 }), serverOptions);
      expect(events).toEqual([{ type: "error", code: 1002, message: "length 200 sent in the 64-bit form; the minimal form is required" }]);
    });

    it("accepts the boundary lengths 126 (16-bit) and 65536 (64-bit)", () => {
      expect(errors(parseAtEverySplit(raw({ opcode: Opcode.BINARY, payload: pattern(126), form: 16 }), serverOptions))).toEqual([]);
      expect(errors(parse([raw({ opcode: Opcode.BINARY, payload: pattern(65536), form: 64 })], serverOptions))).toEqual([]);
    });

    it("rejects a length above Number.MAX_SAFE_INTEGER with 1009", () => {
      const events = parseAtEverySplit(raw({ opcode: Opcode.BINARY, declared: 1n << 53n }), { ...serverOptions, maxFramePayload: Infinity });
      expect(events).toEqual([{ type: "error", code: 1009, message: "payload length above 2^53 - 1 bytes" }]);
    });

    it("accepts a declared length of exactly 2^53 - 1 when there is no limit, announcing it exactly", () => {
      const events = parse([raw({ opcode: Opcode.BINARY, declared: (1n << 53n) - 1n })], { ...serverOptions, maxFramePayload: Infinity });
      expect(events).toEqual([header(Opcode.BINARY, Number.MAX_SAFE_INTEGER)]);
    });
  });

  describe("maxFramePayload", () => {
    for (const [length, name] of [[11, "7-bit"], [300, "16-bit"], [70000, "64-bit"]] as const) {
      it(`rejects a frame declaring more than maxFramePayload (${name} length) with 1009, before any payload`, () => {
        const limit = length - 1;
        // header only: the error must come as soon as the length is known
        const full = raw({ opcode: Opcode.BINARY, payload: pattern(length) });
        const headerOnly = full.subarray(0, full.length - length);
        const events = parseAtEverySplit(headerOnly, { ...serverOptions, maxFramePayload: limit });
        expect(events).toEqual([{ type: "error", code: 1009, message: `frame payload of ${length} bytes exceeds the limit of ${limit}` }]);
        expect(parse([full], { ...serverOptions, maxFramePayload: limit })).toEqual(events);
      });
    }

    it("reports 1009 for an over-long frame before its mask key has arrived", () => {
      const full = raw({ opcode: Opcode.BINARY, payload: pattern(300) });
      const events = parse([full.subarray(0, 4)], { ...serverOptions, maxFramePayload: 10 });
      expect(errorCode(events)).toBe(1009);
    });
  });

  describe("fragmentation", () => {
    it("rejects a CONTINUATION with no fragmented message open with 1002", () => {
      const events = parseAtEverySplit(raw({ opcode: Opcode.CONTINUATION, payload: "x" }), serverOptions);
      expect(events).toEqual([{ type: "error", code: 1002, message: "continuation frame without a fragmented message to continue" }]);
    });

    it("rejects a CONTINUATION after a message has already finished with 1002", () => {
      const buf = cat(raw({ opcode: Opcode.TEXT, payload: "a", fin: false }), raw({ opcode: Opcode.CONTINUATION, payload: "b" }), raw({ opcode: Opcode.CONTINUATION, payload: "c" }));
      const events = parseAtEverySplit(buf, serverOptions);
      expect(events).toHaveLength(5);
      expect(errorCode(events)).toBe(1002);
    });

    for (const opcode of [Opcode.TEXT, Opcode.BINARY]) {
      it(`rejects a new ${opcode === Opcode.TEXT ? "TEXT" : "BINARY"} frame while a fragmented message is open with 1002`, () => {
        const buf = cat(raw({ opcode: Opcode.BINARY, payload: "a", fin: false }), raw({ opcode, payload: "b" }));
        const events = parseAtEverySplit(buf, serverOptions);
        expect(events).toEqual([
          header(Opcode.BINARY, 1, { fin: false }), end(Opcode.BINARY, "a"),
          { type: "error", code: 1002, message: "new data frame while a fragmented message is still open" },
        ]);
      });
    }

    it("tracks inFragmentedMessage from the first fragment's header to its final continuation", () => {
      const seen: string[] = [];
      const parser: FrameParser = new FrameParser(serverOptions, {
        onFrameHeader(h) { seen.push(`h${h.opcode}:${parser.inFragmentedMessage}`); },
        onFramePayload() {},
        onFrameEnd(h) { seen.push(`e${h.opcode}:${parser.inFragmentedMessage}`); },
        onProtocolError() {},
      });
      parser.push(cat(
        raw({ opcode: Opcode.TEXT, fin: false }), raw({ opcode: Opcode.PING }),
        raw({ opcode: Opcode.CONTINUATION }), raw({ opcode: Opcode.TEXT }),
      ));
      expect(seen).toEqual(["h1:true", "e1:true", "h9:true", "e9:true", "h0:true", "e0:false", "h1:false", "e1:false"]);
      expect(parser.inFragmentedMessage).toBe(false);
    });
  });

  describe("the header it hands the sink", () => {
    it("is the parser itself, describing the frame being read (and, between frames, the last one)", () => {
      const seen: unknown[] = [];
      const parser: FrameParser = new FrameParser(serverOptions, {
        onFrameHeader(h) { seen.push(h === parser); },
        onFramePayload() {},
        onFrameEnd(h) { seen.push(h === parser, h.opcode, h.payloadLength); },
        onProtocolError() {},
      });
      parser.push(cat(raw({ opcode: Opcode.TEXT, payload: "ab" }), raw({ opcode: Opcode.PING })));
      expect(seen).toEqual([true, true, Opcode.TEXT, 2, true, true, Opcode.PING, 0]);
      const { fin, rsv1, rsv2, rsv3, opcode, masked, payloadLength } = parser;
      expect({ fin, rsv1, rsv2, rsv3, opcode, masked, payloadLength }).toEqual({
        fin: true, rsv1: false, rsv2: false, rsv3: false, opcode: Opcode.PING, masked: true, payloadLength: 0,
      });
    });
  });

  describe("after a protocol error", () => {
    it("reports once, then consumes and ignores all further input", () => {
      const rec = new Recorder();
      const parser = new FrameParser(serverOptions, rec);
      rec.parser = parser;
      const bad = raw({ opcode: 3 });
      const good = raw({ opcode: Opcode.TEXT, payload: "x" });
      const chunk = cat(bad, good);
      rec.currentChunk = chunk;
      expect(parser.push(chunk)).toBe(chunk.length);
      expect(parser.failed).toBe(true);
      rec.currentChunk = good;
      expect(parser.push(good)).toBe(good.length);
      expect(rec.events).toEqual([{ type: "error", code: 1002, message: "reserved opcode 0x3" }]);
    });
  });

  describe("pause and resume", () => {
    it("stops right after the callback that paused and reports how much it consumed", () => {
      const chunk = cat(raw({ opcode: Opcode.TEXT, payload: "ab" }), raw({ opcode: Opcode.BINARY, payload: "c" }));
      const seen: string[] = [];
      const parser: FrameParser = new FrameParser(serverOptions, {
        onFrameHeader(h) { seen.push(`header ${h.opcode}`); parser.pause(); },
        onFramePayload(d) { seen.push(`payload ${d.toString()}`); },
        onFrameEnd(h) { seen.push(`end ${h.opcode}`); },
        onProtocolError() { seen.push("error"); },
      });
      let rest = chunk;
      let n = parser.push(rest);
      expect(n).toBe(6); // header of the first frame
      expect(seen).toEqual(["header 1"]);
      expect(parser.push(rest.subarray(n))).toBe(0); // still paused: nothing consumed
      parser.resume();
      rest = rest.subarray(n);
      n = parser.push(rest);
      expect(n).toBe(2 + 6);
      expect(seen).toEqual(["header 1", "payload ab", "end 1", "header 2"]);
      parser.resume();
      expect(parser.push(rest.subarray(n))).toBe(1);
      expect(seen).toEqual(["header 1", "payload ab", "end 1", "header 2", "payload c", "end 2"]);
    });

    it("holds back the end of a frame when paused in its last payload callback, and delivers it on an empty push", () => {
      const chunk = raw({ opcode: Opcode.TEXT, payload: "ab" });
      const seen: string[] = [];
      const parser: FrameParser = new FrameParser(serverOptions, {
        onFrameHeader() { seen.push("header"); },
        onFramePayload() { seen.push("payload"); parser.pause(); },
        onFrameEnd() { seen.push("end"); },
        onProtocolError() { seen.push("error"); },
      });
      expect(parser.push(chunk)).toBe(chunk.length);
      expect(seen).toEqual(["header", "payload"]);
      parser.resume();
      expect(parser.push(Buffer.alloc(0))).toBe(0);
      expect(seen).toEqual(["header", "payload", "end"]);
    });

    it("gives the same events when paused in every callback, at every split (see parseAtEverySplit)", () => {
      const buf = cat(raw({ opcode: Opcode.TEXT, payload: "abc", fin: false }), raw({ opcode: Opcode.PING }), raw({ opcode: Opcode.CONTINUATION, payload: "d" }));
      expect(violations(parseAtEverySplit(buf, serverOptions))).toEqual([]);
    });
  });

  // -------------------------------------------------------------------------
  describe("properties", () => {
    const lengthClass = fc.oneof(
      fc.constant(0),
      fc.integer({ min: 1, max: 125 }),
      fc.integer({ min: 126, max: 65535 }),
      fc.integer({ min: 65536, max: 200 * 1024 }),
    );
    const smallLength = fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 125 }));

    type Item =
      | { kind: "control"; opcode: number; length: number; seed: number }
      | { kind: "message"; opcode: number; rsv1: boolean; fragments: number[]; pingBetween: boolean[]; seed: number };

    const controlItem = fc.record({
      kind: fc.constant("control" as const),
      opcode: fc.constantFrom(Opcode.PING, Opcode.PONG, Opcode.CLOSE),
      length: smallLength,
      seed: fc.integer({ min: 1 }),
    });
    const messageItem = fc.record({
      kind: fc.constant("message" as const),
      opcode: fc.constantFrom(Opcode.TEXT, Opcode.BINARY),
      rsv1: fc.boolean(),
      fragments: fc.array(lengthClass, { minLength: 1, maxLength: 3 }),
      pingBetween: fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }),
      seed: fc.integer({ min: 1 }),
    });
    const chunkSizes = fc.array(fc.oneof(fc.integer({ min: 1, max: 16 }), fc.integer({ min: 1, max: 5000 }), fc.integer({ min: 1, max: 100_000 })), { minLength: 1, maxLength: 12 });

    it("round-trips random frames of every length class through encodeFrame and the parser, masked and unmasked, in random chunkings", () => {
      fc.assert(
        fc.property(fc.array(fc.oneof(controlItem, messageItem), { minLength: 1, maxLength: 4 }).filter((items) => items.reduce((n, it) => n + (it.kind === "message" ? it.fragments.reduce((a, b) => a + b, 0) : 0), 0) <= 400 * 1024), fc.boolean(), chunkSizes, (items, masked, sizes) => {
          const out: Uint8Array[] = [];
          const expected: Event[] = [];
          const mask = masked ? new PooledMaskSource() : null;
          const emit = (opcode: number, payload: Buffer, fin: boolean, rsv1: boolean) => {
            encodeFrame(out, opcode, payload, { fin, rsv1, mask });
            expected.push(header(opcode, payload.length, { fin, rsv1, masked }), end(opcode, payload));
          };
          for (const item of items) {
            if (item.kind === "control") {
              emit(item.opcode, pattern(item.length, item.seed), true, false);
            } else {
              item.fragments.forEach((length, k) => {
                const last = k === item.fragments.length - 1;
                emit(k === 0 ? item.opcode : Opcode.CONTINUATION, pattern(length, item.seed + k), last, k === 0 && item.rsv1);
                if (!last && item.pingBetween[k]) emit(Opcode.PING, pattern(3, k), true, false);
              });
            }
          }
          const options: FrameParserOptions = { role: masked ? "server" : "client", maxFramePayload: Infinity, allowedRsv: 4 };
          const events = parse(chunkBySizes(Buffer.concat(out), sizes), options);
          expect(events).toEqual(expected);
        }),
        { numRuns: 150 },
      );
    });

    const parserOptions = fc.record({
      role: fc.constantFrom("server" as const, "client" as const),
      maxFramePayload: fc.oneof(fc.constant(Infinity), fc.integer({ min: 0, max: 70000 })),
      allowedRsv: fc.integer({ min: 0, max: 7 }),
    });

    /** Valid-looking frames, then damaged: bytes flipped, cut, inserted. */
    const mutatedStream = fc
      .tuple(
        fc.array(fc.record({ opcode: fc.constantFrom(0, 1, 2, 8, 9, 10), length: fc.oneof(smallLength, fc.integer({ min: 126, max: 3000 })), fin: fc.boolean(), masked: fc.boolean(), rsv: fc.integer({ min: 0, max: 7 }) }), { minLength: 1, maxLength: 5 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom("flip", "set", "insert", "delete")), { maxLength: 6 }),
      )
      .map(([frames, mutations]) => {
        const bytes = [...Buffer.concat(frames.map((f) => raw({ opcode: f.opcode, payload: pattern(f.length), fin: f.fin, rsv: f.rsv, key: f.masked ? RFC_KEY : null })))];
        for (const [at, value, op] of mutations) {
          const i = bytes.length === 0 ? 0 : at % bytes.length;
          if (op === "flip") bytes[i] = (bytes[i] ?? 0) ^ (1 << (value & 7));
          else if (op === "set") bytes[i] = value;
          else if (op === "insert") bytes.splice(i, 0, value);
          else bytes.splice(i, 1);
        }
        return Buffer.from(bytes);
      });

    it("never throws on random or mutated input; it only reports events or one protocol error, the same for any chunking", () => {
      fc.assert(
        fc.property(fc.oneof(fc.uint8Array({ maxLength: 400 }).map((a) => Buffer.from(a)), mutatedStream), parserOptions, chunkSizes, chunkSizes, (input, options, sizesA, sizesB) => {
          const a = parse(chunkBySizes(input, sizesA), options);
          const b = parse(chunkBySizes(input, sizesB), options, true);
          expect(violations(a)).toEqual([]);
          expect(a).toEqual(b);
          expect(errors(a).length).toBeLessThanOrEqual(1);
          if (errors(a).length === 1) {
            const e = a[a.length - 1]!;
            expect(e.type).toBe("error");
            expect([1002, 1009]).toContain((e as { code: number }).code);
          }
        }),
        { numRuns: 1500 },
      );
    });
  });
});
