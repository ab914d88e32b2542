/**
 * wsloop's WebSockets inside a Fastify app: Fastify serves its routes, wsloop takes
 * the upgrades (to /echo) that arrive at `app.server`, Fastify's http.Server.
 *
 * Run it: npm run build && node dist-examples/attach-fastify.js
 */
import Fastify from "fastify";
import { NodeLoop } from "wsloop/node";
import { echo } from "./echo-protocol.js";
import { isMain } from "./is-main.js";
import type { Started } from "./attach-http.js";

export async function start({ port = 0, host = "127.0.0.1" }: { port?: number; host?: string } = {}): Promise<Started> {
  const app = Fastify();
  app.get("/hello", async () => ({ hello: "from fastify" }));
  const loop = new NodeLoop({ vhosts: [{ protocols: [echo] }] });
  const detach = loop.attach(app.server, { routes: { "/echo": "echo" } });
  await app.listen({ port, host });
  const bound = (app.server.address() as { port: number }).port;
  return {
    url: `http://${host}:${bound}`,
    port: bound,
    async close() {
      detach();
      await loop.close(1_000);
      await app.close();
    },
  };
}

if (isMain(import.meta.url)) {
  const { url } = await start({ port: 8080 });
  console.log(`Fastify on ${url}/hello, WebSockets on ${url.replace("http", "ws")}/echo`);
}
