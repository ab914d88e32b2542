/**
 * wsloop's WebSockets and a plain node:http server on one port: the server answers its
 * HTTP routes; upgrades to /echo are routed to wsloop after an (asynchronous) token
 * check. Anything else that asks to upgrade gets 404.
 *
 * Run it: npm run build && node dist-examples/attach-http.js
 * then: node bin/wsloop.js client "ws://127.0.0.1:8080/echo?token=letmein"
 */
import { createServer, type IncomingMessage, type Server } from "node:http";
import { NodeLoop, type AuthDecision } from "wsloop/node";
import { echo } from "./echo-protocol.js";
import { isMain } from "./is-main.js";

export interface Started {
  /** The HTTP base URL, e.g. http://127.0.0.1:8080 */
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Pretend to look the token up somewhere slow (a database, another service). */
async function checkToken(request: IncomingMessage): Promise<AuthDecision> {
  const token = new URL(request.url ?? "/", "http://localhost").searchParams.get("token");
  await new Promise((resolve) => setTimeout(resolve, 5));
  if (token === null) return false; // 401
  if (token !== "letmein") return { status: 403, message: "that token is not valid" };
  return true;
}

export async function start({ port = 0, host = "127.0.0.1" }: { port?: number; host?: string } = {}): Promise<Started> {
  const server: Server = createServer((request, response) => {
    if (request.method === "GET" && request.url === "/hello") {
      response.writeHead(200, { "content-type": "text/plain" }).end("hello from node:http\n");
    } else {
      response.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
    }
  });
  const loop = new NodeLoop({ vhosts: [{ protocols: [echo] }] });
  const detach = loop.attach(server, { routes: { "/echo": "echo" }, authenticate: checkToken });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, resolve);
  });
  const bound = (server.address() as { port: number }).port;
  return {
    url: `http://${host}:${bound}`,
    port: bound,
    async close() {
      detach();
      await loop.close(1_000); // every WebSocket gets 1001 first
      await new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
    },
  };
}

if (isMain(import.meta.url)) {
  const { url } = await start({ port: 8080 });
  console.log(`HTTP on ${url}/hello, WebSockets on ${url.replace("http", "ws")}/echo?token=letmein`);
}
