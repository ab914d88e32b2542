/**
 * The pure HTTP pieces in src/core/http: no I/O, bytes and strings in, verdicts out.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  ChunkedDecoder,
  HeaderList,
  LengthDecoder,
  acceptsEncoding,
  cacheControl,
  contentRange,
  encodeChunk,
  entityTag,
  ifRangeAllows,
  isNotModified,
  matchMount,
  mimeTypeOf,
  parseRange,
  parseRequestPath,
  sniffHttp,
  type BodyDecoder,
} from "../../src/core/index.js";
import { splitPoints } from "../helpers/splits.js";

/** Run a decoder over chunks; the body, where it ended in the last chunk, or the error. */
function decodeAll(decoder: BodyDecoder, chunks: Buffer[]): { body: Buffer; done: boolean; rest: string; error?: string; status?: number } {
  const parts: Buffer[] = [];
  for (let c = 0; c < chunks.length; c++) {
    const chunk = chunks[c]!;
    let at = 0;
    for (;;) {
      const step = decoder.next(chunk, at);
      if (step.kind === "data") {
        parts.push(Buffer.from(step.data));
        at = step.end;
        continue;
      }
      if (step.kind === "more") break;
      if (step.kind === "error") return { body: Buffer.concat(parts), done: false, rest: "", error: step.message, status: step.status };
      const rest = Buffer.concat([chunk.subarray(step.end), ...chunks.slice(c + 1)]).toString("latin1");
      return { body: Buffer.concat(parts), done: true, rest };
    }
  }
  return { body: Buffer.concat(parts), done: false, rest: "" };
}

describe("ChunkedDecoder", () => {
  const wire = Buffer.from("4;ext=1\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nTrailer: x\r\n\r\nNEXT", "latin1");

  it("decodes, views of the input, and stops exactly at the end of the message, at every split point", () => {
    for (const { label, chunks } of splitPoints(wire)) {
      const r = decodeAll(new ChunkedDecoder(), chunks);
      expect(r, label).toEqual({ body: Buffer.from("Wikipedia in\r\n\r\nchunks."), done: true, rest: "NEXT" });
    }
  });

  it("round-trips what encodeChunk frames (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 8 }), fc.integer({ min: 1, max: 50 }), (pieces, size) => {
        const out: Uint8Array[] = [];
        pieces.forEach((p, i) => encodeChunk(out, p, i === pieces.length - 1));
        if (pieces.length === 0) encodeChunk(out, new Uint8Array(0), true);
        const bytes = Buffer.concat(out);
        const chunks: Buffer[] = [];
        for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
        const r = decodeAll(new ChunkedDecoder(), chunks);
        expect(r.done).toBe(true);
        expect(r.body).toEqual(Buffer.concat(pieces.map((p) => Buffer.from(p))));
      }),
    );
  });

  it.each([
    ["bare LF after the size", "5\nhello\r\n0\r\n\r\n", /bare LF/],
    ["no digits", ";x\r\n", /chunk size expected/],
    ["a size over 2^53", "FFFFFFFFFFFFFFFF\r\n", /too large/],
    ["data longer than the size", "1\r\nab\r\n", /longer than its size/],
    ["CR without LF after data", "1\r\na\rX", /CR not followed by LF/],
    ["a trailer without a colon", "0\r\nnocolon\r\n\r\n", /without a colon/],
    ["a trailer ending in a bare LF", "0\r\nA: b\n\r\n", /bare LF/],
  ])("refuses %s with 400", (_name, input, message) => {
    const r = decodeAll(new ChunkedDecoder(), [Buffer.from(input, "latin1")]);
    expect([r.status, r.error]).toEqual([400, expect.stringMatching(message)]);
  });

  it("bounds the size line, the trailers and the body", () => {
    expect(decodeAll(new ChunkedDecoder({ maxLineBytes: 8 }), [Buffer.from("1;123456789\r\n")]).error).toMatch(/over 8 bytes/);
    expect(decodeAll(new ChunkedDecoder({ maxTrailerBytes: 10 }), [Buffer.from("0\r\nA: 1234567890\r\n\r\n")]).status).toBe(431);
    const over = decodeAll(new ChunkedDecoder({ maxBodyBytes: 5 }), [Buffer.from("3\r\nabc\r\n3\r\ndef\r\n")]);
    expect([over.status, over.body.toString()]).toEqual([413, "abc"]);
  });

  it("ends in error if the stream ends inside it", () => {
    const d = new ChunkedDecoder();
    decodeAll(d, [Buffer.from("3\r\nab")]);
    expect(d.end()).toEqual({ kind: "error", status: 400, message: "connection ended inside a chunked body" });
  });
});

