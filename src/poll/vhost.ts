/**
 * A vhost groups protocols and options under one name, as lws vhosts do. Listening is
 * the loops' business: `listen` is carried here for them and not read by the context.
 */
import { usage } from "../core/errors.js";
import type { Context } from "./context.js";
import { resolveMounts, type MountDefinition } from "./mount.js";
import type { ProtocolDefinition } from "./protocol.js";

export interface Timeouts {
  /** From accept (or connect) until the WebSocket is established. Default 15 s. */
  handshakeMs: number;
  /** Client: until the transport connects. Default 5 s. */
  connectMs: number;
  /** From the start of a close (ours, the peer's, or a failed peer's), until the close handshake is done (and, for clients, the server's end). Default 5 s. */
  closeWaitMs: number;
  /** No traffic either way for this long → close 1001. 0 = never. Default 0. */
  idleMs: number;
  /** No traffic for this long → send a ping (lws's validity check). 0 = never. Default 0. */
  pingIntervalMs: number;
  /** After that ping, no traffic for this long → hang up (1006). Default 10 s. */
  pongTimeoutMs: number;
  /**
   * HTTP: from a request's first byte (the first request: from accept) until its head
   * and body are in; over it → 408 and close. Default: handshakeMs.
   */
  requestMs: number;
  /** HTTP: an idle kept-alive connection waits this long for its next request, then is closed. 0 = forever. Default 5 s. */
  keepAliveMs: number;
}

export const defaultTimeouts: Timeouts = {
  handshakeMs: 15_000,
  connectMs: 5_000,
  closeWaitMs: 5_000,
  idleMs: 0,
  pingIntervalMs: 0,
  pongTimeoutMs: 10_000,
  requestMs: 15_000,
  keepAliveMs: 5_000,
};

/** Where and how a loop listens for this vhost. The context does not read it. */
export interface ListenOptions {
  port?: number;
  host?: string;
  [option: string]: unknown;
}

export interface VhostDefinition {
  /** Default "default". */
  name?: string;
  // The definitions' user-data types differ per protocol; each callback sees its own.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  protocols: readonly ProtocolDefinition<any>[];
  /** Protocol for connections that ask for none (lws's "default" pvo). Default: the first. */
  defaultProtocol?: string;
  timeouts?: Partial<Timeouts>;
  /** Most bytes an HTTP request or response head may take. Default 16 KiB; over → 431. */
  maxHeadBytes?: number;
  listen?: ListenOptions;
  /**
   * WebSocket paths: path → the protocols served there (the first is the default).
   * When given, an upgrade to any other path is answered 404. Default: every path.
   */
  routes?: Routes;
  /** Parts of the URL space served from files, by a protocol, or redirected (lws mounts). */
  mounts?: readonly MountDefinition[];
  /** Path of a page served (with status 404) for every 404, when a FILE mount has it (lws's error_document_404). */
  errorDocument404?: string;
  /** Most bytes of HTTP request body accepted; over it → 413. 0 = no limit. Default 16 MiB. */
  maxBodyBytes?: number;
  /**
   * lws's raw fallback (LWS_SERVER_OPTION_FALLBACK_TO_APPLY_LISTEN_ACCEPT_CONFIG with
   * listen_accept_role "raw-skt"): a connection whose first bytes are not an HTTP method
   * becomes a RAW connection of this protocol (RAW_ADOPT, RAW_RX, RAW_WRITEABLE, RAW_CLOSE).
   */
  rawFallbackProtocol?: string;
}

/** Path (without query) → protocol names served on it, in order of preference. */
export type Routes = Readonly<Record<string, string | readonly string[]>>;

/** Routes resolved against a vhost: path → protocol names, checked to exist. */
export type ResolvedRoutes = ReadonlyMap<string, readonly string[]>;

