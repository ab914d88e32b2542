/** The examples are documentation that runs: each is exercised here. */
import { describe, expect, it } from "vitest";
import WebSocket from "ws";
import { runManualEcho } from "../examples/manual-echo.js";
import { startTickServer } from "../examples/tick-loop.js";

describe("examples", () => {
  it("manual-echo drives a client and a server by hand to a clean close", () => {
    const lines: string[] = [];
    expect(runManualEcho((line) => lines.push(line))).toEqual(["hello", "wsloop", "bye"]);
    expect(lines).toContain("client closed: 1000 \"\" clean=true");
    // The wake-up sources are announced first, through the add hook, on both contexts.
    expect(lines.slice(0, 2)).toEqual(["  server add fd 3 for POLLIN", "  client add fd 3 for POLLIN"]);
  });

  it("tick-loop serves real WebSocket clients from a fixed-rate tick", async () => {
    const server = await startTickServer(0, 5);
    try {
      const ws = new WebSocket(`ws://127.0.0.1:${server.port}/`, "game");
      const states: Array<{ tick: number; you: string }> = [];
      await new Promise<void>((resolve, reject) => {
        ws.on("open", () => ws.send("ada"));
        ws.on("message", (data) => {
          const state = JSON.parse(String(data)) as { tick: number; you: string };
          states.push(state);
          if (state.you === "ada" && states.length >= 3) resolve();
        });
        ws.on("error", reject);
      });
      const ticks = states.map((s) => s.tick);
      expect([...ticks].sort((a, b) => a - b)).toEqual(ticks);
      expect(new Set(ticks).size).toBe(ticks.length);
      ws.close();
    } finally {
      await server.stop();
    }
  });
});
