/**
 * Do the first bytes of a connection start an HTTP request? lws's raw fallback switches
 * a connection to RAW when they cannot (a telnet user typing "hello"). Decided from as
 * few bytes as possible, and "undecided" while they could still become a request line.
 */

export const HTTP_METHODS: readonly string[] = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE"];

export type Sniff = "http" | "raw" | "undecided";

export function sniffHttp(bytes: Uint8Array): Sniff {
  let i = 0;
  // Empty lines before a request line are allowed (RFC 9112 §2.2).
  while (i < bytes.length && (bytes[i] === 0x0d || bytes[i] === 0x0a)) i++;
  const start = i;
  let word = "";
  for (; i < bytes.length && i - start <= 8; i++) {
    const c = bytes[i]!;
    if (c === 0x20) return HTTP_METHODS.includes(word) ? "http" : "raw";
    word += String.fromCharCode(c);
    if (!HTTP_METHODS.some((m) => m.startsWith(word))) return "raw";
  }
  return i - start > 8 ? "raw" : "undecided";
}
