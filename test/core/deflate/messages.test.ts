import { Buffer } from "node:buffer";
import { describe, expect, it } from "vitest";
import { Opcode } from "../../../src/core/frame.js";
import { WsloopUsageError } from "../../../src/core/errors.js";
import { fixedMaskSource, inbound, parseFrames, runAtEverySplit, type Role } from "../ws-session/harness.js";
import {
  ReferenceDeflater,
  ReferenceInflater,
  compressedFrames,
  deflateOptions,
  feedAll,
  keeperSession,
  noise,
  text,
  wire,
} from "./harness.js";

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ""), "hex");
/** A frame of RFC 7692 §7.2.3 as the peer of `role` sends it (masked to a server). */
function rfcFrame(role: Role, bytes: string): Buffer {
  const b = hex(bytes);
  const b0 = b[0]!;
  return inbound(role, { opcode: b0 & 0x0f, fin: (b0 & 0x80) !== 0, rsv: (b0 >> 4) & 7, payload: b.subarray(2) });
}
const HELLO = "48656c6c6f";

describe("receiving the examples of RFC 7692 §7.2.3", () => {
  const examples: Array<[string, string[], string[]]> = [
    ["§7.2.3.1 a message compressed in one frame", ["c1 07 f2 48 cd c9 c9 07 00"], [HELLO]],
    ["§7.2.3.1 the same message in two fragments", ["41 03 f2 48 cd", "80 04 c9 c9 07 00"], [HELLO]],
    ["§7.2.3.2 the second message taking over the first one's context", ["c1 07 f2 48 cd c9 c9 07 00", "c1 05 f2 00 11 00 00"], [HELLO, HELLO]],
    ["§7.2.3.3 a block with no compression", ["c1 0b 00 05 00 fa ff 48 65 6c 6c 6f 00"], [HELLO]],
    ["§7.2.3.4 a block with BFINAL set, then a new stream", ["c1 08 f3 48 cd c9 c9 07 00 00", "c1 07 f2 48 cd c9 c9 07 00"], [HELLO, HELLO]],
    ["§7.2.3.5 two blocks in one message", ["c1 0d f2 48 05 00 00 00 ff ff ca c9 c9 07 00"], [HELLO]],
    ["an empty message compressed (§7.2.3.6's 00)", ["c1 01 00"], [""]],
    ["an empty message with no compressed byte at all", ["c1 00"], [""]],
    ["an uncompressed message on a connection that negotiated compression", ["81 05 48 65 6c 6c 6f"], [HELLO]],
  ];
  for (const role of ["client", "server"] as const) {
    for (const [name, frames, messages] of examples) {
      for (const inflateChunk of [65536, 3, 1]) {
        it(`${name} (to a ${role}, inflating ${inflateChunk} bytes per call), at every split point`, () => {
          const input = Buffer.concat(frames.map((f) => rfcFrame(role, f)));
          const r = runAtEverySplit(role, input, deflateOptions({}, { inflateChunk }));
          expect(r.events).toEqual(messages.map((m) => ({ type: "message", binary: false, data: m })));
          expect(r.owed).toBe("");
        });
      }
    }
  }

  it("without context takeover a message that refers back to the previous one is invalid (1007)", () => {
    const input = Buffer.concat(["c1 07 f2 48 cd c9 c9 07 00", "c1 05 f2 00 11 00 00"].map((f) => rfcFrame("client", f)));
    const r = runAtEverySplit("client", input, deflateOptions({ serverNoContextTakeover: true }));
    expect(r.events).toEqual([
      { type: "message", binary: false, data: HELLO },
      { type: "error", code: 1007, tooLarge: null },
    ]);
  });
});

