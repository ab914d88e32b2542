/**
 * Interop with Debian's python3-websockets 10.4 (/usr/bin/python3; installed by
 * .ci/install-peers.sh): its client (peers/python/ws_client.py) against wsloop's echo
 * server, and wsloop's client (NodeLoop.connect) against its server
 * (peers/python/ws_echo_server.py). Both Python sides offer permessage-deflate, which
 * wsloop (no deflate yet) must decline cleanly.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { Connection } from "../../src/poll/connection.js";
import { EventLog as Recorder } from "../helpers/event-log.js";
import { LOOPBACK } from "../helpers/sockets.js";
import { waitUntil, within } from "../helpers/wait.js";
import {
  PYTHON,
  clientLoop,
  describeWithPeer,
  echoWithCloseMe,
  pythonWebsocketsCheck,
  recordingClient,
  startWsloopServer,
  type SeenHandshake,
  type WsloopServer,
} from "./helpers.js";
import { PEERS, live, runPyClient } from "./python-peer.js";

interface PyServer {
  port: number;
  stderr(): string;
  stop(): Promise<void>;
}

/** Starts ws_echo_server.py on 127.0.0.1:0 and waits for its "LISTENING <port>" line. */
async function startPyServer(): Promise<PyServer> {
  const child = spawn(PYTHON, [join(PEERS, "ws_echo_server.py"), "--host", LOOPBACK, "--port", "0"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  live.add(child);
  let stdout = "";
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const port = await within(
    new Promise<number>((resolve, reject) => {
      child.once("error", reject);
      child.once("exit", (code) => reject(new Error(`ws_echo_server.py exited early (${code}): ${stderr}`)));
      child.stdout.setEncoding("utf8").on("data", (c: string) => {
        stdout += c;
        const m = /LISTENING (\d+)/.exec(stdout);
        if (m) resolve(Number(m[1]));
      });
    }),
    15_000,
    "ws_echo_server.py to print LISTENING",
  ).catch((error: unknown) => {
    child.kill("SIGKILL");
    throw error;
  });
  return {
    port,
    stderr: () => stderr,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const killer = setTimeout(() => child.kill("SIGKILL"), 3_000);
      await exited;
      clearTimeout(killer);
      live.delete(child);
    },
  };
}

function killAll(): void {
  for (const c of live) c.kill("SIGKILL");
  live.clear();
}

describeWithPeer("interop: Python websockets client → wsloop echo server", "python3-websockets", pythonWebsocketsCheck, () => {
  let server: WsloopServer;
  const seen: SeenHandshake[] = [];
  beforeAll(async () => {
    server = await startWsloopServer([echoWithCloseMe("echo", seen)]);
  });
  afterAll(async () => {
    killAll();
    await server?.close();
  });

  const scenario = async (name: string) => {
    const r = await runPyClient([server.url, name, "--timeout", "10"], 15_000);
    const context = `ws_client.py ${name} exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}\nwsloop log: ${server.log.join("\n")}`;
    expect(r.json, context).not.toBeNull();
    expect(r.json!["ok"], context).toBe(true);
    expect(r.code, context).toBe(0);
    // Python offered permessage-deflate; wsloop has none and must have declined it.
    expect(seen.at(-1)?.extensions, context).toMatch(/permessage-deflate/);
    expect(r.json!["extensions"], context).toEqual([]);
    return r.json!;
  };

  it("echo-text: ASCII, empty, 2/3/4-byte UTF-8 and 120000-byte text come back as the same text", async () => {
    const json = await scenario("echo-text");
    expect(json["messages"]).toBe(8);
    expect(json["close_code"]).toBe(1000);
  }, 20_000);

  it("echo-binary: 0 B … 1 MiB (every payload-length encoding) come back byte for byte as binary", async () => {
    const json = await scenario("echo-binary");
    expect(json["messages"]).toBe(7);
    expect(json["close_code"]).toBe(1000);
  }, 20_000);

  it("close: the client's 4000 'bye' is answered with the same code", async () => {
    const json = await scenario("close");
    expect(json["close_code"]).toBe(4000);
    // RFC 6455 §5.5.1 asks for the code only; wsloop echoes the code with an empty
    // reason (src/core/ws-session.ts, "Echo the peer's code"), lws echoes the reason too.
    expect(["", "bye"]).toContain(json["close_reason"]);
  }, 20_000);
});

describeWithPeer("interop: wsloop client → Python websockets echo server", "python3-websockets", pythonWebsocketsCheck, () => {
  let py: PyServer;
  const loops: Array<{ close(ms?: number): Promise<void> }> = [];
  beforeAll(async () => {
    py = await startPyServer();
  }, 20_000);
  afterAll(async () => {
    await Promise.allSettled(loops.map((l) => l.close(1_000)));
    await py?.stop();
    killAll();
  });

  it("round-trips text and binary, then closes cleanly with 1000 (CLIENT_CLOSED clean)", async () => {
    const recorder = new Recorder();
    const client = recordingClient(recorder, "py");
    const loop = clientLoop([client.protocol]);
    loops.push(loop);
    const connection = loop.connect({ url: `ws://${LOOPBACK}:${py.port}/wsloop?x=1` }) as Connection;
    const why = () => `python server stderr:\n${py.stderr()}`;
    await recorder.waitFor("CLIENT_ESTABLISHED", () => true, 5_000);

    const text = ["hello", "", "héllo ✓ 🚀", "日本語テキスト", "€".repeat(40_000)];
    const binary = [0, 1, 125, 126, 65_535, 65_536, 1024 * 1024].map((n) => {
      const b = Buffer.alloc(n);
      for (let i = 0; i < n; i++) b[i] = (i * 31 + 7) & 0xff;
      return b;
    });
    const sent: Array<string | Buffer> = [...text, ...binary];
    for (const m of sent) client.send(connection, m);
    await recorder.waitFor("CLIENT_RECEIVE", () => recorder.of("CLIENT_RECEIVE").length >= sent.length, 15_000, `${sent.length} echoes`);
    const got = recorder.of("CLIENT_RECEIVE");
    expect(got).toHaveLength(sent.length);
    got.forEach((e, i) => {
      const want = sent[i]!;
      expect(e.binary, `message ${i}: type`).toBe(typeof want !== "string");
      expect(e.first && e.final, `message ${i}: whole`).toBe(true);
      if (typeof want === "string") expect(e.data.toString("utf8"), `message ${i}`).toBe(want);
      else expect(e.data.equals(want), `message ${i}: ${want.length} bytes differ`).toBe(true);
    });

    connection.close(1000, "done");
    const closed = await recorder.waitFor("CLIENT_CLOSED", () => true, 5_000);
    expect([closed.code, closed.closeReason, closed.clean], why()).toEqual([1000, "done", true]);
    expect(closed.error).toBeUndefined();
    // The Python side saw the whole exchange and our close; wsloop's client offers no
    // extensions, so none was negotiated although the Python server would accept deflate.
    await waitUntil(() => /CLOSE 1000 'done' messages=12/.test(py.stderr()), () => `the Python server to log the close; ${why()}`, 3_000);
    expect(py.stderr()).toMatch(/CONNECT \/wsloop\?x=1 subprotocol=- extensions=-/);
  }, 20_000);
});
