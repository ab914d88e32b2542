/**
 * The protocol the attach examples serve: every message back to its sender, with its
 * type. Written the lws way: a received message is queued and a WRITEABLE requested;
 * each WRITEABLE writes one message. (This queue is unbounded; a real protocol caps it
 * with setRxFlowControl, as wsloop's demo echo protocol does.)
 */
import { defineProtocol } from "wsloop";

export const echo = defineProtocol<{ queue: Array<{ data: Buffer; binary: boolean }> }>({
  name: "echo",
  createUserData: () => ({ queue: [] }),
  callback(event) {
    switch (event.reason) {
      case "RECEIVE":
        event.connection.userData.queue.push({ data: Buffer.from(event.data), binary: event.binary });
        event.connection.requestWriteable();
        return;
      case "SERVER_WRITEABLE": {
        const next = event.connection.userData.queue.shift();
        if (next) event.connection.write(next.data, next.binary ? "binary" : "text");
        if (event.connection.userData.queue.length > 0) event.connection.requestWriteable();
        return;
      }
      default:
        return;
    }
  },
});
