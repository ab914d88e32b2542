/**
 * Every loop on real sockets against a real peer: `wsloop echo --loop L` (the CLI,
 * started as a process) answers Debian's python3-websockets client for L = node, rx
 * and manual, with and without permessage-deflate — the same scenarios, the same results.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { afterAll, beforeAll, expect, it } from "vitest";
import { ensureDistBuilt, root } from "../node/dist.js";
import { within } from "../helpers/wait.js";
import { describeWithPeer, pythonWebsocketsCheck } from "./helpers.js";
import { live, runPyClient } from "./python-peer.js";

interface EchoProcess {
  url: string;
  child: ChildProcess;
}

async function startEcho(loop: string, deflate: boolean): Promise<EchoProcess> {
  const args = ["bin/wsloop.js", "echo", "--port", "0", "--loop", loop, ...(deflate ? ["--deflate"] : [])];
  const child = spawn(process.execPath, args, { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  const url = await within(
    new Promise<string>((resolve, reject) => {
      child.once("exit", (code) => reject(new Error(`wsloop echo --loop ${loop} exited (${code}) before listening`)));
      child.stdout!.setEncoding("utf8").on("data", (c: string) => {
        out += c;
        const m = /listening on (ws:\/\/\S+)/.exec(out);
        if (m) resolve(m[1]!);
      });
    }),
    10_000,
    `wsloop echo --loop ${loop} to print its URL`,
  );
  return { url, child };
}

const variants = ["node", "rx", "manual"].flatMap((loop) => [
  { loop, deflate: false },
  { loop, deflate: true },
]);

for (const { loop, deflate } of variants) {
  const title = `interop: Python websockets client → wsloop echo --loop ${loop}${deflate ? " --deflate" : ""}`;
  describeWithPeer(title, "python3-websockets", pythonWebsocketsCheck, () => {
    let server: EchoProcess;
    beforeAll(async () => {
      await ensureDistBuilt();
      server = await startEcho(loop, deflate);
    }, 30_000);
    afterAll(() => {
      server?.child.kill("SIGKILL");
      for (const c of live) c.kill("SIGKILL");
    });

    for (const scenario of ["echo-text", "echo-binary", "close"]) {
      it(`${scenario} passes`, async () => {
        const r = await runPyClient([server.url, scenario, "--timeout", "10"], 15_000);
        const context = `ws_client.py ${scenario} exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
        expect(r.json?.["ok"], context).toBe(true);
        expect(r.code, context).toBe(0);
        expect(r.json!["close_code"], context).toBe(scenario === "close" ? 4000 : 1000);
        // Python offers permessage-deflate: taken with --deflate, declined cleanly without.
        const extensions = (r.json!["extensions"] as string[]).map((e) => e.split(";")[0]!.trim());
        expect(extensions, context).toEqual(deflate ? ["permessage-deflate"] : []);
      }, 20_000);
    }
  });
}
