/**
 * The server's half of the opening handshake (RFC 6455 §4.2): judge an upgrade
 * request, choose a subprotocol and extensions, and write the 101 or the refusal.
 *
 * Every function here is pure: the caller parsed the head and decides what to do with
 * the verdict (a FILTER_PROTOCOL_CONNECTION callback may still refuse an acceptable
 * request).
 */
import * as crypto from "node:crypto";
import { usage } from "../errors.js";
import { assertHeaderField, isToken } from "../http/headers.js";
import type { HttpRequestHead } from "../http/head-parser.js";
import {
  formatExtensionHeader,
  isExtensionOffer,
  parseExtensionHeader,
  type ExtensionElement,
  type ExtensionOffer,
  type ExtensionParseError,
} from "./extension-header.js";
import type { ExtensionNegotiator, NegotiatedExtension } from "./extension.js";

export interface UpgradeRequest {
  head: HttpRequestHead;
  /** Sec-WebSocket-Key, checked to be the base64 of 16 bytes. */
  key: string;
  /** The resource asked for, in origin-form with its query ("/chat?room=1"), also when the target was absolute-form. */
  path: string;
  host: string;
  origin: string | undefined;
  /** Sec-WebSocket-Protocol elements in the client's order. */
  offeredProtocols: string[];
  /** The Sec-WebSocket-Extensions elements that parsed, in the client's order. */
  offeredExtensions: ExtensionOffer[];
  /** The elements that did not parse; they are declined, this is for logging. */
  unparseableExtensions: ExtensionParseError[];
}

export type UpgradeCheck =
  | { ok: true; request: UpgradeRequest }
  | { ok: false; status: number; message: string; headers: Array<[string, string]> };

const WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/**
 * Exactly the canonical base64 of 16 bytes: 22 significant characters, the last of
 * which carries only 2 bits (so its low 4 bits are zero: A, Q, g or w), then "==".
 */
const KEY_PATTERN = /^[A-Za-z0-9+/]{21}[AQgw]==$/;

export function isValidWebSocketKey(key: string): boolean {
  return KEY_PATTERN.test(key);
}

function refuse(
  status: number,
  message: string,
  headers: Array<[string, string]> = [],
): UpgradeCheck {
  return { ok: false, status, message, headers };
}

/**
 * The resource name of the target. Absolute-form is allowed because HTTP/1.1 servers
 * must accept it (RFC 7230 §5.3.2); a fragment is not, RFC 6455 §3 forbids it.
 */
function resourcePath(target: string): string | { error: string } {
  if (target.includes("#")) return { error: `request-target ${JSON.stringify(target)} contains a fragment ("#")` };
  if (target.startsWith("/")) return target;
  const absolute = splitAbsoluteForm(target);
  if (!absolute) {
    return { error: `request-target ${JSON.stringify(target)} is neither a path nor an absolute http(s)/ws(s) URI` };
  }
  return absolute.rest.startsWith("/") ? absolute.rest : "/" + absolute.rest;
}

const ABSOLUTE_FORM = /^(?:https?|wss?):\/\/([^/?]*)(.*)$/i;

/**
 * An absolute-form target of an upgrade (http, https, ws or wss) split into its
 * authority and what follows it; null for any other target. @internal
 */
export function splitAbsoluteForm(target: string): { authority: string; rest: string } | null {
  const m = ABSOLUTE_FORM.exec(target);
  return m ? { authority: m[1]!, rest: m[2]! } : null;
}

/** Split a list header across its lines, trimming OWS and dropping empty elements. */
function listElements(values: readonly string[]): string[] {
  const out: string[] = [];
  for (const v of values) {
    for (const part of v.split(",")) {
      const t = part.replace(/^[ \t]+|[ \t]+$/g, "");
      if (t !== "") out.push(t);
    }
  }
  return out;
}

