// The single sign-on options: one name in the file, the environment and the flags; every problem reported at once.
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/options/config.ts";
import { decide, emailAllowed, oidcCredentialId, type OidcPolicy } from "../../src/gate/sso/oidc-policy.ts";

const problems = (flags: Record<string, string>, env: Record<string, string> = {}): string[] => {
  try {
    loadConfig({ flags, env });
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
};
const base = {
  "--mode": "identity",
  "--public-origin": "https://claw.example.com",
  "--oidc-issuer": "https://id.example.com/realms/x",
  "--oidc-client-id": "openclaw",
};

describe("oidc* options", () => {
  it("a complete OIDC configuration needs no token, and has the documented defaults", () => {
    const config = loadConfig({ flags: { ...base, "--oidc-allowed-domains": "Example.com" } });
    expect(config.credentials).toEqual([]);
    expect(config.oidc).toMatchObject({
      redirectPath: "/oauth2/callback",
      scopes: ["openid", "email", "profile"],
      userClaim: "email",
      allowedDomains: ["example.com"],
      timeoutMs: 10_000,
      groupsClaim: undefined,
    });
  });

  it("the same options from the environment and the config file", () => {
    const secret = path.join(tmpdir(), `oidc-secret-${process.pid}`);
    writeFileSync(secret, "s3cret-from-a-file\n");
    const file = path.join(tmpdir(), `oidc-config-${process.pid}.json`);
    writeFileSync(
      file,
      JSON.stringify({
        mode: "identity",
        publicOrigin: "https://claw.example.com",
        oidcIssuer: "https://auth.example.com",
        oidcClientId: "c",
        oidcScopesByGroup: { admins: ["operator.read", "operator.write"] },
        oidcScopes: ["openid", "email", "groups"],
      }),
    );
    const config = loadConfig({
      file,
      env: {
        OPENCLAW_SIDECAR_OIDC_CLIENT_SECRET_FILE: secret,
        OPENCLAW_SIDECAR_OIDC_ALLOWED_EMAILS: "Alice@example.com, bob@example.com",
      },
    });
    expect(config.oidc).toMatchObject({
      clientSecret: "s3cret-from-a-file",
      allowedEmails: ["alice@example.com", "bob@example.com"],
      scopesByGroup: { admins: ["operator.read", "operator.write"] },
      groupsClaim: "groups",
      scopes: ["openid", "email", "groups"],
    });
  });

  it("every problem at once: no policy, no publicOrigin, no client id, wrong mode, bad mapping", () => {
    const found = problems({
      "--mode": "attribution",
      "--oidc-issuer": "ftp://id.example.com",
      "--oidc-scopes": "email",
      "--oidc-redirect-path": "/logout",
      "--oidc-scopes-by-group": "{not json",
    });
    expect(found).toEqual(
      expect.arrayContaining([
        expect.stringContaining('oidcIssuer: "ftp://id.example.com" must use https:'),
        expect.stringContaining('oidcScopesByGroup: "{not json" is not JSON'),
        expect.stringContaining("oidcIssuer: only identity mode has OIDC login"),
        expect.stringContaining("oidcIssuer needs oidcClientId"),
        expect.stringContaining("oidcIssuer needs publicOrigin"),
        'oidcScopes: "email" must include openid',
        expect.stringContaining("say who may sign in"),
        "oidcRedirectPath: /logout is the sidecar's sign-out path",
      ]),
    );
  });

  it("an oidc option without oidcIssuer, and a mapping to nothing, are refused", () => {
    expect(problems({ "--mode": "identity", "--token": "t".repeat(32), "--oidc-client-id": "x" })).toContain(
      "oidcClientId: set oidcIssuer too (without it there is no OIDC login)",
    );
    expect(problems({ ...base, "--oidc-scopes-by-group": '{"admins": []}' })).toContain(
      'oidcScopesByGroup: group "admins" must map to a non-empty list of scopes',
    );
  });

  it("check-config never prints the client secret", async () => {
    const { describeConfig } = await import("../../src/cli.ts");
    const config = loadConfig({
      flags: { ...base, "--oidc-allowed-domains": "example.com", "--oidc-client-secret": "very-secret-value" },
    });
    expect(JSON.stringify(describeConfig(config))).not.toContain("very-secret-value");
  });
});

describe("trustAssertion options", () => {
  it("cloudflare-access: the team domain gives the header, the certs URL and the issuer", () => {
    const config = loadConfig({
      flags: {
        "--mode": "identity",
        "--trust-assertion": "cloudflare-access",
        "--assertion-team-domain": "myteam.cloudflareaccess.com",
        "--assertion-audience": "aud-tag",
      },
    });
    expect(config.assertion).toMatchObject({
      header: "cf-access-jwt-assertion",
      audience: ["aud-tag"],
      issuer: ["https://myteam.cloudflareaccess.com"],
      userClaim: "email",
    });
    expect(config.assertion?.jwksUrl.href).toBe("https://myteam.cloudflareaccess.com/cdn-cgi/access/certs");
  });

  it("what each vendor needs is asked for by name", () => {
    expect(problems({ "--mode": "identity", "--trust-assertion": "cloudflare-access" })).toEqual(
      expect.arrayContaining([
        expect.stringContaining("needs assertionTeamDomain"),
        expect.stringContaining("needs assertionAudience: the application's AUD tag"),
      ]),
    );
    expect(problems({ "--mode": "identity", "--trust-assertion": "pomerium" })).toEqual(
      expect.arrayContaining([expect.stringContaining("/.well-known/pomerium/jwks.json")]),
    );
    expect(
      problems({
        "--mode": "identity",
        "--trust-assertion": "generic",
        "--assertion-jwks-url": "https://p.example.com/jwks",
        "--assertion-audience": "a",
      }),
    ).toEqual(
      expect.arrayContaining([
        expect.stringContaining("needs assertionHeader"),
        expect.stringContaining("needs assertionIssuer"),
      ]),
    );
    expect(
      problems({
        "--mode": "identity",
        "--trust-assertion": "generic",
        "--assertion-header": "x-forwarded-user",
        "--assertion-jwks-url": "https://p.example.com/jwks",
        "--assertion-audience": "a",
        "--assertion-issuer": "i",
      }),
    ).toContain(
      'assertionHeader: "x-forwarded-user" cannot carry the assertion (the sidecar writes or consumes it itself)',
    );
    expect(problems({ "--mode": "local", "--token": "t".repeat(32), "--trust-assertion": "okta" })).toContain(
      'trustAssertion: "okta" must be one of cloudflare-access, pomerium, generic',
    );
  });
});

describe("the OIDC policy", () => {
  const policy: OidcPolicy = {
    issuer: "https://id.example.com/",
    clientId: "c",
    userClaim: "email",
    groupsClaim: "groups",
    allowedEmails: [],
    allowedDomains: ["example.com"],
    scopesByGroup: { ops: ["operator.write", "operator.read"], readers: ["operator.read"] },
  };

  it("the scopes of every mapped group a user is in, united and sorted", () => {
    expect(decide(policy, { sub: "a", email: "a@example.com", groups: ["readers", "ops", "other"] })).toEqual({
      user: "a@example.com",
      sub: "a",
      scopes: ["operator.read", "operator.write"],
      email: "a@example.com",
    });
  });

  it("a lookalike domain is not the domain; a user also configured as a token user with other scopes is refused", () => {
    expect(decide(policy, { sub: "a", email: "a@evilexample.com", groups: ["ops"] })).toHaveProperty("denied");
    expect(decide(policy, { sub: "a", email: "a@sub.example.com", groups: ["ops"] })).toHaveProperty("denied");
    expect(
      decide(
        policy,
        { sub: "a", email: "a@example.com", groups: ["ops"] },
        new Map([["a@example.com", ["operator.admin"]]]),
      ),
    ).toEqual({ denied: "a@example.com is also a token user with other scopes; give one of them another name" });
  });

  it("credential ids never look like a token's, and change with the issuer, the subject, the scopes, the address and the rules", () => {
    const id = oidcCredentialId(policy, "a", ["operator.read"]);
    expect(id).toMatch(/^oidc:[A-Za-z0-9_-]{22}$/);
    expect(oidcCredentialId(policy, "a", ["operator.read"])).toBe(id);
    for (const other of [
      oidcCredentialId({ ...policy, issuer: "https://other.example.com/" }, "a", ["operator.read"]),
      oidcCredentialId(policy, "b", ["operator.read"]),
      oidcCredentialId(policy, "a", ["operator.read", "operator.write"]),
      oidcCredentialId(policy, "a", ["operator.read"], "a@example.com"),
      oidcCredentialId({ ...policy, userClaim: "preferred_username" }, "a", ["operator.read"]),
      oidcCredentialId({ ...policy, scopesByGroup: { ops: ["operator.read"] } }, "a", ["operator.read"]),
    ])
      expect(other).not.toBe(id);
  });

  it("the allow-lists are not in the id: a session's address is checked against the lists in force (a reload may change them)", () => {
    expect(oidcCredentialId({ ...policy, allowedDomains: ["example.org"] }, "a", undefined, "a@example.com")).toBe(
      oidcCredentialId(policy, "a", undefined, "a@example.com"),
    );
    expect(emailAllowed(policy, "a@example.com")).toBe(true);
    expect(emailAllowed({ ...policy, allowedDomains: [], allowedEmails: ["b@example.com"] }, "a@example.com")).toBe(
      false,
    );
    expect(emailAllowed({ ...policy, allowedDomains: [], allowedEmails: ["a@example.com"] }, "a@example.com")).toBe(
      true,
    );
    // A login whose address was never checked cannot pass lists set later; with no lists at all, everyone may.
    expect(emailAllowed(policy, undefined)).toBe(false);
    expect(emailAllowed({ ...policy, allowedDomains: [] }, undefined)).toBe(true);
  });
});
