/**
 * Property tests, quick enough for every run (the long version is `npm run fuzz`):
 * random and mutated frame streams into an echo server on the manual driver (in-memory
 * transports, virtual time) never throw, never log an internal error, end with a close
 * code the input explains (1000 or the peer's own code echoed, 1002, 1007, 1009) or keep
 * serving, and leave no connection behind; valid conversations are echoed exactly at
 * any cut; the frame parser, the session and the HTTP head parsers hold their contracts
 * on any input; a valid close after valid input always brings the session to "closed".
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isValidWireCloseCode } from "../../src/core/close-codes.js";
import { FrameReader } from "./harness/frames.js";
import {
  Rng,
  UPGRADE,
  checkFrameParser,
  checkHeadParser,
  checkSession,
  conversation,
  mutate,
  requestHead,
  responseHead,
  serveOverManualDriver,
  type Problem,
} from "./harness/fuzz-kit.js";

const seedArb = fc.integer({ min: 0, max: 0x7fffffff });
const sizesArb = fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 6 });
const RUNS = 150;

function noProblems(problems: Problem[], seed: number): void {
  expect(problems, `seed ${seed}: ${problems.map((p) => `${p.target}: ${p.what}`).join("; ")}`).toEqual([]);
}

/** The close codes a server may answer `input` with: failures, or the echo of a close the input contains. */
function explainedCloseCodes(input: Buffer): Set<number> {
  const codes = new Set([1002, 1007, 1009]);
  const reader = new FrameReader(1 << 20);
  for (const f of reader.push(input)) {
    if (f.opcode !== 8) continue;
    if (f.payload.length === 0) codes.add(1005);
    else if (f.payload.length >= 2 && isValidWireCloseCode(f.payload.readUInt16BE(0))) codes.add(f.payload.readUInt16BE(0));
  }
  return codes;
}

describe("an echo server on the manual driver, fed random streams", () => {
  it("echoes a valid conversation exactly at any cut; a close ends it with 1000; no connection is left", () => {
    fc.assert(
      fc.property(seedArb, sizesArb, fc.integer({ min: 1, max: 512 }), (seed, sizes, readChunk) => {
        const rng = new Rng(seed);
        const conv = conversation(rng);
        const run = serveOverManualDriver(conv.bytes, sizes, { readChunk });
        noProblems(run.problems, seed);
        expect(run.status).toBe(101);
        if (conv.closed) {
          expect(run.closeCode).toBe(1000);
          // Echoes the server had not written when the close arrived may be dropped (RFC 6455 §5.5.1).
          expect(conv.messages.slice(0, run.messages.length)).toEqual(run.messages);
        } else {
          expect(run.closeCode).toBe(null);
          expect(run.messages).toEqual(conv.messages);
          expect(run.open).toBe(true);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it("mutated conversations: no throw, no internal error, a close code the input explains or still serving, no connection left", () => {
    fc.assert(
      fc.property(seedArb, sizesArb, (seed, sizes) => {
        const rng = new Rng(seed);
        const input = mutate(rng, conversation(rng).bytes);
        const run = serveOverManualDriver(input, sizes);
        noProblems(run.problems, seed);
        expect(run.status).toBe(101);
        if (run.closeCode !== null) expect([...explainedCloseCodes(input)]).toContain(run.closeCode);
      }),
      { numRuns: RUNS },
    );
  });

  it("random bytes after the upgrade: the same, and mostly a 1002", () => {
    fc.assert(
      fc.property(seedArb, sizesArb, fc.uint8Array({ minLength: 1, maxLength: 400 }), (seed, sizes, bytes) => {
        const input = Buffer.from(bytes);
        const run = serveOverManualDriver(input, sizes);
        noProblems(run.problems, seed);
        if (run.closeCode !== null) expect([...explainedCloseCodes(input)]).toContain(run.closeCode);
      }),
      { numRuns: RUNS },
    );
  });

  it("mutated upgrade requests: answered (101 or a refusal), never thrown on, no connection left", () => {
    fc.assert(
      fc.property(seedArb, sizesArb, (seed, sizes) => {
        const rng = new Rng(seed);
        const request = mutate(rng, Buffer.from(UPGRADE, "latin1"));
        const run = serveOverManualDriver(Buffer.concat([request, conversation(rng).bytes]), sizes, { raw: true });
        noProblems(run.problems, seed);
      }),
      { numRuns: RUNS },
    );
  });
});

describe("the engine's parts on any input", () => {
  it("frame parser (both roles): nothing throws; faults are reported once, as 1002 or 1009", () => {
    fc.assert(
      fc.property(seedArb, sizesArb, fc.constantFrom<"server" | "client">("server", "client"), (seed, sizes, role) => {
        const rng = new Rng(seed);
        const base = rng.bool(0.3) ? rng.bytes(rng.size(300)) : conversation(rng, 300).bytes;
        const input = rng.bool(0.8) ? mutate(rng, base) : base;
        noProblems(checkFrameParser(input, sizes, role, rng.pick([0, 10, 125, 126, 65535, 1 << 20])), seed);
      }),
      { numRuns: RUNS * 2 },
    );
  });

  it("session: faults are PeerError values with one owed close; a valid close after valid input reaches closed (no stall)", () => {
    fc.assert(
      fc.property(seedArb, sizesArb, fc.boolean(), (seed, sizes, mutated) => {
        const rng = new Rng(seed);
        const conv = conversation(rng, 600);
        const input = mutated ? mutate(rng, conv.bytes) : conv.bytes;
        const run = checkSession(input, sizes, { maxMessageSize: 1024, maxFramePayload: 1024 }, !mutated);
        noProblems(run.problems, seed);
        if (!mutated) {
          expect(run.failedWith).toBe(null);
          expect(run.closedBy).toBe(1000);
          expect(run.state).toBe("closed");
          expect(run.messages).toEqual(conv.messages.filter((m) => m.payload.length <= 1024).slice(0, run.messages.length));
        }
      }),
      { numRuns: RUNS * 2 },
    );
  });

  it("HTTP head parsers: nothing throws, documented statuses only, the verdict does not depend on the cut", () => {
    fc.assert(
      fc.property(seedArb, sizesArb, fc.constantFrom<"request" | "response">("request", "response"), (seed, sizes, kind) => {
        const rng = new Rng(seed);
        const base = rng.bool(0.2) ? rng.bytes(rng.size(600)) : kind === "request" ? requestHead(rng) : responseHead(rng);
        const input = rng.bool(0.7) ? mutate(rng, base) : base;
        noProblems(checkHeadParser(input, sizes, kind, rng.pick([64, 200, 1024])), seed);
      }),
      { numRuns: RUNS * 3 },
    );
  });
});
