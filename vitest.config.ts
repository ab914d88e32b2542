import { defineConfig } from "vitest/config";

// CI asks for a JSON report too, so its summary line uses vitest's own counts.
const json = process.env.WSLOOP_VITEST_JSON;

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 20_000,
    pool: "forks",
    reporters: json ? ["default", "json"] : ["default"],
    outputFile: json ? { json } : undefined,
  },
});
