import { Buffer } from "node:buffer";
import { describe, expect, it } from "vitest";
import { WsloopUsageError } from "../../../src/core/errors.js";
import { Opcode } from "../../../src/core/frame.js";
import { PooledMaskSource } from "../../../src/core/mask-source.js";
import type { WsSession } from "../../../src/core/ws-session.js";
import { expectedFrame, fixedMaskSource, hex, newSession, parseFrames, pattern, roles } from "./harness.js";
import type { Role } from "./harness.js";

const peerOf = (role: Role): Role => (role === "server" ? "client" : "server");

/** Encodes with `send`, then feeds the output (as one buffer) to a peer session and returns what it reports. */
function deliver(role: Role, send: (s: WsSession, out: Uint8Array[]) => void, sessionOptions = {}) {
  const { session } = newSession(role, sessionOptions);
  const out: Uint8Array[] = [];
  send(session, out);
  const bytes = Buffer.concat(out);
  const peer = newSession(peerOf(role));
  expect(peer.session.receive(Buffer.from(bytes))).toBe(bytes.length);
  return { events: peer.rec.events(), frames: parseFrames(role, bytes), session };
}

function usageCode(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(WsloopUsageError);
    return (e as WsloopUsageError).code;
  }
  throw new Error("expected a WsloopUsageError, nothing was thrown");
}