/**
 * Is this request a WebSocket upgrade we can answer (RFC 6455 §4.2.1)?
 *
 * A request without "websocket" in Upgrade (Upgrade missing included) is answered 400
 * "not a WebSocket upgrade": it reached a WebSocket endpoint, and a client that did
 * not ask to upgrade is not helped by 426. 426 is kept for the one case the RFC names,
 * a version we do not speak, where it tells the client which version to retry with.
 */
export function checkUpgradeRequest(head: HttpRequestHead): UpgradeCheck {
  const h = head.headers;
  if (head.method !== "GET") {
    return refuse(405, `method ${head.method} is not allowed for a WebSocket upgrade, only GET`, [["Allow", "GET"]]);
  }
  if (head.versionMajor < 1 || (head.versionMajor === 1 && head.versionMinor < 1)) {
    return refuse(
      400,
      `WebSocket needs HTTP/1.1 or later, but the request is HTTP/${head.versionMajor}.${head.versionMinor}`,
    );
  }

  const hosts = h.getAll("host");
  if (hosts.length === 0) return refuse(400, "missing Host header");
  if (hosts.length > 1) return refuse(400, `${hosts.length} Host headers; exactly one is allowed`);
  const host = hosts[0]!;
  if (host === "") return refuse(400, "empty Host header");

  const upgrade = h.tokens("upgrade");
  if (!upgrade.includes("websocket")) {
    const got = h.has("upgrade") ? `Upgrade is ${JSON.stringify(h.get("upgrade"))}` : "no Upgrade header";
    return refuse(400, `not a WebSocket upgrade: ${got}`);
  }
  if (!h.tokens("connection").includes("upgrade")) {
    const got = h.has("connection") ? `Connection is ${JSON.stringify(h.get("connection"))}` : "no Connection header";
    return refuse(400, `Connection header does not include "Upgrade": ${got}`);
  }

  const versions = h.getAll("sec-websocket-version");
  if (versions.length !== 1 || versions[0] !== "13") {
    const got =
      versions.length === 0
        ? "missing Sec-WebSocket-Version"
        : `Sec-WebSocket-Version ${JSON.stringify(versions.join(", "))} is not supported`;
    return refuse(426, `${got}; this server speaks WebSocket version 13`, [["Sec-WebSocket-Version", "13"]]);
  }

  const keys = h.getAll("sec-websocket-key");
  if (keys.length === 0) return refuse(400, "missing Sec-WebSocket-Key");
  if (keys.length > 1) return refuse(400, `${keys.length} Sec-WebSocket-Key headers; exactly one is allowed`);
  const key = keys[0]!;
  if (!isValidWebSocketKey(key)) {
    return refuse(400, `Sec-WebSocket-Key ${JSON.stringify(key)} is not the base64 encoding of 16 bytes`);
  }

  const path = resourcePath(head.target);
  if (typeof path !== "string") return refuse(400, path.error);

  const origins = h.getAll("origin");
  if (origins.length > 1) return refuse(400, `${origins.length} Origin headers; at most one is allowed`);

  const offeredProtocols = listElements(h.getAll("sec-websocket-protocol"));
  for (const p of offeredProtocols) {
    if (!isToken(p)) return refuse(400, `subprotocol ${JSON.stringify(p)} in Sec-WebSocket-Protocol is not a token`);
  }

  const offeredExtensions: ExtensionOffer[] = [];
  const unparseableExtensions: ExtensionParseError[] = [];
  for (const e of parseExtensionHeader(h.getAll("sec-websocket-extensions"))) {
    if (isExtensionOffer(e)) offeredExtensions.push(e);
    else unparseableExtensions.push(e);
  }

  return {
    ok: true,
    request: {
      head,
      key,
      path,
      host,
      origin: origins[0],
      offeredProtocols,
      offeredExtensions,
      unparseableExtensions,
    },
  };
}

export type SubprotocolChoice =
  | { ok: true; protocol: string | null; bound: string | null }
  | { ok: false; status: 400; message: string };

