// The supported-releases matrix (docs/modes.md), measured against the REAL openclaw 2026.1.29
// in the namespaces of test/gateway/netns.ts: the NAT'd client at 10.77.0.2, the sidecar at 10.77.0.3, the gateway
// at 10.77.0.1. That release speaks protocol 3 with v2 device signatures, matches trustedProxies as exact strings,
// has no trusted-proxy auth, and treats a loopback peer as local only with a localhost Host. The doctor's and the
// startup check's verdicts on it are here too.
import { afterAll, beforeAll, expect, it } from "vitest";
import { describeTier } from "../helpers/tier.ts";
import { cleanupStaleNetworks, createTestNetwork, netnsPrereqs, type TestNetwork } from "./netns.ts";
import { type OldGateway, oldGatewayPrereqs, startOldGateway } from "./old-gateway.ts";
import { type ConnectOptions, connectFromNamespace, createDeviceIdentity } from "./protocol-client.ts";
import { type SidecarProcess, runDoctor, startSidecarIn } from "./sidecar-process.ts";

const TOKEN = "old-release-test-token-0123456789";
const EXACT_PORT = 18791; // trustedProxies: ["10.77.0.3"]
const CIDR_PORT = 18792; // trustedProxies: ["10.77.0.3/32"], what docs/modes.md and the doctor print for 2026.8.1+
/** What a 2026.1.29 client sends: protocol 3, v2 signatures. */
const OLD: Partial<ConnectOptions> = { protocol: 3, signature: "v2", token: TOKEN };

