/**
 * The context (lws_context): vhosts, connections, a descriptor table and one timer
 * queue. It never waits and never owns a loop. A loop learns what to poll through the
 * hooks (lws's ADD / DEL / CHANGE_MODE_POLL_FD) and hands readiness back through
 * serviceFd(); adjustTimeout() and servicePending() cover the work that no network event
 * will announce (lws's forced service) and the timers.
 *
 * Every descriptor the context needs polled is announced through the hooks, the
 * cancel-service wake-up source included: the hooks are the whole truth.
 */
import { usage } from "../core/errors.js";
import { PooledMaskSource, type MaskSource } from "../core/mask-source.js";
import { ClientUpgrade } from "./client-upgrade.js";
import { monotonicClock, type Clock } from "./clock.js";
import { resolveConnectInfo, type ConnectInfo, type ResolvedConnectInfo } from "./connect-info.js";
import { HttpClientRole } from "./http/client-role.js";
import { Connection, DETACHED } from "./connection.js";
import type { ContextEvents, PollHooks } from "./events.js";
import { Logger, type LoggerOptions } from "./logger.js";
import { POLLIN, type PollFd } from "./pollfd.js";
import type { FileOps } from "./file-ops.js";
import { HttpServerRole } from "./http/server-role.js";
import { RawRole, becomeRaw } from "./http/raw-role.js";
import { TimerQueue } from "./timer-queue.js";
import type { Dialer, PeerAddress, Pollable, Transport } from "./transport.js";
import { Vhost, resolveRoutes, type Routes, type VhostDefinition } from "./vhost.js";
import { WakeSource } from "./wake-source.js";

export interface ContextOptions {
  vhosts: readonly VhostDefinition[];
  /** The external-poll hooks. A loop adapter passes its own; embedders pass theirs. */
  hooks?: PollHooks;
  /** Where time comes from. Default: the process's monotonic clock. */
  clock?: Clock;
  logger?: Logger | LoggerOptions;
  /** How client connections get a transport. Loops provide one. */
  dialer?: Dialer;
  /** Mask keys for client frames. Default: crypto-random, pooled. */
  maskSource?: MaskSource;
  /** How FILE mounts read files (lws_plat_file_ops). Loops provide one; needed when a vhost has a FILE mount. */
  fileOps?: FileOps;
}

export interface AdoptOptions {
  /** The vhost that serves it. Default: the first (of `vhosts` when given). */
  vhost?: string;
  /**
   * The vhosts sharing the listener this came from: the Host header of each request
   * picks one (exact name, then parent domain); the first is the default.
   */
  vhosts?: readonly string[];
  /** Adopt as a RAW connection of this protocol (lws_adopt_descriptor_vhost with a raw role): RAW_ADOPT first. */
  rawProtocol?: string;
  /** WebSocket paths for this connection, instead of the vhost's (see VhostDefinition.routes). */
  routes?: Routes;
}

// Connections of every protocol live here; each one's user-data type is its protocol's.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyConnection = Connection<any>;

export class Context {
  readonly vhosts: readonly Vhost[];
  readonly clock: Clock;
  readonly logger: Logger;
  /** @internal */ readonly timers = new TimerQueue();
  /** @internal */ readonly maskSource: MaskSource;
  /** The descriptor of the cancel-service wake-up source, announced through the add hook. */
  readonly wakeFd: number;
  /** The file operations FILE mounts read through, or null. */
  readonly fileOps: FileOps | null;

  private readonly hooks: PollHooks | null;
  private readonly dialer: Dialer | null;
  /**
   * The descriptor table: each descriptor's connection, which also keeps what it was last
   * polled for (connection.events). The wake-up source is the one descriptor that is not
   * a connection; it is known by its number.
   */
  private readonly descriptors = new Map<number, AnyConnection>();
  private wakeRegistered = false;
  private readonly freeFds: number[] = [];
  private nextFd = 3;
  private readonly wake = new WakeSource();
  private readonly forced = new Set<AnyConnection>();
  private dirty: AnyConnection[] = [];
  private servicing = 0;
  private destroyed = false;
  /** destroy() is under way: nothing new is dialed from the endings it causes. */
  private destroying = false;

