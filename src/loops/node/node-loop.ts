/**
 * The Node loop: a context on Node's own event loop, serving its vhosts on real sockets
 * (TCP and TLS), making client connections, and taking upgrades from an existing
 * http.Server / https.Server. Readiness moves through a ReadinessBridge; this class is
 * the part a user holds.
 */
import type { Server as HttpServer, IncomingMessage, ServerResponse } from "node:http";
import type { Server, Socket } from "node:net";
import { Server as TlsServer } from "node:tls";
import { CloseCode } from "../../core/close-codes.js";
import type { AdoptOptions, ContextOptions } from "../../poll/context.js";
import type { Context } from "../../poll/context.js";
import type { ConnectInfo } from "../../poll/connect-info.js";
import type { Connection } from "../../poll/connection.js";
import type { Routes, Vhost } from "../../poll/vhost.js";
import { attachToHttpServer, type AttachOptions } from "./attach.js";
import { dial } from "./dialer.js";
import { nodeFileOps } from "./file-ops.js";
import { HttpExchangeTransport } from "./http-exchange.js";
import { startListeners, type BoundAddress } from "./listeners.js";
import { ReadinessBridge } from "./readiness-bridge.js";
import { SocketTransport } from "./socket-transport.js";

export interface NodeLoopOptions extends Omit<ContextOptions, "hooks" | "clock" | "dialer"> {
  /** Default: the real filesystem (node:fs). */
  fileOps?: ContextOptions["fileOps"];
  /** Most connections served at once; beyond it new ones are refused at accept and logged. */
  maxConnections?: number;
  /** Most connections from one peer IP address at once. */
  maxConnectionsPerIp?: number;
  /**
   * TCP keepalive: idle time before the first probe, in ms (lws's ka_time). Node sets
   * only this per socket; the probe interval and count are the system's (Linux:
   * net.ipv4.tcp_keepalive_intvl / tcp_keepalive_probes). Default off.
   */
  keepAliveMs?: number;
  /** Disable Nagle's algorithm. Default true: frames are written whole, in one call. */
  noDelay?: boolean;
}

export class NodeLoop {
  readonly context: Context;
  private readonly bridge: ReadinessBridge;
  private servers: Server[] = [];
  private readonly accepted = new Set<Socket>();
  private boundAddresses: BoundAddress[] = [];
  private readonly perIp = new Map<string, number>();
  private serving = 0;
  private closing: Promise<void> | null = null;
  /** Shared by every accepted socket (no closure per socket): it forgets the socket. */
  private readonly forgetAccepted: (this: Socket) => void;
  /** Shared by every adopted socket's transport: the connection counts go down. */
  private readonly onTransportClosed: (transport: SocketTransport) => void;

  constructor(private readonly options: NodeLoopOptions) {
    this.bridge = new ReadinessBridge({
      ...options,
      fileOps: options.fileOps ?? nodeFileOps,
      dialer: (request) => dial(request, { noDelay: options.noDelay ?? true }),
    });
    this.context = this.bridge.context;
    const accepted = this.accepted;
    this.forgetAccepted = function (this: Socket) {
      accepted.delete(this);
    };
    this.onTransportClosed = (transport) => {
      this.serving--;
      if (this.options.maxConnectionsPerIp === undefined) return;
      // Captured at accept (see adoptSocket), so still known now that the socket is closed.
      const ip = transport.remote?.address ?? "";
      const n = (this.perIp.get(ip) ?? 1) - 1;
      if (n === 0) this.perIp.delete(ip);
      else this.perIp.set(ip, n);
    };
  }

  /** Listen for every vhost that has `listen` options. Resolves with the bound addresses. */
  async listen(): Promise<BoundAddress[]> {
    const { servers, addresses } = await startListeners(this.context.vhosts, {
      adopt: (socket, vhost, group) => this.adoptSocket(socket, vhost, [], undefined, { vhosts: group.map((v) => v.name) }),
    });
    this.servers.push(...servers);
    // Sockets a listener accepted but has not handed over yet (a TLS handshake in
    // progress) are not the context's; close() must drop them too, or net.Server.close()
    // waits for them (up to the TLS handshake timeout).
    for (const server of servers) {
      // A plain socket is adopted as it is accepted; only TLS sockets wait (for the handshake).
      if (!(server instanceof TlsServer)) continue;
      server.on("connection", (socket: Socket) => {
        this.accepted.add(socket);
        socket.on("close", this.forgetAccepted);
      });
    }
    this.boundAddresses.push(...addresses);
    return addresses;
  }

  /** Addresses listened on so far (with the real port where 0 was asked for). */
  get addresses(): readonly BoundAddress[] {
    return this.boundAddresses;
  }

  /** The port of the first listener: handy with port 0. */
  get port(): number {
    const first = this.boundAddresses[0];
    if (!first) throw new Error("not listening: call listen() first");
    return first.port;
  }

  /** Start a client connection; CLIENT_ESTABLISHED or CLIENT_CONNECTION_ERROR follows. */
  connect<U = unknown>(info: ConnectInfo): Connection<U> {
    return this.context.connect(info) as Connection<U>;
  }

