// The ws reference: an echo server on ws (installed into bench/node_modules by bench/run.mjs).
//   node ws-echo.mjs --port N [--host 127.0.0.1] [--deflate] [--max-message BYTES]
// bufferutil is used when it is installed, unless WS_NO_BUFFER_UTIL=1 (ws's own switch).
// --deflate: perMessageDeflate with ws's defaults (threshold 1024 B, zlib level default,
// context takeover on both sides, at most 10 concurrent zlib jobs).
import { createRequire } from "node:module";
import { parseArgs } from "node:util";
import { WebSocketServer } from "ws";

const { values } = parseArgs({
  options: { port: { type: "string" }, host: { type: "string" }, deflate: { type: "boolean" }, "max-message": { type: "string" } },
});
const require = createRequire(import.meta.url);
let bufferutil = "no";
if (!process.env.WS_NO_BUFFER_UTIL) {
  try {
    require.resolve("bufferutil");
    bufferutil = "yes";
  } catch {}
}
const wsVersion = require("ws/package.json").version;
const wss = new WebSocketServer({
  host: values.host ?? "127.0.0.1",
  port: Number(values.port ?? 7681),
  maxPayload: Number(values["max-message"] ?? 16 * 1024 * 1024),
  perMessageDeflate: values.deflate ? true : false,
});
wss.on("connection", (ws) => {
  ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on("error", () => {});
});
wss.on("listening", () => {
  const a = wss.address();
  process.stdout.write(`ws-echo listening on ws://${a.address}:${a.port}/ (ws ${wsVersion}, bufferutil: ${bufferutil}, perMessageDeflate: ${values.deflate ? "yes" : "no"})\n`);
});
process.on("SIGTERM", () => process.exit(0));
