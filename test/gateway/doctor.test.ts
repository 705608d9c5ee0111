// The doctor and the startup check against the REAL gateway (2026.9.6, token auth, bind lan) in the namespaces of
// netns.ts: a sidecar at 10.77.0.3 that the gateway does not trust yet. Issue 15 §2: identity mode against a gateway
// still in auth.mode "token" must fail and name the fix; the test Origin is publicOrigin and is named. Old releases:
// old-release.test.ts.
import { afterAll, beforeAll, expect, it } from "vitest";
import { describeTier } from "../helpers/tier.ts";
import { gatewayPrereqs, type RunningGateway, startGateway } from "./gateway.ts";
import { cleanupStaleNetworks, createTestNetwork, netnsPrereqs, type TestNetwork } from "./netns.ts";
import { type SidecarProcess, runDoctor, startSidecarIn } from "./sidecar-process.ts";

const GW_PORT = 18789;
const TOKEN = "doctor-test-token-0123456789abcdef";

describeTier(
  "real gateway: the doctor's verdicts and the startup check",
  [...netnsPrereqs(), ...gatewayPrereqs()],
  () => {
    let net: TestNetwork;
    let gw: RunningGateway;
    let sc: SidecarProcess;
    const doctor = (flags: string[], env: Record<string, string> = {}) =>
      runDoctor(
        net.sidecar.ns,
        ["--upstream", `http://${net.gateway.ip}:${GW_PORT}`, "--sidecar-address", net.sidecar.ip, ...flags],
        env,
      );

    beforeAll(async () => {
      await cleanupStaleNetworks();
      net = await createTestNetwork();
      gw = await startGateway({
        host: net.gateway,
        port: GW_PORT,
        config: {
          gateway: {
            port: GW_PORT,
            bind: "lan",
            trustedProxies: [`${net.sidecar.ip}/32`],
            auth: { mode: "token", token: TOKEN },
            controlUi: { allowedOrigins: ["https://claw.example.com"] },
          },
        },
      });
    }, 150_000);

    afterAll(async () => {
      await sc?.stop();
      await gw?.stop();
      await net?.destroy();
    }, 30_000);

    it("identity mode against a gateway in auth.mode token: FAIL, names the wrong auth.mode, prints the trusted-proxy block", async () => {
      const { code, out } = await doctor([
        "--mode",
        "identity",
        "--token",
        "u".repeat(32),
        "--user",
        "alice@example.com",
        "--public-origin",
        "https://claw.example.com",
      ]);
      expect(out).toContain('the gateway is in auth.mode "token", but identity mode needs auth.mode "trusted-proxy"');
      expect(out).toContain('"mode": "trusted-proxy"');
      expect(out).toContain('"deviceAutoApprove"');
      expect(out).not.toContain("will work.");
      expect(code).toBe(1);
    }, 60_000);

    it("the test Origin is publicOrigin, and the output says so; an Origin the gateway does not allow fails by name", async () => {
      const ok = await doctor(["--public-origin", "https://claw.example.com"], { OPENCLAW_GATEWAY_TOKEN: TOKEN });
      expect(ok.out).toContain("test Origin https://claw.example.com (from publicOrigin)");
      expect(ok.out).toContain("test handshake: 1008 pairing required — expected in attribution mode");
      expect(ok.out).toContain("RESULT: attribution mode will work.");
      expect(ok.code).toBe(0);
      // Without publicOrigin the doctor tests http://localhost:<listen port>, says where that came from, and fails.
      const other = await doctor(["--listen", "0.0.0.0:8080"], { OPENCLAW_GATEWAY_TOKEN: TOKEN });
      expect(other.out).toContain(
        "test Origin http://localhost:8080 (from the listen port; set --public-origin to the origin your users open)",
      );
      expect(other.out).toContain("origin not allowed");
      expect(other.code).toBe(1);
    }, 60_000);

    it("the startup check of a sidecar the gateway does not trust: one warning with the trustedProxies fix; the listener was ready first", async () => {
      // Run from the client namespace (10.77.0.2), which is not in trustedProxies.
      sc = await startSidecarIn(net.client.ns, {
        "--listen": "0.0.0.0:8080",
        "--upstream": `http://${net.gateway.ip}:${GW_PORT}`,
      });
      await expect.poll(() => sc.logs(), { timeout: 15_000 }).toContain("gateway check at startup");
      const lines = sc
        .logs()
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      const checks = lines.filter((l) => String(l.msg).startsWith("gateway check at startup"));
      expect(checks).toHaveLength(1);
      expect(checks[0]).toMatchObject({ level: "warn" });
      expect(String(checks[0]?.diagnosis)).toContain("403 proxy_attribution_required");
      expect(String(checks[0]?.diagnosis)).toContain(`gateway.trustedProxies: ["${net.client.ip}/32"]`);
      expect(lines.findIndex((l) => l.msg === "openclaw-sidecar listening")).toBeLessThan(
        lines.indexOf(checks[0] as Record<string, unknown>),
      );
    }, 30_000);
  },
);
