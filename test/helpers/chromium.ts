// Debian's Chromium for the browser tiers (playwright-core drives it; no browser is downloaded): where it is, the flags
// that keep it quiet on a machine without internet, where screenshots go, and the prerequisite sentence for
// describeTier.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const CHROMIUM = "/usr/bin/chromium";
/** Where screenshots go (gitignored). */
export const ARTIFACTS_DIR = fileURLToPath(new URL("../../test-artifacts", import.meta.url));

// Without the background-networking flags Chromium keeps dialling Google hosts this machine cannot reach.
export const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Unmet prerequisites for driving Chromium, as sentences for describeTier. */
export function chromiumPrereqs(): string[] {
  return existsSync(CHROMIUM) ? [] : [`Chromium at ${CHROMIUM} (Debian package chromium)`];
}
