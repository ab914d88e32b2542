/**
 * Autobahn categories 1-5: framing and lengths, pings and pongs, reserved bits, opcodes,
 * fragmentation with interleaved control frames. Case ids follow Autobahn's where a case
 * is Autobahn's; wsloop's own additions carry ids Autobahn does not use (1.3.x, 3.8+,
 * 5.21+) and the "b2b" variants send Autobahn's frames back to back in one write.
 */
import { OP, binary, close, cont, frame, ping, pong, text } from "../harness/frames.js";
import {
  T,
  closeNormally,
  closedNormally,
  failedWith,
  send,
  seq,
  waitCloseFrame,
  waitMessages,
  waitPongs,
  type ServerCase,
} from "../harness/server-case.js";

const star = (n: number) => Buffer.alloc(n, "*");
const bin = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + 3) & 0xff));

// ---- 1 framing and lengths ------------------------------------------------------------------------

const lengths = [0, 125, 126, 127, 128, 65535, 65536];

export const category1: ServerCase[] = [
  ...lengths.map((n, i): ServerCase => ({
    id: `1.1.${i + 1}`,
    description: `text message of ${n} bytes`,
    steps: [send(text(star(n))), waitMessages(1), closeNormally],
    expect: seq(T.text(star(n)), closedNormally),
  })),
  {
    id: "1.1.8",
    description: "text message of 65536 bytes sent in chops of 997 bytes",
    steps: [send(text(star(65536))), waitMessages(1), closeNormally],
    expect: seq(T.text(star(65536)), closedNormally),
    chunkings: [{ chop: 997 }],
  },
  ...lengths.map((n, i): ServerCase => ({
    id: `1.2.${i + 1}`,
    description: `binary message of ${n} bytes`,
    steps: [send(binary(bin(n))), waitMessages(1), closeNormally],
    expect: seq(T.binary(bin(n)), closedNormally),
  })),
  {
    id: "1.2.8",
    description: "binary message of 65536 bytes sent in chops of 997 bytes",
    steps: [send(binary(bin(65536))), waitMessages(1), closeNormally],
    expect: seq(T.binary(bin(65536)), closedNormally),
    chunkings: [{ chop: 997 }],
  },
  // wsloop's own: the length rules Autobahn does not test.
  {
    id: "1.3.1",
    description: "a 5-byte payload with its length in the 16-bit form (not minimal, RFC 6455 §5.2)",
    steps: [send(text("Hello", true, { lengthForm: 16 }))],
    expect: failedWith(1002),
  },
  {
    id: "1.3.2",
    description: "a 200-byte payload with its length in the 64-bit form (not minimal)",
    steps: [send(binary(bin(200), true, { lengthForm: 64 }))],
    expect: failedWith(1002),
  },
  {
    id: "1.3.3",
    description: "a 65535-byte payload in the 64-bit form (the 16-bit form is minimal)",
    steps: [send(binary(bin(65535), true, { lengthForm: 64 }))],
    expect: failedWith(1002),
  },
  {
    id: "1.3.4",
    description: "a 64-bit length with its most significant bit set: refused from the header alone",
    steps: [send(frame({ opcode: OP.BINARY, declaredLength: 1n << 63n, lengthForm: 64 })), waitCloseFrame()],
    expect: failedWith(1002),
  },
  {
    id: "1.3.5",
    description: "a 64-bit length of 2^53 (beyond any limit): 1009 from the header alone",
    steps: [send(frame({ opcode: OP.BINARY, declaredLength: 1n << 53n, lengthForm: 64 })), waitCloseFrame()],
    expect: failedWith(1009),
  },
  {
    id: "1.3.6",
    description: "a frame declaring 16 MiB + 1 (over the echo's limit): 1009 from the header alone, before any payload",
    steps: [send(frame({ opcode: OP.BINARY, declaredLength: 16 * 1024 * 1024 + 1 })), waitCloseFrame()],
    expect: failedWith(1009),
  },
  {
    id: "1.3.7",
    description: "an unmasked text frame from a client (RFC 6455 §5.1)",
    steps: [send(text("Hello", true, { mask: false }))],
    expect: failedWith(1002),
  },
  {
    id: "1.3.8",
    description: "an unmasked ping from a client",
    steps: [send(ping("x", { mask: false }))],
    expect: failedWith(1002),
  },
  {
    id: "1.3.9",
    description: "a masked frame with the all-zero key is still masked (valid)",
    steps: [send(text("zero key", true, { mask: Buffer.alloc(4) })), waitMessages(1), closeNormally],
    expect: seq(T.text("zero key"), closedNormally),
  },
  {
    id: "1.3.10",
    description: "a text message of 126 bytes whose 16-bit length straddles reads",
    steps: [send(text(star(126))), waitMessages(1), closeNormally],
    expect: seq(T.text(star(126)), closedNormally),
    chunkings: [{ chop: 3 }, { chop: 2 }],
  },
];

