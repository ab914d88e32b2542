/**
 * FILE mounts: a directory served through the context's file operations. The request
 * path was decoded and checked segment by segment (no dot segments, encoded slashes or
 * NULs reach here); what is left to check is the filesystem itself: a symlink whose
 * target leaves the mount's root is not served. Validators (ETag, Last-Modified) answer
 * conditional requests with 304, Range with 206 or 416, and large files stream one
 * chunk per writeable service, never read whole.
 */
import { acceptsEncoding } from "../../core/http/content-coding.js";
import { cacheControl } from "../../core/http/cache-control.js";
import { entityTag, ifRangeAllows, isNotModified } from "../../core/http/conditional.js";
import { matchMount } from "../../core/http/mount-match.js";
import { mimeTypeOf } from "../../core/http/mime.js";
import { contentRange, parseRange } from "../../core/http/range.js";
import { parseRequestPath } from "../../core/http/request-path.js";
import { httpDate } from "../../core/http/response-head.js";
import type { Connection } from "../connection.js";
import { isWithin, joinPath, type FileOps, type OpenFile } from "../file-ops.js";
import type { FileMount } from "../mount.js";
import { encodePath } from "./dispatch.js";
import type { HttpServerRole } from "./server-role.js";
import type { HttpTransaction } from "./transaction.js";

/** Bytes read and written per writeable service. */
export const FILE_CHUNK_BYTES = 64 * 1024;

type Located = { ok: true; path: string } | { ok: false; status: number; message: string; redirect?: string };

/**
 * Where decoded `segments` land under a FILE mount: a regular file inside the root,
 * the directory's default file, a redirect to add the trailing slash, or a refusal.
 */
function locate(ops: FileOps, mount: FileMount, segments: readonly string[], trailingSlash: boolean): Located {
  const root = ops.realpath(mount.origin);
  if (!root) return { ok: false, status: 404, message: "the mount's directory does not exist" };
  let path = joinPath(mount.origin, segments);
  let info = ops.stat(path);
  if (!info) return { ok: false, status: 404, message: "no such file" };
  if (info.kind === "directory") {
    if (!trailingSlash && segments.length > 0) return { ok: false, status: 301, message: "a directory", redirect: "/" };
    path = joinPath(mount.origin, [...segments, mount.defaultFile ?? "index.html"]);
    info = ops.stat(path);
    if (!info) return { ok: false, status: 404, message: "no index file in the directory" };
  }
  if (info.kind !== "file") return { ok: false, status: 404, message: "not a regular file" };
  const real = ops.realpath(path);
  if (!real || !isWithin(root, real)) return { ok: false, status: 404, message: "the file is outside the mount's directory (symlink)" };
  return { ok: true, path };
}

/** The file a decoded path names through the vhost's FILE mounts, or null. */
function locateByPath(connection: Connection, path: string): { mount: FileMount; path: string } | null {
  const ops = connection.context.fileOps;
  const parsed = parseRequestPath(path);
  if (!ops || !parsed.ok) return null;
  const hit = matchMount(parsed.path, connection.vhost.mounts);
  if (!hit || hit.mount.kind !== "file") return null;
  const located = locate(ops, hit.mount, hit.rest.split("/").filter(Boolean), parsed.trailingSlash);
  return located.ok ? { mount: hit.mount, path: located.path } : null;
}

/** "/error.css" when the vhost serves it from a FILE mount: error pages link it (lws's errstyle). */
export function stylesheetFor(connection: Connection): string | null {
  return locateByPath(connection, "/error.css") ? "/error.css" : null;
}

