// Issue 21: identity is data, never syntax. Every source of an identity the sidecar writes to the gateway — the OIDC
// user claim (a REAL OpenID provider, its own login form), verified assertions (real signed JWTs), `user`, tokensFile
// users, machine-credential users, group names and scopes — is validated and canonical where it enters, and the
// serializer refuses, whatever forgot to check, any head the gateway's llhttp (here the fake gateway's node:http, the
// same parser) would read differently from what was decided. The attack of the issue: a signed claim
// `m@x` + U+010D U+010A + `x-openclaw-scopes: operator.admin`, which latin1 turns into a second header.
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { type Server, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { type JWK, SignJWT, exportJWK, generateKeyPair, importJWK } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { COOKIE_NAME } from "../../src/gate/auth-gate.ts";
import { ConfigError, loadConfig } from "../../src/options/config.ts";
import { HttpError, parseRequestHead, serializeRequestHead } from "../../src/http/http1.ts";
import { canonicalEmail, emailVerified, identityProblem, ssoIdentity } from "../../src/gate/identity.ts";
import { createLogger } from "../../src/ops/log.ts";
import { startSidecar } from "../../src/proxy/sidecar.ts";
import { freePort } from "../helpers/net.ts";
import {
  Browser,
  CLIENT_ID,
  CLIENT_SECRET,
  type ProviderProcess,
  type TestUser,
  USERS,
  loginThroughProvider,
  signingKey,
  startProvider,
} from "../helpers/oidc.ts";
import { startTestSidecar, type TestSidecar } from "../helpers/sidecar.ts";
import { type FakeGateway, startFakeGateway } from "../helpers/upstream.ts";

/** The claim: U+010D U+010A are CR LF once latin1 keeps only the low byte. */
const LATIN1_SPLIT = "m@x\u010d\u010ax-openclaw-scopes: operator.admin";
const CRLF_SPLIT = "m@example.com\r\nx-openclaw-scopes: operator.admin";

describe("what a valid identity is (identity.ts)", () => {
  it.each([
    ["", "is empty"],
    ["a".repeat(257), "is longer than 256 characters"],
    ["bob\r\nx-openclaw-scopes: operator.admin", "contains the control character U+000D at position 4"],
    ["bob\nx", "contains the control character U+000A at position 4"],
    ["bob\0", "contains the control character U+0000 at position 4"],
    ["bob\x7f", "contains the control character U+007F at position 4"],
    [LATIN1_SPLIT, "contains U+010D at position 4, which is not ASCII"],
    ["\u0161lice@example.com", "contains U+0161 at position 1, which is not ASCII"],
    ["\u212Aelvin", "contains U+212A at position 1, which is not ASCII"],
    ["\uff41lice", "contains U+FF41 at position 1, which is not ASCII"],
    [" alice", "begins or ends with a space"],
    ["alice\u00a0", "contains U+00A0 at position 6, which is not ASCII"],
  ])("refused: %j %s", (value, problem) => {
    expect(identityProblem(value)).toBe(problem);
  });

  it.each(["alice", "Alice Smith", "ci-bot", "a".repeat(256), "alice@example.com", "x!#$%&'*+/=?^_`{|}~y"])(
    "accepted as written: %j",
    (value) => {
      expect(identityProblem(value)).toBeUndefined();
    },
  );

  it.each([
    ["ALICE@EXAMPLE.COM", { email: "alice@example.com" }],
    ["Alice.Smith@Example.com", { email: "alice.smith@example.com" }],
    ["alice@xn--bcher-kva.example", { email: "alice@xn--bcher-kva.example" }],
    ["alice@evil.com@example.com", { problem: "has more than one @" }],
    ["alice", { problem: "has no @" }],
    ["\u212Aelvin@example.com", { problem: "contains U+212A at position 1, which is not ASCII" }],
    ["\u0161lice@example.com", { problem: "contains U+0161 at position 1, which is not ASCII" }],
    ["\uff41lice@example.com", { problem: "contains U+FF41 at position 1, which is not ASCII" }],
    ["alice@-example.com", { problem: "has a domain (after the @) that is not a domain name" }],
    ["alice@example..com", { problem: "has a domain (after the @) that is not a domain name" }],
    ["al ice@example.com", { problem: "has a local part (before the @) that is not a plain address" }],
    ['"alice"@example.com', { problem: "has a local part (before the @) that is not a plain address" }],
    [".alice@example.com", { problem: "has a local part (before the @) that is not a plain address" }],
  ])("canonical email of %j", (value, expected) => {
    expect(canonicalEmail(value)).toEqual(expected);
  });

  it("the Kelvin sign is never lower-cased into a k (the ASCII check comes first)", () => {
    expect("\u212A".toLowerCase()).toBe("k"); // what a Unicode-aware fold would have done
    expect(ssoIdentity({ email: "\u212Aelvin@example.com" }, "email")).toEqual({
      problem: expect.stringContaining("U+212A") as unknown,
    });
  });

  it("other claims are taken exactly (no case folding, no trimming)", () => {
    expect(ssoIdentity({ preferred_username: "Alice" }, "preferred_username")).toEqual({ user: "Alice" });
    expect(ssoIdentity({ preferred_username: " alice" }, "preferred_username")).toEqual({
      problem: expect.stringContaining("begins or ends with a space") as unknown,
    });
    expect(ssoIdentity({}, "name")).toEqual({ problem: 'the "name" claim is missing' });
    expect(ssoIdentity({ name: 42 }, "name")).toEqual({ problem: 'the "name" claim is not a string' });
  });

  it.each([
    [true, false, true],
    ["true", false, true],
    [false, false, false],
    ["false", false, false],
    [undefined, false, true],
    [undefined, true, false],
    [1, false, false],
    ["yes", true, false],
    [null, false, false],
  ])("email_verified %j (sent by the source: %j) → verified %j", (value, sent, verified) => {
    expect(emailVerified(value === undefined ? {} : { email_verified: value }, sent)).toBe(verified);
  });
});

describe("the wire invariant in the serializer (http1.ts serializeRequestHead)", () => {
  const head = () =>
    parseRequestHead("GET /x HTTP/1.1\r\nHost: gw\r\nX-Obs: caf\xe9", { maxHeaderBytes: 8192, maxHeaderCount: 100 });
  const refusal = (f: () => unknown): HttpError => {
    try {
      f();
    } catch (err) {
      if (err instanceof HttpError) return err;
      throw err;
    }
    throw new Error("no refusal");
  };

  it.each([
    ["CR LF", CRLF_SPLIT, "the x-forwarded-user header holds U+000D at position 14"],
    ["a bare LF", "m\nx", "the x-forwarded-user header holds U+000A at position 2"],
    ["NUL", "m\0", "the x-forwarded-user header holds U+0000 at position 2"],
    ["latin1 CR LF (U+010D U+010A)", LATIN1_SPLIT, "the x-forwarded-user header holds U+010D at position 4"],
    [
      "a character latin1 cuts to another (U+0161 → a)",
      "\u0161lice@example.com",
      "the x-forwarded-user header holds U+0161 at position 1",
    ],
  ])("a value with %s is never serialized", (_what, value, message) => {
    const h = head();
    h.headers["x-forwarded-user"] = value;
    const err = refusal(() => serializeRequestHead(h));
    expect(err.type).toBe("unsafe_request_head");
    expect(err.status).toBe(500);
    expect(err.message).toBe(`${message}, which would not reach the gateway as decided`);
  });

  it("array values, header names and the request line are held to it too", () => {
    const h = head();
    h.headers["set-cookie"] = ["a=1", "b=2\r\nx-forwarded-user: admin"];
    expect(refusal(() => serializeRequestHead(h)).message).toContain("the set-cookie header holds U+000D");
    const n = head();
    n.headers["x-a\r\nx-forwarded-user"] = "admin";
    expect(refusal(() => serializeRequestHead(n)).message).toContain("a header name holds U+000D");
    const u = head();
    u.url = "/x HTTP/1.1\r\nHost: y\r\n\r\nGET /smuggled";
    expect(refusal(() => serializeRequestHead(u)).message).toContain("the request target holds U+0020 at position 3");
  });

  it("a client's obs-text is relayed byte for byte (it is not the sidecar's to change)", () => {
    const text = serializeRequestHead(head());
    expect(Buffer.from(text, "latin1").includes(Buffer.from([0x63, 0x61, 0x66, 0xe9]))).toBe(true);
  });
});

describe("defence in depth: an identity that skipped every check is refused at the serializer, not sent", () => {
  let gw: FakeGateway;
  const TOKEN = "depth-token-0123456789abcdefghij";
  let stop: () => Promise<void>;
  let url: string;
  let adminUrl: string;
  const logs: Array<Record<string, unknown>> = [];
  beforeAll(async () => {
    gw = await startFakeGateway();
    const config = loadConfig({
      env: {},
      flags: {
        "--listen": "127.0.0.1:0",
        "--admin-listen": "127.0.0.1:0",
        "--upstream": gw.url,
        "--mode": "identity",
        "--token": TOKEN,
        "--cookie-secret": "d".repeat(40),
        "--drain-timeout-ms": "200",
      },
    });
    // As a later source that forgot identity.ts would hand it over: the config object, after validation.
    (config.credentials[0] as { user: string }).user = LATIN1_SPLIT;
    const { Writable } = await import("node:stream");
    const sink = new Writable({
      write(chunk: Buffer, _e, cb) {
        for (const l of chunk.toString().split("\n")) if (l.trim()) logs.push(JSON.parse(l) as Record<string, unknown>);
        cb();
      },
    });
    const sidecar = await startSidecar(config, { logger: createLogger("info", sink) });
    url = `http://127.0.0.1:${sidecar.proxyAddress.port}`;
    adminUrl = `http://127.0.0.1:${sidecar.adminAddress.port}`;
    stop = () => sidecar.drain();
  });
  afterAll(async () => {
    await stop?.();
    await gw?.close();
  });
  const metric = async (name: string) =>
    Number(
      /\n?(\S+) (\S+)/.exec(
        (await (await fetch(`${adminUrl}/metrics`)).text()).split("\n").find((l) => l.startsWith(name)) ?? "",
      )?.[2] ?? Number.NaN,
    );

  it("an HTTP request: 500 unsafe_request_head, one log line naming the field and character, counted, nothing at the gateway", async () => {
    const before = gw.received.length;
    const res = await fetch(`${url}/api/x`, {
      headers: { authorization: `Bearer ${TOKEN}`, accept: "application/json" },
    });
    expect(res.status).toBe(500);
    expect(await res.text()).toContain("unsafe_request_head");
    expect(gw.received.length).toBe(before);
    const lines = logs.filter((l) => l.error === "unsafe_request_head");
    expect(lines).toHaveLength(1);
    expect(lines[0]?.reason).toBe(
      "the x-forwarded-user header holds U+010D at position 4, which would not reach the gateway as decided",
    );
    expect(await metric("openclaw_sidecar_unsafe_request_heads_total")).toBe(1);
  });

  it("a WebSocket upgrade: refused before anything is forwarded, counted as its own upgrade result", async () => {
    const before = gw.received.length;
    const ws = new WebSocket(`${url.replace("http", "ws")}/`, { headers: { authorization: `Bearer ${TOKEN}` } });
    ws.on("error", () => {}); // the refusal, seen below as the response
    const status = await new Promise<number>((resolve) =>
      ws.once("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0)).once("open", () => resolve(101)),
    );
    ws.terminate();
    expect(status).toBe(500);
    expect(gw.received.length).toBe(before);
    expect(await metric('openclaw_sidecar_websocket_upgrades_total{result="unsafe_request_head"}')).toBe(1);
    expect(await metric("openclaw_sidecar_unsafe_request_heads_total")).toBe(2);
  });
});

describe("configured identities are refused at start (exit 78)", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "ocsc-identity-"));
  const problems = (flags: Record<string, string>): string[] => {
    try {
      loadConfig({ env: {}, flags: { "--mode": "identity", ...flags } });
    } catch (err) {
      if (err instanceof ConfigError) return err.problems;
      throw err;
    }
    return [];
  };
  const file = (name: string, entries: unknown) => {
    const f = path.join(dir, name);
    writeFileSync(f, JSON.stringify(entries));
    return f;
  };
  const rule = "a user name is printable ASCII, no leading or trailing space, at most 256 characters";

  it.each([
    [
      "user with CR LF",
      { "--token": "a-strong-token-0123456789abcdef", "--user": "bob\r\nx-openclaw-scopes: operator.admin" },
      `user: "bob\\r\\nx-openclaw-scopes: operator.admin" contains the control character U+000D at position 4; ${rule}`,
    ],
    [
      "user with a latin1-truncating character",
      { "--token": "a-strong-token-0123456789abcdef", "--user": LATIN1_SPLIT },
      `user: ${JSON.stringify(LATIN1_SPLIT)} contains U+010D at position 4, which is not ASCII; ${rule}`,
    ],
    [
      "tokensFile user",
      { "--tokens-file": file("t1.json", [{ user: "\u0161lice", token: "a-strong-token-0123456789abcdef" }]) },
      `tokensFile: entry 0 user: "šlice" contains U+0161 at position 1, which is not ASCII; ${rule}`,
    ],
    [
      "machine-credential user",
      {
        "--tokens-file": file("t2.json", [
          { user: "bot\u0000", clientId: "ci.access", clientSecretSha256: "a".repeat(64) },
        ]),
      },
      `tokensFile: entry 0 user: "bot\\u0000" contains the control character U+0000 at position 4; ${rule}`,
    ],
    [
      "tokensFile scopes",
      {
        "--tokens-file": file("t3.json", [
          {
            user: "bob",
            token: "a-strong-token-0123456789abcdef",
            scopes: ["operator.read\r\nx-forwarded-user: admin"],
          },
        ]),
      },
      'tokensFile: entry 0 scopes: "operator.read\\r\\nx-forwarded-user: admin" is not a scope name (letters, digits and . _ : -, such as operator.read)',
    ],
  ])("%s", (_name, flags, message) => {
    expect(problems(flags)).toContain(message);
  });

  it("SSO allow-lists and group names: look-alikes and malformed addresses are config errors", () => {
    const sso = {
      "--public-origin": "https://claw.example.com",
      "--oidc-issuer": "https://id.example.com",
      "--oidc-client-id": "c",
      "--oidc-client-secret": "s",
    };
    expect(problems({ ...sso, "--oidc-allowed-emails": "\u212Aelvin@example.com" })).toContain(
      'oidcAllowedEmails: "\u212Aelvin@example.com" is not an email address: it contains U+212A at position 1, which is not ASCII',
    );
    expect(problems({ ...sso, "--oidc-allowed-emails": "alice@evil.com@example.com" })).toContain(
      'oidcAllowedEmails: "alice@evil.com@example.com" is not an email address: it has more than one @',
    );
    expect(problems({ ...sso, "--oidc-allowed-domains": "\uff45xample.com" })).toContain(
      'oidcAllowedDomains: "\uff45xample.com" contains U+FF45 at position 1, which is not ASCII',
    );
    expect(
      problems({ ...sso, "--oidc-scopes-by-group": JSON.stringify({ "\uff41dmins": ["operator.admin"] }) }),
    ).toContain(
      'oidcScopesByGroup: the group name "\uff41dmins" contains U+FF41 at position 1, which is not ASCII; a group name is printable ASCII, no leading or trailing space, at most 256 characters',
    );
    // Canonical form: the allow-list holds the lower-case address.
    expect(
      loadConfig({ env: {}, flags: { "--mode": "identity", ...sso, "--oidc-allowed-emails": "Alice@Example.COM" } })
        .oidc?.allowedEmails,
    ).toEqual(["alice@example.com"]);
  });

  it("check-config exits 78 on such a user, naming it", () => {
    const r = spawnSync(
      process.execPath,
      [
        "src/cli.ts",
        "check-config",
        "--mode",
        "identity",
        "--token",
        "a-strong-token-0123456789abcdef",
        "--user",
        "bob\r\nx-openclaw-scopes: operator.admin",
      ],
      { encoding: "utf8", env: { PATH: process.env.PATH ?? "" } },
    );
    expect(r.status).toBe(78);
    expect(r.stderr).toContain(
      'user: "bob\\r\\nx-openclaw-scopes: operator.admin" contains the control character U+000D at position 4',
    );
  });
});

