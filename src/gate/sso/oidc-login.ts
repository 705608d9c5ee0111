// Single sign-on for identity mode: the OpenID Connect authorization code flow with PKCE, state and nonce, as a relying
// party of the configured issuer. The protocol is openid-client's (discovery, the authorization URL, the code
// exchange, and the ID token's iss/aud/exp/iat/nonce/azp checks; RP-initiated logout); the ID token's signature is
// also verified, with jose against the issuer's JWKS (openid-client skips that for a token that came straight from
// the token endpoint over TLS, OIDC Core §3.1.3.7; we check it anyway, and re-fetch the JWKS when the provider signs
// with a key we have not seen, so a key rotation at the provider needs no restart). Who is let in, and with which
// scopes, is src/gate/sso/oidc-policy.ts; the login in progress is src/gate/sso/oidc-transaction.ts; turning a login
// into the sidecar's session cookie is the gate's (src/gate/auth-gate.ts).
//
// Every call that talks to the provider has a deadline (oidcTimeoutMs): a provider that is down or hangs is a 503
// with the reason, never a request left waiting.
import * as client from "openid-client";
import { createRemoteJWKSet, errors as joseErrors, jwtVerify } from "jose";
import type { CookieKeys, SessionSubject } from "../credentials.ts";
import type { Identity } from "../../forwarding/forwarded-headers.ts";
import { ssoIdentity } from "../identity.ts";
import { type OidcPolicy, decide, emailAllowed, oidcCredentialId, scopeKey } from "./oidc-policy.ts";
import { type LoginTransaction, openTransaction, sealTransaction } from "./oidc-transaction.ts";
import type { Reply, Refusal } from "../../http/responses.ts";
import type { AuthFailure } from "../../ops/metrics.ts";

/** Bounded reasons: the oidc_* values of auth_failures_total's `reason` label, declared with the metric. */
export type OidcFailure = Extract<AuthFailure, `oidc_${string}`>;

export interface OidcRefusal {
  failure: OidcFailure;
  refusal: Refusal;
}

export interface OidcOptions extends Omit<OidcPolicy, "issuer"> {
  issuer: URL;
  clientSecret: string | undefined;
  /** Path of the callback on our origin (publicBasePath + oidcRedirectPath). */
  redirectPath: string;
  /** Path of the sidecar's sign-out on our origin (publicBasePath + LOGOUT_PATH): the post-logout redirect URI. */
  logoutPath: string;
  /** OAuth scopes requested (oidcScopes). */
  scopes: string[];
  /** The origin users open: the redirect URI is built on it. */
  publicOrigin: URL;
  /** Deadline of each request to the provider (discovery, token, userinfo, JWKS). */
  timeoutMs: number;
  /** Accepted difference between the provider's clock and ours when checking iat/exp/nbf. */
  clockToleranceSeconds: number;
  /** Least time between two JWKS fetches (an unknown kid forces one). */
  jwksCooldownMs: number;
}

/** The transaction cookie, scoped to the callback path. */
export const OIDC_TX_COOKIE = "openclaw_sidecar_oidc";
/** How long a login may take at the provider (the form, a second factor) before its callback is refused. */
export const LOGIN_TTL_MS = 10 * 60_000;
/** Where the provider sends the browser after RP-initiated logout (under publicBasePath when one is set). */
export const LOGOUT_PATH = "/logout";

export interface OidcLogin {
  readonly redirectPath: string;
  /** A 303 to the provider's authorization endpoint with a new transaction cookie, or why not (provider down). */
  start(returnTo: string): Promise<Reply | OidcRefusal>;
  /** Finishes a login from the callback's request target and the transaction cookie. */
  callback(
    target: string,
    txCookie: string | undefined,
  ): Promise<{ subject: SessionSubject; returnTo: string } | OidcRefusal>;
  /** The identity a session from an OIDC login stands for, if its credential id still holds under this policy. */
  identityOf(session: SessionSubject): Identity | undefined;
  /** The provider's end-session URL for RP-initiated logout, if it advertises one (undefined when unreachable). */
  endSessionUrl(): Promise<URL | undefined>;
  /** Set-Cookie value that removes the transaction cookie. */
  readonly clearTxCookie: string;
}

