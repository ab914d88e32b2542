/**
 * Persistent raw deflate and inflate streams, run synchronously on Node's own zlib
 * binding — the only way to get both things permessage-deflate needs from Node without
 * a native addon of our own:
 *
 * - a zlib stream that lives across messages (context takeover), and
 * - inflation that stops when an output buffer is full and resumes later (a bounded
 *   amount of output per service call).
 *
 * Node's public synchronous APIs cannot do either: `inflateRawSync` and friends make a
 * stream, run it to the end and close it, and `_processChunk(chunk, flag)` without a
 * callback is the same code (Node 20's lib/zlib.js `processChunkSync` ends with
 * `_close(self)`, so a second call finds no handle). What `processChunkSync` itself does
 * in its loop is call the binding's `writeSync(flush, in, inOff, inLen, out, outOff,
 * outLen)` and read the bytes left over from the stream's `_writeState` — that is the
 * call used here, on a handle that is never closed behind our back. It is synchronous,
 * so the engine stays deterministic, and it never touches the stream machinery (no
 * events, no nextTick).
 *
 * It is an internal API, so it is guarded: {@link nativeZlibAvailable} checks the shape
 * of the binding and runs RFC 7692's own examples through it once; if anything differs,
 * permessage-deflate is simply never offered nor accepted, and connections run
 * uncompressed.
 */
import { Buffer } from "node:buffer";
import zlib from "node:zlib";

const { Z_SYNC_FLUSH, Z_MIN_CHUNK } = zlib.constants;

/** The part of Node's zlib binding handle used here. */
interface NativeHandle {
  writeSync(flush: number, input: Uint8Array, inOff: number, inLen: number, out: Uint8Array, outOff: number, outLen: number): void;
  reset(): void;
  close(): void;
  onerror: ((message: string, errno: number, code?: string) => void) | undefined;
}

/** A zlib stream object as Node builds it: the handle and the array it reports into. */
interface StreamInternals {
  _handle?: NativeHandle | null;
  _writeState?: Uint32Array;
}

export interface ZlibSettings {
  /** 8-15; 8 is run as 9 when deflating (see docs/deflate.md). */
  windowBits: number;
  level: number;
  memLevel: number;
  strategy: number;
}

/**
 * One raw deflate or inflate stream. `run` feeds input and collects output into the
 * caller's buffer; what is left of both is in {@link availIn} / {@link availOut}.
 */
export class RawZlib {
  /** Input bytes the last `run` did not consume. */
  availIn = 0;
  /** Output space the last `run` did not fill. */
  availOut = 0;
  /** zlib's message for the error that stopped the last `run`, or null. */
  error: string | null = null;

  private handle: NativeHandle | null;
  private readonly state: Uint32Array;

  constructor(
    readonly kind: "deflate" | "inflate",
    readonly settings: ZlibSettings,
  ) {
    // chunkSize: the stream object allocates an output buffer of this size that is never
    // used here, so it gets the smallest zlib allows.
    const stream = (
      kind === "deflate"
        ? zlib.createDeflateRaw({
            windowBits: Math.max(9, settings.windowBits),
            level: settings.level,
            memLevel: settings.memLevel,
            strategy: settings.strategy,
            chunkSize: Z_MIN_CHUNK,
          })
        : zlib.createInflateRaw({ windowBits: settings.windowBits, chunkSize: Z_MIN_CHUNK })
    ) as unknown as StreamInternals;
    const handle = stream._handle;
    const state = stream._writeState;
    if (!handle || !state) throw new Error("zlib binding handle not found");
    // Node's own handler destroys the stream and emits "error" on a later tick; an
    // invalid message from a peer is not an exception here, just a close code.
    handle.onerror = (message: string) => {
      this.error = message || "zlib error";
    };
    this.handle = handle;
    this.state = state;
  }

  /**
   * One zlib call with Z_SYNC_FLUSH. Returns false if zlib reported an error (the
   * stream is then unusable until {@link reset}).
   */
  run(input: Uint8Array, inOff: number, inLen: number, out: Uint8Array, outOff: number, outLen: number): boolean {
    const handle = this.handle;
    if (!handle) throw new Error("zlib stream used after close");
    this.error = null;
    handle.writeSync(Z_SYNC_FLUSH, input, inOff, inLen, out, outOff, outLen);
    if (this.error !== null) return false;
    this.availOut = this.state[0]!;
    this.availIn = this.state[1]!;
    return true;
  }