  constructor(options: ContextOptions) {
    if (options.vhosts.length === 0) throw usage("INVALID_ARGUMENT", "a context needs at least one vhost");
    this.clock = options.clock ?? monotonicClock;
    this.logger = options.logger instanceof Logger ? options.logger : new Logger(options.logger);
    this.hooks = options.hooks ?? null;
    this.dialer = options.dialer ?? null;
    this.maskSource = options.maskSource ?? new PooledMaskSource();
    this.fileOps = options.fileOps ?? null;
    const names = new Set<string>();
    this.vhosts = options.vhosts.map((definition) => {
      const vhost = new Vhost(this, definition);
      if (names.has(vhost.name)) throw usage("INVALID_ARGUMENT", `two vhosts are named "${vhost.name}"`);
      names.add(vhost.name);
      return vhost;
    });
    if (!this.fileOps) {
      const withFiles = this.vhosts.find((v) => v.mounts.some((m) => m.kind === "file"));
      if (withFiles) {
        throw usage("INVALID_ARGUMENT", `vhost "${withFiles.name}" has a FILE mount but the context has no fileOps (loops supply one; pass \`fileOps\` otherwise)`);
      }
    }
    this.wakeFd = this.allocateFd();
    this.wakeRegistered = true;
    this.announceAdd(this.vhosts[0]!, this.wakeFd, this.wake, POLLIN);
    // A deadline that moves earlier outside a service (a timer armed from user code) must
    // reach the loop, which otherwise sleeps until the deadline it knew.
    this.timers.onEarlierDeadline = () => {
      if (this.servicing === 0) this.wake.nudge();
    };
    for (const vhost of this.vhosts) this.emitToVhost(vhost, { reason: "PROTOCOL_INIT", vhost }, true);
  }

  /** The vhost of that name, or the first. */
  vhost(name?: string): Vhost {
    if (name === undefined) return this.vhosts[0]!;
    const vhost = this.vhosts.find((v) => v.name === name);
    if (!vhost) {
      throw usage("UNKNOWN_VHOST", `no vhost is named "${name}" (there are: ${this.vhosts.map((v) => v.name).join(", ")})`);
    }
    return vhost;
  }

  /** Live connections (established or not). */
  get connections(): IterableIterator<AnyConnection> {
    return [...this.descriptors.values()].values();
  }

  get connectionCount(): number {
    return this.descriptors.size;
  }

  // ---- bringing connections in ------------------------------------------------------------

  /**
   * Serve an accepted transport (lws_adopt_socket_vhost). FILTER_NETWORK_CONNECTION runs
   * first, before any byte is read; refusing it destroys the transport and returns null.
   */
  adopt(transport: Transport, options: AdoptOptions = {}): AnyConnection | null {
    this.assertAlive();
    const group = (options.vhosts ?? []).map((name) => this.vhost(name));
    const vhost = options.vhost !== undefined ? this.vhost(options.vhost) : (group[0] ?? this.vhost());
    if (!group.includes(vhost)) group.unshift(vhost);
    const routes = options.routes ? resolveRoutes(vhost.name, vhost.protocolNames, options.routes) : null;
    let raw = null;
    if (options.rawProtocol !== undefined) {
      raw = vhost.protocol(options.rawProtocol);
      if (!raw) throw usage("UNKNOWN_PROTOCOL", `vhost "${vhost.name}" has no protocol "${options.rawProtocol}"`);
    }
    const connection = new Connection(this, vhost, "server", transport, this.allocateFd(), vhost.protocols[0]!);
    const refused = connection.emitConnection(new FilterNetworkConnection(connection));
    if (refused) {
      this.freeFds.push(connection.fd);
      const peer = transport.remote; // before destroy(): a closed socket no longer knows it
      transport.destroy();
      this.logger.info(`refused connection from ${peer ? `${peer.address}:${peer.port}` : "an unknown peer"} (FILTER_NETWORK_CONNECTION)`);
      return null;
    }
    this.register(connection);
    if (raw) {
      this.servicing++;
      try {
        becomeRaw(connection, raw, null);
      } finally {
        this.endService();
      }
    } else {
      // Every server connection starts as HTTP: a request that asks for websocket is
      // handed to the handshake, the others are HTTP transactions.
      connection.handshake = new HttpServerRole(connection, group, routes);
    }
    return connection;
  }

