// Issue 23 §4 and §7 against the REAL gateway 2026.9.6 and the REAL Control UI in headless Chromium, in the namespaces
// of netns.ts (client 10.77.0.2, sidecar 10.77.0.3, gateway 10.77.0.1): the gateway's own `openclaw dashboard` link
// names its loopback gatewayUrl, and the Control UI opened with it through the sidecar asks to switch gateway; the link
// `openclaw-sidecar link` prints reaches a connected dashboard without that question. Node pairing through a trusted
// proxy, from the sidecar's address and over the gateway's loopback (a same-pod sidecar), and what the doctor says.
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, it } from "vitest";
import { controlUiBuildId } from "../../src/setup/gateway-checks.ts";
import { describeTier } from "../helpers/tier.ts";
import { controlUiPrereqs, launchControlUi } from "./control-ui.ts";
import { gatewayPrereqs, NODE24, type RunningGateway, startGateway, trustedProxyGateway } from "./gateway.ts";
import { cleanupStaleNetworks, createTestNetwork, netnsPrereqs, nsExec, type TestNetwork } from "./netns.ts";
import { type ConnectOptions, connectFromNamespace } from "./protocol-client.ts";
import { type SidecarProcess, runDoctor, startSidecarIn } from "./sidecar-process.ts";

const GW_PORT = 18793;
const SC_PORT = 8084;
const USER = "alice@example.com";
const USER_TOKEN = "alice-link-token-0123456789-abcdef";
const CLI = fileURLToPath(new URL("../../src/cli.ts", import.meta.url));
/** What the Control UI shows when a link names another gateway than the one it was loaded from. */
const SWITCH_PROMPT = "Switch to a different Gateway?";

interface DevicesList {
  pending: Array<{ requestId: string; clientId?: string; role?: string }>;
  paired: Array<{ clientId?: string }>;
}

