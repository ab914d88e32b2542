import { describe, expect, it } from "vitest";
import { WsloopUsageError } from "../../../src/core/errors.js";
import { parseExtensionHeader, type ExtensionOffer } from "../../../src/core/handshake/extension-header.js";
import {
  acceptKey,
  buildAcceptResponse,
  buildRejectResponse,
  checkUpgradeRequest,
  negotiateExtensions,
  reasonPhrase,
  selectSubprotocol,
  type UpgradeCheck,
} from "../../../src/core/handshake/server-handshake.js";
import { RequestHeadParser, ResponseHeadParser, type HttpRequestHead } from "../../../src/core/http/head-parser.js";
import { fakeNegotiator } from "./fake-negotiator.js";

const KEY = "dGhlIHNhbXBsZSBub25jZQ==";
const BASE: Array<[string, string]> = [
  ["Host", "server.example.com"],
  ["Upgrade", "websocket"],
  ["Connection", "Upgrade"],
  ["Sec-WebSocket-Key", KEY],
  ["Sec-WebSocket-Version", "13"],
];

/** Parse a request built from BASE with some headers replaced (undefined removes) or added. */
function head(
  changes: Record<string, string | string[] | undefined> = {},
  requestLine = "GET /chat HTTP/1.1",
): HttpRequestHead {
  const lower = Object.fromEntries(Object.entries(changes).map(([k, v]) => [k.toLowerCase(), v]));
  const lines: string[] = [requestLine];
  for (const [n, v] of BASE) if (!(n.toLowerCase() in lower)) lines.push(`${n}: ${v}`);
  for (const [n, v] of Object.entries(changes)) {
    if (v === undefined) continue;
    for (const one of Array.isArray(v) ? v : [v]) lines.push(`${n}: ${one}`);
  }
  const r = new RequestHeadParser().push(Buffer.from(lines.join("\r\n") + "\r\n\r\n", "latin1"));
  if (r.kind !== "done") throw new Error(`test request did not parse: ${JSON.stringify(r)}`);
  return r.head;
}

function refused(check: UpgradeCheck, status: number, message: string | RegExp, headers: Array<[string, string]> = []): void {
  if (check.ok) throw new Error("expected a refusal");
  expect(check.status).toBe(status);
  if (typeof message === "string") expect(check.message).toContain(message);
  else expect(check.message).toMatch(message);
  expect(check.headers).toEqual(headers);
}

function accepted(check: UpgradeCheck) {
  if (!check.ok) throw new Error(`expected acceptance, got ${check.status} ${check.message}`);
  return check.request;
}

