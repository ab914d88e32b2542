/**
 * What ties one context connection to its RxConnection: the user data of the rx
 * protocol. The protocol callback calls in here from inside context calls; this only
 * records (inbox, outbox, close info) and leaves every user-facing notification to a
 * notice, which the loop runs after the service, outside the context.
 *
 * An idle connection costs what it must and no more: what only some connections use
 * (closed$ observers, close listeners, their own limits, a HeaderList) is made on first
 * use, not per connection.
 */
import type { Subscriber, TeardownLogic } from "rxjs";
import type { HeaderList } from "../../core/http/headers.js";
import type { Connection } from "../../poll/connection.js";
import type { CloseData } from "../../poll/events.js";
import { fewAt, fewCount, fewWith, fewWithout, type Few } from "./few.js";
import { Inbox } from "./inbox.js";
import { keepHeaders, restoreHeaders, type HeaderSelection, type KeptHeaders } from "./kept-headers.js";
import type { ResolvedConnectionOptions, RxConnectionOptions } from "./options.js";
import { resolveConnectionOptions } from "./options.js";
import type { Defer } from "./notices.js";
import { RxConnection, type CloseInfo } from "./rx-connection.js";
import type { CloseListener, SendPort } from "./send-all.js";
import { Sender } from "./sender.js";

/** The loop, as its links see it; defer() runs work later, outside every context call. */
export interface LinkHost extends Defer {
  /** A server connection is established: offer it on connections$. */
  announce(connection: RxConnection): void;
}

/** How connect() learns about its connection. */
export interface ClientWatcher {
  open(connection: RxConnection): void;
  closed(info: CloseInfo): void;
  failed(error: Error): void;
}

export class ConnectionLink implements SendPort {
  readonly inbox: Inbox;
  readonly sender: Sender;
  readonly rx: RxConnection;
  closeInfo: CloseInfo | null = null;
  client: ClientWatcher | null = null;
  private kept: KeptHeaders = "";
  /** The loop's defaults (shared) until configure() gives this connection its own. */
  private options: ResolvedConnectionOptions;
  private closedObservers: Array<Subscriber<CloseInfo>> | null = null;
  private closeListeners: Few<CloseListener> = null;
  /** How it ended, once it has: closed (the info) or never established (the error). */
  private endedBy: CloseInfo | Error | null = null;
  /** The close notice has run: closed$ answers late subscribers at once. */
  private closeNoticed = false;

  constructor(
    readonly host: LinkHost,
    readonly connection: Connection<ConnectionLink>,
    options: ResolvedConnectionOptions,
  ) {
    this.options = options;
    // The link is the inbox's and the sender's port itself: no closures per connection.
    this.inbox = new Inbox(options, this);
    this.sender = new Sender(connection, options, this);
    this.rx = new RxConnection(this);
  }

  /** The handshake's headers (kept flat; a list again when first read). */
  get headers(): HeaderList {
    const list = restoreHeaders(this.kept);
    this.kept = list;
    return list;
  }

  /** InboxPort: stop reading the connection (inside RECEIVE, so the parser stops there). */
  hold(): void {
    this.connection.setRxFlowControl(false);
  }

  /** InboxPort: read again. */
  release(): void {
    if (this.connection.state !== "closed") this.connection.setRxFlowControl(true);
  }

  /** Per-connection overrides (connect()'s options), before the connection carries anything. */
  configure(override: RxConnectionOptions): void {
    const options = resolveConnectionOptions(this.options, override);
    this.options = options;
    this.inbox.limits = options;
    this.sender.limits = options;
  }

  defer(work: () => void): void;
  defer<T>(work: (arg: T) => void, arg: T): void;
  defer(work: (arg: unknown) => void, arg?: unknown): void {
    this.host.defer(work, arg);
  }

  /** SendPort: `listener` is told from a notice when the connection has closed (at once, deferred, if it has). */
  addCloseListener(listener: CloseListener): void {
    if (this.endedBy !== null) this.host.defer(tellClosed, listener);
    else this.closeListeners = fewWith(this.closeListeners, listener);
  }

  removeCloseListener(listener: CloseListener): void {
    this.closeListeners = fewWithout(this.closeListeners, listener);
  }

  /** closed$: how the connection ended, once, then completion; late subscribers get it too. */
  subscribeClosed(subscriber: Subscriber<CloseInfo>): TeardownLogic {
    if (this.closeNoticed) {
      if (this.closeInfo) subscriber.next(this.closeInfo);
      subscriber.complete();
      return;
    }
    if (this.closedObservers === null) this.closedObservers = [subscriber];
    else this.closedObservers.push(subscriber);
    return () => {
      const observers = this.closedObservers;
      const i = observers?.indexOf(subscriber) ?? -1;
      if (i >= 0) observers!.splice(i, 1);
    };
  }

  // ---- from the protocol callback (inside context calls) ----------------------------------

  established(keep: HeaderSelection): void {
    // Headers are dropped by the connection once ESTABLISHED returns; keep what the protocol wants.
    this.kept = keepHeaders(this.connection.headers, keep);
    this.host.defer(ConnectionLink.#open, this);
  }

  // Notices are shared functions given the link: no closure per connection.
  static #open(link: ConnectionLink): void {
    if (link.connection.role === "server") link.host.announce(link.rx);
    else link.client?.open(link.rx);
  }

  received(data: Buffer, binary: boolean): void {
    this.inbox.push(data, binary);
  }

  writeable(): void {
    this.sender.onWriteable();
  }

  closed(data: CloseData): void {
    const info: CloseInfo = { code: data.code, reason: data.closeReason, clean: data.clean };
    this.closeInfo = info;
    this.end(info);
  }

  /** A client connection that never got established (CLIENT_CONNECTION_ERROR). */
  failed(error: Error): void {
    this.end(error);
  }

  private end(cause: CloseInfo | Error): void {
    if (this.endedBy !== null) return;
    this.endedBy = cause;
    this.sender.close();
    this.inbox.end();
    this.host.defer(ConnectionLink.#ended, this);
  }

  static #ended(link: ConnectionLink): void {
    link.closeNoticed = true;
    const info = link.closeInfo;
    const observers = link.closedObservers;
    link.closedObservers = null;
    if (observers) {
      // As a subject would: every observer gets the value, then every one completes.
      if (info) for (const subscriber of observers) subscriber.next(info);
      for (const subscriber of observers) subscriber.complete();
    }
    const listeners = link.closeListeners;
    link.closeListeners = null;
    for (let i = 0, n = fewCount(listeners); i < n; i++) fewAt(listeners, i).connectionClosed();
    const cause = link.endedBy!;
    if (cause instanceof Error) link.client?.failed(cause);
    else link.client?.closed(cause);
  }
}

function tellClosed(listener: CloseListener): void {
  listener.connectionClosed();
}
