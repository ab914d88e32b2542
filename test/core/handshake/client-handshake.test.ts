import { describe, expect, it } from "vitest";
import { WsloopUsageError } from "../../../src/core/errors.js";
import { buildClientRequest, checkServerResponse, type ClientRequestOptions } from "../../../src/core/handshake/client-handshake.js";
import { acceptKey, buildAcceptResponse, checkUpgradeRequest, negotiateExtensions } from "../../../src/core/handshake/server-handshake.js";
import { HeaderList } from "../../../src/core/http/headers.js";
import { RequestHeadParser, ResponseHeadParser, type HttpResponseHead } from "../../../src/core/http/head-parser.js";
import { fakeNegotiator } from "./fake-negotiator.js";

const KEY = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

function response(status: number, reason: string, headers: Array<[string, string]>): HttpResponseHead {
  return { versionMajor: 1, versionMinor: 1, status, reason, headers: new HeaderList(headers) };
}

const GOOD: Array<[string, string]> = [
  ["Upgrade", "websocket"],
  ["Connection", "Upgrade"],
  ["Sec-WebSocket-Accept", ACCEPT],
];

/** GOOD with headers replaced (undefined removes) or added. */
function with101(changes: Record<string, string | undefined>): HttpResponseHead {
  const headers = GOOD.filter(([n]) => !(n in changes));
  for (const [n, v] of Object.entries(changes)) if (v !== undefined) headers.push([n, v]);
  return response(101, "Switching Protocols", headers);
}

const sent = (protocols: string[] = [], extensions = [] as ReturnType<typeof fakeNegotiator>[]) => ({
  key: KEY,
  offeredProtocols: protocols,
  offeredExtensions: extensions,
});

function usageError(fn: () => unknown, message: string | RegExp): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(WsloopUsageError);
    expect((e as WsloopUsageError).code).toBe("INVALID_ARGUMENT");
    if (typeof message === "string") expect((e as Error).message).toContain(message);
    else expect((e as Error).message).toMatch(message);
    return;
  }
  expect.unreachable("expected a WsloopUsageError");
}

describe("buildClientRequest", () => {
  it("writes the upgrade request of RFC 6455 §1.3 with a fixed key", () => {
    const r = buildClientRequest({ path: "/chat", host: "server.example.com", key: KEY });
    expect(r.bytes.toString("latin1")).toBe(
      "GET /chat HTTP/1.1\r\n" +
        "Host: server.example.com\r\n" +
        "Upgrade: websocket\r\n" +
        "Connection: Upgrade\r\n" +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
        "Sec-WebSocket-Version: 13\r\n" +
        "\r\n",
    );
    expect(r.key).toBe(KEY);
    expect(r.offeredProtocols).toEqual([]);
    expect(r.offeredExtensions).toEqual([]);
  });

  it("adds origin, subprotocols, extension offers and extra headers, and the server accepts it", () => {
    const ext = fakeNegotiator("x-ext", 4);
    const r = buildClientRequest({
      path: "/chat?room=1",
      host: "example.com:8080",
      origin: "http://example.com",
      protocols: ["chat", "superchat"],
      extensions: [ext],
      headers: [["Authorization", "Bearer t"]],
      key: KEY,
    });
    const parsed = new RequestHeadParser().push(r.bytes);
    if (parsed.kind !== "done") throw new Error("request did not parse");
    const check = checkUpgradeRequest(parsed.head);
    if (!check.ok) throw new Error(check.message);
    expect(check.request).toMatchObject({
      path: "/chat?room=1",
      host: "example.com:8080",
      origin: "http://example.com",
      offeredProtocols: ["chat", "superchat"],
      offeredExtensions: [{ name: "x-ext", params: new Map([["level", "1"]]) }],
    });
    expect(parsed.head.headers.get("authorization")).toBe("Bearer t");
    expect(r.offeredProtocols).toEqual(["chat", "superchat"]);
    expect(r.offeredExtensions).toEqual([ext]);
  });

  it("generates a fresh valid key when none is given", () => {
    const a = buildClientRequest({ path: "/", host: "h" }).key;
    const b = buildClientRequest({ path: "/", host: "h" }).key;
    expect(Buffer.from(a, "base64")).toHaveLength(16);
    expect(a).toMatch(/^[A-Za-z0-9+/]{22}==$/);
    expect(a).not.toBe(b);
  });

  it("throws INVALID_ARGUMENT for a path, host, key or header that cannot be sent as given", () => {
    const base: ClientRequestOptions = { path: "/", host: "h" };
    usageError(() => buildClientRequest({ ...base, path: "chat" }), 'path "chat" must start with "/"');
    usageError(() => buildClientRequest({ ...base, path: "/a b" }), "percent-encode");
    usageError(() => buildClientRequest({ ...base, path: "/a\r\nX: 1" }), "visible ASCII");
    usageError(() => buildClientRequest({ ...base, path: "/a#frag" }), "fragment");
    usageError(() => buildClientRequest({ ...base, host: "" }), 'host "" must be non-empty');
    usageError(() => buildClientRequest({ ...base, host: "h\r\nX: 1" }), "host");
    usageError(() => buildClientRequest({ ...base, key: "short" }), 'key "short" is not the base64 encoding of 16 bytes');
    usageError(() => buildClientRequest({ ...base, origin: "http://a\r\nX: 1" }), 'value of header "Origin" contains a CR');
    usageError(() => buildClientRequest({ ...base, headers: [["X-A", "1\n2"]] }), 'value of header "X-A" contains an LF');
    usageError(() => buildClientRequest({ ...base, headers: [["Bad Name", "1"]] }), 'header name "Bad Name"');
    usageError(() => buildClientRequest({ ...base, headers: [["Sec-WebSocket-Key", KEY]] }), "written by the handshake itself");
  });

  it("throws INVALID_ARGUMENT for a subprotocol that is not a token or is offered twice", () => {
    usageError(() => buildClientRequest({ path: "/", host: "h", protocols: ["a\r\nX: 1"] }), "is not a token");
    usageError(() => buildClientRequest({ path: "/", host: "h", protocols: ["a,b"] }), 'subprotocol "a,b" is not a token');
    usageError(() => buildClientRequest({ path: "/", host: "h", protocols: ["a", "a"] }), 'subprotocol "a" is offered twice');
  });

  it("throws INVALID_ARGUMENT for an extension configured twice", () => {
    usageError(
      () => buildClientRequest({ path: "/", host: "h", extensions: [fakeNegotiator("e", 4), fakeNegotiator("E", 2)] }),
      'extension "E" is configured twice',
    );
  });
});

