import { describe, expect, it } from "vitest";
import { ManualDriver } from "../../src/loops/manual/index.js";
import { defineProtocol, type CallbackEvent } from "../../src/poll/index.js";

describe("smoke", () => {
  it("echoes a message between a client and a server over the manual driver", () => {
    const driver = new ManualDriver();
    const serverLog: string[] = [];
    const clientLog: string[] = [];
    const echo = defineProtocol<{ queue: Array<{ data: Buffer; binary: boolean }> }>({
      name: "echo",
      createUserData: () => ({ queue: [] }),
      callback(event) {
        serverLog.push(event.reason);
        if (event.reason === "RECEIVE") {
          event.connection.userData.queue.push({ data: Buffer.from(event.data), binary: event.binary });
          event.connection.requestWriteable();
        }
        if (event.reason === "SERVER_WRITEABLE") {
          const m = event.connection.userData.queue.shift();
          if (m) event.connection.write(m.data, m.binary ? "binary" : "text");
          if (event.connection.userData.queue.length) event.connection.requestWriteable();
        }
      },
    });
    const server = driver.createContext({ vhosts: [{ protocols: [echo] }] });
    driver.network.listen("127.0.0.1", 7681, server);
    const received: string[] = [];
    const client = driver.createContext({
      vhosts: [
        {
          protocols: [
            {
              name: "echo",
              callback(event: CallbackEvent) {
                clientLog.push(event.reason);
                if (event.reason === "CLIENT_ESTABLISHED") event.connection.requestWriteable();
                if (event.reason === "CLIENT_WRITEABLE") event.connection.write("hello");
                if (event.reason === "CLIENT_RECEIVE") {
                  received.push(event.data.toString());
                  event.connection.close(1000, "done");
                }
              },
            },
          ],
        },
      ],
    });
    client.connect({ url: "ws://127.0.0.1:7681/", protocols: ["echo"] });
    driver.run();
    expect(received).toEqual(["hello"]);
    expect(clientLog).toContain("CLIENT_CLOSED");
    expect(serverLog).toContain("CLOSED");
    expect(server.connectionCount).toBe(0);
    expect(client.connectionCount).toBe(0);
  });
});
