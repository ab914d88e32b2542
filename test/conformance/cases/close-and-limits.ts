/**
 * Autobahn categories 7 (close handshake: codes, payloads, what may follow a close) and
 * 9 (large and chopped messages), plus wsloop's limits (9.9.x) against an echo server
 * limited to 64 KiB messages: refused with 1009 within the byte budget, and refused
 * from a frame header alone when its declared length cannot fit.
 */
import { OP, binary, close, cont, frame, ping, text } from "../harness/frames.js";
import {
  LIMITED_MAX_MESSAGE,
  T,
  closeNormally,
  closedNormally,
  failedWith,
  send,
  seq,
  waitCloseFrame,
  waitMessages,
  type ServerCase,
  type Step,
} from "../harness/server-case.js";

const hello = "Hello World!";

// ---- 7 close ----------------------------------------------------------------------------------------

const validCodes = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999];
const invalidCodes = [0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999];

export const category7: ServerCase[] = [
  {
    id: "7.1.1",
    description: "a message (echo awaited), then a close",
    steps: [send(text(hello)), waitMessages(1), closeNormally],
    expect: seq(T.text(hello), closedNormally),
  },
  {
    id: "7.1.1.b2b",
    description: "a message and a close in one write (implementation-defined whether the echo precedes the close, as Autobahn 7.1.6)",
    steps: [send(text(hello), close(1000))],
    expect: seq(T.text(hello), closedNormally),
    nonStrict: closedNormally,
    acceptNonStrict: true,
    chunkings: ["whole"],
  },
  { id: "7.1.2", description: "two close frames: the second is ignored", steps: [send(close(1000), close())], expect: closedNormally },
  { id: "7.1.3", description: "a close, then a ping: no pong", steps: [send(close(1000), ping("after close"))], expect: closedNormally },
  { id: "7.1.4", description: "a close, then a text: no echo", steps: [send(close(1000), text(hello))], expect: closedNormally },
  {
    id: "7.1.5",
    description: "a fragment, a close, then the last fragment: no echo",
    steps: [send(text("fragment1", false), close(1000), cont("fragment2"))],
    expect: closedNormally,
  },
  {
    id: "7.1.6",
    description: "a 256 KiB message, a message, a close and a ping in one write (informational in Autobahn)",
    steps: () => [send(text(Buffer.alloc(256 * 1024, "BAsd7&jh23")), text(hello), close(1000), ping())],
    expect: () => seq(T.text(Buffer.alloc(256 * 1024, "BAsd7&jh23")), T.text(hello), closedNormally),
    nonStrict: [closedNormally, seq(T.text(Buffer.alloc(256 * 1024, "BAsd7&jh23")), closedNormally)],
    acceptNonStrict: true,
    chunkings: ["whole"],
  },
  { id: "7.3.1", description: "a close with no payload: answered with no payload", steps: [send(close())], expect: seq(T.close(), T.end) },
  { id: "7.3.2", description: "a close with a 1-byte payload", steps: [send(frame({ opcode: OP.CLOSE, payload: Buffer.from([0x03]) }))], expect: failedWith(1002) },
  { id: "7.3.3", description: "a close with code 1000 and no reason", steps: [send(close(1000))], expect: closedNormally },
  { id: "7.3.4", description: "a close with code 1000 and a reason", steps: [send(close(1000, hello))], expect: closedNormally },
  { id: "7.3.5", description: "a close with code 1000 and a 123-byte reason (the most that fits)", steps: [send(close(1000, "*".repeat(123)))], expect: closedNormally },
  {
    id: "7.3.6",
    description: "a close with code 1000 and a 124-byte reason (126-byte control frame)",
    steps: [send(close(1000, "*".repeat(124)))],
    expect: failedWith(1002),
  },
  {
    id: "7.5.1",
    description: "a close whose reason is not valid UTF-8",
    steps: [send(close(1000, Buffer.from("cebae1bdb9cf83cebcceb5eda080656469746564", "hex")))],
    expect: failedWith(1007),
  },
  ...validCodes.map((code, i): ServerCase => ({
    id: `7.7.${i + 1}`,
    description: `a close with valid code ${code}: echoed`,
    steps: [send(close(code))],
    expect: seq(T.close(code), T.end),
  })),
  ...invalidCodes.map((code, i): ServerCase => ({
    id: `7.9.${i + 1}`,
    description: `a close with invalid code ${code}`,
    steps: [send(close(code))],
    expect: failedWith(1002),
  })),
  { id: "7.13.1", description: "a close with code 5000 (above the application range)", steps: [send(close(5000))], expect: failedWith(1002) },
  { id: "7.13.2", description: "a close with code 65535", steps: [send(close(65535))], expect: failedWith(1002) },
  // wsloop's own: the IANA registry's 1012-1014 are valid, 1015 never goes on the wire.
  ...[1012, 1013, 1014].map((code, i): ServerCase => ({
    id: `7.14.${i + 1}`,
    description: `a close with IANA-registered code ${code}: echoed`,
    steps: [send(close(code))],
    expect: seq(T.close(code), T.end),
  })),
  { id: "7.14.4", description: "a close with code 1015 (reserved, never on the wire)", steps: [send(close(1015))], expect: failedWith(1002) },
  {
    id: "7.14.5",
    description: "a close with a multi-byte UTF-8 reason",
    steps: [send(close(4000, "κόσμε — ok 🎉"))],
    expect: seq(T.close(4000), T.end),
  },
  {
    id: "7.14.6",
    description: "a close whose reason is cut inside a UTF-8 sequence",
    steps: [send(close(1000, Buffer.from("cebae1bd", "hex")))],
    expect: failedWith(1007),
  },
];

