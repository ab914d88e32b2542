/**
 * The server's JSON config, modelled on lwsws's (see docs/server.md): a global section
 * and vhosts with their listen address, TLS files, mounts, ws-protocols (with per-vhost
 * options and the default), keepalive timeout and error pages.
 *
 * `parseConfig` checks everything it can without loading plugins and reports every
 * problem with the JSON path of the offending value and what was expected; nothing is
 * started from a config that has one.
 */
import { accessSync, constants, statSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { logLevels, type LogLevel } from "../poll/logger.js";
import type { MountDefinition } from "../poll/mount.js";
import type { PluginOptions, PluginOptionValue } from "./plugin.js";

export interface ConfigIssue {
  /** JSON path of the offending value, e.g. `vhosts[0].mounts[1].origin`. */
  path: string;
  /** What was expected there (and, where it helps, what was found). */
  expected: string;
}

export class ConfigError extends Error {
  override name = "ConfigError";
  constructor(
    readonly file: string,
    readonly issues: readonly ConfigIssue[],
  ) {
    super(`${file}: ${issues.length === 1 ? "1 problem" : `${issues.length} problems`}\n${issues.map((i) => `  ${i.path}: expected ${i.expected}`).join("\n")}`);
  }
}

export interface GlobalConfig {
  logLevel: LogLevel;
  /** Plugin module specifiers as written; `pluginBase` resolves relative ones. */
  plugins: string[];
  /** Directory relative plugin paths and files are resolved against (the config file's). */
  baseDir: string;
  /** Bounded wait for close handshakes at shutdown, ms. */
  shutdownGraceMs: number;
  /** Access log for every vhost without its own: a file path, or "-" for stdout. */
  accessLog: string | null;
  maxConnections: number | null;
}

export interface ProtocolChoice {
  name: string;
  options: PluginOptions;
  /** JSON path of this entry, for errors found later (unknown name, bad option). */
  path: string;
}

export interface VhostConfig {
  name: string;
  port: number;
  host: string | undefined;
  tls: { certFile: string; keyFile: string; caFile?: string } | null;
  mounts: MountDefinition[];
  protocols: ProtocolChoice[];
  defaultProtocol: string | null;
  keepAliveMs: number | null;
  errorDocument404: string | null;
  accessLog: string | null;
  /** JSON path of the vhost. */
  path: string;
}

export interface ServerConfig {
  global: GlobalConfig;
  vhosts: VhostConfig[];
}

const MOUNT_ORIGIN = `a string like "file:///var/www" or "callback://protocol"`;

type Json = unknown;

class Checker {
  readonly issues: ConfigIssue[] = [];
  constructor(readonly baseDir: string) {}

  fail(path: string, expected: string): undefined {
    this.issues.push({ path, expected });
    return undefined;
  }

  object(value: Json, path: string, known: readonly string[]): Record<string, Json> | undefined {
    if (typeof value !== "object" || value === null || Array.isArray(value)) return this.fail(path, `an object, got ${describe(value)}`);
    const record = value as Record<string, Json>;
    for (const key of Object.keys(record)) {
      if (!known.includes(key)) this.fail(join(path === "(root)" ? "" : path, key), `one of the keys ${known.map((k) => `"${k}"`).join(", ")} (unknown key)`);
    }
    return record;
  }

  string(value: Json, path: string, what = "a string"): string | undefined {
    if (typeof value !== "string" || value === "") return this.fail(path, `${what}, got ${describe(value)}`);
    return value;
  }

  /** A whole number; lwsws writes numbers as strings, so "7681" is taken too. */
  int(value: Json, path: string, min: number, max: number, what?: string): number | undefined {
    const n = typeof value === "string" && /^\d+$/.test(value) ? Number(value) : value;
    if (typeof n !== "number" || !Number.isInteger(n) || n < min || n > max) {
      return this.fail(path, `${what ?? `a whole number from ${min} to ${max}`}, got ${describe(value)}`);
    }
    return n;
  }

  bool(value: Json, path: string): boolean | undefined {
    if (value === true || value === "1" || value === 1) return true;
    if (value === false || value === "0" || value === 0) return false;
    return this.fail(path, `true or false, got ${describe(value)}`);
  }

  readableFile(value: Json, path: string, what: string): string | undefined {
    const name = this.string(value, path, `the path of ${what}`);
    if (name === undefined) return undefined;
    const full = resolve(this.baseDir, name);
    try {
      accessSync(full, constants.R_OK);
      if (!statSync(full).isFile()) return this.fail(path, `${what}, but "${full}" is not a file`);
    } catch (error) {
      return this.fail(path, `${what}, but "${full}" cannot be read (${(error as NodeJS.ErrnoException).code ?? "error"})`);
    }
    return full;
  }
}

function join(path: string, key: string): string {
  return /^[A-Za-z_][A-Za-z0-9_-]*$/.test(key) ? (path ? `${path}.${key}` : key) : `${path}[${JSON.stringify(key)}]`;
}

function describe(value: Json): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  const text = JSON.stringify(value);
  return `${typeof value} ${text.length > 40 ? `${text.slice(0, 37)}...` : text}`;
}

