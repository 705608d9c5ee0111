// The doctor's pure parts; its diagnoses against the real gateway are in test/gateway/attribution.test.ts,
// test/gateway/doctor.test.ts and test/gateway/old-release.test.ts.
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/options/config.ts";
import { controlUiBuildId, testOrigin, versionAtLeast } from "../../src/commands/doctor.ts";

describe("doctor helpers", () => {
  it.each([
    ["2026.9.6", true],
    ["2026.8.1", true],
    ["2026.8.0", false],
    ["2026.7.35", false],
    ["2026.1.29", false],
    ["2027.1.1", true],
    ["2025.12.31", false],
  ])("gateway %s is new enough for proxy attribution and deviceAutoApprove: %s", (version, ok) => {
    expect(versionAtLeast(version, [2026, 8, 1])).toBe(ok);
  });

  it("takes the connect buildId (≤ 96 characters) from the index's build-id attribute, without the asset hash", () => {
    const html = `<html data-openclaw-control-ui-build-id="2026.9.6-release-eb377ac59e6c-2026-09-23T16-33-12.144Z-${"ab".repeat(32)}" lang="en">`;
    expect(controlUiBuildId(html)).toBe("2026.9.6-release-eb377ac59e6c-2026-09-23T16-33-12.144Z");
    expect(controlUiBuildId("<html>")).toBeUndefined();
  });

  it.each([
    [
      { "--public-origin": "https://claw.example.com", "--allowed-origins": "https://other.example" },
      "https://claw.example.com",
      "publicOrigin",
    ],
    [{ "--allowed-origins": "https://other.example,https://third.example" }, "https://other.example", "allowedOrigins"],
    [
      { "--listen": "0.0.0.0:8080" },
      "http://localhost:8080",
      "the listen port; set --public-origin to the origin your users open",
    ],
  ])("the test handshake's Origin for %o is %s (from %s)", (flags, origin, from) => {
    expect(testOrigin(loadConfig({ env: {}, flags }))).toEqual({ origin, from });
  });
});
