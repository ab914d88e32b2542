/**
 * Validators and conditional requests (RFC 9110 §8.8, §13): the ETag of a file, and
 * whether If-None-Match / If-Modified-Since make a GET a 304 or If-Range lets a range
 * through. Pure: the caller passes the file's size and modification time.
 */
import type { HeaderList } from "./headers.js";
import { parseHttpDate } from "./response-head.js";

/**
 * A strong ETag from size and modification time (what nginx and lws derive theirs
 * from), with a variant suffix so that a gzip-encoded representation never shares the
 * tag of the identity one.
 */
export function entityTag(size: number, mtimeMs: number, variant = ""): string {
  return `"${size.toString(16)}-${Math.floor(mtimeMs).toString(16)}${variant ? `-${variant}` : ""}"`;
}

/** The entity-tags of a list header ("*" is returned as is), weak prefixes kept. */
function tagList(value: string): string[] {
  return value.match(/\*|(?:W\/)?"[^"]*"/g) ?? [];
}

const opaque = (tag: string) => (tag.startsWith("W/") ? tag.slice(2) : tag);

/** Does If-None-Match match `etag` (weak comparison, RFC 9110 §13.1.2)? */
export function noneMatchHits(header: string, etag: string): boolean {
  return tagList(header).some((t) => t === "*" || opaque(t) === opaque(etag));
}

/**
 * Should a GET or HEAD be answered 304? If-None-Match decides when present; only
 * without it does If-Modified-Since count (RFC 9110 §13.2.2).
 */
export function isNotModified(headers: HeaderList, etag: string, mtimeMs: number): boolean {
  const inm = headers.get("if-none-match");
  if (inm !== undefined) return noneMatchHits(inm, etag);
  const ims = headers.get("if-modified-since");
  if (ims === undefined) return false;
  const since = parseHttpDate(ims);
  if (Number.isNaN(since)) return false;
  return Math.floor(mtimeMs / 1000) * 1000 <= since;
}

/**
 * May a Range be honoured? Without If-Range yes; with it, only when it names the
 * current representation: the same strong ETag, or exactly its Last-Modified date.
 */
export function ifRangeAllows(headers: HeaderList, etag: string, mtimeMs: number): boolean {
  const value = headers.get("if-range");
  if (value === undefined) return true;
  const v = value.trim();
  if (v.startsWith('"') || v.startsWith("W/")) return !v.startsWith("W/") && v === etag;
  const date = parseHttpDate(v);
  return !Number.isNaN(date) && date === Math.floor(mtimeMs / 1000) * 1000;
}
