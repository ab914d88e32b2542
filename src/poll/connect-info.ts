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
  /** ws://, wss:// URL; the fields below override its parts. */
  url?: string;
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
}

export function resolveConnectInfo(info: ConnectInfo): ResolvedConnectInfo {
  let address = info.address;
  let port = info.port;
  let path = info.path;
  let secure = false;
  if (info.url !== undefined) {
    let url: URL;
    try {
      url = new URL(info.url);
    } catch {
      throw usage("INVALID_ARGUMENT", `"${info.url}" is not a URL`);
    }
    if (url.protocol !== "ws:" && url.protocol !== "wss:") {
      throw usage("INVALID_ARGUMENT", `a WebSocket URL starts with ws:// or wss://, not ${url.protocol}//`);
    }
    secure = url.protocol === "wss:";
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
  return {
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
