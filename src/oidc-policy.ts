// Who a single sign-on login lets in, and with which scopes: the sidecar's decision on the claims an OpenID provider
// vouched for (src/oidc-login.ts has verified them by then). No I/O here. The same rules build the credential id a
// session carries, so a session stays valid only while the policy that admitted it is unchanged.
import { createHmac } from "node:crypto";

export interface OidcPolicy {
  /** The issuer (its href): part of every session's credential id. */
  issuer: string;
  clientId: string;
  /** The claim whose value becomes the identity header (default `email`). */
  userClaim: string;
  /** The claim listing the user's groups (e.g. `groups`); needed by scopesByGroup. */
  groupsClaim: string | undefined;
  /** Exact addresses (lower case) allowed in, compared with the `email` claim. */
  allowedEmails: string[];
  /** Domains (lower case) whose addresses are allowed in. */
  allowedDomains: string[];
  /** group → x-openclaw-scopes; a user in none of these groups is refused. */
  scopesByGroup: Record<string, string[]> | undefined;
}

/** What the login grants: the identity header value, the provider's subject, and the scopes (undefined: the gateway's defaults). */
export interface OidcGrant { user: string; sub: string; scopes: string[] | undefined }

/** A refusal, in a sentence the user can act on (the provider is named, never a secret). */
export interface OidcDenial { denied: string }

/**
 * Applies the policy to verified claims. Email and domain lists (when set) and the group mapping (when set) must each
 * admit the user; an address the provider marks `email_verified: false` is never taken as matching a list. A user
 * whose name is also a token credential's with other scopes is refused: whatever only knows the user (a log line, the
 * gateway's identityScopes) could not tell which set applies (the rule tokensFile follows too).
 */
export function decide(policy: OidcPolicy, claims: Record<string, unknown>, tokenScopes?: ReadonlyMap<string, string[] | undefined>): OidcGrant | OidcDenial {
  const sub = claims.sub;
  if (typeof sub !== "string" || sub === "") return { denied: "the provider sent no subject (sub claim)" };
  const user = claims[policy.userClaim];
  if (typeof user !== "string" || user.trim() === "") return { denied: `the provider sent no "${policy.userClaim}" claim (oidcUserClaim) for this account` };
  if (policy.allowedEmails.length > 0 || policy.allowedDomains.length > 0) {
    const email = typeof claims.email === "string" ? claims.email.trim().toLowerCase() : undefined;
    if (email === undefined) return { denied: "the provider sent no email claim, and oidcAllowedEmails/oidcAllowedDomains need one (request the email scope)" };
    if (claims.email_verified === false) return { denied: `${email} is not verified at the provider` };
    const domain = email.slice(email.lastIndexOf("@") + 1);
    if (!policy.allowedEmails.includes(email) && !(email.includes("@") && policy.allowedDomains.includes(domain))) {
      return { denied: `${email} is not allowed here (oidcAllowedEmails, oidcAllowedDomains)` };
    }
  }
  let scopes: string[] | undefined;
  if (policy.scopesByGroup !== undefined) {
    const groups = groupsOf(claims, policy.groupsClaim);
    const granted = new Set<string>();
    let member = false;
    for (const group of groups) {
      const mapped = Object.hasOwn(policy.scopesByGroup, group) ? policy.scopesByGroup[group] : undefined;
      if (mapped === undefined) continue;
      member = true;
      for (const scope of mapped) granted.add(scope);
    }
    if (!member) {
      const seen = groups.length === 0 ? `the provider sent no "${policy.groupsClaim}" claim` : `groups: ${groups.slice(0, 10).join(", ")}`;
      return { denied: `${user} is in none of the groups of oidcScopesByGroup (${seen})` };
    }
    scopes = [...granted].sort();
  }
  const name = user.trim();
  if (tokenScopes?.has(name) && scopeKey(tokenScopes.get(name)) !== scopeKey(scopes)) {
    return { denied: `${name} is also a token user with other scopes; give one of them another name` };
  }
  return { user: name, sub, scopes };
}

function groupsOf(claims: Record<string, unknown>, claim: string | undefined): string[] {
  if (claim === undefined) return [];
  const value = claims[claim];
  if (typeof value === "string") return value === "" ? [] : [value];
  if (Array.isArray(value)) return value.filter((g): g is string => typeof g === "string" && g !== "");
  return [];
}

const scopeKey = (scopes: readonly string[] | undefined): string => (scopes === undefined ? "" : [...scopes].sort().join(","));

/**
 * The credential id of a session from this login: "oidc:" + an HMAC of the issuer, client, subject, scope set and the
 * policy itself. A token's id (22 base64url characters) never contains ":", so the two cannot collide. A session is
 * accepted only while its id still comes out the same: another issuer or client, or any change to who is allowed and
 * with which scopes, ends every session the old rules opened (the user simply logs in again).
 */
export function oidcCredentialId(policy: OidcPolicy, sub: string, scopes: readonly string[] | undefined): string {
  const rules = JSON.stringify([
    policy.userClaim, policy.groupsClaim ?? null, [...policy.allowedEmails].sort(), [...policy.allowedDomains].sort(),
    policy.scopesByGroup === undefined ? null : Object.keys(policy.scopesByGroup).sort().map((g) => [g, [...(policy.scopesByGroup as Record<string, string[]>)[g] as string[]].sort()]),
  ]);
  const material = JSON.stringify([policy.issuer, policy.clientId, sub, scopes === undefined ? null : [...scopes].sort(), rules]);
  return `oidc:${createHmac("sha256", "openclaw-sidecar oidc credential id").update(material).digest("base64url").slice(0, 22)}`;
}
