/**
 * lws-status: a JSON status of the server's WebSocket clients, sent to every lws-status
 * connection when it connects and whenever the set of clients changes (checked every
 * `interval-ms`, default 1 s). Each status goes out as a fragmented message — the first
 * half with fin=false, the rest as a continuation frame — as lws's lws-status does with
 * LWS_WRITE_NO_FIN, so clients see fragmentation done by a real server.
 */
import type { Connection } from "../poll/connection.js";
import { defineProtocol, type ProtocolDefinition } from "../poll/protocol.js";
import { definePlugin, intOption } from "../serve/plugin.js";

export interface StatusOptions {
  /** How often each connection checks for a change, in ms. Default 1000. */
  intervalMs?: number;
}

interface StatusState {
  /** The rest of a message whose first fragment went out. */
  rest: Buffer | null;
  /** The last status sent (without "you"), to send only changes. */
  last: string;
}

export interface StatusDocument {
  server: "wsloop";
  /** This connection's id. */
  you: number;
  connections: Array<{ id: number; protocol: string; peer: string | null; path: string; userAgent: string | null }>;
}

export function statusProtocol(options: StatusOptions = {}): ProtocolDefinition<StatusState> {
  const interval = options.intervalMs ?? 1000;
  const members = new Set<Connection<StatusState>>();
  // Headers are let go after the handshake (as lws frees its ah): keep the user agent of
  // each connection seen at its handshake — lws-status's own (FILTER_PROTOCOL_CONNECTION).
  const userAgents = new WeakMap<object, string>();
  const snapshot = (connection: Connection<StatusState>): string => {
    const connections: StatusDocument["connections"] = [];
    for (const c of connection.context.connections) {
      if (c.role !== "server" || c.state !== "established") continue;
      const peer = c.peer;
      connections.push({
        id: c.id,
        protocol: c.protocol.name,
        peer: peer ? `${peer.address}:${peer.port}` : null,
        path: c.path,
        userAgent: userAgents.get(c) ?? c.headers?.get("user-agent") ?? null,
      });
    }
    return JSON.stringify({ server: "wsloop", connections });
  };
  const poke = () => {
    for (const member of members) member.requestWriteable();
  };
  return defineProtocol<StatusState>({
    name: "lws-status",
    maxMessageSize: 1024,
    createUserData: () => ({ rest: null, last: "" }),
    callback(event) {
      switch (event.reason) {
        case "FILTER_PROTOCOL_CONNECTION": {
          const ua = event.headers.get("user-agent");
          if (ua !== undefined) userAgents.set(event.connection, ua);
          return;
        }
        case "ESTABLISHED":
          members.add(event.connection);
          event.connection.setTimer(interval);
          poke();
          return;
        case "TIMER":
          event.connection.requestWriteable();
          event.connection.setTimer(interval);
          return;
        case "SERVER_WRITEABLE": {
          const connection = event.connection;
          const state = connection.userData;
          if (state.rest) {
            connection.write(state.rest, "continuation", { fin: true });
            state.rest = null;
            return;
          }
          const status = snapshot(connection);
          if (status === state.last) return;
          state.last = status;
          const doc = Buffer.from(`{"you":${connection.id},${status.slice(1)}`, "utf8");
          const half = doc.length >> 1;
          connection.write(doc.subarray(0, half), "text", { fin: false });
          state.rest = doc.subarray(half);
          connection.requestWriteable();
          return;
        }
        case "CLOSED":
          members.delete(event.connection);
          poke();
          return;
        default:
          return;
      }
    },
  });
}

export const plugin = definePlugin({
  name: "lws-status",
  description: "a JSON status of connected clients, as a fragmented message (option: interval-ms)",
  create: (options) => statusProtocol({ intervalMs: intOption(options, "interval-ms", 1000, 10) }),
});
