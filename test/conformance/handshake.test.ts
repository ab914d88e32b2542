/**
 * The opening handshake of `wsloop echo` on real sockets: a correct upgrade gets a 101
 * with the right Sec-WebSocket-Accept, and every faulty one gets its failure status
 * (400, 405, 414, 426, 431, 505) with `Connection: close`, after which the server ends
 * the TCP connection. Requests go whole, byte by byte and in random pieces.
 *
 * TODO(HTTP role): plain HTTP requests (no Upgrade) are the HTTP role's business and are
 * not judged here (an echo server without mounts answers them 404 and keeps the
 * connection); add their conformance cases (keep-alive, pipelining, chunked bodies,
 * smuggling-shaped heads) when the HTTP suite lands.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FrameReader, close, describeClose, text } from "./harness/frames.js";
import { RawSocket, acceptFor, chunkingLabel, type Chunking } from "./harness/raw-client.js";
import { Report } from "./harness/report.js";
import { selectedStarters, type EchoServer } from "./harness/servers.js";

interface HandshakeCase {
  id: string;
  description: string;
  /** Header lines after the request line (Host first unless the case is about Host). */
  request: (key: string) => string;
  /** Bytes sent right after the request, in the same write (frames pipelined behind it). */
  after?: Buffer;
  expect: string;
  /** Response headers to report (name: value as received, or "no NAME"). */
  show?: string[];
  chunkings?: Chunking[];
}

const KEY = () => randomBytes(16).toString("base64");
const req = (requestLine: string, lines: string[]) => [requestLine, ...lines, "", ""].join("\r\n");
/** The lines of a correct upgrade, minus those starting with a `drop` prefix (lower case), plus `extra`. */
const upgradeLines = (key: string, extra: string[] = [], drop: string[] = []) => [
  ...["Host: 127.0.0.1", "Upgrade: websocket", "Connection: Upgrade", `Sec-WebSocket-Key: ${key}`, "Sec-WebSocket-Version: 13"].filter(
    (l) => !drop.some((d) => l.toLowerCase().startsWith(d)),
  ),
  ...extra,
];
const get = (key: string, extra: string[] = [], drop: string[] = []) => req("GET / HTTP/1.1", upgradeLines(key, extra, drop));

const accepted = (extra = "") => `101 · accept ok${extra} · close 1000 · tcp closed`;
const refused = (status: number, extra = "") => `${status} · Connection: close${extra} · tcp closed`;