  /**
   * Start a client connection (lws_client_connect_via_info). The connection is returned
   * at once; CLIENT_ESTABLISHED or CLIENT_CONNECTION_ERROR (with its cause) follows from
   * service calls — never from inside connect().
   */
  connect(info: ConnectInfo): AnyConnection {
    this.assertAlive();
    const resolved = resolveConnectInfo(info);
    const vhost = this.vhost(resolved.vhost);
    let protocol = vhost.defaultProtocol;
    if (resolved.localProtocol !== undefined) {
      const named = vhost.protocol(resolved.localProtocol);
      if (!named) {
        throw usage("UNKNOWN_PROTOCOL", `vhost "${vhost.name}" has no protocol "${resolved.localProtocol}"`);
      }
      protocol = named;
    } else {
      const offered = resolved.protocols.map((name) => vhost.protocol(name)).find((p) => p !== undefined);
      if (offered) protocol = offered;
    }
    if (!this.dialer) {
      throw usage("INVALID_STATE", "this context has no dialer: create it through a loop (or pass `dialer`) to make client connections");
    }
    if (resolved.pipeline) {
      // lws's LCCSCF_PIPELINE: wait for the connection already open to that server.
      const owner = this.pipelines.get(pipelineKey(resolved));
      const ownerRole = owner?.handshake instanceof HttpClientRole ? owner.handshake : null;
      if (ownerRole?.canQueue) {
        const queued = new Connection(this, vhost, "client", DETACHED, -1, protocol);
        queued.path = resolved.path;
        queued.bindProtocol(protocol);
        queued.handshake = new HttpClientRole(queued, resolved);
        ownerRole.enqueue(queued);
        return queued;
      }
    }
    const { transport, dialError } = this.dial(resolved);
    const connection = new Connection(this, vhost, "client", transport, this.allocateFd(), protocol);
    connection.path = resolved.path;
    connection.bindProtocol(protocol);
    if (resolved.method === "RAW") connection.handshake = new RawRole(connection);
    else if (resolved.method !== null) connection.handshake = new HttpClientRole(connection, resolved);
    else connection.handshake = new ClientUpgrade(connection, resolved);
    if (resolved.pipeline) this.pipelines.set(pipelineKey(resolved), connection);
    this.startDial(connection, resolved, dialError);
    return connection;
  }

  /** Pipelined HTTP clients: the connection that has the transport to each server. */
  private readonly pipelines = new Map<string, AnyConnection>();

  /** @internal A pipelined client no longer owns a transport others may wait for. */
  leavePipeline(connection: AnyConnection, resolved: ResolvedConnectInfo): void {
    const key = pipelineKey(resolved);
    if (this.pipelines.get(key) === connection) this.pipelines.delete(key);
  }

  /**
   * @internal The kept-alive transport of `from` (its response complete) goes on to the
   * queued `to`, descriptor and all: the loop sees no change, `to` sends its request.
   */
  handOver(from: AnyConnection, to: AnyConnection, resolved: ResolvedConnectInfo): void {
    if (this.descriptors.get(from.fd) !== from) return;
    this.descriptors.set(from.fd, to);
    to.setEvents(from.events); // what the hooks were last told for this descriptor
    to.replaceTransport(from.transport, from.fd);
    from.detachTransport();
    this.pipelines.set(pipelineKey(resolved), to);
    this.markDirty(to);
  }