/** Parse the text of a config file. `file` names it in errors and sets the base directory. */
export function parseConfigText(text: string, file: string): ServerConfig {
  let json: Json;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(file, [{ path: "(file)", expected: `valid JSON: ${(error as Error).message}` }]);
  }
  return parseConfig(json, file, resolve(file, ".."));
}

const GLOBAL_KEYS = ["log-level", "plugins", "shutdown-grace-ms", "access-log", "max-connections"] as const;
const VHOST_KEYS = [
  "name",
  "port",
  "interface",
  "host-ssl-cert",
  "host-ssl-key",
  "host-ssl-ca",
  "mounts",
  "ws-protocols",
  "keepalive_timeout",
  "error-document-404",
  "access-log",
] as const;
const MOUNT_KEYS = [
  "mountpoint",
  "origin",
  "default",
  "cache-max-age",
  "cache-reuse",
  "cache-revalidate",
  "cache-intermediaries",
  "extra-mimetypes",
  "precompressed",
  "redirect-status",
] as const;

/** Check a parsed JSON config. Throws ConfigError listing every problem. */
export function parseConfig(json: Json, file: string, baseDir: string): ServerConfig {
  const c = new Checker(baseDir);
  const root = c.object(json, "(root)", ["global", "vhosts"]);
  const global: GlobalConfig = { logLevel: "notice", plugins: [], baseDir, shutdownGraceMs: 3000, accessLog: null, maxConnections: null };
  const vhosts: VhostConfig[] = [];
  if (root) {
    if (root["global"] !== undefined) parseGlobal(c, root["global"], global);
    const list = root["vhosts"];
    if (!Array.isArray(list) || list.length === 0) c.fail("vhosts", `an array of at least one vhost, got ${describe(list)}`);
    else list.forEach((v, i) => {
      const vhost = parseVhost(c, v, `vhosts[${i}]`);
      if (vhost) vhosts.push(vhost);
    });
    const names = new Map<string, string>();
    for (const vhost of vhosts) {
      const first = names.get(vhost.name);
      if (first) c.fail(`${vhost.path}.name`, `a name no other vhost has ("${vhost.name}" is also ${first}.name)`);
      else names.set(vhost.name, vhost.path);
    }
  }
  if (c.issues.length > 0) throw new ConfigError(file, c.issues);
  return { global, vhosts };
}

