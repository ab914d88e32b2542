import { Buffer } from "node:buffer";
import { describe, expect, it } from "vitest";
import { Opcode } from "../../../src/core/frame.js";
import { splitPoints } from "../../helpers/splits.js";
import { closePayload, feed, hex, inbound, mergePieces, newSession, roles, run } from "./harness.js";
import type { Event, RawFrame } from "./harness.js";

describe("WsSession: rx flow control", () => {
  for (const role of roles) {
    describe(`as ${role}`, () => {
      const frames: RawFrame[] = [
        { opcode: Opcode.TEXT, payload: "one" },
        { opcode: Opcode.BINARY, payload: "tw", fin: false },
        { opcode: Opcode.PING, payload: "p" },
        { opcode: Opcode.CONTINUATION, payload: "o" },
        { opcode: Opcode.TEXT, payload: "three" },
      ];
      const sizes = frames.map((f) => inbound(role, f).length);
      const input = inbound(role, ...frames);

      it("pauseRx() inside onMessage stops right after that message; receive() returns what it consumed", () => {
        const { session, rec } = newSession(role);
        rec.pauseWhen = (e) => e.type === "message";
        const chunk = Buffer.from(input);

        const first = session.receive(chunk);
        expect(first).toBe(sizes[0]);
        expect(session.rxPaused).toBe(true);
        expect(rec.events()).toEqual([{ type: "message", binary: false, data: hex("one") }]);

        // While paused, nothing is consumed.
        let rest = chunk.subarray(first);
        expect(session.receive(rest)).toBe(0);
        expect(rec.events()).toHaveLength(1);

        session.resumeRx();
        expect(session.rxPaused).toBe(false);
        const second = session.receive(rest);
        expect(second).toBe(sizes[1]! + sizes[2]! + sizes[3]!);
        expect(rec.events().slice(1)).toEqual([
          { type: "ping", data: hex("p") },
          { type: "message", binary: true, data: hex("two") },
        ]);

        rest = rest.subarray(second);
        session.resumeRx();
        expect(session.receive(rest)).toBe(rest.length);
        session.resumeRx();
        // The rest is empty now: feeding it is harmless and delivers nothing new.
        expect(session.receive(rest.subarray(rest.length))).toBe(0);
        expect(rec.events()).toEqual(run(role, [Buffer.from(input)]).events);
      });

      it("pausing in each event and resuming gives the same events at every split point", () => {
        const reference = run(role, [Buffer.from(input)]).events;
        for (const { label, chunks } of splitPoints(input)) {
          expect(run(role, chunks, { pauseEverywhere: true }).events, label).toEqual(reference);
        }
      });

      it("a pause on the last byte of a chunk: the held-back frame end is delivered by feeding the empty rest", () => {
        const { session, rec } = newSession(role, { delivery: "fragment" });
        rec.pauseWhen = (e) => e.type === "fragment";
        const buf = inbound(role, { opcode: Opcode.TEXT, payload: "ab" }, { opcode: Opcode.TEXT, payload: "cd" });
        const firstFrame = inbound(role, { opcode: Opcode.TEXT, payload: "ab" }).length;
        // Feed exactly the first frame: the pause comes at the last byte, with its end pending.
        const consumed = session.receive(Buffer.from(buf.subarray(0, firstFrame)));
        expect(consumed).toBe(firstFrame);
        expect(session.rxPaused).toBe(true);
        session.resumeRx();
        expect(session.receive(Buffer.alloc(0))).toBe(0);
        expect(session.rxPaused).toBe(false);
        expect(session.receive(Buffer.from(buf.subarray(firstFrame)))).toBe(buf.length - firstFrame);
        expect(mergePieces(rec.log)).toEqual([
          { type: "fragment", data: hex("ab"), first: true, final: true, binary: false, remaining: 0 },
          { type: "fragment", data: hex("cd"), first: true, final: true, binary: false, remaining: 0 },
        ]);
      });

      it("fragment delivery paused in every piece and resumed gives the same pieces at every split", () => {
        const reference = mergePieces(run(role, [Buffer.from(input)], { delivery: "fragment" }).log);
        for (const { label, chunks } of splitPoints(input)) {
          expect(mergePieces(run(role, chunks, { delivery: "fragment", pauseEverywhere: true }).log), label).toEqual(reference);
        }
      });

      it("a pause called between receive() calls holds all input until resumeRx()", () => {
        const { session, rec } = newSession(role);
        session.pauseRx();
        const chunk = Buffer.from(input);
        expect(session.receive(chunk)).toBe(0);
        expect(rec.events()).toEqual([]);
        session.resumeRx();
        expect(session.receive(chunk)).toBe(chunk.length);
        expect(rec.events()).toEqual(run(role, [Buffer.from(input)]).events);
      });

      it("a close while paused: input ends; resumeRx() does not restart reading", () => {
        const { session, rec } = newSession(role);
        rec.pauseWhen = (e) => e.type === "message";
        const buf = inbound(role, { opcode: Opcode.TEXT, payload: "x" }, { opcode: Opcode.CLOSE, payload: closePayload(1000) }, { opcode: Opcode.TEXT, payload: "y" });
        const offsets: Event[] = [];
        feed(session, rec, buf, 0);
        offsets.push(...rec.events());
        expect(offsets).toEqual([
          { type: "message", binary: false, data: hex("x") },
          { type: "close", code: 1000, reason: "", byPeer: true },
        ]);
        expect(session.inputDone).toBe(true);
        session.resumeRx();
        const more = inbound(role, { opcode: Opcode.TEXT, payload: "z" });
        expect(session.receive(more)).toBe(more.length);
        expect(rec.events()).toHaveLength(2);
      });
    });
  }
});