  /** @internal A queued pipelined client gets a connection of its own (the server would not keep one alive). */
  dialOwn(connection: AnyConnection, resolved: ResolvedConnectInfo): void {
    if (connection.state === "closed") return;
    if (this.destroying) {
      connection.failClient(new Error("the context was destroyed while the request waited for its pipeline"));
      return;
    }
    const { transport, dialError } = this.dial(resolved);
    connection.replaceTransport(transport, this.allocateFd());
    this.startDial(connection, resolved, dialError);
  }

  private dial(resolved: ResolvedConnectInfo): { transport: Transport; dialError: Error | null } {
    try {
      const transport = this.dialer!({
        address: resolved.address,
        port: resolved.port,
        tls: resolved.tls && { serverName: resolved.address, ...resolved.tls },
      });
      return { transport, dialError: null };
    } catch (error) {
      const dialError = error instanceof Error ? error : new Error(String(error));
      return { transport: failedTransport(dialError), dialError };
    }
  }

  /**
   * A client connection leaves its transport for a new one to `resolved` (an HTTP
   * redirect): the old descriptor is deleted, the new one added, and the connection
   * starts connecting again.
   * @internal
   */
  redial(connection: AnyConnection, resolved: ResolvedConnectInfo): void {
    const old = connection.transport;
    this.removeConnection(connection);
    old.destroy();
    const { transport, dialError } = this.dial(resolved);
    connection.replaceTransport(transport, this.allocateFd());
    connection.path = resolved.path;
    this.startDial(connection, resolved, dialError);
  }

  private startDial(connection: AnyConnection, resolved: ResolvedConnectInfo, dialError: Error | null): void {
    const vhost = connection.vhost;
    if (dialError) {
      // Tell it from the next service, so the caller holds the connection first. The
      // descriptor is announced like any other: failing it later calls the del hook, and
      // a del without its add breaks every loop that keeps a poll set.
      this.register(connection);
      this.deferredErrors.push([connection, dialError]);
      return;
    }
    // Even a transport that is already connected (or already failed) waits for its first
    // service: the handshake's callbacks must not run inside connect().
    connection.armStateTimer(vhost.timeouts.connectMs, `could not connect to ${resolved.address}:${resolved.port}`);
    this.register(connection);
  }

  private readonly deferredErrors: Array<[AnyConnection, Error]> = [];

  /** Ask for a WRITEABLE on every connection of a protocol (lws_callback_on_writable_all_protocol). */
  requestWriteableAll(protocolName: string, vhostName?: string): number {
    let count = 0;
    for (const c of this.descriptors.values()) {
      if (c.protocol.name !== protocolName) continue;
      if (vhostName !== undefined && c.vhost.name !== vhostName) continue;
      if (c.state === "established" && c.requestWriteable()) count++;
    }
    return count;
  }

  // ---- the external-poll contract -------------------------------------------------------

  /**
   * Service one descriptor whose `revents` are set (lws_service_fd). If it is one of
   * ours it is handled, `revents` is zeroed and true returned; otherwise `pollfd` is left
   * untouched and false returned, so a loop may pass every ready descriptor it has.
   */
  serviceFd(pollfd: PollFd): boolean {
    const connection = this.descriptors.get(pollfd.fd);
    if (!connection && !(pollfd.fd === this.wakeFd && this.wakeRegistered)) return false;
    const revents = pollfd.revents;
    pollfd.revents = 0;
    this.servicing++;
    try {
      if (connection) this.serviceConnection(connection, revents);
      else if (revents) this.onWake();
      this.runTimers();
    } finally {
      this.endService();
    }
    return true;
  }

