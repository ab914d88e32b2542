/**
 * Interop with a real browser: Debian's headless Chromium (/usr/bin/chromium, installed
 * by .ci/install-peers.sh) driven by npm playwright-core. The test page comes from a
 * small node:http server on 127.0.0.1 (wsloop serving pages itself is tested in
 * test/http/chromium-files.test.ts); the page opens WebSockets to a wsloop echo server
 * on another port — on the Node loop and on the RxJS loop, with and without
 * permessage-deflate, 32 MiB messages. Every check runs in the page, against the
 * browser's own WebSocket: text (multi-byte UTF-8), binary 0 B … 16 MiB compared byte
 * for byte, a burst of 1000 messages in order, and a close with code and reason from
 * the server. Chromium always offers permessage-deflate: a server with it accepts, one
 * without declines.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { Page } from "playwright-core";
import { CHROMIUM_PATH, launchChromium, type ChromiumPeer } from "./peers/chromium.js";
import { LOOPBACK } from "../helpers/sockets.js";
import {
  CLOSE_ME,
  CLOSE_ME_CODE,
  CLOSE_ME_REASON,
  describeWithPeer,
  echoWithCloseMe,
  executableCheck,
  startRxCloseMeServer,
  startWsloopServer,
  type SeenHandshake,
  type WsloopServer,
} from "./helpers.js";

/**
 * The page. Plain browser JavaScript (the project's tsconfig has no DOM lib). Each
 * scenario opens its own WebSocket, resolves with a plain object of what it saw and
 * never throws: a problem is reported in `errors`.
 */
const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>wsloop interop</title>
<script>
"use strict";
const WS_URL = new URLSearchParams(location.search).get("ws");

const OPEN_TIMEOUT_MS = 5000;
const MESSAGE_TIMEOUT_MS = 10000;

function open(protocols) {
  return new Promise((resolve, reject) => {
    const ws = protocols === undefined ? new WebSocket(WS_URL) : new WebSocket(WS_URL, protocols);
    ws.binaryType = "arraybuffer";
    const timer = setTimeout(() => { reject(new Error("not open after " + OPEN_TIMEOUT_MS + " ms")); ws.close(); }, OPEN_TIMEOUT_MS);
    ws.onopen = () => { clearTimeout(timer); resolve(ws); };
    ws.onerror = () => { clearTimeout(timer); reject(new Error("WebSocket error before open")); };
    ws.onclose = (e) => { clearTimeout(timer); reject(new Error("closed before open: " + e.code + " " + e.reason)); };
  });
}

// Messages arrive in order; next(what) takes the next one, or rejects naming what it
// waited for after MESSAGE_TIMEOUT_MS.
function inbox(ws) {
  const queue = [];
  const waiting = [];
  let closed = null;
  ws.onmessage = (e) => {
    if (waiting.length) waiting.shift().resolve(e.data);
    else queue.push(e.data);
  };
  ws.onclose = (e) => {
    closed = { code: e.code, reason: e.reason, wasClean: e.wasClean };
    for (const w of waiting.splice(0)) w.reject(new Error("closed " + e.code + " " + e.reason));
  };
  return {
    next(what) {
      if (queue.length) return Promise.resolve(queue.shift());
      if (closed) return Promise.reject(new Error("closed " + closed.code + " " + closed.reason + " while waiting for " + what));
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("no message after " + MESSAGE_TIMEOUT_MS + " ms waiting for " + what)), MESSAGE_TIMEOUT_MS);
        waiting.push({
          resolve: (v) => { clearTimeout(timer); resolve(v); },
          reject: (e) => { clearTimeout(timer); reject(e); },
        });
      });
    },
    get closed() { return closed; },
  };
}

// Resolves with what the close event said, or { timedOut: true } after MESSAGE_TIMEOUT_MS.
function closeAndWait(ws, code, reason) {
  return new Promise((resolve) => {
    if (ws.readyState === WebSocket.CLOSED) return resolve(null);
    const timer = setTimeout(() => resolve({ timedOut: true }), MESSAGE_TIMEOUT_MS);
    ws.addEventListener("close", (e) => { clearTimeout(timer); resolve({ code: e.code, reason: e.reason, wasClean: e.wasClean }); });
    ws.close(code, reason);
  });
}