export function resolveRoutes(vhostName: string, protocolNames: readonly string[], routes: Routes): ResolvedRoutes {
  const resolved = new Map<string, readonly string[]>();
  for (const [path, value] of Object.entries(routes)) {
    if (!path.startsWith("/")) throw usage("INVALID_ARGUMENT", `vhost "${vhostName}": route "${path}" must start with "/"`);
    const names = typeof value === "string" ? [value] : [...value];
    if (names.length === 0) throw usage("INVALID_ARGUMENT", `vhost "${vhostName}": route "${path}" names no protocol`);
    for (const name of names) {
      if (!protocolNames.includes(name)) {
        throw usage("UNKNOWN_PROTOCOL", `vhost "${vhostName}": route "${path}" names protocol "${name}", which the vhost does not have`);
      }
    }
    resolved.set(path, names);
  }
  return resolved;
}

export class Vhost {
  readonly name: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly protocols: readonly ProtocolDefinition<any>[];
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly defaultProtocol: ProtocolDefinition<any>;
  readonly timeouts: Timeouts;
  readonly maxHeadBytes: number;
  readonly listen: ListenOptions | undefined;
  readonly routes: ResolvedRoutes | null;
  /** Protocol names in the server's order of preference. */
  readonly protocolNames: readonly string[];
  readonly mounts: readonly MountDefinition[];
  readonly errorDocument404: string | null;
  /** Most request body bytes; Infinity when unlimited. */
  readonly maxBodyBytes: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly rawFallbackProtocol: ProtocolDefinition<any> | null;

  constructor(
    readonly context: Context,
    definition: VhostDefinition,
  ) {
    this.name = definition.name ?? "default";
    if (definition.protocols.length === 0) {
      throw usage("INVALID_ARGUMENT", `vhost "${this.name}" needs at least one protocol`);
    }
    const seen = new Set<string>();
    for (const p of definition.protocols) {
      if (seen.has(p.name)) throw usage("INVALID_ARGUMENT", `vhost "${this.name}" has protocol "${p.name}" twice`);
      seen.add(p.name);
    }
    this.protocols = definition.protocols;
    this.protocolNames = definition.protocols.map((p) => p.name);
    const wanted = definition.defaultProtocol;
    const fallback = wanted === undefined ? definition.protocols[0] : definition.protocols.find((p) => p.name === wanted);
    if (!fallback) {
      throw usage("UNKNOWN_PROTOCOL", `vhost "${this.name}": default protocol "${wanted}" is not among its protocols (${this.protocolNames.join(", ")})`);
    }
    this.defaultProtocol = fallback;
    const t = definition.timeouts ?? {};
    // The request timeout follows the handshake timeout unless set: both bound how long a
    // peer may take to send what it must before anything is served.
    this.timeouts = { ...defaultTimeouts, requestMs: t.handshakeMs ?? defaultTimeouts.requestMs, ...t };
    this.maxHeadBytes = definition.maxHeadBytes ?? 16 * 1024;
    this.listen = definition.listen;
    this.routes = definition.routes ? resolveRoutes(this.name, this.protocolNames, definition.routes) : null;
    this.mounts = resolveMounts(this.name, this.protocolNames, definition.mounts ?? []);
    if (definition.errorDocument404 !== undefined && !definition.errorDocument404.startsWith("/")) {
      throw usage("INVALID_ARGUMENT", `vhost "${this.name}": errorDocument404 must be a path starting with "/"`);
    }
    this.errorDocument404 = definition.errorDocument404 ?? null;
    const maxBody = definition.maxBodyBytes ?? 16 * 1024 * 1024;
    if (!Number.isSafeInteger(maxBody) || maxBody < 0) {
      throw usage("INVALID_ARGUMENT", `vhost "${this.name}": maxBodyBytes must be a non-negative integer`);
    }
    this.maxBodyBytes = maxBody === 0 ? Number.POSITIVE_INFINITY : maxBody;
    const raw = definition.rawFallbackProtocol;
    this.rawFallbackProtocol = raw === undefined ? null : (this.protocol(raw) ?? null);
    if (raw !== undefined && !this.rawFallbackProtocol) {
      throw usage("UNKNOWN_PROTOCOL", `vhost "${this.name}": rawFallbackProtocol "${raw}" is not among its protocols`);
    }
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  protocol(name: string): ProtocolDefinition<any> | undefined {
    return this.protocols.find((p) => p.name === name);
  }
}
