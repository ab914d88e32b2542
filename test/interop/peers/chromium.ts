/**
 * Headless Debian Chromium (/usr/bin/chromium, installed by .ci/install-peers.sh)
 * driven by npm `playwright-core` (which never downloads a browser).
 *
 * Pitfalls seen on this machine (see also lws-apps.md / the interop README):
 * - `chromium.launch()` already gives every launch a fresh temporary profile
 *   (`--user-data-dir=/tmp/playwright_chromiumdev_profile-XXXXXX`, deleted on
 *   close). Passing `--user-data-dir` in `args` makes launch() throw; use
 *   launchPersistentContext if a fixed profile is ever needed.
 * - Without --disable-background-networking / --disable-component-update /
 *   --disable-sync, Chromium keeps trying to reach Google hosts, which this
 *   closed network refuses. All test traffic must be 127.0.0.1.
 * - /usr/bin/chromium is Debian's shell wrapper; it prints a harmless
 *   "[: ...: unexpected operator" (its /dev/shm size check in
 *   /etc/chromium.d/dev-shm) on stderr, then execs /usr/lib/chromium/chromium.
 * - The project tsconfig has no "DOM" lib: code passed to page.evaluate that
 *   names WebSocket/document does not typecheck. Pass a string expression, or
 *   write the in-page code with `globalThis as any`.
 * - Open pages over http://127.0.0.1:PORT/ (not file:// or about:blank) so
 *   the page has a real origin; ws://127.0.0.1 from such a page needs no flags.
 */
import type { Browser, BrowserContext, Page } from "playwright-core";
import { chromium } from "playwright-core";

export const CHROMIUM_PATH = process.env["WSLOOP_CHROMIUM"] ?? "/usr/bin/chromium";

/** Flags this sandbox-less, network-less, root CI machine needs. */
export const CHROMIUM_ARGS: readonly string[] = [
  "--headless",
  "--no-sandbox", // running as root; chromium-sandbox (suid helper) not installed
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--no-default-browser-check",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-dev-shm-usage",
];

export interface ChromiumPeer {
  browser: Browser;
  /** A page in its own fresh BrowserContext (no shared cookies/cache). */
  newPage(): Promise<Page>;
  /** Closes every context and the browser; safe to call twice. */
  close(): Promise<void>;
}

export interface LaunchChromiumOptions {
  /** Extra chromium flags appended to CHROMIUM_ARGS. */
  extraArgs?: readonly string[];
  /** Launch timeout (ms); a cold start on 2 cores takes ~0.5-1 s. */
  timeoutMs?: number;
}

export async function launchChromium(options: LaunchChromiumOptions = {}): Promise<ChromiumPeer> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    chromiumSandbox: false,
    args: [...CHROMIUM_ARGS, ...(options.extraArgs ?? [])],
    timeout: options.timeoutMs ?? 60_000,
    // Leave SIGINT/SIGTERM to the test runner; we close explicitly.
    handleSIGINT: false,
    handleSIGTERM: false,
    handleSIGHUP: false,
  });
  const contexts = new Set<BrowserContext>();
  let closed = false;
  return {
    browser,
    async newPage(): Promise<Page> {
      const context = await browser.newContext();
      contexts.add(context);
      context.once("close", () => contexts.delete(context));
      return context.newPage();
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      await Promise.allSettled([...contexts].map((c) => c.close()));
      await browser.close();
    },
  };
}
