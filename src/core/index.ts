/**
 * wsloop/core — the sans-IO protocol engine: bytes in, events and bytes out. No sockets,
 * no timers, no clock. Use it directly to feed bytes from any source (the mode lws users
 * keep asking for), or through a context (wsloop/poll) and a loop.
 */
export { CloseCode, isValidWireCloseCode, isValidUserCloseCode } from "./close-codes.js";
export { WsloopError, WsloopUsageError, PeerError, type UsageErrorCode } from "./errors.js";
export { Opcode, isControlOpcode, type FrameHeader } from "./frame.js";
export { FrameParser, type FrameParserOptions, type FrameSink } from "./frame-parser.js";
export { encodeFrame, encodeMessage, frameHeaderSize, type EncodeOptions } from "./frame-writer.js";
export { applyMask, maskInto } from "./mask.js";
export { PooledMaskSource, zeroMaskSource, type MaskSource } from "./mask-source.js";
export { Utf8Validator, isValidUtf8 } from "./utf8.js";
export {
  WsSession,
  defaultLimits,
  type DeflateState,
  type DeflateStats,
  type EncodeDataOptions,
  type FragmentInfo,
  type WsSessionEvents,
  type WsSessionLimits,
  type WsSessionOptions,
  type WsSessionState,
} from "./ws-session.js";
export { HeaderList } from "./http/headers.js";
export {
  RequestHeadParser,
  ResponseHeadParser,
  type HeadParseResult,
  type HeadParserOptions,
  type HttpRequestHead,
  type HttpResponseHead,
} from "./http/head-parser.js";
export {
  acceptKey,
  buildAcceptResponse,
  buildRejectResponse,
  checkUpgradeRequest,
  negotiateExtensions,
  selectSubprotocol,
  type UpgradeCheck,
  type UpgradeRequest,
} from "./handshake/server-handshake.js";
export {
  buildClientRequest,
  checkServerResponse,
  type ClientRequestOptions,
  type ClientResponseCheck,
} from "./handshake/client-handshake.js";
export type { ExtensionNegotiator, NegotiatedExtension } from "./handshake/extension.js";
export {
  parseExtensionHeader,
  formatExtension,
  formatExtensionHeader,
  isExtensionOffer,
  type ExtensionOffer,
  type ExtensionElement,
} from "./handshake/extension-header.js";
export { hostOnly, matchVhostName } from "./vhost-match.js";
export {
  PerMessageDeflate,
  permessageDeflate,
  deflateSessionConfig,
  type DeflateSessionConfig,
  type PerMessageDeflateOptions,
} from "./deflate/negotiator.js";
export { defaultTuning as defaultDeflateTuning, type DeflateTuning } from "./deflate/options.js";
export type { DeflateAgreement } from "./deflate/params.js";
export { nativeZlibAvailable, setZlibPoolLimits } from "./deflate/native-zlib.js";
