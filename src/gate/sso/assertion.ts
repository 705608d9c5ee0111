// Verified assertions from an identity-aware proxy in front of the sidecar (trustAssertion): Cloudflare Access,
// Pomerium, or any proxy that signs a JWT per request. The gateway only checks that an identity header is present;
// here the proxy's signed JWT is verified instead — signature against the proxy's JWKS, audience, issuer, expiry —
// and only then does the request get the sidecar's identity header. The JWKS is fetched by jose, cached, and fetched
// again when a token names a key id it does not hold (the proxy rotated its keys), at most once per cooldown, so
// made-up key ids cannot be turned into a flood of requests to the proxy's key endpoint.
import { createRemoteJWKSet, errors as joseErrors, jwtVerify } from "jose";
import type { Identity } from "../../forwarding/forwarded-headers.ts";
import { emailVerified, ssoIdentity } from "../identity.ts";
import type { Refusal } from "../../http/responses.ts";
import type { AuthFailure } from "../../ops/metrics.ts";
import { type AssertionVendor, vendorDefaults } from "./assertion-vendors.ts";

export { ASSERTION_VENDORS, type AssertionVendor, vendorDefaults } from "./assertion-vendors.ts";

/** Bounded reasons: the assertion_* values of auth_failures_total's `reason` label, declared with the metric. */
export type AssertionFailure = Extract<AuthFailure, `assertion_${string}`>;

export interface AssertionOptions {
  vendor: AssertionVendor;
  /** Request header carrying the JWT (lower case). */
  header: string;
  jwksUrl: URL;
  /** Accepted audiences: Cloudflare's application AUD tag, Pomerium's route domain. */
  audience: string[];
  /** Accepted `iss` values. */
  issuer: string[];
  userClaim: string;
  timeoutMs: number;
  clockToleranceSeconds: number;
  /** Least time between two JWKS fetches (an unknown kid forces one). */
  jwksCooldownMs: number;
}

export interface AssertionVerifier {
  readonly header: string;
  /** Verifies the header's JWT: the identity it vouches for, or the refusal. */
  verify(token: string): Promise<Identity | { failure: AssertionFailure; refusal: Refusal }>;
}

export function createAssertionVerifier(opts: AssertionOptions): AssertionVerifier {
  const jwks = createRemoteJWKSet(opts.jwksUrl, {
    timeoutDuration: opts.timeoutMs,
    cooldownDuration: opts.jwksCooldownMs,
    cacheMaxAge: 10 * 60_000,
  });
  const { algorithms } = vendorDefaults(opts.vendor, undefined);
  const refuse = (failure: AssertionFailure, status: number, message: string) => ({
    failure,
    refusal: { status, type: failure, message },
  });
  return {
    header: opts.header,
    async verify(token) {
      let payload: Record<string, unknown>;
      try {
        ({ payload } = await jwtVerify(token, jwks, {
          audience: opts.audience,
          issuer: opts.issuer,
          algorithms,
          clockTolerance: opts.clockToleranceSeconds,
          requiredClaims: ["exp"],
        }));
      } catch (err) {
        if (err instanceof joseErrors.JWTExpired)
          return refuse("assertion_expired", 401, `the ${opts.header} assertion has expired`);
        if (err instanceof joseErrors.JWKSTimeout || isNetworkError(err)) {
          return refuse(
            "assertion_unverifiable",
            503,
            `the assertion's keys could not be fetched from ${opts.jwksUrl.href} (${err instanceof joseErrors.JWKSTimeout ? "timed out" : networkCode(err)}); try again shortly`,
          );
        }
        if (err instanceof joseErrors.JWKSNoMatchingKey)
          return refuse(
            "assertion_invalid",
            401,
            `the ${opts.header} assertion is signed with a key that is not in ${opts.jwksUrl.href}`,
          );
        if (err instanceof joseErrors.JWTClaimValidationFailed)
          return refuse(
            "assertion_invalid",
            401,
            `the ${opts.header} assertion's ${err.claim} claim is not accepted (${err.reason})`,
          );
        const code = (err as { code?: string }).code ?? "invalid";
        return refuse("assertion_invalid", 401, `the ${opts.header} assertion does not verify (${code})`);
      }
      const user = payload[opts.userClaim];
      if (user === undefined || user === "") {
        const service =
          typeof payload.common_name === "string"
            ? ` (a service token, common_name ${payload.common_name.slice(0, 100)})`
            : "";
        return refuse(
          "assertion_invalid",
          401,
          `the ${opts.header} assertion has no "${opts.userClaim}" claim${service} (assertionUserClaim)`,
        );
      }
      // Signed is not the same as well-formed: the claim becomes the gateway's user header (identity.ts, issue 21).
      const identity = ssoIdentity(payload, opts.userClaim);
      if ("problem" in identity)
        return refuse(
          "assertion_identity_invalid",
          403,
          `the ${opts.header} assertion is refused: ${identity.problem} (assertionUserClaim)`,
        );
      // An assertion proxy vouches for the address itself (Cloudflare Access and Pomerium send no email_verified);
      // one that says the address is unverified is believed.
      if (opts.userClaim === "email" && !emailVerified(payload, false)) {
        return refuse(
          "assertion_identity_invalid",
          403,
          `the ${opts.header} assertion is refused: ${identity.user} is not verified (email_verified is ${JSON.stringify(payload.email_verified)})`,
        );
      }
      return { user: identity.user };
    },
  };
}

function networkCode(err: unknown): string {
  for (let e: unknown = err, i = 0; e !== undefined && e !== null && i < 5; e = (e as { cause?: unknown }).cause, i++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && !code.startsWith("ERR_JW")) return code;
  }
  return "fetch failed";
}

function isNetworkError(err: unknown): boolean {
  if (err instanceof TypeError && err.message === "fetch failed") return true;
  if (err instanceof joseErrors.JOSEError) return false;
  const name = (err as { name?: string }).name;
  return name === "TimeoutError" || name === "AbortError" || /^E[A-Z]+$/.test(networkCode(err));
}
