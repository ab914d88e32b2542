/**
 * Property tests of the two kinds of error and of encode → receive round trips.
 */
import { Buffer } from "node:buffer";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { WsloopUsageError } from "../../../src/core/errors.js";
import { Opcode } from "../../../src/core/frame.js";
import { chunkBySizes } from "../../helpers/splits.js";
import { MAX_OWED_PONGS, MAX_OWED_PONG_BYTES } from "../../../src/core/ws-session.js";
import { closePayload, comparable, inbound, newSession, newestWithinBounds, parseFrames, run } from "./harness.js";
import type { RawFrame, Role, RunOptions, RunResult } from "./harness.js";

const roleArb = fc.constantFrom<Role>("server", "client");
const deliveryArb = fc.constantFrom<"message" | "fragment">("message", "fragment");
const limitsArb = fc.option(
  fc.record({ maxFramePayload: fc.integer({ min: 0, max: 200 }), maxMessageSize: fc.integer({ min: 0, max: 400 }), fragmentOverhead: fc.integer({ min: 0, max: 64 }) }),
  { nil: undefined },
);
const chunkSizesArb = fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 8 });

/** Everything a session may report for any input, checked on one run. */
function checkPeerErrorPath(role: Role, r: RunResult): void {
  const types = r.events.map((e) => e.type);
  expect(types.filter((t) => t === "violation"), JSON.stringify(r.events.filter((e) => e.type === "violation"))).toEqual([]);
  const errors = r.events.filter((e) => e.type === "error");
  const closes = r.events.filter((e) => e.type === "close");
  expect(errors.length + closes.length).toBeLessThanOrEqual(1);
  const endAt = types.findIndex((t) => t === "error" || t === "close");
  if (endAt >= 0) expect(endAt).toBe(types.length - 1); // nothing after the end
  const owed = parseFrames(role, Buffer.from(r.owed, "hex"));
  for (const f of owed) expect(f.masked).toBe(role === "client");
  const error = errors[0];
  if (error?.type === "error") {
    expect([1002, 1007, 1009]).toContain(error.code);
    expect(error.tooLarge === null).toBe(error.code !== 1009);
    expect(owed.map((f) => f.opcode)).toEqual([Opcode.CLOSE]);
    expect(owed[0]!.payload.readUInt16BE(0)).toBe(error.code);
    expect(r.state).toBe("closed");
    expect(r.inputDone).toBe(true);
  } else if (closes[0]?.type === "close") {
    expect(owed.map((f) => f.opcode)).toEqual([Opcode.CLOSE]);
    expect(r.state).toBe("closed");
    expect(r.inputDone).toBe(true);
  } else {
    expect(owed.every((f) => f.opcode === Opcode.PONG)).toBe(true);
    expect(owed.length).toBeLessThanOrEqual(MAX_OWED_PONGS);
    expect(owed.reduce((n, f) => n + f.payload.length, 0)).toBeLessThanOrEqual(MAX_OWED_PONG_BYTES);
    expect(r.state).toBe("open");
  }
}

/** Runs `bytes` whole and in the given chunks; both must pass the checks and agree. */
function checkInput(role: Role, bytes: Uint8Array, sizes: number[], options: RunOptions): void {
  const whole = run(role, [Buffer.from(bytes)], options);
  checkPeerErrorPath(role, whole);
  const chunked = run(role, chunkBySizes(bytes, sizes), options);
  checkPeerErrorPath(role, chunked);
  expect(comparable(chunked)).toEqual(comparable(whole));
}

// Frames that are mostly valid, so that mutations reach deep into the state machine.
const frameArb: fc.Arbitrary<RawFrame> = fc.oneof(
  fc.record({ opcode: fc.constantFrom(Opcode.TEXT, Opcode.CONTINUATION), payload: fc.string({ unit: "binary", maxLength: 20 }), fin: fc.boolean() }),
  fc.record({ opcode: fc.constantFrom(Opcode.BINARY, Opcode.CONTINUATION), payload: fc.uint8Array({ maxLength: 300 }), fin: fc.boolean() }),
  fc.record({ opcode: fc.constantFrom(Opcode.PING, Opcode.PONG), payload: fc.uint8Array({ maxLength: 125 }) }),
  fc.record({
    opcode: fc.constant(Opcode.CLOSE),
    payload: fc.oneof(
      fc.constant(new Uint8Array(0)),
      fc.tuple(fc.integer({ min: 0, max: 5000 }), fc.string({ maxLength: 10 })).map(([code, reason]) => closePayload(code, reason)),
      fc.uint8Array({ maxLength: 10 }),
    ),
  }),
  fc.record({ opcode: fc.integer({ min: 0, max: 15 }), payload: fc.uint8Array({ maxLength: 10 }), fin: fc.boolean(), rsv: fc.integer({ min: 0, max: 7 }) }),
);

const mutationArb = fc.oneof(
  fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant("set" as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant("delete" as const), at: fc.nat() }),
);
type Mutation = typeof mutationArb extends fc.Arbitrary<infer T> ? T : never;

