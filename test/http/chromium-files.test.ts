/**
 * Chromium (headless Debian chromium driven by playwright-core, as in
 * test/interop/chromium.test.ts) loads a real directory from a NodeLoop vhost with a FILE
 * mount: index.html, app.js, style.css, a 4 MiB file the page checks by SHA-256
 * (fetch + crypto.subtle.digest), and a precompressed file (served from its .gz with
 * Content-Encoding: gzip). The page opens a WebSocket back to its own origin — same
 * port — and round-trips a message through the echo protocol. A second load, once the
 * files are stale (max-age=1, must-revalidate), revalidates them: 304s.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { gzipSync } from "node:zlib";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { NodeLoop } from "../../src/loops/node/index.js";
import { nodeFileOps } from "../../src/loops/node/file-ops.js";
import type { FileOps } from "../../src/poll/index.js";
import { LOOPBACK } from "../helpers/sockets.js";
import { describeWithPeer, echoWithCloseMe, executableCheck } from "../interop/helpers.js";
import { CHROMIUM_PATH, launchChromium, type ChromiumPeer } from "../interop/peers/chromium.js";

const BIG = randomBytes(4 * 1024 * 1024);
const BIG_SHA256 = createHash("sha256").update(BIG).digest("hex");
const DATA = JSON.stringify({ words: "all work and no play makes jack a dull boy ".repeat(200).trim().split(" ") });

const INDEX = `<!doctype html>
<meta charset="utf-8">
<title>wsloop files</title>
<link rel="stylesheet" href="style.css">
<p id="probe">wsloop serves this page and its WebSocket on one port</p>
<script src="app.js"></script>
`;

const STYLE = `#probe { color: rgb(1, 2, 3); }\n`;

// Plain browser JavaScript; it never throws: problems go to results.errors.
const APP = `"use strict";
window.results = (async () => {
  const errors = [];
  const out = { errors };
  try {
    const color = getComputedStyle(document.getElementById("probe")).color;
    out.styled = color === "rgb(1, 2, 3)";
    if (!out.styled) errors.push("style.css not applied: " + color);

    const big = await fetch("big.bin");
    const bytes = await big.arrayBuffer();
    const digest = await crypto.subtle.digest("SHA-256", bytes);
    out.bigLength = bytes.byteLength;
    out.bigSha256 = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");

    const data = await fetch("data.json");
    out.dataEncoding = data.headers.get("content-encoding");
    out.data = await data.text();

    out.echo = await new Promise((resolve) => {
      const ws = new WebSocket("ws://" + location.host + "/", "echo");
      const timer = setTimeout(() => { resolve("timeout"); ws.close(); }, 5000);
      ws.onopen = () => ws.send("ping from " + location.host);
      ws.onmessage = (e) => { clearTimeout(timer); resolve(e.data); ws.close(1000); };
      ws.onerror = () => { clearTimeout(timer); resolve("error"); };
    });
  } catch (e) {
    errors.push(String(e));
  }
  return out;
})();
`;

interface PageResults {
  errors: string[];
  styled: boolean;
  bigLength: number;
  bigSha256: string;
  dataEncoding: string | null;
  data: string;
  echo: string;
}

describeWithPeer("Chromium loads a directory served by the Node loop, and its WebSocket, on one port", "chromium", executableCheck(CHROMIUM_PATH), () => {
  let root = "";
  let loop: NodeLoop;
  let browser: ChromiumPeer | undefined;
  let page: Page;
  const log: string[] = [];
  const pageErrors: string[] = [];
  /** Every response the page got, by path: statuses in order. */
  const statuses = new Map<string, number[]>();
  /** Per path: whether each request the page made was conditional (If-None-Match). */
  const conditional = new Map<string, boolean[]>();
  /** Bytes read from each served file (through the file operations): 0 on a 304. */
  const bytesRead = new Map<string, number>();
  const countingFileOps: FileOps = {
    ...nodeFileOps,
    open(path) {
      const file = nodeFileOps.open(path);
      if (!file) return null;
      const name = `/${relative(root, path)}`;
      return {
        ...file,
        info: file.info,
        read(position, length) {
          const data = file.read(position, length);
          bytesRead.set(name, (bytesRead.get(name) ?? 0) + data.length);
          return data;
        },
        close: () => file.close(),
      };
    },
  };

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), "wsloop-chromium-www-"));
    writeFileSync(join(root, "index.html"), INDEX);
    writeFileSync(join(root, "app.js"), APP);
    writeFileSync(join(root, "style.css"), STYLE);
    writeFileSync(join(root, "big.bin"), BIG);
    writeFileSync(join(root, "data.json"), DATA);
    // The .gz holds the same content: the page cannot tell which one it got but by the header.
    writeFileSync(join(root, "data.json.gz"), gzipSync(DATA));
    loop = new NodeLoop({
      fileOps: countingFileOps,
      logger: { level: "warn", emit: (level, message) => void log.push(`${level}: ${message}`) },
      vhosts: [
        {
          name: "localhost",
          protocols: [echoWithCloseMe("echo")],
          listen: { port: 0, host: LOOPBACK },
          mounts: [
            { mountpoint: "/", kind: "file", origin: root, precompressed: true, cacheMaxAge: 1, cacheReusable: true, cacheRevalidate: true },
          ],
        },
      ],
    });
    await loop.listen();
    browser = await launchChromium({ timeoutMs: 30_000 });
    page = await browser.newPage();
    page.setDefaultTimeout(30_000);
    page.on("pageerror", (e) => pageErrors.push(String(e)));
    page.on("console", (m) => {
      if (m.type() === "error") pageErrors.push(m.text());
    });
    page.on("response", (r) => {
      const path = new URL(r.url()).pathname;
      statuses.set(path, [...(statuses.get(path) ?? []), r.status()]);
    });
    page.on("request", (r) => {
      const path = new URL(r.url()).pathname;
      void r.allHeaders().then((h) => void conditional.set(path, [...(conditional.get(path) ?? []), "if-none-match" in h]));
    });
  }, 45_000);

  afterAll(async () => {
    await browser?.close().catch(() => {});
    await loop?.close(1_000);
    if (root) rmSync(root, { recursive: true, force: true });
  });

  const context = () =>
    `page errors: ${pageErrors.join(" | ") || "none"}; wsloop log: ${log.join(" | ") || "none"}; ` +
    `statuses: ${JSON.stringify([...statuses])}; conditional: ${JSON.stringify([...conditional])}; bytes read: ${JSON.stringify([...bytesRead])}`;
  const FILES = ["/", "/app.js", "/style.css", "/big.bin", "/data.json"];

  const load = async (): Promise<PageResults> => {
    const response = await page.goto(`http://${LOOPBACK}:${loop.port}/`);
    expect(response, context()).not.toBeNull();
    await page.waitForFunction("window.results !== undefined", undefined, { timeout: 10_000 });
    return (await page.evaluate("window.results")) as PageResults;
  };

  it("the page, its script and stylesheet, a 4 MiB file by hash, a gzip variant, and a WebSocket on the same port", async () => {
    const r = await load();
    expect(r.errors, context()).toEqual([]);
    expect(r.styled).toBe(true);
    expect([r.bigLength, r.bigSha256]).toEqual([BIG.length, BIG_SHA256]);
    expect([r.dataEncoding, r.data]).toEqual(["gzip", DATA]);
    expect(r.echo, context()).toBe(`ping from ${LOOPBACK}:${loop.port}`);
    for (const path of FILES) expect(statuses.get(path), `${path}; ${context()}`).toEqual([200]);
    expect(bytesRead.get("/big.bin")).toBe(BIG.length);
    expect(bytesRead.get("/data.json.gz")).toBe(gzipSync(DATA).length);
    expect(bytesRead.has("/data.json"), "the plain data.json is never read").toBe(false);
  }, 30_000);

  it("a second load, once the files are stale, revalidates them: 304s, and the page still passes", async () => {
    statuses.clear();
    conditional.clear();
    bytesRead.clear();
    // max-age=1: wait until every file is stale, so Chromium must ask (If-None-Match).
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const r = await load();
    expect(r.errors, context()).toEqual([]);
    expect([r.styled, r.bigSha256, r.data, r.echo]).toEqual([true, BIG_SHA256, DATA, `ping from ${LOOPBACK}:${loop.port}`]);
    // Chromium asked for every file with its ETag, and wsloop answered without reading a
    // byte of any: 304 on the wire. (Playwright reports the status the page sees: 304 for
    // the stylesheet and the script, but 200 — the cached response's — for the
    // navigation and for fetch().)
    for (const path of FILES) expect(conditional.get(path), `${path}; ${context()}`).toEqual([true]);
    expect([...bytesRead], context()).toEqual([]);
    for (const path of ["/app.js", "/style.css"]) expect(statuses.get(path), `${path}; ${context()}`).toEqual([304]);
  }, 30_000);
});