  /**
   * lws_service_adjust_timeout: 0 when work is pending that no network event will
   * announce (a forced service is due), otherwise the ms until the next timer, at most
   * `maxMs`.
   */
  adjustTimeout(maxMs: number): number {
    if (this.forced.size > 0 || this.deferredErrors.length > 0) return 0;
    const next = this.timers.nextDeadline();
    if (next === Number.POSITIVE_INFINITY) return maxMs;
    return Math.max(0, Math.min(maxMs, Math.ceil(next - this.clock.now())));
  }

  /** True when a forced service has work to do now. */
  get hasPendingService(): boolean {
    return this.forced.size > 0 || this.deferredErrors.length > 0;
  }

  /**
   * Forced service (lws_service_tsi(context, -1, 0)): deliver input held back by rx flow
   * control, report deferred client failures, and fire the timers that are due.
   */
  servicePending(): void {
    this.servicing++;
    try {
      while (this.deferredErrors.length > 0) {
        const [connection, error] = this.deferredErrors.shift()!;
        connection.failClient(error);
      }
      if (this.forced.size > 0) {
        const batch = [...this.forced];
        this.forced.clear();
        for (const connection of batch) this.guard(connection, () => connection.serviceForced());
      }
      this.runTimers();
    } finally {
      this.endService();
    }
  }

  /**
   * lws_cancel_service: safe from anywhere, any time, re-entrant. The wake-up source's
   * descriptor becomes readable; servicing it delivers EVENT_WAIT_CANCELLED to every
   * protocol of every vhost.
   */
  cancelService(): void {
    this.wake.signal();
  }

  /** Close every connection (1001) is the loops' graceful shutdown; this drops them and tells the protocols. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroying = true;
    for (const connection of [...this.connections]) {
      connection.transport.destroy();
      connection.finish({ code: 1006, closeReason: "context destroyed", clean: false });
    }
    if (this.wakeRegistered) {
      this.wakeRegistered = false;
      this.announceDel(this.vhosts[0]!, this.wakeFd);
    }
    for (const vhost of this.vhosts) this.emitToVhost(vhost, { reason: "PROTOCOL_DESTROY", vhost }, true);
    this.destroyed = true;
  }

  get isDestroyed(): boolean {
    return this.destroyed;
  }

  // ---- internal bookkeeping --------------------------------------------------------------

  /** @internal A connection's poll interest may have changed. */
  markDirty(connection: AnyConnection): void {
    if (this.servicing > 0) {
      // Marked again and again in one service (every RECEIVE, every request): once is enough.
      const dirty = this.dirty;
      if (dirty.length === 0 || dirty[dirty.length - 1] !== connection) dirty.push(connection);
    } else this.syncInterest(connection);
  }

  /** @internal A connection has work for forced service. */
  markForced(connection: AnyConnection): void {
    this.forced.add(connection);
    // Marked from user code (rx turned back on from a timer of its own): no poll-set
    // change need come with it, so the loop is woken to ask adjustTimeout() again.
    if (this.servicing === 0) this.wake.nudge();
  }

  /** @internal The connection is gone: its descriptor is released. */
  removeConnection(connection: AnyConnection): void {
    this.forced.delete(connection);
    const fd = connection.fd;
    if (this.descriptors.get(fd) !== connection) return;
    this.descriptors.delete(fd);
    this.freeFds.push(fd);
    this.announceDel(connection.vhost, fd);
  }

  private register(connection: AnyConnection): void {
    connection.transport.onReadiness = null;
    const events = connection.wantedEvents();
    this.descriptors.set(connection.fd, connection);
    connection.setEvents(events);
    this.announceAdd(connection.vhost, connection.fd, connection.transport, events);
  }

  private serviceConnection(connection: AnyConnection, revents: number): void {
    // guard() inlined: no closure per service on the hot path.
    try {
      connection.service(revents);
    } catch (error) {
      this.failInternally(connection, error);
    }
    this.syncInterest(connection);
  }

