/** wsloop/node — the Node loop: real sockets, TLS, clients, and attaching to http.Server. */
export { NodeLoop, type NodeLoopOptions } from "./node-loop.js";
export type { AttachOptions, AuthDecision } from "./attach.js";
export type { BoundAddress, NodeListenOptions, NodeTlsOptions } from "./listeners.js";
export { SocketTransport, type SocketTransportOptions } from "./socket-transport.js";
export { describeConnectError } from "./dialer.js";
export { nodeFileOps } from "./file-ops.js";
