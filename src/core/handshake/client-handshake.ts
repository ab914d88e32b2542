/**
 * The client's half of the opening handshake (RFC 6455 §4.1): write the upgrade
 * request, then judge the server's response against what was offered.
 */
import { randomBytes } from "node:crypto";
import { usage } from "../errors.js";
import { assertHeaderField, isToken } from "../http/headers.js";
import type { HttpResponseHead } from "../http/head-parser.js";
import { formatExtensionHeader, isExtensionOffer, parseExtensionHeader } from "./extension-header.js";
import type { ExtensionNegotiator, NegotiatedExtension } from "./extension.js";
import { acceptKey, isValidWebSocketKey } from "./server-handshake.js";

export interface ClientRequestOptions {
  /** The resource with its query, in origin-form: "/chat?room=1". */
  path: string;
  /** The Host header: host name, with ":port" when the port is not the scheme's default. */
  host: string;
  origin?: string;
  /** Subprotocols to offer, most preferred first. */
  protocols?: readonly string[];
  /** Extensions to offer, in the order they should apply. */
  extensions?: readonly ExtensionNegotiator[];
  headers?: Iterable<[string, string]>;
  /** A fixed Sec-WebSocket-Key, for tests; by default 16 random bytes in base64. */
  key?: string;
}

export interface SentClientRequest {
  key: string;
  offeredProtocols: readonly string[];
  offeredExtensions: readonly ExtensionNegotiator[];
}

export type ClientResponseCheck =
  | { ok: true; protocol: string | null; extensions: NegotiatedExtension[] }
  /** `status`: the status the server answered (101 when the 101 itself was wrong). */
  | { ok: false; message: string; status: number };

/** Headers the request writes itself; a caller adding them would contradict the handshake. */
const OWNED = [
  "host",
  "upgrade",
  "connection",
  "sec-websocket-key",
  "sec-websocket-version",
  "sec-websocket-protocol",
  "sec-websocket-extensions",
  "origin",
];

export function buildClientRequest(o: ClientRequestOptions): {
  bytes: Buffer;
  key: string;
  offeredProtocols: string[];
  offeredExtensions: readonly ExtensionNegotiator[];
} {
  if (!/^\/[\x21-\x7e]*$/.test(o.path)) {
    throw usage(
      "INVALID_ARGUMENT",
      `path ${JSON.stringify(o.path)} must start with "/" and contain only visible ASCII (percent-encode the rest)`,
    );
  }
  if (o.path.includes("#")) {
    throw usage("INVALID_ARGUMENT", `path ${JSON.stringify(o.path)} contains a fragment ("#"), which WebSocket URIs must not have`);
  }
  if (!/^[\x21-\x7e]+$/.test(o.host)) {
    throw usage("INVALID_ARGUMENT", `host ${JSON.stringify(o.host)} must be non-empty visible ASCII`);
  }
  const key = o.key ?? randomBytes(16).toString("base64");
  if (!isValidWebSocketKey(key)) {
    throw usage("INVALID_ARGUMENT", `key ${JSON.stringify(key)} is not the base64 encoding of 16 bytes`);
  }

  const protocols = [...(o.protocols ?? [])];
  const seen = new Set<string>();
  for (const p of protocols) {
    if (!isToken(p)) throw usage("INVALID_ARGUMENT", `subprotocol ${JSON.stringify(p)} is not a token`);
    // RFC 6455 §4.1: the offered subprotocols must be unique.
    if (seen.has(p)) throw usage("INVALID_ARGUMENT", `subprotocol ${JSON.stringify(p)} is offered twice`);
    seen.add(p);
  }

  const extensions = o.extensions ?? [];
  const names = new Set<string>();
  for (const e of extensions) {
    const name = e.name.toLowerCase();
    if (names.has(name)) throw usage("INVALID_ARGUMENT", `extension "${e.name}" is configured twice`);
    names.add(name);
  }
  const offers = extensions.flatMap((e) => e.offer());

  const lines = [
    `GET ${o.path} HTTP/1.1\r\n`,
    `Host: ${o.host}\r\n`,
    "Upgrade: websocket\r\n",
    "Connection: Upgrade\r\n",
    `Sec-WebSocket-Key: ${key}\r\n`,
    "Sec-WebSocket-Version: 13\r\n",
  ];
  if (o.origin !== undefined) {
    assertHeaderField("Origin", o.origin);
    lines.push(`Origin: ${o.origin}\r\n`);
  }
  if (protocols.length > 0) lines.push(`Sec-WebSocket-Protocol: ${protocols.join(", ")}\r\n`);
  if (offers.length > 0) lines.push(`Sec-WebSocket-Extensions: ${formatExtensionHeader(offers)}\r\n`);
  for (const [name, value] of o.headers ?? []) {
    assertHeaderField(name, value);
    if (OWNED.includes(name.toLowerCase())) {
      throw usage("INVALID_ARGUMENT", `header "${name}" is written by the handshake itself and cannot be added`);
    }
    lines.push(`${name}: ${value}\r\n`);
  }
  lines.push("\r\n");
  return {
    bytes: Buffer.from(lines.join(""), "latin1"),
    key,
    offeredProtocols: protocols,
    offeredExtensions: extensions,
  };
}