// ---- 2 pings and pongs ------------------------------------------------------------------------------

const tenPings = Array.from({ length: 10 }, (_, i) => `payload-${i}`);

export const category2: ServerCase[] = [
  { id: "2.1", description: "ping without payload", steps: [send(ping()), waitPongs(1), closeNormally], expect: seq(T.pong(), closedNormally) },
  {
    id: "2.2",
    description: "ping with a small text payload",
    steps: [send(ping("Hello, world!")), waitPongs(1), closeNormally],
    expect: seq(T.pong("Hello, world!"), closedNormally),
  },
  {
    id: "2.3",
    description: "ping with a small binary payload",
    steps: [send(ping(Buffer.from([0x00, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0x00, 0xff]))), waitPongs(1), closeNormally],
    expect: seq(T.pong(Buffer.from([0x00, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0x00, 0xff])), closedNormally),
  },
  {
    id: "2.4",
    description: "ping with a 125-byte binary payload",
    steps: [send(ping(Buffer.alloc(125, 0xfe))), waitPongs(1), closeNormally],
    expect: seq(T.pong(Buffer.alloc(125, 0xfe)), closedNormally),
  },
  {
    id: "2.5",
    description: "ping with a 126-byte payload (control frames carry at most 125)",
    steps: [send(ping(Buffer.alloc(126, 0xfe)))],
    expect: failedWith(1002),
  },
  {
    id: "2.6",
    description: "ping with a 125-byte payload, sent one byte at a time",
    steps: [send(ping(Buffer.alloc(125, 0xfe))), waitPongs(1), closeNormally],
    expect: seq(T.pong(Buffer.alloc(125, 0xfe)), closedNormally),
    chunkings: ["bytes"],
  },
  { id: "2.7", description: "unsolicited pong without payload: ignored", steps: [send(pong()), closeNormally], expect: closedNormally },
  {
    id: "2.8",
    description: "unsolicited pong with payload: ignored",
    steps: [send(pong("unsolicited pong payload")), closeNormally],
    expect: closedNormally,
  },
  {
    id: "2.9",
    description: "unsolicited pong, then a ping: only the ping is answered",
    steps: [send(pong("unsolicited pong payload"), ping("ping payload")), waitPongs(1), closeNormally],
    expect: seq(T.pong("ping payload"), closedNormally),
  },
  {
    id: "2.10",
    description: "10 pings with payloads, back to back in one write: a pong for each (Autobahn requires all 10)",
    steps: [send(...tenPings.map((p) => ping(p))), waitPongs(10), closeNormally],
    expect: seq(...tenPings.map((p) => T.pong(p)), closedNormally),
    chunkings: ["whole"],
  },
  {
    id: "2.11",
    description: "10 pings with payloads, sent one byte at a time without waiting for pongs (Autobahn's sending): a pong for each",
    // However the bytes are read, at most 10 pongs are ever owed: within MAX_OWED_PONGS.
    steps: [send(...tenPings.map((p) => ping(p))), waitPongs(10), closeNormally],
    expect: seq(...tenPings.map((p) => T.pong(p)), closedNormally),
    chunkings: ["bytes"],
  },
  {
    id: "2.12",
    description: "a ping between two messages: pong and echoes in order",
    steps: [send(text("one")), waitMessages(1), send(ping("between")), waitPongs(1), send(text("two")), waitMessages(2), closeNormally],
    expect: seq(T.text("one"), T.pong("between"), T.text("two"), closedNormally),
  },
];

