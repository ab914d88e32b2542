/**
 * Protocol plugins (lwsws's protocol plugins): a module that exports a protocol
 * definition maker. The config names modules to load; a vhost's `ws-protocols` entry
 * picks a protocol by name and passes its per-vhost options (lws's pvos) to `create`.
 *
 * A plugin module exports `plugin` (one), `plugins` (several) or a default export of
 * either. The demo protocols (src/demo) are built-in plugins written the same way.
 */
import type { ProtocolDefinition } from "../poll/protocol.js";

/** A per-vhost option value, as the config's JSON has it. */
export type PluginOptionValue = string | number | boolean | null;
export type PluginOptions = Readonly<Record<string, PluginOptionValue>>;

export interface ProtocolPlugin {
  /** The protocol's name: what `ws-protocols` and `callback://NAME` mounts refer to. */
  name: string;
  /** One line for `wsloop serve --help` style listings and the logs. */
  description?: string;
  /**
   * Make the protocol for one vhost. Called once per vhost that lists it, with that
   * vhost's options. Throw a PluginOptionError to reject an option (reported with its
   * path in the config).
   */
  // Each protocol's user data differs; the server only passes definitions through.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  create(options: PluginOptions): ProtocolDefinition<any>;
}

/** Thrown by `create` for an option it cannot use: `option` is its key, `expected` says what would do. */
export class PluginOptionError extends Error {
  override name = "PluginOptionError";
  constructor(
    readonly option: string,
    readonly expected: string,
  ) {
    super(`${option}: expected ${expected}`);
  }
}

/** Identity function that checks a plugin's shape at compile time. */
export function definePlugin(plugin: ProtocolPlugin): ProtocolPlugin {
  return plugin;
}

/** A whole number option, or `fallback` when absent. Numeric strings are taken, as lwsws writes them. */
export function intOption(options: PluginOptions, key: string, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const value = options[key];
  if (value === undefined || value === null) return fallback;
  const n = typeof value === "string" && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof n !== "number" || !Number.isInteger(n) || n < min || n > max) {
    throw new PluginOptionError(key, `a whole number from ${min} to ${max}`);
  }
  return n;
}

/** A boolean option (true / false, or lwsws's "1" / "0"). */
export function boolOption(options: PluginOptions, key: string, fallback: boolean): boolean {
  const value = options[key];
  if (value === undefined || value === null) return fallback;
  if (value === true || value === "1" || value === 1) return true;
  if (value === false || value === "0" || value === 0) return false;
  throw new PluginOptionError(key, `true or false`);
}

/** What a loaded module offers, or null when it exports no plugin. */
export function pluginsOfModule(module: Record<string, unknown>): ProtocolPlugin[] | null {
  const candidates = [module["plugins"], module["plugin"], module["default"]];
  for (const candidate of candidates) {
    if (candidate === undefined) continue;
    const list = Array.isArray(candidate) ? candidate : [candidate];
    if (list.length > 0 && list.every(isPlugin)) return list as ProtocolPlugin[];
  }
  return null;
}

function isPlugin(value: unknown): value is ProtocolPlugin {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as ProtocolPlugin).name === "string" &&
    (value as ProtocolPlugin).name !== "" &&
    typeof (value as ProtocolPlugin).create === "function"
  );
}
