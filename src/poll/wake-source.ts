/**
 * The cancel-service wake-up source: a descriptor like any other, readable once
 * cancelService() was called and until the context services it. Unlike lws, it is
 * announced through the add hook, so an external loop needs nothing but the hooks.
 */
import { POLLIN } from "./pollfd.js";
import type { Pollable } from "./transport.js";

export class WakeSource implements Pollable {
  onReadiness: (() => void) | null = null;
  private cancelled = false;
  private nudged = false;

  poll(): number {
    return this.cancelled || this.nudged ? POLLIN : 0;
  }

  /** cancelService(): the next service of this descriptor tells every protocol. */
  signal(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    if (!this.nudged) this.onReadiness?.();
  }

  /**
   * Wake the loop without telling the protocols: the earliest deadline moved earlier
   * outside a service (a user timer set from the user's own code), so the loop must ask
   * adjustTimeout() again.
   */
  nudge(): void {
    if (this.nudged) return;
    this.nudged = true;
    if (!this.cancelled) this.onReadiness?.();
  }

  /** Consume the readiness; returns whether cancelService() was among its causes. */
  clear(): boolean {
    const cancelled = this.cancelled;
    this.cancelled = false;
    this.nudged = false;
    return cancelled;
  }
}
