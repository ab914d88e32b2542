// The Node reference for the HTTP benchmark: node:http serving the same two things as
// wsloop-http.mjs and lws-http.c.
//   node node-http.mjs --port N [--host 127.0.0.1] --root DIR
// GET /static/<name>: the file, streamed the way a careful Node user (and serve-static)
//   does it: fs.stat for Content-Length, then fs.createReadStream piped into the response
//   (64 KiB reads on libuv's thread pool; a file is never read whole, and a request costs an
//   open and a close, as it does in lws and wsloop). Only plain names directly under --root.
// GET /cb/hello: a short text/plain body answered inline.
// Keep-alive is Node's default for HTTP/1.1 (keepAliveTimeout 5 s).
import { createReadStream, stat } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";
import { pipeline } from "node:stream";
import { parseArgs } from "node:util";

const { values } = parseArgs({ options: { port: { type: "string" }, host: { type: "string" }, root: { type: "string" } } });
if (!values.root) {
  process.stderr.write("node-http: --root DIR is required\n");
  process.exit(2);
}
const root = values.root;
const hello = Buffer.from("hello from the callback mount\n");
// one safe path segment: no traversal, no subdirectories
const safeName = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/;

function notFound(res) {
  res.writeHead(404, { "Content-Type": "text/plain", "Content-Length": 10 });
  res.end("not found\n");
}

const server = createServer((req, res) => {
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.writeHead(405, { Allow: "GET, HEAD", "Content-Length": 0 });
    res.end();
    return;
  }
  const path = req.url.split("?", 1)[0];
  if (path === "/cb/hello") {
    res.writeHead(200, { "Content-Type": "text/plain", "Content-Length": hello.length });
    res.end(req.method === "HEAD" ? undefined : hello);
    return;
  }
  const name = path.startsWith("/static/") ? path.slice(8) : null;
  if (!name || !safeName.test(name)) return notFound(res);
  const file = join(root, name);
  stat(file, (error, st) => {
    if (error || !st.isFile()) return notFound(res);
    res.writeHead(200, { "Content-Type": "application/octet-stream", "Content-Length": st.size });
    if (req.method === "HEAD") return res.end();
    // pipeline destroys the response if the read fails (the client sees a short body)
    pipeline(createReadStream(file), res, () => {});
  });
});
server.listen(Number(values.port ?? 7681), values.host ?? "127.0.0.1", () => {
  const a = server.address();
  process.stdout.write(`node-http listening on http://${a.address}:${a.port}/ (node ${process.version}, /static streamed with fs.createReadStream)\n`);
});
process.on("SIGTERM", () => process.exit(0));
