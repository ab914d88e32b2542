/**
 * Sources that can hold their writes and let them go together (a Node socket's
 * cork/uncork). A loop corks the ones it services and uncorks them at the end of its
 * pass, so everything one pass wrote to a socket leaves in one vectored write.
 */
import type { Pollable } from "./transport.js";

export interface Corkable {
  cork(): void;
  uncork(): void;
}

/** The source, when it can batch writes; loops look once, when the descriptor is added. */
export function asCorkable(source: Pollable): (Pollable & Corkable) | null {
  const candidate = source as Partial<Corkable>;
  return typeof candidate.cork === "function" && typeof candidate.uncork === "function" ? (source as Pollable & Corkable) : null;
}
