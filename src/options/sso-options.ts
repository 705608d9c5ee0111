// The single sign-on options (issue 12): OIDC login (oidc*) and verified assertions from a proxy in front
// (trustAssertion, assertion*), parsed and checked together so that every problem is reported at once with the rest
// of the configuration (config.ts calls validateSso). Each message names the option, the value and the rule.
import { readFileSync } from "node:fs";
import { ASSERTION_VENDORS, type AssertionVendor, vendorDefaults } from "../gate/sso/assertion-vendors.ts";
import { IDENTITY_RULE, canonicalDomain, canonicalEmail, identityProblem, scopeProblem } from "../gate/identity.ts";
import { type AssertionConfig, type OidcConfig, SSO_DEFAULTS, type SsoConfig } from "../gate/sso/sso-settings.ts";
import { SSO_OPTION_KEYS, type SsoOptionKey } from "./schema.ts";

export { type AssertionConfig, type OidcConfig, SSO_DEFAULTS, type SsoConfig };

// The names, defaults and descriptions are in schema.ts with every other option.
export { SSO_OPTION_KEYS, type SsoOptionKey } from "./schema.ts";

type Opt = <T>(key: SsoOptionKey, parse: (value: unknown, name: string) => T, fallback: T) => T;

const show = (v: unknown): string => JSON.stringify(v);
function str(v: unknown, name: string): string {
  if (typeof v === "string") return v.trim();
  if (typeof v === "number") return String(v);
  throw new Error(`${name}: expected a string, got ${show(v)}`);
}
function nonEmpty(v: unknown, name: string): string {
  const s = str(v, name);
  if (s === "") throw new Error(`${name}: must not be empty`);
  return s;
}
/** Comma- or space-separated, or a JSON array in the config file. */
function words(v: unknown, name: string): string[] {
  const parts = Array.isArray(v) ? v.map((x) => str(x, name)) : str(v, name).split(/[\s,]+/);
  return parts.filter((x) => x !== "");
}
/** Allowed addresses in their canonical form (identity.ts): the form the email claim is compared in. */
const emails = (v: unknown, name: string): string[] =>
  words(v, name).map((x) => {
    const checked = canonicalEmail(x);
    if ("problem" in checked) throw new Error(`${name}: ${show(x)} is not an email address: it ${checked.problem}`);
    return checked.email;
  });
const domains = (v: unknown, name: string): string[] =>
  words(v, name).map((x) => {
    const checked = canonicalDomain(x);
    if ("problem" in checked) throw new Error(`${name}: ${show(x)} ${checked.problem}`);
    return checked.domain;
  });