describeTier(
  "real gateway 2026.1.29: the supported-releases matrix",
  [...netnsPrereqs(), ...oldGatewayPrereqs()],
  () => {
    let net: TestNetwork;
    let exact: OldGateway;
    let cidr: OldGateway;
    const sidecars: SidecarProcess[] = [];
    const tokenGateway = (trustedProxies: string[]) => ({
      bind: "lan",
      trustedProxies,
      auth: { mode: "token", token: TOKEN },
    });
    const ready = async (port: number, trustedProxies: string[]): Promise<OldGateway> => {
      const started = await startOldGateway(net.gateway, port, tokenGateway(trustedProxies));
      if (started.kind !== "ready") throw new Error(`2026.1.29 exited (${started.code}):\n${started.output}`);
      return started.gateway;
    };
    const doctor = (flags: string[]) =>
      runDoctor(
        net.sidecar.ns,
        ["--upstream", `http://${net.gateway.ip}:${EXACT_PORT}`, "--sidecar-address", net.sidecar.ip, ...flags],
        { OPENCLAW_GATEWAY_TOKEN: TOKEN },
      );

    beforeAll(async () => {
      await cleanupStaleNetworks();
      net = await createTestNetwork();
      [exact, cidr] = await Promise.all([
        ready(EXACT_PORT, [net.sidecar.ip]),
        ready(CIDR_PORT, [`${net.sidecar.ip}/32`]),
      ]);
      for (const [listen, port] of [
        [8080, EXACT_PORT],
        [8090, CIDR_PORT],
      ] as const) {
        sidecars.push(
          await startSidecarIn(net.sidecar.ns, {
            "--listen": `0.0.0.0:${listen}`,
            "--upstream": `http://${net.gateway.ip}:${port}`,
          }),
        );
      }
      // (Each sidecar's admin listener is its port + 1.) Local mode: the sidecar in the gateway's namespace, dialing it
      // over loopback with no forwarding headers.
      sidecars.push(
        await startSidecarIn(net.gateway.ns, {
          "--listen": "0.0.0.0:8082",
          "--upstream": `http://127.0.0.1:${EXACT_PORT}`,
          "--mode": "local",
          "--token": TOKEN,
        }),
      );
    }, 150_000);

    afterAll(async () => {
      for (const sc of sidecars) await sc.stop();
      await exact?.stop();
      await cidr?.stop();
      await net?.destroy();
    }, 30_000);

    it("attribution with the sidecar's exact address in trustedProxies: the gateway sees the real client (paired once)", async () => {
      const device = createDeviceIdentity();
      const r = await connectFromNamespace(net.client.ns, {
        ...OLD,
        url: `ws://${net.sidecar.ip}:8080/`,
        identity: device,
      });
      expect(r, JSON.stringify(r)).toMatchObject({ kind: "close", code: 1008, reason: "pairing required" });
      expect(exact.pending().find((p) => p.deviceId === device.deviceId)?.remoteIp).toBe(net.client.ip);
    }, 30_000);

    it("attribution with a /32 in trustedProxies: the CIDR is ignored, the sidecar untrusted, the client's address lost", async () => {
      const device = createDeviceIdentity();
      const r = await connectFromNamespace(net.client.ns, {
        ...OLD,
        url: `ws://${net.sidecar.ip}:8090/`,
        identity: device,
      });
      expect(r, JSON.stringify(r)).toMatchObject({ kind: "close", code: 1008, reason: "pairing required" });
      const pending = cidr.pending().find((p) => p.deviceId === device.deviceId);
      expect(pending, JSON.stringify(cidr.pending())).toBeDefined();
      expect(pending?.remoteIp).toBeUndefined(); // neither the client's 10.77.0.2 nor the sidecar's address
      expect(cidr.logs()).toContain("Proxy headers detected from untrusted address");
    }, 30_000);

    it("identity mode is impossible: the gateway refuses to start with auth.mode trusted-proxy", async () => {
      const r = await startOldGateway(net.gateway, 18793, {
        bind: "lan",
        trustedProxies: [net.sidecar.ip],
        auth: { mode: "trusted-proxy", trustedProxy: { userHeader: "x-forwarded-user" } },
      });
      if (r.kind === "ready") await r.gateway.stop();
      expect(r.kind).toBe("exited");
      expect(r.kind === "exited" && r.output).toContain('Unrecognized key: "trustedProxy"');
    }, 60_000);

    it("local mode works only when the client's Host is localhost", async () => {
      const viaLocal = { ...OLD, url: `ws://${net.gateway.ip}:8082/`, headers: { Authorization: `Bearer ${TOKEN}` } };
      const asLocalhost = await connectFromNamespace(net.client.ns, { ...viaLocal, host: "localhost:8082" });
      expect(asLocalhost, JSON.stringify(asLocalhost)).toMatchObject({ kind: "hello-ok" });
      const asLanAddress = await connectFromNamespace(net.client.ns, viaLocal);
      expect(asLanAddress, JSON.stringify(asLanAddress)).toMatchObject({
        kind: "close",
        code: 1008,
        reason: "pairing required",
      });
    }, 30_000);

    it("doctor (attribution): names the old release, says what works there, prints the exact address, exit 1", async () => {
      const { code, out } = await doctor(["--public-origin", `http://${net.sidecar.ip}:8080`]);
      expect(out).toContain("older than 2026.8.1 (no build id in its Control UI and no /healthz endpoint)");
      expect(out).toContain(
        '(confirmed by the test handshake: closed 1002 "protocol mismatch", the gateway speaks protocol 3)',
      );
      expect(out).toContain(
        `attribution mode works there only with the sidecar's exact address in gateway.trustedProxies: ["${net.sidecar.ip}"]`,
      );
      expect(out).toMatch(new RegExp(`"trustedProxies": \\[\\s*"${net.sidecar.ip.replaceAll(".", "\\.")}"\\s*\\]`));
      expect(out).not.toContain("will work.");
      expect(out).toContain("RESULT: attribution mode will NOT work yet");
      // The update trap of trusted-proxy gateways is identity mode's alone.
      expect(out).not.toContain("older than 2026.9.6");
      expect(code).toBe(1);
    }, 60_000);

    it("doctor (identity): says identity mode is impossible there, prints no config for it, and warns of the update trap", async () => {
      const { code, out } = await doctor(["--mode", "identity", "--token", "u".repeat(32)]);
      expect(out).toContain("identity mode is impossible there");
      // Upgrading to 2026.8.1–2026.9.5 for identity mode would meet openclaw#141046: say to go straight to 2026.9.6+.
      expect(out).toMatch(
        /\[warn\] this gateway release is older than 2026\.9\.6: .*rolls the update back \(openclaw#141046, fixed by #153540 in 2026\.9\.6\)\. Upgrade straight to 2026\.9\.6 or later/,
      );
      expect(out).toContain("No gateway config for identity mode on this release");
      expect(out).not.toContain('trusted-proxy",');
      expect(code).toBe(1);
    }, 60_000);

    it("the sidecar's startup check warns about the old release", async () => {
      const [attribution] = sidecars;
      await expect.poll(() => attribution?.logs() ?? "", { timeout: 10_000 }).toContain("gateway check at startup");
      const line = (attribution?.logs() ?? "").split("\n").find((l) => l.includes("gateway check at startup")) ?? "";
      expect(JSON.parse(line)).toMatchObject({ level: "warn" });
      expect(line).toContain("older than 2026.8.1");
    }, 20_000);
  },
);
