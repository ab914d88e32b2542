/**
 * Autobahn category 6: UTF-8 in text messages. Every invalid sequence must fail the
 * connection with 1007 as soon as the bytes received can no longer be valid (fail fast),
 * whether the bad byte is in one frame, in one fragment of many, or in one read of a
 * frame cut across reads. Each fail-fast case sends up to and including the byte that
 * makes the text invalid, WAITS for the close, and only then sends the rest: a server
 * that checks UTF-8 at the end of the message never sends that close in time.
 */
import { binary, cont, ping, text } from "../harness/frames.js";
import { failPoint, invalidVectors, validVectors } from "../harness/utf8-reference.js";
import { T, closeNormally, closedNormally, failedWith, send, seq, waitCloseFrame, waitMessages, waitPongs, type ServerCase, type Step } from "../harness/server-case.js";

/** Cut a single text frame right after the byte that makes it invalid; wait for 1007 before the rest. */
function failFastOneFrame(payload: Buffer): Step[] {
  const whole = text(payload);
  const headerLength = whole.length - payload.length;
  const cut = headerLength + failPoint(payload)!;
  const steps: Step[] = [send(whole.subarray(0, cut)), waitCloseFrame()];
  if (cut < whole.length) steps.push(send(whole.subarray(cut)));
  return steps;
}

/** One frame per byte: send the fragments up to the bad byte, wait for 1007, then the rest. */
function failFastByteFragments(payload: Buffer): Step[] {
  const frames = [...payload].map((b, i) => (i === 0 ? text(Buffer.from([b]), payload.length === 1) : cont(Buffer.from([b]), i === payload.length - 1)));
  const at = failPoint(payload)!;
  const steps: Step[] = [send(...frames.slice(0, at)), waitCloseFrame()];
  if (at < frames.length) steps.push(send(...frames.slice(at)));
  return steps;
}

function byteFragments(payload: Buffer): Buffer[] {
  return [...payload].map((b, i) => (i === 0 ? text(Buffer.from([b]), payload.length === 1) : cont(Buffer.from([b]), i === payload.length - 1)));
}

const kosme = Buffer.from("cebae1bdb9cf83cebcceb5", "hex");
const helloUtf8 = Buffer.from("Hello-µ@ßöäüàá-UTF-8!!", "utf8");
const P1 = kosme;
const P2 = Buffer.from("f4908080", "hex");
const P3 = Buffer.from("656469746564", "hex");
const P = Buffer.concat([P1, P2, P3]);