/**
 * Choose the subprotocol: the first of `supported` (server preference) that the client
 * offered, compared exactly (subprotocol names are case-sensitive). `protocol` is what
 * the 101 echoes, `bound` what the connection binds to; they differ only when the client
 * offered nothing, when the connection binds to the default and nothing is echoed
 * (echoing an unoffered protocol would make the client fail the connection).
 * A client that offered protocols none of which is served is refused rather than
 * bound to the default: it asked for something specific and would fail anyway.
 */
export function selectSubprotocol(
  offered: readonly string[],
  supported: readonly string[],
  defaultProtocol: string | null,
): SubprotocolChoice {
  if (offered.length === 0) return { ok: true, protocol: null, bound: defaultProtocol };
  for (const p of supported) {
    if (offered.includes(p)) return { ok: true, protocol: p, bound: p };
  }
  const list = offered.map((p) => JSON.stringify(p)).join(", ");
  return {
    ok: false,
    status: 400,
    message: `none of the offered subprotocols (${list}) is served here`,
  };
}

/**
 * Agree on extensions. Offers are taken by extension name in the order the client first
 * names them (its preference); each name goes to the negotiator of that name, which
 * sees all the offers of its extension. Unparseable elements, names nobody handles,
 * negotiators that decline and negotiators whose RSV bits are already taken are all
 * declined silently: declining is always a valid answer (RFC 6455 §9.1), failing the
 * handshake never is.
 */
export function negotiateExtensions(
  offers: readonly ExtensionElement[],
  negotiators: readonly ExtensionNegotiator[],
): { responseHeader: string | null; negotiated: NegotiatedExtension[] } {
  const byName = new Map<string, ExtensionOffer[]>();
  for (const o of offers) {
    if (!isExtensionOffer(o)) continue;
    const list = byName.get(o.name);
    if (list) list.push(o);
    else byName.set(o.name, [o]);
  }
  const responses: ExtensionOffer[] = [];
  const negotiated: NegotiatedExtension[] = [];
  let rsvUsed = 0;
  for (const [name, list] of byName) {
    const negotiator = negotiators.find((n) => n.name.toLowerCase() === name);
    if (!negotiator || (negotiator.rsvMask & rsvUsed) !== 0) continue;
    const accepted = negotiator.accept(list);
    if (accepted === null) continue;
    rsvUsed |= negotiator.rsvMask;
    responses.push(accepted.response);
    negotiated.push({ name: negotiator.name, rsvMask: negotiator.rsvMask, params: accepted.params });
  }
  return {
    responseHeader: responses.length === 0 ? null : formatExtensionHeader(responses),
    negotiated,
  };
}

/** Sec-WebSocket-Accept for a key: base64(SHA-1(key + GUID)), RFC 6455 §4.2.2. */
export function acceptKey(key: string): string {
  // The key is base64 (checked before this is called), so latin1 and UTF-8 agree on it.
  if (oneShotHash) return oneShotHash("sha1", key + WS_GUID, "base64");
  return crypto.createHash("sha1").update(key + WS_GUID, "latin1").digest("base64");
}

/**
 * crypto.hash (Node 20.12+): one call, no Hash object per handshake. Looked up rather
 * than imported so that earlier Node 20 releases still load this module.
 */
const oneShotHash = (crypto as { hash?: (algorithm: string, data: string, encoding: "base64") => string }).hash;

const REASONS: Readonly<Record<number, string>> = {
  101: "Switching Protocols",
  300: "Multiple Choices",
  301: "Moved Permanently",
  302: "Found",
  303: "See Other",
  304: "Not Modified",
  307: "Temporary Redirect",
  308: "Permanent Redirect",
  400: "Bad Request",
  401: "Unauthorized",
  402: "Payment Required",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  406: "Not Acceptable",
  407: "Proxy Authentication Required",
  408: "Request Timeout",
  409: "Conflict",
  410: "Gone",
  411: "Length Required",
  412: "Precondition Failed",
  413: "Content Too Large",
  414: "URI Too Long",
  415: "Unsupported Media Type",
  416: "Range Not Satisfiable",
  417: "Expectation Failed",
  421: "Misdirected Request",
  422: "Unprocessable Content",
  426: "Upgrade Required",
  428: "Precondition Required",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  451: "Unavailable For Legal Reasons",
  500: "Internal Server Error",
  501: "Not Implemented",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
  505: "HTTP Version Not Supported",
};

