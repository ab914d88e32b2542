import { Buffer } from "node:buffer";
import { describe, expect, it } from "vitest";
import { Opcode } from "../../../src/core/frame.js";
import { splitPoints } from "../../helpers/splits.js";
import { closePayload, expectOwedClose, hex, inbound, inboundHeaderSize, newSession, roles, run, runAtEverySplit, takeOwed } from "./harness.js";
import type { RawFrame, Role } from "./harness.js";

const deliveries = ["message", "fragment"] as const;

/** The peer error must fire inside the receive() call whose chunk holds byte `at` of the input. */
function expectFailsAtByte(role: Role, buf: Buffer, at: number, code: number, delivery: "message" | "fragment"): void {
  for (const { label, chunks } of splitPoints(buf)) {
    const r = run(role, chunks, { delivery });
    const errors = r.log.filter((l) => l.event.type === "error");
    expect(errors.map((l) => l.event), label).toEqual([{ type: "error", code, tooLarge: null }]);
    expect(errors[0]!.chunkStart <= at && at < errors[0]!.chunkEnd, `${label}: error fired in chunk [${errors[0]!.chunkStart}, ${errors[0]!.chunkEnd}), bad byte at ${at}`).toBe(true);
  }
}

describe("WsSession: UTF-8 of text messages", () => {
  for (const role of roles) {
    for (const delivery of deliveries) {
      describe(`as ${role}, ${delivery} delivery`, () => {
        it("fails with 1007 at the bad byte inside a fragmented message whose end has not come", () => {
          const first: RawFrame = { opcode: Opcode.TEXT, payload: "ok", fin: false };
          const bad: RawFrame = { opcode: Opcode.CONTINUATION, payload: Buffer.from([0x61, 0xff, 0x62]), fin: false };
          const buf = inbound(role, first, bad, { opcode: Opcode.CONTINUATION, payload: "end" });
          const at = inboundHeaderSize(role, 2) + 2 + inboundHeaderSize(role, 3) + 1;
          expectFailsAtByte(role, buf, at, 1007, delivery);

          // Frame by frame: the error is out before the later frames are fed.
          const { session, rec } = newSession(role, { delivery });
          session.receive(inbound(role, first));
          expect(rec.events().filter((e) => e.type === "error")).toEqual([]);
          session.receive(inbound(role, bad));
          expect(rec.events().at(-1)).toEqual({ type: "error", code: 1007, tooLarge: null });
          const later = inbound(role, { opcode: Opcode.CONTINUATION, payload: "end" });
          expect(session.receive(later)).toBe(later.length);
          expect(rec.events().filter((e) => e.type === "error")).toHaveLength(1);
          expect(rec.events().filter((e) => e.type === "violation")).toEqual([]);
          expectOwedClose(role, takeOwed(session).toString("hex"), 1007);
        });

        it("fails at the continuation byte that breaks a sequence begun in an earlier frame", () => {
          // E0 needs A0..BF next; 80 cannot follow (an overlong form).
          const buf = inbound(
            role,
            { opcode: Opcode.TEXT, payload: Buffer.from([0x41, 0xe0]), fin: false },
            { opcode: Opcode.PING },
            { opcode: Opcode.CONTINUATION, payload: Buffer.from([0x80, 0x80]), fin: false },
            { opcode: Opcode.CONTINUATION, payload: "x" },
          );
          const at = inboundHeaderSize(role, 2) + 2 + inboundHeaderSize(role, 0) + inboundHeaderSize(role, 2);
          expectFailsAtByte(role, buf, at, 1007, delivery);
        });

        for (const [name, bytes] of [
          ["a lone continuation byte", [0x80]],
          ["an overlong 2-byte form", [0xc0, 0xaf]],
          ["a UTF-16 surrogate", [0xed, 0xa0, 0x80]],
          ["a code point above U+10FFFF", [0xf4, 0x90, 0x80, 0x80]],
          ["the byte F5", [0xf5]],
        ] as const) {
          it(`fails with 1007 on ${name} in a one-frame message`, () => {
            const r = runAtEverySplit(role, inbound(role, { opcode: Opcode.TEXT, payload: Buffer.from([0x61, ...bytes, 0x62]) }), { delivery });
            expect(r.events.at(-1)).toEqual({ type: "error", code: 1007, tooLarge: null });
            expect(r.events.filter((e) => e.type !== "error")).toEqual([]);
            expectOwedClose(role, r.owed, 1007);
          });
        }

        it("fails with 1007 when a one-frame text message ends inside a sequence", () => {
          const r = runAtEverySplit(role, inbound(role, { opcode: Opcode.TEXT, payload: Buffer.from([0x61, 0xe2, 0x82]) }), { delivery });
          expect(r.events).toEqual([{ type: "error", code: 1007, tooLarge: null }]);
        });

        it("fails with 1007 when a fragmented text message ends inside a sequence", () => {
          const buf = inbound(
            role,
            { opcode: Opcode.TEXT, payload: "a", fin: false },
            { opcode: Opcode.CONTINUATION, payload: Buffer.from([0xf0, 0x9f]), fin: false },
            { opcode: Opcode.CONTINUATION, payload: Buffer.from([0x98]) },
          );
          const r = runAtEverySplit(role, buf, { delivery });
          expect(r.events.at(-1)).toEqual({ type: "error", code: 1007, tooLarge: null });
          // No final piece and no message went out before the error.
          expect(r.events.some((e) => e.type === "message" || (e.type === "fragment" && e.final))).toBe(false);
        });

        it("fails with 1007 when an empty final continuation leaves a sequence open", () => {
          const buf = inbound(role, { opcode: Opcode.TEXT, payload: Buffer.from([0xe2, 0x82]), fin: false }, { opcode: Opcode.CONTINUATION });
          const r = runAtEverySplit(role, buf, { delivery });
          expect(r.events.at(-1)).toEqual({ type: "error", code: 1007, tooLarge: null });
        });

        it("accepts multi-byte characters split across frames, with a control frame in the middle", () => {
          const text = "a€😀é";
          const bytes = Buffer.from(text); // 61 | e2 82 ac | f0 9f 98 80 | c3 a9
          const buf = inbound(
            role,
            { opcode: Opcode.TEXT, payload: bytes.subarray(0, 2), fin: false },
            { opcode: Opcode.CONTINUATION, payload: bytes.subarray(2, 3), fin: false },
            { opcode: Opcode.PING, payload: "p" },
            { opcode: Opcode.CONTINUATION, payload: bytes.subarray(3, 6), fin: false },
            { opcode: Opcode.CONTINUATION, payload: bytes.subarray(6, 10), fin: false },
            { opcode: Opcode.CONTINUATION, payload: bytes.subarray(10) },
          );
          const r = runAtEverySplit(role, buf, { delivery });
          expect(r.events.filter((e) => e.type === "error")).toEqual([]);
          if (delivery === "message") {
            expect(r.events).toEqual([{ type: "ping", data: hex("p") }, { type: "message", binary: false, data: hex(text) }]);
          } else {
            const pieces = r.log.filter((l) => l.event.type === "fragment").map((l) => l.data!);
            expect(Buffer.concat(pieces).toString()).toBe(text);
          }
        });

        it("does not check binary messages as UTF-8", () => {
          const r = runAtEverySplit(role, inbound(role, { opcode: Opcode.BINARY, payload: Buffer.from([0xff, 0xe2]) }), { delivery });
          expect(r.events.filter((e) => e.type === "error")).toEqual([]);
        });

        it("starts each text message afresh: a binary message between does not disturb validation", () => {
          const buf = inbound(
            role,
            { opcode: Opcode.TEXT, payload: "é" },
            { opcode: Opcode.BINARY, payload: Buffer.from([0xc3]) },
            { opcode: Opcode.TEXT, payload: Buffer.from([0xa9]) },
          );
          const r = runAtEverySplit(role, buf, { delivery });
          expect(r.events.at(-1)).toEqual({ type: "error", code: 1007, tooLarge: null });
        });

        it("fails a close whose reason is not UTF-8 with 1007", () => {
          const r = runAtEverySplit(role, inbound(role, { opcode: Opcode.CLOSE, payload: closePayload(1000, Buffer.from([0xce, 0xba, 0xff])) }), { delivery });
          expect(r.events).toEqual([{ type: "error", code: 1007, tooLarge: null }]);
        });
      });
    }
  }
});
