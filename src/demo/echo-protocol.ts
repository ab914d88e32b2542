/**
 * echo: every message back to its sender, with its type. Received messages wait in a
 * per-connection queue; past a byte budget the connection stops reading (rx flow
 * control) until the queue drains, so a client that sends faster than it reads slows
 * down instead of growing the server's memory.
 */
import { permessageDeflate, type PerMessageDeflateOptions } from "../core/deflate/negotiator.js";
import { defineProtocol, type ProtocolDefinition } from "../poll/protocol.js";
import { boolOption, definePlugin, intOption } from "../serve/plugin.js";

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

/**
 * Messages waiting to go back, oldest first (two parallel arrays: nothing allocated per
 * message). Made for the first message: an idle connection holds none.
 */
interface EchoState {
  data: Buffer[];
  binary: boolean[];
  /** Index of the oldest waiting message. */
  head: number;
  queued: number;
}

const emptyBuffer = Buffer.alloc(0);

export function echoProtocol(options: EchoOptions = {}): ProtocolDefinition<EchoState | null> {
  const maxMessageSize = options.maxMessageSize ?? 16 * 1024 * 1024;
  const budget = options.queueBudget ?? Math.max(64 * 1024, maxMessageSize);
  return defineProtocol<EchoState | null>({
    name: options.name ?? "echo",
    maxMessageSize,
    maxFrameSize: maxMessageSize,
    createUserData: () => null,
    ...(options.deflate ? { extensions: [permessageDeflate(options.deflate === true ? {} : options.deflate)] } : {}),
    callback(event) {
      switch (event.reason) {
        case "RECEIVE": {
          const state = (event.connection.userData ??= { data: [], binary: [], head: 0, queued: 0 });
          // The payload is a view of received bytes that nothing else will touch: no copy.
          state.data.push(event.data);
          state.binary.push(event.binary);
          state.queued += event.data.length;
          if (state.queued > budget) event.connection.setRxFlowControl(false);
          event.connection.requestWriteable();
          return;
        }
        case "SERVER_WRITEABLE": {
          const connection = event.connection;
          const state = connection.userData;
          if (state === null) return;
          const head = state.head;
          const waiting = state.data;
          const kinds = state.binary;
          if (head === waiting.length) return;
          const data = waiting[head]!;
          const binary = kinds[head]!;
          waiting[head] = emptyBuffer; // not held once written
          if (head + 1 === waiting.length) {
            // Drained: start over, so the arrays never grow past the longest backlog.
            waiting.length = 0;
            kinds.length = 0;
            state.head = 0;
          } else if (head >= 255 && head * 2 >= waiting.length) {
            // Never drained under steady load: drop the written prefix now and then.
            waiting.splice(0, head + 1);
            kinds.splice(0, head + 1);
            state.head = 0;
          } else {
            state.head = head + 1;
          }
          state.queued -= data.length;
          connection.write(data, binary ? "binary" : "text");
          if (state.head < waiting.length) connection.requestWriteable();
          if (!connection.rxFlowEnabled && state.queued <= budget / 2) connection.setRxFlowControl(true);
          return;
        }
        default:
          return;
      }
    },
  });
}

export const plugin = definePlugin({
  name: "echo",
  description: "every message back to its sender (options: max-message, deflate)",
  create: (options) =>
    echoProtocol({ maxMessageSize: intOption(options, "max-message", 16 * 1024 * 1024, 1), deflate: boolOption(options, "deflate", false) }),
});
