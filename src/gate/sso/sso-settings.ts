// What single sign-on is configured with — the OIDC login's and the verified assertions' settings, and their
// defaults — declared here, beside the gate that uses them; options/sso-options.ts parses and checks them, and the
// sidecar hands each part only this slice.
import type { AssertionOptions } from "./assertion.ts";

export const SSO_DEFAULTS = {
  oidcRedirectPath: "/oauth2/callback",
  oidcScopes: "openid email profile",
  oidcUserClaim: "email",
  oidcTimeoutMs: 10_000,
  assertionUserClaim: "email",
  /** Accepted difference between a provider's clock and ours (iat, exp, nbf). */
  clockToleranceSeconds: 60,
  /** Least time between two JWKS fetches. */
  jwksCooldownMs: 5_000,
} as const;

export interface OidcConfig {
  issuer: URL;
  clientId: string;
  clientSecret: string | undefined;
  redirectPath: string;
  scopes: string[];
  allowedEmails: string[];
  allowedDomains: string[];
  userClaim: string;
  groupsClaim: string | undefined;
  scopesByGroup: Record<string, string[]> | undefined;
  timeoutMs: number;
}

/** The configured part of the verifier's options (assertion.ts adds its timings). */
export type AssertionConfig = Pick<
  AssertionOptions,
  "vendor" | "header" | "jwksUrl" | "audience" | "issuer" | "userClaim"
>;

export interface SsoConfig {
  oidc: OidcConfig | undefined;
  assertion: AssertionConfig | undefined;
}
