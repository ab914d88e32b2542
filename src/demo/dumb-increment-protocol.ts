/**
 * dumb-increment-protocol, as lws's test server has it: each connection gets a number
 * that counts up, sent as text every 50 ms. "reset\n" sets it back to 0; "closeme\n"
 * closes the connection with 1001 ("seeya").
 */
import { CloseCode } from "../core/close-codes.js";
import { defineProtocol, type ProtocolDefinition } from "../poll/protocol.js";
import { definePlugin, intOption } from "../serve/plugin.js";

export interface DumbIncrementOptions {
  /** Milliseconds between numbers. Default 50. */
  intervalMs?: number;
}

export function dumbIncrementProtocol(options: DumbIncrementOptions = {}): ProtocolDefinition<{ number: number }> {
  const interval = options.intervalMs ?? 50;
  return defineProtocol<{ number: number }>({
    name: "dumb-increment-protocol",
    maxMessageSize: 1024,
    createUserData: () => ({ number: 0 }),
    callback(event) {
      switch (event.reason) {
        case "ESTABLISHED":
          event.connection.setTimer(interval);
          return;
        case "TIMER":
          event.connection.requestWriteable();
          event.connection.setTimer(interval);
          return;
        case "SERVER_WRITEABLE":
          event.connection.write(String(event.connection.userData.number++));
          return;
        case "RECEIVE": {
          const text = event.data.toString("utf8");
          if (text === "reset\n") event.connection.userData.number = 0;
          else if (text === "closeme\n") event.connection.close(CloseCode.GOING_AWAY, "seeya");
          return;
        }
        default:
          return;
      }
    },
  });
}

export const plugin = definePlugin({
  name: "dumb-increment-protocol",
  description: "a number that counts up every interval-ms (default 50); \"reset\\n\" restarts it",
  create: (options) => dumbIncrementProtocol({ intervalMs: intOption(options, "interval-ms", 50, 1) }),
});
