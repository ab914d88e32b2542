import { afterEach, describe, expect, it } from "vitest";
import { nativeZlibAvailable, overrideNativeZlibAvailable } from "../../../src/core/deflate/native-zlib.js";
import {
  PerMessageDeflate,
  deflateSessionConfig,
  permessageDeflate,
  type PerMessageDeflateOptions,
} from "../../../src/core/deflate/negotiator.js";
import { parseWindowBits } from "../../../src/core/deflate/params.js";
import { WsloopUsageError } from "../../../src/core/errors.js";
import { checkServerResponse } from "../../../src/core/handshake/client-handshake.js";
import { formatExtensionHeader, isExtensionOffer, parseExtensionHeader, type ExtensionOffer } from "../../../src/core/handshake/extension-header.js";
import { acceptKey, negotiateExtensions } from "../../../src/core/handshake/server-handshake.js";
import { HeaderList } from "../../../src/core/http/headers.js";
import { WsSession } from "../../../src/core/ws-session.js";
import { feedAll, keeperSession, text, wire } from "./harness.js";

/** The offers of a Sec-WebSocket-Extensions value, as the server handshake hands them over. */
function offers(header: string): ExtensionOffer[] {
  return parseExtensionHeader([header]).filter(isExtensionOffer);
}

/** What the server answers to `header` (null: declined), as header text. */
function answer(header: string, options: PerMessageDeflateOptions = {}): string | null {
  return negotiateExtensions(parseExtensionHeader([header]), [permessageDeflate(options)]).responseHeader;
}

const KEY = "dGhlIHNhbXBsZSBub25jZQ==";

/** The client's verdict on a 101 carrying `extensions` (null: accepted). */
function clientVerdict(extensions: string | null, options: PerMessageDeflateOptions = {}): string | null {
  const headers: Array<[string, string]> = [
    ["Upgrade", "websocket"],
    ["Connection", "Upgrade"],
    ["Sec-WebSocket-Accept", acceptKey(KEY)],
  ];
  if (extensions !== null) headers.push(["Sec-WebSocket-Extensions", extensions]);
  const check = checkServerResponse(
    { versionMajor: 1, versionMinor: 1, status: 101, reason: "Switching Protocols", headers: new HeaderList(headers) },
    { key: KEY, offeredProtocols: [], offeredExtensions: [permessageDeflate(options)] },
  );
  return check.ok ? null : check.message;
}

function usageError(fn: () => unknown, message: string): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(WsloopUsageError);
    expect((e as Error).message).toContain(message);
    return;
  }
  expect.unreachable("expected a WsloopUsageError");
}

afterEach(() => overrideNativeZlibAvailable(null));

describe("window bits values", () => {
  it("are decimal integers from 8 to 15 without leading zeroes (RFC 7692 §7.1.2.1)", () => {
    for (let bits = 8; bits <= 15; bits++) expect(parseWindowBits(String(bits))).toBe(bits);
    for (const bad of ["7", "16", "0", "08", "015", "9.0", "1e1", "-9", "+9", "", " 9", "a", "99", "100"]) {
      expect(parseWindowBits(bad), bad).toBeNull();
    }
    expect(parseWindowBits(true)).toBeNull();
  });
});