  /** Our own failure while serving one connection must not take the others down. */
  private guard(connection: AnyConnection, work: () => void): void {
    try {
      work();
    } catch (error) {
      this.failInternally(connection, error);
    }
  }

  private failInternally(connection: AnyConnection, error: unknown): void {
    this.logger.err(`internal error on connection ${connection.id}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    connection.transport.destroy();
    connection.finish({ code: 1011, closeReason: "internal error", clean: false });
  }

  private endService(): void {
    if (--this.servicing > 0) return;
    while (this.dirty.length > 0) {
      const batch = this.dirty;
      this.dirty = [];
      for (const connection of batch) this.syncInterest(connection);
    }
  }

  private syncInterest(connection: AnyConnection): void {
    if (this.descriptors.get(connection.fd) !== connection) return;
    const events = connection.wantedEvents();
    const prev = connection.events;
    if (events === prev) return;
    connection.setEvents(events);
    this.hooks?.changeMode(connection.fd, events, prev);
    this.emitToVhost(connection.vhost, { reason: "CHANGE_MODE_POLL_FD", vhost: connection.vhost, fd: connection.fd, events, prevEvents: prev });
  }

  private runTimers(): void {
    const next = this.timers.nextDeadline();
    // No timer armed (an echo under load): no clock read per service.
    if (next === Number.POSITIVE_INFINITY) return;
    const now = this.clock.now();
    if (next <= now) this.timers.runExpired(now);
  }

  private onWake(): void {
    if (!this.wake.clear()) return; // only a nudge: servicing it was the point
    for (const vhost of this.vhosts) this.emitToVhost(vhost, { reason: "EVENT_WAIT_CANCELLED", vhost }, true);
  }

  private allocateFd(): number {
    return this.freeFds.pop() ?? this.nextFd++;
  }

  /** Tell the hooks and the vhost's first protocol (ADD_POLL_FD) of a new descriptor. */
  private announceAdd(vhost: Vhost, fd: number, pollable: Pollable, events: number): void {
    this.hooks?.add(fd, events, pollable);
    this.emitToVhost(vhost, { reason: "ADD_POLL_FD", vhost, fd, events });
  }

  /** ... and of one gone (DEL_POLL_FD, to the connection's vhost now, as lws does). */
  private announceDel(vhost: Vhost, fd: number): void {
    this.hooks?.del(fd);
    this.emitToVhost(vhost, { reason: "DEL_POLL_FD", vhost, fd });
  }

  /** Context events go to the vhost's first protocol (lws's protocols[0]), or to all of them. */
  private emitToVhost(vhost: Vhost, event: ContextEvents, everyProtocol = false): void {
    const targets = vhost.protocols;
    const count = everyProtocol ? targets.length : Math.min(1, targets.length);
    for (let i = 0; i < count; i++) {
      const protocol = targets[i]!;
      try {
        protocol.callback(event);
      } catch (error) {
        this.logger.err(`protocol "${protocol.name}" callback threw on ${event.reason}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }

  private assertAlive(): void {
    if (this.destroyed) throw usage("INVALID_STATE", "the context has been destroyed");
  }
}

function pipelineKey(resolved: ResolvedConnectInfo): string {
  return `${resolved.tls ? "https" : "http"}://${resolved.address}:${resolved.port}`;
}

/** Stands in for a transport whose dialer threw: detached, except that it reports the error. */
function failedTransport(error: Error): Transport {
  return { ...DETACHED, error };
}

/**
 * FILTER_NETWORK_CONNECTION's event. `peer` is read from the transport only if the
 * callback asks: finding a socket's peer costs a system call and objects that most
 * servers, which filter nothing, would keep for the connection's whole life.
 */
class FilterNetworkConnection {
  readonly reason = "FILTER_NETWORK_CONNECTION";
  constructor(readonly connection: AnyConnection) {}
  get peer(): PeerAddress | null {
    return this.connection.transport.remote;
  }
}
