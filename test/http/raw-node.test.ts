/**
 * A telnet-style exchange on real sockets: a NodeLoop vhost with rawFallbackProtocol, a
 * node:net client that types lines (not an HTTP method), and a line protocol that
 * answers one line per RAW_WRITEABLE. On the same port an HTTP GET and a WebSocket
 * upgrade still work: the first bytes decide. Conditions are waited for, never slept on.
 */
import type { Socket } from "node:net";
import { request as httpRequest } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { NodeLoop } from "../../src/loops/node/index.js";
import { defineProtocol, type Connection } from "../../src/poll/index.js";
import { EventLog, type AnyEvent } from "../helpers/event-log.js";
import { LOOPBACK, rawConnect, readAll, readUntil } from "../helpers/sockets.js";
import { closeWs, Inbox, openWs } from "../helpers/ws-client.js";
import { recordingEcho } from "../node/helpers.js";

interface LineState {
  /** Bytes of a line not ended yet. */
  partial: string;
  /** Lines to write, one per RAW_WRITEABLE. */
  out: string[];
  /** Close once `out` is written. */
  closing: boolean;
}

/**
 * A line protocol, as a telnet user would meet it: a greeting when the first line
 * arrives, then "you said: LINE" for every line, "bye" and a close for "quit".
 */
function lineProtocol(log: EventLog) {
  const state = new Map<Connection<null>, LineState>();
  const writes: string[] = [];
  const protocol = defineProtocol<null>({
    name: "telnet",
    callback(event) {
      log.push(event as AnyEvent);
      switch (event.reason) {
        case "RAW_ADOPT":
          state.set(event.connection, { partial: "", out: ["welcome to wsloop"], closing: false });
          return;
        case "RAW_RX": {
          const s = state.get(event.connection)!;
          s.partial += event.data.toString("latin1");
          let end: number;
          while ((end = s.partial.indexOf("\n")) >= 0) {
            const line = s.partial.slice(0, end).replace(/\r$/, "");
            s.partial = s.partial.slice(end + 1);
            if (line === "quit") {
              s.out.push("bye");
              s.closing = true;
            } else {
              s.out.push(`you said: ${line}`);
            }
          }
          if (s.out.length > 0) event.connection.requestWriteable();
          return;
        }
        case "RAW_WRITEABLE": {
          const s = state.get(event.connection)!;
          const line = s.out.shift();
          if (line === undefined) return;
          writes.push(line);
          event.connection.write(Buffer.from(`${line}\r\n`, "latin1"));
          if (s.out.length > 0) event.connection.requestWriteable();
          else if (s.closing) event.connection.close();
          return;
        }
        case "RAW_CLOSE":
          state.delete(event.connection);
          return;
        default:
          return;
      }
    },
  });
  return { protocol, writes };
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function serving() {
  const log = new EventLog();
  const echoLog = new EventLog();
  const telnet = lineProtocol(log);
  const web = defineProtocol<null>({
    name: "web",
    callback(event) {
      if (event.reason === "HTTP") event.connection.respond(200, { "Content-Type": "text/plain" }, `http at ${event.path}`);
    },
  });
  const loop = new NodeLoop({
    logger: { level: "warn" },
    vhosts: [
      {
        name: "localhost",
        protocols: [web, recordingEcho(echoLog, "echo"), telnet.protocol],
        rawFallbackProtocol: "telnet",
        listen: { port: 0, host: LOOPBACK },
      },
    ],
  });
  await loop.listen();
  cleanups.push(() => loop.close(500));
  return { loop, port: loop.port, log, echoLog, writes: telnet.writes };
}

async function telnet(port: number): Promise<Socket> {
  const socket = await rawConnect(port);
  cleanups.push(() => void socket.destroy());
  return socket;
}

describe("a telnet-style RAW exchange on a real socket", () => {
  it('"hello\\r\\n" is not an HTTP method: the connection is RAW, answered line by line, one line per RAW_WRITEABLE', async () => {
    const { port, log, writes } = await serving();
    const socket = await telnet(port);
    const first = readUntil(socket, "you said: hello\r\n");
    socket.write("hello\r\n");
    expect(await first).toBe("welcome to wsloop\r\nyou said: hello\r\n");
    // A line typed in pieces, then two lines at once.
    const more = readUntil(socket, "you said: three\r\n");
    socket.write("tw");
    await log.waitFor("RAW_RX", (e) => e.data.toString() === "tw");
    socket.write("o\r\nthree\r\n");
    expect(await more).toContain("you said: two\r\nyou said: three\r\n");
    // quit: "bye", then the server closes.
    const rest = readAll(socket);
    socket.write("quit\r\n");
    expect(await rest).toBe("bye\r\n");
    await log.waitFor("RAW_CLOSE");
    expect(writes).toEqual(["welcome to wsloop", "you said: hello", "you said: two", "you said: three", "bye"]);
    const reasons = log.reasons().filter((r) => /^RAW_/.test(r));
    expect(reasons[0]).toBe("RAW_ADOPT");
    expect(reasons.at(-1)).toBe("RAW_CLOSE");
    expect(reasons.filter((r) => r === "RAW_WRITEABLE")).toHaveLength(writes.length);
    expect(log.reasons().some((r) => /HTTP/.test(r))).toBe(false);
  });

  it("the same port still serves an HTTP GET and a WebSocket upgrade, while a RAW connection is open", async () => {
    const { port, log, echoLog } = await serving();
    const socket = await telnet(port);
    const greeted = readUntil(socket, "you said: hi\r\n");
    socket.write("hi\r\n");
    await greeted;

    const body = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = httpRequest({ host: LOOPBACK, port, path: "/page?x=1", agent: false }, (res) => {
        const parts: Buffer[] = [];
        res.on("data", (c: Buffer) => parts.push(c));
        res.on("end", () => resolve({ status: res.statusCode!, text: Buffer.concat(parts).toString() }));
        res.on("error", reject);
      });
      req.on("error", reject);
      req.end();
    });
    expect(body).toEqual({ status: 200, text: "http at /page" });

    const ws = await openWs(`ws://${LOOPBACK}:${port}/chat`, "echo");
    cleanups.push(() => closeWs(ws));
    const inbox = new Inbox(ws);
    ws.send("over a WebSocket");
    expect((await inbox.next()).data.toString()).toBe("over a WebSocket");
    expect(echoLog.reasons()).toContain("ESTABLISHED");

    // The RAW connection is still there and still answers.
    const again = readUntil(socket, "you said: still here\r\n");
    socket.write("still here\r\n");
    await again;
    expect(log.of("RAW_ADOPT")).toHaveLength(1);
  });
});
