/**
 * The cancel-service wake-up source: a descriptor like any other, readable once
 * cancelService() was called and until the context services it. Unlike lws, it is
 * announced through the add hook, so an external loop needs nothing but the hooks.
 */
import { POLLIN } from "./pollfd.js";
import type { Pollable } from "./transport.js";

export class WakeSource implements Pollable {
  onReadiness: (() => void) | null = null;
  private signalled = false;

  poll(): number {
    return this.signalled ? POLLIN : 0;
  }

  signal(): void {
    if (this.signalled) return;
    this.signalled = true;
    this.onReadiness?.();
  }

  clear(): void {
    this.signalled = false;
  }
}