function httpUrl(v: unknown, name: string): URL {
  const s = nonEmpty(v, name);
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    throw new Error(`${name}: ${show(s)} is not a URL`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:")
    throw new Error(`${name}: ${show(s)} must use https: (or http: on a private network)`);
  if (url.search || url.hash || url.username)
    throw new Error(`${name}: ${show(s)} must have no query, fragment or credentials`);
  return url;
}
function path(v: unknown, name: string): string {
  const s = nonEmpty(v, name);
  if (!/^\/[A-Za-z0-9._~!$&'()*+,;=:@/-]*$/.test(s) || s.includes("//") || /(^|\/)\.\.?(\/|$)/.test(s))
    throw new Error(`${name}: ${show(s)} must be a plain path starting with / (no dot segments, query or encoding)`);
  return s;
}
function int(min: number, max: number) {
  return (v: unknown, name: string): number => {
    const n = typeof v === "number" ? v : Number(str(v, name));
    if (!Number.isInteger(n) || n < min || n > max)
      throw new Error(`${name}: ${show(v)} must be an integer from ${min} to ${max}`);
    return n;
  };
}
function claimName(v: unknown, name: string): string {
  const s = nonEmpty(v, name);
  if (s.length > 100 || ["__proto__", "constructor", "prototype"].includes(s))
    throw new Error(`${name}: ${show(s)} is not a usable claim name`);
  return s;
}
function headerName(v: unknown, name: string): string {
  const s = nonEmpty(v, name).toLowerCase();
  if (!/^[a-z0-9!#$%&'*+.^_`|~-]+$/.test(s)) throw new Error(`${name}: ${show(s)} is not a valid HTTP header name`);
  return s;
}
function secretFile(v: unknown, name: string): string {
  const file = nonEmpty(v, name);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new Error(`${name}: cannot read ${show(file)} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  return nonEmpty(text, name);
}
/** group → scopes: a JSON object (in the file, or as a JSON string in the environment and on the command line). */
function scopesByGroup(v: unknown, name: string): Record<string, string[]> {
  let parsed = v;
  if (typeof v === "string") {
    try {
      parsed = JSON.parse(v);
    } catch {
      throw new Error(
        `${name}: ${show(v)} is not JSON; expected an object such as {"openclaw-admins": ["operator.read", "operator.write"]}`,
      );
    }
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed))
    throw new Error(`${name}: expected an object of group → list of scopes`);
  const out: Record<string, string[]> = Object.create(null) as Record<string, string[]>;
  for (const [group, scopes] of Object.entries(parsed)) {
    // Group names are matched exactly against the provider's groups claim: ASCII, so no look-alike can be configured.
    const groupProblem = identityProblem(group);
    if (groupProblem !== undefined)
      throw new Error(`${name}: the group name ${show(group)} ${groupProblem}; a group name is ${IDENTITY_RULE}`);
    const list = Array.isArray(scopes) || typeof scopes === "string" ? words(scopes, `${name} ${group}`) : undefined;
    if (list === undefined || list.length === 0)
      throw new Error(`${name}: group ${show(group)} must map to a non-empty list of scopes`);
    for (const s of list)
      if (scopeProblem(s) !== undefined)
        throw new Error(`${name}: group ${show(group)}: ${show(s)} is not a scope name`);
    out[group] = list;
  }
  if (Object.keys(out).length === 0) throw new Error(`${name}: maps no group`);
  return out;
}

/**
 * Parses and checks the single sign-on options. `has` is what the rest of the configuration says: the mode, the
 * public origin (the redirect URI is built on it), and the headers an assertion header must not be.
 */
export function validateSso(
  raw: Record<string, unknown>,
  opt: Opt,
  problems: string[],
  has: { mode: string; publicOrigin: URL | undefined; identityHeader: string },
): SsoConfig {
  return { oidc: validateOidc(raw, opt, problems, has), assertion: validateAssertion(raw, opt, problems, has) };
}

function validateOidc(
  raw: Record<string, unknown>,
  opt: Opt,
  problems: string[],
  has: { mode: string; publicOrigin: URL | undefined },
): OidcConfig | undefined {
  const keys = SSO_OPTION_KEYS.filter((k) => k.startsWith("oidc") && raw[k] !== undefined);
  const issuer = opt("oidcIssuer", httpUrl, undefined);
  if (raw.oidcIssuer === undefined) {
    if (keys.length > 0) problems.push(`${keys.join(", ")}: set oidcIssuer too (without it there is no OIDC login)`);
    return undefined;
  }
  const clientId = opt("oidcClientId", nonEmpty, undefined);
  if (raw.oidcClientSecret !== undefined && raw.oidcClientSecretFile !== undefined)
    problems.push("oidcClientSecret and oidcClientSecretFile: set one, not both");
  const clientSecret =
    opt("oidcClientSecret", nonEmpty, undefined) ?? opt("oidcClientSecretFile", secretFile, undefined);
  const redirectPath = opt("oidcRedirectPath", path, SSO_DEFAULTS.oidcRedirectPath);
  const scopes = opt("oidcScopes", words, words(SSO_DEFAULTS.oidcScopes, "oidcScopes"));
  const allowedEmails = opt("oidcAllowedEmails", emails, []);
  const allowedDomains = opt("oidcAllowedDomains", domains, []);
  const userClaim = opt("oidcUserClaim", claimName, SSO_DEFAULTS.oidcUserClaim);
  const groups = opt("oidcScopesByGroup", scopesByGroup, undefined);
  const groupsClaim = opt("oidcGroupsClaim", claimName, groups !== undefined ? "groups" : undefined);
  const timeoutMs = opt("oidcTimeoutMs", int(100, 120_000), SSO_DEFAULTS.oidcTimeoutMs);
  if (has.mode !== "identity") problems.push(`oidcIssuer: only identity mode has OIDC login (mode is "${has.mode}")`);
  if (clientId === undefined)
    problems.push("oidcIssuer needs oidcClientId: the client registered at the provider for the sidecar");
  if (has.publicOrigin === undefined)
    problems.push(
      "oidcIssuer needs publicOrigin: the redirect URI registered at the provider is built on it (publicOrigin + oidcRedirectPath)",
    );
  if (!scopes.includes("openid")) problems.push(`oidcScopes: ${show(scopes.join(" "))} must include openid`);
  if (allowedEmails.length === 0 && allowedDomains.length === 0 && groups === undefined) {
    problems.push(
      "oidcIssuer: say who may sign in: oidcAllowedEmails, oidcAllowedDomains and/or oidcScopesByGroup (without them every account of the provider would be let in)",
    );
  }
  if (redirectPath === "/logout") problems.push("oidcRedirectPath: /logout is the sidecar's sign-out path");
  if (issuer === undefined || clientId === undefined) return undefined;
  return {
    issuer,
    clientId,
    clientSecret,
    redirectPath,
    scopes,
    allowedEmails,
    allowedDomains,
    userClaim,
    groupsClaim,
    scopesByGroup: groups,
    timeoutMs,
  };
}

function validateAssertion(
  raw: Record<string, unknown>,
  opt: Opt,
  problems: string[],
  has: { mode: string; identityHeader: string },
): AssertionConfig | undefined {
  const keys = SSO_OPTION_KEYS.filter((k) => k.startsWith("assertion") && raw[k] !== undefined);
  const vendor = opt(
    "trustAssertion",
    (v, name) => {
      const s = nonEmpty(v, name);
      if (!(ASSERTION_VENDORS as readonly string[]).includes(s))
        throw new Error(`${name}: ${show(s)} must be one of ${ASSERTION_VENDORS.join(", ")}`);
      return s as AssertionVendor;
    },
    undefined,
  );
  if (raw.trustAssertion === undefined) {
    if (keys.length > 0)
      problems.push(`${keys.join(", ")}: set trustAssertion too (cloudflare-access, pomerium or generic)`);
    return undefined;
  }
  const team = opt(
    "assertionTeamDomain",
    (v, name) => {
      const s = nonEmpty(v, name)
        .replace(/^https:\/\//, "")
        .replace(/\/+$/, "");
      if (!/^[a-z0-9-]+(\.[a-z0-9-]+)+$/i.test(s))
        throw new Error(`${name}: ${show(s)} is not a domain such as myteam.cloudflareaccess.com`);
      return s;
    },
    undefined,
  );
  const defaults = vendorDefaults(vendor ?? "generic", team);
  const header = opt("assertionHeader", headerName, defaults.header);
  const jwksUrl = opt(
    "assertionJwksUrl",
    httpUrl,
    defaults.jwksUrl !== undefined ? new URL(defaults.jwksUrl) : undefined,
  );
  const audience = opt("assertionAudience", words, []);
  const issuerOpt = opt("assertionIssuer", words, undefined);
  const userClaim = opt("assertionUserClaim", claimName, SSO_DEFAULTS.assertionUserClaim);
  if (vendor === undefined) return undefined;
  if (has.mode !== "identity")
    problems.push(`trustAssertion: only identity mode verifies assertions (mode is "${has.mode}")`);
  if (team !== undefined && vendor !== "cloudflare-access")
    problems.push("assertionTeamDomain: only for trustAssertion cloudflare-access");
  if (header === undefined)
    problems.push("trustAssertion generic needs assertionHeader: the request header that carries the proxy's JWT");
  else if (
    header === has.identityHeader ||
    header === "x-openclaw-scopes" ||
    header === "authorization" ||
    header === "cookie"
  )
    problems.push(
      `assertionHeader: ${show(header)} cannot carry the assertion (the sidecar writes or consumes it itself)`,
    );
  if (jwksUrl === undefined)
    problems.push(
      vendor === "cloudflare-access"
        ? "trustAssertion cloudflare-access needs assertionTeamDomain (e.g. myteam.cloudflareaccess.com) or assertionJwksUrl"
        : `trustAssertion ${vendor} needs assertionJwksUrl${vendor === "pomerium" ? " (https://<authenticate service>/.well-known/pomerium/jwks.json)" : ""}`,
    );
  if (audience.length === 0)
    problems.push(
      `trustAssertion ${vendor} needs assertionAudience: ${vendor === "cloudflare-access" ? "the application's AUD tag" : vendor === "pomerium" ? "the route's domain, as in the JWT's aud claim" : "the aud value the proxy puts in its JWTs"}`,
    );
  // Pomerium's iss is the route's domain (hostOnly, its default) or that domain as a URL (jwt_issuer_format: uri).
  const issuer =
    issuerOpt ??
    (vendor === "cloudflare-access"
      ? defaults.issuer !== undefined
        ? [defaults.issuer]
        : undefined
      : vendor === "pomerium"
        ? audience.flatMap((a) => [a, `https://${a}`, `https://${a}/`])
        : undefined);
  if (issuer === undefined)
    problems.push(`trustAssertion ${vendor} needs assertionIssuer: the iss value the proxy puts in its JWTs`);
  if (header === undefined || jwksUrl === undefined || issuer === undefined) return undefined;
  return { vendor, header, jwksUrl, audience, issuer, userClaim };
}
