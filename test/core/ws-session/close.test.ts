import { Buffer } from "node:buffer";
import { describe, expect, it } from "vitest";
import { WsloopUsageError } from "../../../src/core/errors.js";
import { Opcode } from "../../../src/core/frame.js";
import {
  closePayload,
  expectOwedClose,
  expectedFrame,
  fixedMaskSource,
  hex,
  inbound,
  newSession,
  parseFrames,
  roles,
  runAtEverySplit,
  takeOwed,
} from "./harness.js";

const KEY = [0x11, 0x22, 0x33, 0x44];

function usageCode(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(WsloopUsageError);
    return (e as WsloopUsageError).code;
  }
  throw new Error("expected a WsloopUsageError, nothing was thrown");
}

describe("WsSession: the close handshake", () => {
  describe("the peer closes", () => {
    it("server: reports code and reason, owes an unmasked echo with the same code", () => {
      const r = runAtEverySplit("server", inbound("server", { opcode: Opcode.CLOSE, payload: closePayload(1001, "going away") }));
      expect(r.events).toEqual([{ type: "close", code: 1001, reason: "going away", byPeer: true }]);
      expect(r.owed).toBe("880203e9");
      expect(r.state).toBe("closed");
      expect(r.inputDone).toBe(true);
    });

    it("client: reports code and reason, owes a masked echo with the same code", () => {
      const payload = closePayload(4000, "bye ✓");
      const r = runAtEverySplit("client", inbound("client", { opcode: Opcode.CLOSE, payload }), { maskSource: fixedMaskSource(KEY) });
      expect(r.events).toEqual([{ type: "close", code: 4000, reason: "bye ✓", byPeer: true }]);
      // 4000 = 0x0fa0, masked with 11 22: 1e 82.
      expect(r.owed).toBe("8882" + "11223344" + "1e82");
      expect(r.owed).toBe(expectedFrame(Opcode.CLOSE, closePayload(4000), KEY).toString("hex"));
    });

    it("is 'closing' until the echo is taken, then 'closed'", () => {
      for (const role of roles) {
        const { session, rec } = newSession(role);
        session.receive(inbound(role, { opcode: Opcode.CLOSE, payload: closePayload(1000) }));
        expect(rec.events()).toEqual([{ type: "close", code: 1000, reason: "", byPeer: true }]);
        expect(session.state).toBe("closing");
        expect(session.closing).toBe(true);
        expect(session.receivedClose).toBe(true);
        expect(session.hasOwedFrames).toBe(true);
        expectOwedClose(role, takeOwed(session).toString("hex"), 1000);
        expect(session.state).toBe("closed");
        expect(session.hasOwedFrames).toBe(false);
        expect(takeOwed(session)).toHaveLength(0);
      }
    });

    it("an empty close is reported as 1005 and answered with an empty close", () => {
      expect(runAtEverySplit("server", inbound("server", { opcode: Opcode.CLOSE })).owed).toBe("8800");
      const r = runAtEverySplit("client", inbound("client", { opcode: Opcode.CLOSE }), { maskSource: fixedMaskSource(KEY) });
      expect(r.events).toEqual([{ type: "close", code: 1005, reason: "", byPeer: true }]);
      expect(r.owed).toBe("8880" + "11223344");
    });

    for (const role of roles) {
      it(`${role}: a 1-byte close payload fails with 1002`, () => {
        const r = runAtEverySplit(role, inbound(role, { opcode: Opcode.CLOSE, payload: Buffer.from([0x03]) }));
        expect(r.events).toEqual([{ type: "error", code: 1002, tooLarge: null }]);
        expectOwedClose(role, r.owed, 1002);
        expect(r.state).toBe("closed");
      });

      for (const code of [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]) {
        it(`${role}: close code ${code} on the wire fails with 1002`, () => {
          const r = runAtEverySplit(role, inbound(role, { opcode: Opcode.CLOSE, payload: closePayload(code, "x") }));
          expect(r.events).toEqual([{ type: "error", code: 1002, tooLarge: null }]);
          expectOwedClose(role, r.owed, 1002);
        });
      }

      it(`${role}: close codes 1000-1003, 1007-1014, 3000 and 4999 are accepted and echoed`, () => {
        for (const code of [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999]) {
          const r = runAtEverySplit(role, inbound(role, { opcode: Opcode.CLOSE, payload: closePayload(code, "why") }));
          expect(r.events).toEqual([{ type: "close", code, reason: "why", byPeer: true }]);
          expectOwedClose(role, r.owed, code);
        }
      });

      it(`${role}: a 123-byte reason (the most a control frame holds) is accepted`, () => {
        const reason = "é".repeat(61) + "x"; // 123 bytes
        const r = runAtEverySplit(role, inbound(role, { opcode: Opcode.CLOSE, payload: closePayload(1000, reason) }));
        expect(r.events).toEqual([{ type: "close", code: 1000, reason, byPeer: true }]);
      });

      it(`${role}: a close reason that is not UTF-8 fails with 1007`, () => {
        const r = runAtEverySplit(role, inbound(role, { opcode: Opcode.CLOSE, payload: closePayload(1000, Buffer.from([0xc3])) }));
        expect(r.events).toEqual([{ type: "error", code: 1007, tooLarge: null }]);
        expectOwedClose(role, r.owed, 1007);
      });

      it(`${role}: input after the close frame is discarded, and receive() reports it consumed`, () => {
        const close = inbound(role, { opcode: Opcode.CLOSE, payload: closePayload(1000) });
        const after = inbound(role, { opcode: Opcode.TEXT, payload: "late" }, { opcode: Opcode.PING, payload: "p" });
        const r = runAtEverySplit(role, Buffer.concat([inbound(role, { opcode: Opcode.TEXT, payload: "first" }), close, after, Buffer.from([0xff, 0xff])]));
        expect(r.events).toEqual([
          { type: "message", binary: false, data: hex("first") },
          { type: "close", code: 1000, reason: "", byPeer: true },
        ]);
        expectOwedClose(role, r.owed, 1000);

        const { session, rec } = newSession(role);
        const chunk = Buffer.concat([close, after]);
        expect(session.receive(chunk)).toBe(chunk.length);
        expect(session.receive(Buffer.from(after))).toBe(after.length);
        expect(session.receive(Buffer.alloc(0))).toBe(0);
        expect(rec.events()).toEqual([{ type: "close", code: 1000, reason: "", byPeer: true }]);
      });

      it(`${role}: a close in the middle of a fragmented message drops the partial message`, () => {
        const r = runAtEverySplit(
          role,
          inbound(role, { opcode: Opcode.TEXT, payload: "part", fin: false }, { opcode: Opcode.CLOSE, payload: closePayload(1000) }, { opcode: Opcode.CONTINUATION, payload: "rest" }),
        );
        expect(r.events).toEqual([{ type: "close", code: 1000, reason: "", byPeer: true }]);
      });
    }
  });

  describe("we close", () => {
    for (const role of roles) {
      it(`${role}: close(code, reason) owes our close; the peer's answer gives onClose(..., false) and "closed"`, () => {
        const { session, rec } = newSession(role, { maskSource: fixedMaskSource(KEY) });
        session.close(1000, "done");
        expect(session.state).toBe("closing");
        expect(session.closing).toBe(true);
        expect(session.hasOwedFrames).toBe(true);
        expect(takeOwed(session).toString("hex")).toBe(expectedFrame(Opcode.CLOSE, closePayload(1000, "done"), role === "client" ? KEY : null).toString("hex"));
        expect(session.state).toBe("closing");
        // Data still flows in until the peer's close.
        session.receive(inbound(role, { opcode: Opcode.TEXT, payload: "in flight" }));
        session.receive(inbound(role, { opcode: Opcode.CLOSE, payload: closePayload(1000, "ok") }));
        expect(rec.events()).toEqual([
          { type: "message", binary: false, data: hex("in flight") },
          { type: "close", code: 1000, reason: "ok", byPeer: false },
        ]);
        expect(session.state).toBe("closed");
        expect(session.inputDone).toBe(true);
        expect(takeOwed(session)).toHaveLength(0); // no second close
      });

      it(`${role}: the peer's answer at every split point, after our close`, () => {
        const r = runAtEverySplit(role, inbound(role, { opcode: Opcode.CLOSE, payload: closePayload(1001) }), {
          before: (s) => {
            s.close(3001, "bye");
            s.takeOwedFrames([]);
          },
        });
        expect(r.events).toEqual([{ type: "close", code: 1001, reason: "", byPeer: false }]);
        expect(r.owed).toBe("");
        expect(r.state).toBe("closed");
      });

      it(`${role}: the peer's close arriving before ours is taken: ours goes out (not an echo), then "closed"`, () => {
        const { session, rec } = newSession(role);
        session.close(3000, "mine");
        session.receive(inbound(role, { opcode: Opcode.CLOSE, payload: closePayload(1001) }));
        expect(rec.events()).toEqual([{ type: "close", code: 1001, reason: "", byPeer: false }]);
        expect(session.state).toBe("closing");
        const owed = takeOwed(session).toString("hex");
        expectOwedClose(role, owed, 3000);
        expect(session.state).toBe("closed");
      });

      it(`${role}: closing twice keeps the first code`, () => {
        const { session } = newSession(role);
        session.close(4001);
        session.close(4002, "second");
        expectOwedClose(role, takeOwed(session).toString("hex"), 4001);
      });

      it(`${role}: close() with no arguments sends 1000`, () => {
        const { session } = newSession(role);
        session.close();
        expectOwedClose(role, takeOwed(session).toString("hex"), 1000);
      });

      it(`${role}: close() refuses codes that may not be sent (INVALID_CLOSE_CODE) and reasons over 123 bytes (INVALID_ARGUMENT)`, () => {
        const { session } = newSession(role);
        for (const code of [1005, 1006, 1015, 999, 0, 1004, 1016, 2999, 5000]) {
          expect(usageCode(() => session.close(code)), `code ${code}`).toBe("INVALID_CLOSE_CODE");
        }
        expect(usageCode(() => session.close(1000, "x".repeat(124)))).toBe("INVALID_ARGUMENT");
        expect(usageCode(() => session.close(1000, "é".repeat(62)))).toBe("INVALID_ARGUMENT"); // 124 bytes, 62 characters
        // Nothing was queued by the refused calls.
        expect(session.state).toBe("open");
        expect(session.hasOwedFrames).toBe(false);
        session.close(1000, "x".repeat(123));
        expect(takeOwed(session).length).toBe(2 + (role === "client" ? 4 : 0) + 125);
      });

      it(`${role}: encodeData and encodePing after our close throw CONNECTION_CLOSED`, () => {
        const { session } = newSession(role);
        session.close(1000);
        expect(usageCode(() => session.encodeData([], Opcode.TEXT, Buffer.from("x")))).toBe("CONNECTION_CLOSED");
        expect(usageCode(() => session.encodePing([]))).toBe("CONNECTION_CLOSED");
        session.takeOwedFrames([]);
        expect(usageCode(() => session.encodeData([], Opcode.BINARY, Buffer.from("x")))).toBe("CONNECTION_CLOSED");
      });

      it(`${role}: encodeData after the peer's close throws CONNECTION_CLOSED`, () => {
        const { session } = newSession(role);
        session.receive(inbound(role, { opcode: Opcode.CLOSE }));
        expect(usageCode(() => session.encodeData([], Opcode.TEXT, Buffer.from("x")))).toBe("CONNECTION_CLOSED");
        session.takeOwedFrames([]);
        expect(usageCode(() => session.encodeData([], Opcode.TEXT, Buffer.from("x")))).toBe("CONNECTION_CLOSED");
      });

      it(`${role}: after the peer broke the protocol, data may still be encoded until the owed close is taken (it goes first)`, () => {
        const { session } = newSession(role);
        session.receive(inbound(role, { opcode: Opcode.TEXT, payload: "hi" }, { opcode: 3 }));
        expect(session.state).toBe("closing");
        // The reply to "hi", written before the close frame.
        const out: Uint8Array[] = [];
        session.encodeData(out, Opcode.TEXT, Buffer.from("hi"));
        expect(session.encodeData(out, Opcode.BINARY, Buffer.from("more"), false)).toBeGreaterThan(0);
        expect(usageCode(() => session.encodePing([]))).toBe("CONNECTION_CLOSED");
        session.takeOwedFrames(out);
        const frames = parseFrames(role, Buffer.concat(out));
        expect(frames.map((f) => f.opcode)).toEqual([Opcode.TEXT, Opcode.BINARY, Opcode.CLOSE]);
        expect(frames[2]!.payload.readUInt16BE(0)).toBe(1002);
        // Once the close is out, no data follows it.
        expect(usageCode(() => session.encodeData([], Opcode.CONTINUATION, Buffer.from("x")))).toBe("CONNECTION_CLOSED");
      });

      it(`${role}: a failure after our own close() does not reopen sending`, () => {
        const { session } = newSession(role);
        session.close(1000);
        session.receive(inbound(role, { opcode: 3 }));
        expect(usageCode(() => session.encodeData([], Opcode.TEXT, Buffer.from("x")))).toBe("CONNECTION_CLOSED");
      });

      it(`${role}: after failing, the owed close carries the error's code and nothing more is read`, () => {
        const { session, rec } = newSession(role);
        const bad = inbound(role, { opcode: 3 });
        expect(session.receive(bad)).toBe(bad.length);
        expect(rec.events()).toEqual([{ type: "error", code: 1002, tooLarge: null }]);
        expect(session.inputDone).toBe(true);
        expect(session.closing).toBe(true);
        expectOwedClose(role, takeOwed(session).toString("hex"), 1002);
        // RFC 6455 §7.1.7: after failing there is no close to wait for.
        expect(session.state).toBe("closed");
        const more = inbound(role, { opcode: Opcode.CLOSE });
        expect(session.receive(more)).toBe(more.length);
        expect(rec.events()).toHaveLength(1);
      });

      it(`${role}: a peer that breaks the protocol after our close was sent leaves nothing to wait for ("closed")`, () => {
        const { session, rec } = newSession(role);
        session.close(1000);
        session.takeOwedFrames([]);
        expect(session.state).toBe("closing");
        session.receive(inbound(role, { opcode: Opcode.TEXT, payload: Buffer.from([0xff]) }));
        expect(rec.events()).toEqual([{ type: "error", code: 1007, tooLarge: null }]);
        expect(session.hasOwedFrames).toBe(false); // our close already went out
        expect(session.state).toBe("closed");
      });
    }
  });
});