export function createOidcLogin(
  opts: OidcOptions,
  keys: CookieKeys,
  tokenScopes?: ReadonlyMap<string, string[] | undefined>,
): OidcLogin {
  const policy: OidcPolicy = { ...opts, issuer: opts.issuer.href };
  const redirectUri = new URL(opts.redirectPath, opts.publicOrigin).href;
  const postLogoutUri = new URL(opts.logoutPath, opts.publicOrigin).href;
  const secure = opts.publicOrigin.protocol === "https:" ? "; Secure" : "";
  const txCookie = (value: string, maxAge: number) =>
    `${OIDC_TX_COOKIE}=${value}; Path=${opts.redirectPath}; HttpOnly; SameSite=Lax; Max-Age=${maxAge}${secure}`;
  const clearTxCookie = txCookie("", 0);
  const timeoutFetch: client.CustomFetch = (url, init) => {
    const signal = AbortSignal.timeout(opts.timeoutMs);
    return fetch(url, {
      ...init,
      signal: init.signal ? AbortSignal.any([init.signal, signal]) : signal,
    } as RequestInit);
  };

  // Discovery is done on first use and kept; a failure is retried by the next login, at most once a second.
  let discovered: Promise<{ config: client.Configuration; jwks: ReturnType<typeof createRemoteJWKSet> }> | undefined;
  let failedAt = 0;
  const configuration = () => {
    if (discovered !== undefined) return discovered;
    if (Date.now() - failedAt < 1000 && lastFailure !== undefined) return Promise.reject(lastFailure);
    discovered = (async () => {
      const metadata: Partial<client.ClientMetadata> = {
        [client.clockTolerance]: opts.clockToleranceSeconds,
        redirect_uris: [redirectUri],
      };
      const auth = opts.clientSecret !== undefined ? client.ClientSecretBasic(opts.clientSecret) : client.None();
      const config = await client.discovery(opts.issuer, opts.clientId, metadata, auth, {
        [client.customFetch]: timeoutFetch,
        timeout: Math.max(1, Math.ceil(opts.timeoutMs / 1000)),
        execute: opts.issuer.protocol === "http:" ? [client.allowInsecureRequests] : [],
      });
      const jwksUri = config.serverMetadata().jwks_uri;
      if (jwksUri === undefined) throw new ProviderMisconfigured("the provider's discovery document has no jwks_uri");
      const jwks = createRemoteJWKSet(new URL(jwksUri), {
        timeoutDuration: opts.timeoutMs,
        cooldownDuration: opts.jwksCooldownMs,
        cacheMaxAge: 10 * 60_000,
      });
      return { config, jwks };
    })();
    discovered.catch((err: unknown) => {
      discovered = undefined;
      lastFailure = err;
      failedAt = Date.now();
    });
    return discovered;
  };
  let lastFailure: unknown;

  const refuse = (
    failure: OidcFailure,
    status: number,
    message: string,
    headers?: Record<string, string>,
  ): OidcRefusal => ({
    failure,
    refusal: {
      status,
      type: failure,
      message,
      ...(headers
        ? { headers: { ...headers, "Set-Cookie": clearTxCookie } }
        : { headers: { "Set-Cookie": clearTxCookie } }),
    },
  });
  const fromError = (err: unknown, during: string): OidcRefusal => {
    const c = classify(err);
    const name = opts.issuer.href;
    if (c.kind === "unreachable")
      return refuse(
        "oidc_provider_unreachable",
        503,
        `the OpenID provider ${name} is unreachable (${c.detail}) during ${during}; try again shortly`,
        { "Retry-After": "5" },
      );
    if (c.kind === "clock")
      return refuse(
        "oidc_clock_skew",
        401,
        `the provider's ID token is outside its validity window by our clock (${c.detail}): the provider's clock and the sidecar's differ by more than ${opts.clockToleranceSeconds} s; synchronise them (NTP)`,
      );
    if (c.kind === "provider")
      return refuse(
        "oidc_provider_error",
        502,
        `the OpenID provider ${name} answered with an error during ${during}: ${c.detail}`,
      );
    return refuse("oidc_invalid_token", 401, `the provider's response did not verify during ${during}: ${c.detail}`);
  };

  return {
    redirectPath: opts.redirectPath,
    clearTxCookie,

    async start(returnTo) {
      let config: client.Configuration;
      try {
        ({ config } = await configuration());
      } catch (err) {
        return fromError(err, "discovery");
      }
      const tx: LoginTransaction = {
        state: client.randomState(),
        nonce: client.randomNonce(),
        verifier: client.randomPKCECodeVerifier(),
        returnTo,
        exp: Date.now() + LOGIN_TTL_MS,
      };
      const url = client.buildAuthorizationUrl(config, {
        redirect_uri: redirectUri,
        response_type: "code",
        scope: opts.scopes.join(" "),
        state: tx.state,
        nonce: tx.nonce,
        code_challenge: await client.calculatePKCECodeChallenge(tx.verifier),
        code_challenge_method: "S256",
      });
      return {
        status: 303,
        headers: {
          Location: url.href,
          "Set-Cookie": txCookie(sealTransaction(keys, tx), LOGIN_TTL_MS / 1000),
          "Cache-Control": "no-store",
        },
        body: "",
      };
    },

    async callback(target, cookie) {
      const current = new URL(target, opts.publicOrigin);
      if (cookie === undefined || cookie === "") {
        return refuse(
          "oidc_state_mismatch",
          400,
          "no login is in progress in this browser (it was started elsewhere, or its cookie expired): open the dashboard again to sign in",
        );
      }
      const tx = openTransaction(keys, cookie, Date.now());
      if ("error" in tx) {
        return tx.error === "expired"
          ? refuse(
              "oidc_login_expired",
              400,
              `the login took longer than ${LOGIN_TTL_MS / 60_000} minutes: open the dashboard again to sign in`,
            )
          : refuse("oidc_state_mismatch", 400, "the login cookie is not valid: open the dashboard again to sign in");
      }
      if (current.searchParams.get("state") !== tx.state) {
        return refuse(
          "oidc_state_mismatch",
          400,
          "the callback's state does not match the login in progress in this browser: open the dashboard again to sign in",
        );
      }
      const providerError = current.searchParams.get("error");
      if (providerError !== null) {
        const description = current.searchParams.get("error_description");
        return refuse(
          "oidc_provider_error",
          providerError === "access_denied" ? 403 : 502,
          `the provider refused the login: ${providerError}${description ? ` (${description.slice(0, 200)})` : ""}`,
        );
      }
      let config: client.Configuration;
      let jwks: ReturnType<typeof createRemoteJWKSet>;
      try {
        ({ config, jwks } = await configuration());
      } catch (err) {
        return fromError(err, "discovery");
      }
      let claims: Record<string, unknown>;
      try {
        const tokens = await client.authorizationCodeGrant(config, current, {
          pkceCodeVerifier: tx.verifier,
          expectedState: tx.state,
          expectedNonce: tx.nonce,
          idTokenExpected: true,
        });
        const idToken = tokens.id_token as string;
        // maxTokenAge: the token was issued just now, by the provider's clock; an iat in our future (or long past)
        // is a clock that is off, which openid-client alone would let through when the provider runs ahead.
        await jwtVerify(idToken, jwks, {
          issuer: config.serverMetadata().issuer,
          audience: opts.clientId,
          clockTolerance: opts.clockToleranceSeconds,
          maxTokenAge: LOGIN_TTL_MS / 1000,
        });
        claims = { ...(tokens.claims() as Record<string, unknown>) };
        const wanted = [opts.userClaim, "email", ...(opts.groupsClaim ? [opts.groupsClaim] : [])];
        if (wanted.some((c) => claims[c] === undefined) && config.serverMetadata().userinfo_endpoint !== undefined) {
          const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub as string);
          claims = {
            ...info,
            ...claims,
            ...Object.fromEntries(
              wanted.filter((c) => claims[c] === undefined && info[c] !== undefined).map((c) => [c, info[c]]),
            ),
          };
        }
      } catch (err) {
        return fromError(err, "the code exchange");
      }
      const emailVerifiedSent = config.serverMetadata().claims_supported?.includes("email_verified") ?? false;
      const verdict = decide(policy, claims, tokenScopes, emailVerifiedSent);
      if ("denied" in verdict)
        return refuse(
          verdict.unusable ? "oidc_identity_invalid" : "oidc_not_allowed",
          403,
          `sign-in refused: ${verdict.denied}`,
        );
      const subject: SessionSubject = {
        user: verdict.user,
        sub: verdict.sub,
        credential: oidcCredentialId(policy, verdict.sub, verdict.scopes, verdict.email),
        ...(verdict.scopes !== undefined ? { scopes: verdict.scopes } : {}),
        ...(verdict.email !== undefined ? { email: verdict.email } : {}),
      };
      return { subject, returnTo: tx.returnTo };
    },

    identityOf(session) {
      if (session.sub === undefined || !session.credential.startsWith("oidc:")) return undefined;
      if (oidcCredentialId(policy, session.sub, session.scopes, session.email) !== session.credential) return undefined;
      // The allow-lists as they are now (a reload may have shortened them), and no token user of the same name with
      // other scopes (a reload may have added one): what a login would be refused for ends the session too.
      if (!emailAllowed(policy, session.email)) return undefined;
      if (tokenScopes?.has(session.user) && scopeKey(tokenScopes.get(session.user)) !== scopeKey(session.scopes))
        return undefined;
      // Signed by us, but possibly by a sidecar that did not yet check identities (issue 21): a session whose user is
      // not one this policy could grant today ends, and its holder signs in again.
      const again = ssoIdentity({ [policy.userClaim]: session.user }, policy.userClaim);
      if (!("user" in again) || again.user !== session.user) return undefined;
      return { user: session.user, ...(session.scopes !== undefined ? { scopes: session.scopes } : {}) };
    },

    async endSessionUrl() {
      try {
        const { config } = await configuration();
        if (config.serverMetadata().end_session_endpoint === undefined) return undefined;
        return client.buildEndSessionUrl(config, { client_id: opts.clientId, post_logout_redirect_uri: postLogoutUri });
      } catch {
        return undefined;
      }
    },
  };
}