// ---- 9 large and chopped messages --------------------------------------------------------------------

const KiB = 1024;
const MiB = 1024 * 1024;

/** ASCII text of n bytes (cheap to make, valid UTF-8 however it is cut). */
function asciiText(n: number): Buffer {
  const pattern = Buffer.from("BAsd7&jh23-wsloop-conformance-");
  const out = Buffer.allocUnsafe(n);
  for (let at = 0; at < n; at += pattern.length) pattern.copy(out, at, 0, Math.min(pattern.length, n - at));
  return out;
}

const bigTimeout = 30_000;

function bigMessage(id: string, kind: "text" | "binary", size: number, label: string): ServerCase {
  const payload = () => (kind === "text" ? asciiText(size) : randomBytesSeeded(size));
  return {
    id,
    description: `${kind} message of ${label}`,
    steps: () => [send(kind === "text" ? text(payload()) : binary(payload())), waitMessages(1, bigTimeout), closeNormally],
    expect: () => seq(kind === "text" ? T.text(payload()) : T.binary(payload()), closedNormally),
    endTimeoutMs: bigTimeout,
  };
}

function fragmented(id: string, kind: "text" | "binary", size: number, fragment: number, label: string): ServerCase {
  const payload = () => (kind === "text" ? asciiText(size) : randomBytesSeeded(size));
  return {
    id,
    description: `${kind} message of 4 MiB in fragments of ${label}`,
    steps: () => {
      const p = payload();
      const frames: Buffer[] = [];
      for (let at = 0; at < p.length; at += fragment) {
        const piece = p.subarray(at, at + fragment);
        const fin = at + fragment >= p.length;
        frames.push(at === 0 ? frame({ opcode: kind === "text" ? OP.TEXT : OP.BINARY, payload: piece, fin }) : cont(piece, fin));
      }
      return [send(...frames), waitMessages(1, bigTimeout), closeNormally];
    },
    expect: () => seq(kind === "text" ? T.text(payload()) : T.binary(payload()), closedNormally),
    endTimeoutMs: bigTimeout,
  };
}

