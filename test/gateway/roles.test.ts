// Issue 23 items 6 and 5 against the REAL gateway 2026.9.6: per-person roles (gateway.roles) bound to the user the
// sidecar names in identity mode, and the iOS app's way in (its per-gateway custom headers on the WebSocket
// upgrade, openclaw#100768). Every connection below is the scripted Ed25519 client from the NAT'd client namespace;
// the gateway's own CLI, inside its namespace with the internal password, is the administrator that assigns roles
// (users.setRole).
//
// Measured here: a person's authority is (the device's auto-approved scopes ∪ gateway.auth.identityScopes) ∩ the
// sidecar's x-openclaw-scopes ∩ the role's scope ceiling; a connect that names no verified user (a device token,
// directly or through a sidecar that names no one) is refused NOT_PAIRED / AUTH_VERIFIED_USER_REQUIRED, close 1008.
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { SignJWT, importJWK, type JWK } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { controlUiBuildId } from "../../src/commands/doctor.ts";
import { type ProviderProcess, signingKey, startProvider } from "../helpers/oidc.ts";
import { describeTier } from "../helpers/tier.ts";
import { gatewayPrereqs, type RunningGateway, startGateway, trustedProxyGateway } from "./gateway.ts";
import { cleanupStaleNetworks, createTestNetwork, netnsPrereqs, nsExec, type TestNetwork } from "./netns.ts";
import {
  type ConnectOptions,
  type ConnectResult,
  connectFromNamespace,
  createDeviceIdentity,
} from "./protocol-client.ts";
import { type SidecarProcess, startSidecarIn } from "./sidecar-process.ts";

const GW_PORT = 18796;
const SC_PORT = 8096;
/** A sidecar in attribution mode: it vouches for the client's address and names no user. */
const ATTR_PORT = 8098;
/** Serves the signing keys of the test's assertion proxy (the JWKS of a real OpenID provider process). */
const JWKS_PORT = 9401;
const INTERNAL_PASSWORD = "internal-password-0123456789"; // trustedProxyGateway's password for internal clients
const TOKENS = {
  alice: "alice-token-0123456789-abcdefghij",
  bob: "bob-token-0123456789-abcdefghijkl",
  carol: "carol-token-0123456789-abcdefghi",
  upper: "upper-token-0123456789-abcdefghij",
};
/** alice's phone: a machine credential in the tokensFile, what the iOS app's Custom Headers screen sends. */
const PHONE_ID = "alice-iphone.access";
const PHONE_SECRET = "phone-secret-0123456789abcdef0123456789";
const ASSERTION_HEADER = "x-test-proxy-assertion";
const ASSERTION_AUDIENCE = "openclaw-roles-test";
const ASSERTION_ISSUER = "https://proxy.roles.test";
const ROLES = {
  default: "viewer",
  definitions: {
    viewer: { sessions: { others: "view" }, agents: "*", scopes: ["operator.read"] },
    admin: {
      sessions: { others: "write" },
      agents: "*",
      scopes: [
        "operator.admin",
        "operator.read",
        "operator.write",
        "operator.approvals",
        "operator.pairing",
        "operator.questions",
      ],
    },
  },
};
/** What the iOS app asks for on its operator connection (apps/ios, GatewayConnectOptions role "operator"). */
const IOS_SCOPES = ["operator.admin", "operator.read", "operator.write", "operator.approvals", "operator.pairing"];

interface Profile {
  id: string;
  role?: string | null;
  emails?: string[];
}
interface DevicesList {
  pending: Array<{ requestId: string; deviceId: string; clientId?: string }>;
  paired: Array<{ deviceId: string; clientId?: string; approvedVia?: string; scopes?: string[] }>;
}

