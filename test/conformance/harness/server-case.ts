/**
 * A server conformance case is a script of steps (send these frames, wait for that many
 * echoes or pongs, wait for the close frame) and the exact transcript the RFC demands.
 * The runner plays it against an echo server at a chunking and returns what it got.
 */
import { describePayload, close as closeFrame } from "./frames.js";
import { RawWsClient, chunkingLabel, describeEvent, type Chunking, type WireEvent } from "./raw-client.js";
import type { EchoServer } from "./servers.js";
import { waitFor } from "../../helpers/wait.js";

export type Step =
  | { kind: "send"; bytes: Buffer; chunking?: Chunking }
  | { kind: "wait"; event: "message" | "pong" | "ping"; count: number; timeoutMs?: number }
  | { kind: "waitCloseFrame"; timeoutMs?: number };

export interface ServerCase {
  id: string;
  description: string;
  /** The script; a function for cases with big payloads, built only when the case runs. */
  steps: Step[] | (() => Step[]);
  /** The transcript the RFC demands, e.g. `text "Hello" · close 1000 · tcp closed`. */
  expect: string | (() => string);
  /** Other transcripts the RFC allows (Autobahn's NON-STRICT or INFORMATIONAL outcomes); accepted only if `acceptNonStrict`. */
  nonStrict?: string | string[];
  acceptNonStrict?: boolean;
  /** Chunkings to run at. Default: whole, byte by byte (small cases only) and random. */
  chunkings?: Chunking[];
  /** Which echo server: the default (16 MiB limit) or the limited one (64 KiB). */
  server?: "default" | "limited";
  /** Bound on waiting for the end of the connection. Default 3 s. */
  endTimeoutMs?: number;
  /** wsloop gets this wrong at these chunkings (labels): the test is `it.fails`, the note says why. */
  known?: { chunkings: string[]; note: string };
}

export const LIMITED_MAX_MESSAGE = 64 * 1024;

// ---- step builders ----------------------------------------------------------------------------

export const send = (...frames: Buffer[]): Step => ({ kind: "send", bytes: Buffer.concat(frames) });
export const sendAs = (chunking: Chunking, ...frames: Buffer[]): Step => ({ kind: "send", bytes: Buffer.concat(frames), chunking });
export const waitMessages = (count: number, timeoutMs?: number): Step => ({ kind: "wait", event: "message", count, ...(timeoutMs ? { timeoutMs } : {}) });
export const waitPongs = (count: number, timeoutMs?: number): Step => ({ kind: "wait", event: "pong", count, ...(timeoutMs ? { timeoutMs } : {}) });
export const waitCloseFrame = (timeoutMs?: number): Step => ({ kind: "waitCloseFrame", ...(timeoutMs ? { timeoutMs } : {}) });
/** Our close (1000) and nothing else: the server answers and ends the TCP connection. */
export const closeNormally: Step = { kind: "send", bytes: closeFrame(1000) };

// ---- expected transcripts ---------------------------------------------------------------------

export const T = {
  text: (payload: Buffer | string) => `text ${describePayload(Buffer.from(payload), true)}`,
  binary: (payload: Buffer | string) => `binary ${describePayload(Buffer.from(payload), false)}`,
  pong: (payload: Buffer | string = "") => `pong ${describePayload(Buffer.from(payload), true)}`,
  close: (code?: number) => (code === undefined ? "close (empty)" : `close ${code}`),
  end: "tcp closed",
};

/** Join transcript entries, collapsing runs of the same entry into `entry ×N`. */
export const seq = (...entries: string[]) => collapse(entries).join(" · ");

/** `entry` n times. */
export const times = (entry: string, n: number): string[] => Array.from({ length: n }, () => entry);

export function collapse(entries: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < entries.length; ) {
    let j = i + 1;
    while (j < entries.length && entries[j] === entries[i]) j++;
    out.push(j - i > 1 ? `${entries[i]} ×${j - i}` : entries[i]!);
    i = j;
  }
  return out;
}

/** The usual ending of a case that closes normally: the echo of our close, then the server hangs up. */
export const closedNormally = seq(T.close(1000), T.end);
/** The ending of a case where the server fails the connection with `code`. */
export const failedWith = (code: number) => seq(T.close(code), T.end);

// ---- running ------------------------------------------------------------------------------------

export interface CaseResult {
  got: string;
  events: WireEvent[];
  /** Server connections left once the client is gone (null when the server cannot tell). */
  leftOnServer: number | null;
}

export const expectedOf = (c: ServerCase): string => (typeof c.expect === "function" ? c.expect() : c.expect);
export const alternativesOf = (c: ServerCase): string[] => (c.nonStrict === undefined ? [] : Array.isArray(c.nonStrict) ? c.nonStrict : [c.nonStrict]);

export function defaultChunkings(c: ServerCase): Chunking[] {
  if (c.chunkings) return c.chunkings;
  if (typeof c.steps === "function") return ["whole"];
  const total = c.steps.reduce((n, s) => n + (s.kind === "send" ? s.bytes.length : 0), 0);
  const seed = [...c.id].reduce((h, ch) => (h * 31 + ch.charCodeAt(0)) >>> 0, 7);
  return total <= 4096 ? ["whole", "bytes", { random: seed }] : ["whole", { random: seed }];
}

export async function runServerCase(server: EchoServer, c: ServerCase, chunking: Chunking): Promise<CaseResult> {
  const client = await RawWsClient.open(server.port);
  const notes: string[] = [];
  // What the server did, frozen before our own destroy() adds a "tcp closed" of ours.
  let events: WireEvent[] = [];
  try {
    const steps = typeof c.steps === "function" ? c.steps() : c.steps;
    for (const step of steps) {
      if (step.kind === "send") {
        const sent = await client.send(step.bytes, step.chunking ?? chunking);
        // Hanging up mid-send is the server's right after it failed us; not reading is not.
        if (sent === "stalled") {
          notes.push("server stopped reading (send stalled)");
          break;
        }
        continue;
      }
      const timeout = step.timeoutMs ?? 2_000;
      let ok: boolean;
      let what: string;
      if (step.kind === "wait") {
        ok = await client.waitEvents(step.event, step.count, timeout);
        what = `${step.count} ${step.event}${step.count === 1 ? "" : "s"}`;
      } else {
        ok = await client.waitCloseFrame(timeout);
        what = "close frame";
      }
      if (!ok) {
        notes.push(`⏱ no ${what} within ${timeout} ms`);
        break;
      }
    }
    // After a missed wait the verdict is in; do not spend the full bound on the end too.
    const closed = await client.waitClosed(notes.length > 0 ? 500 : (c.endTimeoutMs ?? 3_000));
    if (!closed) notes.push("tcp still open");
  } finally {
    events = [...client.events];
    client.destroy();
  }
  let leftOnServer: number | null = null;
  const count = server.connectionCount();
  if (count !== null) {
    // The client is gone; the server must forget the connection promptly.
    await waitFor(() => server.connectionCount() === 0, 3_000);
    leftOnServer = server.connectionCount();
    if (leftOnServer !== 0) notes.push(`server still holds ${leftOnServer} connection(s)`);
  }
  const got = seq(...events.map(describeEvent), ...notes);
  return { got, events, leftOnServer };
}

export { chunkingLabel };