const cases: HandshakeCase[] = [
  { id: "H.1", description: "a correct upgrade", request: (k) => get(k), expect: accepted(), show: ["Sec-WebSocket-Protocol", "Sec-WebSocket-Extensions"], chunkings: ["whole", "bytes", { random: 1 }] },
  {
    id: "H.2",
    description: "subprotocols offered: the served one is chosen",
    request: (k) => get(k, ["Sec-WebSocket-Protocol: chat, echo"]),
    expect: accepted(" · Sec-WebSocket-Protocol: echo"),
    show: ["Sec-WebSocket-Protocol"],
  },
  { id: "H.3", description: "an absolute-form request-target", request: (k) => req("GET ws://127.0.0.1/ HTTP/1.1", upgradeLines(k)), expect: accepted() },
  {
    id: "H.4",
    description: "tokens in other cases and lists: Upgrade: WebSocket, Connection: keep-alive, Upgrade",
    request: (k) => get(k, ["Upgrade: WebSocket", "Connection: keep-alive, Upgrade"], ["upgrade:", "connection:"]),
    expect: accepted(),
  },
  {
    id: "H.5",
    description: "an unknown extension offered: declined (no Sec-WebSocket-Extensions)",
    request: (k) => get(k, ["Sec-WebSocket-Extensions: x-unknown; a=1"]),
    expect: accepted(" · no Sec-WebSocket-Extensions"),
    show: ["Sec-WebSocket-Extensions"],
  },
  {
    id: "H.6",
    description: "a frame pipelined right behind the upgrade request, in the same write",
    request: (k) => get(k),
    after: text("pipelined"),
    expect: '101 · accept ok · text "pipelined" · close 1000 · tcp closed',
  },
  // TODO(permessage-deflate): offers with parameters (client_max_window_bits, server_no_context_takeover,
  // an invalid value, a duplicate) against `wsloop echo --deflate`: the 101's Sec-WebSocket-Extensions.
  { id: "H.7", description: "HTTP/1.0", request: (k) => req("GET / HTTP/1.0", upgradeLines(k)), expect: refused(400) },
  { id: "H.8", description: "no Host", request: (k) => get(k, [], ["host:"]), expect: refused(400) },
  { id: "H.9", description: "two Host headers", request: (k) => get(k, ["Host: example.com"]), expect: refused(400) },
  { id: "H.10", description: "POST", request: (k) => req("POST / HTTP/1.1", upgradeLines(k)), expect: refused(405, " · Allow: GET"), show: ["Allow"] },
  { id: "H.11", description: "Connection without the upgrade token", request: (k) => get(k, ["Connection: keep-alive"], ["connection:"]), expect: refused(400) },
  {
    id: "H.12",
    description: "Sec-WebSocket-Version: 8",
    request: (k) => get(k, ["Sec-WebSocket-Version: 8"], ["sec-websocket-version"]),
    expect: refused(426, " · Sec-WebSocket-Version: 13"),
    show: ["Sec-WebSocket-Version"],
  },
  {
    id: "H.13",
    description: "no Sec-WebSocket-Version",
    request: (k) => get(k, [], ["sec-websocket-version"]),
    expect: refused(426, " · Sec-WebSocket-Version: 13"),
    show: ["Sec-WebSocket-Version"],
  },
  {
    id: "H.14",
    description: "two Sec-WebSocket-Version headers (13 and 8)",
    request: (k) => get(k, ["Sec-WebSocket-Version: 8"]),
    expect: refused(426, " · Sec-WebSocket-Version: 13"),
    show: ["Sec-WebSocket-Version"],
  },
  { id: "H.15", description: "no Sec-WebSocket-Key", request: (k) => get(k, [], ["sec-websocket-key"]), expect: refused(400) },
  {
    id: "H.16",
    description: "a key of 15 bytes",
    request: () => get(randomBytes(15).toString("base64")),
    expect: refused(400),
  },
  { id: "H.17", description: "a key that is not base64", request: () => get("not base64 at all!!!!!=="), expect: refused(400) },
  { id: "H.18", description: "two Sec-WebSocket-Key headers", request: (k) => get(k, [`Sec-WebSocket-Key: ${KEY()}`]), expect: refused(400) },
  {
    id: "H.19",
    description: "a 64 KiB header (over the 16 KiB head limit)",
    request: (k) => get(k, [`X-Flood: ${"a".repeat(64 * 1024)}`]),
    expect: refused(431),
    chunkings: ["whole", { random: 2 }],
  },
  {
    id: "H.20",
    description: "101 header fields (over the limit of 100)",
    request: (k) => get(k, Array.from({ length: 101 }, (_, i) => `X-H${i}: v`)),
    expect: refused(431),
  },
  {
    id: "H.21",
    description: "a request-target of 9000 bytes (over 8 KiB)",
    request: (k) => req(`GET /${"a".repeat(9000)} HTTP/1.1`, upgradeLines(k)),
    expect: refused(414),
    chunkings: ["whole", { random: 3 }],
  },
  { id: "H.22", description: "HTTP/2.0", request: (k) => req("GET / HTTP/2.0", upgradeLines(k)), expect: refused(505) },
  { id: "H.23", description: "a request line without a version", request: (k) => req("GET /", upgradeLines(k)), expect: refused(400) },
  { id: "H.24", description: "obsolete line folding", request: (k) => get(k, ["X-Folded: a", " b"]), expect: refused(400) },
  { id: "H.25", description: "a NUL in a header value", request: (k) => get(k, ["X-Nul: a\0b"]), expect: refused(400) },
  { id: "H.26", description: "a bare CR in a header line", request: (k) => get(k, ["X-Cr: a\rb"]), expect: refused(400) },
  { id: "H.27", description: "whitespace between a field name and the colon", request: (k) => get(k, ["X-Space : v"]), expect: refused(400) },
  { id: "H.28", description: "only subprotocols the server does not serve", request: (k) => get(k, ["Sec-WebSocket-Protocol: chat, superchat"]), expect: refused(400) },
  { id: "H.29", description: "a subprotocol that is not a token", request: (k) => get(k, ["Sec-WebSocket-Protocol: a b"]), expect: refused(400) },
  { id: "H.30", description: "a fragment in the request-target", request: (k) => req("GET /#frag HTTP/1.1", upgradeLines(k)), expect: refused(400) },
  {
    id: "H.31",
    description: "Content-Length and Transfer-Encoding together",
    request: (k) => get(k, ["Content-Length: 3", "Transfer-Encoding: chunked"]),
    expect: refused(400),
  },
  { id: "H.32", description: "two Origin headers", request: (k) => get(k, ["Origin: http://a.test", "Origin: http://b.test"]), expect: refused(400) },
  { id: "H.33", description: "a request line that is not HTTP", request: () => "BLAH\r\n\r\n", expect: refused(400) },
];

