/**
 * The mirror suite: a scripted, misbehaving server on raw node:net tests wsloop's client
 * (NodeLoop.connect). The handshake must be checked exactly (accept key, status, Upgrade,
 * Connection, subprotocol, extensions), server frames must be unmasked, every framing and
 * UTF-8 rule holds as it does for servers (fail fast included), limits answer 1009, and
 * a server that never finishes the close handshake is given up on after closeWaitMs.
 *
 * Each transcript has two halves: what the client's protocol was told, and what the
 * server saw on the wire (the client's frames, and whether it hung up).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NodeLoop } from "../../src/loops/node/index.js";
import type { Connection } from "../../src/poll/connection.js";
import type { CallbackEvent } from "../../src/poll/events.js";
import { defineProtocol, type ProtocolDefinition } from "../../src/poll/protocol.js";
import { OP, closePayload, describePayload, serverFrame } from "./harness/frames.js";
import { Report } from "./harness/report.js";
import { ScriptedServer, type ScriptedPeer } from "./harness/scripted-server.js";
import { failPoint } from "./harness/utf8-reference.js";
import { waitFor } from "../helpers/wait.js";

const HANDSHAKE_MS = 500;
const CLOSE_WAIT_MS = 300;
const CLIENT_LIMIT = 64 * 1024;

// ---- the clients under test, one starter per loop ----------------------------------------------

interface ClientUnderTest {
  connect(url: string, options: { protocols?: string[]; limited?: boolean }): Connection;
  stop(): Promise<void>;
}

interface ClientStarter {
  name: string;
  start(protocols: ProtocolDefinition<any>[]): Promise<ClientUnderTest>;
}

const nodeClient: ClientStarter = {
  name: "node",
  async start(protocols) {
    const loop = new NodeLoop({
      logger: { level: "warn" },
      vhosts: [{ name: "client", protocols, timeouts: { handshakeMs: HANDSHAKE_MS, closeWaitMs: CLOSE_WAIT_MS } }],
    });
    return {
      connect: (url, o) => loop.connect({ url, ...(o.protocols ? { protocols: o.protocols } : {}), localProtocol: o.limited ? "limited" : "chat" }),
      stop: () => loop.close(200),
    };
  },
};

/** Adding a loop's client: one line. */
const clientStarters: ClientStarter[] = [nodeClient];

// ---- recording what the client is told -------------------------------------------------------------

interface Script {
  events: CallbackEvent[];
  /** Messages the client sends once established, one per WRITEABLE. */
  outbox: Array<string | Buffer>;
  /** Close from user code once established (after the outbox). */
  closeAfterSending?: { code: number; reason: string };
}

const scripts = new Map<Connection, Script>();

function recorder(name: string, extra: Partial<ProtocolDefinition> = {}): ProtocolDefinition {
  return defineProtocol({
    ...extra,
    name,
    callback(event) {
      if (!("connection" in event)) return;
      const script = scripts.get(event.connection as Connection);
      if (!script) return;
      script.events.push(event as CallbackEvent);
      const c = event.connection as Connection;
      if (event.reason === "CLIENT_ESTABLISHED") {
        if (script.outbox.length) c.requestWriteable();
        else if (script.closeAfterSending) c.close(script.closeAfterSending.code, script.closeAfterSending.reason);
      } else if (event.reason === "CLIENT_WRITEABLE") {
        const next = script.outbox.shift();
        if (next !== undefined) c.write(next);
        if (script.outbox.length) c.requestWriteable();
        else if (script.closeAfterSending) c.close(script.closeAfterSending.code, script.closeAfterSending.reason);
      }
    },
  });
}

