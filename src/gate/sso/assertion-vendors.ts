// The identity-aware proxies whose assertions the sidecar verifies, and what each documents (header, keys, issuer,
// algorithms): declared apart from the verifier (assertion.ts, which loads jose), so that reading and checking the
// options (options/sso-options.ts) loads no JWT library.

export type AssertionVendor = "cloudflare-access" | "pomerium" | "generic";
export const ASSERTION_VENDORS: readonly AssertionVendor[] = ["cloudflare-access", "pomerium", "generic"];

/**
 * What each vendor documents, so that only the vendor-specific value needs configuring:
 * - Cloudflare Access: `Cf-Access-Jwt-Assertion`, keys at `https://<team>.cloudflareaccess.com/cdn-cgi/access/certs`,
 *   `iss` is the team domain URL, `aud` the application's AUD tag, RS256 (developers.cloudflare.com/cloudflare-one/
 *   access-controls/applications/http-apps/authorization-cookie/validating-json/).
 * - Pomerium: `X-Pomerium-Jwt-Assertion`, keys at `/.well-known/pomerium/jwks.json`, `aud` the route's domain and,
 *   since v0.22, `iss` the same domain (docs: capabilities/getting-users-identity; jwt_issuer_format `uri` makes it a
 *   URL).
 */
export function vendorDefaults(
  vendor: AssertionVendor,
  teamDomain: string | undefined,
): { header?: string; jwksUrl?: string; issuer?: string; algorithms: string[] } {
  if (vendor === "cloudflare-access") {
    const team =
      teamDomain === undefined ? undefined : `https://${teamDomain.replace(/^https?:\/\//, "").replace(/\/+$/, "")}`;
    return {
      header: "cf-access-jwt-assertion",
      ...(team ? { jwksUrl: `${team}/cdn-cgi/access/certs`, issuer: team } : {}),
      algorithms: ["RS256"],
    };
  }
  if (vendor === "pomerium") return { header: "x-pomerium-jwt-assertion", algorithms: ["ES256", "EdDSA", "RS256"] };
  return { algorithms: ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"] };
}
