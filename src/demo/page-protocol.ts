/**
 * demo-page: serves the bundled demo page (src/demo/page.ts) from memory at its
 * mountpoint (and its index.html), through a CALLBACK mount — so the demo needs no
 * files on disk. http-only: a protocol that answers nothing itself, for vhosts that only
 * serve mounts (lws's "http-only").
 */
import { defineProtocol, type ProtocolDefinition } from "../poll/protocol.js";
import { definePlugin } from "../serve/plugin.js";
import { demoPageHtml } from "./page.js";

export function demoPageProtocol(): ProtocolDefinition<null> {
  const body = Buffer.from(demoPageHtml, "utf8");
  return defineProtocol<null>({
    name: "demo-page",
    callback(event) {
      if (event.reason !== "HTTP") return;
      const rest = event.path.slice((event.mountpoint ?? "/").replace(/\/$/, "").length);
      if (rest !== "/" && rest !== "" && rest !== "/index.html") {
        event.connection.respondError(404);
      } else if (event.method !== "GET" && event.method !== "HEAD") {
        event.connection.respond(405, { Allow: "GET, HEAD", "Content-Type": "text/plain" }, "405 Method Not Allowed\n");
      } else {
        event.connection.respond(200, { "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store" }, body);
      }
    },
  });
}

export const plugin = definePlugin({ name: "demo-page", description: "the bundled demo page (CALLBACK mount)", create: () => demoPageProtocol() });

export const httpOnlyPlugin = definePlugin({
  name: "http-only",
  description: "no WebSocket behaviour: for vhosts that serve mounts only",
  create: () => defineProtocol<null>({ name: "http-only", maxMessageSize: 1024, callback() {} }),
});
