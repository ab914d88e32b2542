/**
 * Running a checked config: plugins loaded, protocols made per vhost with their
 * options, one NodeLoop listening for every vhost, an optional access log, and a
 * graceful stop. `startServer` starts nothing when anything is wrong: the problems
 * come back as a ConfigError with their JSON paths.
 */
import { createWriteStream, type WriteStream } from "node:fs";
import { resolve } from "node:path";
import { NodeLoop } from "../loops/node/node-loop.js";
import type { BoundAddress } from "../loops/node/listeners.js";
import type { LogEmitter } from "../poll/logger.js";
import type { ProtocolDefinition } from "../poll/protocol.js";
import type { VhostDefinition } from "../poll/vhost.js";
import { ConfigError, type ConfigIssue, type ServerConfig } from "./config.js";
import { PluginOptionError } from "./plugin.js";
import { loadPlugins } from "./plugins.js";

export interface StartOptions {
  /** Names the config in errors. */
  file?: string;
  /** Where log lines go (default: stderr, "[wsloop LEVEL] message"). */
  emit?: LogEmitter;
  /** Overrides global.log-level. */
  logLevel?: ServerConfig["global"]["logLevel"];
}

export interface RunningServer {
  loop: NodeLoop;
  addresses: readonly BoundAddress[];
  /** http(s):// URL of each listener, in vhost order. */
  urls: string[];
  /** Close every connection with 1001, wait up to graceMs (default: the config's), stop. */
  close(graceMs?: number): Promise<void>;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyProtocol = ProtocolDefinition<any>;

export async function startServer(config: ServerConfig, options: StartOptions = {}): Promise<RunningServer> {
  const file = options.file ?? "config";
  const issues: ConfigIssue[] = [];
  const plugins = await loadPlugins(config.global.plugins, config.global.baseDir, issues);
  const logs = new Map<string, WriteStream | NodeJS.WriteStream>();
  const logTo = (target: string | null) => {
    if (target === null) return null;
    const key = target === "-" ? "-" : resolve(config.global.baseDir, target);
    let stream = logs.get(key);
    if (!stream) {
      stream = key === "-" ? process.stdout : createWriteStream(key, { flags: "a" });
      logs.set(key, stream);
    }
    return stream;
  };

  const vhosts: VhostDefinition[] = [];
  for (const vhost of config.vhosts) {
    const protocols: AnyProtocol[] = [];
    const choices = vhost.protocols.length > 0 ? vhost.protocols : [{ name: "http-only", options: {}, path: `${vhost.path}.ws-protocols` }];
    for (const choice of choices) {
      const plugin = plugins.get(choice.name);
      if (!plugin) {
        issues.push({ path: choice.path, expected: `the name of a built-in protocol or one a plugin provides (${[...plugins.keys()].join(", ")}); "${choice.name}" is neither` });
        continue;
      }
      try {
        protocols.push(plugin.create(choice.options));
      } catch (error) {
        if (error instanceof PluginOptionError) issues.push({ path: `${choice.path}.${error.option}`, expected: error.expected });
        else issues.push({ path: choice.path, expected: `options "${choice.name}" accepts: ${(error as Error).message}` });
      }
    }
    if (protocols.length !== choices.length) continue;
    const accessLog = logTo(vhost.accessLog ?? config.global.accessLog);
    vhosts.push({
      name: vhost.name,
      protocols: accessLog ? protocols.map((p) => withAccessLog(p, vhost.name, accessLog)) : protocols,
      ...(vhost.defaultProtocol ? { defaultProtocol: vhost.defaultProtocol } : {}),
      mounts: vhost.mounts,
      ...(vhost.errorDocument404 ? { errorDocument404: vhost.errorDocument404 } : {}),
      ...(vhost.keepAliveMs !== null ? { timeouts: { keepAliveMs: vhost.keepAliveMs } } : {}),
      listen: {
        port: vhost.port,
        ...(vhost.host !== undefined ? { host: vhost.host } : {}),
        ...(vhost.tls ? { tls: { certFile: vhost.tls.certFile, keyFile: vhost.tls.keyFile, ...(vhost.tls.caFile ? { caFile: vhost.tls.caFile } : {}) } } : {}),
      },
    });
  }
  const closeLogs = () => {
    for (const stream of logs.values()) if (stream !== process.stdout) stream.end();
  };
  if (issues.length > 0) {
    closeLogs();
    throw new ConfigError(file, issues);
  }

  let loop: NodeLoop;
  try {
    loop = new NodeLoop({
      logger: { level: options.logLevel ?? config.global.logLevel, ...(options.emit ? { emit: options.emit } : {}) },
      vhosts,
      ...(config.global.maxConnections !== null ? { maxConnections: config.global.maxConnections } : {}),
    });
  } catch (error) {
    closeLogs();
    throw error;
  }
  let addresses: BoundAddress[];
  try {
    addresses = await loop.listen();
  } catch (error) {
    await loop.close(0);
    closeLogs();
    throw error;
  }
  const urls = addresses.map((a) => `${a.tls ? "https" : "http"}://${a.host.includes(":") ? `[${a.host}]` : a.host}:${a.port}/`);
  for (const [i, a] of addresses.entries()) {
    loop.context.logger.info(`listener ${urls[i]} serves vhosts ${a.vhosts.join(", ")}`);
  }
  return {
    loop,
    addresses,
    urls,
    async close(graceMs = config.global.shutdownGraceMs) {
      await loop.close(graceMs);
      closeLogs();
    },
  };
}

/**
 * The access log: one line per HTTP request and per WebSocket connection, written when
 * it is seen (FILTER_HTTP_CONNECTION / ESTABLISHED), so without the response's status —
 * the context has no hook at a transaction's end yet.
 */
function withAccessLog(protocol: AnyProtocol, vhost: string, out: NodeJS.WritableStream): AnyProtocol {
  return {
    ...protocol,
    callback(event) {
      if (event.reason === "FILTER_HTTP_CONNECTION" || event.reason === "ESTABLISHED") {
        const c = event.connection;
        const peer = c.peer ? c.peer.address : "-";
        const line =
          event.reason === "ESTABLISHED"
            ? `"GET ${c.path} websocket ${protocol.name}"`
            : `"${event.method} ${event.path}${event.query ? `?${event.query}` : ""} HTTP/${event.version}"`;
        const ua = c.headers?.get("user-agent");
        out.write(`${peer} ${vhost} [${new Date().toISOString()}] ${line} "${ua ?? "-"}"\n`);
      }
      return protocol.callback(event);
    },
  };
}
