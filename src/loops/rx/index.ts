/**
 * wsloop/rx — the RxJS loop: a context serviced on an RxJS scheduler, connections and
 * messages as observables, sending and receiving with backpressure. rxjs (^7.8) is a
 * peer dependency of this entry point only.
 */
export { RxLoop, type RxLoopOptions } from "./rx-loop.js";
export { RxConnection, type RxMessage, type CloseInfo, type SendAllOptions } from "./rx-connection.js";
export { MessageStream, type ConsumeOptions } from "./message-stream.js";
export type { RxConnectionOptions } from "./options.js";
export type { RxProtocolOptions } from "./rx-protocol.js";
export type { OutgoingMessage, OverflowPolicy } from "./sender.js";
export type { SendSource } from "./send-all.js";
export {
  ConnectError,
  ConnectionLostError,
  HandshakeRefusedError,
  SendOverflowError,
  TimeoutError,
  type TimeoutPhase,
} from "./errors.js";
export { immediateScheduler } from "./immediate-scheduler.js";
export { schedulerClock, fromRxScheduler, type LoopScheduler, type CancelScheduled } from "./scheduler.js";
export { listenRx, type RxListenOptions, type RxListener } from "./listen.js";
export { startRxEchoServer, type RxEchoServer, type RxEchoServerOptions } from "./echo-server.js";