// ---- 3 reserved bits --------------------------------------------------------------------------------

const hello = "Hello, world!";

/** Autobahn's "message, bad frame, ping" shape, with the echo awaited before the bad frame is sent. */
function echoThenFail(id: string, description: string, bad: Buffer): ServerCase {
  return {
    id,
    description: `${description} (after a valid message whose echo is awaited; a ping follows the bad frame)`,
    steps: [send(text(hello)), waitMessages(1), send(bad, ping())],
    expect: seq(T.text(hello), failedWith(1002)),
  };
}

/** The same three frames back to back in one write, as Autobahn sends them. */
function backToBack(id: string, description: string, bad: Buffer): ServerCase {
  return {
    id,
    description: `${description}, all three frames in one write (Autobahn's sending)`,
    steps: [send(text(hello), bad, ping())],
    expect: seq(T.text(hello), failedWith(1002)),
    nonStrict: failedWith(1002),
    chunkings: ["whole"],
  };
}

export const category3: ServerCase[] = [
  { id: "3.1", description: "text with RSV1 set and no extension negotiated", steps: [send(text(hello, true, { rsv: 4 }))], expect: failedWith(1002) },
  echoThenFail("3.2", "text with RSV2 set", text(hello, true, { rsv: 2 })),
  backToBack("3.2.b2b", "text, text with RSV2, ping", text(hello, true, { rsv: 2 })),
  echoThenFail("3.3", "text with RSV = 3", text(hello, true, { rsv: 3 })),
  echoThenFail("3.4", "text with RSV = 4", text(hello, true, { rsv: 4 })),
  { id: "3.5", description: "binary with RSV = 5", steps: [send(binary(bin(8), true, { rsv: 5 }))], expect: failedWith(1002) },
  { id: "3.6", description: "ping with RSV = 6", steps: [send(ping(hello, { rsv: 6 }))], expect: failedWith(1002) },
  { id: "3.7", description: "close with RSV = 7", steps: [send(close(1000, "", { rsv: 7 }))], expect: failedWith(1002) },
  {
    id: "3.8",
    description: "RSV1 on a continuation frame",
    steps: [send(text("frag", false), cont("ment", true, { rsv: 4 }))],
    expect: failedWith(1002),
  },
  { id: "3.9", description: "pong with RSV3", steps: [send(pong("p", { rsv: 1 }))], expect: failedWith(1002) },
  // TODO(permessage-deflate): with the extension negotiated, RSV1 on the first frame of a
  // message is legal and RSV1 on control frames and continuations still fails with 1002.
];

// ---- 4 opcodes ----------------------------------------------------------------------------------------

export const category4: ServerCase[] = [
  { id: "4.1.1", description: "reserved non-control opcode 3, no payload", steps: [send(frame({ opcode: 3 }))], expect: failedWith(1002) },
  {
    id: "4.1.2",
    description: "reserved non-control opcode 4 with payload",
    steps: [send(frame({ opcode: 4, payload: "reserved opcode payload" }))],
    expect: failedWith(1002),
  },
  echoThenFail("4.1.3", "reserved non-control opcode 5", frame({ opcode: 5 })),
  backToBack("4.1.3.b2b", "text, reserved opcode 5, ping", frame({ opcode: 5 })),
  echoThenFail("4.1.4", "reserved non-control opcode 6 with payload", frame({ opcode: 6, payload: hello })),
  echoThenFail("4.1.5", "reserved non-control opcode 7 with payload", frame({ opcode: 7, payload: hello })),
  { id: "4.2.1", description: "reserved control opcode 11, no payload", steps: [send(frame({ opcode: 11 }))], expect: failedWith(1002) },
  {
    id: "4.2.2",
    description: "reserved control opcode 12 with payload",
    steps: [send(frame({ opcode: 12, payload: "reserved opcode payload" }))],
    expect: failedWith(1002),
  },
  echoThenFail("4.2.3", "reserved control opcode 13", frame({ opcode: 13 })),
  echoThenFail("4.2.4", "reserved control opcode 14 with payload", frame({ opcode: 14, payload: hello })),
  echoThenFail("4.2.5", "reserved control opcode 15 with payload", frame({ opcode: 15, payload: hello })),
];

