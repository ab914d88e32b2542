/**
 * Loading the plugin modules a config names: a path (relative to the config file, or
 * absolute) or a package name, resolved as `import()` from the config's directory would.
 */
import { createRequire } from "node:module";
import { isAbsolute, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { builtinPlugins } from "./builtins.js";
import type { ConfigIssue } from "./config.js";
import { pluginsOfModule, type ProtocolPlugin } from "./plugin.js";

/** Every plugin by name: the built-ins, then those of the modules (which may not reuse a name). */
export async function loadPlugins(specifiers: readonly string[], baseDir: string, issues: ConfigIssue[]): Promise<Map<string, ProtocolPlugin>> {
  const byName = new Map<string, ProtocolPlugin>(builtinPlugins.map((p) => [p.name, p]));
  for (const [i, specifier] of specifiers.entries()) {
    const path = `global.plugins[${i}]`;
    let url: string;
    try {
      url = resolveSpecifier(specifier, baseDir);
    } catch {
      issues.push({ path, expected: `a module that exists: "${specifier}" is neither a file (from ${baseDir}) nor an installed package` });
      continue;
    }
    let module: Record<string, unknown>;
    try {
      module = (await import(url)) as Record<string, unknown>;
    } catch (error) {
      issues.push({ path, expected: `a module that loads: "${specifier}" failed with ${(error as Error).message.split("\n")[0]}` });
      continue;
    }
    const plugins = pluginsOfModule(module);
    if (!plugins) {
      issues.push({ path, expected: `a module exporting a protocol plugin ({ name, create(options) }) as plugin, plugins or default: "${specifier}" exports none` });
      continue;
    }
    for (const plugin of plugins) {
      if (byName.has(plugin.name)) issues.push({ path, expected: `plugins with new names: "${specifier}" provides "${plugin.name}", which is already loaded` });
      else byName.set(plugin.name, plugin);
    }
  }
  return byName;
}

function resolveSpecifier(specifier: string, baseDir: string): string {
  if (specifier.startsWith(".") || isAbsolute(specifier)) {
    const file = resolve(baseDir, specifier);
    createRequire(join(baseDir, "noop.js")).resolve(file); // throws when missing
    return pathToFileURL(file).href;
  }
  // A package name: resolved from the config's directory (its node_modules, then up).
  try {
    return pathToFileURL(createRequire(join(baseDir, "noop.js")).resolve(specifier)).href;
  } catch (error) {
    // An ESM-only package (exports with "import" only) cannot be resolved by require:
    // let import() resolve it (from wsloop's own node_modules and up).
    if ((error as NodeJS.ErrnoException).code === "ERR_PACKAGE_PATH_NOT_EXPORTED") return specifier;
    throw error;
  }
}
