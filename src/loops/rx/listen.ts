/**
 * Real sockets for an rx loop: a TCP (or TLS) listener whose connections are adopted
 * into the loop's context as the Node loop's SocketTransports. The transport learns its
 * poll interest from the loop's hooks, so rx flow control pauses the socket and TCP
 * pushes back on the peer.
 */
import { createServer as createTcpServer, type AddressInfo, type Server, type Socket } from "node:net";
import { createServer as createTlsServer } from "node:tls";
import { SocketTransport } from "../node/socket-transport.js";
import type { RxLoop } from "./rx-loop.js";

export interface RxListenOptions {
  /** Default 0: any free port (read it from the result). */
  port?: number;
  /** Default "127.0.0.1". */
  host?: string;
  /** Serve wss:// with this certificate and key (PEM). */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** The vhost that serves these connections. Default: the loop's. */
  vhost?: string;
}

export interface RxListener {
  readonly host: string;
  readonly port: number;
  readonly tls: boolean;
  /** Stop accepting. Connections already adopted stay with the loop (see RxLoop.shutdown). */
  close(): Promise<void>;
}

export function listenRx(loop: RxLoop, options: RxListenOptions = {}): Promise<RxListener> {
  const lingerMs = loop.context.vhost(options.vhost).timeouts.closeWaitMs;
  const adopt = (socket: Socket) => {
    socket.setNoDelay(true);
    const transport = new SocketTransport(socket, { lingerMs });
    loop.adopt(transport, options.vhost !== undefined ? { vhost: options.vhost } : {});
  };
  const server: Server = options.tls
    ? createTlsServer({ cert: options.tls.cert, key: options.tls.key }, (socket) => adopt(socket))
    : createTcpServer((socket) => adopt(socket));
  const host = options.host ?? "127.0.0.1";
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, () => {
      server.off("error", reject);
      const address = server.address() as AddressInfo;
      resolve({
        host,
        port: address.port,
        tls: options.tls !== undefined,
        close: () =>
          new Promise<void>((done) => {
            // close()'s callback waits for every connection; stopping accepting is what is asked.
            server.close();
            done();
          }),
      });
    });
  });
}
