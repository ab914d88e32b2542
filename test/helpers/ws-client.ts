/**
 * Well-behaved clients from the `ws` package, for tests where the peer is not the
 * subject: open, collect messages, see the close, close.
 */
import { once } from "node:events";
import WebSocket from "ws";
import { waitUntil } from "./wait.js";

/** Open a `ws` client; resolves once open, rejects on error or an unexpected response. */
export async function openWs(url: string, protocols?: string | string[], options: WebSocket.ClientOptions = {}): Promise<WebSocket> {
  const ws = new WebSocket(url, protocols, options);
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
    ws.once("unexpected-response", (_req, res) => reject(new Error(`unexpected response ${res.statusCode}`)));
  });
  return ws;
}

export interface Received {
  data: Buffer;
  binary: boolean;
}

/** Collects every message a ws client receives and lets the test wait for a count. */
export class Inbox {
  readonly messages: Received[] = [];
  constructor(readonly ws: WebSocket) {
    ws.on("message", (data: WebSocket.RawData, binary: boolean) => {
      this.messages.push({ data: toBuffer(data), binary });
    });
  }

  async take(count: number, timeoutMs = 10_000): Promise<Received[]> {
    await waitUntil(() => this.messages.length >= count, `${count} messages (have ${this.messages.length})`, timeoutMs);
    return this.messages.splice(0, count);
  }

  async next(timeoutMs = 5_000): Promise<Received> {
    return (await this.take(1, timeoutMs))[0]!;
  }
}

function toBuffer(data: WebSocket.RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

/** Resolves with the close code and reason the ws client saw. */
export function closeOf(ws: WebSocket): Promise<{ code: number; reason: string }> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.reject(new Error("already closed"));
  return new Promise((resolve) => ws.once("close", (code, reason) => resolve({ code, reason: reason.toString() })));
}

/** Close a ws client and wait until it is closed. */
export async function closeWs(ws: WebSocket): Promise<void> {
  if (ws.readyState === WebSocket.CLOSED) return;
  const closed = once(ws, "close");
  if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
  else ws.close(1000);
  await closed;
}
