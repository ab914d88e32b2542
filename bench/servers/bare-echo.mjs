// The ceiling for a WebSocket echo in Node: a node:net server with the least work a
// correct-enough echo can do. It answers the handshake, then for every whole frame in what
// it has read it writes the unmasked payload back as one unmasked frame; all the echoes of
// one read go out in one write. A close frame is answered with a close frame and the end
// of the socket. It checks nothing a real library must check (no UTF-8 validation, no
// fragmentation, no limits, no control-frame rules): it is not a server to use, only the
// figure that shows what Node's socket layer allows, so that a gap between wsloop and lws
// can be split into "Node's" and "ours".
//   node bare-echo.mjs --port N [--host 127.0.0.1]
import { createHash } from "node:crypto";
import { createServer } from "node:net";
import { parseArgs } from "node:util";

const { values } = parseArgs({ options: { port: { type: "string" }, host: { type: "string" } } });
const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/** Unmask in place: bytes up to a 4-byte boundary, then 4 bytes per step on an Int32 view. */
function unmask(buf, start, end, key) {
  let i = start;
  while (i < end && (buf.byteOffset + i) % 4 !== 0) { buf[i] ^= key[(i - start) & 3]; i++; }
  const words = (end - i) >>> 2;
  if (words > 0) {
    const r = (i - start) & 3; // the key as it lines up with the first aligned byte
    const k = key[r] | (key[(r + 1) & 3] << 8) | (key[(r + 2) & 3] << 16) | (key[(r + 3) & 3] << 24);
    const view = new Int32Array(buf.buffer, buf.byteOffset + i, words);
    // Eight words per step, as wsloop's own unmask does: a ceiling must not lose on this.
    let w = 0;
    for (; w + 7 < words; w += 8) {
      view[w] ^= k; view[w + 1] ^= k; view[w + 2] ^= k; view[w + 3] ^= k;
      view[w + 4] ^= k; view[w + 5] ^= k; view[w + 6] ^= k; view[w + 7] ^= k;
    }
    for (; w < words; w++) view[w] ^= k;
    i += words * 4;
  }
  for (; i < end; i++) buf[i] ^= key[(i - start) & 3];
}

function frameHead(opcode, length) {
  if (length < 126) return Buffer.from([0x80 | opcode, length]);
  if (length < 65536) return Buffer.from([0x80 | opcode, 126, length >> 8, length & 255]);
  const h = Buffer.alloc(10);
  h[0] = 0x80 | opcode;
  h[1] = 127;
  h.writeBigUInt64BE(BigInt(length), 2);
  return h;
}

function serveFrames(socket) {
  let pending = [];
  let pendingBytes = 0;
  const onData = (chunk) => {
    if (pendingBytes > 0) {
      pending.push(chunk);
      pendingBytes += chunk.length;
      // wait until the frame whose head we know is whole before joining the pieces
      const need = frameSize(pending[0].length >= 14 ? pending[0] : Buffer.concat(pending));
      if (need < 0 || pendingBytes < need) return;
      chunk = Buffer.concat(pending, pendingBytes);
      pending = [];
      pendingBytes = 0;
    }
    let offset = 0;
    const out = [];
    while (offset < chunk.length) {
      const size = frameSize(chunk, offset);
      if (size < 0 || offset + size > chunk.length) break;
      const opcode = chunk[offset] & 0x0f;
      let len = chunk[offset + 1] & 0x7f;
      let p = offset + 2;
      if (len === 126) { len = chunk.readUInt16BE(p); p += 2; }
      else if (len === 127) { len = Number(chunk.readBigUInt64BE(p)); p += 8; }
      const key = chunk.subarray(p, p + 4);
      p += 4;
      unmask(chunk, p, p + len, key);
      out.push(frameHead(opcode, len), chunk.subarray(p, p + len));
      offset += size;
      if (opcode === 8) {
        socket.end(Buffer.concat(out));
        return;
      }
    }
    if (out.length) flush(socket, out);
    if (offset < chunk.length) {
      pending = [chunk.subarray(offset)];
      pendingBytes = chunk.length - offset;
    }
  };
  socket.on("data", onData);
}

/** Payloads up to this size are joined with their neighbours; larger ones go to writev as they are. */
const SMALL = 512;

/** One write per read: runs of heads and small payloads joined, larger payloads never copied. */
function flush(socket, out) {
  if (out.every((b) => b.length <= SMALL)) return void socket.write(joined(out));
  socket.cork();
  let run = [];
  for (const b of out) {
    if (b.length <= SMALL) {
      run.push(b);
      continue;
    }
    if (run.length > 0) socket.write(joined(run));
    run = [];
    socket.write(b);
  }
  if (run.length > 0) socket.write(joined(run));
  socket.uncork();
}

function joined(list) {
  return list.length === 1 ? list[0] : Buffer.concat(list);
}

/** Bytes of the frame starting at `offset`, or -1 when its head is not all there. */
function frameSize(buf, offset = 0) {
  if (buf.length - offset < 2) return -1;
  const len7 = buf[offset + 1] & 0x7f;
  if (len7 < 126) return 6 + len7;
  if (len7 === 126) return buf.length - offset < 4 ? -1 : 8 + buf.readUInt16BE(offset + 2);
  return buf.length - offset < 10 ? -1 : 14 + Number(buf.readBigUInt64BE(offset + 2));
}

const server = createServer((socket) => {
  socket.setNoDelay(true);
  let head = "";
  const onHead = (chunk) => {
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
    socket.off("data", onHead);
    serveFrames(socket);
    const rest = Buffer.from(head.slice(end + 4), "latin1");
    head = "";
    if (rest.length) socket.emit("data", rest);
  };
  socket.on("data", onHead);
  socket.on("error", () => {});
});
server.listen(Number(values.port ?? 7681), values.host ?? "127.0.0.1", () => {
  const a = server.address();
  process.stdout.write(`bare-echo listening on ws://${a.address}:${a.port}/ (no checks: a ceiling, not a server)\n`);
});
process.on("SIGTERM", () => process.exit(0));
process.on("SIGINT", () => process.exit(0));
