import { deflateSessionConfig } from "../core/deflate/negotiator.js";
import type { NegotiatedExtension } from "../core/handshake/extension.js";
import type { MaskSource } from "../core/mask-source.js";
import type { WsSessionOptions } from "../core/ws-session.js";
import type { ProtocolDefinition } from "./protocol.js";

/** A protocol's receive limits and delivery, as the engine's session options. */
export function sessionOptions(
  role: "server" | "client",
  protocol: ProtocolDefinition<unknown>,
  extensions: readonly NegotiatedExtension[],
  maskSource: MaskSource | null,
): WsSessionOptions {
  let allowedRsv = 0;
  for (const e of extensions) allowedRsv |= e.rsvMask;
  const limits: WsSessionOptions["limits"] = {};
  if (protocol.maxFrameSize !== undefined) limits.maxFramePayload = protocol.maxFrameSize;
  if (protocol.maxMessageSize !== undefined) limits.maxMessageSize = protocol.maxMessageSize;
  if (protocol.fragmentOverhead !== undefined) limits.fragmentOverhead = protocol.fragmentOverhead;
  return {
    role,
    limits,
    delivery: protocol.delivery ?? "message",
    allowedRsv,
    maxOutgoingFrame: protocol.txPacketSize ?? 0,
    deflate: deflateSessionConfig(role, extensions, protocol.extensions ?? []),
    ...(maskSource ? { maskSource } : {}),
  };
}