function describeClientEvent(e: CallbackEvent, cause: RegExp | undefined): string | null {
  switch (e.reason) {
    case "CLIENT_ESTABLISHED":
      return e.reason;
    case "CLIENT_RECEIVE":
      return `RECEIVE ${e.binary ? "binary" : "text"} ${describePayload(e.data, !e.binary)}`;
    case "CLIENT_RECEIVE_PONG":
      return `PONG ${describePayload(e.data, true)}`;
    case "WS_PEER_INITIATED_CLOSE":
      return `PEER_CLOSE ${e.code}`;
    case "RECEIVE_TOO_LARGE":
      return `TOO_LARGE ${e.kind}`;
    case "CLIENT_CLOSED":
      return `CLOSED ${e.code} ${e.clean ? "clean" : "unclean"}`;
    case "CLIENT_CONNECTION_ERROR":
      return cause && cause.test(e.cause) ? `CONNECTION_ERROR ${cause}` : `CONNECTION_ERROR "${e.cause}"`;
    default:
      return null;
  }
}

// ---- the cases ------------------------------------------------------------------------------------

interface MirrorCase {
  id: string;
  description: string;
  protocols?: string[];
  limited?: boolean;
  outbox?: Array<string | Buffer>;
  closeAfterSending?: { code: number; reason: string };
  /** What the server does once it has read the upgrade request. May return notes for the transcript. */
  script(peer: ScriptedPeer): Promise<string[] | void>;
  /** The client's CONNECTION_ERROR cause must match this. */
  cause?: RegExp;
  expectClient: string[];
  expectWire: string[];
}

const text = (payload: string | Buffer, fin = true) => serverFrame({ opcode: OP.TEXT, payload, fin });
const binary = (payload: string | Buffer, fin = true) => serverFrame({ opcode: OP.BINARY, payload, fin });
const cont = (payload: string | Buffer, fin = true) => serverFrame({ opcode: OP.CONT, payload, fin });
const close = (code?: number, reason = "") => serverFrame({ opcode: OP.CLOSE, payload: closePayload(code, reason) });

/** 101, then `frames`; then wait for the client's close frame and end TCP like a good server. */
function acceptThen(...frames: Buffer[]) {
  return async (peer: ScriptedPeer) => {
    await peer.send(peer.accept101());
    for (const f of frames) await peer.send(f);
    await peer.waitCloseFrame(2_000);
    peer.socket.end();
  };
}

/** A 101, then frames; the client must fail the connection with a close frame and hang up. */
function acceptThenFail(...frames: Buffer[]) {
  return async (peer: ScriptedPeer) => {
    await peer.send(peer.accept101());
    for (const f of frames) await peer.send(f);
    await peer.waitClientGone(2_000);
  };
}

/** A 101, then bytes up to a point; the client's close must arrive before the rest is sent. */
function failFast(before: Buffer, after: Buffer) {
  return async (peer: ScriptedPeer) => {
    await peer.send(peer.accept101());
    await peer.send(before);
    const ok = await peer.waitCloseFrame(2_000);
    if (!ok) return [`⏱ no close from the client before the rest was sent`];
    await peer.send(after);
    await peer.waitClientGone(2_000);
  };
}

/** Answer `head` (an HTTP response of our making) and wait for the client to hang up. */
function answer(head: (peer: ScriptedPeer) => string) {
  return async (peer: ScriptedPeer) => {
    await peer.send(head(peer));
    await peer.waitClientGone(2_000);
  };
}

const withLines = (peer: ScriptedPeer, lines: string[]) => [...lines, "", ""].join("\r\n");
/** A correct 101 minus the header line starting with `without` (lower case; "" drops nothing), plus `extra` lines. */
const ok101 = (peer: ScriptedPeer, without: string, extra: string[] = []) =>
  withLines(peer, [
    ...["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade", `Sec-WebSocket-Accept: ${acceptOf(peer)}`].filter(
      (l) => without === "" || !l.toLowerCase().startsWith(without),
    ),
    ...extra,
  ]);
const acceptOf = (peer: ScriptedPeer) => /Sec-WebSocket-Accept: (\S+)/.exec(peer.accept101())![1]!;