describeTier(
  "real gateway + real Control UI: the gateway's own link, `openclaw-sidecar link`, node pairing behind a trusted proxy",
  [...netnsPrereqs(), ...gatewayPrereqs(), ...controlUiPrereqs()],
  () => {
    let net: TestNetwork;
    let gw: RunningGateway;
    let sc: SidecarProcess;
    let origin: string;

    beforeAll(async () => {
      await cleanupStaleNetworks();
      net = await createTestNetwork();
      origin = `http://${net.sidecar.ip}:${SC_PORT}`;
      const gateway = trustedProxyGateway(GW_PORT, net.sidecar.ip, [USER], {
        // The sidecar's address and, for the same-pod case, the gateway's loopback (with allowLoopback below).
        trustedProxies: [`${net.sidecar.ip}/32`, "127.0.0.1/32"],
        controlUi: { allowedOrigins: [origin] },
        // Node auto-approval by address, naming every address a node behind the sidecar could be seen from: the
        // client's forwarded address, the sidecar's, loopback. (sshVerify off: no SSH probe back.)
        nodes: { pairing: { autoApproveCidrs: ["203.0.113.0/24", "10.77.0.0/16", "127.0.0.1/32"], sshVerify: false } },
      });
      ((gateway.auth as Record<string, unknown>).trustedProxy as Record<string, unknown>).allowLoopback = true;
      gw = await startGateway({ host: net.gateway, port: GW_PORT, config: { gateway } });
      sc = await startSidecarIn(net.sidecar.ns, {
        "--listen": `0.0.0.0:${SC_PORT}`,
        "--upstream": `http://${net.gateway.ip}:${GW_PORT}`,
        "--mode": "identity",
        "--token": USER_TOKEN,
        "--user": USER,
        "--cookie-secret": "k".repeat(48),
        "--public-origin": origin,
      });
    }, 150_000);

    afterAll(async () => {
      await sc?.stop();
      await gw?.stop();
      await net?.destroy();
    }, 30_000);

    it("the gateway's own link (openclaw dashboard, real CLI) names its loopback gatewayUrl; --no-open prints the loopback origin", async () => {
      const r = await gw.cli(["dashboard", "--json"], 90_000);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      const out = JSON.parse(r.stdout) as { browserUrl: string; url: string; wsUrl: string };
      const browserUrl = new URL(out.browserUrl);
      expect(browserUrl.origin).toBe(`http://127.0.0.1:${GW_PORT}`);
      const fragment = new URLSearchParams(browserUrl.hash.slice(1));
      expect(fragment.get("gatewayUrl")).toBe(`ws://127.0.0.1:${GW_PORT}`);
      expect([...fragment.keys()].sort()).toEqual(["bootstrapProfile", "bootstrapToken", "gatewayUrl"]);
      expect(out.wsUrl).toBe(`ws://127.0.0.1:${GW_PORT}`);
      const printed = await gw.cli(["dashboard", "--no-open"], 90_000);
      expect(printed.stdout).toContain(`Dashboard URL: http://127.0.0.1:${GW_PORT}/`);
    }, 200_000);

    it("that link's fragment on the sidecar's origin: the real Control UI asks to switch to the gateway's loopback", async () => {
      const r = await gw.cli(["dashboard", "--json"], 90_000);
      const hash = new URL((JSON.parse(r.stdout) as { browserUrl: string }).browserUrl).hash;
      const ui = await launchControlUi(net.client.ns);
      try {
        await ui.goto(`${origin}/${hash}`);
        let text = "";
        for (let i = 0; i < 60 && !text.includes(SWITCH_PROMPT); i++) {
          await ui.page.waitForTimeout(250);
          text = (await ui.report()).text;
        }
        await ui.report("gateway-dashboard-link-through-sidecar.png");
        expect(text).toContain(SWITCH_PROMPT);
        expect(text).toContain(`127.0.0.1:${GW_PORT}`);
      } finally {
        await ui.close();
      }
    }, 200_000);

    it("the link `openclaw-sidecar link` prints: no gatewayUrl, and the real Control UI connects without asking to switch", async () => {
      const r = await nsExec(
        net.sidecar.ns,
        NODE24,
        [CLI, "link", "--mode", "identity", "--token", USER_TOKEN, "--user", USER, "--public-origin", origin],
        { env: { PATH: process.env.PATH ?? "" }, timeoutMs: 30_000 },
      );
      expect(r.code, r.stderr).toBe(0);
      const link = r.stdout.trim();
      expect(link).toBe(`${origin}/#token=${USER_TOKEN}`);
      expect(link).not.toContain("gatewayUrl");
      const ui = await launchControlUi(net.client.ns);
      try {
        await ui.goto(link);
        const outcome = await ui.waitForOutcome({ timeoutMs: 40_000 });
        const report = await ui.report("sidecar-link-connected.png");
        expect(outcome, JSON.stringify(report.frames)).toMatchObject({ kind: "hello-ok" });
        expect(report.text).not.toContain(SWITCH_PROMPT);
        expect(report.text).not.toContain("Approve this browser");
      } finally {
        await ui.close();
      }
      expect((await gw.cliJson<DevicesList>(["devices", "list"])).pending).toEqual([]);
      expect(sc.logs()).not.toContain(USER_TOKEN);
    }, 120_000);

    it("node pairing through a trusted proxy: operator UI devices auto-approved, a node never — loopback or not", async () => {
      const index = await nsExec(net.gateway.ns, "curl", ["-s", "-m", "5", `${gw.loopbackUrl}/`], {
        timeoutMs: 10_000,
      });
      const buildId = controlUiBuildId(index.stdout) ?? "";
      // What the sidecar sends in identity mode, for a client at a public address.
      const headers = {
        "x-forwarded-for": "203.0.113.9",
        "x-forwarded-proto": "https",
        "x-forwarded-host": `${net.sidecar.ip}:${SC_PORT}`,
        "x-forwarded-user": USER,
      };
      const ui: Partial<ConnectOptions> = {
        clientId: "openclaw-control-ui",
        buildId,
        scopes: ["operator.read", "operator.write"],
      };
      const node: Partial<ConnectOptions> = { clientId: "node-host", clientMode: "node", role: "node", scopes: [] };
      const results: Record<string, unknown> = {};
      for (const [path, ns, url] of [
        ["sidecar address", net.sidecar.ns, `ws://${net.gateway.ip}:${GW_PORT}/`],
        ["loopback", net.gateway.ns, `ws://127.0.0.1:${GW_PORT}/`],
      ] as const) {
        for (const [who, opts] of [
          ["ui", ui],
          ["node", node],
        ] as const) {
          const r = await connectFromNamespace(ns, { url, headers, origin, ...opts });
          results[`${path} ${who}`] = r.kind === "close" ? `${r.code} ${r.reason.split(":")[0]}` : r.kind;
        }
      }
      expect(results).toEqual({
        "sidecar address ui": "hello-ok",
        "sidecar address node": "1008 pairing required",
        "loopback ui": "hello-ok",
        "loopback node": "1008 pairing required",
      });
      const pending = (await gw.cliJson<DevicesList>(["devices", "list"])).pending;
      expect(pending.filter((p) => p.role === "node")).toHaveLength(2);
    }, 120_000);

    it("doctor on 2026.9.6 (identity, nodes expected): no update warning, the dashboard-link note, the node warning", async () => {
      const flags = (upstream: string) => [
        "--upstream",
        upstream,
        "--mode",
        "identity",
        "--token",
        USER_TOKEN,
        "--user",
        USER,
        "--public-origin",
        origin,
        "--self-authenticating-routes",
        "true",
      ];
      const lan = await runDoctor(net.sidecar.ns, [
        ...flags(`http://${net.gateway.ip}:${GW_PORT}`),
        "--sidecar-address",
        net.sidecar.ip,
      ]);
      expect(lan.out).toContain("[ok] gateway version 2026.9.6");
      expect(lan.out).not.toContain("older than 2026.9.6");
      expect(lan.out).toMatch(
        /\[note\] gateway 2026\.9\.6: the link `openclaw dashboard` prints .*openclaw-sidecar link/,
      );
      expect(lan.out).toContain("[warn] node pairing: over the network as over loopback");
      expect(lan.out, lan.out).toContain("RESULT: identity mode will work.");
      expect(lan.code).toBe(0);
      // The same-pod case: the doctor where the sidecar would run, dialing the gateway's loopback.
      const loopback = await runDoctor(net.gateway.ns, [
        ...flags(`http://127.0.0.1:${GW_PORT}`),
        "--sidecar-address",
        "127.0.0.1",
      ]);
      expect(loopback.out).toContain("[warn] node pairing: the sidecar reaches the gateway over loopback");
      expect(loopback.out, loopback.out).toContain("RESULT: identity mode will work.");
    }, 120_000);
  },
);