// ---- real signed assertions -------------------------------------------------------------------------------------

describe("verified assertions: the signed claim is checked before it becomes the identity", () => {
  let gw: FakeGateway;
  let sc: TestSidecar;
  let jwks: Server;
  let key: { privateJwk: JWK; publicJwk: JWK };
  const AUD = "aud-identity-test";
  const ISS = "https://team.example.com";
  beforeAll(async () => {
    gw = await startFakeGateway();
    const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
    key = {
      privateJwk: await exportJWK(privateKey),
      publicJwk: { ...(await exportJWK(publicKey)), kid: "k1", alg: "ES256", use: "sig" },
    };
    jwks = createServer((_req, res) =>
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: [key.publicJwk] })),
    );
    await new Promise<void>((r) => jwks.listen(0, "127.0.0.1", r));
    sc = await startTestSidecar({
      "--upstream": gw.url,
      "--mode": "identity",
      "--trust-assertion": "generic",
      "--assertion-header": "x-edge-assertion",
      "--assertion-jwks-url": `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks`,
      "--assertion-audience": AUD,
      "--assertion-issuer": ISS,
      "--cookie-secret": "e".repeat(40),
    });
  });
  afterAll(async () => {
    await sc?.close();
    await gw?.close();
    await new Promise((r) => jwks?.close(r));
  });
  const now = () => Math.floor(Date.now() / 1000);
  const assertion = async (claims: Record<string, unknown>) =>
    new SignJWT({ aud: AUD, iss: ISS, sub: "s-1", exp: now() + 60, iat: now(), ...claims })
      .setProtectedHeader({ alg: "ES256", kid: "k1" })
      .sign(await importJWK(key.privateJwk, "ES256"));
  const send = async (claims: Record<string, unknown>) =>
    fetch(`${sc.url}/api/x`, { headers: { "x-edge-assertion": await assertion(claims), accept: "application/json" } });

  it.each([
    ["CR LF", CRLF_SPLIT, "contains the control character U+000D"],
    ["latin1 CR LF", LATIN1_SPLIT, "contains U+010D at position 4, which is not ASCII"],
    ["š that latin1 turns into a", "\u0161lice@example.com", "contains U+0161 at position 1"],
    ["two @", "alice@evil.com@example.com", "has more than one @"],
    ["the Kelvin sign", "\u212Aelvin@example.com", "contains U+212A"],
    ["a fullwidth form", "\uff41lice@example.com", "contains U+FF41"],
    ["a leading space", " alice@example.com", "begins or ends with a space"],
  ])(
    "a signed email claim with %s: 403 assertion_identity_invalid, nothing at the gateway",
    async (_what, email, why) => {
      const before = gw.received.length;
      const failures = await sc.metric("openclaw_sidecar_auth_failures_total", {
        reason: "assertion_identity_invalid",
      });
      const res = await send({ email });
      expect(res.status).toBe(403);
      const body = await res.text();
      expect(body).toContain("assertion_identity_invalid");
      expect(body).toContain(why);
      expect(gw.received.length).toBe(before);
      expect(await sc.metric("openclaw_sidecar_auth_failures_total", { reason: "assertion_identity_invalid" })).toBe(
        failures + 1,
      );
    },
  );

  it.each([[false], ["false"]])("email_verified %j: refused", async (verified) => {
    const before = gw.received.length;
    const res = await send({ email: "alice@example.com", email_verified: verified });
    expect(res.status).toBe(403);
    expect(await res.text()).toContain("alice@example.com is not verified");
    expect(gw.received.length).toBe(before);
  });

  it("a canonical identity: ALICE@EXAMPLE.COM reaches the gateway as alice@example.com, one header, no scopes", async () => {
    const res = await send({ email: "ALICE@EXAMPLE.COM" });
    expect(res.status).toBe(200);
    const seen = gw.received[gw.received.length - 1];
    expect(seen?.headers["x-forwarded-user"]).toBe("alice@example.com");
    expect(seen?.headers["x-openclaw-scopes"]).toBeUndefined();
  });
});

