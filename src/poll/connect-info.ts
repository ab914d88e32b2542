/**
 * What a client connection needs (lws's lws_client_connect_info), from a URL or spelled
 * out. Normalised once so that the rest of the code sees complete, checked values.
 */
import { usage } from "../core/errors.js";

export interface ClientTlsOptions {
  /** Accept a self-signed server certificate (LCCSCF_ALLOW_SELFSIGNED). */
  allowSelfSigned?: boolean;
  /** Do not check the certificate's name against the host (LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK). */
  skipHostnameCheck?: boolean;
  /** CA certificate(s) in PEM, from memory. */
  ca?: string | Buffer;
}

export interface ConnectInfo {
  /**
   * ws://, wss:// URL; http://, https:// with a `method` for an HTTP request; raw:// for
   * a RAW connection. The fields below override its parts.
   */
  url?: string;
  /**
   * Stay in HTTP with this method instead of upgrading (lws's info.method): "GET",
   * "POST", ... The response comes as ESTABLISHED_CLIENT_HTTP, RECEIVE_CLIENT_HTTP,
   * COMPLETED_CLIENT_HTTP, CLOSED_CLIENT_HTTP. "RAW" makes a RAW connection.
   */
  method?: string;
  /** HTTP: the whole request body, sent with the head and its Content-Length. */
  body?: string | Uint8Array;
  /**
   * HTTP: the body is streamed by the protocol instead (lws's Content-Length header plus
   * lws_client_http_body_pending()): a byte count for a `Content-Length` body, "chunked"
   * for `Transfer-Encoding: chunked` when the length is not known in advance. Ask for
   * CLIENT_HTTP_WRITEABLE with requestWriteable() (from CLIENT_APPEND_HANDSHAKE_HEADER or
   * later) and write one piece per callback with writeHttp(piece, { final }). Not with `body`.
   */
  bodyLength?: number | "chunked";
  /** HTTP: follow up to this many redirects (301, 302, 303, 307, 308). Default 0: the redirect is the response. */
  followRedirects?: number;
  /**
   * HTTP: share one connection with other pipelined requests to the same host and port
   * (lws's LCCSCF_PIPELINE): made while another is in flight, this request waits for it
   * and then goes out on its kept-alive connection; if the server will not keep it alive,
   * the waiting requests get connections of their own.
   */
  pipeline?: boolean;
  /** Host name or IP to connect to. */
  address?: string;
  port?: number;
  /** Path with query. Default "/". */
  path?: string;
  /** Host header. Default address[:port]. */
  host?: string;
  origin?: string;
  /** Subprotocols to offer, in order of preference. */
  protocols?: string | readonly string[];
  /** The local protocol to bind to. Default: the first offered subprotocol the vhost has, else the vhost's default. */
  localProtocol?: string;
  /** Extra request headers. */
  headers?: Record<string, string> | Iterable<[string, string]>;
  /** TLS (wss): true or its options. Default: from the URL scheme. */
  tls?: boolean | ClientTlsOptions;
  /** The vhost whose protocols the connection uses. Default: the first. */
  vhost?: string;
}

export interface ResolvedConnectInfo {
  address: string;
  port: number;
  path: string;
  host: string;
  origin: string | undefined;
  protocols: string[];
  localProtocol: string | undefined;
  headers: Array<[string, string]>;
  tls: false | Required<Pick<ClientTlsOptions, "allowSelfSigned" | "skipHostnameCheck">> & Pick<ClientTlsOptions, "ca">;
  vhost: string | undefined;
  /** null: a WebSocket; "RAW": a raw connection; otherwise the HTTP method. */
  method: string | null;
  /** The whole body, written with the head. */
  body: Uint8Array | null;
  /** A streamed body's length (or "chunked"); null when the body, if any, is whole. */
  bodyLength: number | "chunked" | null;
  followRedirects: number;
  pipeline: boolean;
}

