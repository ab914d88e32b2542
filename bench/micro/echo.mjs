// In-process CPU per echoed message, without sockets: one connection over a memory
// transport; each step pushes a batch of masked frames (as one read would bring them),
// services the descriptor until the echoes are written, and reads them back.
//   node bench/micro/echo.mjs [--dist DIR] [--size 32] [--batch 16] [--n 20000]
import { randomBytes } from "node:crypto";
import { POLLIN, POLLOUT, cpuPerOp, echoContext, loadWsloop, numberArg } from "./common.mjs";

const lib = await loadWsloop();
const { context, table } = echoContext(lib);
const size = numberArg("size", 32), batch = numberArg("batch", size <= 1024 ? 16 : 4), n = numberArg("n", 20000);

const { a, b } = lib.poll.createMemoryPair({ capacity: 1 << 24 });
context.adopt(a);
const fd = table.last;
b.write([Buffer.from(
  "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
    `Sec-WebSocket-Key: ${randomBytes(16).toString("base64")}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
)]);
context.serviceFd({ fd, events: POLLIN | POLLOUT, revents: POLLIN });
if (b.read()?.[9] !== 0x31) throw new Error("no 101");

// One masked frame, text of `size` ASCII bytes (binary above 1 KiB), repeated `batch` times.
const payload = Buffer.alloc(size, 0x61);
const head = size < 126 ? Buffer.from([0, 0x80 | size]) : size < 65536 ? Buffer.from([0, 0x80 | 126, size >> 8, size & 255]) : null;
if (!head) throw new Error("--size must be below 64 KiB");
head[0] = 0x80 | (size <= 1024 ? 1 : 2);
const key = Buffer.from([0x11, 0x22, 0x33, 0x44]);
const masked = Buffer.from(payload.map((byte, i) => byte ^ key[i & 3]));
const frame = Buffer.concat([head, key, masked]);
const input = Buffer.concat(Array.from({ length: batch }, () => frame));
const echoBytes = batch * (head.length + size);

function step() {
  b.write([Buffer.from(input)]); // a fresh buffer per read, as a socket gives (it is unmasked in place)
  let got = 0;
  for (let pass = 0; got < echoBytes && pass < 64; pass++) {
    context.serviceFd({ fd, events: POLLIN | POLLOUT, revents: POLLIN | POLLOUT });
    for (let chunk; (chunk = b.read()) && chunk.length; ) got += chunk.length;
  }
  if (got !== echoBytes) throw new Error(`echoed ${got} bytes, expected ${echoBytes}`);
}

const us = cpuPerOp(step, { n: Math.ceil(n / batch) }) / batch;
console.log(`echo ${size} B × ${batch} per read, in process: ${(us * 1000).toFixed(0)} ns CPU per message (min of 5; ${lib.dist})`);