  /** Back to the state of a new stream with the same settings (memory kept). */
  reset(): void {
    this.error = null;
    this.handle?.reset();
  }

  /** Frees zlib's memory now rather than when the object is collected. */
  close(): void {
    const handle = this.handle;
    this.handle = null;
    if (handle) {
      handle.onerror = undefined;
      handle.close();
    }
  }

  get closed(): boolean {
    return this.handle === null;
  }
}

// ---- availability ------------------------------------------------------------------------

let available: boolean | null = null;

/**
 * Can this Node run persistent synchronous zlib streams? Checked once: the binding must
 * have the expected shape and reproduce RFC 7692 §7.2.3.2 (the same "Hello" twice with
 * context takeover) and §7.2.3.1 (inflate it back).
 */
export function nativeZlibAvailable(): boolean {
  if (available === null) available = probe();
  return available;
}

/** For tests: pretend the binding is (not) there. `null` checks again. */
export function overrideNativeZlibAvailable(value: boolean | null): void {
  available = value;
}

function probe(): boolean {
  try {
    const settings: ZlibSettings = { windowBits: 15, level: 6, memLevel: 8, strategy: 0 };
    const deflater = new RawZlib("deflate", settings);
    const inflater = new RawZlib("inflate", settings);
    const out = Buffer.alloc(64);
    const hello = Buffer.from("Hello");
    const expect = ["f248cdc9c907000000ffff", "f2001100000000ffff"];
    for (const wanted of expect) {
      if (!deflater.run(hello, 0, 5, out, 0, 64) || deflater.availIn !== 0) return false;
      const got = out.subarray(0, 64 - deflater.availOut);
      if (got.toString("hex") !== wanted) return false;
      const back = Buffer.alloc(16);
      if (!inflater.run(got, 0, got.length, back, 0, 16)) return false;
      if (back.subarray(0, 16 - inflater.availOut).toString() !== "Hello") return false;
    }
    deflater.close();
    inflater.close();
    return true;
  } catch {
    return false;
  }
}

// ---- pools ---------------------------------------------------------------------------------

/**
 * Streams that no_context_takeover makes needless between messages are given back here,
 * reset, instead of being kept per connection. Everything runs synchronously, so a pool
 * shared by the whole process never hands one stream to two users; it only saves the
 * cost of creating streams. A reset stream behaves exactly as a new one, so results do
 * not depend on what the pool holds.
 */
const pools = new Map<string, RawZlib[]>();
const limits = { deflate: 4, inflate: 16 };

function keyOf(kind: "deflate" | "inflate", s: ZlibSettings): string {
  return kind === "deflate" ? `d${s.windowBits}:${s.level}:${s.memLevel}:${s.strategy}` : `i${s.windowBits}`;
}

export function borrowZlib(kind: "deflate" | "inflate", settings: ZlibSettings): RawZlib {
  return pools.get(keyOf(kind, settings))?.pop() ?? new RawZlib(kind, settings);
}

export function returnZlib(stream: RawZlib): void {
  if (stream.closed) return;
  if (stream.error !== null) {
    stream.close();
    return;
  }
  const key = keyOf(stream.kind, stream.settings);
  let pool = pools.get(key);
  if (!pool) pools.set(key, (pool = []));
  if (pool.length >= limits[stream.kind]) {
    stream.close();
    return;
  }
  stream.reset();
  pool.push(stream);
}

/**
 * How many idle streams each pool keeps at most, per settings: deflate 4, inflate 16 by
 * default. 0 turns pooling off (every stream is freed when its message ends).
 */
export function setZlibPoolLimits(next: { deflate?: number; inflate?: number }): void {
  if (next.deflate !== undefined) limits.deflate = next.deflate;
  if (next.inflate !== undefined) limits.inflate = next.inflate;
  for (const [key, pool] of pools) {
    const limit = key.startsWith("d") ? limits.deflate : limits.inflate;
    while (pool.length > limit) pool.pop()!.close();
  }
}

/** Idle streams held by the pools, for measurements and tests. */
export function pooledZlibCount(): number {
  let n = 0;
  for (const pool of pools.values()) n += pool.length;
  return n;
}
