// Issue 3 against the REAL gateway and the REAL Control UI in headless Chromium, from the NAT'd client namespace:
// identity mode (gateway trusted-proxy + deviceAutoApprove behind the sidecar at 10.77.0.3) and local mode (the
// sidecar inside the gateway's namespace, dialing a loopback-bound gateway with no forwarding headers).
import { readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { controlUiBuildId } from "../../src/doctor.ts";
import { describeTier } from "../helpers/tier.ts";
import { controlUiPrereqs, launchControlUi } from "./control-ui.ts";
import { gatewayPrereqs, type RunningGateway, startGateway } from "./gateway.ts";
import { cleanupStaleNetworks, createTestNetwork, netnsPrereqs, nsExec, type TestNetwork } from "./netns.ts";
import { connectFromNamespace } from "./protocol-client.ts";
import { type SidecarProcess, startSidecarIn } from "./sidecar-process.ts";

const ID_GW_PORT = 18790;
const LOCAL_GW_PORT = 18791;
const ID_SC_PORT = 8081;
const LOCAL_SC_PORT = 8082;
const USER_TOKEN = "alice-token-0123456789-abcdefghij";
const GATEWAY_TOKEN = "local-gateway-token-0123456789abc";
const COOKIE_SECRET = "s".repeat(48);

interface DevicesList { pending: Array<{ requestId: string; deviceId: string; clientId?: string }>; paired: Array<{ deviceId: string; clientId?: string }> }

describeTier("real gateway + real Control UI: identity and local modes", [...netnsPrereqs(), ...gatewayPrereqs(), ...controlUiPrereqs()], () => {
  let net: TestNetwork;
  let idGw: RunningGateway;
  let localGw: RunningGateway;
  let idSc: SidecarProcess;
  let localSc: SidecarProcess;
  /** Control UI clients must send the gateway's build id, which its index.html carries. */
  const buildId = async () => {
    const r = await nsExec(net.gateway.ns, "curl", ["-s", "-m", "5", `${idGw.loopbackUrl}/`], { timeoutMs: 10_000 });
    return controlUiBuildId(r.stdout) ?? "";
  };
  const curlFromClient = (url: string, extra: string[] = []) =>
    nsExec(net.client.ns, "curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-m", "5", ...extra, url], { timeoutMs: 10_000 }).then((r) => r.stdout);

  beforeAll(async () => {
    await cleanupStaleNetworks();
    net = await createTestNetwork();
    const idOrigin = `http://${net.sidecar.ip}:${ID_SC_PORT}`;
    [idGw, localGw] = await Promise.all([
      startGateway({
        host: net.gateway,
        port: ID_GW_PORT,
        config: {
          gateway: {
            port: ID_GW_PORT,
            bind: "lan",
            trustedProxies: [`${net.sidecar.ip}/32`],
            auth: {
              mode: "trusted-proxy",
              password: "internal-password-0123456789",
              trustedProxy: { userHeader: "x-forwarded-user", requiredHeaders: ["x-forwarded-proto"], allowUsers: ["alice@example.com"], deviceAutoApprove: { enabled: true } },
            },
            controlUi: { allowedOrigins: [idOrigin] },
          },
        },
      }),
      startGateway({
        host: net.gateway,
        port: LOCAL_GW_PORT,
        config: { gateway: { port: LOCAL_GW_PORT, bind: "loopback", auth: { mode: "token", token: GATEWAY_TOKEN }, controlUi: { allowedOrigins: [`http://${net.gateway.ip}:${LOCAL_SC_PORT}`] } } },
      }),
    ]);
    idSc = await startSidecarIn(net.sidecar.ns, {
      "--listen": `0.0.0.0:${ID_SC_PORT}`, "--upstream": `http://${net.gateway.ip}:${ID_GW_PORT}`, "--mode": "identity",
      "--token": USER_TOKEN, "--user": "alice@example.com", "--cookie-secret": COOKIE_SECRET, "--public-origin": idOrigin,
    });
    // Local mode: the sidecar shares the gateway's namespace (network_mode: service:gateway) and dials loopback.
    localSc = await startSidecarIn(net.gateway.ns, {
      "--listen": `0.0.0.0:${LOCAL_SC_PORT}`, "--upstream": `http://127.0.0.1:${LOCAL_GW_PORT}`, "--mode": "local",
      "--token": GATEWAY_TOKEN, "--cookie-secret": COOKIE_SECRET,
    });
  }, 180_000);

  afterAll(async () => {
    await idSc?.stop();
    await localSc?.stop();
    await Promise.all([idGw?.stop(), localGw?.stop()]);
    await net?.destroy();
  }, 40_000);

  describe("identity mode", () => {
    it("the real Control UI opened at /?token=… loads and reaches hello-ok: no pairing request, no approval", async () => {
      const ui = await launchControlUi(net.client.ns);
      try {
        await ui.goto(`http://${net.sidecar.ip}:${ID_SC_PORT}/?token=${USER_TOKEN}`);
        const outcome = await ui.waitForOutcome({ timeoutMs: 40_000 });
        const report = await ui.report("identity-control-ui-connected.png");
        expect(outcome).toMatchObject({ kind: "hello-ok" });
        expect(report.frames).toContainEqual(expect.objectContaining({ kind: "connect", clientId: "openclaw-control-ui", hasDevice: true }));
        expect(ui.page.url()).not.toContain("token="); // the sidecar's redirect took the token out of the URL
        expect(report.text).not.toContain("Approve this browser");
      } finally {
        await ui.close();
      }
      const list = await idGw.cliJson<DevicesList>(["devices", "list"]);
      expect(list.pending).toEqual([]);
      expect(list.paired.some((d) => d.clientId === "openclaw-control-ui")).toBe(true);
      expect(idGw.logs() + readLog(idGw)).not.toMatch(/devices approve/);
      expect(await idSc.metric("openclaw_sidecar_websocket_upgrades_total", { result: "ok" })).toBeGreaterThanOrEqual(1);
    }, 90_000);

    it("a wrong token gets 401 and never reaches the gateway", async () => {
      const before = (await idGw.cliJson<DevicesList>(["devices", "list"])).paired.length;
      expect(await curlFromClient(`http://${net.sidecar.ip}:${ID_SC_PORT}/control-ui-config.json`, ["-H", "Authorization: Bearer wrong", "-H", "Accept: application/json"])).toBe("401");
      const ws = await connectFromNamespace(net.client.ns, { url: `ws://${net.sidecar.ip}:${ID_SC_PORT}/`, clientId: "openclaw-control-ui", headers: { Authorization: "Bearer wrong" }, origin: `http://${net.sidecar.ip}:${ID_SC_PORT}` });
      expect(ws).toMatchObject({ kind: "http", status: 401 });
      expect((await idGw.cliJson<DevicesList>(["devices", "list"])).paired.length).toBe(before);
      expect(await idSc.metric("openclaw_sidecar_websocket_upgrades_total", { result: "unauthenticated" })).toBeGreaterThanOrEqual(1);
      expect(idSc.logs()).not.toContain(USER_TOKEN);
    }, 40_000);

    it("a client-sent x-forwarded-user: mallory is replaced by the authenticated user", async () => {
      const r = await connectFromNamespace(net.client.ns, {
        url: `ws://${net.sidecar.ip}:${ID_SC_PORT}/`, clientId: "openclaw-control-ui", buildId: await buildId(),
        origin: `http://${net.sidecar.ip}:${ID_SC_PORT}`, headers: { Authorization: `Bearer ${USER_TOKEN}`, "x-forwarded-user": "mallory" }, scopes: ["operator.read"],
      });
      expect(r, JSON.stringify(r)).toMatchObject({ kind: "hello-ok" });
      const log = idGw.logs() + readLog(idGw);
      expect(log).toContain("alice@example.com");
      expect(log).not.toContain("mallory");
    }, 40_000);
  });

  describe("local mode", () => {
    it("the real Control UI connects without pairing through the shared-namespace sidecar", async () => {
      const ui = await launchControlUi(net.client.ns);
      try {
        await ui.goto(`http://${net.gateway.ip}:${LOCAL_SC_PORT}/?token=${GATEWAY_TOKEN}`);
        const outcome = await ui.waitForOutcome({ timeoutMs: 40_000 });
        await ui.report("local-control-ui-connected.png");
        expect(outcome).toMatchObject({ kind: "hello-ok" });
      } finally {
        await ui.close();
      }
      const list = await localGw.cliJson<DevicesList>(["devices", "list"]);
      expect(list.pending).toEqual([]);
    }, 90_000);

    it("without a valid token nothing reaches the gateway", async () => {
      expect(await curlFromClient(`http://${net.gateway.ip}:${LOCAL_SC_PORT}/`, ["-H", "Accept: text/html"])).toBe("401");
      const ws = await connectFromNamespace(net.client.ns, { url: `ws://${net.gateway.ip}:${LOCAL_SC_PORT}/`, token: GATEWAY_TOKEN });
      expect(ws).toMatchObject({ kind: "http", status: 401 }); // the gateway's token in the connect frame is not enough
      expect(await localSc.metric("openclaw_sidecar_websocket_upgrades_total", { result: "unauthenticated" })).toBeGreaterThanOrEqual(1);
    }, 40_000);
  });
});

/** The gateway's own file log (its console output is in logs()). */
function readLog(gw: RunningGateway): string {
  try {
    return readFileSync(path.join(gw.home, "gateway.jsonl"), "utf8");
  } catch {
    return "";
  }
}
