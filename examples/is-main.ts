import { fileURLToPath } from "node:url";
import { resolve } from "node:path";

/** True when this module is the one being run (by node or by vite-node, which puts the file later in argv). */
export function isMain(moduleUrl: string): boolean {
  const self = fileURLToPath(moduleUrl);
  return process.argv.slice(1).some((arg) => resolve(arg) === self);
}
