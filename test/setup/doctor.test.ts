// The doctor's pure parts; its diagnoses against the real gateway are in test/gateway/attribution.test.ts,
// test/gateway/doctor.test.ts and test/gateway/old-release.test.ts.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/options/config.ts";
import { controlUiBuildId, gatewayTraps, testOrigin, versionAtLeast } from "../../src/commands/doctor.ts";
import { checkGatewayHttp, proxyUpdateAdvice } from "../../src/setup/gateway-checks.ts";
import { gatewayConfigFor } from "../../src/setup/gateway-config.ts";

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

  it.each([
    ["2026.9.3", true],
    ["2026.9.6", true],
    ["2026.9.2", false],
    ["2026.8.1", false],
    [undefined, false],
  ])("gateway %s: the note on the gateway's own dashboard link: %s", (version, shown) => {
    const traps = gatewayTraps(loadConfig({ env: {}, flags: {} }), version);
    expect(traps.some((t) => t.mark === "note" && /openclaw-sidecar link/.test(t.text))).toBe(shown);
  });

  it("node pairing: warned in identity mode when nodes are expected (self-authenticating routes), naming loopback", () => {
    const identity = { "--mode": "identity", "--token": "u".repeat(32) };
    const none = gatewayTraps(loadConfig({ env: {}, flags: identity }), "2026.9.6");
    expect(none.filter((t) => t.mark === "warn")).toEqual([]);
    const overLan = gatewayTraps(
      loadConfig({ env: {}, flags: { ...identity, "--self-authenticating-routes": "true" } }),
      "2026.9.6",
    );
    expect(overLan).toContainEqual({ mark: "warn", text: expect.stringMatching(/^node pairing: over the network/) });
    const overLoopback = gatewayTraps(
      loadConfig({
        env: {},
        flags: { ...identity, "--self-authenticating-routes": "true", "--upstream": "http://127.0.0.1:18789" },
      }),
      "2026.9.6",
    );
    expect(overLoopback).toContainEqual({
      mark: "warn",
      text: expect.stringContaining("the sidecar reaches the gateway over loopback"),
    });
    // Attribution mode: the gateway pairs every device itself, nothing to warn about.
    const attribution = gatewayTraps(
      loadConfig({ env: {}, flags: { "--upstream": "http://127.0.0.1:18789" } }),
      "2026.9.6",
    );
    expect(attribution.filter((t) => t.mark === "warn")).toEqual([]);
  });

  it("the update warning names the issue, the fix release and how to see a rolled-back update", () => {
    const text = proxyUpdateAdvice("2026.9.5");
    expect(text).toContain("gateway 2026.9.5 is older than 2026.9.6");
    expect(text).toContain("openclaw#141046");
    expect(text).toContain("#153540");
    expect(text).toContain("openclaw update status");
  });

  it.each([
    ["identity", "2026.9.5", true],
    ["identity", "2026.8.1", true],
    ["identity", "2026.9.6", false],
    ["identity", "2026.10.1", false],
    ["attribution", "2026.9.5", false],
  ])("%s mode, a gateway whose Control UI says %s: the update warning: %s", async (mode, version, warned) => {
    // A stand-in for the gateway's HTTP side: its /healthz, /readyz and the Control UI index with its build id.
    const server = http.createServer((req, res) => {
      if (req.url === "/") {
        res.setHeader("content-type", "text/html");
        res.end(`<html data-openclaw-control-ui-build-id="${version}-release-eb377ac59e6c-${"ab".repeat(32)}">`);
      } else {
        res.setHeader("content-type", "application/json");
        res.end('{"ok":true}');
      }
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const upstream = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const flags = { "--upstream": upstream, "--mode": mode, "--token": "u".repeat(32) };
      const report = await checkGatewayHttp(loadConfig({ env: {}, flags }), "10.119.0.10", 2000);
      expect(report.findings).toContainEqual({ mark: "ok", text: `gateway version ${version}` });
      const warning = report.findings.find((f) => f.text.includes("older than 2026.9.6"));
      expect(warning !== undefined).toBe(warned);
      if (warned) expect(warning).toEqual({ mark: "warn", text: proxyUpdateAdvice(version) });
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it("print-gateway-config's notes: in identity mode, that nodes are not auto-approved, loopback or not", () => {
    const identity = gatewayConfigFor(
      loadConfig({ env: {}, flags: { "--mode": "identity", "--token": "u".repeat(32) } }),
      "10.119.0.10",
    );
    expect(identity).toContain(
      "Node pairing: a node that connects through the sidecar with a user (a machine credential) is not auto-approved",
    );
    expect(identity).toContain("over loopback (a same-pod sidecar) as over the network");
    expect(gatewayConfigFor(loadConfig({ env: {}, flags: {} }), "10.119.0.10")).not.toContain("Node pairing");
  });
});