describe("sending", () => {
  it("compresses as RFC 7692 §7.2.3.2 shows, with and without context takeover", () => {
    const s = keeperSession("server", deflateOptions()).session;
    const bytes = wire(s, (out) => s.encodeData(out, Opcode.TEXT, Buffer.from("Hello")) + s.encodeData(out, Opcode.TEXT, Buffer.from("Hello")));
    expect(bytes.toString("hex")).toBe("c107f248cdc9c90700" + "c105f200110000");
    const n = keeperSession("server", deflateOptions({ serverNoContextTakeover: true })).session;
    const again = wire(n, (out) => n.encodeData(out, Opcode.TEXT, Buffer.from("Hello")) + n.encodeData(out, Opcode.TEXT, Buffer.from("Hello")));
    expect(again.toString("hex")).toBe("c107f248cdc9c90700".repeat(2));
  });

  it("masks the compressed payload on a client, RSV1 on the first frame only", () => {
    const key = [0x37, 0xfa, 0x21, 0x3d];
    const c = keeperSession("client", deflateOptions({}, {}, { maskSource: fixedMaskSource(key) })).session;
    const bytes = wire(c, (out) => c.encodeData(out, Opcode.BINARY, Buffer.from("Hello")));
    expect(parseFrames("client", bytes)).toEqual([{ fin: true, opcode: 2, masked: true, rsv1: true, payload: hex("f2 48 cd c9 c9 07 00") }]);
  });

  it("sends an empty message as the single byte 00", () => {
    for (const takeover of [true, false]) {
      const s = keeperSession("server", deflateOptions({ serverNoContextTakeover: !takeover })).session;
      const bytes = wire(s, (out) => s.encodeData(out, Opcode.TEXT, Buffer.alloc(0)) + s.encodeData(out, Opcode.TEXT, Buffer.alloc(0)));
      expect(bytes.toString("hex")).toBe("c10100c10100");
    }
  });

  it("fragments: RSV1 on the first frame only, the flush marker kept inside the message, taken off its end", () => {
    const s = keeperSession("server", deflateOptions()).session;
    const bytes = wire(
      s,
      (out) =>
        s.encodeData(out, Opcode.TEXT, Buffer.from("Hel"), false) +
        s.encodeData(out, Opcode.CONTINUATION, Buffer.from("lo"), false) +
        s.encodeData(out, Opcode.CONTINUATION, Buffer.alloc(0), true),
    );
    const frames = parseFrames("server", bytes);
    expect(frames.map((f) => [f.opcode, f.fin, f.rsv1])).toEqual([
      [1, false, true],
      [0, false, false],
      [0, true, false],
    ]);
    expect(frames[1]!.payload.subarray(-4).toString("hex")).toBe("0000ffff");
    // The empty last fragment: RFC 7692 §7.2.3.6's single 00 byte.
    expect(frames[2]!.payload.toString("hex")).toBe("00");
    const c = keeperSession("client", deflateOptions());
    feedAll(c.session, [bytes]);
    expect(c.keeper.messages().map((m) => m.data.toString())).toEqual(["Hello"]);
  });

  it("splits a compressed message by maxOutgoingFrame, RSV1 on the first frame only", () => {
    const message = noise(1000);
    const s = keeperSession("server", deflateOptions({}, {}, { maxOutgoingFrame: 300 })).session;
    const frames = parseFrames("server", wire(s, (out) => s.encodeData(out, Opcode.BINARY, message)));
    expect(frames.length).toBe(4); // 1000 bytes of noise compress to a bit more
    expect(frames.map((f) => f.rsv1)).toEqual([true, false, false, false]);
    expect(frames.map((f) => f.payload.length <= 300)).toEqual([true, true, true, true]);
    expect(new ReferenceInflater().inflate(Buffer.concat(frames.map((f) => f.payload)))).toEqual(message);
    // A fragment the caller sends is split too.
    const f2 = parseFrames("server", wire(s, (out) => s.encodeData(out, Opcode.BINARY, message, false) + s.encodeData(out, Opcode.CONTINUATION, message, true)));
    expect(f2[0]!.rsv1).toBe(true);
    expect(f2.slice(1).every((f) => !f.rsv1 && f.opcode === 0)).toBe(true);
  });

  it("leaves messages under the threshold uncompressed; a write can insist either way", () => {
    const s = keeperSession("server", deflateOptions({}, { threshold: 10 })).session;
    const rsv = (encode: (out: Uint8Array[]) => number): boolean[] => parseFrames("server", wire(s, encode)).map((f) => f.rsv1);
    expect(rsv((out) => s.encodeData(out, Opcode.TEXT, Buffer.from("short")))).toEqual([false]);
    expect(rsv((out) => s.encodeData(out, Opcode.TEXT, Buffer.from("long enough")))).toEqual([true]);
    expect(rsv((out) => s.encodeData(out, Opcode.TEXT, Buffer.from("short"), true, { compress: true }))).toEqual([true]);
    expect(rsv((out) => s.encodeData(out, Opcode.TEXT, Buffer.from("long enough"), true, { compress: false }))).toEqual([false]);
    // The first fragment decides for the whole message.
    expect(
      rsv((out) => s.encodeData(out, Opcode.TEXT, Buffer.from("short"), false) + s.encodeData(out, Opcode.CONTINUATION, Buffer.from("long enough, but a continuation"))),
    ).toEqual([false, false]);
    s.encodeData([], Opcode.TEXT, Buffer.from("a"), false, { compress: true });
    expect(() => s.encodeData([], Opcode.CONTINUATION, Buffer.from("b"), true, { compress: false })).toThrow(WsloopUsageError);
    // Without permessage-deflate the choice is ignored.
    const plain = keeperSession("server").session;
    expect(parseFrames("server", wire(plain, (out) => plain.encodeData(out, Opcode.TEXT, Buffer.from("x"), true, { compress: true })))[0]!.rsv1).toBe(false);
    expect(plain.deflate).toBeNull();
  });

  it("per-connection tuning applies from the next message, and the peer reads every one", () => {
    const s = keeperSession("server", deflateOptions()).session;
    const c = keeperSession("client", deflateOptions());
    const m = text(2000, 3);
    const sizes: number[] = [];
    const send = (): void => {
      const bytes = wire(s, (out) => s.encodeData(out, Opcode.TEXT, m));
      sizes.push(bytes.length);
      feedAll(c.session, [bytes]);
    };
    send();
    send(); // context takeover: the second costs a few bytes
    s.setDeflateOptions({ level: 0 }); // stored blocks, fresh context
    send();
    s.setDeflateOptions({ level: 9, memLevel: 9, windowBits: 9 });
    send();
    send();
    s.setDeflateOptions({ threshold: 5000 });
    send();
    expect(c.keeper.messages().map((x) => x.data.equals(m))).toEqual([true, true, true, true, true, true]);
    expect(sizes[1]!).toBeLessThan(40);
    expect(sizes[2]!).toBeGreaterThan(2000);
    expect(sizes[5]!).toBe(2000 + 4); // not compressed: the plain frame
    expect(s.deflate!.tuning).toMatchObject({ level: 9, memLevel: 9, windowBits: 9, threshold: 5000 });
    expect(() => s.setDeflateOptions({ level: 11 })).toThrow(WsloopUsageError);
    expect(() => keeperSession("server").session.setDeflateOptions({ level: 1 })).toThrow(WsloopUsageError);
  });

  it("tuning changed in the middle of a fragmented message waits for its end", () => {
    const s = keeperSession("server", deflateOptions()).session;
    const c = keeperSession("client", deflateOptions());
    const bytes = wire(s, (out) => {
      let n = s.encodeData(out, Opcode.TEXT, Buffer.from("abcabcabc"), false);
      s.setDeflateOptions({ level: 1 });
      n += s.encodeData(out, Opcode.CONTINUATION, Buffer.from("abcabc"), true);
      n += s.encodeData(out, Opcode.TEXT, Buffer.from("abcabcabc"));
      return n;
    });
    feedAll(c.session, [bytes]);
    expect(c.keeper.messages().map((x) => x.data.toString())).toEqual(["abcabcabcabcabc", "abcabcabc"]);
  });
});

