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

/** A loop's record of one descriptor's source, as far as corking goes. */
export interface CorkHolder {
  corkable: Corkable | null;
  /** Corked in the current pass, and listed in the pass's corked list. */
  corked: boolean;
}

/** Cork the holder's source for the rest of the pass (once), listing it in `corked`. */
export function corkForPass<H extends CorkHolder>(holder: H, corked: H[]): void {
  const corkable = holder.corkable;
  if (corkable === null || holder.corked) return;
  holder.corked = true;
  corkable.cork();
  corked.push(holder);
}

/** The pass is over: let every listed source's writes go, and empty the list. */
export function uncorkPass(corked: CorkHolder[]): void {
  if (corked.length === 0) return;
  // Taken first: an uncork can end in callbacks that start the next pass's list.
  const holders = corked.splice(0);
  for (const holder of holders) {
    holder.corked = false;
    holder.corkable!.uncork();
  }
}
