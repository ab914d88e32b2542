import { describe, expect, it } from "vitest";
import { WsloopUsageError } from "../../../src/core/errors.js";
import {
  formatExtension,
  formatExtensionHeader,
  isExtensionOffer,
  parseExtensionHeader,
  type ExtensionOffer,
} from "../../../src/core/handshake/extension-header.js";

const offer = (name: string, params: Array<[string, string | true]> = []): ExtensionOffer => ({
  name,
  params: new Map(params),
});

describe("parseExtensionHeader", () => {
  it("parses an extension without parameters", () => {
    expect(parseExtensionHeader(["permessage-deflate"])).toEqual([offer("permessage-deflate")]);
  });

  it("parses parameters with and without values, in order", () => {
    const [e] = parseExtensionHeader(["permessage-deflate; client_max_window_bits; server_max_window_bits=10"]);
    expect(e).toEqual(offer("permessage-deflate", [["client_max_window_bits", true], ["server_max_window_bits", "10"]]));
    expect([...(e as ExtensionOffer).params.keys()]).toEqual(["client_max_window_bits", "server_max_window_bits"]);
  });

  it("unquotes quoted-string values, escapes included", () => {
    expect(parseExtensionHeader(['x; a="10"; b="1\\0"'])).toEqual([offer("x", [["a", "10"], ["b", "10"]])]);
  });

  it("allows whitespace around \";\" and \"=\"", () => {
    expect(parseExtensionHeader(["  x ;a = 1 ;\tb  "])).toEqual([offer("x", [["a", "1"], ["b", true]])]);
  });

  it("lower-cases extension and parameter names but keeps values as received", () => {
    expect(parseExtensionHeader(["PerMessage-Deflate; Server_No_Context_Takeover; X=AbC"])).toEqual([
      offer("permessage-deflate", [["server_no_context_takeover", true], ["x", "AbC"]]),
    ]);
  });

  it("returns one element per list member across header lines, skipping empty members", () => {
    const r = parseExtensionHeader(["a, b; p=1", " , c ,", "d"]);
    expect(r.map((e) => e.name)).toEqual(["a", "b", "c", "d"]);
    expect(r.every(isExtensionOffer)).toBe(true);
  });

  it("reports a repeated parameter as an error of that element only", () => {
    const r = parseExtensionHeader(["permessage-deflate; server_max_window_bits=10; server_max_window_bits=11, permessage-deflate"]);
    expect(r).toEqual([
      {
        name: "permessage-deflate",
        error: 'extension "permessage-deflate": parameter "server_max_window_bits" appears more than once',
      },
      offer("permessage-deflate"),
    ]);
    expect(isExtensionOffer(r[0]!)).toBe(false);
  });

  it("reports a quoted value that is not a token once unquoted", () => {
    expect(parseExtensionHeader(['x; a="b c"'])).toEqual([
      { name: "x", error: 'extension "x": value "b c" of parameter "a" is not a token once unquoted' },
    ]);
  });

  it("does not split at a comma inside a quoted string", () => {
    const r = parseExtensionHeader(['x; a="1,2", y']);
    expect(r).toHaveLength(2);
    expect(r[0]).toMatchObject({ name: "x", error: expect.stringContaining('"1,2"') });
    expect(r[1]).toEqual(offer("y"));
  });

  it("reports an unterminated quote, which spoils only the rest of its header line", () => {
    const r = parseExtensionHeader(['x; a="1, y', "z"]);
    expect(r).toEqual([
      { name: "x", error: 'extension "x": unterminated quoted value of parameter "a"' },
      offer("z"),
    ]);
  });

  it("reports an element without an extension token, with no name", () => {
    expect(parseExtensionHeader(["; a=1, ok"])).toEqual([
      { error: 'extension element "; a=1" does not start with an extension token' },
      offer("ok"),
    ]);
  });

  it("reports \"=\" without a value, a missing parameter name and junk after a token", () => {
    expect(parseExtensionHeader(["x; a="])[0]).toMatchObject({ error: 'extension "x": parameter "a" has "=" but no value' });
    expect(parseExtensionHeader(["x; =1"])[0]).toMatchObject({ error: expect.stringContaining("expected a parameter name") });
    expect(parseExtensionHeader(["x y"])[0]).toMatchObject({ error: 'extension "x": expected ";" but found "y" at offset 2' });
    expect(parseExtensionHeader(["x; a=1 2"])[0]).toMatchObject({ error: expect.stringContaining('expected ";"') });
  });

  it("returns no elements for no header or an empty one", () => {
    expect(parseExtensionHeader([])).toEqual([]);
    expect(parseExtensionHeader(["", " , "])).toEqual([]);
  });
});

describe("formatExtension", () => {
  it("writes name; flag; name=value", () => {
    expect(formatExtension(offer("permessage-deflate", [["client_max_window_bits", true], ["server_max_window_bits", "10"]]))).toBe(
      "permessage-deflate; client_max_window_bits; server_max_window_bits=10",
    );
  });

  it("joins several elements with \", \" and round-trips through the parser", () => {
    const offers = [offer("a", [["p", "1"]]), offer("b"), offer("a", [["q", true]])];
    const header = formatExtensionHeader(offers);
    expect(header).toBe("a; p=1, b, a; q");
    expect(parseExtensionHeader([header])).toEqual(offers);
  });

  it("refuses names and values that are not tokens, CR/LF included", () => {
    const cases: ExtensionOffer[] = [
      offer("bad name"),
      offer("x", [["p q", true]]),
      offer("x", [["p", "1\r\nX-Injected: 1"]]),
      offer("x", [["p", ""]]),
    ];
    for (const c of cases) {
      expect(() => formatExtension(c)).toThrow(WsloopUsageError);
    }
    expect(() => formatExtension(offer("x", [["p", "a b"]]))).toThrow('value "a b" of parameter "p" of extension "x" is not a token');
  });
});
