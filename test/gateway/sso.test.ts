// Issue 12 against the REAL gateway, the REAL Control UI in headless Chromium and a REAL OpenID provider: the browser
// (NAT'd client namespace) opens the sidecar, is sent to the provider (node-oidc-provider, running in the sidecar's
// namespace at 10.77.0.3, reached by the browser and by the sidecar's back-channel), signs in on the provider's own
// login form, and reaches the connected dashboard as that user with the scopes its group maps to. A user the policy
// refuses never reaches the gateway. Issue 21: an account whose email claim latin1 would cut into alice's
// (U+0161 → "a") is refused with the reason and never reaches the gateway; ALICE@EXAMPLE.COM is alice, canonical.
import { afterAll, beforeAll, expect, it } from "vitest";
import { describeTier } from "../helpers/tier.ts";
import { CLIENT_ID, CLIENT_SECRET, type ProviderProcess, USERS, signingKey, startProvider } from "../helpers/oidc.ts";
import { controlUiPrereqs, launchControlUi } from "./control-ui.ts";
import { gatewayPrereqs, type RunningGateway, startGateway, trustedProxyGateway } from "./gateway.ts";
import { cleanupStaleNetworks, createTestNetwork, netnsPrereqs, type TestNetwork } from "./netns.ts";
import { type SidecarProcess, startSidecarIn } from "./sidecar-process.ts";

const GW_PORT = 18795;
const SC_PORT = 8095;
const PROVIDER_PORT = 9400;

