/**
 * RAW connections (lws's raw-skt role): bytes in as RAW_RX, bytes out with write() from
 * RAW_WRITEABLE, RAW_CLOSE at the end. A server connection becomes RAW through the
 * vhost's raw fallback, or when adopted as raw; a client one when connected with method
 * "RAW".
 */
import type { Connection } from "../connection.js";
import type { CloseData } from "../events.js";
import type { HandshakeRole } from "../handshake-role.js";
import type { ProtocolDefinition } from "../protocol.js";

export class RawRole implements HandshakeRole {
  readonly kind = "raw";

  constructor(private readonly connection: Connection) {}

  /** Client: the transport connected; the connection is RAW from now. */
  onConnected(): void {
    this.start(null);
  }

  /** @internal Announce the connection (RAW_ADOPT), then deliver what already arrived. */
  start(first: Buffer | null): void {
    const connection = this.connection;
    connection.cancelStateTimer();
    connection.setState("raw");
    connection.markEstablished();
    connection.emitConnection({ reason: "RAW_ADOPT", connection });
    if (first && first.length > 0 && connection.state === "raw") this.onData(first);
  }

  onData(chunk: Buffer): void {
    this.connection.emitConnection({ reason: "RAW_RX", connection: this.connection, data: chunk });
  }

  onWriteable(): void {
    if (this.connection.takeWriteableRequest()) this.connection.runWriteable("RAW_WRITEABLE");
  }

  onFinish(_info: CloseData): boolean {
    this.connection.emitConnection({ reason: "RAW_CLOSE", connection: this.connection });
    return true;
  }
}

/** Turn a server connection RAW, bound to `protocol`, with the bytes read so far. */
export function becomeRaw(connection: Connection, protocol: ProtocolDefinition<unknown>, first: Buffer | null): void {
  const role = new RawRole(connection);
  connection.handshake = role;
  connection.bindProtocol(protocol);
  role.start(first);
}
