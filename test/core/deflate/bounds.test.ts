import { Buffer } from "node:buffer";
import zlib from "node:zlib";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Opcode } from "../../../src/core/frame.js";
import { chunkBySizes } from "../../helpers/splits.js";
import { closePayload, expectOwedClose, inbound, run, takeOwed, type Role } from "../ws-session/harness.js";
import {
  ReferenceDeflater,
  compressedFrames,
  deflateOptions,
  feedAll,
  keeperSession,
  noise,
  text,
  wire,
} from "./harness.js";

const MiB = 1024 * 1024;

/** 16 MiB of zeros compressed: about 16 KB. */
const bomb = new ReferenceDeflater(false, 15, 9).compress(Buffer.alloc(16 * MiB));

describe("the zip-bomb bound", () => {
  it("16 MiB of zeros in ~16 KB closes with 1009 against a 1 MiB limit, having inflated at most the limit + 1 byte", () => {
    expect(bomb.length).toBeLessThan(20_000);
    for (const role of ["server", "client"] as const) {
      for (const delivery of ["message", "fragment"] as const) {
        for (const fragmentSize of [0, 1000]) {
          for (const readSize of [bomb.length + 20, 4096, 7]) {
            const label = `${role} ${delivery} fragments of ${fragmentSize} reads of ${readSize}`;
            const { session, keeper } = keeperSession(role, deflateOptions({}, {}, { delivery, limits: { maxMessageSize: MiB } }));
            let worst = 0;
            let before = 0;
            const calls = feedAll(session, chunkBySizes(compressedFrames(role, Opcode.BINARY, bomb, fragmentSize), [readSize]), () => {
              const now = session.deflate!.stats.received.inflatedBytes;
              worst = Math.max(worst, now - before);
              before = now;
            });
            const errors = keeper.errors();
            expect(errors.map((e) => [e.code, e.tooLarge?.kind, e.tooLarge?.limit]), label).toEqual([[1009, "message", MiB]]);
            // The byte past the limit, or in message delivery the limit plus the fragments' overhead.
            const expectedSize = delivery === "fragment" || fragmentSize === 0 ? MiB + 1 : MiB + 1 + 64 * Math.ceil(bomb.length / fragmentSize);
            expect(errors[0]!.tooLarge!.size, label).toBeLessThanOrEqual(expectedSize);
            expect(errors[0]!.tooLarge!.size, label).toBeGreaterThan(MiB);
            const inflated = session.deflate!.stats.received.inflatedBytes;
            expect(inflated, label).toBeLessThanOrEqual(MiB + 1);
            expect(worst, label).toBeLessThanOrEqual(64 * 1024);
            expect(calls, label).toBeGreaterThanOrEqual(16);
            const delivered = keeper.got.reduce((n, g) => n + (g.type === "fragment" || g.type === "message" ? g.data.length : 0), 0);
            expect(delivered, label).toBeLessThanOrEqual(MiB);
            expectOwedClose(role, takeOwed(session).toString("hex"), 1009);
            expect(session.deflate!.holds.inflater, label).toBe(false);
          }
        }
      }
    }
  });

  it("the fragment overhead and the inflated bytes share the message budget", () => {
    const limit = 1000;
    const compressed = new ReferenceDeflater(false).compress(text(900, 1));
    // 900 bytes + 64 per fragment: one fragment fits, fifteen do not.
    const one = keeperSession("server", deflateOptions({}, {}, { limits: { maxMessageSize: limit } }));
    feedAll(one.session, [compressedFrames("server", Opcode.TEXT, compressed)]);
    expect(one.keeper.messages().length).toBe(1);
    const many = keeperSession("server", deflateOptions({}, {}, { limits: { maxMessageSize: limit } }));
    feedAll(many.session, [compressedFrames("server", Opcode.TEXT, compressed, Math.ceil(compressed.length / 15))]);
    expect(many.keeper.errors().map((e) => e.code)).toEqual([1009]);
  });
});