describe("round trips", () => {
  const sizes = [0, 1, 2, 125, 126, 127, 1000, 65535, 65536, 65537, 300_000, 1 << 20];
  for (const takeover of [true, false]) {
    for (const kind of ["text", "binary", "noise"] as const) {
      it(`${kind}, 0 B to 1 MiB, ${takeover ? "with" : "without"} context takeover, both ways, against Node's zlib`, () => {
        const agreed = { serverNoContextTakeover: !takeover, clientNoContextTakeover: !takeover };
        const server = keeperSession("server", deflateOptions(agreed));
        const client = keeperSession("client", deflateOptions(agreed));
        // A context is one sender's: Node's compressor talks to a server of its own.
        const nodeServer = keeperSession("server", deflateOptions(agreed));
        const toClient = new ReferenceInflater(takeover);
        const fromServer = new ReferenceDeflater(takeover);
        const payloads = sizes.map((n, i) => (kind === "text" ? text(n, i) : kind === "binary" ? Buffer.alloc(n, i) : noise(n, i + 1)));
        const opcode = kind === "text" ? Opcode.TEXT : Opcode.BINARY;
        for (const p of payloads) {
          // Our compressor, read back by Node's one-shot inflate and by our client.
          const bytes = wire(server.session, (out) => server.session.encodeData(out, opcode, p));
          const frames = parseFrames("server", bytes);
          expect(frames.length).toBe(1);
          expect(frames[0]!.rsv1).toBe(true);
          expect(toClient.inflate(frames[0]!.payload).equals(p)).toBe(true);
          feedAll(client.session, [bytes]);
          // Node's compressor, read by our server (masked, as a client sends).
          feedAll(nodeServer.session, [compressedFrames("server", opcode, fromServer.compress(p))]);
          // And our client's compressor to our server.
          feedAll(server.session, [wire(client.session, (out) => client.session.encodeData(out, opcode, p))]);
        }
        const got = client.keeper.messages();
        expect(got.length).toBe(payloads.length);
        got.forEach((m, i) => expect(m.data.equals(payloads[i]!), `size ${sizes[i]}`).toBe(true));
        for (const receiver of [server, nodeServer]) {
          const back = receiver.keeper.messages();
          expect(back.length).toBe(payloads.length);
          back.forEach((m, i) => expect(m.data.equals(payloads[i]!), `size ${sizes[i]}`).toBe(true));
          expect(receiver.keeper.errors()).toEqual([]);
        }
        expect(client.keeper.errors()).toEqual([]);
      });
    }
  }

  it("16 MiB of text with context takeover, both ways, in 64 KiB reads", () => {
    const big = text(16 * 1024 * 1024, 5);
    const server = keeperSession("server", deflateOptions());
    const client = keeperSession("client", deflateOptions());
    const bytes = wire(server.session, (out) => server.session.encodeData(out, Opcode.TEXT, big));
    const reads: Buffer[] = [];
    for (let i = 0; i < bytes.length; i += 65536) reads.push(bytes.subarray(i, i + 65536));
    const calls = feedAll(client.session, reads);
    expect(client.keeper.errors()).toEqual([]);
    expect(client.keeper.messages()[0]!.data.equals(big)).toBe(true);
    // At most 64 KiB inflated per call: 16 MiB take at least 256 calls.
    expect(calls).toBeGreaterThanOrEqual(256);
    feedAll(server.session, [compressedFrames("server", Opcode.TEXT, new ReferenceDeflater().compress(big), 1 << 20)]);
    expect(server.keeper.messages()[0]!.data.equals(big)).toBe(true);
  });

  it("16 MiB of noise without context takeover, split into 1 MiB frames, in fragment delivery", () => {
    const big = noise(16 * 1024 * 1024, 3);
    const agreed = { serverNoContextTakeover: true, clientNoContextTakeover: true };
    const client = keeperSession("client", deflateOptions(agreed, { level: 1 }, { maxOutgoingFrame: 1 << 20 }));
    const server = keeperSession("server", deflateOptions(agreed, {}, { delivery: "fragment" }));
    const bytes = wire(client.session, (out) => client.session.encodeData(out, Opcode.BINARY, big));
    feedAll(server.session, [bytes]);
    const pieces = server.keeper.got.filter((g) => g.type === "fragment");
    expect(pieces.every((g) => g.data.length <= 65536)).toBe(true);
    expect(server.keeper.messages()[0]!.data.equals(big)).toBe(true);
    expect(server.session.deflate!.holds).toEqual({ deflater: false, inflater: false });
  });
});