describe("server: answering offers", () => {
  it("accepts a bare offer with a bare answer", () => {
    expect(answer("permessage-deflate")).toBe("permessage-deflate");
  });

  it("grants what the client asks for and echoes the client's own hints", () => {
    expect(answer("permessage-deflate; server_no_context_takeover")).toBe("permessage-deflate; server_no_context_takeover");
    expect(answer("permessage-deflate; client_no_context_takeover")).toBe("permessage-deflate; client_no_context_takeover");
    expect(answer("permessage-deflate; server_max_window_bits=10")).toBe("permessage-deflate; server_max_window_bits=10");
    expect(answer("permessage-deflate; server_max_window_bits=15")).toBe("permessage-deflate; server_max_window_bits=15");
    expect(answer("permessage-deflate; client_max_window_bits=10")).toBe("permessage-deflate; client_max_window_bits=10");
    // Bare: the client supports the parameter; nothing to say while the server is content with 15.
    expect(answer("permessage-deflate; client_max_window_bits")).toBe("permessage-deflate");
    expect(
      answer("permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=12"),
    ).toBe("permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=12");
  });

  it("accepts an 8-bit server window: zlib's 9-bit deflater never reaches back more than 250 bytes", () => {
    expect(answer("permessage-deflate; server_max_window_bits=8")).toBe("permessage-deflate; server_max_window_bits=8");
    expect(answer("permessage-deflate; client_max_window_bits=8")).toBe("permessage-deflate; client_max_window_bits=8");
  });

  it("reads quoted values and any letter case", () => {
    expect(answer('permessage-deflate; server_max_window_bits="10"')).toBe("permessage-deflate; server_max_window_bits=10");
    expect(answer("PerMessage-Deflate; Client_Max_Window_Bits=11")).toBe("permessage-deflate; client_max_window_bits=11");
  });

  it("narrows by what the server demands", () => {
    expect(answer("permessage-deflate", { serverNoContextTakeover: true })).toBe("permessage-deflate; server_no_context_takeover");
    expect(answer("permessage-deflate", { clientNoContextTakeover: true })).toBe("permessage-deflate; client_no_context_takeover");
    expect(answer("permessage-deflate", { serverMaxWindowBits: 10 })).toBe("permessage-deflate; server_max_window_bits=10");
    expect(answer("permessage-deflate", { serverMaxWindowBits: 15 })).toBe("permessage-deflate");
    expect(answer("permessage-deflate; server_max_window_bits=12", { serverMaxWindowBits: 10 })).toBe(
      "permessage-deflate; server_max_window_bits=10",
    );
    expect(answer("permessage-deflate; server_max_window_bits=9", { serverMaxWindowBits: 10 })).toBe(
      "permessage-deflate; server_max_window_bits=9",
    );
    expect(answer("permessage-deflate; client_max_window_bits", { clientMaxWindowBits: 10 })).toBe(
      "permessage-deflate; client_max_window_bits=10",
    );
    expect(answer("permessage-deflate; client_max_window_bits=9", { clientMaxWindowBits: 10 })).toBe(
      "permessage-deflate; client_max_window_bits=9",
    );
    // §7.1.2.2: without the parameter in the offer the answer MUST NOT carry it; the
    // client keeps its 15 bits and the offer is still accepted.
    expect(answer("permessage-deflate", { clientMaxWindowBits: 10 })).toBe("permessage-deflate");
  });

  it("declines offers it cannot read, never failing the handshake (RFC 7692 §5)", () => {
    const declined = [
      "permessage-deflate; foo",
      "permessage-deflate; foo=1",
      "permessage-deflate; server_no_context_takeover=1",
      'permessage-deflate; client_no_context_takeover="x"',
      "permessage-deflate; server_max_window_bits",
      "permessage-deflate; server_max_window_bits=7",
      "permessage-deflate; server_max_window_bits=16",
      "permessage-deflate; server_max_window_bits=08",
      "permessage-deflate; server_max_window_bits=abc",
      "permessage-deflate; client_max_window_bits=7",
      "permessage-deflate; client_max_window_bits=16",
      "permessage-deflate; client_max_window_bits=0",
      'permessage-deflate; client_max_window_bits="1 0"',
      // Duplicated parameters do not even parse; the element is dropped before the negotiator.
      "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
      "permessage-deflate; client_max_window_bits=10; client_max_window_bits=11",
      "permessage-deflate; server_max_window_bits=10; server_max_window_bits=10",
      "permessage-deflate; client_max_window_bits; client_max_window_bits",
      // Unparseable elements.
      "permessage-deflate; =10",
      "permessage-deflate; server_max_window_bits=",
      'permessage-deflate; server_max_window_bits="10',
      "permessage-deflate x",
    ];
    for (const header of declined) {
      expect(answer(header), header).toBeNull();
      expect(negotiateExtensions(parseExtensionHeader([header]), [permessageDeflate()]).negotiated, header).toEqual([]);
    }
  });

  it("takes the first acceptable of several offers, in one header or several", () => {
    expect(answer("permessage-deflate; foo, permessage-deflate; server_max_window_bits=10")).toBe(
      "permessage-deflate; server_max_window_bits=10",
    );
    expect(answer("permessage-deflate; server_max_window_bits=10, permessage-deflate")).toBe(
      "permessage-deflate; server_max_window_bits=10",
    );
    expect(answer("permessage-deflate; server_max_window_bits=16, permessage-deflate; client_max_window_bits=99, permessage-deflate")).toBe(
      "permessage-deflate",
    );
    expect(answer("x-webkit-deflate-frame, permessage-deflate; server_max_window_bits=08, permessage-deflate; client_no_context_takeover")).toBe(
      "permessage-deflate; client_no_context_takeover",
    );
    const r = negotiateExtensions(
      parseExtensionHeader(["permessage-deflate; bogus", "permessage-deflate; server_no_context_takeover"]),
      [permessageDeflate()],
    );
    expect(r.responseHeader).toBe("permessage-deflate; server_no_context_takeover");
    expect(r.negotiated.map((e) => e.rsvMask)).toEqual([4]);
    // The negotiator itself, given the offers directly.
    expect(new PerMessageDeflate().accept([...offers("permessage-deflate; foo"), ...offers("permessage-deflate; client_max_window_bits=9")])?.response).toEqual({
      name: "permessage-deflate",
      params: new Map([["client_max_window_bits", "9"]]),
    });
    expect(new PerMessageDeflate().accept(offers("permessage-deflate; foo, permessage-deflate; bar"))).toBeNull();
  });
});

