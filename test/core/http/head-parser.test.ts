import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { WsloopUsageError } from "../../../src/core/errors.js";
import {
  RequestHeadParser,
  ResponseHeadParser,
  type HeadParseResult,
  type HeadParserOptions,
} from "../../../src/core/http/head-parser.js";
import { TCHAR } from "../../../src/core/http/headers.js";

type Parser = { push(chunk: Buffer): HeadParseResult<object> };

/** Every way this test feeds a head: whole, byte by byte, and cut once at each point. */
function feedings(bytes: Buffer): Buffer[][] {
  const out: Buffer[][] = [[bytes]];
  const single: Buffer[] = [];
  for (let i = 0; i < bytes.length; i++) single.push(bytes.subarray(i, i + 1));
  out.push(single);
  for (let cut = 1; cut < bytes.length; cut++) out.push([bytes.subarray(0, cut), bytes.subarray(cut)]);
  return out;
}

/**
 * Feed chunks until the parser answers; the result in a comparable form, with `rest`
 * extended by the chunks that were never pushed (they follow the head too).
 */
function run(make: () => Parser, chunks: Buffer[]): unknown {
  const parser = make();
  for (let i = 0; i < chunks.length; i++) {
    const r = parser.push(chunks[i]!);
    if (r.kind === "incomplete") continue;
    if (r.kind === "error") return r;
    const { headers, ...rest } = r.head as { headers: Iterable<[string, string]> };
    return {
      kind: "done",
      head: { ...rest, headers: [...headers] },
      rest: Buffer.concat([r.rest, ...chunks.slice(i + 1)]).toString("latin1"),
    };
  }
  return { kind: "incomplete" };
}

/** The result, after checking that every way of splitting the input gives the same one. */
function parseEverySplit(make: () => Parser, input: string | Buffer): any {
  const bytes = typeof input === "string" ? Buffer.from(input, "latin1") : input;
  const whole = run(make, [bytes]);
  for (const chunks of feedings(bytes)) expect(run(make, chunks)).toEqual(whole);
  return whole;
}

const req = (o?: HeadParserOptions) => () => new RequestHeadParser(o);
const res = (o?: HeadParserOptions) => () => new ResponseHeadParser(o);
const parseRequest = (s: string | Buffer, o?: HeadParserOptions) => parseEverySplit(req(o), s);
const parseResponse = (s: string | Buffer, o?: HeadParserOptions) => parseEverySplit(res(o), s);

function expectError(r: any, status: number, message: RegExp | string): void {
  expect(r.kind).toBe("error");
  expect(r.status).toBe(status);
  if (typeof message === "string") expect(r.message).toContain(message);
  else expect(r.message).toMatch(message);
}

const UPGRADE =
  "GET /chat?room=1 HTTP/1.1\r\n" +
  "Host: server.example.com\r\n" +
  "Upgrade: websocket\r\n" +
  "Connection: Upgrade\r\n" +
  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
  "Sec-WebSocket-Version: 13\r\n" +
  "\r\n";