const failed = (code: number) => ({ expectClient: ["CLIENT_ESTABLISHED", `CLOSED ${code} unclean`], expectWire: [`close ${code}`, "client hung up"] });
const refused = (cause: RegExp) => ({ cause, expectClient: [`CONNECTION_ERROR ${cause}`], expectWire: ["client hung up"] });
const normalEnd = ["PEER_CLOSE 1000", "CLOSED 1000 clean"];

const kosmeBad = Buffer.from("cebae1bdb9cf83cebcceb5f4908080656469746564", "hex");

const cases: Array<[string, MirrorCase[]]> = [
  [
    "M.1 the opening handshake",
    [
      {
        id: "M.1.1",
        description: "a correct 101, then the server closes: the client echoes the close and the server ends TCP",
        script: acceptThen(close(1000)),
        expectClient: ["CLIENT_ESTABLISHED", ...normalEnd],
        expectWire: ["close 1000", "client hung up"],
      },
      { id: "M.1.2", description: "a wrong Sec-WebSocket-Accept", script: answer((p) => ok101(p, "sec-websocket-accept", ["Sec-WebSocket-Accept: dGhlIHNhbXBsZSBub25jZQ=="])), ...refused(/Sec-WebSocket-Accept mismatch/) },
      { id: "M.1.3", description: "no Sec-WebSocket-Accept", script: answer((p) => ok101(p, "sec-websocket-accept")), ...refused(/missing Sec-WebSocket-Accept/) },
      { id: "M.1.4", description: "two Sec-WebSocket-Accept headers", script: answer((p) => ok101(p, "", [`Sec-WebSocket-Accept: ${acceptOf(p)}`])), ...refused(/2 Sec-WebSocket-Accept/) },
      { id: "M.1.5", description: "status 200 instead of 101", script: answer(() => "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"), ...refused(/200/) },
      { id: "M.1.6", description: "status 403", script: answer(() => "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"), ...refused(/403/) },
      { id: "M.1.7", description: "a redirect (302) is not followed for a WebSocket", script: answer(() => "HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n"), ...refused(/302/) },
      { id: "M.1.8", description: "a 101 without Upgrade", script: answer((p) => ok101(p, "upgrade:")), ...refused(/Upgrade/) },
      { id: "M.1.9", description: "a 101 with Upgrade: h2c", script: answer((p) => ok101(p, "upgrade:", ["Upgrade: h2c"])), ...refused(/Upgrade is "h2c"/) },
      { id: "M.1.10", description: "a 101 without Connection: Upgrade", script: answer((p) => ok101(p, "connection:")), ...refused(/Connection/) },
      {
        id: "M.1.11",
        description: "a subprotocol that was not offered",
        protocols: ["chat"],
        script: answer((p) => ok101(p, "", ["Sec-WebSocket-Protocol: superchat"])),
        ...refused(/subprotocol "superchat" which was not offered/),
      },
      {
        id: "M.1.12",
        description: "a subprotocol although none was offered",
        script: answer((p) => ok101(p, "", ["Sec-WebSocket-Protocol: chat"])),
        ...refused(/subprotocol although none was offered/),
      },
      {
        id: "M.1.13",
        description: "an extension that was not offered (permessage-deflate)",
        script: answer((p) => ok101(p, "", ["Sec-WebSocket-Extensions: permessage-deflate"])),
        ...refused(/extension "permessage-deflate" which was not offered/),
      },
      // TODO(permessage-deflate): offered by the client, a server answer with bad parameters
      // (server_max_window_bits=7, an unknown parameter, a duplicate) must fail the handshake.
      { id: "M.1.14", description: "a malformed status line", script: answer(() => "HTTP/1.1 1O1 Switching\r\n\r\n"), ...refused(/malformed status line/) },
      {
        id: "M.1.15",
        description: "a response head over the head limit (16 KiB)",
        script: answer((p) => ok101(p, "", [`X-Padding: ${"x".repeat(17 * 1024)}`])),
        ...refused(/over \d+ bytes/),
      },
      {
        id: "M.1.16",
        description: "the server hangs up in the middle of its 101",
        script: async (peer) => {
          await peer.send(peer.accept101().slice(0, 40));
          peer.socket.end();
          await peer.waitClientGone(2_000);
        },
        ...refused(/during the opening handshake/),
      },
      {
        id: "M.1.17",
        description: `a server that never answers: the client gives up at handshakeMs (${HANDSHAKE_MS} ms)`,
        script: async (peer) => {
          const started = Date.now();
          await peer.waitClientGone(HANDSHAKE_MS * 6);
          const after = Date.now() - started;
          return [after >= HANDSHAKE_MS * 0.8 && after <= HANDSHAKE_MS * 4 ? "gave up at ≈handshakeMs" : `gave up after ${after} ms`];
        },
        cause: /timed out/,
        expectClient: ["CONNECTION_ERROR /timed out/"],
        expectWire: ["client hung up", "gave up at ≈handshakeMs"],
      },
      {
        id: "M.1.18",
        description: "a 101 and a first message in one write",
        script: async (peer) => {
          await peer.send(Buffer.concat([Buffer.from(peer.accept101(), "latin1"), text("early")]));
          await peer.send(close(1000));
          await peer.waitCloseFrame(2_000);
          peer.socket.end();
        },
        expectClient: ["CLIENT_ESTABLISHED", 'RECEIVE text "early"', ...normalEnd],
        expectWire: ["close 1000", "client hung up"],
      },
      {
        id: "M.1.19",
        description: "a 101 sent one byte at a time",
        script: async (peer) => {
          await peer.send(peer.accept101(), "bytes");
          await peer.send(close(1000));
          await peer.waitCloseFrame(2_000);
          peer.socket.end();
        },
        expectClient: ["CLIENT_ESTABLISHED", ...normalEnd],
        expectWire: ["close 1000", "client hung up"],
      },
      {
        id: "M.1.20",
        description: "the server picks the second of two offered subprotocols",
        protocols: ["chat", "superchat"],
        script: async (peer) => {
          await peer.send(peer.accept101(["Sec-WebSocket-Protocol: superchat"]));
          await peer.send(close(1000));
          await peer.waitCloseFrame(2_000);
          peer.socket.end();
        },
        expectClient: ["CLIENT_ESTABLISHED", ...normalEnd],
        expectWire: ["close 1000", "client hung up"],
      },
    ],
  ],
  [
    "M.2 frames from the server",
    [
      {
        id: "M.2.1",
        description: "a text message",
        script: acceptThen(text("Hello"), close(1000)),
        expectClient: ["CLIENT_ESTABLISHED", 'RECEIVE text "Hello"', ...normalEnd],
        expectWire: ["close 1000", "client hung up"],
      },
      {
        id: "M.2.2",
        description: "a 1 MiB binary message in 16 fragments",
        script: acceptThen(...Array.from({ length: 16 }, (_, i) => (i === 0 ? binary(Buffer.alloc(65536, i), false) : cont(Buffer.alloc(65536, i), i === 15))), close(1000)),
        expectClient: ["CLIENT_ESTABLISHED", `RECEIVE binary ${describePayload(Buffer.concat(Array.from({ length: 16 }, (_, i) => Buffer.alloc(65536, i))), false)}`, ...normalEnd],
        expectWire: ["close 1000", "client hung up"],
      },
      {
        id: "M.2.3",
        description: "a ping: the client answers with a masked pong of the same payload",
        script: async (peer) => {
          await peer.send(peer.accept101());
          await peer.send(serverFrame({ opcode: OP.PING, payload: "ping payload" }));
          await peer.waitFrames(1, 2_000);
          await peer.send(close(1000));
          await peer.waitCloseFrame(2_000);
          peer.socket.end();
        },
        expectClient: ["CLIENT_ESTABLISHED", ...normalEnd],
        expectWire: ['pong "ping payload"', "close 1000", "client hung up"],
      },
      { id: "M.2.4", description: "a masked frame from the server (RFC 6455 §5.1)", script: acceptThenFail(serverFrame({ opcode: OP.TEXT, payload: "masked", mask: true })), ...failed(1002) },
      { id: "M.2.5", description: "RSV1 without an extension", script: acceptThenFail(serverFrame({ opcode: OP.TEXT, payload: "x", rsv: 4 })), ...failed(1002) },
      { id: "M.2.6", description: "reserved opcode 3", script: acceptThenFail(serverFrame({ opcode: 3 })), ...failed(1002) },
      { id: "M.2.7", description: "reserved control opcode 11", script: acceptThenFail(serverFrame({ opcode: 11 })), ...failed(1002) },
      { id: "M.2.8", description: "a fragmented ping", script: acceptThenFail(serverFrame({ opcode: OP.PING, payload: "a", fin: false }), cont("b")), ...failed(1002) },
      { id: "M.2.9", description: "a ping of 126 bytes", script: acceptThenFail(serverFrame({ opcode: OP.PING, payload: Buffer.alloc(126) })), ...failed(1002) },
      { id: "M.2.10", description: "a continuation with nothing to continue", script: acceptThenFail(cont("orphan")), ...failed(1002) },
      { id: "M.2.11", description: "a new text inside a fragmented message", script: acceptThenFail(text("a", false), text("b")), ...failed(1002) },
      { id: "M.2.12", description: "a length not in its minimal form", script: acceptThenFail(serverFrame({ opcode: OP.TEXT, payload: "x", lengthForm: 16 })), ...failed(1002) },
      {
        id: "M.2.13",
        description: "invalid UTF-8 in one frame: the client's 1007 arrives before the rest of the frame is sent",
        script: (() => {
          const f = text(kosmeBad);
          const cut = f.length - kosmeBad.length + failPoint(kosmeBad)!;
          return failFast(f.subarray(0, cut), f.subarray(cut));
        })(),
        ...failed(1007),
      },
      {
        id: "M.2.14",
        description: "invalid UTF-8 in the 2nd of 3 fragments: 1007 before the 3rd is sent",
        script: failFast(Buffer.concat([text(kosmeBad.subarray(0, 11), false), cont(kosmeBad.subarray(11, 15), false)]), cont(kosmeBad.subarray(15))),
        ...failed(1007),
      },
      { id: "M.2.15", description: "a close with a 1-byte payload", script: acceptThenFail(serverFrame({ opcode: OP.CLOSE, payload: Buffer.from([3]) })), ...failed(1002) },
      { id: "M.2.16", description: "a close with code 1005 (never on the wire)", script: acceptThenFail(close(1005)), ...failed(1002) },
      { id: "M.2.17", description: "a close with code 999", script: acceptThenFail(close(999)), ...failed(1002) },
      { id: "M.2.18", description: "a close with code 5000", script: acceptThenFail(close(5000)), ...failed(1002) },
      {
        id: "M.2.19",
        description: "a close whose reason is not UTF-8",
        script: acceptThenFail(serverFrame({ opcode: OP.CLOSE, payload: closePayload(1000, Buffer.from("eda080", "hex")) })),
        ...failed(1007),
      },
      {
        id: "M.2.20",
        description: `a frame declaring ${CLIENT_LIMIT + 1} bytes to a client limited to 64 KiB: 1009 from the header alone`,
        limited: true,
        script: failFast(serverFrame({ opcode: OP.BINARY, declaredLength: CLIENT_LIMIT + 1 }), Buffer.alloc(CLIENT_LIMIT + 1)),
        expectClient: ["CLIENT_ESTABLISHED", "TOO_LARGE frame", "CLOSED 1009 unclean"],
        expectWire: ["close 1009", "client hung up"],
      },
      {
        id: "M.2.21",
        description: "a message of 2 fragments of 40 KiB to a client limited to 64 KiB: 1009",
        limited: true,
        script: acceptThenFail(binary(Buffer.alloc(40 * 1024), false), cont(Buffer.alloc(40 * 1024))),
        expectClient: ["CLIENT_ESTABLISHED", "TOO_LARGE message", "CLOSED 1009 unclean"],
        expectWire: ["close 1009", "client hung up"],
      },
      {
        id: "M.2.22",
        description: "a close with code 3000 and a reason: echoed with the code",
        script: acceptThen(close(3000, "going")),
        expectClient: ["CLIENT_ESTABLISHED", "PEER_CLOSE 3000", "CLOSED 3000 clean"],
        expectWire: ["close 3000", "client hung up"],
      },
      {
        id: "M.2.23",
        description: "an empty close: answered empty",
        script: acceptThen(close()),
        expectClient: ["CLIENT_ESTABLISHED", "PEER_CLOSE 1005", "CLOSED 1005 clean"],
        expectWire: ["close (empty)", "client hung up"],
      },
      {
        id: "M.2.24",
        description: "a text after the server's close is ignored",
        script: acceptThen(close(1000), text("after close")),
        expectClient: ["CLIENT_ESTABLISHED", ...normalEnd],
        expectWire: ["close 1000", "client hung up"],
      },
    ],
  ],
  [
    "M.3 closing, and clients' own frames",
    [
      {
        id: "M.3.1",
        description: "the client sends two messages: both masked, with different keys",
        outbox: ["one", "two"],
        script: async (peer) => {
          await peer.send(peer.accept101());
          await peer.waitFrames(2, 2_000);
          const keys = peer.frames.slice(0, 2).map((f) => f.maskKey?.toString("hex"));
          await peer.send(close(1000));
          await peer.waitCloseFrame(2_000);
          peer.socket.end();
          return [keys[0] !== keys[1] ? "keys differ" : `same key ${keys[0]}`];
        },
        expectClient: ["CLIENT_ESTABLISHED", ...normalEnd],
        expectWire: ['text "one"', 'text "two"', "close 1000", "client hung up", "keys differ"],
      },
      {
        id: "M.3.2",
        description: "the client closes; the server answers and ends TCP: clean",
        closeAfterSending: { code: 1000, reason: "bye" },
        script: async (peer) => {
          await peer.send(peer.accept101());
          await peer.waitCloseFrame(2_000);
          await peer.send(close(1000));
          peer.socket.end();
          await peer.waitClientGone(2_000);
        },
        expectClient: ["CLIENT_ESTABLISHED", "CLOSED 1000 clean"],
        expectWire: ["close 1000", "client hung up"],
      },
      {
        id: "M.3.3",
        description: `the client closes; the server never answers: the client hangs up after closeWaitMs (${CLOSE_WAIT_MS} ms)`,
        closeAfterSending: { code: 1000, reason: "bye" },
        script: async (peer) => {
          await peer.send(peer.accept101());
          await peer.waitCloseFrame(2_000);
          const closeAt = Date.now();
          await peer.waitClientGone(CLOSE_WAIT_MS * 10);
          const after = Date.now() - closeAt;
          return [after >= CLOSE_WAIT_MS * 0.8 && after <= CLOSE_WAIT_MS * 5 ? "gave up at ≈closeWaitMs" : `gave up after ${after} ms`];
        },
        expectClient: ["CLIENT_ESTABLISHED", "CLOSED 1006 unclean"],
        expectWire: ["close 1000", "client hung up", "gave up at ≈closeWaitMs"],
      },
      {
        id: "M.3.4",
        description: "the client closes; the server answers but keeps TCP open: the client ends it after closeWaitMs, cleanly",
        closeAfterSending: { code: 1000, reason: "bye" },
        script: async (peer) => {
          await peer.send(peer.accept101());
          await peer.waitCloseFrame(2_000);
          await peer.send(close(1000));
          const answeredAt = Date.now();
          await peer.waitClientGone(CLOSE_WAIT_MS * 10);
          const after = Date.now() - answeredAt;
          return [after <= CLOSE_WAIT_MS * 5 ? "hung up within ≈closeWaitMs" : `hung up after ${after} ms`];
        },
        expectClient: ["CLIENT_ESTABLISHED", "CLOSED 1000 clean"],
        expectWire: ["close 1000", "client hung up", "hung up within ≈closeWaitMs"],
      },
      {
        id: "M.3.5",
        description: "the server closes and never ends TCP: the client echoes, waits closeWaitMs, then ends it",
        script: async (peer) => {
          await peer.send(peer.accept101());
          await peer.send(close(1001));
          await peer.waitCloseFrame(2_000);
          const echoedAt = Date.now();
          await peer.waitClientGone(CLOSE_WAIT_MS * 10);
          const after = Date.now() - echoedAt;
          return [after >= CLOSE_WAIT_MS * 0.8 && after <= CLOSE_WAIT_MS * 5 ? "client ended TCP at ≈closeWaitMs" : `client ended TCP after ${after} ms`];
        },
        expectClient: ["CLIENT_ESTABLISHED", "PEER_CLOSE 1001", "CLOSED 1001 clean"],
        expectWire: ["close 1001", "client hung up", "client ended TCP at ≈closeWaitMs"],
      },
      {
        id: "M.3.6",
        description: "the server drops TCP without a close: 1006",
        script: async (peer) => {
          await peer.send(peer.accept101());
          await peer.send(text("last words"));
          peer.drop();
        },
        expectClient: ["CLIENT_ESTABLISHED", 'RECEIVE text "last words"', "CLOSED 1006 unclean"],
        expectWire: [],
      },
    ],
  ],
];

