// Verified assertions from an identity-aware proxy in front (trustAssertion), with keys and a JWKS endpoint this test
// creates, and the claim layouts each vendor documents:
// - Cloudflare Access, "Application token" (developers.cloudflare.com/cloudflare-one/access-controls/applications/
//   http-apps/authorization-cookie/application-token/): header {alg: RS256, kid, typ: JWT}; payload {aud: [AUD tag],
//   email, exp, iat, nbf, iss: "https://<team>.cloudflareaccess.com", type: "app", identity_nonce, sub, country}; a
//   service token has common_name (the client id) and an empty sub instead of an email. Keys at
//   https://<team>.cloudflareaccess.com/cdn-cgi/access/certs ("Validate JWTs", same section).
// - Pomerium, "Identity verification" (pomerium.com/docs/capabilities/getting-users-identity):
//   X-Pomerium-Jwt-Assertion,
//   ES256, claims exp, iat, aud (the upstream's domain), iss (the same domain since v0.22), sub, email, groups, name;
//   keys at /.well-known/pomerium/jwks.json.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { type JWK, SignJWT, exportJWK, generateKeyPair, importJWK } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { startTestSidecar, type TestSidecar } from "../helpers/sidecar.ts";
import { type FakeGateway, startFakeGateway } from "../helpers/upstream.ts";

interface KeyPair {
  kid: string;
  alg: string;
  privateJwk: JWK;
  publicJwk: JWK;
}
async function keyPair(kid: string, alg: "RS256" | "ES256" | "EdDSA"): Promise<KeyPair> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return {
    kid,
    alg,
    privateJwk: await exportJWK(privateKey),
    publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: "sig" },
  };
}
async function sign(key: KeyPair, payload: Record<string, unknown>, kid = key.kid): Promise<string> {
  return new SignJWT(payload)
    .setProtectedHeader({ alg: key.alg, kid, typ: "JWT" })
    .sign(await importJWK(key.privateJwk, key.alg));
}

/** A JWKS endpoint whose key set the test changes, counting fetches. */
class JwksServer {
  keys: JWK[] = [];
  fetches = 0;
  server!: Server;
  url = "";
  async start(path: string): Promise<void> {
    this.server = createServer((req, res) => {
      if (req.url !== path) return void res.writeHead(404).end();
      this.fetches++;
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: this.keys }));
    });
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}${path}`;
  }
  close(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
}

const now = () => Math.floor(Date.now() / 1000);
const TEAM = "test-team.cloudflareaccess.com";
const AUD = "32eafc7626e974616deaf0dc3ce63d7bcbed58a2731e84d06bc3cdf1b53c4228";
const cfPayload = (over: Record<string, unknown> = {}) => ({
  aud: [AUD],
  email: "alice@example.com",
  exp: now() + 60,
  iat: now(),
  nbf: now(),
  iss: `https://${TEAM}`,
  type: "app",
  identity_nonce: "6ei69kawdKzMIAPF",
  sub: "7335d417-61da-459d-899c-0a01c76a2f94",
  country: "US",
  ...over,
});

let gw: FakeGateway;
beforeAll(async () => {
  gw = await startFakeGateway();
});
afterAll(async () => {
  await gw?.close();
});
const last = () => gw.received[gw.received.length - 1];

