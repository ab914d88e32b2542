// The floor for memory per connection in Node: a bare node:net server that answers the
// WebSocket handshake (101 with the right Sec-WebSocket-Accept) and then only holds the
// socket. Any byte after the handshake (the client's close frame) ends the connection.
//   node bare-hold.mjs --port N [--host 127.0.0.1]
import { createHash } from "node:crypto";
import { createServer } from "node:net";
import { parseArgs } from "node:util";

const { values } = parseArgs({ options: { port: { type: "string" }, host: { type: "string" } } });
const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const held = new Set();

const server = createServer((socket) => {
  let head = "";
  const onData = (chunk) => {
    head += chunk.toString("latin1");
    const end = head.indexOf("\r\n\r\n");
    if (end < 0) {
      if (head.length > 8192) socket.destroy();
      return;
    }
    const key = /\r\nsec-websocket-key:\s*([^\r\n]+)/i.exec(head.slice(0, end))?.[1]?.trim();
    if (!key) return void socket.destroy();
    const accept = createHash("sha1").update(key + GUID).digest("base64");
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    head = "";
    socket.off("data", onData);
    socket.once("data", () => socket.destroy());
    held.add(socket);
  };
  socket.on("data", onData);
  socket.on("error", () => {});
  socket.on("close", () => held.delete(socket));
});
server.listen(Number(values.port ?? 7681), values.host ?? "127.0.0.1", () => {
  const a = server.address();
  process.stdout.write(`bare-hold listening on ws://${a.address}:${a.port}/ (handshake only)\n`);
});
process.on("SIGTERM", () => process.exit(0));
