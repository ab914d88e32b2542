/**
 * Listening sockets for the Node loop. Vhosts that share an address and port share one
 * listener (as lws vhosts share a listen socket); under TLS, SNI picks the vhost and its
 * certificate. Accepted sockets are handed to the context (lws_adopt_socket_vhost).
 */
import { readFileSync } from "node:fs";
import { createServer as createNetServer, type Server, type Socket } from "node:net";
import { createSecureContext, createServer as createTlsServer, type SecureContext, type SecureContextOptions, type TLSSocket } from "node:tls";
import { matchVhostName } from "../../core/vhost-match.js";
import { usage } from "../../core/errors.js";
import type { Vhost } from "../../poll/vhost.js";

/** TLS for a vhost: certificate and key from files or from PEM in memory. */
export interface NodeTlsOptions {
  cert?: string | Buffer;
  key?: string | Buffer;
  certFile?: string;
  keyFile?: string;
  passphrase?: string;
  /** CA for verifying client certificates (PEM, or caFile). */
  ca?: string | Buffer;
  caFile?: string;
  /** Ask clients for a certificate and refuse those that don't verify against `ca`. */
  requireClientCert?: boolean;
  /** OpenSSL cipher list. */
  ciphers?: string;
}

/** What a vhost's `listen` means to the Node loop. */
export interface NodeListenOptions {
  /** 0 = an ephemeral port (the bound one is reported). */
  port: number;
  /** Interface address. Default: every interface, as Node does. */
  host?: string;
  ipv6Only?: boolean;
  backlog?: number;
  tls?: NodeTlsOptions;
}

export interface BoundAddress {
  vhosts: string[];
  host: string;
  port: number;
  family: string;
  tls: boolean;
}

export interface AcceptPolicy {
  /**
   * Called for every accepted socket with the vhost chosen for it and the vhosts among
   * which each HTTP request's Host header may still choose.
   */
  adopt(socket: Socket, vhost: Vhost, group: readonly Vhost[]): void;
}

interface Group {
  host: string | undefined;
  port: number;
  options: NodeListenOptions;
  vhosts: Vhost[];
  contexts: Map<Vhost, SecureContext>;
  /** The first TLS vhost's certificate material, as read (see tlsServer). */
  material: SecureContextOptions | null;
}

export function listenOptionsOf(vhost: Vhost): NodeListenOptions | null {
  const listen = vhost.listen;
  if (!listen || listen.port === undefined) return null;
  if (!Number.isInteger(listen.port) || listen.port < 0 || listen.port > 65535) {
    throw usage("INVALID_ARGUMENT", `vhost "${vhost.name}": listen.port must be an integer from 0 to 65535, got ${listen.port}`);
  }
  return listen as NodeListenOptions;
}

/** Start one listener per distinct (host, port); resolves once all are bound. */
export async function startListeners(vhosts: readonly Vhost[], policy: AcceptPolicy): Promise<{ servers: Server[]; addresses: BoundAddress[] }> {
  const groups: Group[] = [];
  for (const vhost of vhosts) {
    const options = listenOptionsOf(vhost);
    if (!options) continue;
    // Port 0 asks for a fresh port each time, so such vhosts never share.
    let group = options.port === 0 ? undefined : groups.find((g) => g.port === options.port && g.host === options.host);
    if (!group) {
      group = { host: options.host, port: options.port, options, vhosts: [], contexts: new Map(), material: null };
      groups.push(group);
    }
    if (Boolean(group.options.tls) !== Boolean(options.tls)) {
      throw usage("INVALID_ARGUMENT", `vhosts "${group.vhosts[0]?.name}" and "${vhost.name}" share port ${options.port} but only one of them has TLS`);
    }
    group.vhosts.push(vhost);
    if (options.tls) {
      const { material, context } = secureContextFor(vhost.name, options.tls);
      group.contexts.set(vhost, context);
      group.material ??= material;
    }
  }
  const servers: Server[] = [];
  const addresses: BoundAddress[] = [];
  try {
    for (const group of groups) {
      const server = group.options.tls ? tlsServer(group, policy) : plainServer(group, policy);
      servers.push(server);
      addresses.push(await bind(server, group));
    }
  } catch (error) {
    for (const server of servers) server.close();
    throw error;
  }
  return { servers, addresses };
}

function plainServer(group: Group, policy: AcceptPolicy): Server {
  // Without TLS there is no name before the request: the group's first vhost is the
  // default and each request's Host header chooses (the HTTP role does it).
  return createNetServer({ noDelay: true }, (socket) => policy.adopt(socket, group.vhosts[0]!, group.vhosts));
}

