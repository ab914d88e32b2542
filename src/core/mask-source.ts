import { randomFillSync } from "node:crypto";
import { usage } from "./errors.js";

/**
 * Where a client gets the masking key of each frame it sends. RFC 6455 §5.3 asks for a
 * fresh, unpredictable key per frame, so intermediaries cannot be fed chosen bytes.
 */
export interface MaskSource {
  /** A 4-byte key. The array may be reused: it is valid only until the next call. */
  next(): Uint8Array;
}

const DEFAULT_POOL_BYTES = 8192;

/**
 * Keys from the system CSPRNG. Asking the CSPRNG for 4 bytes per frame costs a native
 * call each time, so random bytes are drawn a pool at a time and handed out in
 * slices of four.
 */
export class PooledMaskSource implements MaskSource {
  private readonly pool: Uint8Array;
  private offset: number;
  /** Handed out instead of a subarray of the pool, so `next()` allocates nothing. */
  private readonly key = new Uint8Array(4);

  /** @param poolBytes size of the random pool, a positive multiple of 4 (8 KiB by default). */
  constructor(poolBytes: number = DEFAULT_POOL_BYTES) {
    if (!Number.isInteger(poolBytes) || poolBytes < 4 || poolBytes % 4 !== 0) {
      throw usage("INVALID_ARGUMENT", `PooledMaskSource: poolBytes must be a positive multiple of 4, got ${poolBytes}`);
    }
    this.pool = new Uint8Array(poolBytes);
    // Start "used up" so the first call fills the pool; a source that is built and
    // never used costs no entropy.
    this.offset = poolBytes;
  }

  next(): Uint8Array {
    const pool = this.pool;
    let o = this.offset;
    if (o >= pool.length) {
      randomFillSync(pool);
      o = 0;
    }
    const key = this.key;
    key[0] = pool[o]!;
    key[1] = pool[o + 1]!;
    key[2] = pool[o + 2]!;
    key[3] = pool[o + 3]!;
    this.offset = o + 4;
    return key;
  }
}

const zeroKey = new Uint8Array(4);

/**
 * Always the all-zero key, which leaves payloads unchanged on the wire.
 * FOR DETERMINISTIC TESTS ONLY: a predictable key defeats the purpose of masking
 * (protecting intermediaries from attacker-chosen bytes), so never use it against a
 * real peer.
 */
export const zeroMaskSource: MaskSource = {
  next(): Uint8Array {
    // Re-zeroed each time in case a caller wrote into the shared array.
    zeroKey.fill(0);
    return zeroKey;
  },
};
