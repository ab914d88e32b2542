/**
 * Helpers around Debian's libwebsockets 4.1.6 test apps (package
 * libwebsockets-test-server, installed by .ci/install-peers.sh).
 * Exact behaviour of the apps: ./lws-apps.md.
 *
 * Everything binds / connects on 127.0.0.1 only:
 * - the server is started with `-i lo` (interface NAME). `-i 127.0.0.1` is a
 *   trap: this IPv6-enabled build then listens on `*:PORT` (all interfaces).
 *   With `-i lo` it listens on [::ffff:127.0.0.1]:PORT, which startLwsTestServer
 *   checks in /proc/net/tcp6 before resolving.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync, readdirSync, readlinkSync } from "node:fs";
import { connect } from "node:net";

export const LWS_TEST_SERVER = "/usr/bin/libwebsockets-test-server";
export const LWS_TEST_CLIENT = "/usr/bin/libwebsockets-test-client";
/** lws log bitfield for `-d`: ERR|WARN|NOTICE|INFO. The client logs each
 * dumb-increment message it receives only at INFO ("I: rx <len> '<text>'"). */
export const LWS_LOG_INFO = 15;

const MAX_CAPTURE = 4 * 1024 * 1024;
const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function track(child: ChildProcess): void {
  live.add(child);
  child.once("exit", () => live.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // Never leave an lws app running after the test process is gone.
    process.once("exit", () => {
      for (const c of live) c.kill("SIGKILL");
    });
  }
}

function capture(stream: NodeJS.ReadableStream | null, sink: { text: string }): void {
  stream?.setEncoding("utf8");
  stream?.on("data", (chunk: string) => {
    if (sink.text.length < MAX_CAPTURE) sink.text += chunk;
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** TCP listening sockets (LISTEN state) owned by pid, from /proc. */
function listeningSockets(pid: number): { address: string; port: number }[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m?.[1]) inodes.add(m[1]);
    } catch {
      /* fd closed meanwhile */
    }
  }
  const out: { address: string; port: number }[] = [];
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    for (const line of readFileSync(table, "utf8").split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== "0A" || !inodes.has(f[9] ?? "")) continue;
      const [addr = "", port = "0"] = (f[1] ?? "").split(":");
      out.push({ address: addr.toUpperCase(), port: parseInt(port, 16) });
    }
  }
  return out;
}

// 127.0.0.1 in /proc/net/tcp, and ::ffff:127.0.0.1 / ::1 in /proc/net/tcp6
// (32-bit words in host byte order on x86).
const LOOPBACK_HEX = new Set([
  "0100007F",
  "0000000000000000FFFF00000100007F",
  "00000000000000000000000001000000",
]);

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: "127.0.0.1", port });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

export interface LwsTestServer {
  port: number;
  /** SIGINT (lws exits cleanly in ~0.5-1 s), SIGKILL after 5 s. Idempotent. */
  stop(): Promise<void>;
  /** What the server logged so far (lws logs go to stderr). */
  stderr(): string;
  readonly process: ChildProcess;
}

export interface LwsTestServerOptions {
  /** Extra flags, e.g. ["-n"] (dumb-increment sends nothing), ["-d", "15"]. */
  extraArgs?: readonly string[];
  /** Interface NAME to bind (default "lo"); not an IP address, see above. */
  iface?: string;
  readyTimeoutMs?: number;
}

/**
 * Starts libwebsockets-test-server on 127.0.0.1:port (port 0 = kernel-chosen,
 * read back from /proc) without TLS, and resolves once it accepts TCP
 * connections. Serves the protocols http-only (files from
 * /usr/share/libwebsockets-test-server), dumb-increment-protocol,
 * lws-mirror-protocol, lws-status, protocol-post-demo.
 */
export async function startLwsTestServer(
  port: number,
  options: LwsTestServerOptions = {},
): Promise<LwsTestServer> {
  const args = ["-p", String(port), "-i", options.iface ?? "lo", ...(options.extraArgs ?? [])];
  const child = spawn(LWS_TEST_SERVER, args, { stdio: ["ignore", "pipe", "pipe"] });
  track(child);
  const err = { text: "" };
  const out = { text: "" };
  capture(child.stdout, out);
  capture(child.stderr, err);
  const spawnError = new Promise<Error>((resolve) => child.once("error", resolve));

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGINT");
      const killer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited(child);
      clearTimeout(killer);
    })());

  const fail = async (why: string): Promise<never> => {
    await stop();
    throw new Error(
      `libwebsockets-test-server ${args.join(" ")}: ${why}\n--- stderr ---\n${err.text}${out.text}`,
    );
  };

  const deadline = Date.now() + (options.readyTimeoutMs ?? 10_000);
  let actualPort = port;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      // e.g. "E: ERROR on binding fd 5 to port N (-1 98)" -> exit code 255
      return fail(`exited early (code ${child.exitCode}, signal ${child.signalCode})`);
    }
    const spawned = await Promise.race([spawnError, sleep(50).then(() => null)]);
    if (spawned) return fail(`spawn failed: ${spawned.message} (run .ci/install-peers.sh)`);
    if (/DOESN'T EXIST/.test(err.text)) {
      // Unknown interface: lws keeps running without listening, forever.
      return fail("interface does not exist");
    }
    if (Date.now() > deadline) return fail("not accepting connections in time");
    let sockets: { address: string; port: number }[] = [];
    try {
      sockets = child.pid ? listeningSockets(child.pid) : [];
    } catch {
      continue; // /proc entry not there yet
    }
    const socket = sockets.find((s) => port === 0 || s.port === port);
    if (!socket) continue;
    if (!LOOPBACK_HEX.has(socket.address)) {
      return fail(`listens on a non-loopback address (${socket.address}); refusing to continue`);
    }
    actualPort = socket.port;
    if (await canConnect(actualPort)) break;
  }

  return { port: actualPort, stop, stderr: () => err.text, process: child };
}

