// In-process CPU per server handshake and close, without sockets: a memory transport is
// adopted, the upgrade request pushed, the 101 read, a close frame pushed, the close read,
// the peer's end delivered. What this leaves out of the real figure is Node's socket
// (accept, net.Socket, syscalls): compare with `bench/build/loadgen handshake`.
//   node bench/micro/handshake.mjs [--dist DIR] [--n 20000]
import { randomBytes } from "node:crypto";
import { POLLHUP, POLLIN, POLLOUT, cpuPerOp, echoContext, loadWsloop, numberArg } from "./common.mjs";

const lib = await loadWsloop();
const { context, table } = echoContext(lib);
const n = numberArg("n", 20000);
const request = Buffer.from(
  "GET / HTTP/1.1\r\nHost: 127.0.0.1:7681\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
    `Sec-WebSocket-Key: ${randomBytes(16).toString("base64")}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
);
const close = Buffer.from([0x88, 0x82, 1, 2, 3, 4, 0x03 ^ 1, 0xe8 ^ 2]);

function handshakeAndClose() {
  const { a, b } = lib.poll.createMemoryPair();
  context.adopt(a);
  const fd = table.last;
  b.write([request]);
  context.serviceFd({ fd, events: POLLIN | POLLOUT, revents: POLLIN });
  const response = b.read();
  if (!response || response.length < 100 || response[9] !== 0x31) throw new Error("no 101");
  b.write([close]);
  context.serviceFd({ fd, events: POLLIN | POLLOUT, revents: POLLIN });
  while (b.read()?.length) { /* the close frame, then the end */ }
  b.end();
  context.serviceFd({ fd, events: POLLIN | POLLOUT, revents: POLLIN | POLLHUP });
}

const us = cpuPerOp(handshakeAndClose, { n });
if (context.connectionCount !== 0) throw new Error(`${context.connectionCount} connections left over`);
console.log(`handshake + close, in process: ${us.toFixed(2)} µs CPU each (min of 5 × ${n}; ${lib.dist})`);