describe("client: offering and checking the answer", () => {
  it("offers client_max_window_bits bare by default, and what its options ask for", () => {
    expect(formatExtensionHeader(permessageDeflate().offer())).toBe("permessage-deflate; client_max_window_bits");
    expect(
      formatExtensionHeader(
        permessageDeflate({ serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 10, clientMaxWindowBits: 9 }).offer(),
      ),
    ).toBe("permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=9");
  });

  it("accepts every answer the RFC allows", () => {
    const ok = [
      null,
      "permessage-deflate",
      "permessage-deflate; server_no_context_takeover", // §7.1.1.1: even if not asked for
      "permessage-deflate; client_no_context_takeover",
      "permessage-deflate; server_max_window_bits=8", // §7.1.2.1: even if not asked for
      "permessage-deflate; server_max_window_bits=15",
      "permessage-deflate; client_max_window_bits=8", // offered bare: any value
      "permessage-deflate; client_max_window_bits=15",
      "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=9",
      'permessage-deflate; server_max_window_bits="12"',
    ];
    for (const header of ok) expect(clientVerdict(header), String(header)).toBeNull();
  });

  it("fails on anything it did not offer or cannot read", () => {
    const bad: Array<[string, string]> = [
      ["permessage-deflate; foo", 'unknown parameter "foo"'],
      ["permessage-deflate; server_no_context_takeover=1", "takes no value"],
      ["permessage-deflate; client_max_window_bits", "needs a value"],
      ["permessage-deflate; server_max_window_bits", "needs a value"],
      ["permessage-deflate; server_max_window_bits=7", "from 8 to 15"],
      ["permessage-deflate; client_max_window_bits=16", "from 8 to 15"],
      ["permessage-deflate; client_max_window_bits=010", "from 8 to 15"],
      ["permessage-deflate, permessage-deflate", "more than once"],
      ["permessage-deflate; server_no_context_takeover; server_no_context_takeover", "unparseable"],
      ["x-webkit-deflate-frame", "not offered"],
      ["permessage-deflate; =", "unparseable"],
    ];
    for (const [header, message] of bad) expect(clientVerdict(header), header).toContain(message);
  });

  it("holds the server to what it asked for", () => {
    expect(clientVerdict("permessage-deflate", { serverNoContextTakeover: true })).toContain("server_no_context_takeover was asked for");
    expect(clientVerdict("permessage-deflate; server_no_context_takeover", { serverNoContextTakeover: true })).toBeNull();
    expect(clientVerdict("permessage-deflate", { serverMaxWindowBits: 10 })).toContain("server_max_window_bits was asked for");
    expect(clientVerdict("permessage-deflate; server_max_window_bits=11", { serverMaxWindowBits: 10 })).toContain("larger than the 10 offered");
    expect(clientVerdict("permessage-deflate; server_max_window_bits=10", { serverMaxWindowBits: 10 })).toBeNull();
    expect(clientVerdict("permessage-deflate; server_max_window_bits=8", { serverMaxWindowBits: 10 })).toBeNull();
    expect(clientVerdict("permessage-deflate; client_max_window_bits=12", { clientMaxWindowBits: 10 })).toContain("larger than the 10 offered");
    expect(clientVerdict("permessage-deflate; client_max_window_bits=10", { clientMaxWindowBits: 10 })).toBeNull();
    expect(clientVerdict("permessage-deflate; client_max_window_bits=8", { clientMaxWindowBits: 10 })).toBeNull();
    // A client may always be told to keep no context, or be left alone.
    expect(clientVerdict(null, { serverNoContextTakeover: true, serverMaxWindowBits: 9 })).toBeNull();
  });
});

