import { Buffer } from "node:buffer";
import { describe, expect, it } from "vitest";
import { Opcode } from "../../../src/core/frame.js";
import { hex, inbound, mergePieces, newSession, pattern, roles, run, runAtEverySplit, takeOwed } from "./harness.js";

describe("WsSession: whole-message delivery", () => {
  for (const role of roles) {
    describe(`as ${role}`, () => {
      it("delivers a text message from one frame", () => {
        const r = runAtEverySplit(role, inbound(role, { opcode: Opcode.TEXT, payload: "Hello, wsloop" }));
        expect(r.events).toEqual([{ type: "message", binary: false, data: hex("Hello, wsloop") }]);
        expect(r.owed).toBe("");
        expect(r.state).toBe("open");
        expect(r.inputDone).toBe(false);
      });

      it("delivers a binary message from one frame, of each length form", () => {
        for (const length of [1, 125, 126, 65535, 65536]) {
          const payload = pattern(length, length);
          const r = runAtEverySplit(role, inbound(role, { opcode: Opcode.BINARY, payload }));
          expect(r.events).toEqual([{ type: "message", binary: true, data: hex(payload) }]);
        }
      });

      it("assembles a text message from fragments with pings and pongs interleaved", () => {
        const buf = inbound(
          role,
          { opcode: Opcode.TEXT, payload: "Hel", fin: false },
          { opcode: Opcode.PING, payload: "p1" },
          { opcode: Opcode.CONTINUATION, payload: "lo, ", fin: false },
          { opcode: Opcode.PONG, payload: "q" },
          { opcode: Opcode.PING },
          { opcode: Opcode.CONTINUATION, payload: "world" },
          { opcode: Opcode.TEXT, payload: "next" },
        );
        const r = runAtEverySplit(role, buf);
        expect(r.events).toEqual([
          { type: "ping", data: hex("p1") },
          { type: "pong", data: hex("q") },
          { type: "ping", data: "" },
          { type: "message", binary: false, data: hex("Hello, world") },
          { type: "message", binary: false, data: hex("next") },
        ]);
      });

      it("assembles a binary message from fragments of every length form", () => {
        const parts = [pattern(10, 1), pattern(300, 2), pattern(70_000, 3), pattern(0, 4), pattern(5, 5)];
        const buf = inbound(
          role,
          { opcode: Opcode.BINARY, payload: parts[0], fin: false },
          { opcode: Opcode.CONTINUATION, payload: parts[1], fin: false },
          { opcode: Opcode.PING, payload: "x" },
          { opcode: Opcode.CONTINUATION, payload: parts[2], fin: false },
          { opcode: Opcode.CONTINUATION, payload: parts[3], fin: false },
          { opcode: Opcode.CONTINUATION, payload: parts[4] },
        );
        const r = runAtEverySplit(role, buf);
        expect(r.events).toEqual([
          { type: "ping", data: hex("x") },
          { type: "message", binary: true, data: hex(Buffer.concat(parts)) },
        ]);
      });

      it("delivers a large binary message spread over many reads intact, whatever their sizes and alignment", () => {
        // A masked frame over many reads is unmasked into its buffer as the reads come
        // (from a quarter of it on): pieces of odd sizes, single bytes and a read that
        // ends one message and begins the next must all land in place.
        const first = pattern(300_001, 7);
        const second = pattern(70_000, 9);
        const buf = inbound(role, { opcode: Opcode.BINARY, payload: first }, { opcode: Opcode.PING, payload: "p" }, { opcode: Opcode.BINARY, payload: second });
        const expected = [
          { type: "message", binary: true, data: hex(first) },
          { type: "ping", data: hex("p") },
          { type: "message", binary: true, data: hex(second) },
        ];
        for (const sizes of [[65_536], [65_537], [4093, 1, 2, 3], [1, 80_000, 1, 7], [1000], [99_999, 65_536, 3]]) {
          const chunks: Buffer[] = [];
          for (let at = 0, i = 0; at < buf.length; i++) {
            const size = sizes[i % sizes.length]!;
            // Each chunk in a buffer of its own, at an offset that varies its alignment.
            const shift = i % 4;
            const chunk = Buffer.alloc(size + shift).subarray(shift);
            const n = buf.copy(chunk, 0, at, at + size);
            chunks.push(chunk.subarray(0, n));
            at += n;
          }
          expect(run(role, chunks).events, `chunk sizes ${sizes.join(",")}`).toEqual(expected);
        }
      });

      it("delivers empty messages: text, binary and fragmented-empty", () => {
        const buf = inbound(
          role,
          { opcode: Opcode.TEXT },
          { opcode: Opcode.BINARY },
          { opcode: Opcode.TEXT, fin: false },
          { opcode: Opcode.CONTINUATION, fin: false },
          { opcode: Opcode.CONTINUATION },
          { opcode: Opcode.BINARY, fin: false },
          { opcode: Opcode.CONTINUATION },
        );
        const r = runAtEverySplit(role, buf);
        expect(r.events).toEqual([
          { type: "message", binary: false, data: "" },
          { type: "message", binary: true, data: "" },
          { type: "message", binary: false, data: "" },
          { type: "message", binary: true, data: "" },
        ]);
        expect(r.log.every((l) => l.data?.length === 0)).toBe(true);
      });

      it("delivers a single-frame message that lies in one chunk as a view of that chunk (no copy)", () => {
        const chunk = inbound(role, { opcode: Opcode.BINARY, payload: "abcdef" }, { opcode: Opcode.TEXT, payload: "xyz" });
        const { session, rec } = newSession(role);
        rec.chunk = chunk;
        expect(session.receive(chunk)).toBe(chunk.length);
        expect(rec.log).toHaveLength(2);
        for (const entry of rec.log) expect(entry.viewOfChunk).toBe(true);
        const headerSize = role === "server" ? 6 : 2;
        // The view is the payload's place in the chunk, unmasked in place.
        expect(chunk.subarray(headerSize, headerSize + 6).toString()).toBe("abcdef");
      });

      it("delivers a message assembled from fragments as one buffer of the right content", () => {
        const { session, rec } = newSession(role);
        const buf = inbound(role, { opcode: Opcode.TEXT, payload: "ab", fin: false }, { opcode: Opcode.CONTINUATION, payload: "cd" });
        rec.chunk = buf;
        session.receive(buf);
        expect(rec.log.map((l) => l.data?.toString())).toEqual(["abcd"]);
      });

      it("keeps serving after many messages: the state machine returns to its start each time", () => {
        const frames = [];
        for (let i = 0; i < 50; i++) {
          frames.push({ opcode: Opcode.TEXT, payload: `m${i}`, fin: false }, { opcode: Opcode.CONTINUATION, payload: "!" });
          frames.push({ opcode: Opcode.BINARY, payload: pattern(i, i + 1) });
        }
        const { session, rec } = newSession(role);
        session.receive(inbound(role, ...frames));
        expect(mergePieces(rec.log)).toHaveLength(100);
        expect(rec.log[98]!.event).toEqual({ type: "message", binary: false, data: hex("m49!") });
        expect(takeOwed(session)).toHaveLength(0);
      });
    });
  }
});
