// wsloop's HTTP role on the Node loop, serving the same two things as node-http.mjs and
// lws-http.c:
//   node wsloop-http.mjs --port N [--host 127.0.0.1] --root DIR --dist DIR
// --dist: the wsloop build under test (bench/run.mjs passes bench/build/wsloop/dist, compiled
// from src/ at the start of the run; with --no-build, the repository's dist/).
// One vhost: a FILE mount on /static → DIR (wsloop's file server: stat, open, 64 KiB reads,
// ETag and Last-Modified) and a CALLBACK mount on /cb bound to the "hello" protocol, whose
// HTTP callback answers /cb/hello with connection.respond() (head and body in one write,
// the transaction completed). Keep-alive is the vhost's default (5 s between requests).
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: { port: { type: "string" }, host: { type: "string" }, root: { type: "string" }, dist: { type: "string" } },
});
if (!values.root || !values.dist) {
  process.stderr.write("wsloop-http: --root DIR and --dist DIR are required\n");
  process.exit(2);
}
const { NodeLoop } = await import(pathToFileURL(join(values.dist, "loops", "node", "index.js")).href);

const hello = Buffer.from("hello from the callback mount\n");
const helloHeaders = { "Content-Type": "text/plain" };

// protocols[0] also gets the requests outside both mounts: anything but /cb/hello is a 404
const helloProtocol = {
  name: "hello",
  callback(event) {
    if (event.reason !== "HTTP") return;
    if (event.path === "/cb/hello") event.connection.respond(200, helloHeaders, hello);
    else event.connection.respondError(404);
  },
};

const loop = new NodeLoop({
  logger: { level: "warn" },
  vhosts: [
    {
      name: "default",
      protocols: [helloProtocol],
      listen: { port: Number(values.port ?? 7681), host: values.host ?? "127.0.0.1" },
      mounts: [
        { mountpoint: "/static", kind: "file", origin: values.root },
        { mountpoint: "/cb", kind: "callback", origin: "hello" },
      ],
    },
  ],
});
const [bound] = await loop.listen();
process.stdout.write(`wsloop-http listening on http://${bound.host}:${bound.port}/ (loop: node, FILE mount /static, CALLBACK mount /cb)\n`);
process.once("SIGTERM", () => loop.close(1000).then(() => process.exit(0), () => process.exit(1)));
