import { deflateSessionConfig } from "../core/deflate/negotiator.js";
import type { NegotiatedExtension } from "../core/handshake/extension.js";
import type { MaskSource } from "../core/mask-source.js";
import type { WsSessionLimits, WsSessionOptions } from "../core/ws-session.js";
import type { ProtocolDefinition } from "./protocol.js";

type Limits = Readonly<Partial<WsSessionLimits>>;

/** Each protocol's limits, frozen, so that its sessions share one merged copy (sessionLimits). */
const limitsOf = new WeakMap<ProtocolDefinition<unknown>, Limits>();

/** A protocol's receive limits and delivery, as the engine's session options. */
export function sessionOptions(
  role: "server" | "client",
  protocol: ProtocolDefinition<unknown>,
  extensions: readonly NegotiatedExtension[],
  maskSource: MaskSource | null,
): WsSessionOptions {
  let allowedRsv = 0;
  for (const e of extensions) allowedRsv |= e.rsvMask;
  return {
    role,
    limits: protocolLimits(protocol),
    delivery: protocol.delivery ?? "message",
    allowedRsv,
    maxOutgoingFrame: protocol.txPacketSize ?? 0,
    deflate: deflateSessionConfig(role, extensions, protocol.extensions ?? []),
    ...(maskSource ? { maskSource } : {}),
  };
}

/** The protocol's limits as the engine names them: one frozen object while they stay the same. */
function protocolLimits(protocol: ProtocolDefinition<unknown>): Limits {
  const known = limitsOf.get(protocol);
  // A protocol definition is the caller's object: its limits are read again each time.
  if (
    known !== undefined &&
    known.maxFramePayload === protocol.maxFrameSize &&
    known.maxMessageSize === protocol.maxMessageSize &&
    known.fragmentOverhead === protocol.fragmentOverhead
  ) {
    return known;
  }
  const limits: Partial<WsSessionLimits> = {};
  if (protocol.maxFrameSize !== undefined) limits.maxFramePayload = protocol.maxFrameSize;
  if (protocol.maxMessageSize !== undefined) limits.maxMessageSize = protocol.maxMessageSize;
  if (protocol.fragmentOverhead !== undefined) limits.fragmentOverhead = protocol.fragmentOverhead;
  Object.freeze(limits);
  limitsOf.set(protocol, limits);
  return limits;
}