describe("checkUpgradeRequest", () => {
  it("accepts a valid RFC 6455 upgrade and reports what it asked for", () => {
    const h = head({
      Origin: "http://example.com",
      "Sec-WebSocket-Protocol": ["chat, superchat", "v2.chat"],
      "Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits, x; a=1; a=2",
    });
    const r = accepted(checkUpgradeRequest(h));
    expect(r.head).toBe(h);
    expect(r.key).toBe(KEY);
    expect(r.path).toBe("/chat");
    expect(r.host).toBe("server.example.com");
    expect(r.origin).toBe("http://example.com");
    expect(r.offeredProtocols).toEqual(["chat", "superchat", "v2.chat"]);
    expect(r.offeredExtensions).toEqual([{ name: "permessage-deflate", params: new Map([["client_max_window_bits", true]]) }]);
    expect(r.unparseableExtensions).toEqual([{ name: "x", error: 'extension "x": parameter "a" appears more than once' }]);
  });

  it("reports no origin, protocols or extensions when none were sent", () => {
    const r = accepted(checkUpgradeRequest(head()));
    expect(r.origin).toBeUndefined();
    expect(r.offeredProtocols).toEqual([]);
    expect(r.offeredExtensions).toEqual([]);
  });

  it("answers 405 with Allow: GET to another method", () => {
    refused(checkUpgradeRequest(head({}, "POST /chat HTTP/1.1")), 405, "method POST is not allowed", [["Allow", "GET"]]);
    refused(checkUpgradeRequest(head({}, "get /chat HTTP/1.1")), 405, "method get", [["Allow", "GET"]]);
  });

  it("answers 400 to HTTP/1.0, saying WebSocket needs HTTP/1.1", () => {
    refused(checkUpgradeRequest(head({}, "GET /chat HTTP/1.0")), 400, "WebSocket needs HTTP/1.1 or later, but the request is HTTP/1.0");
  });

  it("accepts HTTP/1.x above 1.1", () => {
    accepted(checkUpgradeRequest(head({}, "GET /chat HTTP/1.2")));
  });

  it("answers 400 unless there is exactly one non-empty Host", () => {
    refused(checkUpgradeRequest(head({ Host: undefined })), 400, "missing Host header");
    refused(checkUpgradeRequest(head({ Host: ["a", "b"] })), 400, "2 Host headers; exactly one is allowed");
    refused(checkUpgradeRequest(head({ Host: "" })), 400, "empty Host header");
  });

  it("answers 400 \"not a WebSocket upgrade\" when Upgrade is missing or names another protocol", () => {
    refused(checkUpgradeRequest(head({ Upgrade: undefined })), 400, "not a WebSocket upgrade: no Upgrade header");
    refused(checkUpgradeRequest(head({ Upgrade: "h2c" })), 400, 'not a WebSocket upgrade: Upgrade is "h2c"');
  });

  it("finds websocket in Upgrade case-insensitively and among other tokens", () => {
    accepted(checkUpgradeRequest(head({ Upgrade: "WebSocket" })));
    accepted(checkUpgradeRequest(head({ Upgrade: "h2c, websocket" })));
  });

  it("requires upgrade among the Connection tokens, case-insensitively", () => {
    accepted(checkUpgradeRequest(head({ Connection: "keep-alive, Upgrade" })));
    accepted(checkUpgradeRequest(head({ Connection: ["keep-alive", "UPGRADE"] })));
    refused(checkUpgradeRequest(head({ Connection: "keep-alive" })), 400, 'Connection header does not include "Upgrade": Connection is "keep-alive"');
    refused(checkUpgradeRequest(head({ Connection: undefined })), 400, "no Connection header");
  });

  it("answers 426 with Sec-WebSocket-Version: 13 to version 8", () => {
    refused(checkUpgradeRequest(head({ "Sec-WebSocket-Version": "8" })), 426, 'Sec-WebSocket-Version "8" is not supported; this server speaks WebSocket version 13', [
      ["Sec-WebSocket-Version", "13"],
    ]);
  });

  it("answers 426 with Sec-WebSocket-Version: 13 to a missing version or a list of versions", () => {
    const v13: Array<[string, string]> = [["Sec-WebSocket-Version", "13"]];
    refused(checkUpgradeRequest(head({ "Sec-WebSocket-Version": undefined })), 426, "missing Sec-WebSocket-Version", v13);
    refused(checkUpgradeRequest(head({ "Sec-WebSocket-Version": "13, 8" })), 426, '"13, 8" is not supported', v13);
    refused(checkUpgradeRequest(head({ "Sec-WebSocket-Version": ["13", "13"] })), 426, '"13, 13"', v13);
    refused(checkUpgradeRequest(head({ "Sec-WebSocket-Version": "013" })), 426, '"013"', v13);
  });

  it("answers 400 unless Sec-WebSocket-Key appears exactly once", () => {
    refused(checkUpgradeRequest(head({ "Sec-WebSocket-Key": undefined })), 400, "missing Sec-WebSocket-Key");
    refused(checkUpgradeRequest(head({ "Sec-WebSocket-Key": [KEY, KEY] })), 400, "2 Sec-WebSocket-Key headers");
  });

  it("answers 400 to a key that is not strict base64 of exactly 16 bytes", () => {
    const bad = [
      "dGhlIHNhbXBsZSBub25jZQ", // no padding
      "dGhlIHNhbXBsZSBub25jZQ=", // short padding
      "dGhlIHNhbXBsZSBub25jZR==", // non-canonical: stray bits in the last character
      "dGhlIHNhbXBsZSBub25j-Q==", // URL-safe alphabet
      "dGhlIHNhbXBsZSBub25jZSE=", // 17 bytes
      "AAAAAAAAAAAAAAAAAAAAAAAAAAA=", // 20 bytes
      "dGhlIHNhbXBsZSBub25jZQ== ".trim() + "x",
      "",
    ];
    for (const key of bad) {
      refused(checkUpgradeRequest(head({ "Sec-WebSocket-Key": key })), 400, `Sec-WebSocket-Key ${JSON.stringify(key)} is not the base64 encoding of 16 bytes`);
    }
    accepted(checkUpgradeRequest(head({ "Sec-WebSocket-Key": "AAAAAAAAAAAAAAAAAAAAAA==" })));
    accepted(checkUpgradeRequest(head({ "Sec-WebSocket-Key": "/+/+/+/+/+/+/+/+/+/+/w==" })));
  });

  it("collects subprotocols from several lines and comma lists, skipping empty elements", () => {
    const r = accepted(checkUpgradeRequest(head({ "Sec-WebSocket-Protocol": ["a,, b ", " ,c"] })));
    expect(r.offeredProtocols).toEqual(["a", "b", "c"]);
  });

  it("answers 400 to a subprotocol that is not a token", () => {
    refused(checkUpgradeRequest(head({ "Sec-WebSocket-Protocol": "chat, my chat" })), 400, 'subprotocol "my chat" in Sec-WebSocket-Protocol is not a token');
    refused(checkUpgradeRequest(head({ "Sec-WebSocket-Protocol": "a/b" })), 400, '"a/b"');
  });

  it("answers 400 to more than one Origin", () => {
    refused(checkUpgradeRequest(head({ Origin: ["http://a", "http://b"] })), 400, "2 Origin headers");
  });

  it("takes the path with its query from an origin-form or absolute-form target", () => {
    expect(accepted(checkUpgradeRequest(head({}, "GET /a/b?x=1&y HTTP/1.1"))).path).toBe("/a/b?x=1&y");
    expect(accepted(checkUpgradeRequest(head({}, "GET ws://example.com:8080/chat?x=1 HTTP/1.1"))).path).toBe("/chat?x=1");
    expect(accepted(checkUpgradeRequest(head({}, "GET HTTPS://example.com HTTP/1.1"))).path).toBe("/");
    expect(accepted(checkUpgradeRequest(head({}, "GET http://example.com?q HTTP/1.1"))).path).toBe("/?q");
  });

  it("answers 400 to an asterisk, authority-form or fragment target", () => {
    refused(checkUpgradeRequest(head({}, "GET * HTTP/1.1")), 400, 'request-target "*" is neither a path nor an absolute');
    refused(checkUpgradeRequest(head({}, "GET example.com:80 HTTP/1.1")), 400, "neither a path");
    refused(checkUpgradeRequest(head({}, "GET /chat#x HTTP/1.1")), 400, 'contains a fragment ("#")');
  });
});

