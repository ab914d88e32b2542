/**
 * One WebSocket connection as observables: what the rx loop hands out on connections$
 * (server side) and from connect() (client side).
 *
 * Messages are typed by what they are on the wire: a text message is a `string` (its
 * UTF-8 already validated), a binary message a `Buffer`. Sending mirrors it: a string
 * goes as text, bytes as binary — so `c.sendAll(c.messages$)` echoes each message as
 * what it was.
 */
import { Observable, type ObservableInput } from "rxjs";
import type { HeaderList } from "../../core/http/headers.js";
import type { PeerAddress } from "../../poll/transport.js";
import type { ConnectionLink } from "./link.js";
import { MessageStream, type ConsumeOptions } from "./message-stream.js";
import { sendAll, type SendSource } from "./send-all.js";
import type { OutgoingMessage, OverflowPolicy } from "./sender.js";

/** A received message: text as a string, binary as a Buffer. */
export type RxMessage = string | Buffer;

/** How a connection ended. */
export interface CloseInfo {
  /** The close code: the peer's or ours; 1006 when it ended without a close handshake. */
  code: number;
  reason: string;
  /** Both close frames were exchanged. */
  clean: boolean;
}

export interface SendAllOptions {
  /** The overflow policy for this source's pushed messages. Default: the connection's. */
  overflow?: OverflowPolicy;
}

export class RxConnection {
  readonly #link: ConnectionLink;
  // Made on first use: an idle connection that nobody observes holds neither.
  #messages$: MessageStream<RxMessage> | null = null;
  #closed$: Observable<CloseInfo> | null = null;

  /** @internal Made by the rx loop for each of its connections. */
  constructor(link: ConnectionLink) {
    this.#link = link;
  }

  /**
   * Received messages. Each is processed when every subscriber's next() has returned;
   * see consume() for asynchronous processing. Completes once the connection has
   * closed and everything received was processed. Messages wait while nobody subscribes.
   */
  get messages$(): MessageStream<RxMessage> {
    return (this.#messages$ ??= new MessageStream<RxMessage>(this.#link.inbox));
  }

  /** Emits how the connection ended, once, then completes (late subscribers get it too). */
  get closed$(): Observable<CloseInfo> {
    const link = this.#link;
    return (this.#closed$ ??= new Observable<CloseInfo>((subscriber) => link.subscribeClosed(subscriber)));
  }

  get id(): number {
    return this.#link.connection.id;
  }

  /** "server" for accepted connections, "client" for those from connect(). */
  get role(): "server" | "client" {
    return this.#link.connection.role;
  }

  /** The protocol (of the loop's) serving this connection. */
  get protocol(): string {
    return this.#link.connection.protocol.name;
  }

  /** The subprotocol agreed in the handshake, or null. */
  get subprotocol(): string | null {
    return this.#link.connection.subprotocol;
  }

  /** The request path (server) or the path asked for (client). */
  get path(): string {
    return this.#link.connection.path;
  }

  /** The upgrade request's headers (server) or the 101 response's (client). */
  get headers(): HeaderList {
    return this.#link.headers;
  }

  get peer(): PeerAddress | null {
    return this.#link.connection.peer;
  }

  /** True until the close handshake begins. */
  get isOpen(): boolean {
    return this.#link.sender.isOpen;
  }

  /** Bytes held for sending: queued messages plus the part of a write the transport has not taken. */
  get bufferedAmount(): number {
    return this.#link.sender.held;
  }

  /** Pushed messages forgotten under the "drop" policy. */
  get dropped(): number {
    return this.#link.sender.dropped;
  }

  /** Received messages not yet processed (waiting, or being processed). */
  get unprocessed(): number {
    return this.#link.inbox.unprocessed;
  }

  /** True while rx is held because too much is unprocessed. */
  get isHoldingPeer(): boolean {
    return this.#link.inbox.isHolding;
  }

  /**
   * Send one message, as soon as the connection can take it. Never waits: returns false
   * when it was not queued — the connection is closing, or the message does not fit in
   * maxBufferedBytes (then "drop" counts it and "close" closes with 1008).
   */
  send(message: OutgoingMessage): boolean {
    return this.#link.sender.offer(message) === "queued";
  }

  /** Send every message of `source` (see send-all.ts for how each kind of source is read). Cold. */
  sendAll(source: SendSource, options: SendAllOptions = {}): Observable<never> {
    const link = this.#link;
    return sendAll(link, source, options.overflow ?? link.sender.limits.overflow);
  }

  /** messages$.consume(): process each message asynchronously, holding the peer back meanwhile. */
  consume<R = never>(handler: (message: RxMessage) => ObservableInput<R> | void, options?: ConsumeOptions): Observable<R> {
    return this.messages$.consume(handler, options);
  }

  /** Close with a close frame (`code`, `reason`); before the handshake completes, just drop it. */
  close(code = 1000, reason = ""): void {
    this.#link.connection.close(code, reason);
  }
}