// ---- running --------------------------------------------------------------------------------------

for (const starter of clientStarters) {
  const report = new Report(`client-mirror-${starter.name}`, `Client mirror suite (a scripted misbehaving server) — loop \`${starter.name}\``);
  describe(`wsloop's client against a misbehaving server — loop ${starter.name}`, () => {
    let client: ClientUnderTest;
    let server: ScriptedServer;
    beforeAll(async () => {
      client = await starter.start([recorder("chat"), recorder("limited", { maxFrameSize: CLIENT_LIMIT, maxMessageSize: CLIENT_LIMIT })]);
      server = await ScriptedServer.start();
    });
    afterAll(async () => {
      await client?.stop();
      await server?.stop();
      report.write();
    });

    for (const [group, list] of cases) {
      describe(group, () => {
        for (const c of list) {
          it(`${c.id} ${c.description}`, async () => {
            const script: Script = { events: [], outbox: [...(c.outbox ?? [])], ...(c.closeAfterSending ? { closeAfterSending: c.closeAfterSending } : {}) };
            const connection = client.connect(`ws://127.0.0.1:${server.port}/`, { ...(c.protocols ? { protocols: c.protocols } : {}), ...(c.limited ? { limited: true } : {}) });
            scripts.set(connection, script);
            const peer = await server.next();
            await peer.waitRequest();
            const notes = (await c.script(peer)) ?? [];
            const ended = (e: CallbackEvent) => e.reason === "CLIENT_CLOSED" || e.reason === "CLIENT_CONNECTION_ERROR";
            await waitFor(() => script.events.some(ended), 3_000);
            await peer.waitClientGone(1_000);
            peer.close();
            scripts.delete(connection);
            const clientSide = script.events.map((e) => describeClientEvent(e, c.cause)).filter((s): s is string => s !== null);
            const got = `client: ${clientSide.join(", ")} ┃ wire: ${[...peer.describeWire(), ...notes].join(", ")}`;
            const expected = `client: ${c.expectClient.join(", ")} ┃ wire: ${c.expectWire.join(", ")}`;
            report.add({ id: c.id, description: c.description, expected, got, outcome: got === expected ? "pass" : "FAIL" });
            expect(got).toBe(expected);
          });
        }
      });
    }
  });
}