export function resolveConnectInfo(info: ConnectInfo): ResolvedConnectInfo {
  let address = info.address;
  let port = info.port;
  let path = info.path;
  let secure = false;
  let method: string | null = info.method ?? null;
  if (info.url !== undefined) {
    let url: URL;
    try {
      url = new URL(info.url);
    } catch {
      throw usage("INVALID_ARGUMENT", `"${info.url}" is not a URL`);
    }
    const scheme = url.protocol;
    // http(s):// only with a method: connect() means a WebSocket unless told otherwise
    // (lws's info.method), and a WebSocket client given a web page's URL is a mistake.
    const http = (scheme === "http:" || scheme === "https:") && method !== null && method !== "RAW";
    if (!http && scheme !== "ws:" && scheme !== "wss:" && scheme !== "raw:") {
      throw usage(
        "INVALID_ARGUMENT",
        `a WebSocket URL starts with ws:// or wss://, not ${scheme}// (http:// and https:// need a method, e.g. { method: "GET" }; raw:// is a RAW connection)`,
      );
    }
    if (scheme === "raw:") method ??= "RAW";
    secure = scheme === "wss:" || scheme === "https:";
    address ??= url.hostname.replace(/^\[(.*)\]$/, "$1");
    port ??= url.port ? Number(url.port) : secure ? 443 : 80;
    path ??= `${url.pathname || "/"}${url.search}`;
  }
  if (!address) throw usage("INVALID_ARGUMENT", "connect needs an address (or a url)");
  if (port === undefined) port = secure || info.tls ? 443 : 80;
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw usage("INVALID_ARGUMENT", `port must be an integer from 1 to 65535, got ${port}`);
  }
  path ??= "/";
  if (!path.startsWith("/")) throw usage("INVALID_ARGUMENT", `path must start with "/", got "${path}"`);
  const tlsWanted = info.tls ?? secure;
  const defaultPort = tlsWanted ? 443 : 80;
  const hostPart = address.includes(":") ? `[${address}]` : address;
  const host = info.host ?? (port === defaultPort ? hostPart : `${hostPart}:${port}`);
  const protocols = info.protocols === undefined ? [] : typeof info.protocols === "string" ? [info.protocols] : [...info.protocols];
  const headers: Array<[string, string]> = [];
  if (info.headers) {
    const entries = Symbol.iterator in info.headers ? info.headers : Object.entries(info.headers);
    for (const [name, value] of entries as Iterable<[string, string]>) headers.push([name, value]);
  }
  const tls =
    tlsWanted === false
      ? false
      : {
          allowSelfSigned: tlsWanted === true ? false : (tlsWanted.allowSelfSigned ?? false),
          skipHostnameCheck: tlsWanted === true ? false : (tlsWanted.skipHostnameCheck ?? false),
          ...(tlsWanted !== true && tlsWanted.ca !== undefined ? { ca: tlsWanted.ca } : {}),
        };
  if (method !== null && method !== "RAW" && !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(method)) {
    throw usage("INVALID_ARGUMENT", `method ${JSON.stringify(method)} is not an HTTP token`);
  }
  const followRedirects = info.followRedirects ?? 0;
  if (!Number.isInteger(followRedirects) || followRedirects < 0) {
    throw usage("INVALID_ARGUMENT", `followRedirects must be a non-negative integer, got ${String(info.followRedirects)}`);
  }
  if ((info.body !== undefined || info.bodyLength !== undefined) && (method === null || method === "RAW")) {
    throw usage("INVALID_ARGUMENT", "a body is sent only with an HTTP method");
  }
  const bodyLength = info.bodyLength ?? null;
  if (bodyLength !== null && bodyLength !== "chunked" && (!Number.isSafeInteger(bodyLength) || bodyLength < 0)) {
    throw usage("INVALID_ARGUMENT", `bodyLength must be a non-negative integer or "chunked", got ${String(bodyLength)}`);
  }
  if (bodyLength !== null && info.body !== undefined) {
    throw usage("INVALID_ARGUMENT", "give either body (the whole body) or bodyLength (a streamed body), not both");
  }
  return {
    method,
    body: info.body === undefined ? null : typeof info.body === "string" ? Buffer.from(info.body, "utf8") : info.body,
    bodyLength,
    followRedirects,
    pipeline: info.pipeline === true && method !== null && method !== "RAW",
    address,
    port,
    path,
    host,
    origin: info.origin,
    protocols,
    localProtocol: info.localProtocol,
    headers,
    tls,
    vhost: info.vhost,
  };
}
