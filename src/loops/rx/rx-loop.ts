/**
 * The rx loop: a context serviced on an RxJS scheduler, its connections and messages
 * offered as observables. One loop is one context with one vhost; it serves the
 * connections adopted into it (listenRx() for real sockets, a MemoryNetwork in tests)
 * and makes client connections with connect().
 *
 * With a virtual-time scheduler (TestScheduler.run, VirtualTimeScheduler) and a
 * MemoryNetwork, whole conversations — timeouts included — run without real waiting.
 */
import { Observable, Subject, queueScheduler, type SchedulerLike } from "rxjs";
import { usage } from "../../core/errors.js";
import type { MaskSource } from "../../core/mask-source.js";
import type { ConnectInfo } from "../../poll/connect-info.js";
import type { Connection } from "../../poll/connection.js";
import type { AdoptOptions, Context } from "../../poll/context.js";
import type { Logger, LoggerOptions } from "../../poll/logger.js";
import type { Dialer, Transport } from "../../poll/transport.js";
import type { VhostDefinition } from "../../poll/vhost.js";
import type { MemoryNetwork } from "../manual/memory-network.js";
import { dial } from "../node/dialer.js";
import { connectObservable } from "./connect.js";
import { ConnectionLink, type LinkHost } from "./link.js";
import { defaultConnectionOptions, resolveConnectionOptions, type ResolvedConnectionOptions, type RxConnectionOptions } from "./options.js";
import type { RxConnection } from "./rx-connection.js";
import { rxProtocol, type RxProtocolOptions } from "./rx-protocol.js";
import { ScheduledBridge } from "./scheduled-bridge.js";
import { immediateScheduler } from "./immediate-scheduler.js";
import { fromRxScheduler, type LoopScheduler } from "./scheduler.js";

export interface RxLoopOptions {
  /**
   * Where servicing runs and what time it is. Default immediateScheduler (Node's check
   * phase: one turn serves every socket of one poll). Any scheduler that runs work later
   * (immediate, asap, async, animationFrame, TestScheduler, VirtualTimeScheduler); not
   * queueScheduler, which can run work synchronously inside the call that asked.
   */
  scheduler?: SchedulerLike;
  /** The protocols served and offered; names alone, or with limits. Default: one named "default". */
  protocols?: ReadonlyArray<string | RxProtocolOptions>;
  /** The vhost: name, timeouts (handshake, ping interval, pong...), routes, default protocol. */
  vhost?: Omit<VhostDefinition, "protocols">;
  /** Limits of every connection (receive high-water marks, send budget, overflow policy). */
  connection?: RxConnectionOptions;
  /** Dial client connections on this in-memory network (its accepts run on this loop's scheduler). */
  network?: MemoryNetwork;
  /** Or dial with this. Default: real TCP / TLS sockets (the Node loop's dialer). */
  dialer?: Dialer;
  logger?: Logger | LoggerOptions;
  maskSource?: MaskSource;
}

export class RxLoop {
  readonly context: Context;
  readonly scheduler: SchedulerLike;
  /** Server connections, each emitted once established. Hot: subscribe before connections come. */
  readonly connections$: Observable<RxConnection>;
  private readonly host: LoopScheduler;
  private readonly bridge: ScheduledBridge;
  private readonly accepted = new Subject<RxConnection>();

  constructor(options: RxLoopOptions = {}) {
    const scheduler = options.scheduler ?? immediateScheduler;
    if (scheduler === queueScheduler) {
      throw usage("INVALID_ARGUMENT", "queueScheduler runs work synchronously, inside the context call that scheduled it: pass immediateScheduler (the default), asapScheduler, asyncScheduler or a virtual-time scheduler");
    }
    this.scheduler = scheduler;
    this.host = fromRxScheduler(scheduler);
    const defaults: ResolvedConnectionOptions = resolveConnectionOptions(defaultConnectionOptions, options.connection);
    const linkHost: LinkHost = {
      defer: (work: (arg: unknown) => void, arg?: unknown) => this.bridge.defer(work, arg),
      announce: (connection) => this.accepted.next(connection),
    };
    const createLink = (connection: Connection<ConnectionLink>) => new ConnectionLink(linkHost, connection, defaults);
    const protocols = (options.protocols ?? ["default"]).map((p) => rxProtocol(typeof p === "string" ? { name: p } : p, createLink));
    this.bridge = new ScheduledBridge(this.host, {
      vhosts: [{ ...options.vhost, protocols }],
      dialer: this.dialerFor(options),
      ...(options.logger !== undefined ? { logger: options.logger } : {}),
      ...(options.maskSource !== undefined ? { maskSource: options.maskSource } : {}),
    });
    this.context = this.bridge.context;
    this.connections$ = this.accepted.asObservable();
  }

  /**
   * A client connection, cold: subscribing connects, the connection is emitted when
   * established, completion means a clean close, errors are typed (HandshakeRefusedError,
   * ConnectError, ConnectionLostError, TimeoutError); unsubscribing closes with 1000.
   */
  connect(target: string | ConnectInfo, options?: RxConnectionOptions): Observable<RxConnection> {
    return connectObservable(this.context, target, options);
  }

  /** Serve an accepted transport (lws_adopt_socket_vhost). False if FILTER_NETWORK_CONNECTION refused it. */
  adopt(transport: Transport, options?: AdoptOptions): boolean {
    return this.context.adopt(transport, options) !== null;
  }

  /**
   * Close every connection with 1001 and wait, on the loop's scheduler, until they are
   * gone or `graceMs` has passed; then destroy the loop. Emits once when done.
   */
  shutdown(graceMs = 5_000): Observable<void> {
    return new Observable<void>((subscriber) => {
      const context = this.context;
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        offIdle();
        cancelGrace();
        this.destroy();
        subscriber.next();
        subscriber.complete();
      };
      for (const connection of [...context.connections]) {
        if (connection.state === "established") connection.close(1001, "going away");
        else if (connection.state !== "closing") connection.close();
      }
      const offIdle = this.bridge.onIdle(() => {
        if (context.connectionCount === 0) finish();
      });
      const cancelGrace = this.host.schedule(finish, graceMs);
      if (context.isDestroyed || context.connectionCount === 0) finish();
      return () => {
        offIdle();
        cancelGrace();
      };
    });
  }

  /** Drop every connection now (CLOSED 1006 to each), stop servicing, complete connections$. */
  destroy(): void {
    if (this.context.isDestroyed) return;
    this.bridge.destroy();
    this.bridge.defer(() => this.accepted.complete());
  }

  private dialerFor(options: RxLoopOptions): Dialer {
    const network = options.network;
    if (network) {
      // The network completes connects when told to: right after the dial, on our scheduler.
      return (request) => {
        const transport = network.dial(request);
        this.bridge.defer(() => network.acceptPending());
        return transport;
      };
    }
    return options.dialer ?? ((request) => dial(request));
  }
}