describe("fragmented compressed messages", () => {
  const messages = [text(40, 1), text(40, 1), Buffer.from("Hello"), text(200, 9)];
  for (const role of ["client", "server"] as const) {
    for (const takeover of [true, false]) {
      it(`to a ${role}, ${takeover ? "with" : "without"} takeover, in 1-7 byte fragments, at every split point`, () => {
        const ref = new ReferenceDeflater(takeover);
        const agreed = role === "client" ? { serverNoContextTakeover: !takeover } : { clientNoContextTakeover: !takeover };
        const input = Buffer.concat(
          messages.slice(0, 3).map((m, i) => compressedFrames(role, Opcode.TEXT, ref.compress(m), [1, 3, 7][i])),
        );
        for (const inflateChunk of [65536, 5]) {
          const r = runAtEverySplit(role, input, deflateOptions(agreed, { inflateChunk }));
          expect(r.events).toEqual(messages.slice(0, 3).map((m) => ({ type: "message", binary: false, data: m.toString("hex") })));
        }
      });
    }
  }

  it("control frames between compressed fragments, fragment delivery with pieces joined", () => {
    const ref = new ReferenceDeflater();
    const compressed = ref.compress(text(3000, 4));
    const cut = [0, 5, 900, compressed.length];
    for (const inflateChunk of [65536, 100]) {
      // Fresh frames each time: receiving unmasks them in place.
      const frames = [
        inbound("server", { opcode: Opcode.TEXT, rsv: 4, fin: false, payload: compressed.subarray(cut[0], cut[1]) }),
        inbound("server", { opcode: Opcode.PING, payload: "p" }),
        inbound("server", { opcode: Opcode.CONTINUATION, fin: false, payload: compressed.subarray(cut[1], cut[2]) }),
        inbound("server", { opcode: Opcode.CONTINUATION, fin: true, payload: compressed.subarray(cut[2], cut[3]) }),
      ];
      const s = keeperSession("server", deflateOptions({}, { inflateChunk }, { delivery: "fragment" }));
      feedAll(s.session, frames);
      const got = s.keeper.got;
      expect(got.filter((g) => g.type === "ping").length).toBe(1);
      const pieces = got.filter((g) => g.type === "fragment");
      expect(pieces[0]!.info.first).toBe(true);
      expect(pieces.slice(1).every((g) => g.type === "fragment" && !g.info.first)).toBe(true);
      expect(pieces.map((g) => g.type === "fragment" && g.info.final)).toEqual(pieces.map((_, i) => i === pieces.length - 1));
      expect(pieces.every((g) => g.data.length <= inflateChunk)).toBe(true);
      expect(s.keeper.messages()[0]!.data.equals(text(3000, 4))).toBe(true);
    }
  });

  it("our own fragmented sends, every fragment shape, read by our peer and by Node's zlib", () => {
    const m = text(500, 2);
    for (const takeover of [true, false]) {
      const agreed = { serverNoContextTakeover: !takeover, clientNoContextTakeover: !takeover };
      const c = keeperSession("client", deflateOptions(agreed));
      const s = keeperSession("server", deflateOptions(agreed));
      const ref = new ReferenceInflater(takeover);
      for (const cuts of [[0, 500], [0, 0, 500], [0, 250, 500], [0, 1, 2, 499, 500, 500], [0, 100, 200, 300, 400, 500]]) {
        const bytes = wire(c.session, (out) => {
          let n = 0;
          for (let i = 0; i + 1 < cuts.length; i++) {
            n += c.session.encodeData(out, i === 0 ? Opcode.TEXT : Opcode.CONTINUATION, m.subarray(cuts[i], cuts[i + 1]), i + 2 === cuts.length);
          }
          return n;
        });
        const frames = parseFrames("client", bytes);
        expect(ref.inflate(Buffer.concat(frames.map((f) => f.payload))).equals(m)).toBe(true);
        feedAll(s.session, [bytes]);
      }
      expect(s.keeper.messages().map((x) => x.data.equals(m))).toEqual([true, true, true, true, true]);
    }
  });
});