describe("selectSubprotocol", () => {
  it("picks by server preference among the offered ones", () => {
    expect(selectSubprotocol(["b", "a"], ["a", "b"], null)).toEqual({ ok: true, protocol: "a", bound: "a" });
    expect(selectSubprotocol(["x", "b"], ["a", "b"], "a")).toEqual({ ok: true, protocol: "b", bound: "b" });
  });

  it("echoes nothing and binds to the default protocol when the client offered none", () => {
    expect(selectSubprotocol([], ["a"], "default")).toEqual({ ok: true, protocol: null, bound: "default" });
    expect(selectSubprotocol([], [], null)).toEqual({ ok: true, protocol: null, bound: null });
  });

  it("answers 400 naming the offered protocols when none is served here, even with a default", () => {
    expect(selectSubprotocol(["mqtt", "stomp"], ["chat"], "chat")).toEqual({
      ok: false,
      status: 400,
      message: 'none of the offered subprotocols ("mqtt", "stomp") is served here',
    });
  });

  it("compares names case-sensitively", () => {
    expect(selectSubprotocol(["Chat"], ["chat"], null).ok).toBe(false);
  });
});

describe("negotiateExtensions", () => {
  const offers = (header: string) => parseExtensionHeader([header]);

  it("answers null and negotiates nothing when nothing is offered or configured", () => {
    expect(negotiateExtensions([], [fakeNegotiator("a", 4)])).toEqual({ responseHeader: null, negotiated: [] });
    expect(negotiateExtensions(offers("a"), [])).toEqual({ responseHeader: null, negotiated: [] });
  });

  it("hands a negotiator all offers of its extension and answers with its response", () => {
    const seen: ExtensionOffer[][] = [];
    const r = negotiateExtensions(offers("a; reject, b, a; level=2, a"), [fakeNegotiator("a", 4, seen)]);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.map((o) => o.params.get("level") ?? o.params.has("reject"))).toEqual([true, "2", false]);
    expect(r.responseHeader).toBe("a; level=2");
    expect(r.negotiated).toEqual([{ name: "a", rsvMask: 4, params: { name: "a", params: new Map([["level", "2"]]) } }]);
  });

  it("declines an unparseable offer without failing the handshake, and takes a later valid one", () => {
    const r = negotiateExtensions(offers("a; p=1; p=2, a; level=3"), [fakeNegotiator("a", 4)]);
    expect(r.responseHeader).toBe("a; level=3");
  });

  it("declines unknown extensions and offers a negotiator refuses", () => {
    expect(negotiateExtensions(offers("zzz, a; reject"), [fakeNegotiator("a", 4)])).toEqual({ responseHeader: null, negotiated: [] });
  });

  it("orders the response by the client's preference and never lets two extensions claim the same RSV bit", () => {
    const negotiators = [fakeNegotiator("a", 4), fakeNegotiator("b", 4), fakeNegotiator("c", 2)];
    const r = negotiateExtensions(offers("c, b, a"), negotiators);
    expect(r.responseHeader).toBe("c, b");
    expect(r.negotiated.map((e) => e.name)).toEqual(["c", "b"]);
  });

  it("matches a negotiator named in mixed case", () => {
    expect(negotiateExtensions(offers("Foo"), [fakeNegotiator("foo", 4)]).responseHeader).toBe("foo");
  });
});