describe("checkServerResponse", () => {
  it("accepts a correct 101 and reports no subprotocol and no extensions", () => {
    expect(checkServerResponse(with101({}), sent())).toEqual({ ok: true, protocol: null, extensions: [] });
  });

  it("accepts tokens in any case and among others", () => {
    const r = checkServerResponse(with101({ Upgrade: "WebSocket", Connection: "keep-alive, UPGRADE" }), sent());
    expect(r.ok).toBe(true);
  });

  it("fails when the server answered another status, naming it", () => {
    expect(checkServerResponse(response(403, "Forbidden", []), sent())).toEqual({
      ok: false,
      status: 403,
      message: "server answered 403 Forbidden instead of 101",
    });
    expect(checkServerResponse(response(200, "", []), sent())).toMatchObject({ message: "server answered 200 instead of 101" });
  });

  it("fails on a missing or wrong Upgrade", () => {
    expect(checkServerResponse(with101({ Upgrade: undefined }), sent())).toEqual({ ok: false, status: 101, message: "missing Upgrade: websocket" });
    expect(checkServerResponse(with101({ Upgrade: "h2c" }), sent())).toMatchObject({ message: 'Upgrade is "h2c" instead of websocket' });
  });

  it("fails on a missing or wrong Connection", () => {
    expect(checkServerResponse(with101({ Connection: undefined }), sent())).toMatchObject({ message: "missing Connection: Upgrade" });
    expect(checkServerResponse(with101({ Connection: "close" }), sent())).toMatchObject({
      message: 'Connection is "close", which does not include Upgrade',
    });
  });

  it("fails on a missing, repeated or mismatched Sec-WebSocket-Accept", () => {
    expect(checkServerResponse(with101({ "Sec-WebSocket-Accept": undefined }), sent())).toMatchObject({ message: "missing Sec-WebSocket-Accept" });
    const wrong = checkServerResponse(with101({ "Sec-WebSocket-Accept": acceptKey("AAAAAAAAAAAAAAAAAAAAAA==") }), sent());
    expect(wrong).toMatchObject({ ok: false, message: expect.stringContaining(`Sec-WebSocket-Accept mismatch: expected ${ACCEPT}`) });
    const twice = response(101, "", [...GOOD, ["Sec-WebSocket-Accept", ACCEPT]]);
    expect(checkServerResponse(twice, sent())).toMatchObject({ message: "2 Sec-WebSocket-Accept headers; exactly one is allowed" });
  });

  it("reports the subprotocol the server chose among those offered", () => {
    expect(checkServerResponse(with101({ "Sec-WebSocket-Protocol": "superchat" }), sent(["chat", "superchat"]))).toEqual({
      ok: true,
      protocol: "superchat",
      extensions: [],
    });
  });

  it("accepts a server that chose no subprotocol although some were offered (RFC 6455 allows it)", () => {
    expect(checkServerResponse(with101({}), sent(["chat"]))).toEqual({ ok: true, protocol: null, extensions: [] });
  });

  it("fails when the server chose a subprotocol that was not offered", () => {
    expect(checkServerResponse(with101({ "Sec-WebSocket-Protocol": "x" }), sent(["chat"]))).toMatchObject({
      message: 'server chose subprotocol "x" which was not offered',
    });
  });

  it("fails when the server answered with a subprotocol although none was offered", () => {
    expect(checkServerResponse(with101({ "Sec-WebSocket-Protocol": "chat" }), sent())).toMatchObject({
      message: 'server answered with a subprotocol although none was offered: "chat"',
    });
  });

  it("fails when the server answered more than one subprotocol", () => {
    expect(checkServerResponse(with101({ "Sec-WebSocket-Protocol": "a, b" }), sent(["a", "b"]))).toMatchObject({
      message: 'server answered more than one subprotocol: "a, b"',
    });
  });

  it("reports the extensions the server enabled, in its order", () => {
    const a = fakeNegotiator("a", 4);
    const b = fakeNegotiator("b", 2);
    const r = checkServerResponse(with101({ "Sec-WebSocket-Extensions": "b, a; level=1" }), sent([], [a, b]));
    expect(r).toEqual({
      ok: true,
      protocol: null,
      extensions: [
        { name: "b", rsvMask: 2, params: { name: "b", params: new Map() } },
        { name: "a", rsvMask: 4, params: { name: "a", params: new Map([["level", "1"]]) } },
      ],
    });
  });

  it("fails when the server enabled an extension that was not offered", () => {
    expect(checkServerResponse(with101({ "Sec-WebSocket-Extensions": "foo" }), sent())).toMatchObject({
      message: 'server enabled extension "foo" which was not offered',
    });
  });

  it("fails when the negotiator rejects the server's response element", () => {
    const r = checkServerResponse(with101({ "Sec-WebSocket-Extensions": "a; bogus" }), sent([], [fakeNegotiator("a", 4)]));
    expect(r).toMatchObject({ message: 'server\'s response for extension "a": parameter "bogus" was not offered' });
  });

  it("fails when the server enabled an extension twice or two extensions sharing an RSV bit", () => {
    const a = fakeNegotiator("a", 4);
    const b = fakeNegotiator("b", 4);
    expect(checkServerResponse(with101({ "Sec-WebSocket-Extensions": "a, a" }), sent([], [a]))).toMatchObject({
      message: 'server enabled extension "a" more than once',
    });
    expect(checkServerResponse(with101({ "Sec-WebSocket-Extensions": "a, b" }), sent([], [a, b]))).toMatchObject({
      message: 'server enabled extension "b" whose RSV bits another enabled extension already uses',
    });
  });

  it("fails on an unparseable extension element", () => {
    expect(checkServerResponse(with101({ "Sec-WebSocket-Extensions": "a; p=1; p=2" }), sent([], [fakeNegotiator("a", 4)]))).toMatchObject({
      message: 'server sent an unparseable Sec-WebSocket-Extensions element: extension "a": parameter "p" appears more than once',
    });
  });

  it("completes a whole handshake against the server side", () => {
    const ext = fakeNegotiator("x-ext", 4);
    const req = buildClientRequest({ path: "/", host: "h", protocols: ["v1", "v2"], extensions: [ext] });
    const parsed = new RequestHeadParser().push(req.bytes);
    if (parsed.kind !== "done") throw new Error("no parse");
    const check = checkUpgradeRequest(parsed.head);
    if (!check.ok) throw new Error(check.message);
    const neg = negotiateExtensions(check.request.offeredExtensions, [fakeNegotiator("x-ext", 4)]);
    const bytes = buildAcceptResponse(check.request.key, "v2", neg.responseHeader);
    const res = new ResponseHeadParser().push(bytes);
    if (res.kind !== "done") throw new Error("no parse");
    const r = checkServerResponse(res.head, req);
    expect(r).toEqual({
      ok: true,
      protocol: "v2",
      extensions: [{ name: "x-ext", rsvMask: 4, params: { name: "x-ext", params: new Map([["level", "1"]]) } }],
    });
  });
});