describe("RequestHeadParser: well-formed requests", () => {
  it("parses the request line and the headers in received order and case", () => {
    const r = parseRequest(UPGRADE);
    expect(r).toEqual({
      kind: "done",
      head: {
        method: "GET",
        target: "/chat?room=1",
        versionMajor: 1,
        versionMinor: 1,
        headers: [
          ["Host", "server.example.com"],
          ["Upgrade", "websocket"],
          ["Connection", "Upgrade"],
          ["Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="],
          ["Sec-WebSocket-Version", "13"],
        ],
      },
      rest: "",
    });
  });

  it("returns the bytes after the blank line intact, e.g. a frame sent right after the request", () => {
    const frame = Buffer.from([0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);
    const r = parseRequest(Buffer.concat([Buffer.from(UPGRADE), frame]));
    expect(r.kind).toBe("done");
    expect(Buffer.from(r.rest, "latin1")).toEqual(frame);
  });

  it("returns rest as a view of the last chunk, not a copy", () => {
    const chunk = Buffer.from(UPGRADE + "BODY");
    const r = new RequestHeadParser().push(chunk);
    if (r.kind !== "done") throw new Error("expected done");
    expect(r.rest.buffer).toBe(chunk.buffer);
    expect(r.rest.byteOffset).toBe(chunk.byteOffset + UPGRADE.length);
    expect(r.rest.toString()).toBe("BODY");
  });

  it("accepts bare LF as a line end (RFC 7230 §3.5)", () => {
    const r = parseRequest("GET / HTTP/1.1\nHost: a\r\nX: 1\n\nrest");
    expect(r.kind).toBe("done");
    expect(r.head.headers).toEqual([["Host", "a"], ["X", "1"]]);
    expect(r.rest).toBe("rest");
  });

  it("skips empty lines before the request line", () => {
    const r = parseRequest("\r\n\nGET / HTTP/1.1\r\nHost: a\r\n\r\n");
    expect(r.kind).toBe("done");
    expect(r.head.method).toBe("GET");
  });

  it("trims optional whitespace (spaces and tabs) around values and keeps inner whitespace", () => {
    const r = parseRequest("GET / HTTP/1.1\r\nA: \t x \t y\t \r\nB:\r\nC:z\r\n\r\n");
    expect(r.head.headers).toEqual([["A", "x \t y"], ["B", ""], ["C", "z"]]);
  });

  it("keeps obs-text bytes in values, one character per byte", () => {
    const r = parseRequest(Buffer.concat([Buffer.from("GET / HTTP/1.1\r\nX: a"), Buffer.from([0xe9, 0xff]), Buffer.from("\r\n\r\n")]));
    expect(r.head.headers).toEqual([["X", "a\u00e9\u00ff"]]);
  });

  it("accepts any token as a method and HTTP/1.0", () => {
    const r = parseRequest("M-SEARCH * HTTP/1.0\r\n\r\n");
    expect(r.head).toMatchObject({ method: "M-SEARCH", target: "*", versionMajor: 1, versionMinor: 0 });
  });

  it("accepts identical Content-Length values, repeated or as a list", () => {
    expect(parseRequest("POST / HTTP/1.1\r\nContent-Length: 5\r\ncontent-length: 5, 05\r\n\r\n").kind).toBe("done");
  });

  it("answers incomplete to an empty chunk and to a head without its blank line", () => {
    const p = new RequestHeadParser();
    expect(p.push(Buffer.alloc(0))).toEqual({ kind: "incomplete" });
    expect(p.push(Buffer.from("GET / HTTP/1.1\r\nHost: a\r\n"))).toEqual({ kind: "incomplete" });
    expect(p.push(Buffer.from("\r\n")).kind).toBe("done");
  });
});

describe("RequestHeadParser: malformed requests", () => {
  it("answers 400 to a bare CR not followed by LF, in a value and in the request line", () => {
    expectError(parseRequest("GET / HTTP/1.1\r\nX: a\rb\r\n\r\n"), 400, "bare CR not followed by LF in line 2");
    expectError(parseRequest("GET /\r HTTP/1.1\r\n\r\n"), 400, "bare CR");
    expectError(parseRequest("GET / HTTP/1.1\r\r\n\r\n"), 400, "bare CR");
  });

  it("answers 400 to a NUL anywhere", () => {
    expectError(parseRequest("GET /\0 HTTP/1.1\r\n\r\n"), 400, "NUL byte in line 1");
    expectError(parseRequest("GET / HTTP/1.1\r\nX\0: a\r\n\r\n"), 400, "NUL byte in line 2");
    expectError(parseRequest("GET / HTTP/1.1\r\nX: a\0\r\n\r\n"), 400, "NUL byte");
  });

  it("answers 400 to obsolete line folding", () => {
    expectError(parseRequest("GET / HTTP/1.1\r\nX: a\r\n  b\r\n\r\n"), 400, "obsolete header line folding");
    expectError(parseRequest("GET / HTTP/1.1\r\nX: a\r\n\tb\r\n\r\n"), 400, "line 3 starts with whitespace");
  });

  it("answers 400 to whitespace between the header name and the colon", () => {
    expectError(parseRequest("GET / HTTP/1.1\r\nHost : a\r\n\r\n"), 400, 'whitespace between the field name "Host" and the colon');
    expectError(parseRequest("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n"), 400, "whitespace between");
  });

  it("answers 400 to a header name that is not a token, empty, or without a colon", () => {
    expectError(parseRequest("GET / HTTP/1.1\r\nHo@st: a\r\n\r\n"), 400, "0x40, which is not a token character");
    expectError(parseRequest("GET / HTTP/1.1\r\n: a\r\n\r\n"), 400, "empty field name");
    expectError(parseRequest("GET / HTTP/1.1\r\nHost a\r\n\r\n"), 400, "0x20, which is not a token character");
    expectError(parseRequest("GET / HTTP/1.1\r\nHost\r\n\r\n"), 400, 'header line 2 "Host" has no colon');
  });

  it("answers 400 to control characters in a value, except HTAB", () => {
    expectError(parseRequest("GET / HTTP/1.1\r\nX: a\x01b\r\n\r\n"), 400, 'header "X" (line 2): value contains control character 0x01');
    expectError(parseRequest("GET / HTTP/1.1\r\nX: a\x7fb\r\n\r\n"), 400, "control character 0x7f");
    expect(parseRequest("GET / HTTP/1.1\r\nX: a\tb\r\n\r\n").kind).toBe("done");
  });

  it("answers 400 to a method that is not a token or is empty", () => {
    expectError(parseRequest("G(T / HTTP/1.1\r\n\r\n"), 400, "method \"G(T\" contains 0x28");
    expectError(parseRequest(" / HTTP/1.1\r\n\r\n"), 400, "empty method");
  });

  it("answers 400 to a request-target with whitespace, controls or non-ASCII", () => {
    expectError(parseRequest("GET /a b HTTP/1.1\r\n\r\n"), 400, 'malformed HTTP version "b HTTP/1.1"');
    expectError(parseRequest("GET /a\x7f HTTP/1.1\r\n\r\n"), 400, "request-target contains byte 0x7f");
    expectError(parseRequest("GET /a\tb HTTP/1.1\r\n\r\n"), 400, "request-target contains byte 0x09");
    expectError(parseRequest(Buffer.from("GET /\u00e9 HTTP/1.1\r\n\r\n", "utf8")), 400, "request-target contains byte 0xc3");
    expectError(parseRequest("GET  / HTTP/1.1\r\n\r\n"), 400, "empty request-target");
  });

  it("answers 400 to a request line without version or spaces", () => {
    expectError(parseRequest("GET /\r\n\r\n"), 400, "has no HTTP version");
    expectError(parseRequest("GET\r\n\r\n"), 400, "has no spaces");
  });

  it("answers 400 to a malformed version", () => {
    for (const v of ["HTTP/1.10", "http/1.1", "HTTP/1", "HTTP/1.1 ", "HTTPS/1.1"]) {
      expectError(parseRequest(`GET / ${v}\r\n\r\n`), 400, `malformed HTTP version ${JSON.stringify(v)}`);
    }
  });

  it("answers 505 to an HTTP version other than 1.x", () => {
    expectError(parseRequest("GET / HTTP/2.0\r\n\r\n"), 505, "HTTP version HTTP/2.0 is not supported");
    expectError(parseRequest("GET / HTTP/0.9\r\n\r\n"), 505, "only HTTP/1.x");
  });

  it("names the first rule a line breaks, in a fixed order: NUL, then bare CR, then the grammar", () => {
    // Each line breaks two rules; the message must not depend on which one a scan meets first.
    expectError(parseRequest("GET / HTTP/1.1\r\nX: a\x01b\0\r\n\r\n"), 400, "NUL byte in line 2");
    expectError(parseRequest("GET / HTTP/1.1\r\nX\x01: a\rb\r\n\r\n"), 400, "bare CR not followed by LF in line 2");
    expectError(parseRequest("GET / HTTP/1.1\r\n Ho@st: a\r\n\r\n"), 400, "line 2 starts with whitespace");
    expectError(parseRequest("G(T /\r HTTP/1.1\r\n\r\n"), 400, "bare CR not followed by LF in line 1");
    expectError(parseRequest("G(T /\x7f HTTP/1.1\r\n\r\n"), 400, 'method "G(T" contains 0x28');
  });

  it("answers 400 to a request with both Content-Length and Transfer-Encoding", () => {
    expectError(
      parseRequest("POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"),
      400,
      "both Content-Length and Transfer-Encoding",
    );
  });

  it("answers 400 to differing or invalid Content-Length values", () => {
    expectError(parseRequest("POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n"), 400, "differing Content-Length values: 3, 4");
    expectError(parseRequest("POST / HTTP/1.1\r\nContent-Length: 3, 4\r\n\r\n"), 400, "differing Content-Length");
    expectError(parseRequest("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"), 400, 'invalid Content-Length "-1"');
    expectError(parseRequest("POST / HTTP/1.1\r\nContent-Length: \r\n\r\n"), 400, "invalid Content-Length");
  });
});

describe("RequestHeadParser: limits", () => {
  it("answers 414 to a request-target over maxTargetLength, and accepts one exactly at it", () => {
    const at = "/" + "a".repeat(99);
    expect(parseRequest(`GET ${at} HTTP/1.1\r\n\r\n`, { maxTargetLength: 100 }).kind).toBe("done");
    expectError(parseRequest(`GET ${at}a HTTP/1.1\r\n\r\n`, { maxTargetLength: 100 }), 414, "request-target is longer than 100 bytes");
  });

  it("answers 414 while a huge target is still arriving, once the head limit is crossed", () => {
    const p = new RequestHeadParser({ maxHeadBytes: 100, maxTargetLength: 50 });
    expect(p.push(Buffer.from("GET /" + "a".repeat(95))).kind).toBe("incomplete");
    expectError(p.push(Buffer.from("a")), 414, "longer than 50 bytes");
  });

  it("answers 431 as soon as the head crosses maxHeadBytes, without waiting for its end", () => {
    const p = new RequestHeadParser({ maxHeadBytes: 64 });
    const start = "GET / HTTP/1.1\r\nX: ";
    expect(p.push(Buffer.from(start + "a".repeat(64 - start.length))).kind).toBe("incomplete");
    expectError(p.push(Buffer.from("a")), 431, "request head is over 64 bytes (at line 2)");
  });

  it("counts every byte up to the blank line against maxHeadBytes, accepting a head exactly at the limit", () => {
    const head = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    expect(parseRequest(head + "body", { maxHeadBytes: head.length }).kind).toBe("done");
    expectError(parseRequest(head, { maxHeadBytes: head.length - 1 }), 431, "over");
  });

  it("counts empty lines before the request line against maxHeadBytes", () => {
    expectError(parseRequest("\r\n".repeat(20), { maxHeadBytes: 30 }), 431, "(in the start line)");
  });

  it("answers 431 to more than maxHeaderCount fields, and accepts exactly that many", () => {
    const lines = (n: number) => Array.from({ length: n }, (_, i) => `X-${i}: ${i}\r\n`).join("");
    expect(parseRequest(`GET / HTTP/1.1\r\n${lines(5)}\r\n`, { maxHeaderCount: 5 }).kind).toBe("done");
    expectError(parseRequest(`GET / HTTP/1.1\r\n${lines(6)}\r\n`, { maxHeaderCount: 5 }), 431, "more than 5 header fields");
  });

  it("handles a head trickled in one byte at a time in linear time", () => {
    const size = 256 * 1024;
    const p = new RequestHeadParser({ maxHeadBytes: size + 64 });
    const head = Buffer.from(`GET / HTTP/1.1\r\nX: ${"v".repeat(size)}\r\n\r\n`);
    const started = performance.now();
    let r: HeadParseResult<unknown> = { kind: "incomplete" };
    for (let i = 0; i < head.length; i++) r = p.push(head.subarray(i, i + 1));
    expect(r.kind).toBe("done");
    // A parser that re-scanned its held bytes on every push would need ~3e10 steps here.
    expect(performance.now() - started).toBeLessThan(5000);
  });

  it("refuses options that are not positive integers", () => {
    expect(() => new RequestHeadParser({ maxHeadBytes: 0 })).toThrow(/maxHeadBytes must be a positive integer/);
    expect(() => new ResponseHeadParser({ maxHeaderCount: 1.5 })).toThrow(WsloopUsageError);
  });
});

describe("head parsers: state", () => {
  it("throws INVALID_STATE when pushed to after done", () => {
    const p = new RequestHeadParser();
    expect(p.push(Buffer.from(UPGRADE)).kind).toBe("done");
    expect(() => p.push(Buffer.from("x"))).toThrow(WsloopUsageError);
    try {
      p.push(Buffer.from("x"));
    } catch (e) {
      expect((e as WsloopUsageError).code).toBe("INVALID_STATE");
    }
  });

  it("throws INVALID_STATE when pushed to after an error", () => {
    const p = new ResponseHeadParser();
    expect(p.push(Buffer.from("nonsense\r\n")).kind).toBe("error");
    expect(() => p.push(Buffer.from("x"))).toThrow(/already returned its result/);
  });
});

describe("ResponseHeadParser", () => {
  const OK =
    "HTTP/1.1 101 Switching Protocols\r\n" +
    "Upgrade: websocket\r\n" +
    "Connection: Upgrade\r\n" +
    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" +
    "\r\n";

  it("parses the status line and the headers, and returns the bytes after the head", () => {
    const r = parseResponse(OK + "\x81\x02hi");
    expect(r).toEqual({
      kind: "done",
      head: {
        versionMajor: 1,
        versionMinor: 1,
        status: 101,
        reason: "Switching Protocols",
        headers: [
          ["Upgrade", "websocket"],
          ["Connection", "Upgrade"],
          ["Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="],
        ],
      },
      rest: "\x81\x02hi",
    });
  });

  it("accepts a status line with an empty or missing reason phrase", () => {
    expect(parseResponse("HTTP/1.1 101 \r\n\r\n").head.reason).toBe("");
    expect(parseResponse("HTTP/1.1 101\r\n\r\n").head).toMatchObject({ status: 101, reason: "" });
    expect(parseResponse("HTTP/1.0 404 Not  Found\r\n\r\n").head).toMatchObject({ versionMinor: 0, reason: "Not  Found" });
  });

  it("keeps the reason phrase as received: tabs, trailing spaces, obs-text", () => {
    expect(parseResponse("HTTP/1.1 200 \tO\xe9 K \r\n\r\n").head.reason).toBe("\tO\xe9 K ");
    expect(parseResponse("HTTP/1.9 099 x\n\n").head).toMatchObject({ versionMinor: 9, status: 99, reason: "x" });
  });

  it("reports every error with status 0", () => {
    expectError(parseResponse("ICY 200 OK\r\n\r\n"), 0, 'malformed status line "ICY 200 OK"');
    expectError(parseResponse("HTTP/1.1 1010 X\r\n\r\n"), 0, "malformed status line");
    expectError(parseResponse("HTTP/1.1 abc\r\n\r\n"), 0, "malformed status line");
    expectError(parseResponse("HTTP/2.0 101 X\r\n\r\n"), 0, "response version HTTP/2.0 is not HTTP/1.x");
    expectError(parseResponse("HTTP/1.1 101 X\x01\r\n\r\n"), 0, "reason phrase contains control character 0x01");
    expectError(parseResponse("HTTP/1.1 101 X\r\nA: b\r\n c\r\n\r\n"), 0, "obsolete header line folding");
    expectError(parseResponse("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"), 0, "differing Content-Length");
    expectError(parseResponse(OK, { maxHeadBytes: 40 }), 0, "response head is over 40 bytes");
    expectError(parseResponse("HTTP/1.1 101 X\r\nA: 1\r\nB: 2\r\n\r\n", { maxHeaderCount: 1 }), 0, "more than 1 header fields");
  });

  it("allows Content-Length with Transfer-Encoding in a response, where Transfer-Encoding governs", () => {
    expect(parseResponse("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n").kind).toBe("done");
  });
});

describe("head parsers: property tests", () => {
  const chunked = (bytes: Uint8Array, cuts: number[]): Buffer[] => {
    const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
    const out: Buffer[] = [];
    let from = 0;
    for (const p of [...points, bytes.length]) {
      out.push(Buffer.from(bytes.subarray(from, p)));
      from = p;
    }
    return out;
  };
  const prefixes = ["", "GET / HTTP/1.1\r\n", "HTTP/1.1 101 OK\r\n", "GET / HTTP/1.1\r\nHost: a\r\n"];

  it("never throws on random bytes, only answers incomplete, done or error", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...prefixes),
        fc.uint8Array({ maxLength: 400 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        fc.boolean(),
        (prefix, random, cuts, request) => {
          const bytes = Buffer.concat([Buffer.from(prefix), random]);
          const p = request ? new RequestHeadParser({ maxHeadBytes: 256 }) : new ResponseHeadParser({ maxHeadBytes: 256 });
          for (const chunk of chunked(bytes, cuts)) {
            const r = p.push(chunk);
            expect(["incomplete", "done", "error"]).toContain(r.kind);
            if (r.kind !== "incomplete") break;
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  const tokenChars = [...Array(256).keys()].filter((c) => TCHAR[c] === 1).map((c) => String.fromCharCode(c));
  const token = fc.string({ unit: fc.constantFrom(...tokenChars), minLength: 1, maxLength: 12 });
  const visible = fc.string({ unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)), minLength: 1, maxLength: 10 });
  // Field content: visible ASCII and obs-text, words joined by spaces and tabs.
  const fieldWord = fc.string({
    unit: fc.oneof(fc.integer({ min: 0x21, max: 0x7e }), fc.integer({ min: 0x80, max: 0xff })).map((c) => String.fromCharCode(c)),
    minLength: 1,
    maxLength: 10,
  });
  const value = fc.oneof(
    fc.constant(""),
    fc
      .tuple(fc.array(fieldWord, { minLength: 1, maxLength: 4 }), fc.constantFrom(" ", "\t", " \t "))
      .map(([words, blank]) => words.join(blank)),
  );
  const header = fc.tuple(token, value).filter(([n]) => !["content-length", "transfer-encoding"].includes(n.toLowerCase()));

  it("round-trips the headers of a random valid request, at random splits, leaving rest intact", () => {
    fc.assert(
      fc.property(
        token,
        visible.map((v) => "/" + v),
        fc.array(header, { maxLength: 20 }),
        fc.array(fc.constantFrom(" ", "\t", ""), { minLength: 2, maxLength: 2 }),
        fc.boolean(),
        fc.uint8Array({ maxLength: 20 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        (method, target, headers, [lead, trail], bareLf, body, cuts) => {
          const eol = bareLf ? "\n" : "\r\n";
          const text =
            `${method} ${target} HTTP/1.1${eol}` +
            headers.map(([n, v]) => `${n}:${lead}${v}${trail}${eol}`).join("") +
            eol;
          const bytes = Buffer.concat([Buffer.from(text, "latin1"), body]);
          const chunks = chunked(bytes, cuts);
          const r = run(req(), chunks) as any;
          expect(r.kind).toBe("done");
          expect(r.head).toEqual({ method, target, versionMajor: 1, versionMinor: 1, headers });
          expect(Buffer.from(r.rest, "latin1")).toEqual(Buffer.from(body));
        },
      ),
      { numRuns: 500 },
    );
  });

  it("round-trips the status line and headers of a random valid response, at random splits", () => {
    const digit = fc.integer({ min: 0, max: 9 });
    const reason = fc.oneof(fc.constant(undefined), fc.constant(""), value);
    fc.assert(
      fc.property(
        digit,
        fc.integer({ min: 0, max: 999 }),
        reason,
        fc.array(header, { maxLength: 10 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        (minor, status, phrase, headers, cuts) => {
          const text =
            `HTTP/1.${minor} ${String(status).padStart(3, "0")}${phrase === undefined ? "" : " " + phrase}\r\n` +
            headers.map(([n, v]) => `${n}: ${v}\r\n`).join("") +
            "\r\n";
          const r = run(res(), chunked(Buffer.from(text, "latin1"), cuts)) as any;
          expect(r.kind).toBe("done");
          expect(r.head).toEqual({ versionMajor: 1, versionMinor: minor, status, reason: phrase ?? "", headers });
        },
      ),
      { numRuns: 300 },
    );
  });
});
