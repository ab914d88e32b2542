/**
 * `wsloop serve` and `wsloop demo` as a user runs them (node bin/wsloop.js in a child
 * process): the URL line, the bundled page or DIR at /, a config file, a bad config
 * (exit 2, the JSON path on stderr, nothing listening), and SIGTERM / SIGINT (1001 to
 * every client, exit 0).
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { get } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { ensureDistBuilt, root } from "../node/dist.js";

const bin = join(root, "bin/wsloop.js");
const fixtures = new URL("./fixtures/", import.meta.url).pathname;
beforeAll(ensureDistBuilt, 120_000);

interface Child {
  child: ChildProcessWithoutNullStreams;
  lines: string[];
  stderr: () => string;
  exited: Promise<number | null>;
}
const children: Child[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) {
    if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill("SIGKILL");
    await c.exited;
  }
});

function run(args: string[]): Child {
  const child = spawn(process.execPath, [bin, ...args], { cwd: root, stdio: "pipe" });
  const lines: string[] = [];
  let stderr = "";
  createInterface({ input: child.stdout }).on("line", (l) => lines.push(l));
  child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const c = { child, lines, stderr: () => stderr, exited };
  children.push(c);
  return c;
}

async function serve(args: string[]): Promise<{ c: Child; http: string; ws: string }> {
  const c = run(args);
  const deadline = Date.now() + 10_000;
  for (;;) {
    const line = c.lines.find((l) => / open http:\/\//.test(l));
    if (line) {
      const [, http, ws] = /open (http:\/\/\S+) \(listening on (ws:\/\/\S+),/.exec(line)!;
      return { c, http: http!, ws: ws! };
    }
    if (c.child.exitCode !== null || Date.now() > deadline) throw new Error(`no URL line; stderr: ${c.stderr()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function fetchText(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get(url, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode!, body }));
    }).on("error", reject);
  });
}

describe("wsloop serve / demo", () => {
  it("demo: prints the URL and serves the bundled page and the demo protocols", async () => {
    const { http, ws } = await serve(["demo", "--port", "0"]);
    expect(http).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const page = await fetchText(http);
    expect(page.status).toBe(200);
    expect(page.body).toContain("<title>wsloop demo</title>");
    expect(page.body).not.toMatch(/(src|href)="https?:/); // no external assets
    const client = new WebSocket(ws, "dumb-increment-protocol");
    const first = await new Promise<string>((resolve) => client.once("message", (d) => resolve(String(d))));
    expect(first).toBe("0");
    client.close();
  });

  it("serve DIR: the directory at /", async () => {
    const { http } = await serve(["serve", "--port", "0", join(fixtures, "www")]);
    expect((await fetchText(http)).body).toContain("static index");
  });

  it("serve --config FILE", async () => {
    const dir = mkdtempSync(join(tmpdir(), "wsloop-cli-"));
    const file = join(dir, "site.json");
    writeFileSync(
      file,
      JSON.stringify({
        global: { plugins: [join(fixtures, "shout-plugin.mjs")] },
        vhosts: [{ name: "localhost", port: 0, interface: "127.0.0.1", mounts: [{ mountpoint: "/", origin: "callback://shout" }], "ws-protocols": [{ shout: {} }] }],
      }),
    );
    const { http } = await serve(["serve", "--config", file]);
    expect((await fetchText(`${http}x`)).body).toBe("shout at /x via /\n");
  });

  it("a bad config: exit 2, the JSON path and what was expected on stderr, nothing started", async () => {
    const dir = mkdtempSync(join(tmpdir(), "wsloop-cli-"));
    const file = join(dir, "bad.json");
    writeFileSync(file, JSON.stringify({ vhosts: [{ name: "a", port: 0, mounts: [{ mountpoint: "/", origin: "callback://x" }, { mountpoint: "/b", origin: 7 }] }] }));
    const c = run(["serve", "--config", file]);
    expect(await c.exited).toBe(2);
    expect(c.stderr()).toContain(`vhosts[0].mounts[1].origin: expected a string like "file:///var/www" or "callback://protocol"`);
    expect(c.stderr()).toContain(`vhosts[0].mounts[0].origin: expected a protocol listed in the vhost's ws-protocols`);
    expect(c.stderr()).toContain("nothing was started");
    expect(c.lines).toEqual([]);
  });

  it("usage errors exit 2: config with DIR, a missing config file, a bad --log-level", async () => {
    for (const args of [["serve", "--config", "x.json", "dir"], ["serve", "--config", "/nonexistent.json"], ["serve", "--log-level", "loud"]]) {
      const c = run(args);
      expect(await c.exited).toBe(2);
      expect(c.stderr()).toMatch(/wsloop: /);
    }
  });

  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    it(`${signal}: 1001 to every client, exit 0`, async () => {
      const { c, ws } = await serve(["demo", "--port", "0"]);
      const client = new WebSocket(ws, "lws-mirror-protocol");
      await new Promise((resolve) => client.once("open", resolve));
      const closed = new Promise<number>((resolve) => client.once("close", (code) => resolve(code)));
      c.child.kill(signal);
      expect(await closed).toBe(1001);
      expect(await c.exited).toBe(0);
      expect(c.stderr()).toMatch(new RegExp(`\\[wsloop NOTICE\\] ${signal}: closing every connection with 1001`));
    });
  }
});