// Seeded xorshift32 bytes: no short period, so an offset error shows up as a mismatch.
function pattern(size, seed) {
  const out = new Uint8Array(size);
  let x = (seed * 2654435761 + 1) >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

window.scenarios = {
  async handshake() {
    const ws = await open(["echo"]);
    const result = { protocol: ws.protocol, extensions: ws.extensions };
    result.close = await closeAndWait(ws, 1000, "done");
    return result;
  },

  async text(messages) {
    const ws = await open();
    const box = inbox(ws);
    const errors = [];
    const extensions = ws.extensions;
    for (let i = 0; i < messages.length; i++) {
      ws.send(messages[i]);
      const got = await box.next("the echo of text message " + i);
      if (typeof got !== "string") errors.push(i + ": expected text, got " + Object.prototype.toString.call(got));
      else if (got !== messages[i]) errors.push(i + ": sent " + JSON.stringify(messages[i]).slice(0, 80) + ", got " + JSON.stringify(got).slice(0, 80));
    }
    return { extensions, errors, close: await closeAndWait(ws, 1000, "done") };
  },

  async binary(sizes) {
    const ws = await open();
    const box = inbox(ws);
    const results = [];
    for (let s = 0; s < sizes.length; s++) {
      const size = sizes[s];
      const sent = pattern(size, s + 1);
      ws.send(sent);
      const got = await box.next("the echo of " + size + " binary bytes");
      const r = { size, type: Object.prototype.toString.call(got), length: null, mismatches: 0, firstMismatch: null };
      if (got instanceof ArrayBuffer) {
        const bytes = new Uint8Array(got);
        r.length = bytes.length;
        const n = Math.min(bytes.length, size);
        for (let i = 0; i < n; i++) {
          if (bytes[i] !== sent[i]) {
            if (r.firstMismatch === null) r.firstMismatch = { at: i, sent: sent[i], got: bytes[i] };
            r.mismatches++;
          }
        }
      }
      results.push(r);
    }
    return { extensions: ws.extensions, results, close: await closeAndWait(ws, 1000, "done") };
  },

  async burst(count) {
    const ws = await open();
    const box = inbox(ws);
    for (let i = 0; i < count; i++) {
      // Alternate text and binary so the order check also covers mixed frame types.
      if (i % 2 === 0) ws.send("burst " + i + " ✓");
      else ws.send(new Uint32Array([i, i ^ 0xa5a5a5a5]).buffer);
    }
    const outOfOrder = [];
    let received = 0;
    for (let i = 0; i < count; i++) {
      const got = await box.next("burst message " + i + " (" + received + " received)");
      received++;
      let ok;
      if (i % 2 === 0) ok = got === "burst " + i + " ✓";
      else ok = got instanceof ArrayBuffer && got.byteLength === 8 && new Uint32Array(got)[0] === i && new Uint32Array(got)[1] === ((i ^ 0xa5a5a5a5) >>> 0);
      if (!ok && outOfOrder.length < 10) outOfOrder.push({ index: i, got: typeof got === "string" ? got : Array.from(new Uint32Array(got)) });
    }
    return { received, outOfOrder, close: await closeAndWait(ws, 1000, "done") };
  },

  async serverClose(trigger) {
    const ws = await open();
    const closed = new Promise((resolve) => {
      ws.onclose = (e) => resolve({ code: e.code, reason: e.reason, wasClean: e.wasClean });
    });
    ws.send(trigger);
    return await Promise.race([closed, new Promise((_, reject) => setTimeout(() => reject(new Error("no close after " + MESSAGE_TIMEOUT_MS + " ms")), MESSAGE_TIMEOUT_MS))]);
  },
};
</script>
<p>wsloop interop page</p>
`;

const CHROMIUM_CHECK = executableCheck(CHROMIUM_PATH);

for (const [loopName, deflate] of [["node", false], ["node", true], ["rx", false], ["rx", true]] as const) {
const title = `interop: Chromium (playwright-core) → wsloop echo server on the ${loopName} loop${deflate ? " with permessage-deflate" : ""}`;
/** What the page must see as ws.extensions: Chromium always offers deflate. */
const expectedExtensions = deflate ? /^permessage-deflate/ : /^$/;
describeWithPeer(title, "chromium", CHROMIUM_CHECK, () => {
  let server: WsloopServer;
  let http: Server | undefined;
  let browser: ChromiumPeer | undefined;
  let page: Page;
  const pageErrors: string[] = [];
  const seen: SeenHandshake[] = [];

  beforeAll(async () => {
    server = loopName === "node" ? await startWsloopServer([echoWithCloseMe("echo", seen, deflate)]) : await startRxCloseMeServer(deflate);
    http = createServer((request, response) => {
      if (request.url?.startsWith("/interop")) {
        response.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" });
        response.end(PAGE);
      } else {
        response.writeHead(404).end();
      }
    });
    await new Promise<void>((resolve, reject) => {
      http!.once("error", reject);
      http!.listen(0, LOOPBACK, () => resolve());
    });
    const httpPort = (http.address() as AddressInfo).port;
    browser = await launchChromium({ timeoutMs: 30_000 });
    page = await browser.newPage();
    page.setDefaultTimeout(30_000);
    page.on("pageerror", (e) => pageErrors.push(String(e)));
    page.on("console", (m) => {
      if (m.type() === "error") pageErrors.push(m.text());
    });
    const response = await page.goto(`http://${LOOPBACK}:${httpPort}/interop?ws=${encodeURIComponent(server.url)}`);
    expect(response?.status()).toBe(200);
    await page.waitForFunction("typeof window.scenarios === 'object'", undefined, { timeout: 10_000 });
  }, 45_000);

  afterAll(async () => {
    await browser?.close().catch(() => {});
    await new Promise<void>((resolve) => (http ? http.close(() => resolve()) : resolve()));
    http?.closeAllConnections();
    await server?.close();
  });

  /** Runs window.scenarios[name](...args) in the page. */
  const run = <T>(name: string, ...args: unknown[]): Promise<T> =>
    page.evaluate(`window.scenarios[${JSON.stringify(name)}](...${JSON.stringify(args)})`) as Promise<T>;
  const context = () => `page errors: ${pageErrors.join(" | ") || "none"}; wsloop log: ${server.log.join(" | ") || "none"}`;

  it(`handshake: subprotocol echo chosen, Chromium's permessage-deflate offer ${deflate ? "accepted" : "declined"}`, async () => {
    const r = await run<{ protocol: string; extensions: string; close: { code: number; wasClean: boolean } }>("handshake");
    expect(r.protocol, context()).toBe("echo");
    // Chromium did offer deflate (so the empty answer is a decline, not a missing offer).
    if (loopName === "node") expect(seen.at(-1)?.extensions, context()).toMatch(/permessage-deflate/);
    expect(r.extensions, context()).toMatch(expectedExtensions);
    expect(r.close, context()).toMatchObject({ code: 1000, wasClean: true });
  }, 15_000);

  it("text round-trips, multi-byte UTF-8 included", async () => {
    const messages = ["hello", "", "héllo ✓ 🚀", "日本語テキスト", "a".repeat(125), "b".repeat(126), "€🚀".repeat(20_000), "\u0000 nul and \u{10FFFF}"];
    const r = await run<{ extensions: string; errors: string[]; close: { code: number; wasClean: boolean } }>("text", messages);
    expect(r.errors, context()).toEqual([]);
    expect(r.extensions).toMatch(expectedExtensions);
    expect(r.close, context()).toMatchObject({ code: 1000, wasClean: true });
  }, 15_000);

  it("binary of 0 B, 1 B, 125, 126, 65535, 65536, 1 MiB and 16 MiB comes back byte for byte", async () => {
    const sizes = [0, 1, 125, 126, 65_535, 65_536, 1024 * 1024, 16 * 1024 * 1024];
    const r = await run<{
      extensions: string;
      results: Array<{ size: number; type: string; length: number | null; mismatches: number; firstMismatch: unknown }>;
      close: { code: number; wasClean: boolean };
    }>("binary", sizes);
    expect(r.results.map((x) => x.size)).toEqual(sizes);
    for (const x of r.results) {
      expect({ size: x.size, type: x.type, length: x.length, mismatches: x.mismatches, firstMismatch: x.firstMismatch }, context()).toEqual({
        size: x.size,
        type: "[object ArrayBuffer]",
        length: x.size,
        mismatches: 0,
        firstMismatch: null,
      });
    }
    expect(r.close, context()).toMatchObject({ code: 1000, wasClean: true });
  }, 30_000);

  it("a burst of 1000 messages (text and binary alternating) comes back complete and in order", async () => {
    const r = await run<{ received: number; outOfOrder: unknown[]; close: { code: number; wasClean: boolean } }>("burst", 1000);
    expect(r.received).toBe(1000);
    expect(r.outOfOrder, context()).toEqual([]);
    expect(r.close, context()).toMatchObject({ code: 1000, wasClean: true });
  }, 15_000);

  it(`a close from the server: the page sees ${CLOSE_ME_CODE} "${CLOSE_ME_REASON}", clean`, async () => {
    const r = await run<{ code: number; reason: string; wasClean: boolean }>("serverClose", CLOSE_ME);
    expect(r, context()).toEqual({ code: CLOSE_ME_CODE, reason: CLOSE_ME_REASON, wasClean: true });
  }, 15_000);
});
}