describe("trustAssertion cloudflare-access", () => {
  const jwks = new JwksServer();
  let sc: TestSidecar;
  let k1: KeyPair;
  beforeAll(async () => {
    await jwks.start("/cdn-cgi/access/certs");
    k1 = await keyPair("9338abe1baf2fe492f646a736f25afbf7b025e35c627be4f60c414d4c73069b8", "RS256");
    jwks.keys = [k1.publicJwk];
    sc = await startTestSidecar({
      "--upstream": gw.url,
      "--mode": "identity",
      "--trust-assertion": "cloudflare-access",
      "--assertion-team-domain": TEAM,
      "--assertion-jwks-url": jwks.url,
      "--assertion-audience": AUD,
      "--cookie-secret": "c".repeat(40),
    });
  });
  afterAll(async () => {
    await sc?.close();
    await jwks.close();
  });
  const get = (headers: Record<string, string>, path = "/api/x") =>
    fetch(`${sc.url}${path}`, { headers: { accept: "application/json", ...headers } });

  it("a verified assertion gets the sidecar's identity header; the assertion and a client's own identity are not forwarded; the JWKS is fetched once", async () => {
    const token = await sign(k1, cfPayload());
    const res = await get({ "cf-access-jwt-assertion": token, "x-forwarded-user": "mallory@evil.example" });
    expect(res.status).toBe(200);
    expect(last()?.headers["x-forwarded-user"]).toBe("alice@example.com");
    expect(last()?.headers["cf-access-jwt-assertion"]).toBeUndefined();
    expect(last()?.headers["x-openclaw-scopes"]).toBeUndefined();
    for (let i = 0; i < 5; i++)
      expect((await get({ "cf-access-jwt-assertion": await sign(k1, cfPayload()) })).status).toBe(200);
    expect(jwks.fetches).toBe(1); // cached
  });

  it.each([
    ["another application's audience", { aud: ["another-aud-tag"] }, "aud claim is not accepted"],
    ["another team's issuer", { iss: "https://other-team.cloudflareaccess.com" }, "iss claim is not accepted"],
    [
      "a service token (no email)",
      { email: undefined, sub: "", common_name: "abc.access" },
      "a service token, common_name abc.access",
    ],
  ])("refused before the gateway: %s", async (_name, over, why) => {
    const before = gw.received.length;
    const res = await get({ "cf-access-jwt-assertion": await sign(k1, cfPayload(over)) });
    expect(res.status).toBe(401);
    expect(await res.text()).toContain(why);
    expect(gw.received.length).toBe(before);
  });

  it("refused: an expired assertion (assertion_expired), a forged signature, garbage, a repeated header", async () => {
    const before = gw.received.length;
    const expired = await get({
      "cf-access-jwt-assertion": await sign(k1, cfPayload({ exp: now() - 120, iat: now() - 600, nbf: now() - 600 })),
    });
    expect(expired.status).toBe(401);
    expect(await sc.metric("openclaw_sidecar_auth_failures_total", { reason: "assertion_expired" })).toBe(1);
    // Signed by a key of the attacker's, claiming the real key's kid.
    const forger = await keyPair(k1.kid, "RS256");
    const forged = await get({ "cf-access-jwt-assertion": await sign(forger, cfPayload()) });
    expect(forged.status).toBe(401);
    expect(await forged.text()).toContain("does not verify (ERR_JWS_SIGNATURE_VERIFICATION_FAILED)");
    expect((await get({ "cf-access-jwt-assertion": "not.a.jwt" })).status).toBe(401);
    // alg none
    const none = `${Buffer.from('{"alg":"none"}').toString("base64url")}.${Buffer.from(JSON.stringify(cfPayload())).toString("base64url")}.`;
    expect((await get({ "cf-access-jwt-assertion": none })).status).toBe(401);
    expect(gw.received.length).toBe(before);
    expect(
      await sc.metric("openclaw_sidecar_auth_failures_total", { reason: "assertion_invalid" }),
    ).toBeGreaterThanOrEqual(3);
  });

  it("without an assertion (or another credential) nothing passes", async () => {
    const before = gw.received.length;
    expect((await get({})).status).toBe(401);
    expect(gw.received.length).toBe(before);
  });

  it("WebSocket upgrades carry the assertion too: verified → the identity; invalid → 401", async () => {
    const open = (headers: Record<string, string>) =>
      new Promise<number>((resolve) => {
        const ws = new WebSocket(`${sc.url.replace("http", "ws")}/`, { headers });
        ws.once("open", () => {
          ws.close();
          resolve(101);
        });
        ws.once("unexpected-response", (_q, r) => resolve(r.statusCode ?? 0));
        ws.once("error", () => resolve(-1));
      });
    expect(await open({ "cf-access-jwt-assertion": await sign(k1, cfPayload({ email: "bob@example.com" })) })).toBe(
      101,
    );
    const up = gw.received.findLast((r) => r.headers.upgrade === "websocket");
    expect(up?.headers["x-forwarded-user"]).toBe("bob@example.com");
    expect(up?.headers["cf-access-jwt-assertion"]).toBeUndefined();
    expect(await open({ "cf-access-jwt-assertion": await sign(k1, cfPayload({ aud: ["x"] })) })).toBe(401);
  });

  it("key rotation: a token signed with a new kid makes the sidecar fetch the JWKS again; a kid still unknown after that is refused", async () => {
    const k2 = await keyPair("1a1c3986a44ce6390be42ec772b031df8f433fdc71716db8", "RS256");
    jwks.keys = [k2.publicJwk, k1.publicJwk]; // Cloudflare publishes the current and the previous key
    await new Promise((r) => setTimeout(r, 5_200)); // past the cooldown since the last fetch
    const before = jwks.fetches;
    expect((await get({ "cf-access-jwt-assertion": await sign(k2, cfPayload()) })).status).toBe(200);
    expect(jwks.fetches).toBe(before + 1);
    // The previous key still verifies (no fetch needed).
    expect((await get({ "cf-access-jwt-assertion": await sign(k1, cfPayload()) })).status).toBe(200);
    // A kid that is nowhere: one more fetch at most (cooldown), then refused.
    const k3 = await keyPair("unknown-kid", "RS256");
    const res = await get({ "cf-access-jwt-assertion": await sign(k3, cfPayload()) });
    expect(res.status).toBe(401);
    expect(await res.text()).toContain("signed with a key that is not in");
    for (let i = 0; i < 5; i++) await get({ "cf-access-jwt-assertion": await sign(k3, cfPayload()) });
    expect(jwks.fetches).toBeLessThanOrEqual(before + 2); // made-up kids do not become a flood of fetches
  }, 20_000);

  it("JWKS unreachable: 503 with the reason (assertion_unverifiable), not a hang", async () => {
    const k9 = await keyPair("k9", "RS256");
    const down = await startTestSidecar({
      "--upstream": gw.url,
      "--mode": "identity",
      "--trust-assertion": "cloudflare-access",
      "--assertion-team-domain": TEAM,
      "--assertion-jwks-url": "http://127.0.0.1:9/cdn-cgi/access/certs",
      "--assertion-audience": AUD,
    });
    try {
      const t0 = Date.now();
      const res = await fetch(`${down.url}/api/x`, {
        headers: { "cf-access-jwt-assertion": await sign(k9, cfPayload()) },
      });
      expect(Date.now() - t0).toBeLessThan(3000);
      expect(res.status).toBe(503);
      expect(await res.text()).toContain("could not be fetched from http://127.0.0.1:9/cdn-cgi/access/certs");
      expect(await down.metric("openclaw_sidecar_auth_failures_total", { reason: "assertion_unverifiable" })).toBe(1);
    } finally {
      await down.close();
    }
  });
});

