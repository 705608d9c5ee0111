// publicBasePath (issue 23 §1) against the REAL gateway with `gateway.controlUi.basePath: "/claw"` and the REAL Control
// UI in headless Chromium, from the NAT'd client namespace: the dashboard at http://<sidecar>/claw/ reaches a
// connected session in identity mode with a token (?token= link), in identity mode with single sign-on (a real OpenID
// provider, callback under the prefix), and in attribution mode (the gateway's token, the browser approved once).
// The UI's WebSocket opens under the prefix and carries the cookie set for it; outside the prefix the sidecar answers.
// One trusted-proxy gateway serves both identity sidecars; the token-auth gateway serves attribution mode.
import { afterAll, beforeAll, expect, it } from "vitest";
import { describeTier } from "../helpers/tier.ts";
import { CLIENT_ID, CLIENT_SECRET, type ProviderProcess, signingKey, startProvider } from "../helpers/oidc.ts";
import { type ControlUiSession, controlUiPrereqs, launchControlUi } from "./control-ui.ts";
import { gatewayPrereqs, type RunningGateway, startGateway, trustedProxyGateway } from "./gateway.ts";
import { cleanupStaleNetworks, createTestNetwork, netnsPrereqs, nsExec, type TestNetwork } from "./netns.ts";
import { type SidecarProcess, runDoctor, startSidecarIn } from "./sidecar-process.ts";

const BASE = "/claw";
const ID_GW_PORT = 18796;
const ATTR_GW_PORT = 18797;
const ID_SC_PORT = 8096;
const SSO_SC_PORT = 8098; // each sidecar's admin listener is its port + 1
const ATTR_SC_PORT = 8100;
const PROVIDER_PORT = 9401;
const USER_TOKEN = "alice-base-path-token-0123456789abc";
const GATEWAY_TOKEN = "attribution-base-path-token-0123456789";
const COOKIE_SECRET = "p".repeat(48);

