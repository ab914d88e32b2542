/**
 * lws-mirror-protocol: every message is sent to every connection on the same mirror
 * instance (chosen with ?mirror=NAME, default ""), the sender included, as lws's test
 * server does for its shared drawing canvas.
 *
 * Each instance keeps a ring of recent messages and each connection a cursor into it.
 * A connection that falls a whole ring behind skips ahead (its messages are lost, and
 * logged) rather than letting one slow reader hold memory for everyone.
 */
import type { Connection } from "../poll/connection.js";
import { defineProtocol, type ProtocolDefinition } from "../poll/protocol.js";
import { definePlugin, intOption } from "../serve/plugin.js";

export interface MirrorOptions {
  /** Messages kept per instance. Default 256. */
  ringSize?: number;
  /** Largest message accepted. Default 64 KiB. */
  maxMessageSize?: number;
}

interface Instance {
  ring: Array<{ data: Buffer; binary: boolean } | undefined>;
  /** Sequence number of the next message to be added. */
  head: number;
  members: Set<Connection<MirrorState>>;
}

interface MirrorState {
  instance: Instance | null;
  /** Sequence number of the next message this connection should be sent. */
  cursor: number;
}

export function mirrorProtocol(options: MirrorOptions = {}): ProtocolDefinition<MirrorState> {
  const ringSize = options.ringSize ?? 256;
  const instances = new Map<string, Instance>();
  return defineProtocol<MirrorState>({
    name: "lws-mirror-protocol",
    maxMessageSize: options.maxMessageSize ?? 64 * 1024,
    createUserData: () => ({ instance: null, cursor: 0 }),
    callback(event) {
      switch (event.reason) {
        case "ESTABLISHED": {
          const connection = event.connection;
          const name = new URL(connection.path, "http://x").searchParams.get("mirror") ?? "";
          let instance = instances.get(name);
          if (!instance) {
            instance = { ring: new Array(ringSize), head: 0, members: new Set() };
            instances.set(name, instance);
          }
          instance.members.add(connection);
          connection.userData.instance = instance;
          connection.userData.cursor = instance.head;
          return;
        }
        case "RECEIVE": {
          const instance = event.connection.userData.instance!;
          // Kept beyond this callback and sent to many: copy once, out of the receive buffer.
          instance.ring[instance.head % ringSize] = { data: Buffer.from(event.data), binary: event.binary };
          instance.head++;
          for (const member of instance.members) member.requestWriteable();
          return;
        }
        case "SERVER_WRITEABLE": {
          const connection = event.connection;
          const state = connection.userData;
          const instance = state.instance!;
          if (instance.head - state.cursor > ringSize) {
            connection.context.logger.info(`mirror: connection ${connection.id} fell ${instance.head - state.cursor - ringSize} messages behind; skipping them`);
            state.cursor = instance.head - ringSize;
          }
          if (state.cursor === instance.head) return;
          const message = instance.ring[state.cursor % ringSize]!;
          state.cursor++;
          connection.write(message.data, message.binary ? "binary" : "text");
          if (state.cursor < instance.head) connection.requestWriteable();
          return;
        }
        case "CLOSED": {
          const instance = event.connection.userData?.instance;
          if (!instance) return;
          instance.members.delete(event.connection);
          if (instance.members.size === 0) {
            for (const [name, i] of instances) if (i === instance) instances.delete(name);
          }
          return;
        }
        default:
          return;
      }
    },
  });
}

export const plugin = definePlugin({
  name: "lws-mirror-protocol",
  description: "every message to every client of the same ?mirror= instance (options: ring-size, max-message)",
  create: (options) =>
    mirrorProtocol({ ringSize: intOption(options, "ring-size", 256, 1), maxMessageSize: intOption(options, "max-message", 64 * 1024, 1) }),
});