// ---- a real OpenID provider ----------------------------------------------------------------------------------

const ATTACKERS: TestUser[] = [
  { id: "crlf", email: CRLF_SPLIT, groups: ["openclaw-operators"] },
  { id: "latin1", email: LATIN1_SPLIT, groups: ["openclaw-operators"] },
  { id: "slice", email: "\u0161lice@example.com", groups: ["openclaw-operators"] },
  { id: "twoat", email: "alice@evil.com@example.com", groups: ["openclaw-operators"] },
  { id: "kelvin", email: "\u212Aelvin@example.com", groups: ["openclaw-operators"] },
  { id: "upper", email: "ALICE@EXAMPLE.COM", groups: ["openclaw-operators"] },
  { id: "unverified-string", email: "dave@example.com", emailVerified: "false", groups: ["openclaw-operators"] },
  { id: "verified-absent", email: "frank@example.com", emailVerified: null, groups: ["openclaw-operators"] },
  { id: "eve-groups", email: "alice@example.com", emailVerified: false, groups: ["openclaw-operators"] },
  {
    id: "name-crlf",
    email: "nina@example.com",
    name: "Nina\r\nx-forwarded-user: admin",
    groups: ["openclaw-operators"],
  },
];

describe("OIDC login: a real provider's claims are checked before they become the identity", () => {
  let gw: FakeGateway;
  let provider: ProviderProcess;
  /** Allowed domain example.com + group mapping; a groups-only policy; the name claim as the identity. */
  const sidecars: Record<"domain" | "groups" | "name", TestSidecar> = {} as never;
  const SCOPES_BY_GROUP = { "openclaw-operators": ["operator.read", "operator.write"] };

  beforeAll(async () => {
    gw = await startFakeGateway();
    const ports = { domain: await freePort(), groups: await freePort(), name: await freePort() };
    const origins = Object.values(ports).map((p) => `http://127.0.0.1:${p}`);
    provider = await startProvider({
      port: await freePort(),
      redirectUris: origins.map((o) => `${o}/oauth2/callback`),
      postLogoutRedirectUris: origins.map((o) => `${o}/logout`),
      keys: [await signingKey("k1")],
      users: [...USERS, ...ATTACKERS],
    });
    const base = (port: number) => ({
      "--listen": `127.0.0.1:${port}`,
      "--upstream": gw.url,
      "--mode": "identity",
      "--public-origin": `http://127.0.0.1:${port}`,
      "--cookie-secret": "f".repeat(40),
      "--oidc-issuer": provider.issuer,
      "--oidc-client-id": CLIENT_ID,
      "--oidc-client-secret": CLIENT_SECRET,
      "--oidc-scopes": "openid email profile groups",
      "--oidc-scopes-by-group": JSON.stringify(SCOPES_BY_GROUP),
      "--oidc-timeout-ms": "3000",
    });
    sidecars.domain = await startTestSidecar({ ...base(ports.domain), "--oidc-allowed-domains": "example.com" });
    sidecars.groups = await startTestSidecar(base(ports.groups));
    sidecars.name = await startTestSidecar({
      ...base(ports.name),
      "--oidc-allowed-domains": "example.com",
      "--oidc-user-claim": "name",
    });
  }, 30_000);
  afterAll(async () => {
    for (const sc of Object.values(sidecars)) await sc?.close();
    await provider?.stop();
    await gw?.close();
  });

  it.each([
    ["domain", "crlf", "oidc_identity_invalid", "contains the control character U+000D"],
    ["groups", "crlf", "oidc_identity_invalid", "contains the control character U+000D"],
    ["domain", "latin1", "oidc_identity_invalid", "contains U+010D at position 4, which is not ASCII"],
    ["groups", "latin1", "oidc_identity_invalid", "contains U+010D at position 4, which is not ASCII"],
    ["groups", "slice", "oidc_identity_invalid", "contains U+0161 at position 1"],
    ["groups", "twoat", "oidc_identity_invalid", "has more than one @"],
    ["domain", "kelvin", "oidc_identity_invalid", "contains U+212A"],
    [
      "domain",
      "unverified-string",
      "oidc_not_allowed",
      'dave@example.com is not verified at the provider (email_verified is "false")',
    ],
    [
      "groups",
      "verified-absent",
      "oidc_not_allowed",
      "frank@example.com is not verified at the provider (email_verified is absent)",
    ],
    [
      "groups",
      "eve-groups",
      "oidc_not_allowed",
      "alice@example.com is not verified at the provider (email_verified is false)",
    ],
    [
      "name",
      "name-crlf",
      "oidc_identity_invalid",
      'the "name" claim "Nina\\r\\nx-forwarded-user: admin" contains the control character U+000D',
    ],
  ] as const)(
    "[%s policy] %s: a 403 page that names the claim and why; no session, nothing at the gateway",
    async (which, login, reason, why) => {
      const sc = sidecars[which];
      const browser = new Browser();
      const before = gw.received.length;
      const failures = await sc.metric("openclaw_sidecar_auth_failures_total", { reason });
      const { final } = await loginThroughProvider(browser, sc.url, "/", login);
      expect(final.status).toBe(403);
      expect(final.body.replaceAll("&quot;", '"')).toContain(why);
      expect(final.body).toContain(reason);
      expect(browser.cookie(sc.url, COOKIE_NAME)).toBeUndefined();
      expect(gw.received.length).toBe(before);
      expect(await sc.metric("openclaw_sidecar_auth_failures_total", { reason })).toBe(failures + 1);
    },
  );

  it("ALICE@EXAMPLE.COM and alice@example.com are one user: the gateway sees the canonical address the allow-list matched", async () => {
    for (const login of ["upper", "alice"]) {
      const browser = new Browser();
      const { final } = await loginThroughProvider(browser, sidecars.domain.url, "/chat", login);
      expect(final.status).toBe(200);
      const seen = gw.received[gw.received.length - 1];
      expect(seen?.url).toBe("/chat");
      expect(seen?.headers["x-forwarded-user"]).toBe("alice@example.com");
      expect(seen?.headers["x-openclaw-scopes"]).toBe("operator.read,operator.write");
    }
  });

  it("the name claim, when it is the identity, is taken exactly as the provider sent it", async () => {
    const browser = new Browser();
    const { final } = await loginThroughProvider(browser, sidecars.name.url, "/", "alice");
    expect(final.status).toBe(200);
    expect(gw.received[gw.received.length - 1]?.headers["x-forwarded-user"]).toBe("Alice");
  });
});