export interface LwsClientResult {
  /** Exit code; null if killed by a signal. NB: 0 also after SIGINT, after
   * connection errors and after protocol failures - assert on stderr. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  /** All lws logging ("[date] N: ..."). */
  stderr: string;
  /** true if the run was ended by our SIGINT at timeoutMs. */
  timedOut: boolean;
}

/**
 * Runs libwebsockets-test-client with `args` (e.g. ["ws://127.0.0.1:PORT/",
 * "-O"]). At timeoutMs it gets SIGINT, which it handles by leaving its service
 * loop within 500 ms and exiting 0 ("E: Exiting") WITHOUT sending close
 * frames (the peer sees the TCP connection drop: 1006). SIGKILL 3 s later if
 * it is still alive. The client never exits on its own except with -O/--once
 * (mirror connection closed), -e/--echo, or an http:// URL.
 */
export async function runLwsTestClient(
  args: readonly string[],
  timeoutMs: number,
): Promise<LwsClientResult> {
  const child = spawn(LWS_TEST_CLIENT, [...args], { stdio: ["ignore", "pipe", "pipe"] });
  track(child);
  const out = { text: "" };
  const err = { text: "" };
  capture(child.stdout, out);
  capture(child.stderr, err);
  let timedOut = false;
  let killer: NodeJS.Timeout | undefined;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill("SIGINT");
    killer = setTimeout(() => child.kill("SIGKILL"), 3_000);
  }, timeoutMs);
  const result = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(
    (resolve, reject) => {
      child.once("error", reject);
      // "close" (not "exit"): waits until stdout/stderr are fully read.
      child.once("close", (code, signal) => resolve({ code, signal }));
    },
  ).finally(() => {
    clearTimeout(timer);
    if (killer) clearTimeout(killer);
  });
  return { ...result, stdout: out.text, stderr: err.text, timedOut };
}

/** Payloads the test client logged for dumb-increment messages, in order
 * (needs `-d 15`; with -m the three connections' lines interleave). */
export function dumbIncrementReceived(stderr: string): string[] {
  return [...stderr.matchAll(/ I: rx \d+ '([^'\n]*)'$/gm)].map((m) => m[1] ?? "");
}

export interface LwsClientSummary {
  /** "mirror: LWS_CALLBACK_CLIENT_ESTABLISHED" lines. */
  mirrorEstablished: number;
  /** "opened mirror connection with N lifetime" values (16384..81919). */
  mirrorLifetimes: number[];
  /** "mirror: LWS_CALLBACK_CLOSED mirror_lifetime=N, ..." - N = messages left unsent. */
  mirrorClosedLifetimes: number[];
  /** "closing mirror session": the client closed it after its lifetime ran out. */
  mirrorClosedByClient: number;
  /** "CLIENT_CONNECTION_ERROR: <which>: <why>" (only the dumb connection reports these). */
  connectionErrors: string[];
  /** "lws_http_client_http_response <status>" (logged for the dumb connection). */
  httpResponses: number[];
  /** The client reached its clean exit ("E: Exiting"). */
  exiting: boolean;
}

export function summarizeLwsClient(stderr: string): LwsClientSummary {
  const nums = (re: RegExp) => [...stderr.matchAll(re)].map((m) => Number(m[1]));
  return {
    mirrorEstablished: (stderr.match(/N: mirror: LWS_CALLBACK_CLIENT_ESTABLISHED$/gm) ?? []).length,
    mirrorLifetimes: nums(/N: opened mirror connection with (\d+) lifetime$/gm),
    mirrorClosedLifetimes: nums(/N: mirror: LWS_CALLBACK_CLOSED mirror_lifetime=(\d+),/gm),
    mirrorClosedByClient: (stderr.match(/N: closing mirror session$/gm) ?? []).length,
    connectionErrors: [...stderr.matchAll(/E: CLIENT_CONNECTION_ERROR: (.*)$/gm)].map((m) => m[1] ?? ""),
    httpResponses: nums(/N: lws_http_client_http_response (\d+)$/gm),
    exiting: /E: Exiting$/m.test(stderr),
  };
}