describeTier(
  "real gateway + real Control UI + real OpenID provider: single sign-on",
  [...netnsPrereqs(), ...gatewayPrereqs(), ...controlUiPrereqs()],
  () => {
    let net: TestNetwork;
    let gw: RunningGateway;
    let provider: ProviderProcess;
    let sc: SidecarProcess;
    let origin: string;

    beforeAll(async () => {
      await cleanupStaleNetworks();
      net = await createTestNetwork();
      origin = `http://${net.sidecar.ip}:${SC_PORT}`;
      provider = await startProvider(
        {
          host: net.sidecar.ip,
          port: PROVIDER_PORT,
          redirectUris: [`${origin}/oauth2/callback`],
          postLogoutRedirectUris: [`${origin}/logout`],
          keys: [await signingKey("tier-key-1")],
          users: [
            ...USERS,
            { id: "slice", email: "\u0161lice@example.com", name: "Slice", groups: ["openclaw-operators"] },
            { id: "upper", email: "ALICE@EXAMPLE.COM", name: "Alice again", groups: ["openclaw-operators"] },
          ],
        },
        net.sidecar.ns,
      );
      gw = await startGateway({
        host: net.gateway,
        port: GW_PORT,
        config: {
          gateway: trustedProxyGateway(GW_PORT, net.sidecar.ip, ["alice@example.com", "bob@example.com"], {
            controlUi: { allowedOrigins: [origin] },
          }),
        },
      });
      sc = await startSidecarIn(net.sidecar.ns, {
        "--listen": `${net.sidecar.ip}:${SC_PORT}`,
        "--upstream": gw.url,
        "--mode": "identity",
        "--public-origin": origin,
        "--cookie-secret": "t".repeat(48),
        "--oidc-issuer": provider.issuer,
        "--oidc-client-id": CLIENT_ID,
        "--oidc-client-secret": CLIENT_SECRET,
        "--oidc-scopes": "openid email profile groups",
        "--oidc-allowed-domains": "example.com",
        "--oidc-scopes-by-group": JSON.stringify({
          "openclaw-operators": ["operator.read", "operator.write"],
          "openclaw-readers": ["operator.read"],
        }),
      });
    }, 180_000);
    afterAll(async () => {
      await sc?.stop();
      await provider?.stop();
      await gw?.stop();
      await net?.destroy();
    });

    /**
     * Where the gateway's log stands once the previous test's sessions have stopped writing to it (a closed dashboard's
     * last responses are logged a moment later): what follows belongs to the next test alone.
     */
    async function quietMark(): Promise<number> {
      let length = gw.logs().length;
      for (let stable = 0, waited = 0; stable < 1000 && waited < 10_000; waited += 100) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        const now = gw.logs().length;
        stable = now === length ? stable + 100 : 0;
        length = now;
      }
      return length;
    }

    /** Opens the dashboard in Chromium, signs in on the provider's form as `login`; returns the UI session. */
    async function signIn(login: string) {
      const ui = await launchControlUi(net.client.ns);
      await ui.goto(`${origin}/`);
      // The provider's own page (its development login form), reached through our 303.
      expect(ui.page.url().startsWith(`${provider.issuer}/interaction/`)).toBe(true);
      await ui.page.fill('input[name="login"]', login);
      await ui.page.fill('input[name="password"]', "test-password");
      await Promise.all([
        ui.page.waitForURL((u) => u.href.startsWith(origin) && !u.pathname.startsWith("/oauth2/"), { timeout: 30_000 }),
        ui.page.click('button[type="submit"]'),
      ]);
      return ui;
    }

    it("alice signs in on the provider's form and reaches the connected dashboard as alice with her group's scopes, no pairing", async () => {
      const ui = await signIn("alice");
      try {
        const outcome = await ui.waitForOutcome({ timeoutMs: 30_000 });
        const result = await ui.report("sso-alice-connected.png");
        expect(outcome).toMatchObject({ kind: "hello-ok" });
        expect(outcome?.kind === "hello-ok" ? [...outcome.scopes].sort() : []).toEqual([
          "operator.read",
          "operator.write",
        ]);
        // The UI shows "Connected" only for a moment before it routes on to the chat (seen both ways here): what must
        // never show is a disconnect or a pairing request.
        expect(result.text).not.toMatch(/disconnected|pairing required/i);
        expect(ui.page.url().startsWith(`${origin}/`)).toBe(true); // the UI routes itself on (/chat/main)
        expect(gw.logs()).toMatch(/trusted-proxy operator device auto-approved user=alice@example\.com/);
      } finally {
        await ui.close();
      }
    }, 90_000);

    it("bob, in the readers group, is connected read-only", async () => {
      const ui = await signIn("bob");
      try {
        const outcome = await ui.waitForOutcome({ timeoutMs: 30_000 });
        await ui.report("sso-bob-read-only.png");
        expect(outcome?.kind === "hello-ok" ? outcome.scopes : undefined).toEqual(["operator.read"]);
      } finally {
        await ui.close();
      }
    }, 90_000);

    it("mallory (another domain) is refused after the provider's login and never reaches the gateway", async () => {
      const mark = await quietMark();
      const ui = await launchControlUi(net.client.ns);
      try {
        await ui.goto(`${origin}/`);
        await ui.page.fill('input[name="login"]', "mallory");
        await ui.page.fill('input[name="password"]', "test-password");
        await Promise.all([
          ui.page.waitForURL((u) => u.href.startsWith(`${origin}/oauth2/callback`), { timeout: 30_000 }),
          ui.page.click('button[type="submit"]'),
        ]);
        const result = await ui.report("sso-mallory-refused.png");
        expect(result.text).toContain("403");
        expect(result.text).toContain("mallory@evil.example is not allowed here");
        expect(ui.frames).toEqual([]); // no WebSocket was ever opened
        expect(await sc.metric("openclaw_sidecar_auth_failures_total", { reason: "oidc_not_allowed" })).toBe(1);
        // The gateway logged nothing about this client: no connection, no upgrade, no request from 10.77.0.2.
        expect(gw.logs().slice(mark)).not.toMatch(/conn=|ws upgrade|10\.77\.0\.2|mallory/);
      } finally {
        await ui.close();
      }
    }, 90_000);

    it("issue 21: an email claim that latin1 would turn into alice's (\u0161lice@example.com) is refused with the reason and never reaches the gateway", async () => {
      const mark = await quietMark();
      const ui = await launchControlUi(net.client.ns);
      try {
        await ui.goto(`${origin}/`);
        await ui.page.fill('input[name="login"]', "slice");
        await ui.page.fill('input[name="password"]', "test-password");
        await Promise.all([
          ui.page.waitForURL((u) => u.href.startsWith(`${origin}/oauth2/callback`), { timeout: 30_000 }),
          ui.page.click('button[type="submit"]'),
        ]);
        const result = await ui.report("sso-latin1-lookalike-refused.png");
        expect(result.text).toContain("403");
        expect(result.text).toContain("contains U+0161 at position 1, which is not ASCII");
        expect(ui.frames).toEqual([]);
        expect(await sc.metric("openclaw_sidecar_auth_failures_total", { reason: "oidc_identity_invalid" })).toBe(1);
        expect(gw.logs().slice(mark)).not.toMatch(/conn=|ws upgrade|10\.77\.0\.2|alice/);
      } finally {
        await ui.close();
      }
    }, 90_000);

    it("issue 21: ALICE@EXAMPLE.COM is alice, canonical: the gateway's allowUsers matches and the dashboard connects as alice@example.com", async () => {
      const mark = await quietMark();
      const ui = await signIn("upper");
      try {
        const outcome = await ui.waitForOutcome({ timeoutMs: 30_000 });
        await ui.report("sso-upper-case-alice.png");
        expect(outcome).toMatchObject({ kind: "hello-ok" });
        expect(gw.logs().slice(mark)).toMatch(/trusted-proxy operator device auto-approved user=alice@example\.com/);
        expect(gw.logs()).not.toMatch(/ALICE@EXAMPLE\.COM/);
      } finally {
        await ui.close();
      }
    }, 90_000);
  },
);
