/**
 * wsloop's WebSockets inside an Express app: Express serves its routes, wsloop takes
 * the upgrades (to /echo) that arrive at the http.Server app.listen() returns.
 *
 * Run it: npm run build && node dist-examples/attach-express.js
 */
import type { Server } from "node:http";
import express from "express";
import { NodeLoop } from "wsloop/node";
import { echo } from "./echo-protocol.js";
import { isMain } from "./is-main.js";
import type { Started } from "./attach-http.js";

export async function start({ port = 0, host = "127.0.0.1" }: { port?: number; host?: string } = {}): Promise<Started> {
  const app = express();
  app.get("/hello", (_request, response) => {
    response.json({ hello: "from express" });
  });
  const server: Server = await new Promise((resolve, reject) => {
    const s = app.listen(port, host, (error?: Error) => (error ? reject(error) : resolve(s)));
  });
  const loop = new NodeLoop({ vhosts: [{ protocols: [echo] }] });
  const detach = loop.attach(server, { routes: { "/echo": "echo" } });
  const bound = (server.address() as { port: number }).port;
  return {
    url: `http://${host}:${bound}`,
    port: bound,
    async close() {
      detach();
      await loop.close(1_000);
      await new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
    },
  };
}

if (isMain(import.meta.url)) {
  const { url } = await start({ port: 8080 });
  console.log(`Express on ${url}/hello, WebSockets on ${url.replace("http", "ws")}/echo`);
}
