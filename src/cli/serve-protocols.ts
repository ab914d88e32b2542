/**
 * Running a set of protocols as a server on the chosen loop, for the CLI's echo and
 * demo commands: listen, print the URL, shut down gracefully on SIGINT / SIGTERM.
 */
import type { ProtocolDefinition } from "../poll/protocol.js";
import type { NodeTlsOptions } from "../loops/node/listeners.js";
import { NodeLoop } from "../loops/node/node-loop.js";
import { CliUsageError, type LoopName } from "./args.js";
import type { LogLevel } from "../poll/logger.js";

export interface ServeOptions {
  title: string;
  host: string;
  port: number;
  loop: LoopName;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  protocols: ProtocolDefinition<any>[];
  defaultProtocol?: string;
  tls?: NodeTlsOptions;
  logLevel?: LogLevel;
}

export async function serveProtocols(options: ServeOptions): Promise<void> {
  if (options.loop !== "node") {
    throw new CliUsageError(`--loop ${options.loop} is not available yet: this build serves real sockets with --loop node only`);
  }
  const loop = new NodeLoop({
    logger: { level: options.logLevel ?? "notice" },
    vhosts: [
      {
        name: "default",
        protocols: options.protocols,
        ...(options.defaultProtocol ? { defaultProtocol: options.defaultProtocol } : {}),
        listen: { port: options.port, host: options.host, ...(options.tls ? { tls: options.tls } : {}) },
      },
    ],
  });
  let addresses;
  try {
    addresses = await loop.listen();
  } catch (error) {
    loop.context.destroy();
    throw error;
  }
  const bound = addresses[0]!;
  const host = bound.family === "IPv6" ? `[${bound.host}]` : bound.host;
  process.stdout.write(`${options.title} listening on ${bound.tls ? "wss" : "ws"}://${host}:${bound.port}/ (loop: ${options.loop}, protocols: ${options.protocols.map((p) => p.name).join(", ")})\n`);
  const stop = (signal: string) => {
    loop.context.logger.notice(`${signal}: closing every connection with 1001 and stopping`);
    loop.close(3_000).then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once("SIGINT", () => stop("SIGINT"));
  process.once("SIGTERM", () => stop("SIGTERM"));
}
