/**
 * Per-connection limits of the rx loop: how much the receive side lets pile up before
 * it holds the peer back, and how much the send side holds before its overflow policy
 * applies. A loop has defaults; connect() can override them per connection.
 */
import { usage } from "../../core/errors.js";
import type { OverflowPolicy } from "./sender.js";

export interface RxConnectionOptions {
  /** Unprocessed received messages above which rx is held (the peer slowed). Default 16. */
  highWaterMark?: number;
  /** Unprocessed received bytes above which rx is held. Default 1 MiB. */
  highWaterBytes?: number;
  /** Bytes held for sending (queued plus the unfinished write) before `overflow` applies. Default 1 MiB. */
  maxBufferedBytes?: number;
  /** What a pushed message that does not fit meets: "wait" (refused), "drop" (counted), "close" (1008). Default "wait". */
  overflow?: OverflowPolicy;
}

export type ResolvedConnectionOptions = Required<RxConnectionOptions>;

export const defaultConnectionOptions: ResolvedConnectionOptions = {
  highWaterMark: 16,
  highWaterBytes: 1024 * 1024,
  maxBufferedBytes: 1024 * 1024,
  overflow: "wait",
};

const policies: readonly OverflowPolicy[] = ["wait", "drop", "close"];

/** `base` with `override` applied, checked: a bad limit is a usage error at the call that gave it. */
export function resolveConnectionOptions(base: ResolvedConnectionOptions, override: RxConnectionOptions = {}): ResolvedConnectionOptions {
  const resolved = { ...base };
  for (const key of ["highWaterMark", "highWaterBytes", "maxBufferedBytes"] as const) {
    const value = override[key];
    if (value === undefined) continue;
    const min = key === "maxBufferedBytes" ? 1 : 0;
    if (!(value >= min) || (!Number.isInteger(value) && value !== Number.POSITIVE_INFINITY)) {
      throw usage("INVALID_ARGUMENT", `${key} must be a whole number of at least ${min}, got ${value}`);
    }
    resolved[key] = value;
  }
  if (override.overflow !== undefined) {
    if (!policies.includes(override.overflow)) {
      throw usage("INVALID_ARGUMENT", `overflow must be one of ${policies.join(", ")}, got ${JSON.stringify(override.overflow)}`);
    }
    resolved.overflow = override.overflow;
  }
  return resolved;
}
