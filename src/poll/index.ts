/**
 * wsloop/poll — the context and lws's external-poll contract: descriptors announced
 * through hooks, serviceFd(), adjustTimeout() / servicePending() for forced service and
 * timers, cancelService().
 */
export { Context, type ContextOptions, type AdoptOptions } from "./context.js";
export { Connection, type ConnectionState, type WriteKind, type WriteOptions } from "./connection.js";
export type {
  CallbackEvent,
  CallbackReason,
  CallbackResult,
  CloseData,
  ConnectionEvents,
  ContextEvents,
  HttpRequestData,
  PollHooks,
  ProtocolCallback,
  ReceiveData,
} from "./events.js";
export { defineProtocol, type ProtocolDefinition } from "./protocol.js";
export { Vhost, defaultTimeouts, type Timeouts, type VhostDefinition, type ListenOptions } from "./vhost.js";
export type { ConnectInfo, ClientTlsOptions } from "./connect-info.js";
export type { FileOps, FileInfo, OpenFile } from "./file-ops.js";
export type { MountDefinition, FileMount, CallbackMount, RedirectMount } from "./mount.js";
export type { HttpRequestInfo } from "./http/transaction.js";
export type { HttpHeadOptions } from "./http/response-writer.js";
export { FILE_CHUNK_BYTES } from "./http/file-server.js";
export { POLLIN, POLLOUT, POLLERR, POLLHUP, describeEvents, type PollFd } from "./pollfd.js";
export { VirtualClock, monotonicClock, type Clock } from "./clock.js";
export { Logger, logLevels, type LogLevel, type LogEmitter, type LoggerOptions } from "./logger.js";
export {
  END_OF_STREAM,
  type EndOfStream,
  type Transport,
  type Pollable,
  type PeerAddress,
  type Dialer,
  type DialRequest,
} from "./transport.js";
export { createMemoryPair, MemoryTransport, type MemoryPairOptions, type MemoryPipeOptions } from "./memory-transport.js";
