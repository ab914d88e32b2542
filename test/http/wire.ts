/**
 * Reading HTTP responses off the wire for tests, written independently of the code
 * under test: a head split at the blank line, then a body by Content-Length, chunked
 * framing, or to the end. Strict, so that a framing mistake shows up as a failure.
 */

export interface WireResponse {
  status: number;
  reason: string;
  /** Lower-cased names; repeated fields joined with ", ". */
  headers: Record<string, string>;
  /** Header names in the order and case they were sent. */
  names: string[];
  body: Buffer;
  head: string;
}

/**
 * Split `bytes` into the responses it holds. `methods` are the methods of the requests
 * they answer, in order (HEAD responses have no body); 1xx interim responses are
 * returned too. `rest` is what follows the last complete response.
 */
export function parseResponses(bytes: Buffer, methods: readonly string[] = [], endSeen = false): { responses: WireResponse[]; rest: Buffer } {
  const responses: WireResponse[] = [];
  let at = 0;
  let m = 0;
  for (;;) {
    const end = bytes.indexOf("\r\n\r\n", at, "latin1");
    if (end === -1) break;
    const head = bytes.subarray(at, end).toString("latin1");
    const [statusLine, ...lines] = head.split("\r\n");
    const sm = /^HTTP\/1\.[01] (\d{3}) ?(.*)$/.exec(statusLine!);
    if (!sm) throw new Error(`not a status line: ${JSON.stringify(statusLine)}`);
    const headers: Record<string, string> = {};
    const names: string[] = [];
    for (const line of lines) {
      const colon = line.indexOf(":");
      if (colon <= 0) throw new Error(`bad header line ${JSON.stringify(line)}`);
      const name = line.slice(0, colon);
      const value = line.slice(colon + 1).trim();
      names.push(name);
      const key = name.toLowerCase();
      headers[key] = key in headers ? `${headers[key]}, ${value}` : value;
    }
    const status = Number(sm[1]);
    let bodyStart = end + 4;
    let body: Buffer;
    const method = status >= 200 ? methods[m] : undefined;
    if ((status >= 100 && status < 200) || status === 204 || status === 304 || method === "HEAD") {
      body = Buffer.alloc(0);
    } else if (headers["transfer-encoding"] === "chunked") {
      const parts: Buffer[] = [];
      let p = bodyStart;
      let complete = false;
      for (;;) {
        const lineEnd = bytes.indexOf("\r\n", p, "latin1");
        if (lineEnd === -1) break;
        const size = parseInt(bytes.subarray(p, lineEnd).toString("latin1"), 16);
        if (Number.isNaN(size)) throw new Error(`bad chunk size at ${p}`);
        if (size === 0) {
          const trailerEnd = bytes.indexOf("\r\n\r\n", lineEnd, "latin1");
          if (trailerEnd === -1) break;
          p = trailerEnd + 4;
          complete = true;
          break;
        }
        if (lineEnd + 2 + size + 2 > bytes.length) break;
        parts.push(bytes.subarray(lineEnd + 2, lineEnd + 2 + size));
        if (bytes.subarray(lineEnd + 2 + size, lineEnd + 4 + size).toString("latin1") !== "\r\n") throw new Error("chunk not followed by CRLF");
        p = lineEnd + 4 + size;
      }
      if (!complete) break;
      body = Buffer.concat(parts);
      bodyStart = p;
    } else if (headers["content-length"] !== undefined) {
      const n = Number(headers["content-length"]);
      if (bodyStart + n > bytes.length) break;
      body = bytes.subarray(bodyStart, bodyStart + n);
      bodyStart += n;
    } else {
      if (!endSeen) break;
      body = bytes.subarray(bodyStart);
      bodyStart = bytes.length;
    }
    responses.push({ status, reason: sm[2]!, headers, names, body: Buffer.from(body), head });
    if (status >= 200) m++;
    at = bodyStart;
  }
  return { responses, rest: bytes.subarray(at) };
}

/** A request's bytes. Host is added unless given (pass host: null to leave it out). */
export function request(
  method: string,
  target: string,
  headers: Record<string, string | null> = {},
  body: string | Buffer = "",
  version = "1.1",
): Buffer {
  const lines = [`${method} ${target} HTTP/${version}`];
  const all: Record<string, string | null> = { Host: "example.test", ...headers };
  for (const [name, value] of Object.entries(all)) if (value !== null) lines.push(`${name}: ${value}`);
  return Buffer.concat([Buffer.from(lines.join("\r\n") + "\r\n\r\n", "latin1"), typeof body === "string" ? Buffer.from(body, "latin1") : body]);
}

/** A chunked body from pieces, with an optional trailer section. */
export function chunked(pieces: ReadonlyArray<string | Buffer>, trailers = ""): Buffer {
  const out: Buffer[] = [];
  for (const piece of pieces) {
    const data = typeof piece === "string" ? Buffer.from(piece, "latin1") : piece;
    out.push(Buffer.from(`${data.length.toString(16)}\r\n`, "latin1"), data, Buffer.from("\r\n"));
  }
  out.push(Buffer.from(`0\r\n${trailers}\r\n`, "latin1"));
  return Buffer.concat(out);
}
