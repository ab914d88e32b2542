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
  MAX_OWED_PONGS,
  MAX_OWED_PONG_BYTES,
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
export { ChunkedDecoder, encodeChunk, type ChunkedDecoderOptions } from "./http/chunked.js";
export {
  LengthDecoder,
  CloseDelimitedDecoder,
  requestBodyFraming,
  responseBodyFraming,
  type BodyDecoder,
  type BodyStep,
  type BodyFraming,
} from "./http/body.js";
export { buildResponseHead, headerPairs, httpDate, parseHttpDate, type HeadersInit } from "./http/response-head.js";
export { statusText } from "./http/status.js";
export { mimeTypeOf, DEFAULT_MIME_TYPE } from "./http/mime.js";
export { parseRange, contentRange, type RangeResult } from "./http/range.js";
export { entityTag, isNotModified, ifRangeAllows, noneMatchHits } from "./http/conditional.js";
export { parseRequestPath, type RequestPath } from "./http/request-path.js";
export { cacheControl, type CachePolicy } from "./http/cache-control.js";
export { errorPage, escapeHtml } from "./http/error-page.js";
export { matchMount, type MountHit } from "./http/mount-match.js";
export { acceptsEncoding } from "./http/content-coding.js";
export { sniffHttp, HTTP_METHODS } from "./http/method-sniff.js";
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
