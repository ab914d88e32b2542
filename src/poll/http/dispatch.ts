/**
 * What answers a request: the mount its path falls in (the longest mountpoint wins), or
 * else the vhost's first protocol (lws's protocols[0]). FILTER_HTTP_CONNECTION may
 * refuse it first (403). CALLBACK mounts bind the connection to their protocol; FILE and
 * redirect mounts are answered by the library.
 */
import { matchMount } from "../../core/http/mount-match.js";
import type { HttpRequestData } from "../events.js";
import { serveFile } from "./file-server.js";
import type { HttpServerRole } from "./server-role.js";
import { isGone, type HttpRequestInfo, type HttpTransaction } from "./transaction.js";

export function dispatch(role: HttpServerRole, tx: HttpTransaction): void {
  const connection = role.connection;
  const vhost = connection.vhost;
  const request = tx.request;
  const hit = matchMount(request.path, vhost.mounts);
  const mount = hit?.mount;
  const byMount = mount?.kind === "callback";
  if (byMount) request.mountpoint = mount.mountpoint;
  role.bind(byMount ? vhost.protocol(mount.origin)! : vhost.protocols[0]!, byMount, request.path);
  if (isGone(connection)) return;

  const refused = connection.emitConnection({ reason: "FILTER_HTTP_CONNECTION", connection, ...eventData(request) });
  if (isGone(connection) || tx.completed) return;
  if (refused) {
    tx.userHandled = false;
    role.respondError(403, `${request.method} ${request.path} was refused`);
    return;
  }

  if (!mount || mount.kind === "callback") {
    connection.emitConnection({ reason: "HTTP", connection, ...eventData(request) });
    if (isGone(connection) || tx.completed) return;
    role.noteTaken(tx);
    // With a body, the protocol may still answer at HTTP_BODY_COMPLETION.
    if (tx.hasBody) role.sendContinue(tx);
    else role.answerIfUntaken(tx);
    return;
  }

  tx.userHandled = false;
  if (mount.kind === "file") {
    serveFile(role, tx, mount, hit.rest);
    return;
  }
  const scheme = mount.kind === "redirect-https" ? "https" : "http";
  const origin = hit.rest.startsWith("/") && mount.origin.endsWith("/") ? mount.origin.slice(0, -1) : mount.origin;
  role.redirect(mount.status ?? 302, `${scheme}://${origin}${encodePath(hit.rest)}${request.query ? `?${request.query}` : ""}`);
}

/** A decoded path back in URL form, for Location headers. */
export function encodePath(path: string): string {
  return path.split("/").map(encodeURIComponent).join("/");
}

function eventData(request: HttpRequestInfo): HttpRequestData {
  return {
    method: request.method,
    path: request.path,
    query: request.query,
    headers: request.headers,
    version: request.version,
    mountpoint: request.mountpoint,
  };
}