describe("inflation is bounded per call and continued by forced service", () => {
  it("one receive() inflates at most inflateChunk bytes; the rest, and the bytes behind it, wait", () => {
    const big = text(1 * MiB, 2);
    const input = Buffer.concat([
      compressedFrames("client", Opcode.TEXT, new ReferenceDeflater().compress(big)),
      inbound("client", { opcode: Opcode.TEXT, payload: "after" }),
    ]);
    const { session, keeper } = keeperSession("client", deflateOptions({}, { inflateChunk: 100_000 }, { delivery: "fragment" }));
    const consumed = session.receive(input);
    expect(consumed).toBeLessThan(input.length);
    expect(session.deflate!.stats.received.inflatedBytes).toBe(100_000);
    expect(session.hasPendingWork).toBe(true);
    expect(session.rxPaused).toBe(true);
    // Forced service without held input: continueRx, one chunk each.
    let calls = 0;
    while (session.hasPendingWork) {
      const before = session.deflate!.stats.received.inflatedBytes;
      session.continueRx();
      expect(session.deflate!.stats.received.inflatedBytes - before).toBeLessThanOrEqual(100_000);
      calls++;
    }
    expect(calls).toBe(10); // 1 MiB = 10.5 chunks of 100 000
    expect(keeper.got.every((g) => g.type !== "message")).toBe(true); // "after" has not been parsed yet
    expect(session.rxPaused).toBe(false);
    expect(session.receive(input.subarray(consumed))).toBe(input.length - consumed);
    const messages = keeper.messages();
    expect(messages.map((m) => m.data.length)).toEqual([MiB, 5]);
    expect(messages[0]!.data.equals(big)).toBe(true);
    expect(keeper.got.filter((g) => g.type === "fragment").every((g) => g.data.length <= 100_000)).toBe(true);
  });

  it("receive() during a backlog continues it first and consumes nothing until it is done", () => {
    const big = Buffer.alloc(300_000, 0x61);
    const frames = compressedFrames("server", Opcode.BINARY, new ReferenceDeflater().compress(big));
    const { session, keeper } = keeperSession("server", deflateOptions({}, { inflateChunk: 65536 }));
    expect(session.receive(frames)).toBe(frames.length);
    expect(session.hasPendingWork).toBe(true);
    const next = inbound("server", { opcode: Opcode.PING, payload: "x" });
    expect(session.receive(next)).toBe(0);
    expect(session.receive(next)).toBe(0);
    expect(session.receive(next)).toBe(0);
    expect(keeper.got).toEqual([]);
    // 5 × 64 KiB ≥ 300 000: the fifth call ends the message, then reads what it was given.
    expect(session.receive(next)).toBe(next.length);
    expect(keeper.got.map((g) => g.type)).toEqual(["message", "ping"]);
  });

  it("pausing rx in an event stops right after it, with or without a backlog", () => {
    const m = text(200_000, 3);
    const frames = compressedFrames("server", Opcode.TEXT, new ReferenceDeflater().compress(m), 5000);
    const { session, keeper } = keeperSession("server", deflateOptions({}, { inflateChunk: 10_000 }, { delivery: "fragment" }));
    keeper.pauseWhen = () => true;
    let events = 0;
    let rest = frames;
    for (let guard = 0; guard < 10_000 && !session.inputDone && rest.length + (session.rxPaused ? 1 : 0) > 0; guard++) {
      rest = rest.subarray(session.receive(rest));
      // Every call stops after at most one event: a pause is honoured at once.
      expect(keeper.got.length - events).toBeLessThanOrEqual(1);
      events = keeper.got.length;
      if (session.rxPaused && !session.hasPendingWork) session.resumeRx();
      if (!session.rxPaused && rest.length === 0) break;
    }
    expect(keeper.messages()[0]!.data.equals(m)).toBe(true);
  });

  it("a paused session reports no pending work", () => {
    const frames = compressedFrames("server", Opcode.BINARY, new ReferenceDeflater().compress(Buffer.alloc(200_000)));
    const { session } = keeperSession("server", deflateOptions());
    session.receive(frames);
    expect(session.hasPendingWork).toBe(true);
    session.pauseRx();
    expect(session.hasPendingWork).toBe(false);
    session.continueRx(); // does nothing while paused
    expect(session.deflate!.stats.received.inflatedBytes).toBe(65536);
    session.resumeRx();
    expect(session.hasPendingWork).toBe(true);
    expect(session.rxPaused).toBe(true);
  });
});

