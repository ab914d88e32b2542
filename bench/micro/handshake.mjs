// In-process CPU per server handshake and close, without sockets: a memory transport is
// adopted, the upgrade request pushed, the 101 read, a close frame pushed, the close read,
// the peer's end delivered. What this leaves out of the real figure is Node's socket
// (accept, net.Socket, syscalls): compare with `bench/build/loadgen handshake`.
// --cold M writes over M MiB of memory before each handshake (not timed), so that the
// handshake runs with the caches as cold as a server's are between connections, where the
// kernel's TCP work and Node's own code run between two of them.
//   node bench/micro/handshake.mjs [--dist DIR] [--n 20000] [--cold MiB]
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

const coldMiB = numberArg("cold", 0);
if (coldMiB > 0) {
  const us = coldPerOp(handshakeAndClose, { n, mib: coldMiB });
  console.log(`handshake + close, in process, ${coldMiB} MiB written between handshakes: ${us.toFixed(2)} µs each (wall time, min of 5 × ${n}; ${lib.dist})`);
} else {
  const us = cpuPerOp(handshakeAndClose, { n });
  console.log(`handshake + close, in process: ${us.toFixed(2)} µs CPU each (min of 5 × ${n}; ${lib.dist})`);
}
if (context.connectionCount !== 0) throw new Error(`${context.connectionCount} connections left over`);

/** Wall µs per operation, each timed alone after `mib` MiB of writes (one per cache line). */
function coldPerOp(op, { n, mib, runs = 5 }) {
  const junk = new Int32Array((mib * 1048576) >> 2);
  const evict = () => {
    for (let i = 0; i < junk.length; i += 16) junk[i]++;
  };
  for (let i = 0; i < Math.ceil(n / 10); i++) op();
  let best = Infinity;
  for (let r = 0; r < runs; r++) {
    let total = 0n;
    for (let i = 0; i < n; i++) {
      evict();
      const t0 = process.hrtime.bigint();
      op();
      total += process.hrtime.bigint() - t0;
    }
    best = Math.min(best, Number(total) / n / 1000);
  }
  return best;
}