describe("acceptKey", () => {
  it("computes the RFC 6455 §1.3 example", () => {
    expect(acceptKey("dGhlIHNhbXBsZSBub25jZQ==")).toBe("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  });
});

describe("buildAcceptResponse", () => {
  it("writes the 101 of RFC 6455 §1.3", () => {
    expect(buildAcceptResponse(KEY, null, null).toString("latin1")).toBe(
      "HTTP/1.1 101 Switching Protocols\r\n" +
        "Upgrade: websocket\r\n" +
        "Connection: Upgrade\r\n" +
        "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" +
        "\r\n",
    );
  });

  it("adds the chosen subprotocol, the extensions and extra headers, and parses back", () => {
    const bytes = buildAcceptResponse(KEY, "chat", "permessage-deflate; server_no_context_takeover", [["X-Server", "wsloop"]]);
    const r = new ResponseHeadParser().push(bytes);
    if (r.kind !== "done") throw new Error("did not parse");
    expect(r.head.status).toBe(101);
    expect([...r.head.headers].slice(3)).toEqual([
      ["Sec-WebSocket-Protocol", "chat"],
      ["Sec-WebSocket-Extensions", "permessage-deflate; server_no_context_takeover"],
      ["X-Server", "wsloop"],
    ]);
    expect(r.rest.length).toBe(0);
  });

  it("throws INVALID_ARGUMENT naming the header when a value contains CR or LF", () => {
    const attempts: Array<() => unknown> = [
      () => buildAcceptResponse(KEY, null, null, [["X-Evil", "a\r\nSet-Cookie: x=1"]]),
      () => buildAcceptResponse(KEY, null, "a\r\nX: 1"),
    ];
    const names = ['"X-Evil"', '"Sec-WebSocket-Extensions"'];
    attempts.forEach((attempt, i) => {
      try {
        attempt();
        expect.unreachable();
      } catch (e) {
        expect(e).toBeInstanceOf(WsloopUsageError);
        expect((e as WsloopUsageError).code).toBe("INVALID_ARGUMENT");
        expect((e as Error).message).toContain(names[i]);
      }
    });
  });

  it("refuses a subprotocol that is not a token and extra headers the handshake writes itself", () => {
    expect(() => buildAcceptResponse(KEY, "a\r\nb", null)).toThrow('subprotocol "a\\r\\nb" is not a token');
    expect(() => buildAcceptResponse(KEY, null, null, [["sec-websocket-accept", "x"]])).toThrow(/written by the 101 response itself/);
  });
});

describe("buildRejectResponse", () => {
  it("writes the status with its standard reason, a plain-text body and Connection: close", () => {
    expect(buildRejectResponse(400, "missing Host header").toString("latin1")).toBe(
      "HTTP/1.1 400 Bad Request\r\n" +
        "Content-Type: text/plain; charset=utf-8\r\n" +
        "Content-Length: 20\r\n" +
        "Connection: close\r\n" +
        "\r\n" +
        "missing Host header\n",
    );
  });

  it("writes the refusal's extra headers and counts the body in UTF-8 bytes", () => {
    const bytes = buildRejectResponse(426, "versión", [["Sec-WebSocket-Version", "13"]]);
    const text = bytes.toString("utf8");
    expect(text).toContain("HTTP/1.1 426 Upgrade Required\r\n");
    expect(text).toContain("Content-Length: 9\r\n");
    expect(text).toContain("Sec-WebSocket-Version: 13\r\n\r\nversión\n");
  });

  it("answers a check's refusal as it is", () => {
    const check = checkUpgradeRequest(head({}, "PUT /chat HTTP/1.1"));
    if (check.ok) throw new Error("expected refusal");
    const text = buildRejectResponse(check.status, check.message, check.headers).toString();
    expect(text).toMatch(/^HTTP\/1\.1 405 Method Not Allowed\r\n[^]*Allow: GET\r\n\r\n/);
  });

  it("refuses a CR/LF in an extra header, a status outside 3xx-5xx and headers it writes itself", () => {
    expect(() => buildRejectResponse(400, "x", [["X-A", "1\n2"]])).toThrow(/value of header "X-A" contains an LF/);
    expect(() => buildRejectResponse(101, "x")).toThrow(/3xx, 4xx or 5xx status, got 101/);
    expect(() => buildRejectResponse(400.5, "x")).toThrow(WsloopUsageError);
    expect(() => buildRejectResponse(400, "x", [["Content-Length", "0"]])).toThrow(/written by the refusal itself/);
  });

  it("knows the reason phrases of the statuses the handshake answers", () => {
    expect([400, 403, 404, 405, 414, 426, 431, 505].map(reasonPhrase)).toEqual([
      "Bad Request",
      "Forbidden",
      "Not Found",
      "Method Not Allowed",
      "URI Too Long",
      "Upgrade Required",
      "Request Header Fields Too Large",
      "HTTP Version Not Supported",
    ]);
    expect(reasonPhrase(499)).toBe("Client Error");
  });
});
