// Prints plain closing lines that any CI log reader understands: one per tier, then the total —
//   vitest tier real gateway: 33 passed, 0 failed, 0 skipped (95 s)
//   vitest: N passed, N failed, N skipped
// A file's tier is its directory (test/gateway → real gateway, test/container → Docker, nginx-compat/parity → nginx)
// or, for a browser test among loopback ones, its name (test/http/pages.test.ts → Chromium);
// the other files under test/ and nginx-compat/ are the unit and loopback tiers, which share one line.
import path from "node:path";
import type { Reporter, TestModule } from "vitest/node";

const TIERS: Array<[RegExp, string]> = [
  [/(^|\/)test\/gateway\//, "real gateway"],
  [/(^|\/)test\/container\//, "Docker"],
  [/(^|\/)nginx-compat\/parity\.test\.ts$/, "nginx"],
  [/(^|\/)test\/deploy\//, "deploy"],
  [/(^|\/)test\/http\/pages\.test\.ts$/, "Chromium"],
];

export function tierOf(file: string): string {
  const rel = file.split(path.sep).join("/");
  return TIERS.find(([re]) => re.test(rel))?.[1] ?? "unit + loopback";
}

interface Counts {
  passed: number;
  failed: number;
  skipped: number;
  ms: number;
}

export default class SummaryReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    const total: Counts = { passed: 0, failed: 0, skipped: 0, ms: 0 };
    const tiers = new Map<string, Counts>();
    for (const mod of modules) {
      const tier = tiers.get(tierOf(mod.moduleId)) ?? { passed: 0, failed: 0, skipped: 0, ms: 0 };
      tiers.set(tierOf(mod.moduleId), tier);
      const add = (key: "passed" | "failed" | "skipped") => {
        tier[key]++;
        total[key]++;
      };
      for (const test of mod.children.allTests()) {
        const state = test.result().state;
        add(state === "passed" ? "passed" : state === "failed" ? "failed" : "skipped");
      }
      // A file that failed to load or whose hooks threw has no passing tests to show for it.
      if (mod.state() === "failed" && [...mod.children.allTests()].every((t) => t.result().state !== "failed"))
        add("failed");
      tier.ms += mod.diagnostic().duration;
    }
    const line = (c: Counts) => `${c.passed} passed, ${c.failed} failed, ${c.skipped} skipped`;
    process.stdout.write("\n");
    for (const [name, c] of [...tiers].sort(([a], [b]) => a.localeCompare(b)))
      process.stdout.write(`vitest tier ${name}: ${line(c)} (${Math.round(c.ms / 1000)} s)\n`);
    process.stdout.write(`vitest: ${line(total)}\n`);
  }
}
