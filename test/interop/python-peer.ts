/** Running Debian's python3-websockets peer scripts (peers/python/) from tests. */
import { spawn, type ChildProcess } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { PYTHON } from "./helpers.js";

export const PEERS = join(dirname(fileURLToPath(import.meta.url)), "peers", "python");
export const live = new Set<ChildProcess>();

export interface PyResult {
  code: number | null;
  stdout: string;
  stderr: string;
  json: Record<string, unknown> | null;
}

/** Runs ws_client.py and parses its JSON line; SIGKILL past `timeoutMs` (its own limit is shorter). */
export function runPyClient(args: string[], timeoutMs: number): Promise<PyResult> {
  const child = spawn(PYTHON, [join(PEERS, "ws_client.py"), ...args], { stdio: ["ignore", "pipe", "pipe"] });
  live.add(child);
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (c: string) => (stdout += c));
  child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c));
  const killer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  return new Promise<PyResult>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code) => {
      clearTimeout(killer);
      live.delete(child);
      const line = stdout.trim().split("\n").pop() ?? "";
      let json: Record<string, unknown> | null = null;
      try {
        json = JSON.parse(line) as Record<string, unknown>;
      } catch {
        /* reported below */
      }
      resolve({ code, stdout, stderr, json });
    });
  });
}

