import { Buffer } from "node:buffer";
import { describe, expect, it } from "vitest";
import { Opcode } from "../../../src/core/frame.js";
import { closePayload, expectOwedClose, expectedFrame, fixedMaskSource, hex, inbound, newSession, parseFrames, pattern, roles, run, runAtEverySplit, takeOwed } from "./harness.js";
import { chunkBySizes } from "../../helpers/splits.js";
import type { RawFrame } from "./harness.js";

const KEY = [0xa1, 0xb2, 0xc3, 0xd4];

describe("WsSession: ping and pong", () => {
  it("server: a ping owes an unmasked pong carrying the ping's payload", () => {
    const payload = pattern(125, 3);
    const r = runAtEverySplit("server", inbound("server", { opcode: Opcode.PING, payload }));
    expect(r.events).toEqual([{ type: "ping", data: hex(payload) }]);
    expect(r.owed).toBe(expectedFrame(Opcode.PONG, payload, null).toString("hex"));
    expect(r.state).toBe("open");
  });

  it("client: a ping owes a masked pong carrying the ping's payload", () => {
    const r = runAtEverySplit("client", inbound("client", { opcode: Opcode.PING, payload: "hello" }), { maskSource: fixedMaskSource(KEY) });
    expect(r.owed).toBe(expectedFrame(Opcode.PONG, "hello", KEY).toString("hex"));
    expect(r.owed.slice(0, 4)).toBe("8a85");
  });

  for (const role of roles) {
    describe(`as ${role}`, () => {
      it("an empty ping owes an empty pong", () => {
        const r = runAtEverySplit(role, inbound(role, { opcode: Opcode.PING }));
        expect(r.events).toEqual([{ type: "ping", data: "" }]);
        const frames = parseFrames(role, Buffer.from(r.owed, "hex"));
        expect(frames.map((f) => [f.opcode, f.payload.length])).toEqual([[Opcode.PONG, 0]]);
      });

      it("a pong from the peer is reported and owes nothing", () => {
        const r = runAtEverySplit(role, inbound(role, { opcode: Opcode.PONG, payload: "unsolicited" }));
        expect(r.events).toEqual([{ type: "pong", data: hex("unsolicited") }]);
        expect(r.owed).toBe("");
      });

      it("several pings before takeOwedFrames: every one is reported, only the newest is answered", () => {
        const r = runAtEverySplit(role, inbound(role, { opcode: Opcode.PING, payload: "one" }, { opcode: Opcode.PING, payload: "two" }, { opcode: Opcode.PING, payload: "three" }));
        expect(r.events.map((e) => e.type)).toEqual(["ping", "ping", "ping"]);
        const frames = parseFrames(role, Buffer.from(r.owed, "hex"));
        expect(frames.map((f) => [f.opcode, f.payload.toString()])).toEqual([[Opcode.PONG, "three"]]);
      });

      it("a flood of 10,000 pings never holds more than one pong's bytes", () => {
        const frames: RawFrame[] = Array.from({ length: 10_000 }, (_, i) => ({ opcode: Opcode.PING, payload: pattern(125, i + 1) }));
        const buf = inbound(role, ...frames);
        const newest = [hex(pattern(125, 10_000))];
        // In one piece, in odd-sized chunks, and one ping per receive() without writing.
        for (const chunks of [[Buffer.from(buf)], chunkBySizes(buf, [1, 7, 130, 4093]), frames.map((f) => inbound(role, f))]) {
          const r = run(role, chunks);
          expect(r.events).toHaveLength(10_000);
          const owed = Buffer.from(r.owed, "hex");
          expect(owed.length).toBeLessThanOrEqual(2 + 4 + 125);
          expect(parseFrames(role, owed).map((f) => hex(f.payload))).toEqual(newest);
        }
        // A smaller flood at every split point.
        const r = runAtEverySplit(role, inbound(role, ...frames.slice(0, 300)));
        expect(parseFrames(role, Buffer.from(r.owed, "hex")).map((f) => hex(f.payload))).toEqual([hex(pattern(125, 300))]);
      });

      it("pings are answered in between: one pong per takeOwedFrames", () => {
        const { session } = newSession(role);
        for (const word of ["a", "b", "c"]) {
          session.receive(inbound(role, { opcode: Opcode.PING, payload: word }));
          expect(parseFrames(role, takeOwed(session)).map((f) => f.payload.toString())).toEqual([word]);
        }
        expect(takeOwed(session)).toHaveLength(0);
      });

      it("a ping's payload is held as a copy, not a view of the input chunk", () => {
        const { session } = newSession(role);
        const chunk = inbound(role, { opcode: Opcode.PING, payload: "keep" });
        session.receive(chunk);
        chunk.fill(0);
        expect(parseFrames(role, takeOwed(session)).map((f) => f.payload.toString())).toEqual(["keep"]);
      });

      it("no pong is owed for a ping that arrives after our close", () => {
        const r = runAtEverySplit(role, inbound(role, { opcode: Opcode.PING, payload: "late" }), {
          before: (s) => s.close(1000),
        });
        expect(r.events).toEqual([{ type: "ping", data: hex("late") }]);
        expectOwedClose(role, r.owed, 1000);

        const sent = runAtEverySplit(role, inbound(role, { opcode: Opcode.PING, payload: "later" }), {
          before: (s) => {
            s.close(1000);
            s.takeOwedFrames([]);
          },
        });
        expect(sent.events).toEqual([{ type: "ping", data: hex("later") }]);
        expect(sent.owed).toBe("");
      });

      it("no pong is owed after the peer's close: only the echo", () => {
        const r = runAtEverySplit(role, inbound(role, { opcode: Opcode.PING, payload: "p" }, { opcode: Opcode.CLOSE, payload: closePayload(1000) }));
        expect(r.events.map((e) => e.type)).toEqual(["ping", "close"]);
        expectOwedClose(role, r.owed, 1000);
      });

      it("no pong is owed after the peer broke the protocol", () => {
        const r = runAtEverySplit(role, inbound(role, { opcode: Opcode.PING, payload: "p" }, { opcode: 5 }));
        expect(r.events.map((e) => e.type)).toEqual(["ping", "error"]);
        expectOwedClose(role, r.owed, 1002);
      });

      it("encodePing writes a ping now, refuses payloads over 125 bytes", () => {
        const { session } = newSession(role);
        const out: Uint8Array[] = [];
        const bytes = session.encodePing(out, Buffer.from("hi"));
        expect(bytes).toBe(2 + (role === "client" ? 4 : 0) + 2);
        expect(parseFrames(role, Buffer.concat(out)).map((f) => [f.opcode, f.payload.toString()])).toEqual([[Opcode.PING, "hi"]]);
        expect(() => session.encodePing([], pattern(126))).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
      });
    });
  }
});
