// What a valid identity is, decided in one place and checked where every identity enters (issue 21): the value the
// sidecar writes as the gateway's user header. The gateway believes that header's presence and value and nothing
// else (trusted-proxy auth, allowUsers, gateway.roles), so an identity is data and must never become syntax:
//
//   - printable ASCII (U+0021–U+007E, inner spaces allowed), 1 to 256 characters, no leading or trailing space.
//     Nothing is trimmed, folded or normalised into shape: " alice", "alice\r\n…", "šlice" (whose low byte is "a")
//     and "\u212Aelvin" (Kelvin sign, lower-cased by Unicode to "k") are refused, never turned into someone else;
//   - an email is the identity only in one form: one "@", a dot-atom local part, a domain of LDH labels, lower case
//     (mailboxes are matched case-insensitively by the allow-lists, so the gateway sees the value that was matched).
//     Lower-casing happens after the ASCII check, so no Unicode case mapping can reach the result;
//   - other claims (preferred_username, sub, …) and configured names are taken exactly as written: an IdP may hold
//     "Alice" and "alice" as two accounts, and folding them would merge them.
//
// No I/O, no dependencies: config validation, the OIDC policy and the assertion verifier all call these.

/** Longest identity accepted (far above any real user name or address; bounds what a claim can make us write). */
export const MAX_IDENTITY_LENGTH = 256;
/** What docs/security.md and every refusal say a valid identity is. */
export const IDENTITY_RULE = `printable ASCII, no leading or trailing space, at most ${MAX_IDENTITY_LENGTH} characters`;

const codePoint = (c: number): string => `U+${c.toString(16).toUpperCase().padStart(4, "0")}`;

/** Why `value` cannot be an identity, or undefined when it can. The sentence names the first offending character. */
export function identityProblem(value: string): string | undefined {
  if (value.length === 0) return "is empty";
  if (value.length > MAX_IDENTITY_LENGTH) return `is longer than ${MAX_IDENTITY_LENGTH} characters`;
  for (let i = 0; i < value.length; i++) {
    const c = value.codePointAt(i) as number;
    if (c < 0x20 || c === 0x7f) return `contains the control character ${codePoint(c)} at position ${i + 1}`;
    if (c > 0x7e) return `contains ${codePoint(c)} at position ${i + 1}, which is not ASCII`;
  }
  if (value.charCodeAt(0) === 0x20 || value.charCodeAt(value.length - 1) === 0x20) return "begins or ends with a space";
  return undefined;
}

// RFC 5322 dot-atom text (no quoted local parts: nobody signs in with one, and quotes would need escaping rules).
const LOCAL_PART = /^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;
// LDH labels (RFC 1035 §2.3.1; internationalised domains arrive as their A-labels, xn--…).
const DOMAIN = /^(?!-)[a-z0-9-]{1,63}(?<!-)(?:\.(?!-)[a-z0-9-]{1,63}(?<!-))*$/;

/** The canonical (lower-case) form of an email address, or why it is not one. */
export function canonicalEmail(value: string): { email: string } | { problem: string } {
  const problem = identityProblem(value);
  if (problem !== undefined) return { problem };
  const email = value.toLowerCase(); // ASCII only by now: no Unicode case mapping applies
  const at = email.indexOf("@");
  if (at === -1) return { problem: "has no @" };
  if (email.indexOf("@", at + 1) !== -1) return { problem: "has more than one @" };
  if (!LOCAL_PART.test(email.slice(0, at)))
    return { problem: "has a local part (before the @) that is not a plain address" };
  if (email.length > 254 || !DOMAIN.test(email.slice(at + 1)))
    return { problem: "has a domain (after the @) that is not a domain name" };
  return { email };
}

/** The canonical form of a domain of oidcAllowedDomains, or why it is not one. */
export function canonicalDomain(value: string): { domain: string } | { problem: string } {
  const problem = identityProblem(value);
  if (problem !== undefined) return { problem };
  const domain = value.toLowerCase().replace(/^@/, "");
  return DOMAIN.test(domain) && domain.includes(".") ? { domain } : { problem: "is not a domain name" };
}

/**
 * The identity a verified single sign-on claim names: a canonical email when the claim is `email`, the exact value of
 * any other claim, or a sentence (for the refusal page and the log) saying why the claim is unusable.
 */
export function ssoIdentity(claims: Record<string, unknown>, claim: string): { user: string } | { problem: string } {
  const value = claims[claim];
  if (value === undefined) return { problem: `the "${claim}" claim is missing` };
  if (typeof value !== "string") return { problem: `the "${claim}" claim is not a string` };
  const shown = JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
  if (claim === "email") {
    const email = canonicalEmail(value);
    return "email" in email
      ? { user: email.email }
      : {
          problem: `the "email" claim ${shown} ${email.problem} (an identity is an email address in ${IDENTITY_RULE})`,
        };
  }
  const problem = identityProblem(value);
  return problem === undefined
    ? { user: value }
    : { problem: `the "${claim}" claim ${shown} ${problem} (an identity is ${IDENTITY_RULE})` };
}

/**
 * Whether the provider vouches for the address: `email_verified` true (or the string "true", which some providers
 * send). Absent counts as verified only where the source never sends the claim (`sentBySource` false: a provider
 * whose metadata does not list it, an assertion proxy that vouches for the address itself); anything else —
 * false, "false", absent where the source sends it, any other value — is unverified.
 */
export function emailVerified(claims: Record<string, unknown>, sentBySource: boolean): boolean {
  const value = claims.email_verified;
  if (value === true || value === "true") return true;
  return value === undefined && !sentBySource;
}

/** A gateway scope name (operator.read, operator.admin, …): what x-openclaw-scopes carries, comma-separated. */
const SCOPE_NAME = /^[A-Za-z0-9._:-]{1,100}$/;

/** Why `value` cannot be a scope name, or undefined when it can. */
export function scopeProblem(value: string): string | undefined {
  return SCOPE_NAME.test(value)
    ? undefined
    : "is not a scope name (letters, digits and . _ : -, such as operator.read)";
}
