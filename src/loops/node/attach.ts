/**
 * Taking WebSocket upgrades from an http.Server / https.Server that already exists — a
 * plain Node server, Express's or Fastify's — so its HTTP routes and wsloop's
 * WebSockets share one port. The server parses the request; wsloop routes it by path,
 * runs the user's (possibly asynchronous) authentication, then adopts the socket.
 */
import type { Server as HttpServer, IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { buildRejectResponse } from "../../core/handshake/server-handshake.js";
import type { Routes } from "../../poll/vhost.js";

/** What authentication decides: true to go on; false or a status to refuse (401 by default). */
export type AuthDecision = boolean | { status: number; message?: string; headers?: Record<string, string> };

export interface AttachOptions {
  /** The vhost that serves these upgrades. Default: the context's first. */
  vhost?: string;
  /**
   * Paths served, each with its protocols (the first is the default for clients that
   * ask for none). An upgrade to a path not listed is answered 404. Default: the
   * vhost's own routes, or every path.
   */
  routes?: Routes;
  /**
   * Runs before the upgrade with the parsed request; may be async. The socket waits
   * (bytes the client sends meanwhile are kept, not lost).
   */
  authenticate?: (request: IncomingMessage) => AuthDecision | Promise<AuthDecision>;
  /**
   * Answer the server's plain HTTP requests (its `request` event) too, with the vhost's
   * HTTP role: mounts, CALLBACK protocols, protocols[0]. Every request is answered, so
   * the server should have no request listener of its own; to share a server with
   * other routes, leave this off and call `loop.httpHandler()` from them instead.
   * Default false (upgrades only).
   */
  http?: boolean;
}

export interface UpgradeAdopter {
  adopt(socket: Socket, head: Buffer, request: IncomingMessage, routes: Routes | undefined): void;
  /** With `http: true`: answer one plain request. */
  request?(request: IncomingMessage, response: ServerResponse): void;
}

export function attachToHttpServer(server: HttpServer, options: AttachOptions, adopter: UpgradeAdopter): () => void {
  const onUpgrade = (request: IncomingMessage, duplex: Duplex, head: Buffer) => {
    const socket = duplex as Socket;
    if (options.routes) {
      const pathname = (request.url ?? "/").split("?", 1)[0]!;
      if (!Object.hasOwn(options.routes, pathname)) {
        refuse(socket, 404, `no WebSocket service at ${pathname}`);
        return;
      }
    }
    if (!options.authenticate) {
      adopter.adopt(socket, head, request, options.routes);
      return;
    }
    // Hold what arrives while authentication runs; it is handed over with `head`.
    socket.pause();
    let decision: AuthDecision | Promise<AuthDecision>;
    try {
      decision = options.authenticate(request);
    } catch (error) {
      refuse(socket, 500, `authentication failed: ${(error as Error).message}`);
      return;
    }
    Promise.resolve(decision).then(
      (verdict) => {
        if (socket.destroyed) return;
        if (verdict === true) {
          adopter.adopt(socket, head, request, options.routes);
        } else if (verdict === false) {
          refuse(socket, 401, "authentication required");
        } else {
          refuse(socket, verdict.status, verdict.message ?? "refused", verdict.headers);
        }
      },
      (error: unknown) => refuse(socket, 500, `authentication failed: ${error instanceof Error ? error.message : String(error)}`),
    );
  };
  server.on("upgrade", onUpgrade);
  const onRequest = options.http && adopter.request ? adopter.request.bind(adopter) : null;
  if (onRequest) server.on("request", onRequest);
  return () => {
    server.off("upgrade", onUpgrade);
    if (onRequest) server.off("request", onRequest);
  };
}

function refuse(socket: Socket, status: number, message: string, headers?: Record<string, string>): void {
  if (socket.destroyed) return;
  socket.end(buildRejectResponse(status, message, headers ? Object.entries(headers) : []));
}
