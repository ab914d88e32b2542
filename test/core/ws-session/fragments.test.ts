import { Buffer } from "node:buffer";
import { describe, expect, it } from "vitest";
import { Opcode } from "../../../src/core/frame.js";
import { hex, inbound, inboundHeaderSize, newSession, pattern, roles, runAtEverySplit } from "./harness.js";

const fragment = (data: string | Buffer, first: boolean, final: boolean, binary = false, remaining = 0) => ({
  type: "fragment" as const,
  data: hex(data),
  first,
  final,
  binary,
  remaining,
});

describe("WsSession: fragment delivery", () => {
  for (const role of roles) {
    describe(`as ${role}`, () => {
      const options = { delivery: "fragment" as const };

      it("delivers a one-frame message as one piece, first and final", () => {
        const r = runAtEverySplit(role, inbound(role, { opcode: Opcode.TEXT, payload: "Hello" }), options);
        expect(r.events).toEqual([fragment("Hello", true, true)]);
      });

      it("delivers each fragment with first/final/binary, control frames in between", () => {
        const buf = inbound(
          role,
          { opcode: Opcode.BINARY, payload: "ab", fin: false },
          { opcode: Opcode.PING, payload: "p" },
          { opcode: Opcode.CONTINUATION, payload: "cde", fin: false },
          { opcode: Opcode.PONG },
          { opcode: Opcode.CONTINUATION, payload: "f" },
          { opcode: Opcode.TEXT, payload: "t1", fin: false },
          { opcode: Opcode.CONTINUATION, payload: "t2" },
        );
        const r = runAtEverySplit(role, buf, options);
        expect(r.events).toEqual([
          fragment("ab", true, false, true),
          { type: "ping", data: hex("p") },
          fragment("cde", false, false, true),
          { type: "pong", data: "" },
          fragment("f", false, true, true),
          fragment("t1", true, false),
          fragment("t2", false, true),
        ]);
      });

      it("tells an empty final continuation as an empty final piece", () => {
        const buf = inbound(
          role,
          { opcode: Opcode.TEXT, payload: "ab", fin: false },
          { opcode: Opcode.CONTINUATION, payload: "c", fin: false },
          { opcode: Opcode.CONTINUATION },
        );
        const r = runAtEverySplit(role, buf, options);
        expect(r.events).toEqual([fragment("ab", true, false), fragment("c", false, false), fragment("", false, true)]);
      });

      it("tells empty messages as one empty piece that is first and final", () => {
        const buf = inbound(role, { opcode: Opcode.TEXT }, { opcode: Opcode.BINARY }, { opcode: Opcode.BINARY, fin: false }, { opcode: Opcode.CONTINUATION });
        const r = runAtEverySplit(role, buf, options);
        expect(r.events).toEqual([fragment("", true, true), fragment("", true, true, true), fragment("", true, true, true)]);
      });

      it("reports the payload of the current frame still to come in `remaining`", () => {
        const payload = pattern(1000, 9);
        const buf = inbound(role, { opcode: Opcode.BINARY, payload, fin: false }, { opcode: Opcode.CONTINUATION, payload: "z" });
        const h = inboundHeaderSize(role, 1000);
        const { session, rec } = newSession(role, options);
        // Header and 300 payload bytes, then 600, then the last 100 and the next frame.
        for (const [from, to] of [[0, h + 300], [h + 300, h + 900], [h + 900, buf.length]] as const) {
          session.receive(Buffer.from(buf.subarray(from, to)));
        }
        expect(rec.events()).toEqual([
          fragment(payload.subarray(0, 300), true, false, true, 700),
          fragment(payload.subarray(300, 900), false, false, true, 100),
          fragment(payload.subarray(900), false, false, true, 0),
          fragment("z", false, true, true, 0),
        ]);
      });

      it("keeps pieces consistent at every split for a large fragmented message", () => {
        const parts = [pattern(70_000, 1), pattern(200, 2)];
        const buf = inbound(role, { opcode: Opcode.BINARY, payload: parts[0], fin: false }, { opcode: Opcode.CONTINUATION, payload: parts[1] });
        const r = runAtEverySplit(role, buf, options);
        expect(r.events).toEqual([fragment(parts[0]!, true, false, true), fragment(parts[1]!, false, true, true)]);
      });

      it("delivers pieces as views of the input, not copies", () => {
        const buf = inbound(role, { opcode: Opcode.BINARY, payload: "abc", fin: false }, { opcode: Opcode.CONTINUATION, payload: "de" });
        const { session, rec } = newSession(role, options);
        rec.chunk = buf;
        session.receive(buf);
        expect(rec.log.map((l) => l.viewOfChunk)).toEqual([true, true]);
      });

      it("delivers text pieces that split a UTF-8 sequence as raw bytes", () => {
        const euro = Buffer.from("€"); // e2 82 ac
        const buf = inbound(
          role,
          { opcode: Opcode.TEXT, payload: euro.subarray(0, 1), fin: false },
          { opcode: Opcode.CONTINUATION, payload: euro.subarray(1) },
        );
        const r = runAtEverySplit(role, buf, options);
        expect(r.events).toEqual([fragment(euro.subarray(0, 1), true, false), fragment(euro.subarray(1), false, true)]);
      });
    });
  }
});
