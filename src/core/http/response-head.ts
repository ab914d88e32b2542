/**
 * Writing an HTTP/1.1 response head: a status line and header fields by name, as
 * lws_add_http_header_status / _by_name / lws_finalize_http_header do, checked so that
 * nothing a caller passes can end a line early (response splitting).
 */
import { usage } from "../errors.js";
import { assertHeaderField } from "./headers.js";
import { statusText } from "./status.js";

/** Header fields by name: an object (a number is written in decimal, an array as repeated fields) or pairs. */
export type HeadersInit =
  | Readonly<Record<string, string | number | readonly string[]>>
  | Iterable<readonly [string, string]>;

/** Normalise any HeadersInit to checked (name, value) pairs. */
export function headerPairs(init: HeadersInit | undefined): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  if (!init) return out;
  if (Symbol.iterator in init) {
    for (const [name, value] of init as Iterable<readonly [string, string]>) out.push([name, value]);
  } else {
    for (const [name, value] of Object.entries(init as Record<string, string | number | readonly string[]>)) {
      if (Array.isArray(value)) for (const v of value as readonly string[]) out.push([name, v]);
      else out.push([name, String(value)]);
    }
  }
  for (const [name, value] of out) assertHeaderField(name, value);
  return out;
}

/** The head as bytes: "HTTP/1.1 <status> <reason>", each field, the blank line. */
export function buildResponseHead(status: number, headers: Iterable<readonly [string, string]>): Buffer {
  if (!Number.isInteger(status) || status < 100 || status > 999) {
    throw usage("INVALID_ARGUMENT", `an HTTP status is an integer from 100 to 999, got ${String(status)}`);
  }
  let text = `HTTP/1.1 ${status} ${statusText(status)}\r\n`;
  for (const [name, value] of headers) {
    assertHeaderField(name, value);
    text += `${name}: ${value}\r\n`;
  }
  return Buffer.from(text + "\r\n", "latin1");
}

/** The HTTP-date of a time in ms since the epoch (RFC 9110 §5.6.7), e.g. for Last-Modified. */
export function httpDate(ms: number): string {
  return new Date(ms).toUTCString();
}

/** An HTTP-date read back to ms (whole seconds), or NaN when it is not one. */
export function parseHttpDate(value: string): number {
  // Date.parse reads all three RFC 9110 formats (IMF-fixdate, RFC 850, asctime).
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? Number.NaN : Math.floor(ms / 1000) * 1000;
}
