/**
 * The receive limits of a WebSocket session, and how sessions share them: thousands of
 * connections of one protocol have the same limits, so they hold one object, not a
 * copy each.
 */

export interface WsSessionLimits {
  /** Largest frame payload accepted; a bigger declared length closes with 1009. */
  maxFramePayload: number;
  /** Largest message accepted (bytes held while assembling, see fragmentOverhead). */
  maxMessageSize: number;
  /**
   * Bytes charged for every piece held while assembling a message, on top of its
   * payload, so that a flood of tiny fragments meets the same budget as one big frame.
   */
  fragmentOverhead: number;
}

export const defaultLimits: Readonly<WsSessionLimits> = Object.freeze({
  maxFramePayload: 16 * 1024 * 1024,
  maxMessageSize: 16 * 1024 * 1024,
  fragmentOverhead: 64,
});

/** The merged limits of each frozen overrides object seen (it cannot change, so neither can they). */
const merged = new WeakMap<Partial<WsSessionLimits>, Readonly<WsSessionLimits>>();

/**
 * `overrides` over the defaults, frozen. No overrides: the defaults themselves. Frozen
 * overrides (a protocol's, made once): one object for every session made from them. Any
 * other object may change between sessions, so each gets its own copy.
 */
export function sessionLimits(overrides: Partial<WsSessionLimits> | undefined): Readonly<WsSessionLimits> {
  if (overrides === undefined) return defaultLimits;
  if (!Object.isFrozen(overrides)) return Object.freeze({ ...defaultLimits, ...overrides });
  let limits = merged.get(overrides);
  if (limits === undefined) {
    limits = Object.freeze({ ...defaultLimits, ...overrides });
    merged.set(overrides, limits);
  }
  return limits;
}