describe("LengthDecoder", () => {
  it("takes exactly its length and leaves the rest", () => {
    const r = decodeAll(new LengthDecoder(5), [Buffer.from("ab"), Buffer.from("cdeXYZ")]);
    expect(r).toEqual({ body: Buffer.from("abcde"), done: true, rest: "XYZ" });
  });
});

describe("parseRange", () => {
  it.each([
    ["bytes=0-0", 10, { kind: "range", start: 0, end: 0 }],
    ["bytes=5-", 10, { kind: "range", start: 5, end: 9 }],
    ["bytes=-3", 10, { kind: "range", start: 7, end: 9 }],
    ["bytes=-30", 10, { kind: "range", start: 0, end: 9 }],
    ["bytes=3-100", 10, { kind: "range", start: 3, end: 9 }],
    ["bytes = 1 - 2", 10, { kind: "range", start: 1, end: 2 }],
    ["bytes=10-", 10, { kind: "unsatisfiable" }],
    ["bytes=-0", 10, { kind: "unsatisfiable" }],
    ["bytes=0-", 0, { kind: "unsatisfiable" }],
    ["bytes=4-2", 10, { kind: "none" }],
    ["bytes=0-1,3-4", 10, { kind: "none" }],
    ["lines=1-2", 10, { kind: "none" }],
    ["bytes=-", 10, { kind: "none" }],
  ])("%s of %i bytes", (header, size, expected) => {
    expect(parseRange(header, size)).toEqual(expected);
  });

  it("writes Content-Range", () => {
    expect(contentRange({ start: 1, end: 2 }, 10)).toBe("bytes 1-2/10");
    expect(contentRange(null, 10)).toBe("bytes */10");
  });
});

describe("parseRequestPath", () => {
  it.each([
    ["/", { path: "/", segments: [], trailingSlash: true, query: "" }],
    ["/a//b/", { path: "/a/b/", segments: ["a", "b"], trailingSlash: true, query: "" }],
    ["/caf%C3%A9?x=%2F", { path: "/café", segments: ["café"], trailingSlash: false, query: "x=%2F" }],
    ["http://h.test:80/p?q", { path: "/p", segments: ["p"], trailingSlash: false, query: "q", host: "h.test:80" }],
    ["/%2e%2e.txt", { path: "/...txt", segments: ["...txt"] }],
  ])("%s", (target, expected) => {
    expect(parseRequestPath(target)).toMatchObject({ ok: true, ...expected });
  });

  it.each([
    ["/..", 403],
    ["/a/./b", 403],
    ["/%2E%2e", 403],
    ["/a%2Fb", 403],
    ["/a%5Cb", 403],
    ["/a\\b", 403],
    ["/%00", 403],
    ["/%0a", 403],
    ["/%zz", 400],
    ["/%c3", 400],
    ["/a#frag", 400],
    ["example.com:80", 400],
  ])("refuses %s with %i", (target, status) => {
    expect(parseRequestPath(target)).toMatchObject({ ok: false, status });
  });

  it("never yields a segment that escapes, whatever the target (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom("a", ".", "..", "%2e", "%2E", "%2f", "%5c", "/", "\\", "%00", "%25", "b"), { maxLength: 12 }), (parts) => {
        const r = parseRequestPath("/" + parts.join(""));
        if (r.ok) for (const s of r.segments) expect(s === "." || s === ".." || /[/\\\0]/.test(s)).toBe(false);
      }),
    );
  });
});

