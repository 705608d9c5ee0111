import { defineConfig } from "vitest/config";

// One run covers every tier. Real tiers (gateway, chromium, docker, nginx) check their prerequisites through
// test/helpers/tier.ts: locally a missing prerequisite skips with a loud reason; in CI (CI=true) it fails.
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts", "nginx-compat/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 180_000,
    // Real-gateway, Docker and nginx tiers use network namespaces and fixed namespace names: run files one at a time.
    fileParallelism: false,
    reporters: ["default", "./test/helpers/summary-reporter.ts"],
  },
});