  /**
   * Serve WebSocket upgrades that arrive at an existing http.Server or https.Server
   * (Express and Fastify expose theirs), on the same port as its HTTP routes; with
   * `http: true`, its plain requests too (see httpHandler()). Returns a function that detaches.
   */
  attach(server: HttpServer, options: AttachOptions = {}): () => void {
    return attachToHttpServer(server, options, {
      adopt: (socket, head, request, routes) => this.adoptUpgrade(socket, head, request, options.vhost, routes),
      request: this.httpHandler(options.vhost),
    });
  }

  /**
   * A request listener — `(request, response) => void`, for `http.createServer()`, or as
   * the last handler of an Express or Fastify route — that answers with the vhost's
   * HTTP role (mounts, CALLBACK protocols, protocols[0]) as a listening vhost would.
   * The server keeps the socket (keep-alive is Node's); the exchange is bridged through
   * a transport of its own (HttpExchangeTransport), one connection per request.
   */
  httpHandler(vhost?: string): (request: IncomingMessage, response: ServerResponse) => void {
    return (request, response) => {
      if (this.closing) {
        response.writeHead(503, { Connection: "close" }).end();
        return;
      }
      const vhostName = vhost ?? this.context.vhosts[0]!.name;
      this.context.adopt(new HttpExchangeTransport(request, response), { vhost: vhostName });
    };
  }

  /**
   * Adopt a socket someone else accepted (lws_adopt_socket_vhost). It is refused if a
   * connection limit is reached. `adopt.rawProtocol` adopts it as a RAW connection of
   * that protocol; `adopt.vhosts` lets each HTTP request's Host header choose among them.
   */
  adoptSocket(
    socket: Socket,
    vhost: Vhost | string = this.context.vhosts[0]!,
    preface: readonly Buffer[] = [],
    routes?: Routes,
    adopt: Pick<AdoptOptions, "vhosts" | "rawProtocol"> = {},
  ): Connection | null {
    const vhostName = typeof vhost === "string" ? vhost : vhost.name;
    if (this.closing) {
      socket.destroy();
      return null;
    }
    const limit = this.options.maxConnections;
    if (limit !== undefined && this.serving >= limit) {
      this.context.logger.warn(`refused a connection from ${socket.remoteAddress ?? ""}: ${this.serving} connections is the limit (maxConnections)`);
      socket.destroy();
      return null;
    }
    // The peer's address is asked of the kernel only when a per-address limit needs it.
    const perIpLimit = this.options.maxConnectionsPerIp;
    const ip = perIpLimit === undefined ? "" : (socket.remoteAddress ?? "");
    const fromIp = perIpLimit === undefined ? 0 : (this.perIp.get(ip) ?? 0);
    if (perIpLimit !== undefined && fromIp >= perIpLimit) {
      this.context.logger.warn(`refused a connection from ${ip}: ${fromIp} connections from one address is the limit (maxConnectionsPerIp)`);
      socket.destroy();
      return null;
    }
    socket.setNoDelay(this.options.noDelay ?? true);
    if (this.options.keepAliveMs !== undefined) socket.setKeepAlive(true, this.options.keepAliveMs);
    this.serving++;
    if (perIpLimit !== undefined) this.perIp.set(ip, fromIp + 1);
    // The context owns it from here (close() drops the context's connections).
    this.accepted.delete(socket);
    const transport = new SocketTransport(socket, {
      preface,
      lingerMs: this.context.vhost(vhostName).timeouts.closeWaitMs,
      onClose: this.onTransportClosed,
    });
    if (perIpLimit !== undefined) void transport.remote; // captured now, for onTransportClosed
    return this.context.adopt(transport, { vhost: vhostName, ...(routes ? { routes } : {}), ...adopt });
  }

  private adoptUpgrade(socket: Socket, head: Buffer, request: IncomingMessage, vhost: string | undefined, routes: Routes | undefined): void {
    // The http.Server has parsed the request already; the context checks it again from
    // its bytes, so an attached server answers exactly as a listening one would.
    const lines = [`${request.method} ${request.url} HTTP/${request.httpVersion}`];
    const raw = request.rawHeaders;
    for (let i = 0; i + 1 < raw.length; i += 2) lines.push(`${raw[i]}: ${raw[i + 1]}`);
    const requestBytes = Buffer.from(`${lines.join("\r\n")}\r\n\r\n`, "latin1");
    socket.setTimeout(0);
    this.adoptSocket(socket, vhost ?? this.context.vhosts[0]!, [requestBytes, head], routes);
  }

  /**
   * Graceful shutdown: stop listening, close every connection with 1001, wait up to
   * `graceMs` for the close handshakes, then drop what is left and destroy the context.
   */
  close(graceMs = 5_000): Promise<void> {
    if (this.closing) return this.closing;
    this.closing = (async () => {
      // net.Server.close() only stops accepting; its callback waits for every connection,
      // which is what the loop below brings about, so it is not awaited here.
      const stopped = this.servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
      for (const connection of [...this.context.connections]) {
        if (connection.state === "established") connection.close(CloseCode.GOING_AWAY, "server shutting down");
        else if (connection.state !== "closing") connection.close();
      }
      const deadline = Date.now() + graceMs;
      while (this.context.connectionCount > 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      this.bridge.destroy();
      for (const socket of this.accepted) socket.destroy();
      await Promise.all(stopped);
      this.servers = [];
    })();
    return this.closing;
  }
}