describe("trustAssertion pomerium and generic", () => {
  const jwks = new JwksServer();
  let pomerium: TestSidecar;
  let generic: TestSidecar;
  let es: KeyPair;
  let ed: KeyPair;
  const ROUTE = "openclaw.corp.example.com";
  beforeAll(async () => {
    await jwks.start("/.well-known/pomerium/jwks.json");
    es = await keyPair("ccc5bc9d835ff3c8f7075ed4a7510159cf440fd7bf7b517b5caeb1fa419ee6a1", "ES256");
    ed = await keyPair("ed-1", "EdDSA");
    jwks.keys = [es.publicJwk, ed.publicJwk];
    pomerium = await startTestSidecar({
      "--upstream": gw.url,
      "--mode": "identity",
      "--trust-assertion": "pomerium",
      "--assertion-jwks-url": jwks.url,
      "--assertion-audience": ROUTE,
    });
    generic = await startTestSidecar({
      "--upstream": gw.url,
      "--mode": "identity",
      "--trust-assertion": "generic",
      "--assertion-header": "x-auth-assertion",
      "--assertion-jwks-url": jwks.url,
      "--assertion-audience": "openclaw",
      "--assertion-issuer": "https://proxy.example.com",
      "--assertion-user-claim": "preferred_username",
    });
  });
  afterAll(async () => {
    await pomerium?.close();
    await generic?.close();
    await jwks.close();
  });

  it("pomerium: the documented claims (iss = aud = the route's domain, ES256) verify; the header is consumed", async () => {
    const payload = {
      aud: ROUTE,
      iss: ROUTE,
      exp: now() + 300,
      iat: now(),
      jti: "b3b6e8a5",
      sub: "CgVhbGljZRIEdGVzdA",
      user: "CgVhbGljZRIEdGVzdA",
      email: "alice@example.com",
      groups: ["openclaw-operators"],
      name: "Alice",
      sid: "s1",
    };
    const res = await fetch(`${pomerium.url}/api/x`, {
      headers: { "x-pomerium-jwt-assertion": await sign(es, payload) },
    });
    expect(res.status).toBe(200);
    expect(last()?.headers["x-forwarded-user"]).toBe("alice@example.com");
    expect(last()?.headers["x-pomerium-jwt-assertion"]).toBeUndefined();
    // jwt_issuer_format: uri
    expect(
      (
        await fetch(`${pomerium.url}/api/x`, {
          headers: { "x-pomerium-jwt-assertion": await sign(es, { ...payload, iss: `https://${ROUTE}/` }) },
        })
      ).status,
    ).toBe(200);
    // Another route's token is not ours.
    expect(
      (
        await fetch(`${pomerium.url}/api/x`, {
          headers: {
            "x-pomerium-jwt-assertion": await sign(es, {
              ...payload,
              aud: "grafana.corp.example.com",
              iss: "grafana.corp.example.com",
            }),
          },
        })
      ).status,
    ).toBe(401);
  });

  it("generic: a custom header (not in the stripped set) is verified and consumed, never forwarded", async () => {
    const payload = {
      aud: "openclaw",
      iss: "https://proxy.example.com",
      exp: now() + 60,
      iat: now(),
      sub: "u-1",
      preferred_username: "carol",
    };
    const res = await fetch(`${generic.url}/api/x`, { headers: { "x-auth-assertion": await sign(ed, payload) } });
    expect(res.status).toBe(200);
    expect(last()?.headers["x-forwarded-user"]).toBe("carol");
    expect(last()?.headers["x-auth-assertion"]).toBeUndefined();
    const wrongIssuer = await fetch(`${generic.url}/api/x`, {
      headers: { "x-auth-assertion": await sign(ed, { ...payload, iss: "https://evil.example" }) },
    });
    expect(wrongIssuer.status).toBe(401);
    const noExp = await fetch(`${generic.url}/api/x`, {
      headers: { "x-auth-assertion": await sign(ed, { ...payload, exp: undefined }) },
    });
    expect(noExp.status).toBe(401);
  });
});
