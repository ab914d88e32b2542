/**
 * Frames built by hand and read back without trusting wsloop's own codec: the
 * conformance suites must not share a bug with the thing they test. Builders can break
 * every rule on purpose (RSV bits, reserved opcodes, unmasked client frames, lengths in
 * a non-minimal form, a declared length that differs from the payload sent).
 */
import { createHash, randomBytes } from "node:crypto";

export const OP = { CONT: 0x0, TEXT: 0x1, BINARY: 0x2, CLOSE: 0x8, PING: 0x9, PONG: 0xa } as const;

export interface FrameSpec {
  opcode: number;
  payload?: Uint8Array | string;
  /** Default true. */
  fin?: boolean;
  /** RSV bits as a 3-bit number: 4 = RSV1, 2 = RSV2, 1 = RSV3. */
  rsv?: number;
  /** true: a random key; a 4-byte array: that key; false: unmasked. Default true (a client frame). */
  mask?: boolean | Uint8Array;
  /** Force a length encoding: 7-bit, 16-bit or 64-bit form (default: the minimal one). */
  lengthForm?: 7 | 16 | 64;
  /** Write this length in the header instead of the payload's (a lie, or a header sent alone). */
  declaredLength?: number | bigint;
}

export function bytesOf(data: Uint8Array | string): Buffer {
  return typeof data === "string" ? Buffer.from(data, "utf8") : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/** One frame's bytes. Masked frames get a random key unless one is given. */
export function frame(spec: FrameSpec): Buffer {
  const payload = bytesOf(spec.payload ?? Buffer.alloc(0));
  const fin = spec.fin ?? true;
  const rsv = spec.rsv ?? 0;
  const declared = BigInt(spec.declaredLength ?? payload.length);
  const form = spec.lengthForm ?? (declared < 126n ? 7 : declared < 65536n ? 16 : 64);
  const maskKey = spec.mask === false ? null : spec.mask === undefined || spec.mask === true ? randomBytes(4) : Buffer.from(spec.mask);
  const extended = form === 7 ? 0 : form === 16 ? 2 : 8;
  const header = Buffer.alloc(2 + extended + (maskKey ? 4 : 0));
  header[0] = (fin ? 0x80 : 0) | ((rsv & 7) << 4) | (spec.opcode & 0x0f);
  const lengthCode = form === 7 ? Number(declared) : form === 16 ? 126 : 127;
  header[1] = (maskKey ? 0x80 : 0) | (lengthCode & 0x7f);
  if (form === 16) header.writeUInt16BE(Number(declared), 2);
  if (form === 64) header.writeBigUInt64BE(declared, 2);
  if (!maskKey) return Buffer.concat([header, payload]);
  maskKey.copy(header, 2 + extended);
  const masked = Buffer.allocUnsafe(payload.length);
  for (let i = 0; i < payload.length; i++) masked[i] = payload[i]! ^ maskKey[i & 3]!;
  return Buffer.concat([header, masked]);
}

/** Client frames (masked) for the common cases. */
export const text = (payload: Uint8Array | string, fin = true, extra: Partial<FrameSpec> = {}) => frame({ opcode: OP.TEXT, payload, fin, ...extra });
export const binary = (payload: Uint8Array | string, fin = true, extra: Partial<FrameSpec> = {}) => frame({ opcode: OP.BINARY, payload, fin, ...extra });
export const cont = (payload: Uint8Array | string, fin = true, extra: Partial<FrameSpec> = {}) => frame({ opcode: OP.CONT, payload, fin, ...extra });
export const ping = (payload: Uint8Array | string = "", extra: Partial<FrameSpec> = {}) => frame({ opcode: OP.PING, payload, ...extra });
export const pong = (payload: Uint8Array | string = "", extra: Partial<FrameSpec> = {}) => frame({ opcode: OP.PONG, payload, ...extra });
export const close = (code?: number, reason: Uint8Array | string = "", extra: Partial<FrameSpec> = {}) =>
  frame({ opcode: OP.CLOSE, payload: closePayload(code, reason), ...extra });

/** A close payload: nothing, or a 2-byte code and a reason. */
export function closePayload(code?: number, reason: Uint8Array | string = ""): Buffer {
  if (code === undefined) return Buffer.alloc(0);
  const r = bytesOf(reason);
  const out = Buffer.alloc(2 + r.length);
  out.writeUInt16BE(code & 0xffff, 0);
  r.copy(out, 2);
  return out;
}

/** A server frame (unmasked) for the mirror suite. */
export function serverFrame(spec: Omit<FrameSpec, "mask"> & { mask?: FrameSpec["mask"] }): Buffer {
  return frame({ mask: false, ...spec });
}

// ---- reading frames back --------------------------------------------------------------------

export interface WireFrame {
  fin: boolean;
  rsv: number;
  opcode: number;
  masked: boolean;
  maskKey: Buffer | null;
  /** Unmasked payload. */
  payload: Buffer;
  /** The length form the sender used, and whether it was the minimal one. */
  lengthForm: 7 | 16 | 64;
  minimalLength: boolean;
}

/**
 * Reads frames from bytes split anywhere. It checks nothing: every oddity is recorded
 * on the frame for the caller to judge. A declared length over `maxPayload` is reported
 * once as `oversized` and reading stops (a misbehaving peer must not make the test
 * allocate gigabytes).
 */
export class FrameReader {
  /** Unconsumed input, kept as received (joined only once a whole frame is there: no quadratic copying). */
  private chunks: Buffer[] = [];
  private queued = 0;
  oversized: number | null = null;

  constructor(private readonly maxPayload = 64 * 1024 * 1024) {}

  /** The first `n` queued bytes as one buffer (n <= queued). */
  private peek(n: number): Buffer {
    if (this.chunks[0]!.length >= n) return this.chunks[0]!.subarray(0, n);
    const joined = Buffer.concat(this.chunks, this.queued);
    this.chunks = [joined];
    return joined.subarray(0, n);
  }

  private consume(n: number): void {
    this.queued -= n;
    while (n > 0) {
      const first = this.chunks[0]!;
      if (first.length <= n) {
        this.chunks.shift();
        n -= first.length;
      } else {
        this.chunks[0] = first.subarray(n);
        n = 0;
      }
    }
  }

  push(chunk: Buffer): WireFrame[] {
    if (this.oversized !== null) return [];
    if (chunk.length > 0) {
      this.chunks.push(Buffer.from(chunk));
      this.queued += chunk.length;
    }
    const frames: WireFrame[] = [];
    while (this.queued >= 2) {
      const head = this.peek(Math.min(this.queued, 14));
      const code = head[1]! & 0x7f;
      const masked = (head[1]! & 0x80) !== 0;
      let at = 2;
      let length: number;
      let form: 7 | 16 | 64 = 7;
      if (code === 126) {
        if (head.length < 4) break;
        length = head.readUInt16BE(2);
        form = 16;
        at = 4;
      } else if (code === 127) {
        if (head.length < 10) break;
        const big = head.readBigUInt64BE(2);
        form = 64;
        at = 10;
        if (big > BigInt(this.maxPayload)) {
          this.oversized = Number(big);
          break;
        }
        length = Number(big);
      } else {
        length = code;
      }
      if (length > this.maxPayload) {
        this.oversized = length;
        break;
      }
      const keyAt = at;
      if (masked) at += 4;
      if (this.queued < at + length) break;
      const b0 = head[0]!;
      const maskKey = masked ? Buffer.from(head.subarray(keyAt, keyAt + 4)) : null;
      const whole = this.peek(at + length);
      const payload = Buffer.from(whole.subarray(at, at + length));
      this.consume(at + length);
      if (maskKey) for (let i = 0; i < payload.length; i++) payload[i] = payload[i]! ^ maskKey[i & 3]!;
      const minimal = form === 7 || (form === 16 ? length >= 126 : length >= 65536);
      frames.push({
        fin: (b0 & 0x80) !== 0,
        rsv: (b0 >> 4) & 7,
        opcode: b0 & 0x0f,
        masked,
        maskKey,
        payload,
        lengthForm: form,
        minimalLength: minimal,
      });
    }
    return frames;
  }
}

// ---- describing what was seen ----------------------------------------------------------------

/** A short, stable description of a payload: the text itself when short, else size and hash. */
export function describePayload(payload: Buffer, asText: boolean): string {
  if (asText && payload.length <= 24) {
    const s = payload.toString("utf8");
    if (Buffer.from(s, "utf8").equals(payload)) return JSON.stringify(s);
  }
  if (!asText && payload.length <= 8) return `<${payload.toString("hex")}>`;
  return `[${payload.length} B #${createHash("sha1").update(payload).digest("hex").slice(0, 8)}]`;
}

/** A close frame by its code only: reasons are free text (their validity is checked separately). */
export function describeClose(payload: Buffer): string {
  if (payload.length === 0) return "close (empty)";
  if (payload.length === 1) return `close <1 byte ${payload.toString("hex")}>`;
  return `close ${payload.readUInt16BE(0)}`;
}

/** Deterministic pseudo-random numbers (mulberry32), so random chunkings can be replayed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A stable 32-bit seed from a string (FNV-1a). */
export function seedOf(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