function parseGlobal(c: Checker, value: Json, out: GlobalConfig): void {
  const g = c.object(value, "global", GLOBAL_KEYS);
  if (!g) return;
  if (g["log-level"] !== undefined) {
    const level = g["log-level"];
    if (typeof level === "string" && (logLevels as readonly string[]).includes(level)) out.logLevel = level as LogLevel;
    else c.fail("global.log-level", `one of ${logLevels.map((l) => `"${l}"`).join(", ")}, got ${describe(level)}`);
  }
  if (g["plugins"] !== undefined) {
    const plugins = g["plugins"];
    if (!Array.isArray(plugins)) c.fail("global.plugins", `an array of module paths or package names, got ${describe(plugins)}`);
    else plugins.forEach((p, i) => {
      const s = c.string(p, `global.plugins[${i}]`, `a module path (relative to the config file) or a package name`);
      if (s !== undefined) out.plugins.push(s);
    });
  }
  if (g["shutdown-grace-ms"] !== undefined) out.shutdownGraceMs = c.int(g["shutdown-grace-ms"], "global.shutdown-grace-ms", 0, 600_000) ?? out.shutdownGraceMs;
  if (g["access-log"] !== undefined) out.accessLog = c.string(g["access-log"], "global.access-log", `a file path, or "-" for stdout`) ?? null;
  if (g["max-connections"] !== undefined) out.maxConnections = c.int(g["max-connections"], "global.max-connections", 1, 1_000_000) ?? null;
}

function parseVhost(c: Checker, value: Json, path: string): VhostConfig | undefined {
  const v = c.object(value, path, VHOST_KEYS);
  if (!v) return undefined;
  const before = c.issues.length;
  const name = c.string(v["name"], `${path}.name`, `a vhost name (a host name such as "localhost")`);
  const port = c.int(v["port"], `${path}.port`, 0, 65535, "a port number from 0 to 65535");
  let host: string | undefined;
  if (v["interface"] !== undefined) host = c.string(v["interface"], `${path}.interface`, `an address to listen on, like "127.0.0.1" or "::"`);
  let tls: VhostConfig["tls"] = null;
  const cert = v["host-ssl-cert"];
  const key = v["host-ssl-key"];
  if (cert !== undefined || key !== undefined) {
    if (cert === undefined) c.fail(`${path}.host-ssl-cert`, `a certificate file, since host-ssl-key is given`);
    if (key === undefined) c.fail(`${path}.host-ssl-key`, `a private key file, since host-ssl-cert is given`);
    const certFile = cert === undefined ? undefined : c.readableFile(cert, `${path}.host-ssl-cert`, "a PEM certificate file");
    const keyFile = key === undefined ? undefined : c.readableFile(key, `${path}.host-ssl-key`, "a PEM private key file");
    const caFile = v["host-ssl-ca"] === undefined ? undefined : c.readableFile(v["host-ssl-ca"], `${path}.host-ssl-ca`, "a PEM CA file");
    if (certFile && keyFile) tls = { certFile, keyFile, ...(caFile ? { caFile } : {}) };
  } else if (v["host-ssl-ca"] !== undefined) {
    c.fail(`${path}.host-ssl-ca`, `nothing without host-ssl-cert and host-ssl-key (client certificates need TLS)`);
  }

  const protocols: ProtocolChoice[] = [];
  let defaultProtocol: string | null = null;
  const wsp = v["ws-protocols"];
  if (wsp !== undefined) {
    if (!Array.isArray(wsp)) c.fail(`${path}.ws-protocols`, `an array of { "protocol-name": { options } }, got ${describe(wsp)}`);
    else wsp.forEach((entry, i) => {
      const at = `${path}.ws-protocols[${i}]`;
      if (typeof entry !== "object" || entry === null || Array.isArray(entry) || Object.keys(entry).length !== 1) {
        c.fail(at, `an object with one key, the protocol's name: { "dumb-increment-protocol": { "default": true } }, got ${describe(entry)}`);
        return;
      }
      const [pname, raw] = Object.entries(entry as Record<string, Json>)[0]!;
      const pat = join(at, pname);
      if (protocols.some((p) => p.name === pname)) c.fail(pat, `each protocol once per vhost ("${pname}" is listed twice)`);
      if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
        c.fail(pat, `an object of options (may be {}), got ${describe(raw)}`);
        return;
      }
      const options: Record<string, PluginOptionValue> = {};
      for (const [k, o] of Object.entries(raw as Record<string, Json>)) {
        if (k === "default") {
          if (c.bool(o, join(pat, k)) === true) {
            if (defaultProtocol !== null) c.fail(join(pat, k), `one default protocol per vhost ("${defaultProtocol}" is already the default)`);
            else defaultProtocol = pname;
          }
        } else if (k === "status") {
          if (o !== "ok") c.fail(join(pat, k), `"ok" (lwsws's only status), got ${describe(o)}`);
        } else if (o === null || ["string", "number", "boolean"].includes(typeof o)) {
          options[k] = o as PluginOptionValue;
        } else c.fail(join(pat, k), `a string, number, boolean or null option value, got ${describe(o)}`);
      }
      protocols.push({ name: pname, options, path: pat });
    });
  }

  const mounts: MountDefinition[] = [];
  const ms = v["mounts"];
  if (ms !== undefined) {
    if (!Array.isArray(ms)) c.fail(`${path}.mounts`, `an array of mounts, got ${describe(ms)}`);
    else ms.forEach((m, i) => {
      const mount = parseMount(c, m, `${path}.mounts[${i}]`, protocols);
      if (!mount) return;
      if (mounts.some((other) => other.mountpoint.replace(/\/$/, "") === mount.mountpoint.replace(/\/$/, ""))) {
        c.fail(`${path}.mounts[${i}].mountpoint`, `a mountpoint no other mount of the vhost has ("${mount.mountpoint}" is taken)`);
        return;
      }
      mounts.push(mount);
    });
  }

  let keepAliveMs: number | null = null;
  if (v["keepalive_timeout"] !== undefined) {
    const s = c.int(v["keepalive_timeout"], `${path}.keepalive_timeout`, 0, 86_400, "seconds, a whole number from 0 (forever) to 86400");
    if (s !== undefined) keepAliveMs = s * 1000;
  }
  let errorDocument404: string | null = null;
  if (v["error-document-404"] !== undefined) {
    const doc = c.string(v["error-document-404"], `${path}.error-document-404`, `a path in the vhost's URL space, like "/404.html"`);
    if (doc !== undefined && !doc.startsWith("/")) c.fail(`${path}.error-document-404`, `a path starting with "/", like "/404.html", got ${describe(doc)}`);
    else if (doc !== undefined) {
      if (!mounts.some((m) => m.kind === "file")) c.fail(`${path}.error-document-404`, `a vhost with a file:// mount to serve it from`);
      errorDocument404 = doc;
    }
  }
  let accessLog: string | null = null;
  if (v["access-log"] !== undefined) accessLog = c.string(v["access-log"], `${path}.access-log`, `a file path, or "-" for stdout`) ?? null;

  if (c.issues.length > before || name === undefined || port === undefined) return undefined;
  return { name, port, host, tls, mounts, protocols, defaultProtocol, keepAliveMs, errorDocument404, accessLog, path };
}

