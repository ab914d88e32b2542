/**
 * The client's side of the WebSocket protocol written by hand (RFC 6455): the upgrade
 * request and masked frames, for raw sockets that send what a library never would.
 */
import { randomBytes } from "node:crypto";
import { LOOPBACK } from "./sockets.js";

/**
 * An upgrade request with a fresh key, for `path` ("/" by default) plus `extraHeaders`
 * (whole lines, e.g. "X-Flood: aaaa"). Passing only the headers means path "/".
 */
export function upgradeRequest(path?: string, extraHeaders?: string[]): string;
export function upgradeRequest(extraHeaders: string[]): string;
export function upgradeRequest(pathOrHeaders: string | string[] = "/", extraHeaders: string[] = []): string {
  const [path, extra] = typeof pathOrHeaders === "string" ? [pathOrHeaders, extraHeaders] : ["/", pathOrHeaders];
  return [
    `GET ${path} HTTP/1.1`,
    `Host: ${LOOPBACK}`,
    "Upgrade: websocket",
    "Connection: Upgrade",
    `Sec-WebSocket-Key: ${randomBytes(16).toString("base64")}`,
    "Sec-WebSocket-Version: 13",
    ...extra,
    "",
    "",
  ].join("\r\n");
}

/** The status code of an HTTP response head. */
export function statusOf(response: string): number {
  const match = /^HTTP\/1\.1 (\d{3})/.exec(response);
  if (!match) throw new Error(`not an HTTP response: ${JSON.stringify(response.slice(0, 80))}`);
  return Number(match[1]);
}

/**
 * A masked client frame with a fresh mask. Two spellings: `clientFrame(opcode, payload,
 * fin)` for any frame (empty payload and FIN set unless given), and the shorthand
 * `clientFrame(payload, opcode)` for a whole message (text unless `opcode` says otherwise).
 */
export function clientFrame(opcode: number, payload?: Buffer | string, fin?: boolean): Buffer;
export function clientFrame(payload: Buffer | string, opcode?: number): Buffer;
export function clientFrame(first: number | Buffer | string, second?: number | Buffer | string, fin = true): Buffer {
  const [opcode, payload] = typeof first === "number" ? [first, (second ?? Buffer.alloc(0)) as Buffer | string] : [(second ?? 0x1) as number, first];
  const data = typeof payload === "string" ? Buffer.from(payload, "utf8") : payload;
  const mask = randomBytes(4);
  const extended = data.length < 126 ? 0 : data.length < 65536 ? 2 : 8;
  const header = Buffer.alloc(2 + extended + 4);
  header[0] = (fin ? 0x80 : 0) | opcode;
  header[1] = 0x80 | (extended === 0 ? data.length : extended === 2 ? 126 : 127);
  if (extended === 2) header.writeUInt16BE(data.length, 2);
  if (extended === 8) header.writeBigUInt64BE(BigInt(data.length), 2);
  mask.copy(header, 2 + extended);
  const body = Buffer.allocUnsafe(data.length);
  for (let i = 0; i < data.length; i++) body[i] = data[i]! ^ mask[i & 3]!;
  return Buffer.concat([header, body]);
}
