/**
 * wsloop's client against Autobahn|Testsuite's fuzzingserver: it asks for the number of
 * cases, runs every case by echoing whatever the server sends (text as text, binary as
 * binary), then asks the server to write its report. See docs/conformance.md for the
 * Docker command that starts the fuzzingserver (test/autobahn/fuzzingserver.json).
 *
 *   npm run build && node dist-examples/autobahn-client.js [--url ws://127.0.0.1:9001] [--agent wsloop] [--deflate] [--cases 1-10]
 *
 * Autobahn needs Python 2 or Docker, so this is not run in CI; it is type-checked with the
 * other examples.
 */
import { parseArgs } from "node:util";
import { permessageDeflate } from "wsloop/core";
import { NodeLoop } from "wsloop/node";
import { defineProtocol, type Connection } from "wsloop/poll";
import { isMain } from "./is-main.js";

interface CaseState {
  queue: Array<{ data: Buffer; binary: boolean }>;
  /** The first text message of the connection (getCaseCount's answer). */
  firstText: string | null;
  done: (result: { code: number; clean: boolean; error?: string }) => void;
}

const LIMIT = 64 * 1024 * 1024; // Autobahn's largest messages are 16 MiB; its 9.x cases need room.

function fuzzingClientProtocol(deflate: boolean) {
  return defineProtocol<CaseState>({
    name: "autobahn",
    maxMessageSize: LIMIT,
    maxFrameSize: LIMIT,
    ...(deflate ? { extensions: [permessageDeflate()] } : {}),
    createUserData: () => ({ queue: [], firstText: null, done: () => {} }),
    callback(event) {
      switch (event.reason) {
        case "CLIENT_RECEIVE": {
          const state = event.connection.userData;
          if (!event.binary && state.firstText === null) state.firstText = event.data.toString("utf8");
          // Echo: one message per WRITEABLE, as lws does it.
          state.queue.push({ data: Buffer.from(event.data), binary: event.binary });
          event.connection.requestWriteable();
          return;
        }
        case "CLIENT_WRITEABLE": {
          const state = event.connection.userData;
          const next = state.queue.shift();
          if (next) event.connection.write(next.data, next.binary ? "binary" : "text");
          if (state.queue.length > 0) event.connection.requestWriteable();
          return;
        }
        case "CLIENT_CLOSED":
          event.connection.userData.done({ code: event.code, clean: event.clean });
          return;
        case "CLIENT_CONNECTION_ERROR":
          event.connection.userData.done({ code: 1006, clean: false, error: event.cause });
          return;
        default:
          return;
      }
    },
  });
}

export interface AutobahnRun {
  cases: number;
  ran: number;
  failures: Array<{ case: number; error: string }>;
}

/** Run Autobahn's cases against wsloop's client; resolves when the report has been asked for. */
export async function runAutobahnClient(options: { url?: string; agent?: string; deflate?: boolean; only?: [number, number]; log?: (line: string) => void } = {}): Promise<AutobahnRun> {
  const base = (options.url ?? "ws://127.0.0.1:9001").replace(/\/$/, "");
  const agent = options.agent ?? "wsloop";
  const log = options.log ?? ((line: string) => console.log(line));
  const loop = new NodeLoop({ logger: { level: "warn" }, vhosts: [{ name: "autobahn", protocols: [fuzzingClientProtocol(options.deflate ?? false)] }] });

  /** One connection to `path`; resolves when it ends, with the first text message it got. */
  const visit = (path: string) =>
    new Promise<{ firstText: string | null; code: number; error?: string }>((resolve) => {
      const connection: Connection<CaseState> = loop.connect<CaseState>({ url: `${base}${path}` });
      // CLIENT_ESTABLISHED and every later callback come after connect() returns.
      connection.userData.done = ({ code, error }) => resolve({ firstText: connection.userData.firstText, code, ...(error ? { error } : {}) });
    });

  try {
    const count = await visit("/getCaseCount");
    const cases = Number(count.firstText);
    if (!Number.isInteger(cases) || cases < 1) throw new Error(`getCaseCount answered ${JSON.stringify(count.firstText)}${count.error ? ` (${count.error})` : ""}`);
    const [from, to] = options.only ?? [1, cases];
    log(`${cases} cases; running ${from}-${Math.min(to, cases)} as agent "${agent}"`);
    const failures: AutobahnRun["failures"] = [];
    let ran = 0;
    for (let n = from; n <= Math.min(to, cases); n++) {
      const result = await visit(`/runCase?case=${n}&agent=${encodeURIComponent(agent)}`);
      ran++;
      // Connection errors are failures of the run (the verdict on the case is Autobahn's report).
      if (result.error) failures.push({ case: n, error: result.error });
      if (n % 50 === 0) log(`  ${n}/${cases}`);
    }
    await visit(`/updateReports?agent=${encodeURIComponent(agent)}`);
    log(`done: the report is in the fuzzingserver's outdir (reports/clients/index.html)`);
    return { cases, ran, failures };
  } finally {
    await loop.close(1_000);
  }
}

if (isMain(import.meta.url)) {
  const { values } = parseArgs({
    options: { url: { type: "string" }, agent: { type: "string" }, deflate: { type: "boolean" }, cases: { type: "string" } },
    strict: true,
  });
  const only = values.cases?.split("-").map(Number) as [number, number] | undefined;
  const run = await runAutobahnClient({
    ...(values.url ? { url: values.url } : {}),
    ...(values.agent ? { agent: values.agent } : {}),
    ...(values.deflate ? { deflate: true } : {}),
    ...(only && only.length === 2 ? { only } : {}),
  });
  for (const f of run.failures) console.log(`case ${f.case}: ${f.error}`);
  process.exitCode = run.failures.length === 0 ? 0 : 1;
}
