/**
 * The wsloop command, run as a user runs it: `node bin/wsloop.js ...` in a child
 * process, on 127.0.0.1 with port 0. `echo` prints its URL and echoes; `client` sends
 * stdin's lines and prints the replies; `demo` (what `npm start` runs) serves echo,
 * dumb-increment-protocol and lws-mirror-protocol. Failures exit non-zero with the cause
 * on stderr. bin/ runs dist/: it is rebuilt first when older than src/ (`npm test` builds).
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer as createNetServer } from "node:net";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { ensureDistBuilt, root } from "./dist.js";
import { LOOPBACK, closedPort } from "../helpers/sockets.js";
import { waitUntil } from "../helpers/wait.js";
import { Inbox, closeOf, closeWs, openWs } from "../helpers/ws-client.js";
import { TestPki, hasOpenssl } from "./helpers.js";

const ipv6 = await new Promise<boolean>((resolve) => {
  const probe = createNetServer();
  probe.once("error", () => resolve(false));
  probe.listen(0, "::1", () => probe.close(() => resolve(true)));
});
const bin = join(root, "bin/wsloop.js");

beforeAll(ensureDistBuilt, 120_000);

interface Running {
  child: ChildProcessWithoutNullStreams;
  lines: string[];
  stderr: () => string;
  exited: Promise<number | null>;
}

const children: Running[] = [];
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
  for (const running of children.splice(0)) {
    if (running.child.exitCode === null && running.child.signalCode === null) running.child.kill("SIGKILL");
    await running.exited;
  }
});

function run(args: string[]): Running {
  const child = spawn(process.execPath, [bin, ...args], { cwd: root, stdio: "pipe" });
  const lines: string[] = [];
  let stderr = "";
  createInterface({ input: child.stdout }).on("line", (line) => lines.push(line));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const running = { child, lines, stderr: () => stderr, exited };
  children.push(running);
  return running;
}

/** Start a server command and wait for the URL it prints. */
async function serve(args: string[]): Promise<{ running: Running; url: string; port: number }> {
  const running = run(args);
  let url = "";
  await Promise.race([
    waitUntil(() => {
      const line = running.lines.find((l) => /listening on wss?:\/\//.test(l));
      if (line) url = /listening on (wss?:\/\/\S+)/.exec(line)![1]!;
      return url !== "";
    }, "the server's URL", 10_000),
    running.exited.then((code) => {
      throw new Error(`exited with ${code} before listening: ${running.stderr()}`);
    }),
  ]);
  return { running, url, port: Number(new URL(url).port) };
}

/** Run a command to its end, feeding it `input` on stdin. */
async function complete(args: string[], input = ""): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const running = run(args);
  running.child.stdin.end(input);
  const code = await running.exited;
  await new Promise((resolve) => setImmediate(resolve)); // let readline hand over the last line
  return { code, stdout: running.lines.join("\n"), stderr: running.stderr() };
}

async function ws(url: string, protocols?: string | string[]): Promise<WebSocket> {
  const socket = await openWs(url, protocols);
  cleanups.push(() => closeWs(socket));
  return socket;
}

