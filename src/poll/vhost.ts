/**
 * A vhost groups protocols and options under one name, as lws vhosts do. Listening is
 * the loops' business: `listen` is carried here for them and not read by the context.
 */
import { usage } from "../core/errors.js";
import type { Context } from "./context.js";
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
}

export const defaultTimeouts: Timeouts = {
  handshakeMs: 15_000,
  connectMs: 5_000,
  closeWaitMs: 5_000,
  idleMs: 0,
  pingIntervalMs: 0,
  pongTimeoutMs: 10_000,
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
    this.timeouts = { ...defaultTimeouts, ...definition.timeouts };
    this.maxHeadBytes = definition.maxHeadBytes ?? 16 * 1024;
    this.listen = definition.listen;
    this.routes = definition.routes ? resolveRoutes(this.name, this.protocolNames, definition.routes) : null;
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  protocol(name: string): ProtocolDefinition<any> | undefined {
    return this.protocols.find((p) => p.name === name);
  }
}