export const category6: ServerCase[] = [
  { id: "6.1.1", description: "empty text message", steps: [send(text("")), waitMessages(1), closeNormally], expect: seq(T.text(""), closedNormally) },
  {
    id: "6.1.2",
    description: "text message of 3 empty fragments",
    steps: [send(text("", false), cont("", false), cont("")), waitMessages(1), closeNormally],
    expect: seq(T.text(""), closedNormally),
  },
  {
    id: "6.1.3",
    description: "text message of 3 fragments, the first and last empty",
    steps: [send(text("", false), cont("middle frame payload", false), cont("")), waitMessages(1), closeNormally],
    expect: seq(T.text("middle frame payload"), closedNormally),
  },
  {
    id: "6.2.1",
    description: "valid UTF-8 in one frame",
    steps: [send(text(helloUtf8)), waitMessages(1), closeNormally],
    expect: seq(T.text(helloUtf8), closedNormally),
  },
  {
    id: "6.2.2",
    description: "valid UTF-8 in 2 fragments split on a code point boundary",
    steps: [send(text(helloUtf8.subarray(0, 14), false), cont(helloUtf8.subarray(14))), waitMessages(1), closeNormally],
    expect: seq(T.text(helloUtf8), closedNormally),
  },
  {
    id: "6.2.3",
    description: "valid UTF-8 in 1-byte fragments (fragments end inside code points)",
    steps: [send(...byteFragments(helloUtf8)), waitMessages(1), closeNormally],
    expect: seq(T.text(helloUtf8), closedNormally),
  },
  {
    id: "6.2.4",
    description: "κόσμε in 1-byte fragments",
    steps: [send(...byteFragments(kosme)), waitMessages(1), closeNormally],
    expect: seq(T.text(kosme), closedNormally),
  },
  {
    id: "6.3.1",
    description: "invalid UTF-8 (a surrogate inside κόσμε) in one frame: 1007 right after the bad byte",
    steps: failFastOneFrame(invalidVectors[0]!.bytes),
    expect: failedWith(1007),
  },
  {
    id: "6.3.2",
    description: "the same in 1-byte fragments: 1007 right after the fragment with the bad byte",
    steps: failFastByteFragments(invalidVectors[0]!.bytes),
    expect: failedWith(1007),
  },
  {
    id: "6.4.1",
    description: "3 fragments: valid κόσμε (a ping proves it was accepted), then F4 90 80 80 (> U+10FFFF): 1007 before the 3rd fragment is sent",
    steps: [send(text(P1, false)), send(ping("A")), waitPongs(1), send(cont(P2, false)), waitCloseFrame(), send(cont(P3))],
    expect: seq(T.pong("A"), failedWith(1007)),
  },
  {
    id: "6.4.2",
    description: "as 6.4.1, the 2nd fragment being only the byte that makes it invalid (0x90)",
    steps: [send(text(P.subarray(0, 12), false)), send(ping("A")), waitPongs(1), send(cont(P.subarray(12, 13), false)), waitCloseFrame(), send(cont(P.subarray(13)))],
    expect: seq(T.pong("A"), failedWith(1007)),
  },
  {
    id: "6.4.3",
    description: "as 6.4.1 in 3 reads of ONE frame: 1007 before the 3rd read is sent",
    steps: (() => {
      const f = text(P);
      const h = f.length - P.length;
      return [send(f.subarray(0, h + P1.length)), send(f.subarray(h + P1.length, h + P1.length + P2.length)), waitCloseFrame(), send(f.subarray(h + P1.length + P2.length))];
    })(),
    expect: failedWith(1007),
  },
  {
    id: "6.4.4",
    description: "as 6.4.2 in 3 reads of ONE frame (the 2nd read is the single byte 0x90)",
    steps: (() => {
      const f = text(P);
      const h = f.length - P.length;
      return [send(f.subarray(0, h + 12)), send(f.subarray(h + 12, h + 13)), waitCloseFrame(), send(f.subarray(h + 13))];
    })(),
    expect: failedWith(1007),
  },
  ...validVectors.flatMap((v, i): ServerCase[] => [
    {
      id: `6.5.${i + 1}`,
      description: `valid: ${v.label}, one frame`,
      steps: [send(text(v.bytes)), waitMessages(1), closeNormally],
      expect: seq(T.text(v.bytes), closedNormally),
    },
    {
      id: `6.6.${i + 1}`,
      description: `valid: ${v.label}, 1-byte fragments`,
      steps: [send(...byteFragments(v.bytes)), waitMessages(1), closeNormally],
      expect: seq(T.text(v.bytes), closedNormally),
    },
  ]),
  ...invalidVectors.flatMap((v, i): ServerCase[] => {
    const at = failPoint(v.bytes)!;
    const where = at === v.bytes.length ? "at the end of the message" : `after byte ${at} of ${v.bytes.length}`;
    return [
      {
        id: `6.7.${i + 1}`,
        description: `invalid: ${v.label}, one frame; 1007 ${where}`,
        steps: failFastOneFrame(v.bytes),
        expect: failedWith(1007),
      },
      {
        id: `6.8.${i + 1}`,
        description: `invalid: ${v.label}, 1-byte fragments; 1007 ${where}`,
        steps: failFastByteFragments(v.bytes),
        expect: failedWith(1007),
      },
    ];
  }),
  {
    id: "6.9.1",
    description: "invalid UTF-8 in a binary message is not checked (echoed)",
    steps: [send(binary(Buffer.from("eda080ff", "hex"))), waitMessages(1), closeNormally],
    expect: seq(T.binary(Buffer.from("eda080ff", "hex")), closedNormally),
  },
  {
    id: "6.9.2",
    description: "a valid 4-byte sequence split across 2 fragments, then an invalid message: the first is echoed, the second fails",
    steps: [send(text(Buffer.from("f09f", "hex"), false), cont(Buffer.from("8e89", "hex"))), waitMessages(1), ...failFastOneFrame(Buffer.from("41c0af", "hex"))],
    expect: seq(T.text(Buffer.from("f09f8e89", "hex")), failedWith(1007)),
  },
];
