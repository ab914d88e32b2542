/**
 * The path of a request, made safe to map onto a directory tree: the request-target is
 * split from its query, percent-decoded segment by segment, and refused when decoding
 * could change which file it names. Refused outright rather than "cleaned up": a dot
 * segment, an encoded slash or backslash, a NUL or a control character has no business
 * in a URL a browser sends (browsers resolve dot segments before sending), and every
 * clever normalisation is one more place for a traversal to hide.
 */

export type RequestPath =
  | {
      ok: true;
      /** The decoded path, "/" + segments joined, with the trailing "/" kept. */
      path: string;
      /** Decoded segments, empty ones ("//") dropped. */
      segments: string[];
      /** The path ended with "/" (a directory was asked for). */
      trailingSlash: boolean;
      /** The raw query after "?", without it ("" when none). */
      query: string;
      /** Host given in an absolute-form target (it overrides the Host header, RFC 9112 §3.2.2). */
      host: string | null;
    }
  | { ok: false; status: number; message: string };

const utf8 = new TextDecoder("utf-8", { fatal: true });

function fail(status: number, message: string): RequestPath {
  return { ok: false, status, message };
}

/** Split and check a request-target (origin-form or absolute-form). "*" is the caller's to handle. */
export function parseRequestPath(target: string): RequestPath {
  if (target.includes("#")) return fail(400, "request-target contains a fragment");
  let rest = target;
  let host: string | null = null;
  if (!rest.startsWith("/")) {
    const m = /^https?:\/\/([^/?]*)(.*)$/i.exec(rest);
    if (!m) return fail(400, `request-target ${JSON.stringify(target.slice(0, 64))} is neither a path nor an http(s) URI`);
    host = m[1]!;
    if (host === "" || host.includes("@")) return fail(400, "absolute request-target without a usable host");
    rest = m[2]!;
    if (!rest.startsWith("/")) rest = "/" + rest;
  }
  const q = rest.indexOf("?");
  const rawPath = q === -1 ? rest : rest.slice(0, q);
  const query = q === -1 ? "" : rest.slice(q + 1);
  const segments: string[] = [];
  for (const raw of rawPath.split("/")) {
    if (raw === "") continue;
    const decoded = decodeSegment(raw);
    if (typeof decoded !== "string") return decoded;
    segments.push(decoded);
  }
  const trailingSlash = rawPath.endsWith("/");
  const path = "/" + segments.join("/") + (trailingSlash && segments.length > 0 ? "/" : "");
  return { ok: true, path, segments, trailingSlash, query, host };
}

function decodeSegment(raw: string): string | RequestPath {
  let decoded: string;
  if (raw.includes("%")) {
    const bytes: number[] = [];
    for (let i = 0; i < raw.length; i++) {
      const c = raw.charCodeAt(i);
      if (c !== 0x25) {
        bytes.push(c);
        continue;
      }
      const hex = raw.slice(i + 1, i + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(hex)) return fail(400, `malformed percent-encoding in path segment ${JSON.stringify(raw)}`);
      bytes.push(parseInt(hex, 16));
      i += 2;
    }
    try {
      decoded = utf8.decode(Uint8Array.from(bytes));
    } catch {
      return fail(400, "path is not UTF-8 once percent-decoded");
    }
  } else {
    decoded = raw;
  }
  if (decoded === "." || decoded === "..") return fail(403, "dot segments are not allowed in the path");
  if (decoded.includes("/") || decoded.includes("\\")) return fail(403, "encoded slashes and backslashes are not allowed in the path");
  if (/[\x00-\x1f\x7f]/.test(decoded)) return fail(403, "control characters (NUL included) are not allowed in the path");
  return decoded;
}
