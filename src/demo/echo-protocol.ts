/**
 * echo: every message back to its sender, with its type. Received messages wait in a
 * per-connection queue; past a byte budget the connection stops reading (rx flow
 * control) until the queue drains, so a client that sends faster than it reads slows
 * down instead of growing the server's memory.
 */
import { permessageDeflate, type PerMessageDeflateOptions } from "../core/deflate/negotiator.js";
import { defineProtocol, type ProtocolDefinition } from "../poll/protocol.js";

export interface EchoOptions {
  /** Subprotocol name. Default "echo". */
  name?: string;
  /** Largest message accepted (over it: close 1009). Default 16 MiB. */
  maxMessageSize?: number;
  /** Queued bytes above which reading pauses. Default: the message limit, at least 64 KiB. */
  queueBudget?: number;
  /** Negotiate permessage-deflate (true for its defaults, or its options). Default off. */
  deflate?: boolean | PerMessageDeflateOptions;
}

interface EchoState {
  queue: Array<{ data: Buffer; binary: boolean }>;
  queued: number;
}

export function echoProtocol(options: EchoOptions = {}): ProtocolDefinition<EchoState> {
  const maxMessageSize = options.maxMessageSize ?? 16 * 1024 * 1024;
  const budget = options.queueBudget ?? Math.max(64 * 1024, maxMessageSize);
  return defineProtocol<EchoState>({
    name: options.name ?? "echo",
    maxMessageSize,
    maxFrameSize: maxMessageSize,
    createUserData: () => ({ queue: [], queued: 0 }),
    ...(options.deflate ? { extensions: [permessageDeflate(options.deflate === true ? {} : options.deflate)] } : {}),
    callback(event) {
      switch (event.reason) {
        case "RECEIVE": {
          const state = event.connection.userData;
          // The payload is a view of received bytes that nothing else will touch: no copy.
          state.queue.push({ data: event.data, binary: event.binary });
          state.queued += event.data.length;
          if (state.queued > budget) event.connection.setRxFlowControl(false);
          event.connection.requestWriteable();
          return;
        }
        case "SERVER_WRITEABLE": {
          const connection = event.connection;
          const state = connection.userData;
          const next = state.queue.shift();
          if (!next) return;
          state.queued -= next.data.length;
          connection.write(next.data, next.binary ? "binary" : "text");
          if (state.queue.length > 0) connection.requestWriteable();
          if (!connection.rxFlowEnabled && state.queued <= budget / 2) connection.setRxFlowControl(true);
          return;
        }
        default:
          return;
      }
    },
  });
}
