import { Buffer } from "node:buffer";
import { usage } from "./errors.js";
import { MAX_CONTROL_PAYLOAD, Opcode, isControlOpcode, isKnownOpcode } from "./frame.js";
import type { MaskSource } from "./mask-source.js";
import { maskInto } from "./mask.js";

export interface EncodeOptions {
  /** Last frame of its message (default true). */
  fin?: boolean;
  /** Set RSV1: the first frame of a compressed message (RFC 7692). */
  rsv1?: boolean;
  /** Client side: mask with a fresh key from this source. null/absent: unmasked. */
  mask?: MaskSource | null;
}

/**
 * Unmasked payloads up to this size are copied into the header's buffer: one chunk
 * instead of two is cheaper for a vectored write than the copy is.
 */
export const SMALL_PAYLOAD_COPY_LIMIT = 256;

/** Size of a frame header: 2 bytes, plus 2 or 8 of extended length, plus 4 of mask key. */
export function frameHeaderSize(payloadLength: number, masked: boolean): number {
  const extended = payloadLength < 126 ? 0 : payloadLength < 65536 ? 2 : 8;
  return 2 + extended + (masked ? 4 : 0);
}

/**
 * Appends one frame to `out` as chunks and returns the number of bytes appended.
 *
 * Unmasked, the payload goes out as the caller's own view (no copy) after a small
 * header chunk, except that short payloads share the header's buffer. Masked, the
 * payload is masked into a copy that shares one allocation with the header; the
 * caller's bytes are never changed. The caller must not change an unmasked payload
 * until the chunks have been written.
 */
export function encodeFrame(
  out: Uint8Array[],
  opcode: number,
  payload: Uint8Array,
  options?: EncodeOptions,
): number {
  const fin = options?.fin ?? true;
  if (!isKnownOpcode(opcode)) {
    throw usage("INVALID_ARGUMENT", `encodeFrame: opcode ${opcode} is not one RFC 6455 defines`);
  }
  if (isControlOpcode(opcode)) {
    if (!fin) throw usage("INVALID_ARGUMENT", "encodeFrame: control frames cannot be fragmented");
    if (payload.length > MAX_CONTROL_PAYLOAD) {
      throw usage("INVALID_ARGUMENT", `encodeFrame: control frame payload of ${payload.length} bytes exceeds 125`);
    }
  }
  return appendFrame(out, opcode, payload, fin, options?.rsv1 ?? false, options?.mask ?? null);
}

/**
 * encodeFrame() for callers that have checked the opcode and the control-frame rules
 * themselves (the session, once per message): positional arguments, no options object.
 * @internal
 */
export function appendFrame(
  out: Uint8Array[],
  opcode: number,
  payload: Uint8Array,
  fin: boolean,
  rsv1: boolean,
  maskSource: MaskSource | null,
): number {
  const length = payload.length;
  const masked = maskSource !== null;
  const headerSize = frameHeaderSize(length, masked);
  const copyPayload = masked || length <= SMALL_PAYLOAD_COPY_LIMIT;
  const buf = Buffer.allocUnsafe(copyPayload ? headerSize + length : headerSize);

  buf[0] = (fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode;
  let p = 2;
  if (length < 126) {
    buf[1] = length;
  } else if (length < 65536) {
    buf[1] = 126;
    buf[2] = length >>> 8;
    buf[3] = length & 0xff;
    p = 4;
  } else {
    buf[1] = 127;
    buf.writeUInt32BE(Math.floor(length / 0x100000000), 2);
    buf.writeUInt32BE(length >>> 0, 6);
    p = 10;
  }

  if (maskSource !== null) {
    const key = maskSource.next();
    buf[1] |= 0x80;
    buf[p] = key[0]!;
    buf[p + 1] = key[1]!;
    buf[p + 2] = key[2]!;
    buf[p + 3] = key[3]!;
    maskInto(buf.subarray(headerSize), payload, key, 0);
    out.push(buf);
  } else if (copyPayload) {
    if (length > 32) buf.set(payload, headerSize);
    else for (let i = 0; i < length; i++) buf[headerSize + i] = payload[i]!; // cheaper than a native call
    out.push(buf);
  } else {
    out.push(buf, payload);
  }
  return headerSize + length;
}

/**
 * Appends a whole message as frames of at most `maxFramePayload` payload bytes each:
 * the first frame carries `opcode` (and RSV1 if asked), the rest are continuations,
 * the last has FIN. 0 or Infinity means one frame. Control messages are never split.
 * Returns the number of bytes appended.
 */
export function encodeMessage(
  out: Uint8Array[],
  opcode: number,
  payload: Uint8Array,
  maxFramePayload: number,
  options?: Omit<EncodeOptions, "fin">,
): number {
  if (!(maxFramePayload >= 0) || (Number.isFinite(maxFramePayload) && !Number.isInteger(maxFramePayload))) {
    throw usage("INVALID_ARGUMENT", `encodeMessage: maxFramePayload must be a non-negative integer or Infinity, got ${maxFramePayload}`);
  }
  if (opcode === Opcode.CONTINUATION) {
    throw usage("INVALID_ARGUMENT", "encodeMessage: a message starts with TEXT or BINARY, not CONTINUATION");
  }
  const length = payload.length;
  const rsv1 = options?.rsv1 ?? false;
  const mask = options?.mask ?? null;
  if (maxFramePayload === 0 || length <= maxFramePayload || isControlOpcode(opcode)) {
    return encodeFrame(out, opcode, payload, { fin: true, rsv1, mask });
  }

  let total = 0;
  for (let offset = 0; offset < length; offset += maxFramePayload) {
    const end = Math.min(offset + maxFramePayload, length);
    const first = offset === 0;
    total += encodeFrame(out, first ? opcode : Opcode.CONTINUATION, payload.subarray(offset, end), {
      fin: end === length,
      rsv1: first && rsv1,
      mask,
    });
  }
  return total;
}
