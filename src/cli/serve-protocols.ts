/**
 * Running a set of protocols as a server on the chosen loop, for the CLI's echo and
 * demo commands: listen, print the URL, shut down gracefully on SIGINT / SIGTERM.
 */
import type { ProtocolDefinition } from "../poll/protocol.js";
import type { NodeTlsOptions } from "../loops/node/listeners.js";
import { NodeLoop } from "../loops/node/node-loop.js";
import { CliUsageError, type LoopName } from "./args.js";
import { startManualServer } from "./manual-runner.js";
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
  /** The echo command: on --loop rx the RxJS echo server (observables end to end) serves. */
  rxEcho?: { maxMessageSize: number; deflate: boolean };
}

interface Running {
  url: string;
  logNotice(message: string): void;
  close(graceMs: number): Promise<void>;
}

export async function serveProtocols(options: ServeOptions): Promise<void> {
  const running =
    options.loop === "rx" ? await startOnRx(options) : options.loop === "manual" ? await startOnManual(options) : await startOnNode(options);
  process.stdout.write(
    `${options.title} listening on ${running.url} (loop: ${options.loop}, protocols: ${options.protocols.map((p) => p.name).join(", ")})\n`,
  );
  const stop = (signal: string) => {
    running.logNotice(`${signal}: closing every connection with 1001 and stopping`);
    running.close(3_000).then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once("SIGINT", () => stop("SIGINT"));
  process.once("SIGTERM", () => stop("SIGTERM"));
}

function urlOf(host: string, port: number, tls: boolean): string {
  return `${tls ? "wss" : "ws"}://${host.includes(":") ? `[${host}]` : host}:${port}/`;
}

async function startOnNode(options: ServeOptions): Promise<Running> {
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
  return {
    url: urlOf(bound.host, bound.port, bound.tls),
    logNotice: (m) => loop.context.logger.notice(m),
    close: (graceMs) => loop.close(graceMs),
  };
}

async function startOnManual(options: ServeOptions): Promise<Running> {
  if (options.tls) throw new CliUsageError("--loop manual serves plain ws:// only; use --loop node for TLS");
  const server = await startManualServer(
    {
      logger: { level: options.logLevel ?? "notice" },
      vhosts: [{ name: "default", protocols: options.protocols, ...(options.defaultProtocol ? { defaultProtocol: options.defaultProtocol } : {}) }],
    },
    options.port,
    options.host,
  );
  return {
    url: urlOf(server.host, server.port, false),
    logNotice: (m) => server.context.logger.notice(m),
    close: (graceMs) => server.close(graceMs),
  };
}

async function startOnRx(options: ServeOptions): Promise<Running> {
  if (!options.rxEcho) throw new CliUsageError(`--loop rx runs the echo server only; "${options.title}" runs on --loop node`);
  // rxjs is an optional peer dependency: load the rx loop only when asked for.
  let rx: typeof import("../loops/rx/index.js");
  try {
    rx = await import("../loops/rx/index.js");
  } catch (error) {
    throw new CliUsageError(`--loop rx needs the rxjs package (npm install rxjs): ${(error as Error).message}`);
  }
  const server = await rx.startRxEchoServer({
    port: options.port,
    host: options.host,
    maxMessageSize: options.rxEcho.maxMessageSize,
    deflate: options.rxEcho.deflate,
    ...(options.tls?.cert && options.tls.key ? { tls: { cert: options.tls.cert, key: options.tls.key } } : {}),
    ...(options.logLevel ? { logLevel: options.logLevel } : {}),
  });
  return {
    url: server.url,
    logNotice: (m) => server.loop.context.logger.notice(m),
    close: (graceMs) => server.close(graceMs),
  };
}