describe("both sides, every combination", () => {
  const offerChoices: PerMessageDeflateOptions[] = [];
  for (const snct of [false, true])
    for (const cnct of [false, true])
      for (const smwb of [undefined, 8, 10, 15])
        for (const cmwb of [undefined, 8, 11, 15]) {
          const o: PerMessageDeflateOptions = {};
          if (snct) o.serverNoContextTakeover = true;
          if (cnct) o.clientNoContextTakeover = true;
          if (smwb !== undefined) o.serverMaxWindowBits = smwb;
          if (cmwb !== undefined) o.clientMaxWindowBits = cmwb;
          offerChoices.push(o);
        }
  const serverChoices: PerMessageDeflateOptions[] = [];
  for (const snct of [false, true])
    for (const cnct of [false, true])
      for (const smwb of [undefined, 9, 15])
        for (const cmwb of [undefined, 9]) {
          const o: PerMessageDeflateOptions = {};
          if (snct) o.serverNoContextTakeover = true;
          if (cnct) o.clientNoContextTakeover = true;
          if (smwb !== undefined) o.serverMaxWindowBits = smwb;
          if (cmwb !== undefined) o.clientMaxWindowBits = cmwb;
          serverChoices.push(o);
        }

  it("the server's answer is one the offering client accepts, granting every request and every demand", () => {
    let checked = 0;
    for (const clientOptions of offerChoices) {
      const client = permessageDeflate(clientOptions);
      const offered = formatExtensionHeader(client.offer());
      for (const serverOptions of serverChoices) {
        const server = permessageDeflate(serverOptions);
        const result = negotiateExtensions(parseExtensionHeader([offered]), [server]);
        const label = `${offered} | server ${JSON.stringify(serverOptions)}`;
        expect(result.responseHeader, label).not.toBeNull();
        expect(clientVerdict(result.responseHeader, clientOptions), label).toBeNull();
        const s = deflateSessionConfig("server", result.negotiated, [server])!.agreement;
        const response = parseExtensionHeader([result.responseHeader!]).filter(isExtensionOffer);
        const c = deflateSessionConfig("client", [{ name: "permessage-deflate", rsvMask: 4, params: response[0]! }], [client])!.agreement;
        // Both ends agree on how each side compresses.
        expect(c, label).toEqual(s);
        // Requests granted.
        if (clientOptions.serverNoContextTakeover) expect(s.serverNoContextTakeover, label).toBe(true);
        if (clientOptions.clientNoContextTakeover) expect(s.clientNoContextTakeover, label).toBe(true);
        expect(s.serverMaxWindowBits, label).toBeLessThanOrEqual(clientOptions.serverMaxWindowBits ?? 15);
        expect(s.clientMaxWindowBits, label).toBeLessThanOrEqual(clientOptions.clientMaxWindowBits ?? 15);
        // Demands met.
        if (serverOptions.serverNoContextTakeover) expect(s.serverNoContextTakeover, label).toBe(true);
        if (serverOptions.clientNoContextTakeover) expect(s.clientNoContextTakeover, label).toBe(true);
        expect(s.serverMaxWindowBits, label).toBeLessThanOrEqual(serverOptions.serverMaxWindowBits ?? 15);
        // The client always names client_max_window_bits, so the server's cap applies.
        expect(s.clientMaxWindowBits, label).toBeLessThanOrEqual(serverOptions.clientMaxWindowBits ?? 15);
        checked++;
      }
    }
    expect(checked).toBe(offerChoices.length * serverChoices.length);
  });

  it("sessions built from each agreement exchange compressed messages both ways", () => {
    const messages = [text(300, 1), text(300, 1), text(40, 2)];
    for (const clientOptions of offerChoices) {
      const client = permessageDeflate(clientOptions);
      const server = permessageDeflate({ serverMaxWindowBits: 9 });
      const result = negotiateExtensions(parseExtensionHeader([formatExtensionHeader(client.offer())]), [server]);
      const response = parseExtensionHeader([result.responseHeader!]).filter(isExtensionOffer)[0]!;
      const s = keeperSession("server", { deflate: deflateSessionConfig("server", result.negotiated, [server]) });
      const c = keeperSession("client", { deflate: deflateSessionConfig("client", [{ name: "permessage-deflate", rsvMask: 4, params: response }], [client]) });
      for (const m of messages) {
        feedAll(c.session, [wire(s.session, (out) => s.session.encodeData(out, 1, m))]);
        feedAll(s.session, [wire(c.session, (out) => c.session.encodeData(out, 1, m))]);
      }
      const label = JSON.stringify(clientOptions);
      expect(c.keeper.messages().map((m) => m.data.toString()), label).toEqual(messages.map(String));
      expect(s.keeper.messages().map((m) => m.data.toString()), label).toEqual(messages.map(String));
      expect(c.session.deflate!.stats.received.messages, label).toBe(3);
      expect(s.session.deflate!.stats.received.messages, label).toBe(3);
    }
  });
});

