/**
 * The wsloop command line: `wsloop echo`, `wsloop client`, `wsloop serve`, `wsloop demo`.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { echoProtocol } from "../demo/echo-protocol.js";
import { CliUsageError, intOption, loopOption } from "./args.js";
import { serveProtocols } from "./serve-protocols.js";

const usageText = `usage:
  wsloop echo   [--port N] [--host H] [--loop node|rx|manual] [--max-message BYTES] [--deflate] [--tls-cert F --tls-key F]
  wsloop client URL [--protocol NAME] [--wait MS]
  wsloop serve  [--config FILE] [--port N] [--host H] [--log-level L] [--access-log FILE] [DIR]
                without --config: DIR (default: the bundled demo page) and the demo protocols
                on 127.0.0.1:7681; with it: exactly what the config says (docs/server.md)
  wsloop demo   [--port N] [--host H]          (= serve with no config; what \`npm start\` runs)
`;

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case "echo":
        await echo(rest);
        return -1; // keep running
      // Each command loads what it needs: an echo server's process holds neither the HTTP
      // server (its plugins, mounts, MIME table) nor the client (a larger heap changes how
      // V8 schedules GC, and the rx echo's 1 MiB figure with it; docs/performance.md).
      case "serve":
        return await (await import("../serve/command.js")).serveCommand(rest, "serve");
      case "demo":
        return await (await import("../serve/command.js")).serveCommand(rest, "demo");
      case "client":
        return await client(rest);
      case undefined:
      case "help":
      case "--help":
      case "-h":
        process.stdout.write(usageText);
        return command === undefined ? 2 : 0;
      default:
        throw new CliUsageError(`unknown command "${command}"`);
    }
  } catch (error) {
    if (error instanceof CliUsageError || (error as { name?: string }).name === "TypeError") {
      process.stderr.write(`wsloop: ${(error as Error).message}\n${usageText}`);
      return 2;
    }
    process.stderr.write(`wsloop: ${(error as Error).message}\n`);
    return 1;
  }
}

async function echo(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      port: { type: "string" },
      host: { type: "string" },
      loop: { type: "string" },
      "max-message": { type: "string" },
      "tls-cert": { type: "string" },
      "tls-key": { type: "string" },
      deflate: { type: "boolean" },
    },
    strict: true,
  });
  const certFile = values["tls-cert"];
  const keyFile = values["tls-key"];
  if (Boolean(certFile) !== Boolean(keyFile)) throw new CliUsageError("--tls-cert and --tls-key go together");
  const maxMessageSize = intOption(values["max-message"], "max-message", 16 * 1024 * 1024, 1);
  await serveProtocols({
    title: "wsloop echo",
    host: values.host ?? "127.0.0.1",
    port: intOption(values.port, "port", 7681, 0, 65535),
    loop: loopOption(values.loop),
    protocols: [echoProtocol({ maxMessageSize, deflate: values.deflate ?? false })],
    rxEcho: { maxMessageSize, deflate: values.deflate ?? false },
    ...(certFile && keyFile ? { tls: { cert: readPem(certFile, "certificate"), key: readPem(keyFile, "key") } } : {}),
  });
}

async function client(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: { protocol: { type: "string" }, wait: { type: "string" } },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length !== 1) throw new CliUsageError("client takes exactly one URL");
  const { runClient } = await import("./client-command.js");
  return runClient({
    url: positionals[0]!,
    ...(values.protocol ? { protocol: values.protocol } : {}),
    waitMs: intOption(values.wait, "wait", 5000, 0),
  });
}

function readPem(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new Error(`cannot read the TLS ${what} "${file}": ${code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : (error as Error).message}`);
  }
}