function parseMount(c: Checker, value: Json, path: string, protocols: readonly ProtocolChoice[]): MountDefinition | undefined {
  const m = c.object(value, path, MOUNT_KEYS);
  if (!m) return undefined;
  const before = c.issues.length;
  const mountpoint = c.string(m["mountpoint"], `${path}.mountpoint`, `a path starting with "/", like "/" or "/docs"`);
  if (mountpoint !== undefined && !mountpoint.startsWith("/")) c.fail(`${path}.mountpoint`, `a path starting with "/", like "/" or "/docs", got ${describe(mountpoint)}`);
  const origin = m["origin"];
  const parsed = typeof origin === "string" ? /^(file|callback|>http|>https):\/\/(.*)$/.exec(origin) : null;
  if (!parsed || parsed[2] === "") {
    c.fail(`${path}.origin`, `${MOUNT_ORIGIN}${typeof origin === "string" && origin !== "" ? ` (or ">https://host/path" for a redirect), got ${describe(origin)}` : `, got ${describe(origin)}`}`);
    return undefined;
  }
  const [, scheme, rest] = parsed as unknown as [string, string, string];
  const kindOnly = (key: string, kinds: string) => {
    if (m[key] !== undefined) c.fail(join(path, key), `nothing: "${key}" applies to ${kinds} mounts only`);
  };
  if (scheme !== "file") for (const k of ["default", "cache-max-age", "cache-reuse", "cache-revalidate", "cache-intermediaries", "extra-mimetypes", "precompressed"]) kindOnly(k, "file://");
  if (scheme !== ">http" && scheme !== ">https") kindOnly("redirect-status", "redirect (>http://, >https://)");
  let mount: MountDefinition | undefined;
  switch (scheme) {
    case "file": {
      let dir: string;
      try {
        dir = origin!.toString().startsWith("file:///") ? fileURLToPath(origin as string) : resolve(c.baseDir, rest);
      } catch {
        c.fail(`${path}.origin`, `${MOUNT_ORIGIN}, got ${describe(origin)}`);
        return undefined;
      }
      if (!isAbsolute(dir)) dir = resolve(c.baseDir, dir);
      try {
        if (!statSync(dir).isDirectory()) c.fail(`${path}.origin`, `a directory, but "${dir}" is not one`);
      } catch {
        c.fail(`${path}.origin`, `an existing directory, but "${dir}" does not exist`);
      }
      const file: MountDefinition = { mountpoint: mountpoint ?? "/", kind: "file", origin: dir };
      if (m["default"] !== undefined) {
        const d = c.string(m["default"], `${path}.default`, `a file name like "index.html"`);
        if (d !== undefined && /[/\\]/.test(d)) c.fail(`${path}.default`, `a file name without "/", like "index.html", got ${describe(d)}`);
        else if (d !== undefined) file.defaultFile = d;
      }
      if (m["cache-max-age"] !== undefined) {
        const age = c.int(m["cache-max-age"], `${path}.cache-max-age`, 0, 31_536_000, "seconds, a whole number from 0 to 31536000");
        if (age !== undefined) file.cacheMaxAge = age;
      }
      const flag = (key: string, set: (b: boolean) => void) => {
        if (m[key] === undefined) return;
        const b = c.bool(m[key], join(path, key));
        if (b !== undefined) set(b);
      };
      flag("cache-reuse", (b) => (file.cacheReusable = b));
      flag("cache-revalidate", (b) => (file.cacheRevalidate = b));
      flag("cache-intermediaries", (b) => (file.cacheIntermediaries = b));
      flag("precompressed", (b) => (file.precompressed = b));
      const extra = m["extra-mimetypes"];
      if (extra !== undefined) {
        const types =
          typeof extra === "object" && extra !== null && !Array.isArray(extra)
            ? (extra as Record<string, Json>)
            : c.fail(`${path}.extra-mimetypes`, `an object of extension → content type, like { ".zip": "application/zip" }, got ${describe(extra)}`);
        if (types) {
          const table: Record<string, string> = {};
          for (const [ext, type] of Object.entries(types)) {
            const t = c.string(type, join(`${path}.extra-mimetypes`, ext), `a content type like "application/zip"`);
            if (t !== undefined) table[ext.replace(/^\./, "")] = t;
          }
          file.mimeTypes = table;
        }
      }
      mount = file;
      break;
    }
    case "callback": {
      if (!protocols.some((p) => p.name === rest)) {
        c.fail(`${path}.origin`, `a protocol listed in the vhost's ws-protocols ("${rest}" is not)`);
      }
      mount = { mountpoint: mountpoint ?? "/", kind: "callback", origin: rest };
      break;
    }
    default: {
      if (/\s/.test(rest)) c.fail(`${path}.origin`, `a redirect target without spaces, like ">https://example.com/new", got ${describe(origin)}`);
      const redirect: MountDefinition = { mountpoint: mountpoint ?? "/", kind: scheme === ">http" ? "redirect-http" : "redirect-https", origin: rest };
      if (m["redirect-status"] !== undefined) {
        const s = m["redirect-status"];
        if ([301, 302, 303, 307, 308].includes(s as number)) redirect.status = s as 301;
        else c.fail(`${path}.redirect-status`, `one of 301, 302, 303, 307, 308, got ${describe(s)}`);
      }
      mount = redirect;
    }
  }
  return c.issues.length > before ? undefined : mount;
}