describeTier(
  "real gateway: per-person roles and the mobile apps through identity mode",
  [...netnsPrereqs(), ...gatewayPrereqs()],
  () => {
    let net: TestNetwork;
    let gw: RunningGateway;
    let sc: SidecarProcess;
    let attr: SidecarProcess;
    let jwksProvider: ProviderProcess;
    let signer: JWK;
    let origin: string;
    let buildId: string;
    let dir: string;
    /** Profile ids by person, as the gateway created them on each one's first connect. */
    const profiles: Record<string, string> = {};

    beforeAll(async () => {
      await cleanupStaleNetworks();
      net = await createTestNetwork();
      origin = `http://${net.sidecar.ip}:${SC_PORT}`;
      dir = mkdtempSync(path.join(tmpdir(), "ocs-roles-"));
      const tokens = path.join(dir, "tokens.json");
      writeFileSync(
        tokens,
        JSON.stringify([
          { user: "alice@example.com", token: TOKENS.alice },
          { user: "bob@example.com", token: TOKENS.bob },
          // The sidecar caps carol at read (x-openclaw-scopes), whatever role the gateway gives her.
          { user: "carol@example.com", token: TOKENS.carol, scopes: ["operator.read"] },
          // A configured name is taken exactly as written (identity.ts): the gateway receives it in upper case.
          { user: "ALICE@EXAMPLE.COM", token: TOKENS.upper },
          {
            user: "alice@example.com",
            clientId: PHONE_ID,
            clientSecretSha256: createHash("sha256").update(PHONE_SECRET).digest("hex"),
          },
        ]),
      );
      signer = await signingKey("proxy-key-1");
      const block = trustedProxyGateway(
        GW_PORT,
        net.sidecar.ip,
        ["alice@example.com", "bob@example.com", "carol@example.com"],
        { controlUi: { allowedOrigins: [origin, `http://${net.sidecar.ip}:${ATTR_PORT}`] }, roles: ROLES },
      );
      // identityScopes may grant operator.admin to anyone here: the role decides who keeps it.
      (block.auth as Record<string, unknown>).identityScopes = {
        "alice@example.com": ["operator.admin"],
        "bob@example.com": ["operator.admin"],
        "carol@example.com": ["operator.admin"],
      };
      [gw, jwksProvider] = await Promise.all([
        startGateway({ host: net.gateway, port: GW_PORT, config: { gateway: block } }),
        startProvider(
          {
            host: net.sidecar.ip,
            port: JWKS_PORT,
            redirectUris: [`${origin}/unused`],
            postLogoutRedirectUris: [],
            keys: [signer],
          },
          net.sidecar.ns,
        ),
      ]);
      sc = await startSidecarIn(net.sidecar.ns, {
        "--listen": `0.0.0.0:${SC_PORT}`,
        "--upstream": gw.url,
        "--mode": "identity",
        "--tokens-file": tokens,
        "--cookie-secret": "r".repeat(48),
        "--public-origin": origin,
        // Single sign-on by a proxy in front (Cloudflare Access, Pomerium): its JWT's email claim is the identity.
        "--trust-assertion": "generic",
        "--assertion-header": ASSERTION_HEADER,
        "--assertion-jwks-url": `${jwksProvider.issuer}/jwks`,
        "--assertion-audience": ASSERTION_AUDIENCE,
        "--assertion-issuer": ASSERTION_ISSUER,
      });
      attr = await startSidecarIn(net.sidecar.ns, {
        "--listen": `0.0.0.0:${ATTR_PORT}`,
        "--upstream": gw.url,
        "--mode": "attribution",
      });
      const index = await nsExec(net.gateway.ns, "curl", ["-s", "-m", "5", `${gw.loopbackUrl}/`], {
        timeoutMs: 10_000,
      });
      buildId = controlUiBuildId(index.stdout) ?? "";
      expect(buildId).not.toBe("");
    }, 180_000);

    afterAll(async () => {
      await sc?.stop();
      await attr?.stop();
      await jwksProvider?.stop();
      await gw?.stop();
      await net?.destroy();
      if (dir) rmSync(dir, { recursive: true, force: true });
    }, 40_000);

    /** The Control UI's connect through the identity-mode sidecar, logged in by `headers`. */
    const viaSidecar = (headers: Record<string, string>, extra: Partial<ConnectOptions> = {}) =>
      connectFromNamespace(net.client.ns, {
        url: `ws://${net.sidecar.ip}:${SC_PORT}/`,
        clientId: "openclaw-control-ui",
        buildId,
        origin,
        headers,
        ...extra,
      });
    const asPerson = (token: string, extra: Partial<ConnectOptions> = {}) =>
      viaSidecar({ Authorization: `Bearer ${token}` }, extra);
    /** The gateway's owner: an internal client on its loopback with the shared password (roles do not apply). */
    const owner = createDeviceIdentity();
    const asOwner = async (requests: NonNullable<ConnectOptions["requests"]>) => {
      const r = hello(
        await connectFromNamespace(net.gateway.ns, {
          url: `ws://127.0.0.1:${GW_PORT}/`,
          password: INTERNAL_PASSWORD,
          identity: owner,
          requests,
        }),
      );
      return r.responses ?? [];
    };
    const hello = (r: ConnectResult) => {
      if (r.kind !== "hello-ok") throw new Error(`expected hello-ok, got ${JSON.stringify(r)}`);
      return r;
    };
    const sorted = (r: ConnectResult) => [...hello(r).scopes].sort();
    const selfId = (r: ConnectResult) =>
      (hello(r).responses?.find((x) => x.method === "users.self")?.payload as { profile?: Profile } | undefined)
        ?.profile?.id;
    /** A signed assertion of the test's proxy for `email`, valid for five minutes. */
    const assertion = async (email: string) =>
      new SignJWT({ email })
        .setProtectedHeader({ alg: "RS256", kid: signer.kid as string })
        .setIssuer(ASSERTION_ISSUER)
        .setAudience(ASSERTION_AUDIENCE)
        .setIssuedAt()
        .setExpirationTime("5m")
        .sign(await importJWK(signer, "RS256"));
    const SET_ROLE_REFUSED = {
      method: "users.setRole",
      ok: false,
      error: {
        code: "FORBIDDEN",
        message: "missing scope: operator.admin",
        details: expect.objectContaining({ code: "MISSING_SCOPE", missingScope: "operator.admin" }),
      },
    };

    describe("per-person roles", () => {
      it("unassigned people get the default role's ceiling: identityScopes' operator.admin is capped to the viewer's read", async () => {
        for (const person of ["alice", "bob", "carol"] as const) {
          const r = await asPerson(TOKENS[person], {
            requests: [
              { method: "users.self" },
              { method: "users.setRole", params: { profileId: "nobody", role: "viewer" } },
            ],
          });
          expect([person, sorted(r)]).toEqual([person, ["operator.read"]]);
          expect(hello(r).responses?.[1]).toEqual(SET_ROLE_REFUSED);
          // The gateway made one profile per person the sidecar named, keyed by that address.
          expect(hello(r).responses?.[0]?.payload).toMatchObject({ profile: { emails: [`${person}@example.com`] } });
          profiles[person] = selfId(r) as string;
        }
        expect(new Set(Object.values(profiles)).size).toBe(3);
      }, 60_000);

      it("the owner assigns bob the admin role (openclaw gateway call users.setRole): bob now may call admin methods, alice still may not", async () => {
        const assigned = await gw.cliJson<{ profile: Profile }>([
          "gateway",
          "call",
          "users.setRole",
          "--params",
          JSON.stringify({ profileId: profiles.bob, role: "admin" }),
        ]);
        expect(assigned.profile).toMatchObject({ id: profiles.bob, role: "admin" });
        const bob = await asPerson(TOKENS.bob, {
          requests: [{ method: "users.setRole", params: { profileId: profiles.alice, role: "viewer" } }],
        });
        expect(sorted(bob)).toEqual([
          "operator.admin",
          "operator.approvals",
          "operator.questions",
          "operator.read",
          "operator.write",
        ]);
        expect(hello(bob).responses?.[0]).toMatchObject({ ok: true, payload: { profile: { role: "viewer" } } });
        const alice = await asPerson(TOKENS.alice, {
          requests: [{ method: "users.setRole", params: { profileId: profiles.alice, role: "admin" } }],
        });
        expect(sorted(alice)).toEqual(["operator.read"]);
        expect(hello(alice).responses?.[0]).toEqual(SET_ROLE_REFUSED);
      }, 60_000);

      it("the sidecar's scopes cap the role too: carol, made admin by bob, but read-only in the tokensFile, stays read-only", async () => {
        // bob, an admin person, assigns roles himself, through the sidecar.
        const byBob = await asPerson(TOKENS.bob, {
          requests: [{ method: "users.setRole", params: { profileId: profiles.carol, role: "admin" } }],
        });
        expect(hello(byBob).responses?.[0]).toMatchObject({ ok: true, payload: { profile: { role: "admin" } } });
        const carol = await asPerson(TOKENS.carol, {
          requests: [{ method: "users.setRole", params: { profileId: profiles.alice, role: "viewer" } }],
        });
        expect(sorted(carol)).toEqual(["operator.read"]);
        expect(hello(carol).responses?.[0]).toEqual(SET_ROLE_REFUSED);
      }, 60_000);

      it("a connect that names no verified user is refused AUTH_VERIFIED_USER_REQUIRED; through the identity sidecar the same device gets its person's role", async () => {
        // A device token, issued to an internal client that used the shared password (the owner: roles do not apply).
        const device = createDeviceIdentity();
        const internal = await connectFromNamespace(net.gateway.ns, {
          url: `ws://127.0.0.1:${GW_PORT}/`,
          password: INTERNAL_PASSWORD,
          identity: device,
        });
        expect(hello(internal).scopes).toContain("operator.admin");
        const deviceToken = hello(internal).deviceToken as string;
        expect(deviceToken).toBeTruthy();
        const refused = {
          kind: "close",
          code: 1008,
          error: {
            code: "NOT_PAIRED",
            message: expect.stringContaining("operator role policies require a verified user identity"),
            details: { code: "AUTH_VERIFIED_USER_REQUIRED" },
          },
        };
        const withToken = { deviceToken, identity: device };
        // Straight to the gateway (a device token is a credential of its own there) …
        expect(
          await connectFromNamespace(net.client.ns, { url: `ws://${net.gateway.ip}:${GW_PORT}/`, ...withToken }),
        ).toMatchObject(refused);
        // … and through a sidecar that attributes the client but names no user.
        expect(
          await connectFromNamespace(net.client.ns, { url: `ws://${net.sidecar.ip}:${ATTR_PORT}/`, ...withToken }),
        ).toMatchObject(refused);
        // The same sidecar without a device token: trusted-proxy auth itself refuses a connect with no user header.
        const bare = await connectFromNamespace(net.client.ns, {
          url: `ws://${net.sidecar.ip}:${ATTR_PORT}/`,
          clientId: "openclaw-control-ui",
          buildId,
          origin: `http://${net.sidecar.ip}:${ATTR_PORT}`,
        });
        expect(bare).toMatchObject({
          kind: "close",
          code: 1008,
          error: { details: { authReason: "trusted_proxy_user_missing" } },
        });
        // Through the identity sidecar the device token does not matter: alice is named, alice's role applies.
        const named = await connectFromNamespace(net.client.ns, {
          url: `ws://${net.sidecar.ip}:${SC_PORT}/`,
          headers: { Authorization: `Bearer ${TOKENS.alice}` },
          ...withToken,
          requests: [{ method: "users.self" }],
        });
        expect(sorted(named)).toEqual(["operator.read"]);
        expect(selfId(named)).toBe(profiles.alice);
      }, 60_000);

      it("the identity stays canonical: an assertion for ALICE@EXAMPLE.COM is alice, with alice's role; the name as written is not", async () => {
        expect(
          await asOwner([{ method: "users.setRole", params: { profileId: profiles.alice, role: "admin" } }]),
        ).toMatchObject([{ ok: true, payload: { profile: { role: "admin" } } }]);
        const mark = gw.logs().length;
        const sso = await viaSidecar(
          { [ASSERTION_HEADER]: await assertion("ALICE@EXAMPLE.COM") },
          { requests: [{ method: "users.self" }] },
        );
        expect(selfId(sso)).toBe(profiles.alice);
        expect(sorted(sso)).toContain("operator.admin");
        await expect
          .poll(() => gw.logs().slice(mark), { timeout: 5_000 })
          .toMatch(/authenticated user connected conn=\S+ user=alice@example\.com/);
        expect(gw.logs().slice(mark)).not.toContain("ALICE@EXAMPLE.COM");
        // A tokensFile name is forwarded exactly as written; the gateway's allowUsers compares exactly and refuses it.
        const upper = await asPerson(TOKENS.upper);
        expect(upper).toMatchObject({
          kind: "close",
          code: 1008,
          error: { details: { authReason: "trusted_proxy_user_not_allowed" } },
        });
        const cleared = await asOwner([{ method: "users.setRole", params: { profileId: profiles.alice, role: null } }]);
        expect(cleared).toMatchObject([{ ok: true }]);
        expect((cleared[0]?.payload as { profile: Profile }).profile.role ?? null).toBeNull();
      }, 60_000);
    });

    describe("the iOS app (per-gateway custom headers, openclaw#100768)", () => {
      /** The app's operator connection: CF-Access-Client-Id/-Secret on the upgrade, no cookie, no Origin, no token. */
      const phone = (headers: Record<string, string>, extra: Partial<ConnectOptions> = {}) =>
        connectFromNamespace(net.client.ns, {
          url: `ws://${net.sidecar.ip}:${SC_PORT}/`,
          clientId: "openclaw-ios",
          clientMode: "ui",
          platform: "iOS 26.1",
          deviceFamily: "iPhone",
          scopes: IOS_SCOPES,
          headers,
          ...extra,
        });

      it("the app's custom headers (a machine credential) get it in as alice, with alice's role and no pairing prompt; its node connection is approved once", async () => {
        const credential = { "CF-Access-Client-Id": PHONE_ID, "CF-Access-Client-Secret": PHONE_SECRET };
        const alice = selfId(await asPerson(TOKENS.alice, { requests: [{ method: "users.self" }] }));
        const mark = gw.logs().length;
        const device = createDeviceIdentity();
        const r = await phone(credential, { identity: device, requests: [{ method: "users.self" }] });
        expect(selfId(r)).toBe(alice);
        expect(sorted(r)).toEqual(["operator.read"]); // alice is on the default role (viewer)
        expect(gw.logs().slice(mark)).toMatch(/authenticated user connected conn=\S+ user=alice@example\.com/);
        const [pairs] = await asOwner([{ method: "device.pair.list" }]);
        const list = pairs?.payload as DevicesList;
        expect(list.pending, JSON.stringify(pairs)).toEqual([]);
        expect(list.paired.find((d) => d.deviceId === device.deviceId)).toMatchObject({
          clientId: "openclaw-ios",
          approvedVia: "trusted-proxy",
        });
        // It connects again with the same device key: still no prompt.
        expect(sorted(await phone(credential, { identity: device }))).toEqual(["operator.read"]);
        // The app's second connection, as a node (camera, location …), is a role upgrade that deviceAutoApprove does
        // not cover: the gateway asks for an approval, once.
        const asNode = { identity: device, role: "node", clientMode: "node", scopes: [] };
        const node = await phone(credential, asNode);
        expect(node).toMatchObject({
          kind: "close",
          code: 1008,
          error: { code: "NOT_PAIRED", details: { code: "PAIRING_REQUIRED", reason: "role-upgrade" } },
        });
        const requestId = (node.kind === "close" && node.error?.details?.requestId) as string;
        // The gateway cut the id out of its close reason (120 bytes): the sidecar's line names no id, not a wrong one.
        await expect.poll(() => sc.logs(), { timeout: 5_000 }).toContain("find the request with openclaw devices list");
        expect(sc.logs()).not.toContain(`openclaw devices approve ${requestId.slice(0, 8)}`);
        expect(await asOwner([{ method: "device.pair.approve", params: { requestId } }])).toMatchObject([{ ok: true }]);
        expect(await phone(credential, asNode)).toMatchObject({ kind: "hello-ok", role: "node" });
      }, 60_000);

      it("without the headers, or with a wrong secret, the sidecar answers 401 and the gateway sees nothing", async () => {
        const mark = gw.logs().length;
        expect(await phone({})).toMatchObject({ kind: "http", status: 401 });
        expect(await phone({ "CF-Access-Client-Id": PHONE_ID, "CF-Access-Client-Secret": "wrong" })).toMatchObject({
          kind: "http",
          status: 401,
        });
        await new Promise((r) => setTimeout(r, 500));
        // No connection of its own reached the gateway (earlier connections may still log their last lines).
        expect(gw.logs().slice(mark)).not.toMatch(
          / connected conn=|unauthorized conn=|closed before connect|ws upgrade/,
        );
      }, 30_000);
    });
  },
);