// ---- 5 fragmentation ------------------------------------------------------------------------------------

const f1 = "fragment1";
const f2 = "fragment2";
const frameWise = (...frames: Buffer[]) => frames.map((f) => send(f));

export const category5: ServerCase[] = [
  { id: "5.1", description: "ping fragmented into 2 frames", steps: [send(frame({ opcode: OP.PING, payload: f1, fin: false }), cont(f2))], expect: failedWith(1002) },
  { id: "5.2", description: "pong fragmented into 2 frames", steps: [send(frame({ opcode: OP.PONG, payload: f1, fin: false }), cont(f2))], expect: failedWith(1002) },
  {
    id: "5.3",
    description: "text in 2 fragments",
    steps: [send(text(f1, false), cont(f2)), waitMessages(1), closeNormally],
    expect: seq(T.text(f1 + f2), closedNormally),
  },
  {
    id: "5.4",
    description: "text in 2 fragments, sent frame by frame",
    steps: [...frameWise(text(f1, false), cont(f2)), waitMessages(1), closeNormally],
    expect: seq(T.text(f1 + f2), closedNormally),
  },
  {
    id: "5.5",
    description: "text in 2 fragments, sent one byte at a time",
    steps: [send(text(f1, false), cont(f2)), waitMessages(1), closeNormally],
    expect: seq(T.text(f1 + f2), closedNormally),
    chunkings: ["bytes"],
  },
  {
    id: "5.6",
    description: "text in 2 fragments with a ping in between: pong, then the message",
    steps: [send(text(f1, false), ping("ping payload"), cont(f2)), waitMessages(1), closeNormally],
    expect: seq(T.pong("ping payload"), T.text(f1 + f2), closedNormally),
  },
  {
    id: "5.7",
    description: "the same, frame by frame, the pong awaited before the last fragment",
    steps: [send(text(f1, false)), send(ping("ping payload")), waitPongs(1), send(cont(f2)), waitMessages(1), closeNormally],
    expect: seq(T.pong("ping payload"), T.text(f1 + f2), closedNormally),
  },
  {
    id: "5.8",
    description: "the same, one byte at a time",
    steps: [send(text(f1, false), ping("ping payload"), cont(f2)), waitMessages(1), closeNormally],
    expect: seq(T.pong("ping payload"), T.text(f1 + f2), closedNormally),
    chunkings: ["bytes"],
  },
  {
    id: "5.9",
    description: "a final continuation with nothing to continue, then a text",
    steps: [send(cont("non-continuation payload"), text(hello))],
    expect: failedWith(1002),
  },
  { id: "5.10", description: "the same, frame by frame", steps: frameWise(cont("non-continuation payload"), text(hello)), expect: failedWith(1002) },
  {
    id: "5.11",
    description: "the same, one byte at a time",
    steps: [send(cont("non-continuation payload"), text(hello))],
    expect: failedWith(1002),
    chunkings: ["bytes"],
  },
  {
    id: "5.12",
    description: "a non-final continuation with nothing to continue, then a text",
    steps: [send(cont("non-continuation payload", false), text(hello))],
    expect: failedWith(1002),
  },
  { id: "5.13", description: "the same, frame by frame", steps: frameWise(cont("non-continuation payload", false), text(hello)), expect: failedWith(1002) },
  {
    id: "5.14",
    description: "the same, one byte at a time",
    steps: [send(cont("non-continuation payload", false), text(hello))],
    expect: failedWith(1002),
    chunkings: ["bytes"],
  },
  {
    id: "5.15",
    description: "text in 2 fragments (echo awaited), then a non-final continuation with nothing to continue, then a text",
    steps: [send(text(f1, false), cont(f2)), waitMessages(1), send(cont("fragment3", false), text("fragment4"))],
    expect: seq(T.text(f1 + f2), failedWith(1002)),
  },
  {
    id: "5.15.b2b",
    description: "text in 2 fragments, a continuation with nothing to continue and a text, all in one write (Autobahn's sending)",
    steps: [send(text(f1, false), cont(f2), cont("fragment3", false), text("fragment4"))],
    expect: seq(T.text(f1 + f2), failedWith(1002)),
    nonStrict: failedWith(1002),
    chunkings: ["whole"],
  },
  {
    id: "5.16",
    description: "twice: a non-final continuation with nothing to continue, then text in 2 fragments",
    steps: [send(cont(f1, false), text(f2, false), cont("fragment3"), cont(f1, false), text(f2, false), cont("fragment3"))],
    expect: failedWith(1002),
  },
  {
    id: "5.17",
    description: "twice: a final continuation with nothing to continue, then text in 2 fragments",
    steps: [send(cont(f1), text(f2, false), cont("fragment3"), cont(f1), text(f2, false), cont("fragment3"))],
    expect: failedWith(1002),
  },
  {
    id: "5.18",
    description: "text in 2 fragments whose second fragment is a text frame too",
    steps: [send(text(f1, false), text(f2))],
    expect: failedWith(1002),
  },
  {
    id: "5.19",
    description: "text in 5 fragments with 2 pings in between; the first pong arrives before the message is complete",
    steps: [
      send(text("fragment1", false), cont("fragment2", false), ping("pongme 1!")),
      waitPongs(1),
      send(cont("fragment3", false), cont("fragment4", false), ping("pongme 2!"), cont("fragment5")),
      waitMessages(1),
      closeNormally,
    ],
    expect: seq(T.pong("pongme 1!"), T.pong("pongme 2!"), T.text("fragment1fragment2fragment3fragment4fragment5"), closedNormally),
  },
  {
    id: "5.20",
    description: "the same, one byte at a time",
    steps: [
      send(text("fragment1", false), cont("fragment2", false), ping("pongme 1!")),
      waitPongs(1),
      send(cont("fragment3", false), cont("fragment4", false), ping("pongme 2!"), cont("fragment5")),
      waitMessages(1),
      closeNormally,
    ],
    expect: seq(T.pong("pongme 1!"), T.pong("pongme 2!"), T.text("fragment1fragment2fragment3fragment4fragment5"), closedNormally),
    chunkings: ["bytes"],
  },
  // wsloop's own.
  {
    id: "5.21",
    description: "binary in 3 fragments of 40 KiB (larger than one read)",
    steps: [send(binary(bin(40960), false), cont(bin(40960), false), cont(bin(40960))), waitMessages(1), closeNormally],
    expect: seq(T.binary(Buffer.concat([bin(40960), bin(40960), bin(40960)])), closedNormally),
  },
  {
    id: "5.22",
    description: "a message of empty fragments and a final one: only the payload counts",
    steps: [send(binary("", false), cont("", false), cont("", false), cont(bin(3))), waitMessages(1), closeNormally],
    expect: seq(T.binary(bin(3)), closedNormally),
  },
  {
    id: "5.23",
    description: "9 fragments each followed by a ping whose pong is awaited, then the last fragment",
    steps: [
      ...Array.from({ length: 9 }, (_, i) => [send(i === 0 ? text(`f${i}`, false) : cont(`f${i}`, false), ping(`p${i}`)), waitPongs(i + 1)]).flat(),
      send(cont("f9")),
      waitMessages(1),
      closeNormally,
    ],
    expect: seq(...Array.from({ length: 9 }, (_, i) => T.pong(`p${i}`)), T.text("f0f1f2f3f4f5f6f7f8f9"), closedNormally),
  },
  {
    id: "5.24",
    description: "a close inside a fragmented message ends it: no echo of the half message",
    steps: [send(text(f1, false), close(1000))],
    expect: closedNormally,
  },
  {
    id: "5.25",
    description: "100 small messages back to back: every one echoed, in order",
    steps: [send(...Array.from({ length: 100 }, (_, i) => text(`m${i}`))), waitMessages(100), closeNormally],
    expect: seq(...Array.from({ length: 100 }, (_, i) => T.text(`m${i}`)), closedNormally),
  },
];
