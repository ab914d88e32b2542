/**
 * What ties one context connection to its RxConnection: the user data of the rx
 * protocol. The protocol callback calls in here from inside context calls; this only
 * records (inbox, outbox, close info) and leaves every user-facing notification to a
 * notice, which the loop runs after the service, outside the context.
 */
import { AsyncSubject } from "rxjs";
import { HeaderList } from "../../core/http/headers.js";
import type { Connection } from "../../poll/connection.js";
import type { CloseData } from "../../poll/events.js";
import { Inbox } from "./inbox.js";
import type { ResolvedConnectionOptions, RxConnectionOptions } from "./options.js";
import { resolveConnectionOptions } from "./options.js";
import { RxConnection, type CloseInfo, type RxMessage } from "./rx-connection.js";
import { Sender } from "./sender.js";

export interface LinkHost {
  /** Run later, outside every context call. */
  defer(work: () => void): void;
  /** A server connection is established: offer it on connections$. */
  announce(connection: RxConnection): void;
}

/** How connect() learns about its connection. */
export interface ClientWatcher {
  open(connection: RxConnection): void;
  closed(info: CloseInfo): void;
  failed(error: Error): void;
}

export class ConnectionLink {
  readonly inbox: Inbox<RxMessage>;
  readonly sender: Sender;
  readonly closed$ = new AsyncSubject<CloseInfo>();
  readonly rx: RxConnection;
  headers: HeaderList = new HeaderList();
  closeInfo: CloseInfo | null = null;
  client: ClientWatcher | null = null;
  private readonly options: ResolvedConnectionOptions;
  private readonly closeListeners = new Set<() => void>();
  private ended = false;

  constructor(
    readonly host: LinkHost,
    readonly connection: Connection<ConnectionLink>,
    options: ResolvedConnectionOptions,
  ) {
    // One limits object, shared by inbox and sender, so configure() reaches both.
    this.options = { ...options };
    // The link is the inbox's and the sender's port itself: no closures per connection.
    this.inbox = new Inbox<RxMessage>(this.options, this);
    this.sender = new Sender(connection, this.options, this);
    this.rx = new RxConnection(this);
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
    Object.assign(this.options, resolveConnectionOptions(this.options, override));
  }

  defer(work: () => void): void {
    this.host.defer(work);
  }

  /** `listener` runs from a notice when the connection has closed (at once, deferred, if it has). */
  onClose(listener: () => void): () => void {
    if (this.ended) {
      this.host.defer(listener);
      return () => {};
    }
    this.closeListeners.add(listener);
    return () => this.closeListeners.delete(listener);
  }

  // ---- from the protocol callback (inside context calls) ----------------------------------

  established(): void {
    // Headers are dropped by the connection once ESTABLISHED returns; keep them.
    this.headers = this.connection.headers ?? new HeaderList();
    this.host.defer(() => {
      if (this.connection.role === "server") this.host.announce(this.rx);
      else this.client?.open(this.rx);
    });
  }

  received(data: Buffer, binary: boolean): void {
    this.inbox.push(binary ? data : data.toString("utf8"), data.length);
  }

  writeable(): void {
    this.sender.onWriteable();
  }

  closed(data: CloseData): void {
    const info: CloseInfo = { code: data.code, reason: data.closeReason, clean: data.clean };
    this.closeInfo = info;
    this.end(() => this.client?.closed(info), info);
  }

  /** A client connection that never got established (CLIENT_CONNECTION_ERROR). */
  failed(error: Error): void {
    this.end(() => this.client?.failed(error), null);
  }

  private end(tellClient: () => void, info: CloseInfo | null): void {
    if (this.ended) return;
    this.ended = true;
    this.sender.close();
    this.inbox.end();
    this.host.defer(() => {
      if (info) this.closed$.next(info);
      this.closed$.complete();
      const listeners = [...this.closeListeners];
      this.closeListeners.clear();
      for (const listener of listeners) listener();
      tellClient();
    });
  }
}
