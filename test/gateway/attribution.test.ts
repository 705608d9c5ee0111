// Issue 2 against the REAL gateway (token auth, bind lan) in namespaces that reproduce Docker NAT: the client at
// 10.77.0.2, the sidecar at 10.77.0.3 (attribution mode), the gateway at 10.77.0.1. Also the doctor's diagnoses of
// the same setup, each failure produced on purpose.
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { describeTier } from "../helpers/tier.ts";
import { gatewayPrereqs, type RunningGateway, startGateway } from "./gateway.ts";
import { cleanupStaleNetworks, createTestNetwork, netnsPrereqs, type TestNetwork } from "./netns.ts";
import { connectFromNamespace, createDeviceIdentity } from "./protocol-client.ts";
import { type SidecarProcess, runDoctor, startSidecarIn } from "./sidecar-process.ts";

const GW_PORT = 18789;
const SC_PORT = 8080;
const TOKEN = "attribution-test-token-0123456789";

interface DevicesList {
  pending: Array<{ requestId: string; deviceId: string; remoteIp?: string }>;
  paired: Array<{ deviceId: string; approvedVia?: string }>;
}

describeTier("real gateway: attribution mode through the sidecar", [...netnsPrereqs(), ...gatewayPrereqs()], () => {
  let net: TestNetwork;
  let gw: RunningGateway;
  let sc: SidecarProcess;
  const viaSidecar = () => `ws://${net.sidecar.ip}:${SC_PORT}/`;
  const doctor = (flags: string[], env: Record<string, string> = {}) =>
    runDoctor(
      net.sidecar.ns,
      [
        "--upstream",
        `http://${net.gateway.ip}:${GW_PORT}`,
        "--sidecar-address",
        net.sidecar.ip,
        "--public-origin",
        `http://${net.sidecar.ip}:${SC_PORT}`,
        ...flags,
      ],
      env,
    );

  beforeAll(async () => {
    await cleanupStaleNetworks();
    net = await createTestNetwork();
    // No trustedProxies yet: the first tests show what an untrusted sidecar gets.
    gw = await startGateway({
      host: net.gateway,
      port: GW_PORT,
      config: {
        gateway: {
          port: GW_PORT,
          bind: "lan",
          auth: { mode: "token", token: TOKEN },
          controlUi: { allowedOrigins: [`http://${net.sidecar.ip}:${SC_PORT}`] },
        },
      },
    });
    sc = await startSidecarIn(net.sidecar.ns, {
      "--listen": `0.0.0.0:${SC_PORT}`,
      "--upstream": `http://${net.gateway.ip}:${GW_PORT}`,
    });
  }, 150_000);

  afterAll(async () => {
    await sc?.stop();
    await gw?.stop();
    await net?.destroy();
  }, 30_000);

  it("direct from the NAT'd client with the right token: 1008 pairing required (the seed symptom)", async () => {
    const r = await connectFromNamespace(net.client.ns, { url: `ws://${net.gateway.ip}:${GW_PORT}/`, token: TOKEN });
    expect(r).toMatchObject({ kind: "close", code: 1008 });
    expect(r.kind === "close" && r.reason).toMatch(/^pairing required/);
  }, 30_000);

  it("through the sidecar without trustedProxies: 403 proxy_attribution_required, relayed and counted", async () => {
    const r = await connectFromNamespace(net.client.ns, { url: viaSidecar(), token: TOKEN });
    expect(r).toMatchObject({ kind: "http", status: 403 });
    expect(r.kind === "http" && r.body).toContain("proxy_attribution_required");
    expect(
      await sc.metric("openclaw_sidecar_websocket_upgrades_total", { result: "proxy_attribution_required" }),
    ).toBeGreaterThanOrEqual(1);
  }, 30_000);

  it("doctor names it and prints the trustedProxies line to add", async () => {
    const { code, out } = await doctor([], { OPENCLAW_GATEWAY_TOKEN: TOKEN });
    expect(code).toBe(1);
    expect(out).toContain("403 proxy_attribution_required");
    expect(out).toContain(`gateway.trustedProxies: ["${net.sidecar.ip}/32"]`);
    expect(out).toContain("RESULT: attribution mode will NOT work yet");
  }, 60_000);

  it("doctor names an unreachable gateway", async () => {
    const r = await runDoctor(net.sidecar.ns, ["--upstream", `http://${net.gateway.ip}:1`], {}, 30_000);
    expect(r.code).toBe(1);
    expect(r.out).toContain("cannot reach the gateway");
    expect(r.out).toContain("refused the connection");
  }, 30_000);

  it("with trustedProxies [sidecar/32] (hot-reloaded): the gateway attributes the real client, and a spoofed XFF changes nothing", async () => {
    const file = path.join(gw.home, ".openclaw/openclaw.json");
    const config = JSON.parse(readFileSync(file, "utf8")) as { gateway: Record<string, unknown> };
    config.gateway.trustedProxies = [`${net.sidecar.ip}/32`];
    writeFileSync(file, JSON.stringify(config, null, 2));
    await expect
      .poll(() => /hot reload applied.*trustedProxies/.test(gw.logs()), { timeout: 20_000, interval: 250 })
      .toBe(true);

    // Two browsers from the NAT'd client: one plain, one claiming to be loopback in every forwarding header there is.
    const device = createDeviceIdentity();
    const plain = createDeviceIdentity();
    const spoof = {
      "X-Forwarded-For": "127.0.0.1",
      "X-Real-IP": "127.0.0.1",
      Forwarded: "for=127.0.0.1",
      "X-Forwarded-Host": "localhost",
    };
    const r = await connectFromNamespace(net.client.ns, {
      url: viaSidecar(),
      token: TOKEN,
      identity: device,
      headers: spoof,
    });
    const rPlain = await connectFromNamespace(net.client.ns, { url: viaSidecar(), token: TOKEN, identity: plain });
    for (const x of [r, rPlain]) {
      expect(x).toMatchObject({ kind: "close", code: 1008 });
      expect(x.kind === "close" && x.reason).toMatch(/^pairing required/);
    }
    const list = await gw.cliJson<DevicesList>(["devices", "list"]);
    const pending = list.pending.find((p) => p.deviceId === device.deviceId);
    // The gateway's own view: the NAT'd client's address, not the sidecar's, not the spoofed loopback; the same as
    // for the client that spoofed nothing.
    expect(pending?.remoteIp).toBe(net.client.ip);
    expect(list.pending.find((p) => p.deviceId === plain.deviceId)?.remoteIp).toBe(net.client.ip);

    // After the operator approves it, the same device connects through the sidecar.
    await gw.cliJson(["devices", "approve", String(pending?.requestId)]);
    const again = await connectFromNamespace(net.client.ns, {
      url: viaSidecar(),
      token: TOKEN,
      identity: device,
      headers: spoof,
    });
    expect(again).toMatchObject({ kind: "hello-ok" });
    const paired = (await gw.cliJson<DevicesList>(["devices", "list"])).paired.find(
      (d) => d.deviceId === device.deviceId,
    );
    expect(paired).toMatchObject({ approvedVia: "owner" }); // the operator's approval, not a silent local pairing
    expect(await sc.metric("openclaw_sidecar_websocket_upgrades_total", { result: "ok" })).toBeGreaterThanOrEqual(2);
    expect(
      await sc.metric("openclaw_sidecar_websocket_closes_total", {
        code: "1008",
        reason_class: "pairing_required",
        initiator: "upstream",
      }),
    ).toBeGreaterThanOrEqual(1);
  }, 60_000);

  it("doctor: passes with the right token (pairing is expected in this mode), names a token mismatch", async () => {
    const ok = await doctor([], { OPENCLAW_GATEWAY_TOKEN: TOKEN });
    expect(ok.out).toContain("the gateway accepts this sidecar's forwarding headers");
    expect(ok.out, ok.out).toContain("[ok] gateway version 2026.9.6");
    expect(ok.out).toContain("pairing required — expected in attribution mode");
    expect(ok.code).toBe(0);
    const bad = await doctor([], { OPENCLAW_GATEWAY_TOKEN: "not-the-token" });
    expect(bad.code).toBe(1);
    expect(bad.out).toContain("token mismatch");
  }, 60_000);

  it("doctor names an origin the gateway does not allow", async () => {
    const r = await doctor(["--public-origin", "http://dashboard.example:9999"], { OPENCLAW_GATEWAY_TOKEN: TOKEN });
    expect(r.code).toBe(1);
    expect(r.out).toContain("origin not allowed");
    expect(r.out).toContain('gateway.controlUi.allowedOrigins: ["http://dashboard.example:9999"]');
  }, 60_000);
});