describe("from the handshake to the session", () => {
  it("reads the agreement and the negotiator's tuning", () => {
    const server = permessageDeflate({ level: 1, memLevel: 4, threshold: 10, inflateChunk: 1024 });
    const r = negotiateExtensions(parseExtensionHeader(["permessage-deflate; client_max_window_bits=10"]), [server]);
    expect(deflateSessionConfig("server", r.negotiated, [server])).toEqual({
      agreement: { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 15, clientMaxWindowBits: 10 },
      tuning: { level: 1, memLevel: 4, threshold: 10, inflateChunk: 1024 },
    });
    expect(deflateSessionConfig("server", [], [server])).toBeNull();
    // Without the negotiator: the agreement alone.
    expect(deflateSessionConfig("server", r.negotiated)).toEqual({
      agreement: { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 15, clientMaxWindowBits: 10 },
    });
  });

  it("a client honours the hints of its offer whatever the server answered (RFC 7692 §7.1.1.2, §7.1.2.2)", () => {
    const client = permessageDeflate({ clientNoContextTakeover: true, clientMaxWindowBits: 10 });
    const cfg = deflateSessionConfig("client", [{ name: "permessage-deflate", rsvMask: 4, params: offers("permessage-deflate")[0]! }], [client]);
    expect(cfg!.agreement).toEqual({ serverNoContextTakeover: false, clientNoContextTakeover: true, serverMaxWindowBits: 15, clientMaxWindowBits: 10 });
  });

  it("without Node's zlib binding it neither offers nor accepts, and a session refuses the config", () => {
    expect(nativeZlibAvailable()).toBe(true);
    overrideNativeZlibAvailable(false);
    expect(permessageDeflate().offer()).toEqual([]);
    expect(answer("permessage-deflate")).toBeNull();
    expect(
      () =>
        new WsSession(
          {
            role: "server",
            deflate: { agreement: { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 15, clientMaxWindowBits: 15 } },
          },
          {} as never,
        ),
    ).toThrow(WsloopUsageError);
    overrideNativeZlibAvailable(null);
    expect(nativeZlibAvailable()).toBe(true);
  });

  it("refuses options out of range", () => {
    usageError(() => permessageDeflate({ serverMaxWindowBits: 7 }), "serverMaxWindowBits must be an integer from 8 to 15");
    usageError(() => permessageDeflate({ clientMaxWindowBits: 16 }), "clientMaxWindowBits must be an integer from 8 to 15");
    usageError(() => permessageDeflate({ serverMaxWindowBits: 9.5 }), "serverMaxWindowBits");
    usageError(() => permessageDeflate({ level: 10 }), "level must be an integer from 0 to 9");
    usageError(() => permessageDeflate({ level: -2 }), "level");
    usageError(() => permessageDeflate({ memLevel: 0 }), "memLevel must be an integer from 1 to 9");
    usageError(() => permessageDeflate({ threshold: -1 }), "threshold");
    usageError(() => permessageDeflate({ inflateChunk: 0 }), "inflateChunk");
  });
});
