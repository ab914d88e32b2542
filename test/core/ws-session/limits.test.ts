import { Buffer } from "node:buffer";
import { describe, expect, it } from "vitest";
import { Opcode } from "../../../src/core/frame.js";
import { defaultLimits } from "../../../src/core/ws-session.js";
import { expectOwedClose, hex, inbound, inboundHeaderSize, newSession, pattern, roles, run, runAtEverySplit } from "./harness.js";
import type { RawFrame } from "./harness.js";
import { splitPoints } from "../../helpers/splits.js";

describe("WsSession: limits are byte budgets", () => {
  for (const role of roles) {
    describe(`as ${role}`, () => {
      for (const declared of [101, 126, 65536]) {
        it(`a frame declaring ${declared} bytes over maxFramePayload 100 fails with 1009 {kind: "frame"} before any payload arrives`, () => {
          const limits = { maxFramePayload: 100 };
          const header = inbound(role, { opcode: Opcode.BINARY, declared });
          // The header alone (no payload at all) is enough to fail.
          const r = runAtEverySplit(role, header, { limits });
          // tooLarge.size is checked apart, below (a known bug outside ws-session.ts).
          expect(r.events).toMatchObject([{ type: "error", code: 1009, tooLarge: { kind: "frame", limit: 100 } }]);
          expect(r.events).toHaveLength(1);
          expectOwedClose(role, r.owed, 1009);
          // And with payload following, at every split the error fires no later than the
          // chunk that completes the length field.
          const lengthEnd = declared < 126 ? 2 : declared < 65536 ? 4 : 10;
          const buf = Buffer.concat([header, pattern(200)]);
          for (const { label, chunks } of splitPoints(buf)) {
            const log = run(role, chunks, { limits }).log;
            expect(log.map((l) => l.event), label).toEqual(r.events);
            expect(log[0]!.chunkStart, label).toBeLessThan(lengthEnd);
          }
        });
      }

      it("a frame of exactly maxFramePayload is accepted", () => {
        const payload = pattern(100);
        const r = runAtEverySplit(role, inbound(role, { opcode: Opcode.BINARY, payload }), { limits: { maxFramePayload: 100 } });
        expect(r.events).toEqual([{ type: "message", binary: true, data: hex(payload) }]);
      });

      it("applies maxFramePayload to control frames too", () => {
        const r = runAtEverySplit(role, inbound(role, { opcode: Opcode.PING, payload: "0123456789" }), { limits: { maxFramePayload: 5 } });
        expect(r.events).toMatchObject([{ type: "error", code: 1009, tooLarge: { kind: "frame", limit: 5 } }]);
        expect(r.events).toHaveLength(1);
      });

      // KNOWN BUG, not in ws-session.ts: FrameParser reports 1009 before it stores the
      // declared length in its (reused) header, so the session reads the previous frame's
      // length (0 for the first frame) as tooLarge.size. Fix in frame-parser.ts: set
      // header.payloadLength before calling tooBig(). Remove `.fails` once fixed.
      it("reports the declared length of a frame over maxFramePayload as tooLarge.size", () => {
        const limits = { maxFramePayload: 100 };
        const buf = inbound(role, { opcode: Opcode.BINARY, payload: "abc" }, { opcode: Opcode.BINARY, declared: 200 });
        const r = runAtEverySplit(role, buf, { limits });
        expect(r.events.at(-1)).toEqual({ type: "error", code: 1009, tooLarge: { kind: "frame", size: 200, limit: 100 } });
      });

      for (const delivery of ["message", "fragment"] as const) {
        it(`${delivery} delivery: a message over maxMessageSize across fragments fails with 1009 {kind: "message"}, as soon as the frame that crosses the limit is announced`, () => {
          const limits = { maxMessageSize: 1000, maxFramePayload: 600 };
          const frames: RawFrame[] = [
            { opcode: Opcode.BINARY, payload: pattern(500, 1), fin: false },
            { opcode: Opcode.PING, payload: "p" },
            { opcode: Opcode.CONTINUATION, payload: pattern(400, 2), fin: false },
            { opcode: Opcode.CONTINUATION, payload: pattern(101, 3) },
          ];
          const buf = inbound(role, ...frames);
          const r = runAtEverySplit(role, buf, { limits, delivery });
          const error = r.events.at(-1)!;
          expect(error).toMatchObject({ type: "error", code: 1009, tooLarge: { kind: "message", limit: 1000 } });
          expect((error as { tooLarge: { size: number } }).tooLarge.size).toBeGreaterThan(1000);
          expect(r.events.filter((e) => e.type === "message")).toEqual([]);
          expectOwedClose(role, r.owed, 1009);
          // Before the payload of the last frame is fed.
          const lastHeaderEnd = buf.length - 101;
          for (const { label, chunks } of splitPoints(buf)) {
            const log = run(role, chunks, { limits, delivery }).log;
            const err = log.find((l) => l.event.type === "error")!;
            expect(err.chunkStart, label).toBeLessThan(lastHeaderEnd);
          }
        });
      }

      it("a message of exactly maxMessageSize is accepted in one frame; in fragments each one past the first costs its overhead", () => {
        const limits = { maxMessageSize: 1000, fragmentOverhead: 64 };
        const payload = pattern(1000, 4);
        const whole = runAtEverySplit(role, inbound(role, { opcode: Opcode.BINARY, payload }), { limits });
        expect(whole.events).toEqual([{ type: "message", binary: true, data: hex(payload) }]);
        // Two fragments hold 500 + 436 payload bytes + 2 × 64 overhead = 1064 = limit + one overhead: accepted.
        const fits = payload.subarray(0, 936);
        const two = (p: Buffer) =>
          inbound(role, { opcode: Opcode.BINARY, payload: p.subarray(0, 500), fin: false }, { opcode: Opcode.CONTINUATION, payload: p.subarray(500) });
        expect(runAtEverySplit(role, two(fits), { limits }).events).toEqual([{ type: "message", binary: true, data: hex(fits) }]);
        // One byte more is over the budget.
        expect(runAtEverySplit(role, two(payload.subarray(0, 937)), { limits }).events).toEqual([
          { type: "error", code: 1009, tooLarge: { kind: "message", size: 1065, limit: 1000 } },
        ]);
      });

      it("the budget does not depend on how the input was chunked: a large message fed byte by byte fits as it does in one piece", () => {
        // Budget counted per received piece instead of per frame would charge this 65536-byte
        // message 64 bytes of overhead per input byte when the bytes come one at a time.
        const limits = { maxMessageSize: 70_000, fragmentOverhead: 64 };
        const payload = pattern(65_536, 5);
        const r = runAtEverySplit(role, inbound(role, { opcode: Opcode.BINARY, payload }), { limits });
        expect(r.events).toEqual([{ type: "message", binary: true, data: hex(payload) }]);
      });

      it("a flood of 1-byte fragments meets the byte budget: at most maxMessageSize/65 are held before 1009", () => {
        const maxMessageSize = 6500;
        const limits = { maxMessageSize, fragmentOverhead: 64, maxFramePayload: 1 << 20 };
        const { session, rec } = newSession(role, { limits });
        let accepted = 0;
        for (let i = 0; i < 10_000 && rec.log.length === 0; i++) {
          session.receive(inbound(role, { opcode: i === 0 ? Opcode.TEXT : Opcode.CONTINUATION, payload: "a", fin: false }));
          if (rec.log.length === 0) accepted++;
        }
        expect(rec.events()).toEqual([
          { type: "error", code: 1009, tooLarge: { kind: "message", size: (accepted + 1) * 65, limit: maxMessageSize } },
        ]);
        // Held bytes are charged payload + overhead per fragment: 1-byte fragments cost 65.
        expect(accepted).toBeLessThanOrEqual(maxMessageSize / 65);
        expect(accepted).toBe(100);

        // The same flood at every split point ends the same way.
        const flood = inbound(role, ...Array.from({ length: 120 }, (_, i): RawFrame => ({ opcode: i === 0 ? Opcode.TEXT : Opcode.CONTINUATION, payload: "a", fin: false })));
        const r = runAtEverySplit(role, flood, { limits });
        expect(r.events).toEqual(rec.events());
      });

      it("the same total in one frame, within the limit, is accepted", () => {
        const limits = { maxMessageSize: 6500, fragmentOverhead: 64 };
        const text = "a".repeat(120);
        const r = runAtEverySplit(role, inbound(role, { opcode: Opcode.TEXT, payload: text }), { limits });
        expect(r.events).toEqual([{ type: "message", binary: false, data: hex(text) }]);
      });

      it("empty fragments hold nothing and are not charged", () => {
        const limits = { maxMessageSize: 100, fragmentOverhead: 64 };
        const frames: RawFrame[] = [{ opcode: Opcode.BINARY, fin: false }];
        for (let i = 0; i < 50; i++) frames.push({ opcode: Opcode.CONTINUATION, fin: false });
        frames.push({ opcode: Opcode.CONTINUATION, payload: pattern(100, 6) });
        const { session, rec } = newSession(role, { limits });
        session.receive(inbound(role, ...frames));
        expect(rec.events()).toEqual([{ type: "message", binary: true, data: hex(pattern(100, 6)) }]);
      });

      it("fragment delivery holds nothing, so the fragment overhead does not apply; maxMessageSize still bounds the message", () => {
        const limits = { maxMessageSize: 200, fragmentOverhead: 64 };
        const frames: RawFrame[] = Array.from({ length: 200 }, (_, i) => ({ opcode: i === 0 ? Opcode.BINARY : Opcode.CONTINUATION, payload: "b", fin: i === 199 }));
        const { session, rec } = newSession(role, { limits, delivery: "fragment" });
        session.receive(inbound(role, ...frames));
        expect(rec.events()).toHaveLength(200);
        expect(rec.events().at(-1)).toMatchObject({ type: "fragment", final: true });
        // One byte more than the limit in the next message: refused at the header of its 201st fragment.
        session.receive(inbound(role, { opcode: Opcode.BINARY, payload: "x", fin: false }, ...frames.slice(1, -1), { opcode: Opcode.CONTINUATION, payload: "yz" }));
        expect(rec.events()).toHaveLength(400);
        expect(rec.events().at(-1)).toEqual({ type: "error", code: 1009, tooLarge: { kind: "message", size: 201, limit: 200 } });
      });

      it("the budget starts afresh with each message", () => {
        const limits = { maxMessageSize: 300, fragmentOverhead: 64 };
        const frames: RawFrame[] = [];
        for (let m = 0; m < 20; m++) frames.push({ opcode: Opcode.TEXT, payload: "ab", fin: false }, { opcode: Opcode.CONTINUATION, payload: "cd" });
        const r = runAtEverySplit(role, inbound(role, ...frames), { limits });
        expect(r.events).toEqual(Array.from({ length: 20 }, () => ({ type: "message", binary: false, data: hex("abcd") })));
      });

      it("a frame too big for the limit fails before its mask key is read", () => {
        const head = inbound(role, { opcode: Opcode.BINARY, declared: 200 }).subarray(0, inboundHeaderSize(role, 200) - (role === "server" ? 4 : 0));
        const { session, rec } = newSession(role, { limits: { maxFramePayload: 100 } });
        expect(session.receive(Buffer.from(head))).toBe(head.length);
        expect(rec.events()).toMatchObject([{ type: "error", code: 1009, tooLarge: { kind: "frame", limit: 100 } }]);
      });
    });
  }
});

describe("WsSession: limits are shared, not copied per session", () => {
  it("without limits a session reads the defaults themselves", () => {
    expect(newSession("server").session.limits).toBe(defaultLimits);
    expect(Object.isFrozen(defaultLimits)).toBe(true);
  });

  it("sessions made from one frozen overrides object share one merged, frozen limits object", () => {
    const limits = Object.freeze({ maxMessageSize: 1000 });
    const a = newSession("server", { limits }).session;
    const b = newSession("client", { limits }).session;
    expect(a.limits).toBe(b.limits);
    expect(a.limits).toEqual({ ...defaultLimits, maxMessageSize: 1000 });
    expect(Object.isFrozen(a.limits)).toBe(true);
  });

  it("an overrides object that is not frozen may change, so each session reads it anew", () => {
    const limits = { maxMessageSize: 1000 };
    const a = newSession("server", { limits }).session;
    limits.maxMessageSize = 2000;
    const b = newSession("server", { limits }).session;
    expect([a.limits.maxMessageSize, b.limits.maxMessageSize]).toEqual([1000, 2000]);
  });
});