describe("WsSession: outgoing data", () => {
  for (const role of roles) {
    describe(`as ${role}`, () => {
      it("TEXT fin=false, CONTINUATION …, CONTINUATION fin=true parses back into one message", () => {
        const { events, frames } = deliver(role, (s, out) => {
          s.encodeData(out, Opcode.TEXT, Buffer.from("Hel"), false);
          s.encodeData(out, Opcode.CONTINUATION, Buffer.from("lo, "), false);
          s.encodePing(out, Buffer.from("between"));
          s.encodeData(out, Opcode.CONTINUATION, Buffer.from("wörld"), false);
          s.encodeData(out, Opcode.CONTINUATION, Buffer.alloc(0), true);
          s.encodeData(out, Opcode.BINARY, Buffer.from([1, 2, 3]));
        });
        expect(frames.map((f) => [f.opcode, f.fin])).toEqual([
          [Opcode.TEXT, false], [Opcode.CONTINUATION, false], [Opcode.PING, true], [Opcode.CONTINUATION, false], [Opcode.CONTINUATION, true], [Opcode.BINARY, true],
        ]);
        expect(events).toEqual([
          { type: "ping", data: hex("between") },
          { type: "message", binary: false, data: hex("Hello, wörld") },
          { type: "message", binary: true, data: "010203" },
        ]);
      });

      it("returns the number of bytes it appended", () => {
        const { session } = newSession(role);
        for (const length of [0, 125, 126, 65535, 65536]) {
          const out: Uint8Array[] = [];
          const bytes = session.encodeData(out, Opcode.BINARY, pattern(length));
          expect(bytes).toBe(Buffer.concat(out).length);
        }
      });

      it("misuse throws WsloopUsageError at once and changes nothing", () => {
        const { session } = newSession(role);
        const x = Buffer.from("x");
        expect(usageCode(() => session.encodeData([], Opcode.CONTINUATION, x))).toBe("INVALID_STATE");
        expect(usageCode(() => session.encodeData([], Opcode.CONTINUATION, x, false))).toBe("INVALID_STATE");
        for (const opcode of [Opcode.PING, Opcode.PONG, Opcode.CLOSE, 3, 7, 11, 15]) {
          expect(usageCode(() => session.encodeData([], opcode, x)), `opcode ${opcode}`).toBe("INVALID_ARGUMENT");
        }
        const out: Uint8Array[] = [];
        session.encodeData(out, Opcode.BINARY, Buffer.from("a"), false);
        const failedOut: Uint8Array[] = [];
        expect(usageCode(() => session.encodeData(failedOut, Opcode.TEXT, x))).toBe("INVALID_STATE");
        expect(usageCode(() => session.encodeData(failedOut, Opcode.BINARY, x, false))).toBe("INVALID_STATE");
        expect(usageCode(() => session.encodeData(failedOut, Opcode.PING, x))).toBe("INVALID_ARGUMENT");
        expect(failedOut).toEqual([]);
        // The open message is still open and can be finished.
        session.encodeData(out, Opcode.CONTINUATION, Buffer.from("b"), true);
        expect(usageCode(() => session.encodeData([], Opcode.CONTINUATION, x))).toBe("INVALID_STATE");
        const peer = newSession(peerOf(role));
        peer.session.receive(Buffer.concat(out));
        expect(peer.rec.events()).toEqual([{ type: "message", binary: true, data: hex("ab") }]);
      });

      it("maxOutgoingFrame splits a whole message into frames of at most that many bytes", () => {
        const payload = pattern(10, 2);
        const { events, frames } = deliver(role, (s, out) => void s.encodeData(out, Opcode.TEXT, Buffer.from("abcdefghij")), { maxOutgoingFrame: 3 });
        expect(frames.map((f) => [f.opcode, f.fin, f.payload.toString()])).toEqual([
          [Opcode.TEXT, false, "abc"], [Opcode.CONTINUATION, false, "def"], [Opcode.CONTINUATION, false, "ghi"], [Opcode.CONTINUATION, true, "j"],
        ]);
        expect(events).toEqual([{ type: "message", binary: false, data: hex("abcdefghij") }]);
        const binary = deliver(role, (s, out) => void s.encodeData(out, Opcode.BINARY, payload), { maxOutgoingFrame: 5 });
        expect(binary.frames.map((f) => f.payload.length)).toEqual([5, 5]);
        expect(binary.events).toEqual([{ type: "message", binary: true, data: hex(payload) }]);
      });

      it("maxOutgoingFrame also bounds the frames of a message sent in fragments", () => {
        const { events, frames } = deliver(
          role,
          (s, out) => {
            s.encodeData(out, Opcode.BINARY, Buffer.from("abcdefg"), false);
            s.encodeData(out, Opcode.CONTINUATION, Buffer.from("hijklmn"), true);
          },
          { maxOutgoingFrame: 3 },
        );
        expect(frames.every((f) => f.payload.length <= 3)).toBe(true);
        expect(frames.map((f) => [f.opcode, f.fin])).toEqual([
          [Opcode.BINARY, false], [Opcode.CONTINUATION, false], [Opcode.CONTINUATION, false],
          [Opcode.CONTINUATION, false], [Opcode.CONTINUATION, false], [Opcode.CONTINUATION, true],
        ]);
        expect(events).toEqual([{ type: "message", binary: true, data: hex("abcdefghijklmn") }]);
      });

      it("an empty message and an empty fragment still make one frame each", () => {
        const { events, frames } = deliver(
          role,
          (s, out) => {
            s.encodeData(out, Opcode.TEXT, Buffer.alloc(0));
            s.encodeData(out, Opcode.BINARY, Buffer.alloc(0), false);
            s.encodeData(out, Opcode.CONTINUATION, Buffer.alloc(0), true);
          },
          { maxOutgoingFrame: 3 },
        );
        expect(frames.map((f) => [f.opcode, f.fin, f.payload.length])).toEqual([[Opcode.TEXT, true, 0], [Opcode.BINARY, false, 0], [Opcode.CONTINUATION, true, 0]]);
        expect(events).toEqual([{ type: "message", binary: false, data: "" }, { type: "message", binary: true, data: "" }]);
      });
    });
  }

  it("a server's frames are not masked and an unmasked payload is sent as the caller's view", () => {
    const { session } = newSession("server");
    const big = pattern(1000, 1);
    const out: Uint8Array[] = [];
    session.encodeData(out, Opcode.BINARY, big);
    expect(out[1]).toBe(big); // header chunk, then the payload itself: no copy, no concatenation
    expect(Buffer.concat(out).toString("hex")).toBe(expectedFrame(Opcode.BINARY, big, null).toString("hex"));
  });

  it("a client's frames are masked with a key from its MaskSource, and the caller's payload is not changed", () => {
    const key = [0x01, 0x02, 0x03, 0x04];
    const mask = fixedMaskSource(key);
    const { session } = newSession("client", { maskSource: mask });
    for (const payload of [Buffer.from("Hello"), pattern(300, 5), pattern(70_000, 6)]) {
      const before = Buffer.from(payload);
      const out: Uint8Array[] = [];
      session.encodeData(out, Opcode.BINARY, payload);
      expect(payload.equals(before)).toBe(true);
      expect(Buffer.concat(out).equals(expectedFrame(Opcode.BINARY, before, key))).toBe(true);
    }
    expect(mask.calls).toBe(3);
  });

  it("a client masks every frame of a split message with a fresh key", () => {
    const mask = fixedMaskSource([9, 9, 9, 9]);
    const { session } = newSession("client", { maskSource: mask, maxOutgoingFrame: 2 });
    const out: Uint8Array[] = [];
    session.encodeData(out, Opcode.TEXT, Buffer.from("abcdef"));
    expect(mask.calls).toBe(3);
    expect(parseFrames("client", Buffer.concat(out)).every((f) => f.masked)).toBe(true);
  });

  it("a client with real random keys round-trips to a server", () => {
    const { session } = newSession("client", { maskSource: new PooledMaskSource(16) });
    const payload = pattern(5000, 8);
    const out: Uint8Array[] = [];
    for (let i = 0; i < 10; i++) session.encodeData(out, Opcode.BINARY, payload);
    const peer = newSession("server");
    peer.session.receive(Buffer.concat(out));
    expect(peer.rec.events()).toEqual(Array.from({ length: 10 }, () => ({ type: "message", binary: true, data: hex(payload) })));
  });

  it("a client session without a maskSource is refused", () => {
    expect(() => newSession("client", { maskSource: undefined })).toThrow(WsloopUsageError);
  });
});