/** The standard reason phrase of a status, or a generic one by class for unlisted codes. */
export function reasonPhrase(status: number): string {
  const known = REASONS[status];
  if (known !== undefined) return known;
  if (status >= 500) return "Server Error";
  if (status >= 400) return "Client Error";
  if (status >= 300) return "Redirection";
  return "Unknown";
}

/** Add the caller's headers, refusing unsafe values and names the response writes itself. */
function writeExtraHeaders(
  lines: string[],
  extra: Iterable<[string, string]> | undefined,
  owned: readonly string[],
  what: string,
): void {
  if (!extra) return;
  for (const [name, value] of extra) {
    assertHeaderField(name, value);
    if (owned.includes(name.toLowerCase())) {
      throw usage("INVALID_ARGUMENT", `header "${name}" is written by the ${what} itself and cannot be added`);
    }
    lines.push(`${name}: ${value}\r\n`);
  }
}

const ACCEPT_OWNED = ["upgrade", "connection", "sec-websocket-accept", "sec-websocket-protocol", "sec-websocket-extensions"];
const REJECT_OWNED = ["content-type", "content-length", "connection", "transfer-encoding"];

/** The 101 response that completes the handshake. */
export function buildAcceptResponse(
  key: string,
  protocol: string | null,
  extensionsHeader: string | null,
  extraHeaders?: Iterable<[string, string]>,
): Buffer {
  const lines = [
    "HTTP/1.1 101 Switching Protocols\r\n",
    "Upgrade: websocket\r\n",
    "Connection: Upgrade\r\n",
    `Sec-WebSocket-Accept: ${acceptKey(key)}\r\n`,
  ];
  if (protocol !== null) {
    if (!isToken(protocol)) {
      throw usage("INVALID_ARGUMENT", `subprotocol ${JSON.stringify(protocol)} is not a token`);
    }
    lines.push(`Sec-WebSocket-Protocol: ${protocol}\r\n`);
  }
  if (extensionsHeader !== null) {
    assertHeaderField("Sec-WebSocket-Extensions", extensionsHeader);
    lines.push(`Sec-WebSocket-Extensions: ${extensionsHeader}\r\n`);
  }
  writeExtraHeaders(lines, extraHeaders, ACCEPT_OWNED, "101 response");
  lines.push("\r\n");
  return Buffer.from(lines.join(""), "latin1");
}

/**
 * A refusal that closes the connection: the status, and `message` as a plain-text body
 * so a human debugging with curl or a browser's network tab sees why.
 */
export function buildRejectResponse(
  status: number,
  message: string,
  extraHeaders?: Iterable<[string, string]>,
): Buffer {
  if (!Number.isInteger(status) || status < 300 || status > 599) {
    throw usage("INVALID_ARGUMENT", `a refusal needs a 3xx, 4xx or 5xx status, got ${String(status)}`);
  }
  const body = Buffer.from(message + "\n", "utf8");
  const lines = [
    `HTTP/1.1 ${status} ${reasonPhrase(status)}\r\n`,
    "Content-Type: text/plain; charset=utf-8\r\n",
    `Content-Length: ${body.length}\r\n`,
    "Connection: close\r\n",
  ];
  writeExtraHeaders(lines, extraHeaders, REJECT_OWNED, "refusal");
  lines.push("\r\n");
  return Buffer.concat([Buffer.from(lines.join(""), "latin1"), body]);
}