function mutate(buf: Buffer, mutations: Mutation[]): Buffer {
  const bytes = [...buf];
  for (const m of mutations) {
    if (bytes.length === 0 && m.kind !== "insert") continue;
    const at = m.at % (bytes.length + (m.kind === "insert" ? 1 : 0));
    if (m.kind === "flip") bytes[at]! ^= 1 << m.bit;
    else if (m.kind === "set") bytes[at] = m.byte;
    else if (m.kind === "insert") bytes.splice(at, 0, m.byte);
    else bytes.splice(at, 1);
  }
  return Buffer.from(bytes);
}

describe("WsSession properties: the peer's misbehaviour only ever takes the peer-error path", () => {
  it("random bytes never make receive() throw; at most one onPeerError and nothing after it", () => {
    fc.assert(
      fc.property(roleArb, deliveryArb, limitsArb, fc.uint8Array({ maxLength: 600 }), chunkSizesArb, (role, delivery, limits, bytes, sizes) => {
        checkInput(role, bytes, sizes, { delivery, limits });
      }),
      { numRuns: 400 },
    );
  });

  it("random bytes after a valid start, in both roles", () => {
    fc.assert(
      fc.property(roleArb, deliveryArb, fc.array(frameArb, { maxLength: 4 }), fc.uint8Array({ minLength: 1, maxLength: 200 }), chunkSizesArb, (role, delivery, frames, tail, sizes) => {
        checkInput(role, Buffer.concat([inbound(role, ...frames), tail]), sizes, { delivery });
      }),
      { numRuns: 300 },
    );
  });

  it("mutated frame streams (masked right or wrong, any opcode, RSV, close code) never make receive() throw", () => {
    fc.assert(
      fc.property(
        roleArb,
        deliveryArb,
        limitsArb,
        fc.array(frameArb, { maxLength: 12 }),
        fc.array(mutationArb, { maxLength: 4 }),
        fc.boolean(),
        chunkSizesArb,
        (role, delivery, limits, frames, mutations, wrongMask, sizes) => {
          const stream = inbound(wrongMask ? (role === "server" ? "client" : "server") : role, ...frames);
          checkInput(role, mutate(stream, mutations), sizes, { delivery, limits });
        },
      ),
      { numRuns: 600 },
    );
  });

  it("after our close, mutated input still only takes the peer-error path", () => {
    fc.assert(
      fc.property(roleArb, fc.array(frameArb, { maxLength: 8 }), fc.array(mutationArb, { maxLength: 3 }), chunkSizesArb, (role, frames, mutations, sizes) => {
        const bytes = mutate(inbound(role, ...frames), mutations);
        const options: RunOptions = { before: (s) => { s.close(1000, "bye"); s.takeOwedFrames([]); } };
        const whole = run(role, [Buffer.from(bytes)], options);
        const chunked = run(role, chunkBySizes(bytes, sizes), options);
        expect(comparable(chunked)).toEqual(comparable(whole));
        expect(whole.owed).toBe(""); // our close went out; nothing more is owed, not even a pong
        const ends = whole.events.filter((e) => e.type === "error" || e.type === "close");
        expect(ends.length).toBeLessThanOrEqual(1);
        expect(whole.state).toBe(ends.length === 1 ? "closed" : "closing");
      }),
      { numRuns: 300 },
    );
  });
});

// ---------------------------------------------------------------------------
// Round trips.

interface Outgoing {
  kind: "text" | "binary" | "ping";
  payload: Buffer;
  /** Where the caller cuts the message into encodeData calls (byte offsets). */
  cuts: number[];
}