function chopped(id: string, kind: "text" | "binary", chop: number): ServerCase {
  const payload = () => (kind === "text" ? asciiText(MiB) : randomBytesSeeded(MiB));
  return {
    id,
    description: `${kind} message of 1 MiB sent in chops of ${chop} bytes`,
    steps: () => [{ kind: "send", bytes: kind === "text" ? text(payload()) : binary(payload()), chunking: { chop } }, waitMessages(1, bigTimeout), closeNormally],
    expect: () => seq(kind === "text" ? T.text(payload()) : T.binary(payload()), closedNormally),
    endTimeoutMs: bigTimeout,
  };
}

function many(id: string, kind: "text" | "binary", size: number): ServerCase {
  const payload = kind === "text" ? asciiText(size) : randomBytesSeeded(size);
  const f = kind === "text" ? text : binary;
  return {
    id,
    description: `1000 ${kind} messages of ${size} bytes back to back`,
    steps: () => [send(...Array.from({ length: 1000 }, () => f(payload))), waitMessages(1000, bigTimeout), closeNormally],
    expect: () => seq(...Array.from({ length: 1000 }, () => (kind === "text" ? T.text(payload) : T.binary(payload))), closedNormally),
    chunkings: ["whole"],
    endTimeoutMs: bigTimeout,
  };
}