describe("wsloop echo", () => {
  it("prints its URL (port 0 → the bound port) and echoes text and binary with their types", async () => {
    const { url, port } = await serve(["echo", "--port", "0"]);
    expect(url).toBe(`ws://${LOOPBACK}:${port}/`);
    expect(port).toBeGreaterThan(0);
    const client = await ws(url);
    const inbox = new Inbox(client);
    client.send("héllo ✓");
    client.send(Buffer.from([0, 1, 2, 255]));
    const [text, binary] = await inbox.take(2);
    expect([text!.data.toString(), text!.binary]).toEqual(["héllo ✓", false]);
    expect([[...binary!.data], binary!.binary]).toEqual([[0, 1, 2, 255], true]);
  });

  it("--max-message: a bigger message is refused with 1009", async () => {
    const { url } = await serve(["echo", "--port", "0", "--max-message", "16"]);
    const client = await ws(url);
    const inbox = new Inbox(client);
    client.send("sixteen bytes ok");
    expect((await inbox.next()).data.toString()).toBe("sixteen bytes ok");
    const closed = closeOf(client);
    client.send("seventeen bytes!!");
    expect((await closed).code).toBe(1009);
  });

  it.skipIf(!ipv6)("--host ::1 prints a bracketed IPv6 URL that works (skipped without IPv6 loopback)", async () => {
    const { url } = await serve(["echo", "--port", "0", "--host", "::1"]);
    expect(url).toMatch(/^ws:\/\/\[::1\]:\d+\/$/);
    const client = await ws(url);
    const inbox = new Inbox(client);
    client.send("v6");
    expect((await inbox.next()).data.toString()).toBe("v6");
  });

  it("stops on SIGTERM, closing its connections with 1001, and exits 0", async () => {
    const { url, running } = await serve(["echo", "--port", "0"]);
    const client = await ws(url);
    const closed = closeOf(client);
    running.child.kill("SIGTERM");
    expect((await closed).code).toBe(1001);
    expect(await running.exited).toBe(0);
  });

  for (const loop of ["rx", "manual"]) {
    it(`--loop ${loop} serves real sockets: echo with types, 1009 over --max-message, 1001 on SIGTERM`, async () => {
      const { url, running } = await serve(["echo", "--port", "0", "--loop", loop, "--max-message", "1024"]);
      expect(running.lines.join("\n")).toContain(`(loop: ${loop},`);
      const client = await ws(url);
      const inbox = new Inbox(client);
      client.send("héllo ✓");
      client.send(Buffer.from([0, 1, 2, 255]));
      const [text, binary] = await inbox.take(2);
      expect([text!.data.toString(), text!.binary]).toEqual(["héllo ✓", false]);
      expect([[...binary!.data], binary!.binary]).toEqual([[0, 1, 2, 255], true]);
      const big = await ws(url);
      const bigClosed = closeOf(big);
      big.send(Buffer.alloc(2048));
      expect((await bigClosed).code).toBe(1009);
      const closed = closeOf(client);
      running.child.kill("SIGTERM");
      expect((await closed).code).toBe(1001);
      expect(await running.exited).toBe(0);
    });
  }

  for (const loop of ["node", "rx", "manual"]) {
    it(`--deflate on --loop ${loop}: permessage-deflate is negotiated and compressed messages echo`, async () => {
      const { url } = await serve(["echo", "--port", "0", "--loop", loop, "--deflate"]);
      const client = await ws(url);
      expect(client.extensions).toMatch(/^permessage-deflate/);
      const inbox = new Inbox(client);
      const text = "compress me ".repeat(5_000);
      client.send(text);
      client.send(Buffer.alloc(100_000, 7));
      const [a, b] = await inbox.take(2);
      expect(a!.data.toString()).toBe(text);
      expect(b!.data.equals(Buffer.alloc(100_000, 7))).toBe(true);
    });
  }

  it("demo refuses --loop: the demo's protocols run on the node loop", async () => {
    const { code, stderr } = await complete(["demo", "--port", "0", "--loop", "rx"]);
    expect(code).toBe(2);
    expect(stderr).toContain("--loop");
  });

  it("--loop with a name that is no loop at all lists the ones there are", async () => {
    const { code, stderr } = await complete(["echo", "--port", "0", "--loop", "libuv"]);
    expect(code).toBe(2);
    expect(stderr).toContain('--loop must be one of node, rx, manual, got "libuv"');
  });

  it("a port in use: exits 1 naming the address", async () => {
    const { port } = await serve(["echo", "--port", "0"]);
    const { code, stderr } = await complete(["echo", "--port", String(port)]);
    expect(code).toBe(1);
    expect(stderr).toContain(`${LOOPBACK}:${port} is already in use`);
  });

  it("a missing certificate file: exits 1 naming the file", async () => {
    const { code, stderr } = await complete(["echo", "--port", "0", "--tls-cert", "/nonexistent/c.pem", "--tls-key", "/nonexistent/k.pem"]);
    expect(code).toBe(1);
    expect(stderr).toContain('cannot read the TLS certificate "/nonexistent/c.pem": no such file');
  });

  describe.skipIf(!hasOpenssl)("over TLS (needs the openssl CLI)", () => {
    let pki: TestPki;
    beforeAll(() => (pki = new TestPki()));
    afterAll(() => pki?.dispose());

    it("--tls-cert/--tls-key serve wss://", async () => {
      const pem = pki.selfSigned("cli", "localhost", ["DNS:localhost", "IP:127.0.0.1"]);
      const { url } = await serve(["echo", "--port", "0", "--tls-cert", pem.certFile, "--tls-key", pem.keyFile]);
      expect(url).toMatch(/^wss:\/\/127\.0\.0\.1:\d+\/$/);
      const client = await openWs(url, undefined, { ca: pem.cert });
      cleanups.push(() => closeWs(client));
      const inbox = new Inbox(client);
      client.send("secure echo");
      expect((await inbox.next()).data.toString()).toBe("secure echo");
    });

    it("an unusable key: exits 1 saying so", async () => {
      const pem = pki.selfSigned("cli2", "localhost");
      const { code, stderr } = await complete(["echo", "--port", "0", "--tls-cert", pem.certFile, "--tls-key", pem.certFile]);
      expect(code).toBe(1);
      expect(stderr).toContain("the TLS certificate or key is not usable");
    });
  });
});

