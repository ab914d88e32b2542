import { Buffer } from "node:buffer";
import { describe, expect, it } from "vitest";
import { Opcode } from "../../../src/core/frame.js";
import { MAX_OWED_PONGS, MAX_OWED_PONG_BYTES } from "../../../src/core/ws-session.js";
import { closePayload, expectOwedClose, expectedFrame, fixedMaskSource, hex, inbound, newSession, newestWithinBounds, parseFrames, pattern, roles, run, runAtEverySplit, takeOwed } from "./harness.js";
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

      it("several pings before takeOwedFrames: every one is reported and answered, in order", () => {
        const r = runAtEverySplit(role, inbound(role, { opcode: Opcode.PING, payload: "one" }, { opcode: Opcode.PING, payload: "two" }, { opcode: Opcode.PING, payload: "three" }));
        expect(r.events.map((e) => e.type)).toEqual(["ping", "ping", "ping"]);
        const frames = parseFrames(role, Buffer.from(r.owed, "hex"));
        expect(frames.map((f) => [f.opcode, f.payload.toString()])).toEqual([
          [Opcode.PONG, "one"],
          [Opcode.PONG, "two"],
          [Opcode.PONG, "three"],
        ]);
      });

      it("10 pings in one receive (Autobahn 2.10): 10 pongs, in order", () => {
        const payloads = Array.from({ length: 10 }, (_, i) => `payload-${i}`);
        const r = run(role, [inbound(role, ...payloads.map((payload) => ({ opcode: Opcode.PING, payload })))]);
        expect(parseFrames(role, Buffer.from(r.owed, "hex")).map((f) => [f.opcode, f.payload.toString()])).toEqual(payloads.map((p) => [Opcode.PONG, p]));
      });

      it(`100 small pings in one receive: the newest ${MAX_OWED_PONGS} are answered, in order`, () => {
        const payloads = Array.from({ length: 100 }, (_, i) => `p${i}`);
        const r = run(role, [inbound(role, ...payloads.map((payload) => ({ opcode: Opcode.PING, payload })))]);
        expect(r.events).toHaveLength(100);
        const pongs = parseFrames(role, Buffer.from(r.owed, "hex"));
        expect(pongs.map((f) => f.payload.toString())).toEqual(payloads.slice(-MAX_OWED_PONGS));
      });

      it(`pings of 125 bytes: as many newest ones as fit ${MAX_OWED_PONG_BYTES} bytes of payload are answered`, () => {
        const payloads = Array.from({ length: 20 }, (_, i) => pattern(125, i + 1));
        const r = run(role, [inbound(role, ...payloads.map((payload) => ({ opcode: Opcode.PING, payload })))]);
        const pongs = parseFrames(role, Buffer.from(r.owed, "hex")).map((f) => hex(f.payload));
        const fit = Math.floor(MAX_OWED_PONG_BYTES / 125);
        expect(fit).toBeLessThan(MAX_OWED_PONGS); // the byte bound is the one that holds here
        expect(pongs).toEqual(payloads.slice(-fit).map(hex));
      });

      it(`a flood of 10,000 pings never holds more than ${MAX_OWED_PONGS} pongs or ${MAX_OWED_PONG_BYTES} bytes of their payload`, () => {
        const frames: RawFrame[] = Array.from({ length: 10_000 }, (_, i) => ({ opcode: Opcode.PING, payload: pattern(i % 126, i + 1) }));
        const buf = inbound(role, ...frames);
        const newest = newestWithinBounds(frames.map((f) => f.payload as Buffer)).map(hex);
        expect(newest.length).toBeGreaterThan(1);
        // The most owed output there can be: MAX_OWED_PONGS frames, 2 + 4 bytes of header each
        // (the mask key for a client), around MAX_OWED_PONG_BYTES of payload.
        const bound = MAX_OWED_PONGS * (2 + 4) + MAX_OWED_PONG_BYTES;
        // In one piece, in odd-sized chunks, and one ping per receive() without writing.
        for (const chunks of [[Buffer.from(buf)], chunkBySizes(buf, [1, 7, 130, 4093]), frames.map((f) => inbound(role, f))]) {
          const r = run(role, chunks);
          expect(r.events).toHaveLength(10_000);
          const owed = Buffer.from(r.owed, "hex");
          expect(owed.length).toBeLessThanOrEqual(bound);
          expect(parseFrames(role, owed).map((f) => hex(f.payload))).toEqual(newest);
        }
        // A smaller flood at every split point.
        const few = frames.slice(0, 300);
        const r = runAtEverySplit(role, inbound(role, ...few));
        expect(parseFrames(role, Buffer.from(r.owed, "hex")).map((f) => hex(f.payload))).toEqual(newestWithinBounds(few.map((f) => f.payload as Buffer)).map(hex));
      });

      it("the owed pongs are held only until they are taken: the next burst starts afresh", () => {
        const { session } = newSession(role);
        session.receive(inbound(role, ...Array.from({ length: 40 }, (_, i) => ({ opcode: Opcode.PING, payload: `a${i}` }))));
        expect(parseFrames(role, takeOwed(session))).toHaveLength(MAX_OWED_PONGS);
        expect(session.hasOwedFrames).toBe(false);
        session.receive(inbound(role, { opcode: Opcode.PING, payload: "b0" }, { opcode: Opcode.PING, payload: "b1" }));
        expect(parseFrames(role, takeOwed(session)).map((f) => f.payload.toString())).toEqual(["b0", "b1"]);
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
        const r = runAtEverySplit(role, inbound(role, { opcode: Opcode.PING, payload: "p" }, { opcode: Opcode.PING, payload: "q" }, { opcode: Opcode.CLOSE, payload: closePayload(1000) }));
        expect(r.events.map((e) => e.type)).toEqual(["ping", "ping", "close"]);
        expectOwedClose(role, r.owed, 1000);
      });

      it("no pong is owed after the peer broke the protocol", () => {
        const r = runAtEverySplit(role, inbound(role, { opcode: Opcode.PING, payload: "p" }, { opcode: Opcode.PING, payload: "q" }, { opcode: 5 }));
        expect(r.events.map((e) => e.type)).toEqual(["ping", "ping", "error"]);
        expectOwedClose(role, r.owed, 1002);
      });

      it("dispose drops owed pongs", () => {
        const { session } = newSession(role);
        session.receive(inbound(role, { opcode: Opcode.PING, payload: "p" }, { opcode: Opcode.PING, payload: "q" }));
        expect(session.hasOwedFrames).toBe(true);
        session.dispose();
        expect(session.hasOwedFrames).toBe(false);
        expect(takeOwed(session)).toHaveLength(0);
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