class ProviderMisconfigured extends Error {}

/** Sorts a failure into what the user is told; the detail is a short code or sentence, never a token. */
export function classify(err: unknown): { kind: "unreachable" | "clock" | "provider" | "invalid"; detail: string } {
  for (
    let e: unknown = err, depth = 0;
    e !== undefined && e !== null && depth < 6;
    e = (e as { cause?: unknown }).cause, depth++
  ) {
    const x = e as { name?: string; code?: string; message?: string; claim?: string };
    if (
      x.name === "TimeoutError" ||
      x.name === "AbortError" ||
      x.code === "OAUTH_TIMEOUT" ||
      e instanceof joseErrors.JWKSTimeout
    )
      return { kind: "unreachable", detail: "timed out" };
    if (
      typeof x.code === "string" &&
      /^(ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|ETIMEDOUT|EPIPE|UND_ERR_\w+)$/.test(
        x.code,
      )
    )
      return { kind: "unreachable", detail: x.code };
    if (
      e instanceof joseErrors.JWTExpired ||
      (e instanceof joseErrors.JWTClaimValidationFailed && ["iat", "nbf", "exp"].includes(e.claim))
    )
      return { kind: "clock", detail: e.message };
    if (x.code === "OAUTH_JWT_TIMESTAMP_CHECK_FAILED")
      return {
        kind: "clock",
        detail:
          (e as Error).message +
          ((e as { cause?: { message?: string } }).cause?.message
            ? `: ${(e as { cause: { message: string } }).cause.message}`
            : ""),
      };
    if (e instanceof joseErrors.JWKSNoMatchingKey)
      return {
        kind: "invalid",
        detail: "the ID token is signed with a key that is not in the provider's JWKS, even after fetching it again",
      };
    if (e instanceof joseErrors.JOSEError)
      return { kind: "invalid", detail: `${x.code ?? "JOSE"}: ${x.message ?? ""}` };
    if (e instanceof client.ResponseBodyError)
      return {
        kind: "provider",
        detail: `${e.error}${e.error_description ? ` (${e.error_description.slice(0, 200)})` : ""}`,
      };
    if (e instanceof ProviderMisconfigured) return { kind: "provider", detail: e.message };
    if (
      x.code === "OAUTH_RESPONSE_IS_NOT_CONFORM" ||
      x.code === "OAUTH_RESPONSE_IS_NOT_JSON" ||
      x.code === "OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED" ||
      x.code === "OAUTH_INVALID_SERVER_METADATA"
    ) {
      return { kind: "provider", detail: x.message ?? x.code };
    }
    if (e instanceof TypeError && x.message === "fetch failed" && (e as { cause?: unknown }).cause === undefined)
      return { kind: "unreachable", detail: "fetch failed" };
  }
  const x = err as { code?: string; message?: string };
  return { kind: "invalid", detail: `${x.code ? `${x.code}: ` : ""}${x.message ?? String(err)}`.slice(0, 300) };
}
