// A real OpenID provider for the tests: node-oidc-provider (an OpenID Certified implementation) in its own process, so
// a test can stop it, start it again with rotated keys, or run it with a wrong clock (clockOffsetMs shifts Date.now
// before the provider is loaded: every iat/exp it issues is then off by that much).
//
//   node oidc-provider-process.ts '<json ProviderSpec>'   → prints {"issuer": "..."} once listening
//
// Its login form is the provider's own development form (devInteractions: the login names an account, the password
// is not checked). Consent is skipped for the one first-party client, as a company provider configures it.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

/** A test account. `emailVerified` null leaves the claim out (the provider still lists it as supported). */
export interface TestUser {
  id: string;
  email: string;
  emailVerified?: boolean | string | null;
  name?: string;
  groups?: string[];
}
export interface ProviderSpec {
  host: string;
  port: number;
  /** Path of the issuer on that host ("" or "/realms/x"). */
  path?: string;
  clientId: string;
  clientSecret: string;
  redirectUris: string[];
  postLogoutRedirectUris: string[];
  users: TestUser[];
  /** Private JWKs (the first of each kty signs). */
  keys: object[];
  clockOffsetMs?: number;
  /** Omit the end_session_endpoint (a provider without RP-initiated logout). */
  noLogout?: boolean;
  /** Put the profile claims in the ID token too (some providers do; by default they come from userinfo). */
  claimsInIdToken?: boolean;
}

const spec = JSON.parse(process.argv[2] ?? "{}") as ProviderSpec;
if (spec.clockOffsetMs) {
  const realNow = Date.now.bind(Date);
  Date.now = () => realNow() + (spec.clockOffsetMs as number);
}
const { default: Provider } = await import("oidc-provider");

const server = createServer();
await new Promise<void>((resolve) => server.listen(spec.port, spec.host, resolve));
const { port } = server.address() as AddressInfo;
const hostPart = spec.host.includes(":") ? `[${spec.host}]` : spec.host;
const issuer = `http://${hostPart}:${port}${spec.path ?? ""}`;
const users = new Map(spec.users.map((u) => [u.id, u]));

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: spec.clientId,
      client_secret: spec.clientSecret,
      redirect_uris: spec.redirectUris,
      post_logout_redirect_uris: spec.postLogoutRedirectUris,
      grant_types: ["authorization_code"],
      response_types: ["code"],
      token_endpoint_auth_method: "client_secret_basic",
    },
  ],
  jwks: { keys: spec.keys as never },
  cookies: { keys: ["test-provider-cookie-key-0123456789"] },
  claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name"], groups: ["groups"] },
  conformIdTokenClaims: !spec.claimsInIdToken,
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: !spec.noLogout } },
  async findAccount(_ctx, id) {
    const user = users.get(id);
    if (user === undefined) return undefined;
    return {
      accountId: id,
      async claims() {
        const verified =
          user.emailVerified === undefined
            ? { email_verified: true }
            : user.emailVerified === null
              ? {}
              : { email_verified: user.emailVerified };
        return { sub: id, email: user.email, ...verified, name: user.name ?? id, groups: user.groups ?? [] };
      },
    };
  },
  async loadExistingGrant(ctx) {
    const grantId =
      ctx.oidc.result?.consent?.grantId ?? ctx.oidc.session?.grantIdFor(ctx.oidc.client?.clientId as string);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    // First-party client: consent is implied, as a company's provider is set up for its own apps.
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client?.clientId,
      accountId: ctx.oidc.session?.accountId,
    });
    grant.addOIDCScope("openid email profile groups");
    await grant.save();
    return grant;
  },
  renderError(ctx, out) {
    ctx.type = "html";
    ctx.body = `<!doctype html><title>provider error</title><h1>provider error</h1><pre id="error">${JSON.stringify(out).replace(/</g, "&lt;")}</pre>`;
  },
});
// The development views @import a web font from the internet: dropped, so a browser in the tests fetches nothing
// beyond the test hosts.
provider.use(async (ctx, next) => {
  await next();
  if (typeof ctx.body === "string" && ctx.body.includes("@import url("))
    ctx.body = ctx.body.replace(/@import url\([^)]*\);?/g, "");
});
provider.on("server_error", (_ctx, err) => process.stderr.write(`provider server_error: ${String(err)}\n`));
server.on("request", provider.callback());
process.stdout.write(`${JSON.stringify({ issuer })}\n`);
for (const signal of ["SIGTERM", "SIGINT"] as const)
  process.on(signal, () => server.close(() => process.exit(0)).closeAllConnections());
