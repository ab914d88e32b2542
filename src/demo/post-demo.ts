/**
 * post-demo: lws's form handler over HTTP. GET shows a form; POST (urlencoded, at most
 * `max-body` bytes, default 4 KiB) answers a page that lists the fields it received.
 * Mount it with a CALLBACK mount (origin "callback://post-demo").
 */
import { defineProtocol, type ProtocolDefinition } from "../poll/protocol.js";
import { definePlugin, intOption } from "../serve/plugin.js";

interface PostState {
  body: Buffer[];
  bytes: number;
  tooLarge: boolean;
}

export interface PostDemoOptions {
  /** Largest body accepted (over it: 413). Default 4096. */
  maxBody?: number;
}

const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

const page = (inner: string) =>
  `<!doctype html><meta charset="utf-8"><title>wsloop post-demo</title><h1>post-demo</h1>${inner}` +
  `<form method="post"><input name="text"> <button>Send</button></form><p><a href="/">back to the demo</a></p>\n`;

export function postDemoProtocol(options: PostDemoOptions = {}): ProtocolDefinition<PostState> {
  const maxBody = options.maxBody ?? 4096;
  return defineProtocol<PostState>({
    name: "post-demo",
    createUserData: () => ({ body: [], bytes: 0, tooLarge: false }),
    callback(event) {
      switch (event.reason) {
        case "HTTP": {
          const state = event.connection.userData;
          state.body = [];
          state.bytes = 0;
          state.tooLarge = false;
          if (event.method === "GET" || event.method === "HEAD") {
            event.connection.respond(200, { "Content-Type": "text/html; charset=utf-8" }, page(""));
          } else if (event.method !== "POST") {
            event.connection.respond(405, { Allow: "GET, HEAD, POST", "Content-Type": "text/plain" }, "405 Method Not Allowed\n");
          }
          // POST: answered at HTTP_BODY_COMPLETION.
          return;
        }
        case "HTTP_BODY": {
          const state = event.connection.userData;
          state.bytes += event.data.length;
          if (state.bytes > maxBody) state.tooLarge = true;
          else state.body.push(Buffer.from(event.data));
          return;
        }
        case "HTTP_BODY_COMPLETION": {
          const state = event.connection.userData;
          if (state.tooLarge) {
            event.connection.respondError(413, `at most ${maxBody} bytes`);
            return;
          }
          const fields = new URLSearchParams(Buffer.concat(state.body).toString("utf8"));
          const rows = [...fields].map(([k, v]) => `<tr><td>${escapeHtml(k)}</td><td>${escapeHtml(v)}</td></tr>`).join("");
          event.connection.respond(200, { "Content-Type": "text/html; charset=utf-8" }, page(`<p>Received:</p><table>${rows}</table>`));
          return;
        }
        default:
          return;
      }
    },
  });
}

export const plugin = definePlugin({
  name: "post-demo",
  description: "an HTTP form handler (CALLBACK mount; option: max-body)",
  create: (options) => postDemoProtocol({ maxBody: intOption(options, "max-body", 4096, 1) }),
});