describe("invalid compressed data", () => {
  // (A stream left inside a block at the end of a message cannot be told from Node's
  // binding, which does not expose zlib's data_type; like other implementations, such a
  // message is only caught when what follows makes no sense.)
  it("is 1007: a bad block type, a reference before the start, bad stored lengths; the inflater is freed", () => {
    for (const role of ["server", "client"] as const) {
      for (const payload of [Buffer.from([0xff, 0xff]), Buffer.from("f200110000", "hex"), Buffer.from("0003ff", "hex")]) {
        const r = run(role, [compressedFrames(role, Opcode.BINARY, payload)], deflateOptions());
        expect(r.events, payload.toString("hex")).toEqual([{ type: "error", code: 1007, tooLarge: null }]);
        expectOwedClose(role, r.owed, 1007);
      }
    }
    const { session, keeper } = keeperSession("server", deflateOptions());
    feedAll(session, [compressedFrames("server", Opcode.BINARY, Buffer.from([0xff]))]);
    expect(keeper.errors()[0]!.message).toContain("invalid compressed data");
    expect(session.deflate!.holds.inflater).toBe(false);
  });

  it("text that inflates to invalid UTF-8 fails fast (1007), within the first chunk", () => {
    const bad = Buffer.concat([Buffer.from([0xc0, 0x80]), Buffer.alloc(4 * MiB, 0x61)]);
    const { session, keeper } = keeperSession("server", deflateOptions());
    feedAll(session, [compressedFrames("server", Opcode.TEXT, new ReferenceDeflater().compress(bad))]);
    expect(keeper.errors().map((e) => e.code)).toEqual([1007]);
    expect(session.deflate!.stats.received.inflatedBytes).toBeLessThanOrEqual(65536);
    // And text that ends inside a sequence.
    const cut = keeperSession("server", deflateOptions());
    feedAll(cut.session, [compressedFrames("server", Opcode.TEXT, new ReferenceDeflater().compress(Buffer.from("ab\xe6\x97", "latin1")))]);
    expect(cut.keeper.errors().map((e) => e.code)).toEqual([1007]);
    // Binary is not checked.
    const bin = keeperSession("server", deflateOptions());
    feedAll(bin.session, [compressedFrames("server", Opcode.BINARY, new ReferenceDeflater().compress(bad.subarray(0, 1000)))]);
    expect(bin.keeper.messages()[0]!.data.equals(bad.subarray(0, 1000))).toBe(true);
  });
});

describe("RSV1 misuse", () => {
  const hello = new ReferenceDeflater().compress(Buffer.from("Hello"));
  for (const role of ["server", "client"] as const) {
    it(`to a ${role}: RSV1 on a continuation, on a control frame, without negotiation, and RSV2/RSV3 → 1002`, () => {
      const cases: Array<[string, Buffer, boolean]> = [
        [
          "continuation",
          inbound(role, { opcode: Opcode.TEXT, rsv: 4, fin: false, payload: hello.subarray(0, 3) }, { opcode: Opcode.CONTINUATION, rsv: 4, payload: hello.subarray(3) }),
          true,
        ],
        [
          "continuation of an uncompressed message",
          inbound(role, { opcode: Opcode.TEXT, fin: false, payload: "He" }, { opcode: Opcode.CONTINUATION, rsv: 4, payload: "llo" }),
          true,
        ],
        ["ping", inbound(role, { opcode: Opcode.PING, rsv: 4, payload: "x" }), true],
        ["close", inbound(role, { opcode: Opcode.CLOSE, rsv: 4, payload: closePayload(1000) }), true],
        ["not negotiated", compressedFrames(role, Opcode.TEXT, hello), false],
        ["RSV2", inbound(role, { opcode: Opcode.TEXT, rsv: 2, payload: "x" }), true],
        ["RSV3", inbound(role, { opcode: Opcode.TEXT, rsv: 5, payload: "x" }), true],
      ];
      for (const [name, input, negotiated] of cases) {
        const r = run(role, [input], negotiated ? deflateOptions() : {});
        expect(r.events, name).toEqual([{ type: "error", code: 1002, tooLarge: null }]);
        expectOwedClose(role, r.owed, 1002);
      }
    });
  }
});

