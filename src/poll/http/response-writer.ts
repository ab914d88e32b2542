/**
 * Writing one response on a connection: the head with the framing the library owns
 * (Content-Length or chunked, Connection), then the body in pieces, counted against
 * what the head promised. Output goes to the connection as chunk lists (head, size
 * line, data view, CRLF) for one vectored write; no body is copied.
 */
import { usage } from "../../core/errors.js";
import { encodeChunk } from "../../core/http/chunked.js";
import { buildResponseHead, headerPairs, type HeadersInit } from "../../core/http/response-head.js";
import { statusHasNoBody } from "../../core/http/status.js";
import type { Connection } from "../connection.js";
import type { HttpTransaction } from "./transaction.js";

export interface HttpHeadOptions {
  /** The body's length in bytes. Without it the body is chunked (HTTP/1.0: delimited by the close). */
  contentLength?: number;
  /** Close the connection after this response. */
  close?: boolean;
}

/** Headers whose values decide framing and persistence: the library writes them, from the options. */
const OWNED = ["content-length", "transfer-encoding", "connection"];

export function writeHead(connection: Connection, tx: HttpTransaction, status: number, headers: HeadersInit | undefined, options: HttpHeadOptions): void {
  if (tx.headSent) throw usage("INVALID_STATE", `the response head of connection ${connection.id} was already written`);
  if (!Number.isInteger(status) || status < 200 || status > 999) {
    throw usage("INVALID_ARGUMENT", `a response status is an integer from 200 to 999, got ${String(status)}`);
  }
  const pairs = headerPairs(headers);
  for (const [name] of pairs) {
    if (OWNED.includes(name.toLowerCase())) {
      throw usage("INVALID_ARGUMENT", `header "${name}" is written by the library: use the contentLength / close options`);
    }
  }
  const length = options.contentLength;
  if (length !== undefined && (!Number.isSafeInteger(length) || length < 0)) {
    throw usage("INVALID_ARGUMENT", `contentLength must be a non-negative integer, got ${String(length)}`);
  }
  const noBody = statusHasNoBody(status);
  tx.sendBody = !noBody && !tx.isHead;
  if (noBody) {
    tx.framing = "none";
  } else if (length !== undefined) {
    tx.framing = "length";
    tx.remaining = length;
    // HEAD: the length of the GET's body is announced, none is sent.
    pairs.push(["Content-Length", String(length)]);
  } else if (tx.isHttp10) {
    tx.framing = "close";
  } else {
    tx.framing = "chunked";
    if (!tx.isHead) pairs.push(["Transfer-Encoding", "chunked"]);
  }
  tx.keepAlive = tx.keepAlive && !options.close && tx.framing !== "close";
  if (!tx.keepAlive) pairs.push(["Connection", "close"]);
  else if (tx.isHttp10) pairs.push(["Connection", "keep-alive"]);
  tx.status = status;
  tx.headSent = true;
  tx.taken = true;
  tx.bodyDone = tx.framing === "none" || (tx.framing === "length" && tx.remaining === 0);
  const head = buildResponseHead(status, pairs);
  connection.writeOut([head], head.length);
}

/** Write one piece of the body; `final` ends it. Bytes are counted against Content-Length even for HEAD. */
export function writeBody(connection: Connection, tx: HttpTransaction, data: Uint8Array, final: boolean): void {
  if (!tx.headSent) throw usage("INVALID_STATE", "the response body comes after its head: call writeHttpHead() first");
  if (tx.bodyDone) {
    if (data.length === 0) return;
    throw usage("INVALID_STATE", `the response body of connection ${connection.id} is already complete`);
  }
  const out: Uint8Array[] = [];
  let bytes = 0;
  switch (tx.framing) {
    case "length":
      if (data.length > tx.remaining) {
        throw usage("INVALID_ARGUMENT", `${data.length} bytes written with only ${tx.remaining} left of the Content-Length`);
      }
      if (final && data.length < tx.remaining) {
        throw usage("INVALID_ARGUMENT", `final write leaves ${tx.remaining - data.length} bytes of the Content-Length unwritten`);
      }
      tx.remaining -= data.length;
      tx.bodyDone = tx.remaining === 0;
      if (tx.sendBody && data.length > 0) {
        out.push(data);
        bytes = data.length;
      }
      break;
    case "chunked":
      if (tx.sendBody) bytes = encodeChunk(out, data, final);
      tx.bodyDone = final;
      break;
    case "close":
      if (tx.sendBody && data.length > 0) {
        out.push(data);
        bytes = data.length;
      }
      tx.bodyDone = final;
      break;
    case "none":
      if (data.length > 0 && tx.sendBody) throw usage("INVALID_STATE", `a ${tx.status} response has no body`);
      tx.bodyDone = true;
      break;
  }
  connection.noteActivity(false);
  connection.writeOut(out, bytes);
}

/** End a chunked body that was left open (transactionCompleted does it for the user). */
export function endChunkedBody(connection: Connection, tx: HttpTransaction): void {
  if (tx.framing !== "chunked" || tx.bodyDone) return;
  writeBody(connection, tx, new Uint8Array(0), true);
}

/** A whole response in one write: head and body chunks together. */
export function writeWhole(connection: Connection, tx: HttpTransaction, status: number, headers: HeadersInit | undefined, body: Uint8Array | null, close = false): void {
  // Head and body are handed over in the same service pass (the Node loop corks the
  // socket around it, so they leave in one writev).
  const size = body?.length ?? 0;
  const noBody = statusHasNoBody(status);
  writeHead(connection, tx, status, headers, { ...(noBody ? {} : { contentLength: size }), close });
  if (body && size > 0 && !noBody) writeBody(connection, tx, body, true);
}
