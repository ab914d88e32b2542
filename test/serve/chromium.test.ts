/**
 * The demo page in a real browser: headless Chromium (test/interop/peers/chromium.ts)
 * opens the page wsloop serves, sees the dumb-increment counter rise, presses Reset and
 * sees it restart, draws on the mirror canvas in one page and sees the stroke arrive in
 * a second page on the same ?mirror= instance, sees the status panel count both pages,
 * sees the page grey out when the server stops and recover when it is back.
 * Screenshots go to test-results/serve/ (gitignored).
 */
import { mkdirSync } from "node:fs";
import { createServer as createNetServer, type AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { Page } from "playwright-core";
import { CHROMIUM_PATH, launchChromium, type ChromiumPeer } from "../interop/peers/chromium.js";
import { describeWithPeer, executableCheck } from "../interop/helpers.js";
import { demoConfig } from "../../src/serve/demo-config.js";
import { startServer, type RunningServer } from "../../src/serve/server.js";

const shots = new URL("../../test-results/serve/", import.meta.url).pathname;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createNetServer().listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

describeWithPeer("the demo page in headless Chromium", "chromium", executableCheck(CHROMIUM_PATH), () => {
  let browser: ChromiumPeer;
  let server: RunningServer | null = null;
  let port: number;
  const start = async () => {
    server = await startServer(demoConfig({ port, host: "127.0.0.1" }), { emit: () => {} });
  };

  beforeAll(async () => {
    mkdirSync(shots, { recursive: true });
    port = await freePort();
    await start();
    browser = await launchChromium();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await server?.close(200);
  });

  const counter = async (page: Page) => Number(await page.textContent("#counter"));
  const shot = (page: Page, name: string) => page.screenshot({ path: join(shots, `${name}.png`) });

  it("counter, reset, mirror across pages, status, grey-out and recovery", async () => {
    const url = `http://127.0.0.1:${port}/?mirror=test`;
    const a = await browser.newPage();
    await a.goto(url);
    await a.waitForSelector('body[data-connected="true"]', { timeout: 10_000 });

    // The counter rises...
    await a.waitForFunction(`Number(document.getElementById("counter").textContent) >= 20`, undefined, { timeout: 10_000 });
    const before = await counter(a);
    await shot(a, "1-counting");
    // ...and Reset restarts it.
    await a.click("#reset");
    await a.waitForFunction(`Number(document.getElementById("counter").textContent) < ${Math.min(before, 15)}`, undefined, { timeout: 5_000 });
    expect(await counter(a)).toBeLessThan(before);

    // A stroke drawn in page a appears in page b (same ?mirror= instance).
    const b = await browser.newPage();
    await b.goto(url);
    await b.waitForSelector('body[data-connected="true"]', { timeout: 10_000 });
    const box = (await a.locator("#mirror").boundingBox())!;
    await a.mouse.move(box.x + 30, box.y + 30);
    await a.mouse.down();
    for (let i = 1; i <= 10; i++) await a.mouse.move(box.x + 30 + i * 20, box.y + 30 + i * 10);
    await a.mouse.up();
    await b.waitForFunction(`Number(document.getElementById("mirror").dataset.strokes) >= 10`, undefined, { timeout: 5_000 });
    // Pixels really were drawn in b: some are not transparent.
    const inked = await b.evaluate(
      `(() => { const c = document.getElementById("mirror"); const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data; let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n; })()`,
    );
    expect(inked).toBeGreaterThan(50);
    // The status panel (lws-status, a fragmented message) counts both pages' sockets.
    await b.waitForFunction(`Number(document.getElementById("status-count").textContent) >= 6`, undefined, { timeout: 5_000 });
    await shot(a, "2-drawn-in-a");
    await shot(b, "3-seen-in-b");

    // The server stops: the page greys out.
    await server!.close(500);
    server = null;
    await a.waitForSelector('body[data-connected="false"]', { timeout: 5_000 });
    const filter = await a.evaluate(`getComputedStyle(document.querySelector("main")).filter`);
    expect(filter).toContain("grayscale");
    await shot(a, "4-disconnected");

    // It comes back: the page reconnects by itself and counts again.
    await start();
    await a.waitForSelector('body[data-connected="true"]', { timeout: 15_000 });
    await a.waitForFunction(`Number(document.getElementById("counter").textContent) >= 3`, undefined, { timeout: 5_000 });
    await shot(a, "5-reconnected");
  }, 60_000);
});