describe("zlib memory is held only while needed", () => {
  const message = (role: Role, m: Buffer): Buffer => compressedFrames(role, Opcode.TEXT, new ReferenceDeflater(false).compress(m));

  it("without context takeover, neither side holds zlib state between messages", () => {
    const agreed = { serverNoContextTakeover: true, clientNoContextTakeover: true };
    const { session } = keeperSession("server", deflateOptions(agreed));
    expect(session.deflate!.holds).toEqual({ deflater: false, inflater: false });
    feedAll(session, [message("server", text(1000))]);
    wire(session, (out) => session.encodeData(out, Opcode.TEXT, text(1000)));
    expect(session.deflate!.holds).toEqual({ deflater: false, inflater: false });
    // In the middle of a fragmented message they are held, then let go.
    wire(session, (out) => session.encodeData(out, Opcode.TEXT, text(10), false));
    expect(session.deflate!.holds.deflater).toBe(true);
    wire(session, (out) => session.encodeData(out, Opcode.CONTINUATION, text(10), true));
    expect(session.deflate!.holds.deflater).toBe(false);
    const half = compressedFrames("server", Opcode.TEXT, new ReferenceDeflater(false).compress(text(1000)), 100);
    const cut = half.length - 50;
    feedAll(session, [half.subarray(0, cut)]);
    expect(session.deflate!.holds.inflater).toBe(true);
    feedAll(session, [half.subarray(cut)]);
    expect(session.deflate!.holds.inflater).toBe(false);
  });

  it("with context takeover they are made lazily and kept until the close", () => {
    const { session } = keeperSession("server", deflateOptions());
    expect(session.deflate!.holds).toEqual({ deflater: false, inflater: false });
    feedAll(session, [message("server", text(100))]);
    expect(session.deflate!.holds).toEqual({ deflater: false, inflater: true });
    wire(session, (out) => session.encodeData(out, Opcode.TEXT, text(100)));
    expect(session.deflate!.holds).toEqual({ deflater: true, inflater: true });
    session.close(1000);
    takeOwed(session);
    expect(session.deflate!.holds).toEqual({ deflater: false, inflater: true });
    feedAll(session, [inbound("server", { opcode: Opcode.CLOSE, payload: closePayload(1000) })]);
    expect(session.deflate!.holds).toEqual({ deflater: false, inflater: false });
  });

  it("dispose() frees both at once and ends the session", () => {
    const { session } = keeperSession("client", deflateOptions());
    feedAll(session, [message("client", text(100))]);
    wire(session, (out) => session.encodeData(out, Opcode.TEXT, text(100)));
    expect(session.deflate!.holds).toEqual({ deflater: true, inflater: true });
    session.dispose();
    expect(session.deflate!.holds).toEqual({ deflater: false, inflater: false });
    expect(session.state).toBe("closed");
    expect(session.inputDone).toBe(true);
    expect(() => session.encodeData([], Opcode.TEXT, text(1))).toThrow();
  });
});

describe("determinism", () => {
  it("the same messages come out whatever the fragmentation, chunking, per-call bound and pausing", () => {
    fc.assert(
      fc.property(
        fc.constantFrom<Role>("server", "client"),
        fc.boolean(),
        fc.array(fc.record({ binary: fc.boolean(), size: fc.integer({ min: 0, max: 3000 }), compressible: fc.boolean(), compress: fc.boolean() }), {
          minLength: 1,
          maxLength: 6,
        }),
        fc.integer({ min: 0, max: 700 }),
        fc.array(fc.integer({ min: 1, max: 500 }), { minLength: 1, maxLength: 5 }),
        fc.integer({ min: 1, max: 5000 }),
        fc.constantFrom<"message" | "fragment">("message", "fragment"),
        fc.boolean(),
        (role, takeover, specs, fragmentSize, reads, inflateChunk, delivery, pause) => {
          const ref = new ReferenceDeflater(takeover);
          const payloads = specs.map((s, i) => (s.binary ? (s.compressible ? Buffer.alloc(s.size, i) : noise(s.size, i + 1)) : text(s.size, i)));
          const input = Buffer.concat(
            payloads.map((p, i) => {
              const opcode = specs[i]!.binary ? Opcode.BINARY : Opcode.TEXT;
              if (specs[i]!.compress) return compressedFrames(role, opcode, ref.compress(p), fragmentSize);
              return inbound(role, { opcode, payload: p });
            }),
          );
          const agreed = role === "client" ? { serverNoContextTakeover: !takeover } : { clientNoContextTakeover: !takeover };
          const { session, keeper } = keeperSession(role, deflateOptions(agreed, { inflateChunk }, { delivery }));
          if (pause) keeper.pauseWhen = () => true;
          feedAll(session, chunkBySizes(input, reads));
          expect(keeper.errors()).toEqual([]);
          const got = keeper.messages();
          expect(got.map((m) => m.binary)).toEqual(specs.map((s) => s.binary));
          got.forEach((m, i) => expect(m.data.equals(payloads[i]!)).toBe(true));
          if (delivery === "fragment") {
            expect(keeper.got.every((g) => g.type !== "fragment" || g.data.length <= Math.max(inflateChunk, 3000))).toBe(true);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it("a peer's deflate stream made with any level, memLevel and window is read", () => {
    const m = Buffer.concat([text(5000, 1), noise(2000), text(5000, 1)]);
    for (const windowBits of [9, 10, 12, 15]) {
      for (const level of [0, 1, 6, 9]) {
        for (const memLevel of [1, 8, 9]) {
          const compressed = zlib.deflateRawSync(m, { windowBits, level, memLevel, finishFlush: zlib.constants.Z_SYNC_FLUSH });
          const { session, keeper } = keeperSession("client", deflateOptions({ serverMaxWindowBits: windowBits }));
          feedAll(session, [compressedFrames("client", Opcode.BINARY, compressed.subarray(0, compressed.length - 4))]);
          expect(keeper.messages()[0]!.data.equals(m), `${windowBits} ${level} ${memLevel}`).toBe(true);
        }
      }
    }
  });
});