describeTier(
  "real gateway + real Control UI under a path prefix (publicBasePath /claw)",
  [...netnsPrereqs(), ...gatewayPrereqs(), ...controlUiPrereqs()],
  () => {
    let net: TestNetwork;
    let idGw: RunningGateway;
    let attrGw: RunningGateway;
    let provider: ProviderProcess;
    let idSc: SidecarProcess;
    let ssoSc: SidecarProcess;
    let attrSc: SidecarProcess;
    const origin = (port: number) => `http://${net.sidecar.ip}:${port}`;
    /** Status and Location of one request from the client namespace. */
    const curl = async (url: string, extra: string[] = []) => {
      const r = await nsExec(
        net.client.ns,
        "curl",
        ["-s", "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}", "-m", "5", ...extra, url],
        { timeoutMs: 10_000 },
      );
      return r.stdout.trim();
    };
    /** The URLs of the WebSockets the page opens, recorded from before its first navigation. */
    const sockets = (ui: ControlUiSession) => {
      const urls: string[] = [];
      ui.page.on("websocket", (ws) => urls.push(ws.url()));
      return urls;
    };

    beforeAll(async () => {
      await cleanupStaleNetworks();
      net = await createTestNetwork();
      const ssoOrigin = origin(SSO_SC_PORT);
      [idGw, attrGw, provider] = await Promise.all([
        startGateway({
          host: net.gateway,
          port: ID_GW_PORT,
          config: {
            gateway: trustedProxyGateway(ID_GW_PORT, net.sidecar.ip, ["alice@example.com"], {
              controlUi: { basePath: BASE, allowedOrigins: [origin(ID_SC_PORT), ssoOrigin] },
            }),
          },
        }),
        startGateway({
          host: net.gateway,
          port: ATTR_GW_PORT,
          config: {
            gateway: {
              port: ATTR_GW_PORT,
              bind: "lan",
              trustedProxies: [`${net.sidecar.ip}/32`],
              auth: { mode: "token", token: GATEWAY_TOKEN },
              controlUi: { basePath: BASE, allowedOrigins: [origin(ATTR_SC_PORT)] },
            },
          },
        }),
        signingKey("base-path-key").then((key) =>
          startProvider(
            {
              host: net.sidecar.ip,
              port: PROVIDER_PORT,
              redirectUris: [`${ssoOrigin}${BASE}/oauth2/callback`],
              postLogoutRedirectUris: [`${ssoOrigin}${BASE}/logout`],
              keys: [key],
            },
            net.sidecar.ns,
          ),
        ),
      ]);
      const common = { "--public-base-path": BASE, "--cookie-secret": COOKIE_SECRET };
      idSc = await startSidecarIn(net.sidecar.ns, {
        ...common,
        "--listen": `0.0.0.0:${ID_SC_PORT}`,
        "--upstream": idGw.url,
        "--mode": "identity",
        "--token": USER_TOKEN,
        "--user": "alice@example.com",
        "--public-origin": origin(ID_SC_PORT),
      });
      ssoSc = await startSidecarIn(net.sidecar.ns, {
        ...common,
        "--listen": `0.0.0.0:${SSO_SC_PORT}`,
        "--upstream": idGw.url,
        "--mode": "identity",
        "--public-origin": ssoOrigin,
        "--oidc-issuer": provider.issuer,
        "--oidc-client-id": CLIENT_ID,
        "--oidc-client-secret": CLIENT_SECRET,
        "--oidc-allowed-domains": "example.com",
      });
      attrSc = await startSidecarIn(net.sidecar.ns, {
        "--public-base-path": BASE,
        "--listen": `0.0.0.0:${ATTR_SC_PORT}`,
        "--upstream": attrGw.url,
      });
    }, 180_000);

    afterAll(async () => {
      await Promise.all([idSc?.stop(), ssoSc?.stop(), attrSc?.stop()]);
      await provider?.stop();
      await Promise.all([idGw?.stop(), attrGw?.stop()]);
      await net?.destroy();
    }, 40_000);

    it("identity mode, ?token= link: the dashboard at /claw/ connects, its WebSocket under the prefix with the prefix's cookie", async () => {
      const ui = await launchControlUi(net.client.ns);
      const opened = sockets(ui);
      try {
        await ui.goto(`${origin(ID_SC_PORT)}${BASE}/?token=${USER_TOKEN}`);
        const outcome = await ui.waitForOutcome({ timeoutMs: 40_000 });
        const report = await ui.report("base-path-identity-token.png");
        expect(outcome).toMatchObject({ kind: "hello-ok" });
        expect(report.text).not.toMatch(/disconnected|pairing required|Approve this browser/i);
        expect(new URL(ui.page.url()).pathname.startsWith(`${BASE}/`)).toBe(true);
        expect(ui.page.url()).not.toContain("token=");
        console.log(`[base-path] the Control UI opened ${JSON.stringify(opened)}`);
        expect(opened.length).toBeGreaterThan(0);
        for (const url of opened)
          expect(new URL(url).pathname === BASE || new URL(url).pathname.startsWith(`${BASE}/`)).toBe(true);
        const cookies = await ui.page.context().cookies();
        expect(cookies.find((c) => c.name === "openclaw_sidecar_session")).toMatchObject({
          path: BASE,
          httpOnly: true,
        });
      } finally {
        await ui.close();
      }
      expect(idGw.logs()).toMatch(/trusted-proxy operator device auto-approved user=alice@example\.com/);
    }, 90_000);

    it("outside the prefix the sidecar answers: / and /claw redirect to /claw/, the gateway's root routes are 404", async () => {
      const o = origin(ID_SC_PORT);
      expect(await curl(`${o}/`)).toBe(`302 ${o}${BASE}/`);
      expect(await curl(`${o}${BASE}`)).toBe(`302 ${o}${BASE}/`);
      for (const path of ["/healthz", "/readyz", "/index.html", "/claw/../healthz", "/CLAW/", "/clawx"])
        expect(await curl(`${o}${path}`, ["--path-as-is", "-H", `Authorization: Bearer ${USER_TOKEN}`]), path).toBe(
          "404",
        );
      // The shell loads without a session under the prefix (token-field login); at the root the gateway would 404 it.
      expect(await curl(`${o}${BASE}/`)).toBe("200");
      expect(await curl(`${o}${BASE}/manifest.webmanifest`)).toBe("200");
      expect(await curl(`${o}${BASE}/control-ui-config.json`)).toBe("401");
      expect(await curl(`${o}${BASE}/control-ui-config.json`, ["-H", `Authorization: Bearer ${USER_TOKEN}`])).toBe(
        "200",
      );
    }, 60_000);

    it("identity mode with single sign-on: the provider's login comes back to /claw/oauth2/callback and the dashboard connects", async () => {
      const o = origin(SSO_SC_PORT);
      const ui = await launchControlUi(net.client.ns);
      const opened = sockets(ui);
      try {
        await ui.goto(`${o}${BASE}/`);
        expect(ui.page.url().startsWith(`${provider.issuer}/interaction/`)).toBe(true);
        await ui.page.fill('input[name="login"]', "alice");
        await ui.page.fill('input[name="password"]', "test-password");
        await Promise.all([
          ui.page.waitForURL((u) => u.href.startsWith(`${o}${BASE}/`) && !u.pathname.startsWith(`${BASE}/oauth2/`), {
            timeout: 30_000,
          }),
          ui.page.click('button[type="submit"]'),
        ]);
        const outcome = await ui.waitForOutcome({ timeoutMs: 40_000 });
        await ui.report("base-path-identity-sso.png");
        expect(outcome).toMatchObject({ kind: "hello-ok" });
        for (const url of opened) expect(new URL(url).pathname.startsWith(BASE)).toBe(true);
      } finally {
        await ui.close();
      }
    }, 90_000);

    it("the doctor checks that the gateway serves its Control UI at the sidecar's prefix, and says what to set when not", async () => {
      const doctor = (base: string[]) =>
        runDoctor(net.sidecar.ns, [
          "--upstream",
          idGw.url,
          "--mode",
          "identity",
          "--token",
          USER_TOKEN,
          "--user",
          "alice@example.com",
          "--public-origin",
          origin(ID_SC_PORT),
          "--sidecar-address",
          net.sidecar.ip,
          ...base,
        ]);
      const [same, root, other] = await Promise.all([
        doctor(["--public-base-path", BASE]),
        doctor([]),
        doctor(["--public-base-path", "/other"]),
      ]);
      expect(same.out).toContain("[ok] the gateway serves its Control UI at /claw/, as the sidecar does");
      expect(same.out).toContain("[ok] gateway version 2026.9.6");
      expect(same.out).toContain('"basePath": "/claw"'); // the printed gateway block
      expect(same.code, same.out).toBe(0);
      expect(root.out).toContain(
        "[FAIL] the gateway serves no Control UI at the root (/) (GET /control-ui-config.json answered 404): remove gateway.controlUi.basePath",
      );
      expect(root.code).toBe(1);
      expect(other.out).toContain("[FAIL] the gateway serves no Control UI at /other/");
      expect(other.out).toContain('set gateway.controlUi.basePath: "/other" in the gateway config and restart it');
      expect(other.code).toBe(1);
      // Token auth (attribution mode), where the UI's config wants the gateway's token: its document decides.
      const attr = (base: string[]) =>
        runDoctor(net.sidecar.ns, ["--upstream", attrGw.url, "--public-origin", origin(ATTR_SC_PORT), ...base]);
      const [attrSame, attrRoot] = await Promise.all([attr(["--public-base-path", BASE]), attr([])]);
      expect(attrSame.out).toContain("[ok] the gateway serves its Control UI at /claw/, as the sidecar does");
      expect(attrRoot.out).toContain(
        "[FAIL] the gateway serves no Control UI at the root (/) (GET /control-ui-config.json answered 404): remove gateway.controlUi.basePath",
      );
    }, 90_000);

    it("attribution mode: the dashboard at /claw/#token=… asks for approval once, then connects", async () => {
      const ui = await launchControlUi(net.client.ns);
      const opened = sockets(ui);
      try {
        await ui.goto(`${origin(ATTR_SC_PORT)}${BASE}/#token=${GATEWAY_TOKEN}`);
        const refused = await ui.waitForOutcome({ timeoutMs: 40_000 });
        expect(refused).toMatchObject({ kind: "error", code: "NOT_PAIRED" });
        const requestId = refused?.kind === "error" ? String(refused.details?.requestId) : "";
        await attrGw.cliJson(["devices", "approve", requestId]);
        const since = ui.frames.length;
        let outcome = await ui.waitForOutcome({ since, timeoutMs: 30_000 });
        if (outcome?.kind !== "hello-ok") {
          // Not retried yet (its retry waits longer on a loaded machine): reload, as a person would.
          console.log("[base-path] the Control UI did not retry within 30 s; reloading");
          const beforeReload = ui.frames.length;
          await ui.page.reload({ waitUntil: "load" });
          outcome = await ui.waitForOutcome({ since: beforeReload, timeoutMs: 30_000 });
        }
        await ui.report("base-path-attribution.png");
        expect(outcome).toMatchObject({ kind: "hello-ok" });
        for (const url of opened) expect(new URL(url).pathname.startsWith(BASE)).toBe(true);
      } finally {
        await ui.close();
      }
      // Attribution mode has no gate, and still nothing outside the prefix is forwarded.
      expect(await curl(`${origin(ATTR_SC_PORT)}/healthz`)).toBe("404");
    }, 120_000);
  },
);
