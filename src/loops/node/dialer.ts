/**
 * Outgoing transports for the Node loop: TCP or TLS, never blocking. Failures become
 * errors a person can act on ("nothing listens on 127.0.0.1:9", "certificate is
 * self-signed"), which the context reports as CLIENT_CONNECTION_ERROR.
 */
import { connect as netConnect, type Socket } from "node:net";
import { checkServerIdentity, connect as tlsConnect, type ConnectionOptions, type TLSSocket } from "node:tls";
import type { DialRequest, Transport } from "../../poll/transport.js";
import { SocketTransport } from "./socket-transport.js";

/** Certificate errors that mean "self-signed", which allowSelfSigned accepts (lws's LCCSCF_ALLOW_SELFSIGNED). */
const selfSignedCodes = new Set(["DEPTH_ZERO_SELF_SIGNED_CERT", "SELF_SIGNED_CERT_IN_CHAIN"]);

export interface DialOptions {
  noDelay?: boolean;
}

export function dial(request: DialRequest, options: DialOptions = {}): Transport {
  const where = `${request.address}:${request.port}`;
  const describe = (error: Error) => describeConnectError(error, request);
  if (!request.tls) {
    const socket = netConnect({ host: request.address, port: request.port });
    socket.setNoDelay(options.noDelay ?? true);
    return new SocketTransport(socket, { connecting: true, connectEvent: "connect", describeError: describe });
  }
  const tls = request.tls;
  const connectOptions: ConnectionOptions = {
    host: request.address,
    port: request.port,
    // Verification is ours below, so that "self-signed" can be told from other failures.
    rejectUnauthorized: false,
    // Node checks the name too and folds a mismatch into `authorized`; that made
    // skipHostnameCheck useless and the cause unhelpful. verifyPeer does the name check.
    checkServerIdentity: () => undefined,
  };
  if (!isIp(tls.serverName)) connectOptions.servername = tls.serverName;
  if (tls.ca !== undefined) connectOptions.ca = tls.ca;
  const socket: TLSSocket = tlsConnect(connectOptions);
  socket.setNoDelay(options.noDelay ?? true);
  socket.once("secureConnect", () => {
    const failure = verifyPeer(socket, tls);
    if (failure) socket.destroy(new Error(`TLS: ${failure} (connecting to ${where})`));
  });
  return new SocketTransport(socket as Socket, { connecting: true, connectEvent: "secureConnect", describeError: describe });
}

function verifyPeer(socket: TLSSocket, tls: Exclude<DialRequest["tls"], false>): string | null {
  if (!socket.authorized) {
    const code = String(socket.authorizationError ?? "unknown");
    if (!(tls.allowSelfSigned && selfSignedCodes.has(code))) {
      return `the server's certificate was not accepted (${code})${selfSignedCodes.has(code) ? "; allowSelfSigned accepts a self-signed one" : ""}`;
    }
  }
  if (!tls.skipHostnameCheck) {
    const cert = socket.getPeerCertificate();
    // checkServerIdentity is what Node itself uses when rejectUnauthorized is on.
    const error = cert && Object.keys(cert).length ? checkServerIdentity(tls.serverName, cert) : new Error("no certificate");
    // Node's message lists only the names of the kind asked for (none, for an IP
    // against a DNS-only certificate): say whom the certificate is for.
    const names = cert?.subjectaltname || (cert?.subject?.CN ? `CN=${cert.subject.CN}` : "");
    if (error) return `${error.message}${names ? ` (the certificate is for ${names})` : ""}; skipHostnameCheck disables this check`;
  }
  return null;
}

function isIp(host: string): boolean {
  return /^[\d.]+$/.test(host) || host.includes(":");
}

/** Node's error codes, said as what to check. */
export function describeConnectError(error: Error, request: DialRequest): Error {
  const code = (error as NodeJS.ErrnoException).code;
  const where = `${request.address}:${request.port}`;
  let message: string;
  switch (code) {
    case "ECONNREFUSED":
      message = `connection refused by ${where}: nothing is listening there`;
      break;
    case "ENOTFOUND":
    case "EAI_AGAIN":
      message = `cannot resolve host "${request.address}" (${code})`;
      break;
    case "ETIMEDOUT":
      message = `connecting to ${where} timed out`;
      break;
    case "ECONNRESET":
      message = `${where} reset the connection${request.tls ? " (during the TLS handshake?)" : ""}`;
      break;
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      message = `${where} is unreachable (${code})`;
      break;
    default:
      message = error.message.startsWith("TLS:") ? error.message : `connecting to ${where} failed: ${error.message}`;
  }
  return Object.assign(new Error(message, { cause: error }), code ? { code } : {});
}