export function serveFile(role: HttpServerRole, tx: HttpTransaction, mount: FileMount, rest: string): void {
  const connection = role.connection;
  const ops = connection.context.fileOps!;
  const request = tx.request;
  const query = request.query ? `?${request.query}` : "";
  if (request.method !== "GET" && request.method !== "HEAD") {
    role.respondErrorWith(405, `${request.method} is not allowed here`, { Allow: "GET, HEAD" });
    return;
  }
  if (rest === "" && mount.mountpoint !== "/") {
    role.redirect(301, `${encodePath(mount.mountpoint)}/${query}`);
    return;
  }
  const located = locate(ops, mount, rest.split("/").filter(Boolean), request.path.endsWith("/"));
  if (!located.ok) {
    if (located.redirect) {
      role.redirect(301, `${encodePath(request.path)}/${query}`);
      return;
    }
    connection.context.logger.info(`connection ${connection.id}: ${request.path}: ${located.message}`);
    role.respondError(located.status, "The requested file was not found.");
    return;
  }
  let chosen = located.path;
  let gzip = false;
  if (mount.precompressed && acceptsEncoding(request.headers.get("accept-encoding"), "gzip")) {
    const root = ops.realpath(mount.origin);
    const gz = `${located.path}.gz`;
    const real = ops.stat(gz)?.kind === "file" ? ops.realpath(gz) : null;
    if (root && real && isWithin(root, real)) {
      chosen = gz;
      gzip = true;
    }
  }
  const file = ops.open(chosen);
  if (!file) {
    role.respondError(403, "The requested file cannot be read.");
    return;
  }
  const { size, mtimeMs } = file.info;
  const etag = entityTag(size, mtimeMs, gzip ? "gz" : "");
  const validators: Record<string, string> = {
    ETag: etag,
    "Last-Modified": httpDate(mtimeMs),
    "Cache-Control": cacheControl(mount),
  };
  if (mount.precompressed) validators.Vary = "Accept-Encoding";
  if (isNotModified(request.headers, etag, mtimeMs)) {
    file.close();
    role.respond(304, validators, null);
    return;
  }
  const headers: Record<string, string> = {
    "Content-Type": mimeTypeOf(located.path, mount.mimeTypes),
    ...validators,
    "Accept-Ranges": "bytes",
  };
  if (gzip) headers["Content-Encoding"] = "gzip";
  let start = 0;
  let end = size;
  let status = 200;
  if (request.headers.has("range") && ifRangeAllows(request.headers, etag, mtimeMs)) {
    const range = parseRange(request.headers.get("range"), size);
    if (range.kind === "unsatisfiable") {
      file.close();
      role.respondErrorWith(416, `the file has ${size} bytes`, { "Content-Range": contentRange(null, size) });
      return;
    }
    if (range.kind === "range") {
      status = 206;
      start = range.start;
      end = range.end + 1;
      headers["Content-Range"] = contentRange(range, size);
    }
  }
  streamFile(role, tx, file, status, headers, start, end);
}

/** errorDocument404: serve the vhost's 404 page (with status 404) when a FILE mount has it. */
export function serveErrorDocument(role: HttpServerRole, tx: HttpTransaction): boolean {
  const connection = role.connection;
  const document = connection.vhost.errorDocument404;
  if (!document) return false;
  const found = locateByPath(connection, document);
  const file = found ? connection.context.fileOps!.open(found.path) : null;
  if (!found || !file) return false;
  tx.userHandled = false;
  const headers = { "Content-Type": mimeTypeOf(found.path, found.mount.mimeTypes), "Cache-Control": "no-store" };
  streamFile(role, tx, file, 404, headers, 0, file.info.size);
  return true;
}

function streamFile(role: HttpServerRole, tx: HttpTransaction, file: OpenFile, status: number, headers: Record<string, string>, start: number, end: number): void {
  role.writeHead(status, headers, { contentLength: end - start });
  if (tx.isHead || end === start) {
    file.close();
    role.complete();
    return;
  }
  role.startStream(new FileStream(role, file, start, end));
}

/** A file going out one chunk per writeable service, under the connection's flow control. */
export class FileStream {
  private closed = false;

  constructor(
    private readonly role: HttpServerRole,
    private readonly file: OpenFile,
    private position: number,
    private readonly end: number,
  ) {}

  pump(): void {
    const connection = this.role.connection;
    const want = Math.min(FILE_CHUNK_BYTES, this.end - this.position);
    let data: Uint8Array;
    try {
      data = this.file.read(this.position, want);
    } catch (error) {
      connection.context.logger.warn(`connection ${connection.id}: reading a file failed: ${(error as Error).message}`);
      data = new Uint8Array(0);
    }
    if (data.length === 0) {
      // The file shrank or broke after its length was announced: the peer learns from the close.
      this.abort();
      this.role.endStream();
      connection.close();
      return;
    }
    if (data.length > want) data = data.subarray(0, want);
    this.position += data.length;
    const final = this.position >= this.end;
    this.role.writeBody(data, final);
    if (final) {
      this.abort();
      this.role.endStream();
      this.role.complete();
    }
  }

  /** Release the file (idempotent). */
  abort(): void {
    if (this.closed) return;
    this.closed = true;
    this.file.close();
  }
}
