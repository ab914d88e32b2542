/**
 * The echo servers the conformance suite runs against, one starter per loop. Adding a
 * loop is one line in `allStarters` (an in-process starter, or `cliEcho(name)` for
 * `wsloop echo --loop NAME`). WSLOOP_CONFORMANCE_LOOPS picks some by name
 * (comma-separated; default "node", the in-process NodeLoop; the cli-* ones need
 * `npm run build`).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { echoProtocol } from "../../../src/demo/echo-protocol.js";
import { NodeLoop } from "../../../src/loops/node/index.js";
import { LOOPBACK } from "./raw-client.js";

export interface EchoServerOptions {
  /** The echo protocol's message (and frame) limit. Default 16 MiB, as `wsloop echo`. */
  maxMessageSize?: number;
}

export interface EchoServer {
  port: number;
  /** Live connections on the server, when the starter can see them (in-process); null otherwise. */
  connectionCount(): number | null;
  stop(): Promise<void>;
}

export interface ServerStarter {
  /** The loop's name as `wsloop echo --loop NAME` spells it, plus how it runs. */
  name: string;
  /** True when the starter needs `npm run build` first (it runs bin/wsloop.js). */
  needsBuild?: boolean;
  start(options?: EchoServerOptions): Promise<EchoServer>;
}

/** `wsloop echo --loop node`, in this process: NodeLoop with src/demo/echo-protocol.ts. */
export const nodeLoopEcho: ServerStarter = {
  name: "node",
  async start(options = {}) {
    const echo = echoProtocol(options.maxMessageSize !== undefined ? { maxMessageSize: options.maxMessageSize } : {});
    const loop = new NodeLoop({
      logger: { level: "warn" },
      vhosts: [{ name: "default", protocols: [echo], listen: { port: 0, host: LOOPBACK } }],
    });
    await loop.listen();
    return {
      port: loop.port,
      connectionCount: () => loop.context.connectionCount,
      stop: () => loop.close(500),
    };
  },
};

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

/** `node bin/wsloop.js echo --port 0 --loop LOOP` as a child process (needs `npm run build`). */
export function cliEcho(loopName: string): ServerStarter {
  return {
    name: `cli-${loopName}`,
    needsBuild: true,
    async start(options = {}) {
      const args = [resolve(repoRoot, "bin/wsloop.js"), "echo", "--port", "0", "--host", LOOPBACK, "--loop", loopName];
      if (options.maxMessageSize !== undefined) args.push("--max-message", String(options.maxMessageSize));
      const child: ChildProcess = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
      const port = await new Promise<number>((resolvePort, reject) => {
        let out = "";
        const timer = setTimeout(() => reject(new Error(`wsloop echo did not start: ${out}`)), 10_000);
        child.stdout!.on("data", (d: Buffer) => {
          out += d.toString();
          const m = /listening on ws:\/\/[^:]+:(\d+)\//.exec(out);
          if (m) {
            clearTimeout(timer);
            resolvePort(Number(m[1]));
          }
        });
        child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
        child.once("exit", (code) => {
          clearTimeout(timer);
          reject(new Error(`wsloop echo exited with ${code}: ${out}`));
        });
      });
      return {
        port,
        connectionCount: () => null,
        stop: () =>
          new Promise<void>((done) => {
            if (child.exitCode !== null) return done();
            child.once("exit", () => done());
            child.kill("SIGTERM");
          }),
      };
    },
  };
}

/** Every loop the suite knows. Adding one: one line here. */
export const allStarters: ServerStarter[] = [
  nodeLoopEcho,
  cliEcho("node"),
  cliEcho("rx"),
  cliEcho("manual"),
];

/** The starters this run uses: WSLOOP_CONFORMANCE_LOOPS=node,cli-node, or "node" by default. */
export function selectedStarters(): ServerStarter[] {
  const wanted = (process.env.WSLOOP_CONFORMANCE_LOOPS ?? "node").split(",").map((s) => s.trim()).filter(Boolean);
  const picked = allStarters.filter((s) => wanted.includes(s.name));
  const unknown = wanted.filter((w) => !allStarters.some((s) => s.name === w));
  if (unknown.length) throw new Error(`WSLOOP_CONFORMANCE_LOOPS names unknown loops: ${unknown.join(", ")} (known: ${allStarters.map((s) => s.name).join(", ")})`);
  for (const s of picked) {
    if (s.needsBuild && !existsSync(resolve(repoRoot, "dist/cli/main.js"))) {
      throw new Error(`loop "${s.name}" runs bin/wsloop.js: run \`npm run build\` first`);
    }
  }
  return picked;
}
