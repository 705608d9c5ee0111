// Who a single sign-on login lets in, and with which scopes: the sidecar's decision on the claims an OpenID provider
// vouched for (src/gate/sso/oidc-login.ts has verified them by then). No I/O here. The same rules build the credential
// id a session carries, so a session stays valid only while the policy that admitted it is unchanged — except the
// allow-lists, which a reload may change (issue 23): a session keeps the address they were checked against, and is
// checked again (emailAllowed), so that only the users no longer allowed lose their sessions.
import { createHmac } from "node:crypto";
import { canonicalEmail, emailVerified, ssoIdentity } from "../identity.ts";

export interface OidcPolicy {
  /** The issuer (its href): part of every session's credential id. */
  issuer: string;
  clientId: string;
  /** The claim whose value becomes the identity header (default `email`). */
  userClaim: string;
  /** The claim listing the user's groups (e.g. `groups`); needed by scopesByGroup. */
  groupsClaim: string | undefined;
  /** Exact addresses (canonical: identity.ts canonicalEmail) allowed in, compared with the canonical `email` claim. */
  allowedEmails: string[];
  /** Domains (lower case) whose addresses are allowed in. */
  allowedDomains: string[];
  /** group → x-openclaw-scopes; a user in none of these groups is refused. */
  scopesByGroup: Record<string, string[]> | undefined;
}

/**
 * What the login grants: the identity header value, the provider's subject, and the scopes (undefined: the gateway's
 * defaults).
 */
export interface OidcGrant {
  user: string;
  sub: string;
  scopes: string[] | undefined;
  /** The canonical, verified address, when the email claim was checked (allow-lists, or the email user claim). */
  email?: string;
}

/**
 * A refusal, in a sentence the user can act on (the provider is named, never a secret); `unusable` when a claim could
 * not be an identity at all (identity.ts), rather than an identity the policy does not admit.
 */
export interface OidcDenial {
  denied: string;
  unusable?: true;
}

/**
 * Applies the policy to verified claims. The user claim must be a valid identity (identity.ts: never trimmed or
 * folded into one). Whenever the email claim is matched (oidcAllowedEmails, oidcAllowedDomains) or becomes the
 * identity (oidcUserClaim email), it must be one canonical address that the provider marks verified —
 * `emailVerifiedSent` says the provider's metadata lists email_verified, so its absence counts as unverified. The
 * group mapping (when set) must admit the user too. A user whose name is also a token credential's with other scopes
 * is refused: whatever only knows the user (a log line, the gateway's identityScopes) could not tell which set applies
 * (the rule tokensFile follows too).
 */
export function decide(
  policy: OidcPolicy,
  claims: Record<string, unknown>,
  tokenScopes?: ReadonlyMap<string, string[] | undefined>,
  emailVerifiedSent = false,
): OidcGrant | OidcDenial {
  const sub = claims.sub;
  if (typeof sub !== "string" || sub === "") return { denied: "the provider sent no subject (sub claim)" };
  const identity = ssoIdentity(claims, policy.userClaim);
  if ("problem" in identity) return { denied: `${identity.problem} (oidcUserClaim)`, unusable: true };
  const user = identity.user;
  const listsEmail = policy.allowedEmails.length > 0 || policy.allowedDomains.length > 0;
  let checkedEmail: string | undefined;
  if (listsEmail || policy.userClaim === "email") {
    if (claims.email === undefined)
      return {
        denied:
          "the provider sent no email claim, and oidcAllowedEmails/oidcAllowedDomains need one (request the email scope)",
      };
    const checked = typeof claims.email === "string" ? canonicalEmail(claims.email) : { problem: "is not a string" };
    if ("problem" in checked)
      return {
        denied: `the "email" claim ${JSON.stringify(claims.email).slice(0, 100)} ${checked.problem}`,
        unusable: true,
      };
    const email = checked.email;
    if (!emailVerified(claims, emailVerifiedSent))
      return {
        denied: `${email} is not verified at the provider (email_verified is ${JSON.stringify(claims.email_verified) ?? "absent"})`,
      };
    if (!emailAllowed(policy, email))
      return { denied: `${email} is not allowed here (oidcAllowedEmails, oidcAllowedDomains)` };
    checkedEmail = email;
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
      const seen =
        groups.length === 0
          ? `the provider sent no "${policy.groupsClaim}" claim`
          : `groups: ${groups.slice(0, 10).join(", ")}`;
      return { denied: `${user} is in none of the groups of oidcScopesByGroup (${seen})` };
    }
    scopes = [...granted].sort();
  }
  if (tokenScopes?.has(user) && scopeKey(tokenScopes.get(user)) !== scopeKey(scopes)) {
    return { denied: `${user} is also a token user with other scopes; give one of them another name` };
  }
  return { user, sub, scopes, ...(checkedEmail !== undefined ? { email: checkedEmail } : {}) };
}

/**
 * Whether the allow-lists let `email` (canonical) in: always when both are empty, never for a login whose address was
 * not checked (undefined) when either is set.
 */
export function emailAllowed(policy: OidcPolicy, email: string | undefined): boolean {
  if (policy.allowedEmails.length === 0 && policy.allowedDomains.length === 0) return true;
  if (email === undefined) return false;
  return policy.allowedEmails.includes(email) || policy.allowedDomains.includes(email.slice(email.indexOf("@") + 1));
}

function groupsOf(claims: Record<string, unknown>, claim: string | undefined): string[] {
  if (claim === undefined) return [];
  const value = claims[claim];
  if (typeof value === "string") return value === "" ? [] : [value];
  if (Array.isArray(value)) return value.filter((g): g is string => typeof g === "string" && g !== "");
  return [];
}

export const scopeKey = (scopes: readonly string[] | undefined): string =>
  scopes === undefined ? "" : [...scopes].sort().join(",");

/**
 * The credential id of a session from this login: "oidc:" + an HMAC of the issuer, client, subject, scope set, the
 * checked address (if any) and the policy itself. A token's id (22 base64url characters) never contains ":", so the
 * two cannot collide. A session is accepted only while its id still comes out the same: another issuer or client, or
 * any change to which claims decide and which groups grant which scopes, ends every session the old rules opened (the
 * user simply logs in again). The allow-lists are left out: a session is checked against the current ones instead
 * (emailAllowed), with the address bound into its id.
 */
export function oidcCredentialId(
  policy: OidcPolicy,
  sub: string,
  scopes: readonly string[] | undefined,
  email?: string,
): string {
  const rules = JSON.stringify([
    policy.userClaim,
    policy.groupsClaim ?? null,
    policy.scopesByGroup === undefined
      ? null
      : Object.keys(policy.scopesByGroup)
          .sort()
          .map((g) => [g, [...((policy.scopesByGroup as Record<string, string[]>)[g] as string[])].sort()]),
  ]);
  const material = JSON.stringify([
    policy.issuer,
    policy.clientId,
    sub,
    scopes === undefined ? null : [...scopes].sort(),
    email ?? null,
    rules,
  ]);
  return `oidc:${createHmac("sha256", "openclaw-sidecar oidc credential id").update(material).digest("base64url").slice(0, 22)}`;
}