describe("wsloop client", () => {
  it("sends each stdin line, prints each echo on its own line, and exits 0 when stdin ends", async () => {
    const { url } = await serve(["echo", "--port", "0"]);
    const { code, stdout, stderr } = await complete(["client", url], "one\ntwo ✓\n\nthree\n");
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(stdout).toBe("one\ntwo ✓\n\nthree");
  });

  it("against a closed port: exits non-zero with the cause on stderr", async () => {
    const port = await closedPort();
    // A long --wait: the failure ends the process at once, it does not wait for echoes
    // (if it did, this test would run into its timeout).
    const { code, stdout, stderr } = await complete(["client", `ws://${LOOPBACK}:${port}/`, "--wait", "60000"], "hello\n");
    expect(code).not.toBe(0);
    expect(stdout).toBe("");
    expect(stderr).toContain(`connection refused by ${LOOPBACK}:${port}: nothing is listening there`);
  });

  it("a URL that is not ws:// or wss:// is a usage error", async () => {
    const { code, stderr } = await complete(["client", "http://127.0.0.1:1/"]);
    expect(code).toBe(2);
    expect(stderr).toContain("ws:// or wss://");
  });
});

describe("wsloop demo (npm start)", () => {
  it("is what npm start runs", () => {
    const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { scripts: Record<string, string> };
    expect(pkg.scripts.start).toBe("node bin/wsloop.js demo");
  });

  it("dumb-increment-protocol: numbers rise one by one; reset\\n restarts them; closeme\\n closes with 1001", async () => {
    const { url } = await serve(["demo", "--port", "0"]);
    const client = await ws(url, "dumb-increment-protocol");
    expect(client.protocol).toBe("dumb-increment-protocol");
    const numbers: number[] = [];
    client.on("message", (data) => numbers.push(Number(String(data))));
    await waitUntil(() => numbers.length >= 4, "four numbers");
    expect(numbers.slice(0, 4)).toEqual([0, 1, 2, 3]);

    const beforeReset = numbers.length;
    client.send("reset\n");
    // Numbers in flight may still arrive; then the count restarts at 0.
    await waitUntil(() => numbers.slice(beforeReset).includes(0), "the counter to restart");
    const restart = numbers.indexOf(0, beforeReset);
    expect(numbers.slice(0, restart)).toEqual(numbers.slice(0, restart).map((_, i) => i));
    await waitUntil(() => numbers.length >= restart + 3, "counting again");
    expect(numbers.slice(restart, restart + 3)).toEqual([0, 1, 2]);

    const closed = closeOf(client);
    client.send("closeme\n");
    expect(await closed).toEqual({ code: 1001, reason: "seeya" });
  });

  it("lws-mirror-protocol: a message goes to every client of the same ?mirror= instance and no other", async () => {
    const { url } = await serve(["demo", "--port", "0"]);
    const x1 = await ws(`${url}?mirror=x`, "lws-mirror-protocol");
    const x2 = await ws(`${url}?mirror=x`, "lws-mirror-protocol");
    const y = await ws(`${url}?mirror=y`, "lws-mirror-protocol");
    const [x1Inbox, x2Inbox, yInbox] = [new Inbox(x1), new Inbox(x2), new Inbox(y)];
    x1.send("drawn on x");
    expect((await x1Inbox.next()).data.toString()).toBe("drawn on x");
    expect((await x2Inbox.next()).data.toString()).toBe("drawn on x");
    // y's first message is its own: x's never reached it (it would have come first).
    y.send("drawn on y");
    expect((await yInbox.next()).data.toString()).toBe("drawn on y");
    x2.send("x again");
    expect((await x1Inbox.next()).data.toString()).toBe("x again");
    expect((await x2Inbox.next()).data.toString()).toBe("x again");
    expect(yInbox.messages).toHaveLength(0);
  });

  it("a client that asks for no subprotocol gets echo", async () => {
    const { url } = await serve(["demo", "--port", "0"]);
    const client = await ws(url);
    expect(client.protocol).toBe("");
    const inbox = new Inbox(client);
    client.send("echo?");
    expect((await inbox.next()).data.toString()).toBe("echo?");
    const named = await ws(url, "echo");
    expect(named.protocol).toBe("echo");
  });
});
