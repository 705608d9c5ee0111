import { describe } from "vitest";

/** True when running under CI (CI=true): there a missing prerequisite is a failure, never a skip. */
export const inCI = process.env.CI === "true" || process.env.CI === "1";

/**
 * Declares a real tier (real gateway, Chromium, Docker, nginx). `missing` is the list of unmet prerequisites,
 * each a sentence a person can act on. Locally the tier is skipped with a loud reason; in CI it fails.
 */
export function describeTier(name: string, missing: string[], body: () => void): void {
  if (missing.length === 0) {
    describe(name, body);
    return;
  }
  const reason = `${name}: prerequisites missing:\n  - ${missing.join("\n  - ")}\n  (run: bash scripts/install-prereqs.sh)`;
  if (inCI) {
    describe(name, () => {
      throw new Error(`CI requires this tier. ${reason}`);
    });
    return;
  }
  console.warn(`\n*** SKIPPING ${reason}\n`);
  describe.skip(name, body);
}
