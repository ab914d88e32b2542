/**
 * Before a connection speaks WebSocket it is in a handshake role: the server reading an
 * upgrade request, or the client sending one and reading the answer. The role ends by
 * calling connection.establish(), or by refusing / failing the connection.
 */
export interface HandshakeRole {
  /** Bytes read from the transport. */
  onData(chunk: Buffer): void;
  /** Client: the transport finished connecting. */
  onConnected(): void;
}
