/**
 * wsloop client URL: each line of stdin goes out as a text message, each message
 * received is printed on its own line. When stdin ends the client waits (boundedly) for
 * as many messages as it sent, then closes with 1000. Failures: cause on stderr, exit 1.
 */
import { createInterface } from "node:readline";
import { NodeLoop } from "../loops/node/node-loop.js";
import type { Connection } from "../poll/connection.js";

export interface ClientCommandOptions {
  url: string;
  protocol?: string;
  /** How long to wait for outstanding replies after stdin ends. */
  waitMs: number;
}

export function runClient(options: ClientCommandOptions): Promise<number> {
  return new Promise((resolve) => {
    const outgoing: string[] = [];
    let sent = 0;
    let received = 0;
    let inputEnded = false;
    let connection: Connection | null = null;
    let waitTimer: NodeJS.Timeout | null = null;
    const loop = new NodeLoop({
      logger: { level: "warn" },
      vhosts: [
        {
          protocols: [
            {
              name: options.protocol ?? "wsloop-client",
              callback(event) {
                switch (event.reason) {
                  case "CLIENT_ESTABLISHED":
                    if (outgoing.length) event.connection.requestWriteable();
                    maybeFinish();
                    return;
                  case "CLIENT_WRITEABLE": {
                    const line = outgoing.shift();
                    if (line !== undefined) {
                      event.connection.write(line);
                      sent++;
                    }
                    if (outgoing.length) event.connection.requestWriteable();
                    return;
                  }
                  case "CLIENT_RECEIVE":
                    process.stdout.write(event.binary ? `<binary ${event.data.length} bytes>\n` : `${event.data.toString("utf8")}\n`);
                    received++;
                    maybeFinish();
                    return;
                  case "CLIENT_CONNECTION_ERROR":
                    process.stderr.write(`wsloop client: ${event.cause}\n`);
                    done(1);
                    return;
                  case "CLIENT_CLOSED":
                    if (!event.clean || (event.code !== 1000 && event.code !== 1005)) {
                      process.stderr.write(`wsloop client: connection closed with ${event.code}${event.closeReason ? ` (${event.closeReason})` : ""}\n`);
                      done(event.clean && inputEnded ? 0 : 1);
                    } else {
                      done(0);
                    }
                    return;
                  default:
                    return;
                }
              },
            },
          ],
        },
      ],
    });
    const maybeFinish = () => {
      if (!inputEnded || !connection || connection.state !== "established") return;
      if (outgoing.length === 0 && received >= sent) connection.close(1000, "");
    };
    let finished = false;
    const done = (code: number) => {
      if (finished) return;
      finished = true;
      if (waitTimer) clearTimeout(waitTimer);
      input.close();
      loop.close(500).then(() => resolve(code));
    };
    try {
      connection = loop.connect({ url: options.url, ...(options.protocol ? { protocols: [options.protocol] } : {}) });
    } catch (error) {
      process.stderr.write(`wsloop client: ${(error as Error).message}\n`);
      resolve(2);
      return;
    }
    const input = createInterface({ input: process.stdin });
    input.on("line", (line) => {
      outgoing.push(line);
      if (connection?.state === "established") connection.requestWriteable();
    });
    input.on("close", () => {
      // done() closes the input itself: arming the wait timer then would keep a failed
      // client's process alive for --wait ms after it had reported the failure.
      if (inputEnded || finished) return;
      inputEnded = true;
      maybeFinish();
      waitTimer = setTimeout(() => connection?.state === "established" && connection.close(1000, ""), options.waitMs);
    });
  });
}
