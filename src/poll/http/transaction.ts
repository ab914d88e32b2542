/**
 * One HTTP request and the state of its response: how the body is framed, how much of
 * it is still owed, whether the connection may be kept alive afterwards. The response
 * writer (response-writer.ts) moves it along; the role (server-role.ts) decides what
 * happens when it completes.
 */
import type { HttpRequestData } from "../events.js";

/** The request as the connection shows it (connection.httpRequest). */
export interface HttpRequestInfo extends HttpRequestData {
  /** The request-target exactly as received. */
  target: string;
}

export type ResponseFraming =
  /** Content-Length: `remaining` bytes are owed. */
  | "length"
  | "chunked"
  /** HTTP/1.0 without a length: the body ends with the connection. */
  | "close"
  /** HEAD, 204, 304: no body at all. */
  | "none";

export class HttpTransaction {
  /** The response head is out. */
  headSent = false;
  status = 0;
  framing: ResponseFraming = "none";
  /** Body bytes still owed under Content-Length. */
  remaining = 0;
  /** The body is finished (its last byte, or the last chunk, was written). */
  bodyDone = false;
  /** Body bytes are written to the wire (false for HEAD: they are counted, not sent). */
  sendBody = true;
  /** The connection may carry another request after this one. */
  keepAlive: boolean;
  /** transactionCompleted() was called (by the user or the library). */
  completed = false;
  /** The protocol answers (HTTP callbacks); false when the library does (files, redirects, errors). */
  userHandled = true;
  /** Someone took the request up: a head, a requested WRITEABLE, a completion. Otherwise it is answered 404. */
  taken = false;
  /** The client sent Expect: 100-continue and is waiting for it before the body. */
  expectsContinue = false;

  constructor(
    readonly request: HttpRequestInfo,
    /** The request asked for (or, in HTTP/1.1, did not refuse) a persistent connection. */
    readonly clientKeepAlive: boolean,
    readonly hasBody: boolean,
  ) {
    this.keepAlive = clientKeepAlive;
  }

  get isHead(): boolean {
    return this.request.method === "HEAD";
  }

  get isHttp10(): boolean {
    return this.request.version === "1.0";
  }
}

/** Has the connection ended? A function, so that a check after a callback is not narrowed away by the one before it. */
export function isGone(connection: { readonly state: string }): boolean {
  return connection.state === "closed";
}
