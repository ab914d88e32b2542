/**
 * `wsloop serve [--config FILE] [DIR]` and `wsloop demo`: start, print the URL, stop
 * gracefully on SIGINT / SIGTERM (1001 to every client, bounded wait, exit 0).
 * Returns the exit code to use now, or -1 while serving.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { CliUsageError, intOption } from "../cli/args.js";
import { logLevels, type LogLevel } from "../poll/logger.js";
import { ConfigError, parseConfigText, type ServerConfig } from "./config.js";
import { demoConfig } from "./demo-config.js";
import { startServer } from "./server.js";

export async function serveCommand(args: string[], title: "serve" | "demo"): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      config: { type: "string" },
      port: { type: "string" },
      host: { type: "string" },
      "log-level": { type: "string" },
      "access-log": { type: "string" },
    },
    allowPositionals: title === "serve",
    strict: true,
  });
  if (positionals.length > 1) throw new CliUsageError("serve takes at most one DIR");
  const level = values["log-level"];
  if (level !== undefined && !(logLevels as readonly string[]).includes(level)) {
    throw new CliUsageError(`--log-level must be one of ${logLevels.join(", ")}, got "${level}"`);
  }
  let config: ServerConfig;
  let file = "(built-in demo config)";
  try {
    if (values.config !== undefined) {
      if (title === "demo") throw new CliUsageError("demo takes no --config: use wsloop serve --config FILE");
      if (positionals.length || values.port !== undefined || values.host !== undefined || values["access-log"] !== undefined) {
        throw new CliUsageError("with --config, DIR, --port, --host and --access-log come from the config file");
      }
      file = values.config;
      let text: string;
      try {
        text = readFileSync(file, "utf8");
      } catch (error) {
        throw new CliUsageError(`cannot read the config "${file}": ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
      }
      config = parseConfigText(text, file);
    } else {
      config = demoConfig({
        host: values.host ?? "127.0.0.1",
        port: intOption(values.port, "port", 7681, 0, 65535),
        ...(positionals[0] !== undefined ? { dir: positionals[0] } : {}),
        ...(values["access-log"] !== undefined ? { accessLog: values["access-log"] } : {}),
      });
    }
    const running = await startServer(config, { file, ...(level ? { logLevel: level as LogLevel } : {}) });
    const protocols = config.vhosts.map((v) => v.protocols.map((p) => p.name).join(", ")).join("; ");
    for (const [i, address] of running.addresses.entries()) {
      const url = running.urls[i]!;
      process.stdout.write(
        `wsloop ${title}: open ${url} (listening on ${url.replace(/^http/, "ws")}, vhosts: ${address.vhosts.join(", ")}; protocols: ${protocols})\n`,
      );
    }
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      running.loop.context.logger.notice(`${signal}: closing every connection with 1001 and stopping`);
      running.close().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    };
    process.once("SIGINT", () => stop("SIGINT"));
    process.once("SIGTERM", () => stop("SIGTERM"));
    return -1;
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`wsloop: bad config ${error.message}\nnothing was started\n`);
      return 2;
    }
    throw error;
  }
}