interface Outcome {
  got: string;
}

/** Send the request; read the head; for a 101 also close the WebSocket; report what happened. */
async function exchange(server: EchoServer, c: HandshakeCase, chunking: Chunking): Promise<Outcome> {
  const key = KEY();
  const request = Buffer.from(c.request(key), "latin1");
  const s = await RawSocket.connect(server.port);
  try {
    await s.send(c.after ? Buffer.concat([request, c.after]) : request, chunking);
    const gotHead = await s.waitUntil(() => s.text().includes("\r\n\r\n") || s.closed, 3_000);
    const raw = s.text();
    const end = raw.indexOf("\r\n\r\n");
    if (!gotHead || end === -1) return { got: s.closed ? "no response · tcp closed" : "no response" };
    const head = raw.slice(0, end);
    const status = /^HTTP\/1\.1 (\d{3}) /.exec(head)?.[1] ?? "bad status line";
    const header = (name: string) => new RegExp(`^${name}:[ \\t]*(.*?)[ \\t]*$`, "im").exec(head)?.[1];
    const parts = [status];
    if (status === "101") {
      const expectedKey = /sec-websocket-key: (\S+)/i.exec(request.toString("latin1"))?.[1] ?? key;
      parts.push(header("Sec-WebSocket-Accept") === acceptFor(expectedKey) ? "accept ok" : `accept ${header("Sec-WebSocket-Accept") ?? "missing"}`);
      for (const name of c.show ?? []) {
        const v = header(name);
        if (v !== undefined) parts.push(`${name}: ${v}`);
        else if (c.expect.includes(`no ${name}`)) parts.push(`no ${name}`);
      }
      // The WebSocket works: what was pipelined is echoed, then our close is answered.
      const reader = new FrameReader();
      const seen: string[] = [];
      let consumed = Buffer.byteLength(raw.slice(0, end + 4), "latin1");
      const pull = () => {
        const all = Buffer.concat(s.received);
        for (const f of reader.push(all.subarray(consumed))) {
          seen.push(f.opcode === 8 ? describeClose(f.payload) : f.opcode === 1 ? `text ${JSON.stringify(f.payload.toString())}` : `opcode ${f.opcode}`);
        }
        consumed = all.length;
        return seen;
      };
      if (c.after) await s.waitUntil(() => pull().length >= 1, 3_000);
      await s.send(close(1000));
      await s.waitUntil(() => pull().some((e) => e.startsWith("close")), 3_000);
      parts.push(...seen);
    } else {
      parts.push(header("Connection")?.toLowerCase() === "close" ? "Connection: close" : `Connection: ${header("Connection") ?? "missing"}`);
      for (const name of c.show ?? []) parts.push(header(name) !== undefined ? `${name}: ${header(name)}` : `no ${name}`);
      if (!(Number(header("Content-Length")) >= 0)) parts.push("no Content-Length");
    }
    parts.push((await s.waitClosed(3_000)) ? "tcp closed" : "tcp still open");
    return { got: parts.join(" · ") };
  } finally {
    s.destroy();
  }
}

for (const starter of selectedStarters()) {
  const report = new Report(`handshake-${starter.name}`, `Opening handshake — loop \`${starter.name}\``);
  describe(`opening handshake — loop ${starter.name}`, () => {
    let server: EchoServer;
    beforeAll(async () => {
      server = await starter.start();
    });
    afterAll(async () => {
      await server?.stop();
      report.write();
    });
    for (const c of cases) {
      for (const chunking of c.chunkings ?? ["whole", "bytes", { random: c.id.length * 7919 }]) {
        const label = chunkingLabel(chunking);
        it(`${c.id} ${c.description} → ${c.expect.split(" · ")[0]} [${label}]`, async () => {
          const { got } = await exchange(server, c, chunking);
          report.add({ id: c.id, description: c.description, expected: c.expect, got, variant: label, outcome: got === c.expect ? "pass" : "FAIL" });
          expect(got).toBe(c.expect);
          const left = server.connectionCount();
          if (left !== null) {
            const started = Date.now();
            while (server.connectionCount() !== 0 && Date.now() - started < 3_000) await new Promise((r) => setTimeout(r, 5));
            expect(server.connectionCount(), "connections left on the server").toBe(0);
          }
        });
      }
    }
  });
}
