import { describe, expect, it } from "vitest";
import { WsloopUsageError } from "../../../src/core/errors.js";
import { assertHeaderField, HeaderList, isToken } from "../../../src/core/http/headers.js";

describe("HeaderList", () => {
  const list = new HeaderList([
    ["Host", "example.com"],
    ["Accept", "text/html"],
    ["accept", "application/json"],
    ["Set-Cookie", "a=1; Expires=Wed, 21 Oct 2015 07:28:00 GMT"],
    ["set-cookie", "b=2"],
    ["Connection", " keep-alive ,, Upgrade"],
    ["connection", "\tClose\t"],
  ]);

  it("looks names up case-insensitively", () => {
    expect(list.get("HOST")).toBe("example.com");
    expect(list.has("host")).toBe(true);
    expect(list.has("origin")).toBe(false);
    expect(list.get("origin")).toBeUndefined();
  });

  it("joins repeated fields with \", \"", () => {
    expect(list.get("Accept")).toBe("text/html, application/json");
  });

  it("returns only the first Set-Cookie from get, since its values cannot be joined", () => {
    expect(list.get("set-cookie")).toBe("a=1; Expires=Wed, 21 Oct 2015 07:28:00 GMT");
    expect(list.getAll("Set-Cookie")).toEqual(["a=1; Expires=Wed, 21 Oct 2015 07:28:00 GMT", "b=2"]);
  });

  it("returns every value of a field in received order from getAll, [] when absent", () => {
    expect(list.getAll("ACCEPT")).toEqual(["text/html", "application/json"]);
    expect(list.getAll("x-none")).toEqual([]);
  });

  it("keeps pairs in received order with names in received case", () => {
    expect([...list.entries()].slice(0, 3)).toEqual([
      ["Host", "example.com"],
      ["Accept", "text/html"],
      ["accept", "application/json"],
    ]);
    expect([...list]).toEqual([...list.entries()]);
    expect(list.size).toBe(7);
  });

  it("reads token lists across lines: split, trimmed, lower-cased, empties dropped", () => {
    expect(list.tokens("connection")).toEqual(["keep-alive", "upgrade", "close"]);
    expect(list.tokens("x-none")).toEqual([]);
  });

  it("reads a single token, a trailing comma, blanks only and empty lines alike", () => {
    const h = new HeaderList([
      ["Upgrade", "WebSocket"],
      ["Connection", "Upgrade,"],
      ["Connection", " \t, ,"],
      ["Connection", ""],
      ["TE", "trailers,\tDEFLATE ;q=0.5"],
    ]);
    expect(h.tokens("upgrade")).toEqual(["websocket"]);
    expect(h.tokens("connection")).toEqual(["upgrade"]);
    expect(h.tokens("te")).toEqual(["trailers", "deflate ;q=0.5"]);
    expect(h.get("connection")).toBe("Upgrade,,  \t, ,, ");
  });

  it("appends after construction", () => {
    const h = new HeaderList();
    h.append("X-A", "1");
    expect(h.size).toBe(1);
    expect(h.get("x-a")).toBe("1");
  });
});

describe("header field rules", () => {
  it("recognises RFC 7230 tokens", () => {
    expect(isToken("permessage-deflate")).toBe(true);
    expect(isToken("!#$%&'*+-.^_`|~09azAZ")).toBe(true);
    expect(isToken("")).toBe(false);
    expect(isToken("a b")).toBe(false);
    expect(isToken("a:b")).toBe(false);
    expect(isToken("é")).toBe(false);
  });

  it("refuses a CR or LF in a value, naming the header", () => {
    for (const bad of ["a\r\nX-Injected: 1", "a\nb", "a\rb"]) {
      try {
        assertHeaderField("X-Thing", bad);
        expect.unreachable();
      } catch (e) {
        expect(e).toBeInstanceOf(WsloopUsageError);
        expect((e as WsloopUsageError).code).toBe("INVALID_ARGUMENT");
        expect((e as Error).message).toContain('"X-Thing"');
      }
    }
  });

  it("refuses other controls and characters above U+00FF, allows HTAB", () => {
    expect(() => assertHeaderField("X", "a\x00b")).toThrow(/U\+0000/);
    expect(() => assertHeaderField("X", "a\x7fb")).toThrow(WsloopUsageError);
    expect(() => assertHeaderField("X", "snow ☃")).toThrow(/U\+2603/);
    expect(() => assertHeaderField("X", "a\tb")).not.toThrow();
  });

  it("refuses a name that is not a token", () => {
    expect(() => assertHeaderField("X Y", "1")).toThrow(/header name "X Y" is not an HTTP token/);
  });
});