describe("validators", () => {
  const headers = (pairs: Array<[string, string]>) => new HeaderList(pairs);
  const tag = entityTag(10, Date.UTC(2024, 0, 1, 12, 0, 0, 500));

  it("ETag differs by size, time and variant", () => {
    expect(tag).toMatch(/^"a-[0-9a-f]+"$/);
    expect(entityTag(10, 1, "gz")).not.toBe(entityTag(10, 1));
    expect(entityTag(11, 1)).not.toBe(entityTag(10, 1));
  });

  it("If-None-Match decides before If-Modified-Since, which compares whole seconds", () => {
    const mtime = Date.UTC(2024, 0, 1, 12, 0, 0, 500);
    expect(isNotModified(headers([["If-Modified-Since", "Mon, 01 Jan 2024 12:00:00 GMT"]]), tag, mtime)).toBe(true);
    expect(isNotModified(headers([["If-Modified-Since", "Mon, 01 Jan 2024 11:59:59 GMT"]]), tag, mtime)).toBe(false);
    expect(isNotModified(headers([["If-None-Match", '"x"'], ["If-Modified-Since", "Mon, 01 Jan 2024 12:00:00 GMT"]]), tag, mtime)).toBe(false);
    expect(isNotModified(headers([["If-None-Match", `"a,b", W/${tag}`]]), tag, mtime)).toBe(true);
  });

  it("If-Range: a strong, equal ETag or the exact date", () => {
    const mtime = Date.UTC(2024, 0, 1);
    expect(ifRangeAllows(headers([]), tag, mtime)).toBe(true);
    expect(ifRangeAllows(headers([["If-Range", tag]]), tag, mtime)).toBe(true);
    expect(ifRangeAllows(headers([["If-Range", `W/${tag}`]]), tag, mtime)).toBe(false);
    expect(ifRangeAllows(headers([["If-Range", "Mon, 01 Jan 2024 00:00:00 GMT"]]), tag, mtime)).toBe(true);
  });
});

describe("small tables and rules", () => {
  it("acceptsEncoding honours q=0 and *", () => {
    expect(acceptsEncoding("gzip, br", "gzip")).toBe(true);
    expect(acceptsEncoding("GZIP;q=0.5", "gzip")).toBe(true);
    expect(acceptsEncoding("gzip;q=0", "gzip")).toBe(false);
    expect(acceptsEncoding("*;q=0.1", "gzip")).toBe(true);
    expect(acceptsEncoding("*, gzip;q=0", "gzip")).toBe(false);
    expect(acceptsEncoding(undefined, "gzip")).toBe(false);
    expect(acceptsEncoding("identity", "gzip")).toBe(false);
  });

  it("mimeTypeOf by extension, case-insensitive, with extras first; dotfiles and unknowns are octet-stream", () => {
    expect(mimeTypeOf("/a/B.HTML")).toBe("text/html; charset=utf-8");
    expect(mimeTypeOf("x.wasm")).toBe("application/wasm");
    expect(mimeTypeOf(".bashrc")).toBe("application/octet-stream");
    expect(mimeTypeOf("x.toString")).toBe("application/octet-stream");
    expect(mimeTypeOf("x.html", { html: "text/x-mine" })).toBe("text/x-mine");
  });

  it("cacheControl as lws computes it", () => {
    expect(cacheControl({})).toBe("no-store");
    expect(cacheControl({ cacheMaxAge: 10, cacheReusable: true, cacheRevalidate: true, cacheIntermediaries: true })).toBe("must-revalidate, public, max-age=10");
  });

  it("matchMount: longest mountpoint on a segment boundary", () => {
    const mounts = [{ mountpoint: "/" }, { mountpoint: "/docs" }, { mountpoint: "/docs/api/" }];
    expect(matchMount("/docs/api/x", mounts)).toEqual({ mount: mounts[2], rest: "/x" });
    expect(matchMount("/docs/apix", mounts)).toEqual({ mount: mounts[1], rest: "/apix" });
    expect(matchMount("/docsx", mounts)).toEqual({ mount: mounts[0], rest: "/docsx" });
    expect(matchMount("/docs", mounts)).toEqual({ mount: mounts[1], rest: "" });
    expect(matchMount("/x", [{ mountpoint: "/y" }])).toBeNull();
  });

  it.each([
    ["GET ", "http"],
    ["\r\nPOST /", "http"],
    ["G", "undecided"],
    ["OPTIONS", "undecided"],
    ["hello", "raw"],
    ["get /", "raw"],
    ["GETX /", "raw"],
    ["GET\r\n", "raw"],
    ["\x16\x03\x01", "raw"],
  ])("sniffHttp(%j) is %s", (text, verdict) => {
    expect(sniffHttp(Buffer.from(text, "latin1"))).toBe(verdict);
  });
});