/**
 * Did the server accept the handshake we sent (RFC 6455 §4.1, the client's checks)?
 * A server that picks no subprotocol although some were offered is accepted with
 * `protocol: null`, as RFC 6455 allows; the caller decides whether it can live with that.
 */
export function checkServerResponse(head: HttpResponseHead, sent: SentClientRequest): ClientResponseCheck {
  const status = head.status;
  const fail = (message: string): ClientResponseCheck => ({ ok: false, message, status });
  const h = head.headers;
  if (status !== 101) {
    const reason = head.reason === "" ? "" : ` ${head.reason}`;
    return fail(`server answered ${status}${reason} instead of 101`);
  }
  if (!h.tokens("upgrade").includes("websocket")) {
    return fail(
      h.has("upgrade") ? `Upgrade is ${JSON.stringify(h.get("upgrade"))} instead of websocket` : "missing Upgrade: websocket",
    );
  }
  if (!h.tokens("connection").includes("upgrade")) {
    return fail(
      h.has("connection")
        ? `Connection is ${JSON.stringify(h.get("connection"))}, which does not include Upgrade`
        : "missing Connection: Upgrade",
    );
  }
  const accepts = h.getAll("sec-websocket-accept");
  if (accepts.length === 0) return fail("missing Sec-WebSocket-Accept");
  if (accepts.length > 1) return fail(`${accepts.length} Sec-WebSocket-Accept headers; exactly one is allowed`);
  const expected = acceptKey(sent.key);
  if (accepts[0] !== expected) {
    return fail(`Sec-WebSocket-Accept mismatch: expected ${expected}, got ${JSON.stringify(accepts[0])}`);
  }

  let protocol: string | null = null;
  const protocolLines = h.getAll("sec-websocket-protocol");
  if (protocolLines.length > 0) {
    if (protocolLines.length > 1 || protocolLines[0]!.includes(",")) {
      return fail(`server answered more than one subprotocol: ${JSON.stringify(protocolLines.join(", "))}`);
    }
    const chosen = protocolLines[0]!;
    if (sent.offeredProtocols.length === 0) {
      return fail(`server answered with a subprotocol although none was offered: ${JSON.stringify(chosen)}`);
    }
    if (!sent.offeredProtocols.includes(chosen)) {
      return fail(`server chose subprotocol ${JSON.stringify(chosen)} which was not offered`);
    }
    protocol = chosen;
  }

  const extensions: NegotiatedExtension[] = [];
  let rsvUsed = 0;
  for (const element of parseExtensionHeader(h.getAll("sec-websocket-extensions"))) {
    if (!isExtensionOffer(element)) {
      return fail(`server sent an unparseable Sec-WebSocket-Extensions element: ${element.error}`);
    }
    const negotiator = sent.offeredExtensions.find((n) => n.name.toLowerCase() === element.name);
    if (!negotiator) return fail(`server enabled extension "${element.name}" which was not offered`);
    if (extensions.some((e) => e.name === negotiator.name)) {
      return fail(`server enabled extension "${element.name}" more than once`);
    }
    if ((negotiator.rsvMask & rsvUsed) !== 0) {
      return fail(`server enabled extension "${element.name}" whose RSV bits another enabled extension already uses`);
    }
    const problem = negotiator.checkResponse(element);
    if (problem !== null) return fail(`server's response for extension "${element.name}": ${problem}`);
    rsvUsed |= negotiator.rsvMask;
    extensions.push({ name: negotiator.name, rsvMask: negotiator.rsvMask, params: element });
  }
  return { ok: true, protocol, extensions };
}