/** Deterministic "random" bytes (xorshift), so expected hashes are stable. */
function randomBytesSeeded(n: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  let x = (0x9e3779b9 ^ n) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

const sizes: Array<[number, string]> = [
  [64 * KiB, "64 KiB"],
  [256 * KiB, "256 KiB"],
  [MiB, "1 MiB"],
  [4 * MiB, "4 MiB"],
  [8 * MiB, "8 MiB"],
  [16 * MiB, "16 MiB"],
];
const fragmentSizes: Array<[number, string]> = [
  [64, "64 B"],
  [256, "256 B"],
  [KiB, "1 KiB"],
  [4 * KiB, "4 KiB"],
  [16 * KiB, "16 KiB"],
  [64 * KiB, "64 KiB"],
  [256 * KiB, "256 KiB"],
  [MiB, "1 MiB"],
  [4 * MiB, "4 MiB"],
];

export const category9: ServerCase[] = [
  ...sizes.map(([n, label], i) => bigMessage(`9.1.${i + 1}`, "text", n, label)),
  ...sizes.map(([n, label], i) => bigMessage(`9.2.${i + 1}`, "binary", n, label)),
  ...fragmentSizes.map(([n, label], i) => fragmented(`9.3.${i + 1}`, "text", 4 * MiB, n, label)),
  ...fragmentSizes.map(([n, label], i) => fragmented(`9.4.${i + 1}`, "binary", 4 * MiB, n, label)),
  ...[64, 128, 256, 512, 1024, 2048].map((chop, i) => chopped(`9.5.${i + 1}`, "text", chop)),
  ...[64, 128, 256, 512, 1024, 2048].map((chop, i) => chopped(`9.6.${i + 1}`, "binary", chop)),
  ...[0, 16, 64, 256, 1024, 4096].map((n, i) => many(`9.7.${i + 1}`, "text", n)),
  ...[0, 16, 64, 256, 1024, 4096].map((n, i) => many(`9.8.${i + 1}`, "binary", n)),
];

// ---- 9.9 wsloop's limits (echo server with maxMessageSize 64 KiB) -----------------------------------------

const LIMIT = LIMITED_MAX_MESSAGE;
const OVERHEAD = 64; // the default fragmentOverhead: bytes charged per held fragment

/** n one-byte fragments of a binary message. */
function oneByteFragments(n: number): Buffer[] {
  return Array.from({ length: n }, (_, i) => (i === 0 ? binary(Buffer.from([i & 0xff]), n === 1) : cont(Buffer.from([i & 0xff]), i === n - 1)));
}

// The largest count of 1-byte fragments whose held bytes (1 + 64 each) stay within LIMIT + OVERHEAD.
const maxOneByteFragments = Math.floor((LIMIT + OVERHEAD) / (1 + OVERHEAD));

export const limits: ServerCase[] = [
  {
    id: "9.9.1",
    description: "a message of exactly the limit (64 KiB): echoed",
    steps: () => [send(binary(randomBytesSeeded(LIMIT))), waitMessages(1, 5_000), closeNormally],
    expect: () => seq(T.binary(randomBytesSeeded(LIMIT)), closedNormally),
    server: "limited",
    chunkings: ["whole", { random: 99 }],
  },
  {
    id: "9.9.2",
    description: "a frame declaring 64 KiB + 1: 1009 from the header alone, before any payload is sent",
    steps: [send(frame({ opcode: OP.BINARY, declaredLength: LIMIT + 1 })), waitCloseFrame()],
    expect: failedWith(1009),
    server: "limited",
  },
  {
    id: "9.9.3",
    description: "40 KiB, then a continuation declaring 40 KiB: 1009 from the second header, before its payload",
    steps: [send(binary(randomBytesSeeded(40 * KiB), false)), send(frame({ opcode: OP.CONT, declaredLength: 40 * KiB })), waitCloseFrame()],
    expect: failedWith(1009),
    server: "limited",
  },
  {
    id: "9.9.4",
    description: "a text message of 70 fragments of 1 KiB (over the limit): 1009",
    steps: () => {
      const frames = Array.from({ length: 70 }, (_, i) => (i === 0 ? text(asciiText(KiB), false) : cont(asciiText(KiB), i === 69)));
      return [send(...frames)];
    },
    expect: failedWith(1009),
    server: "limited",
    chunkings: ["whole", { random: 7 }],
  },
  {
    id: "9.9.5",
    description: `${maxOneByteFragments} one-byte fragments (${maxOneByteFragments * (1 + OVERHEAD)} held bytes, within 64 KiB + 64): echoed`,
    steps: () => [send(...oneByteFragments(maxOneByteFragments)), waitMessages(1, 5_000), closeNormally],
    expect: () => seq(T.binary(Buffer.from(Array.from({ length: maxOneByteFragments }, (_, i) => i & 0xff))), closedNormally),
    server: "limited",
  },
  {
    id: "9.9.6",
    description: `${maxOneByteFragments + 1} one-byte fragments: 1009 at the fragment that crosses the byte budget`,
    steps: () => {
      const frames = oneByteFragments(maxOneByteFragments + 1);
      // The last fragment crosses the budget: wait for 1009 before sending anything after it.
      return [send(...frames.slice(0, maxOneByteFragments)), send(frames[maxOneByteFragments]!), waitCloseFrame(), send(cont("never read"))];
    },
    expect: failedWith(1009),
    server: "limited",
  },
  {
    id: "9.9.7",
    description: "a flood of 5000 one-byte fragments: 1009, the rest unread",
    steps: () => [send(...oneByteFragments(5000))],
    expect: failedWith(1009),
    server: "limited",
  },
  {
    id: "9.9.8",
    description: "a 125-byte ping at the limit server is still answered (control frames are not messages)",
    steps: [send(ping(Buffer.alloc(125, 1))), { kind: "wait", event: "pong", count: 1 } as Step, closeNormally],
    expect: seq(T.pong(Buffer.alloc(125, 1)), closedNormally),
    server: "limited",
  },
  {
    id: "9.9.9",
    description: "messages of 64 KiB one after another stay within the limit each: all echoed",
    steps: () => [send(...Array.from({ length: 8 }, (_, i) => binary(Buffer.alloc(LIMIT, i)))), waitMessages(8, 10_000), closeNormally],
    expect: () => seq(...Array.from({ length: 8 }, (_, i) => T.binary(Buffer.alloc(LIMIT, i))), closedNormally),
    server: "limited",
    chunkings: ["whole"],
  },
];