function tlsServer(group: Group, policy: AcceptPolicy): Server {
  const tls = group.options.tls!;
  const names = group.vhosts.map((v) => v.name);
  const handshakeMs = Math.max(...group.vhosts.map((v) => v.timeouts.handshakeMs));
  const server = createTlsServer(
    {
      // tls.Server ignores a `secureContext` option: it builds its default context from
      // cert/key/ca/... itself. Without these, a client that sends no SNI (one that
      // connects by IP address) met a context with no certificate and a handshake failure.
      ...group.material!,
      requestCert: tls.requireClientCert ?? false,
      rejectUnauthorized: tls.requireClientCert ?? false,
      // Node's own default is 120 s: a client that opened TCP and never sent a
      // ClientHello outlived the vhost's handshake timeout, which only starts once the
      // socket is adopted after the TLS handshake.
      ...(handshakeMs > 0 ? { handshakeTimeout: handshakeMs } : {}),
      SNICallback: (servername, callback) => {
        const index = matchVhostName(servername, names);
        callback(null, group.contexts.get(group.vhosts[index >= 0 ? index : 0]!)!);
      },
    },
    (socket: TLSSocket) => {
      const servername = typeof socket.servername === "string" ? socket.servername : "";
      const index = servername ? matchVhostName(servername, names) : -1;
      // Under TLS the name was given by SNI and the certificate chosen by it: the Host
      // header does not move the connection to another vhost (as lws does).
      const vhost = group.vhosts[index >= 0 ? index : 0]!;
      policy.adopt(socket, vhost, [vhost]);
    },
  );
  server.on("tlsClientError", (_error, socket) => {
    // A failed TLS handshake never became a connection; nothing to tell a protocol.
    // Node does not destroy the socket after a handshake timeout, only reports it.
    socket.destroy();
  });
  return server;
}

function secureContextFor(vhostName: string, tls: NodeTlsOptions): { material: SecureContextOptions; context: SecureContext } {
  const read = (what: string, inline: string | Buffer | undefined, file: string | undefined): string | Buffer | undefined => {
    if (inline !== undefined) return inline;
    if (file === undefined) return undefined;
    try {
      return readFileSync(file);
    } catch (error) {
      const reason = (error as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (error as Error).message;
      throw usage("INVALID_ARGUMENT", `vhost "${vhostName}": cannot read the TLS ${what} file "${file}": ${reason}`);
    }
  };
  const cert = read("certificate", tls.cert, tls.certFile);
  const key = read("key", tls.key, tls.keyFile);
  const ca = read("CA", tls.ca, tls.caFile);
  if (!cert) throw usage("INVALID_ARGUMENT", `vhost "${vhostName}": TLS needs a certificate (cert or certFile)`);
  if (!key) throw usage("INVALID_ARGUMENT", `vhost "${vhostName}": TLS needs a private key (key or keyFile)`);
  const material: SecureContextOptions = {
    cert,
    key,
    ...(ca !== undefined ? { ca } : {}),
    ...(tls.passphrase !== undefined ? { passphrase: tls.passphrase } : {}),
    ...(tls.ciphers !== undefined ? { ciphers: tls.ciphers } : {}),
  };
  try {
    return { material, context: createSecureContext(material) };
  } catch (error) {
    throw usage("INVALID_ARGUMENT", `vhost "${vhostName}": the TLS certificate or key is not usable: ${(error as Error).message}`);
  }
}

function bind(server: Server, group: Group): Promise<BoundAddress> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      const where = `${group.host ?? "*"}:${group.port}`;
      const reason =
        error.code === "EADDRINUSE"
          ? `${where} is already in use`
          : error.code === "EACCES"
            ? `no permission to listen on ${where}`
            : error.code === "EADDRNOTAVAIL"
              ? `${group.host} is not an address of this machine`
              : `${where}: ${error.message}`;
      reject(Object.assign(new Error(`cannot listen for vhost "${group.vhosts[0]!.name}": ${reason}`), { code: error.code }));
    };
    server.once("error", onError);
    server.listen(
      {
        port: group.port,
        ...(group.host !== undefined ? { host: group.host } : {}),
        ...(group.options.ipv6Only !== undefined ? { ipv6Only: group.options.ipv6Only } : {}),
        ...(group.options.backlog !== undefined ? { backlog: group.options.backlog } : {}),
      },
      () => {
        server.off("error", onError);
        const address = server.address();
        if (!address || typeof address === "string") {
          reject(new Error("listener has no address"));
          return;
        }
        resolve({
          vhosts: group.vhosts.map((v) => v.name),
          host: address.address,
          port: address.port,
          family: address.family,
          tls: Boolean(group.options.tls),
        });
      },
    );
  });
}
