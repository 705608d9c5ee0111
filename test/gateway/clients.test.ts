// Issue 16 against the REAL gateway: the clients that are not a browser. The real OpenClaw CLI from the pinned package
// reaches the gateway through the sidecar (identity mode, TLS) with gateway.remote.edgeAuth — a Bearer token or a
// machine credential on the WebSocket upgrade; a join link is redeemed through the self-authenticating route; the MCP
// Apps sandbox listener is reached through appsListen.
import { mkdtempSync, mkdirSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/options/config.ts";
import { clientConfigFor } from "../../src/setup/client-config.ts";
import { createTestCa } from "../helpers/certs.ts";
import { describeTier } from "../helpers/tier.ts";
import {
  gatewayPrereqs,
  NODE24,
  OPENCLAW_ENTRY,
  type RunningGateway,
  startGateway,
  trustedProxyGateway,
} from "./gateway.ts";
import { cleanupStaleNetworks, createTestNetwork, netnsPrereqs, nsExec, type TestNetwork } from "./netns.ts";
import { type SidecarProcess, startSidecarIn } from "./sidecar-process.ts";

const GW_PORT = 18795;
const SC_PORT = 8443;
const APPS_PORT = 8450;
const USER_TOKEN = "alice-token-0123456789-abcdefghij";
const CLIENT_ID = "cli-bot.access";
const CLIENT_SECRET = "cli-bot-secret-0123456789abcdefgh";

interface DevicesList {
  pending: Array<{ requestId: string; deviceId: string; clientId?: string; remoteIp?: string }>;
  paired: Array<{ deviceId: string; clientId?: string; approvedVia?: string; scopes?: string[] }>;
}

describeTier(
  "real gateway + real CLI: every client through the sidecar (issue 16)",
  [...netnsPrereqs(), ...gatewayPrereqs()],
  () => {
    let net: TestNetwork;
    let gw: RunningGateway;
    let sc: SidecarProcess;
    let caCert: string;
    let sidecarFlags: Record<string, string>;
    const origin = () => `https://${net.sidecar.ip}:${SC_PORT}`;

    /** The real `openclaw` CLI on the NAT'd client, with its own HOME holding `config` as openclaw.json. */
    const clientCli = (
      config: Record<string, unknown>,
      args: string[],
      opts: { trustCa?: boolean; env?: Record<string, string> } = {},
    ) => {
      const home = mkdtempSync(path.join(tmpdir(), "ocst-cli-"));
      mkdirSync(path.join(home, ".openclaw"), { recursive: true });
      writeFileSync(path.join(home, ".openclaw", "openclaw.json"), JSON.stringify(config));
      const env = {
        HOME: home,
        PATH: `${path.dirname(NODE24)}:/usr/bin:/bin`,
        ...(opts.trustCa === false ? {} : { NODE_EXTRA_CA_CERTS: caCert }),
        ...opts.env,
        NO_COLOR: "1",
        LANG: "C.UTF-8",
      };
      return (more: string[] = []) =>
        nsExec(net.client.ns, NODE24, [OPENCLAW_ENTRY, ...args, ...more], { env, cwd: home, timeoutMs: 60_000 });
    };
    // auth.mode "none" on the client: the CLI then connects without a gateway token or password of its own (it insists
    // on one for token/password modes before it even dials); the sidecar's edgeAuth header is its credential.
    const remote = (edgeAuth: Record<string, string> | undefined) => ({
      gateway: {
        mode: "remote",
        auth: { mode: "none" },
        remote: { url: `wss://${net.sidecar.ip}:${SC_PORT}`, ...(edgeAuth ? { edgeAuth } : {}) },
      },
    });

    beforeAll(async () => {
      await cleanupStaleNetworks();
      net = await createTestNetwork();
      const ca = createTestCa();
      caCert = ca.caCert;
      const cert = ca.issue("sidecar", `IP:${net.sidecar.ip}`);
      const tokens = path.join(ca.dir, "tokens.json");
      writeFileSync(
        tokens,
        JSON.stringify([
          { user: "alice@example.com", token: USER_TOKEN },
          {
            user: "cli-bot",
            clientId: CLIENT_ID,
            clientSecretSha256: createHash("sha256").update(CLIENT_SECRET).digest("hex"),
          },
        ]),
      );
      gw = await startGateway({
        host: net.gateway,
        port: GW_PORT,
        config: {
          // Join URLs need a TLS endpoint: the sidecar's (publicOrigin).
          gateway: trustedProxyGateway(GW_PORT, net.sidecar.ip, ["alice@example.com", "cli-bot"], {
            controlUi: { allowedOrigins: [origin()] },
            publicOrigin: origin(),
          }),
          mcp: { apps: { enabled: true, sandboxOrigin: `http://${net.sidecar.ip}:${APPS_PORT}` } },
          // The pairing-specific public URL (join links, the mobile QR code): the sidecar's TLS origin.
          plugins: { entries: { "device-pair": { config: { publicUrl: `https://${net.sidecar.ip}:${SC_PORT}` } } } },
        },
      });
      sidecarFlags = {
        "--listen": `0.0.0.0:${SC_PORT}`,
        "--upstream": `http://${net.gateway.ip}:${GW_PORT}`,
        "--mode": "identity",
        "--tokens-file": tokens,
        "--cookie-secret": "k".repeat(48),
        "--tls-cert": cert.cert,
        "--tls-key": cert.key,
        "--self-authenticating-routes": "true",
        "--apps-listen": `0.0.0.0:${APPS_PORT}`,
      };
      sc = await startSidecarIn(net.sidecar.ns, sidecarFlags);
    }, 180_000);

    afterAll(async () => {
      await sc?.stop();
      await gw?.stop();
      await net?.destroy();
    }, 40_000);

    describe("the CLI and TUI (gateway.remote.edgeAuth, only ever sent over wss://)", () => {
      it("the sidecar token as a Bearer on the upgrade: the CLI is in as that user, no pairing asked", async () => {
        const mark = gw.logs().length;
        const r = await clientCli(remote({ Authorization: `Bearer ${USER_TOKEN}` }), ["health", "--json"])();
        expect(r.code, r.stdout + r.stderr).toBe(0);
        expect(JSON.parse(r.stdout)).toMatchObject({ ok: true });
        expect(gw.logs().slice(mark)).toMatch(/authenticated user connected conn=\S+ user=alice@example\.com/);
        expect((await gw.cliJson<DevicesList>(["devices", "list"])).pending).toEqual([]);
        // The sidecar's startup check asked the gateway as the sidecar does: nothing it sent looked unattributable.
        expect(gw.logs()).not.toContain("unattributable proxy-shaped traffic");
      }, 90_000);

      it("a CLI that does not trust the sidecar's CA is refused the certificate; print-client-config's block, which pins it (gateway.remote.tlsFingerprint), gets it in", async () => {
        const printed = clientConfigFor(loadConfig({ flags: { ...sidecarFlags, "--public-origin": origin() } }));
        if ("error" in printed) throw new Error(printed.error);
        const block = JSON.parse(
          printed.text
            .split("\n")
            .filter((l) => !l.startsWith("//"))
            .join("\n"),
        ) as { gateway: { remote: { tlsFingerprint?: string } } };
        expect(block.gateway.remote.tlsFingerprint).toMatch(/^[0-9a-f]{64}$/);
        // The tokens file holds a machine credential, so the block sends CF-Access-Client-Id / -Secret from these.
        const env = { CF_ACCESS_CLIENT_ID: CLIENT_ID, CF_ACCESS_CLIENT_SECRET: CLIENT_SECRET };
        const { tlsFingerprint: _pin, ...unpinned } = block.gateway.remote;
        const refused = await clientCli(
          { ...block, gateway: { ...block.gateway, remote: unpinned } },
          ["health", "--json"],
          {
            trustCa: false,
            env,
          },
        )();
        expect(refused.code).not.toBe(0);
        expect(refused.stdout + refused.stderr).toMatch(/unable to verify|self[- ]signed|certificate/i);
        const mark = gw.logs().length;
        const pinned = await clientCli(block, ["health", "--json"], { trustCa: false, env })();
        expect(pinned.code, pinned.stdout + pinned.stderr).toBe(0);
        expect(gw.logs().slice(mark)).toMatch(/authenticated user connected conn=\S+ user=cli-bot/);
      }, 120_000);

      it("a machine credential (CF-Access-Client-Id / -Secret, as for Cloudflare Access): in as its own user", async () => {
        const mark = gw.logs().length;
        const r = await clientCli(
          remote({ "CF-Access-Client-Id": CLIENT_ID, "CF-Access-Client-Secret": CLIENT_SECRET }),
          ["health", "--json"],
        )();
        expect(r.code, r.stdout + r.stderr).toBe(0);
        expect(gw.logs().slice(mark)).toMatch(/authenticated user connected conn=\S+ user=cli-bot/);
      }, 90_000);

      it("without edgeAuth, or with a wrong token, the CLI never reaches the gateway's connect handler", async () => {
        const mark = gw.logs().length;
        const none = await clientCli(remote(undefined), ["health", "--json"])();
        expect(none.code).not.toBe(0);
        const wrong = await clientCli(remote({ Authorization: "Bearer not-the-token" }), ["health", "--json"])();
        expect(wrong.code).not.toBe(0);
        await new Promise((r) => setTimeout(r, 500));
        const logs = gw.logs().slice(mark);
        expect(logs).not.toMatch(/authenticated user connected|unauthorized conn=/);
        expect(await sc.metric("openclaw_sidecar_auth_failures_total", { reason: "bad_token" })).toBeGreaterThanOrEqual(
          1,
        );
      }, 90_000);
    });

    describe("join links (selfAuthenticatingRoutes)", () => {
      it("a join code minted on the gateway is redeemed through the sidecar with no identity; a wrong one gets the gateway's opaque 404", async () => {
        const join = await gw.cli([
          "devices",
          "join-code",
          "--json",
          "--url",
          `ws://127.0.0.1:${GW_PORT}`,
          "--password",
          "internal-password-0123456789",
        ]);
        const code = /\/j\/([A-Za-z0-9_-]{22})/.exec(join.stdout)?.[1];
        expect(code, join.stdout + join.stderr).toBeDefined();
        const redeem = (c: string) =>
          nsExec(
            net.client.ns,
            "curl",
            ["-s", "-m", "5", "--cacert", caCert, "-o", "/dev/null", "-w", "%{http_code}", `${origin()}/j/${c}`],
            { timeoutMs: 10_000 },
          ).then((r) => r.stdout);
        expect(await redeem(code as string)).toBe("200");
        expect(await redeem(code as string)).toBe("404"); // single use: the gateway's own check, not the sidecar's
        expect(await redeem("AAAAAAAAAAAAAAAAAAAAAA")).toBe("404");
      }, 60_000);
    });

    describe("the MCP Apps sandbox origin (appsListen)", () => {
      it("answers what the gateway's sandbox listener answers, and keeps the main origin's credentials off it", async () => {
        const through = await nsExec(
          net.client.ns,
          "curl",
          [
            "-s",
            "-i",
            "-m",
            "5",
            "-H",
            `Authorization: Bearer ${USER_TOKEN}`,
            `http://${net.sidecar.ip}:${APPS_PORT}/`,
          ],
          { timeoutMs: 10_000 },
        );
        const direct = await nsExec(
          net.gateway.ns,
          "curl",
          ["-s", "-i", "-m", "5", `http://127.0.0.1:${GW_PORT + 1}/`],
          { timeoutMs: 10_000 },
        );
        const statusLine = (t: string) => t.split("\r\n")[0];
        const body = (t: string) => t.slice(t.indexOf("\r\n\r\n") + 4);
        expect(statusLine(through.stdout)).toBe(statusLine(direct.stdout));
        expect(body(through.stdout)).toBe(body(direct.stdout));
        // The sandbox listener is not the gateway: the main origin's routes are not there, with or without a token.
        const config = await nsExec(
          net.client.ns,
          "curl",
          [
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-m",
            "5",
            "-H",
            `Authorization: Bearer ${USER_TOKEN}`,
            `http://${net.sidecar.ip}:${APPS_PORT}/control-ui-config.json`,
          ],
          { timeoutMs: 10_000 },
        );
        expect(config.stdout).not.toBe("200");
      }, 30_000);
    });
  },
);