const cutsArb = fc.array(fc.nat(), { maxLength: 4 });
const outgoingArb = (binaryPayload: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Outgoing> =>
  fc.oneof(
    fc.record({ kind: fc.constant<Outgoing["kind"]>("text"), payload: fc.string({ unit: "binary", maxLength: 200 }).map((s) => Buffer.from(s)), cuts: cutsArb }),
    fc.record({ kind: fc.constant<Outgoing["kind"]>("binary"), payload: binaryPayload.map((b) => Buffer.from(b)), cuts: cutsArb }),
    fc.record({ kind: fc.constant<Outgoing["kind"]>("ping"), payload: fc.uint8Array({ maxLength: 125 }).map((b) => Buffer.from(b)), cuts: fc.constant<number[]>([]) }),
  );
const smallOutgoingArb = outgoingArb(fc.uint8Array({ maxLength: 300 }));
/** Payloads that take the 64-bit length form. */
const largeOutgoingArb = outgoingArb(fc.integer({ min: 65_536, max: 70_000 }).map((n) => new Uint8Array(n).map((_, i) => (i * 31 + n) & 0xff)));

function encodeAll(role: Role, messages: Outgoing[], maxOutgoingFrame: number): Buffer {
  const { session } = newSession(role, { maxOutgoingFrame });
  const out: Uint8Array[] = [];
  for (const m of messages) {
    const before = Buffer.from(m.payload);
    if (m.kind === "ping") {
      session.encodePing(out, m.payload);
    } else {
      const points = [...new Set(m.cuts.map((c) => c % (m.payload.length + 1)))].sort((a, b) => a - b);
      const bounds = [0, ...points.filter((p) => p > 0 && p < m.payload.length), m.payload.length];
      for (let i = 0; i + 1 < bounds.length; i++) {
        const opcode = i === 0 ? (m.kind === "text" ? Opcode.TEXT : Opcode.BINARY) : Opcode.CONTINUATION;
        session.encodeData(out, opcode, m.payload.subarray(bounds[i], bounds[i + 1]), i + 2 === bounds.length);
      }
    }
    expect(m.payload.equals(before)).toBe(true); // the caller's bytes are never changed
  }
  return Buffer.concat(out);
}

function roundTrip(sender: Role, delivery: "message" | "fragment", messages: Outgoing[], maxOutgoingFrame: number, sizes: number[]): void {
  const bytes = encodeAll(sender, messages, maxOutgoingFrame);
  const receiver: Role = sender === "server" ? "client" : "server";
  const r = run(receiver, chunkBySizes(bytes, sizes), { delivery });
  expect(r.events.filter((e) => e.type === "error" || e.type === "violation")).toEqual([]);

  // Rebuild what arrived: whole messages, or pieces joined from first to final.
  const received: Array<{ kind: string; payload: Buffer }> = [];
  let open: Buffer[] | null = null;
  for (const { event, data } of r.log) {
    if (event.type === "message") received.push({ kind: event.binary ? "binary" : "text", payload: data! });
    else if (event.type === "ping") received.push({ kind: "ping", payload: data! });
    else if (event.type === "fragment") {
      expect(event.first).toBe(open === null);
      open = [...(open ?? []), data!];
      if (event.final) {
        received.push({ kind: event.binary ? "binary" : "text", payload: Buffer.concat(open) });
        open = null;
      }
    }
  }
  expect(open).toBeNull();
  expect(received.map((m) => ({ kind: m.kind, hex: m.payload.toString("hex") }))).toEqual(
    messages.map((m) => ({ kind: m.kind, hex: m.payload.toString("hex") })),
  );
  // Every ping is answered, in order; when none was written in between, the newest
  // MAX_OWED_PONGS of them (within MAX_OWED_PONG_BYTES).
  const pings = messages.filter((m) => m.kind === "ping");
  const owed = parseFrames(receiver, Buffer.from(r.owed, "hex"));
  expect(owed.map((f) => f.payload.toString("hex"))).toEqual(newestWithinBounds(pings.map((m) => m.payload)).map((p) => p.toString("hex")));
}

describe("WsSession properties: encode → receive round trips", () => {
  it("random messages (text and binary, random fragmentation and frame size, random chunking) arrive exactly", () => {
    fc.assert(
      fc.property(
        roleArb,
        deliveryArb,
        fc.array(smallOutgoingArb, { maxLength: 8 }),
        fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 100 })),
        fc.array(fc.integer({ min: 1, max: 500 }), { minLength: 1, maxLength: 6 }),
        roundTrip,
      ),
      { numRuns: 200 },
    );
  });

  it("the same with messages of 64 KiB and more (64-bit lengths), in larger frames and chunks", () => {
    fc.assert(
      fc.property(
        roleArb,
        deliveryArb,
        fc.array(fc.oneof(smallOutgoingArb, largeOutgoingArb), { maxLength: 4 }),
        fc.oneof(fc.constant(0), fc.integer({ min: 1000, max: 70_000 })),
        fc.array(fc.integer({ min: 1, max: 20_000 }), { minLength: 1, maxLength: 6 }),
        roundTrip,
      ),
      { numRuns: 30 },
    );
  });

  it("misuse of encodeData in random sequences throws only WsloopUsageError and never corrupts the stream", () => {
    const stepArb = fc.record({
      opcode: fc.constantFrom(Opcode.TEXT, Opcode.BINARY, Opcode.CONTINUATION, Opcode.PING, 3),
      fin: fc.boolean(),
      payload: fc.uint8Array({ maxLength: 20 }),
    });
    fc.assert(
      fc.property(roleArb, fc.array(stepArb, { maxLength: 20 }), (role, steps) => {
        const { session } = newSession(role);
        const out: Uint8Array[] = [];
        let open = false;
        for (const step of steps) {
          const valid =
            step.opcode === Opcode.CONTINUATION ? open : step.opcode === Opcode.TEXT || step.opcode === Opcode.BINARY ? !open : false;
          try {
            session.encodeData(out, step.opcode, Buffer.from(step.payload), step.fin);
            expect(valid).toBe(true);
            open = !step.fin;
          } catch (e) {
            expect(e).toBeInstanceOf(WsloopUsageError);
            expect(valid).toBe(false);
          }
        }
        // Whatever was accepted parses cleanly as frames on the other side.
        const bytes = Buffer.concat(out);
        expect(() => parseFrames(role, bytes)).not.toThrow();
      }),
      { numRuns: 300 },
    );
  });
});
