// Real-gateway tier: reproduces the seed symptom against the pinned OpenClaw gateway (no sidecar yet) and proves
// the harness: token auth, bind lan, client behind "NAT" at 10.77.0.2 → 1008 pairing required; approval via the
// gateway's own CLI fixes it; the real Control UI in Chromium shows the approve screen and connects once approved.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeTier } from "../helpers/tier.ts";
import { controlUiPrereqs, launchControlUi } from "./control-ui.ts";
import { cleanupStaleGatewayHomes, gatewayPrereqs, type RunningGateway, startGateway } from "./gateway.ts";
import { cleanupStaleNetworks, createTestNetwork, listNetns, netnsPrereqs, type TestNetwork } from "./netns.ts";
import { connectFromNamespace, createDeviceIdentity } from "./protocol-client.ts";

const PORT = 18789; // the gateway's default; free by construction inside a namespace created for this run
const TOKEN = "seed-test-token-0123456789abcdef";

interface DevicesList {
  pending: Array<{ requestId: string; deviceId: string; clientId: string; remoteIp?: string }>;
  paired: Array<{ deviceId: string; clientId?: string; scopes?: string[] }>;
}

describeTier(
  "real gateway: seed symptom (token auth, bind lan)",
  [...netnsPrereqs(), ...gatewayPrereqs(), ...controlUiPrereqs()],
  () => {
    let net: TestNetwork;
    let gw: RunningGateway;

    beforeAll(async () => {
      await cleanupStaleNetworks(); // a crashed earlier run must not linger (its gateway would keep running)
      cleanupStaleGatewayHomes();
      net = await createTestNetwork();
      gw = await startGateway({
        host: net.gateway,
        port: PORT,
        config: {
          gateway: {
            port: PORT,
            bind: "lan",
            auth: { mode: "token", token: TOKEN },
            controlUi: { allowedOrigins: [`http://${net.gateway.ip}:${PORT}`] },
          },
        },
      });
      console.log(`[seed] gateway ready in ${gw.startupMs} ms`);
    }, 150_000);

    afterAll(async () => {
      await gw?.stop();
      await net?.destroy();
      // The harness owns its cleanup: nothing of this run may survive it.
      if (net) expect((await listNetns()).filter((n) => n.startsWith(net.prefix))).toEqual([]);
      if (gw) expect(() => process.kill(gw.pid, 0)).toThrow();
    }, 30_000);

    const wsUrl = (): string => `ws://${net.gateway.ip}:${PORT}/`;

    describe("scripted protocol-v4 client from the client namespace (10.77.0.2)", () => {
      const device = createDeviceIdentity();
      let requestId = "";

      it("(a) with the right token gets 1008 `pairing required` and a pending request from 10.77.0.2", async () => {
        const result = await connectFromNamespace(net.client.ns, { url: wsUrl(), token: TOKEN, identity: device });
        expect(result.kind).toBe("close");
        if (result.kind !== "close") return;
        expect(result.code).toBe(1008);
        expect(result.reason).toMatch(/^pairing required/);
        expect(result.error?.details?.code).toBe("PAIRING_REQUIRED");
        requestId = String(result.error?.details?.requestId);

        const list = await gw.cliJson<DevicesList>(["devices", "list"]);
        const pending = list.pending.find((p) => p.requestId === requestId);
        expect(pending).toMatchObject({ deviceId: device.deviceId, clientId: "cli", remoteIp: net.client.ip });
        expect(list.paired.some((p) => p.deviceId === device.deviceId)).toBe(false);
      }, 60_000);

      it("(b) after `openclaw devices approve <requestId>` the same device gets hello-ok", async () => {
        expect(requestId).not.toBe("");
        await gw.cliJson(["devices", "approve", requestId]);
        const result = await connectFromNamespace(net.client.ns, { url: wsUrl(), token: TOKEN, identity: device });
        expect(result).toMatchObject({ kind: "hello-ok", role: "operator" });
        if (result.kind !== "hello-ok") return;
        expect(result.scopes).toContain("operator.admin");
        expect(result.serverBuildId).toMatch(/^2026\.9\.6-/);

        // A different, unapproved device with the same token is still refused: approval is per device, not per IP.
        const other = await connectFromNamespace(net.client.ns, { url: wsUrl(), token: TOKEN });
        expect(other).toMatchObject({ kind: "close", code: 1008 });
      }, 60_000);
    });

    it("(c) the real Control UI in Chromium from 10.77.0.2 shows the approve screen, and connects once approved", async () => {
      const ui = await launchControlUi(net.client.ns);
      try {
        await ui.goto(`http://${net.gateway.ip}:${PORT}/#token=${TOKEN}`);
        const refused = await ui.waitForOutcome();
        const before = await ui.report("seed-control-ui-pairing-required.png");
        expect(refused).toMatchObject({ kind: "error", code: "NOT_PAIRED" });
        expect(before.frames).toContainEqual(
          expect.objectContaining({
            kind: "connect",
            clientId: "openclaw-control-ui",
            clientMode: "webchat",
            hasDevice: true,
          }),
        );
        expect(before.closes[0]).toMatchObject({ code: 1008 });
        expect(before.closes[0]?.reason).toMatch(/^pairing required/);
        expect(before.text).toContain("Approve this browser");
        expect(before.isSecureContext).toBe(false); // plain HTTP from a non-loopback origin

        // Approve the browser's own request; the page retries by itself ("connects on its own once approved").
        const requestId = refused?.kind === "error" ? String(refused.details?.requestId) : "";
        await gw.cliJson(["devices", "approve", requestId]);
        const since = ui.frames.length;
        let outcome = await ui.waitForOutcome({ since, timeoutMs: 20_000 });
        if (outcome?.kind !== "hello-ok") {
          // Not retried yet: use the page's own "Check now" button, as a person would.
          console.log("[seed] Control UI did not retry within 20 s; clicking Check now");
          const beforeClick = ui.frames.length;
          await ui.page.getByRole("button", { name: "Check now" }).click();
          outcome = await ui.waitForOutcome({ since: beforeClick, timeoutMs: 20_000 });
        } else {
          console.log(`[seed] Control UI reconnected by itself after approval`);
        }
        const after = await ui.report("seed-control-ui-approved.png");
        expect(outcome).toMatchObject({ kind: "hello-ok" });
        expect(after.text).not.toContain("Approve this browser");
      } finally {
        await ui.close();
      }
    }, 120_000);
  },
);
