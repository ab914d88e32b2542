/** WebSocket frame opcodes (RFC 6455 §5.2). 3-7 and 11-15 are reserved. */
export const Opcode = {
  CONTINUATION: 0,
  TEXT: 1,
  BINARY: 2,
  CLOSE: 8,
  PING: 9,
  PONG: 10,
} as const;

export type OpcodeValue = (typeof Opcode)[keyof typeof Opcode];

/**
 * A frame's header as read from the wire (RFC 6455 §5.2). Read-only: the one a
 * FrameParser hands its sink is the parser itself.
 */
export interface FrameHeader {
  readonly fin: boolean;
  readonly rsv1: boolean;
  readonly rsv2: boolean;
  readonly rsv3: boolean;
  readonly opcode: number;
  readonly masked: boolean;
  readonly payloadLength: number;
}

/** Control frames are the opcodes with the high bit of the nibble set (8-15). */
export function isControlOpcode(op: number): boolean {
  return (op & 0x8) !== 0;
}

/** Is this one of the six opcodes RFC 6455 defines (not a reserved one)? */
export function isKnownOpcode(op: number): boolean {
  return op <= 2 ? op >= 0 : op >= 8 && op <= 10;
}

/** Largest payload a control frame may carry (RFC 6455 §5.5). */
export const MAX_CONTROL_PAYLOAD = 125;
