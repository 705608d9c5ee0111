// Single sign-on at the gate: what identity mode does with OIDC login (oidc-login.ts) and with verified assertions
// from a proxy in front (assertion.ts), as the answers src/gate/auth-gate.ts gives. The callback turns a login into the
// sidecar's own session cookie (the same signed cookie token logins get, bound to the provider's subject and the
// scopes it was granted); /logout ends it, and at the provider too when the provider advertises RP-initiated logout —
// only when the request shows it comes from our own pages or the user's own hand (a cross-site link or form must not
// sign anyone out: it is asked to confirm instead). Only an HTTP navigation ever starts a login: a WebSocket without a
// session is refused as before.
import { type CookieKeys, type SessionSubject, parseCookies, signSession, verifySession } from "../credentials.ts";
import { type AssertionFailure, type AssertionVerifier, createAssertionVerifier } from "./assertion.ts";
import type { ClientView, Identity } from "../../forwarding/forwarded-headers.ts";
import type { RequestHead } from "../../http/http1.ts";
import type { Logger } from "../../ops/log.ts";
import type { AuthFailure, Metrics } from "../../ops/metrics.ts";
import { LOGOUT_PATH, OIDC_TX_COOKIE, type OidcFailure, type OidcLogin, createOidcLogin } from "./oidc-login.ts";
import { html, renderPage } from "../../http/page.ts";
import { type Refusal, type Reply, refusalReply, wantsHtml } from "../../http/responses.ts";
import { SSO_DEFAULTS, type SsoConfig } from "./sso-settings.ts";

export interface SsoGate {
  /** OIDC is configured: navigations without a usable session start a login. */
  readonly startsLogins: boolean;
  /** The request header that carries the proxy's assertion (trustAssertion): never forwarded, on any route. */
  readonly assertionHeader: string | undefined;
  /** The callback, /logout, or a request carrying the proxy's assertion; undefined when none of them. */
  checkRequest(req: RequestHead, view: ClientView): Promise<Identity | Reply> | undefined;
  /** An upgrade carrying the proxy's assertion; undefined when it carries none. Never starts a login. */
  checkUpgrade(
    req: RequestHead,
    view: ClientView,
  ): Promise<Identity | { result: "unauthenticated"; refusal: Refusal }> | undefined;
  /** Whether a session is one of ours (an OIDC login); its identity when its credential id still holds. */
  ownsSession(session: SessionSubject): boolean;
  sessionIdentity(session: SessionSubject): Identity | undefined;
  /** A GET/HEAD navigation a login may start from. */
  isNavigation(req: RequestHead): boolean;
  startLogin(req: RequestHead, view: ClientView): Promise<Reply>;
}

export interface SsoGateDeps {
  keys: CookieKeys;
  logger: Logger;
  metrics: Metrics;
  cookieName: string;
  secureCookie: boolean;
  /** The users of token credentials and their scopes (a single sign-on user may not be one with other scopes). */
  tokenScopes: ReadonlyMap<string, string[] | undefined>;
  /** Whether an Origin header names the origin this client reached the sidecar at. */
  isSameOrigin(origin: string, view: ClientView): boolean;
  /** Built again by a reload: the warnings about the configuration were given at startup. */
  quiet?: boolean;
}

/** The options single sign-on reads: its own settings, and the session cookie's lifetime and the public origin. */
export interface SsoGateOptions extends SsoConfig {
  /** The origin users open (the OIDC redirect URI is built on it); OIDC needs it. */
  publicOrigin: URL | undefined;
  /** The path prefix everything is served under ("" = the root): the callback, /logout and the pages' links. */
  publicBasePath: string;
  cookieTtlSeconds: number;
}

export function createSsoGate(config: SsoGateOptions, deps: SsoGateDeps): SsoGate | undefined {
  if (config.oidc === undefined && config.assertion === undefined) return undefined;
  const { keys, logger, metrics } = deps;
  // Under publicBasePath the callback, /logout, the pages' links and the session cookie live below the prefix.
  const base = config.publicBasePath;
  const logoutPath = `${base}${LOGOUT_PATH}`;
  const home = `${base}/`;
  const oidc: OidcLogin | undefined =
    config.oidc && config.publicOrigin
      ? createOidcLogin(
          {
            ...config.oidc,
            issuer: config.oidc.issuer,
            redirectPath: `${base}${config.oidc.redirectPath}`,
            logoutPath,
            publicOrigin: config.publicOrigin,
            clockToleranceSeconds: SSO_DEFAULTS.clockToleranceSeconds,
            jwksCooldownMs: SSO_DEFAULTS.jwksCooldownMs,
          },
          keys,
          deps.tokenScopes,
        )
      : undefined;
  if (oidc !== undefined && config.oidc?.issuer.protocol === "http:" && deps.quiet !== true) {
    logger.warn(
      { issuer: config.oidc.issuer.href },
      "oidcIssuer is plain http: codes and tokens cross the network unencrypted; use it only for a provider on a private network",
    );
  }
  const assertion: AssertionVerifier | undefined =
    config.assertion &&
    createAssertionVerifier({
      ...config.assertion,
      timeoutMs: config.oidc?.timeoutMs ?? SSO_DEFAULTS.oidcTimeoutMs,
      clockToleranceSeconds: SSO_DEFAULTS.clockToleranceSeconds,
      jwksCooldownMs: SSO_DEFAULTS.jwksCooldownMs,
    });
  const ttlMs = config.cookieTtlSeconds * 1000;
  const sessionCookie = (value: string, maxAge: number) =>
    `${deps.cookieName}=${value}; Path=${base || "/"}; HttpOnly; SameSite=Lax; Max-Age=${maxAge}${deps.secureCookie ? "; Secure" : ""}`;

  const count = (view: ClientView, failure: OidcFailure | AssertionFailure, message: string) => {
    const reason: AuthFailure = failure; // the two unions stay within the metric's label set
    metrics.authFailures.inc({ reason });
    logger.info({ kind: "auth", client: view.clientAddress, reason: failure }, `single sign-on refused: ${message}`);
  };
  const answer = (req: RequestHead, refusal: Refusal): Reply =>
    refusalReply({ ...refusal, home }, wantsHtml(req.headers));
  const pathOf = (req: RequestHead) => new URL(`http://sidecar${req.url.startsWith("/") ? req.url : "/"}`).pathname;

  async function callback(req: RequestHead, view: ClientView): Promise<Reply> {
    const login = oidc as OidcLogin;
    const result = await login.callback(req.url, parseCookies(req.headers.cookie).get(OIDC_TX_COOKIE));
    if ("failure" in result) {
      count(view, result.failure, result.refusal.message);
      return answer(req, result.refusal);
    }
    const session = signSession(keys, result.subject, Date.now(), ttlMs);
    logger.info(
      {
        kind: "auth",
        client: view.clientAddress,
        user: result.subject.user,
        sub: result.subject.sub,
        scopes: result.subject.scopes,
      },
      "login (single sign-on)",
    );
    // Two cookies in one answer: the session, and the end of the login transaction. Header names are
    // case-insensitive, so the two spellings are two Set-Cookie lines.
    return {
      status: 303,
      headers: {
        Location: result.returnTo,
        "Set-Cookie": sessionCookie(session, config.cookieTtlSeconds),
        "set-cookie": login.clearTxCookie,
        "Cache-Control": "no-store",
      },
      body: "",
    };
  }

  /**
   * Evidence that a logout was asked for on our own pages, or by the user's own hand. An Origin header decides when
   * there is one (a cross-site form's, or "null", is no evidence). Without one, Sec-Fetch-Site: same-origin (a link or
   * form on our pages), or none — the browser sends "none" only for a navigation no page started: the address bar, a
   * bookmark. A site cannot make a browser send it, so it is the user's intent as surely as our own sign-out button.
   * A client with neither header (an old browser, a script) gets the confirmation page and can press its button.
   */
  function sameOriginIntent(req: RequestHead, view: ClientView): boolean {
    const origin = req.headers.origin;
    if (typeof origin === "string") return origin !== "null" && deps.isSameOrigin(origin, view);
    const site = req.headers["sec-fetch-site"];
    return site === "same-origin" || site === "none";
  }

  async function logout(req: RequestHead, view: ClientView): Promise<Reply> {
    const value = parseCookies(req.headers.cookie).get(deps.cookieName);
    const session = value === undefined ? undefined : verifySession(keys, value, Date.now());
    const valid = session !== undefined && !("error" in session) ? session : undefined;
    // Logout is not a cross-site action: a link or form elsewhere neither ends the session nor sends the browser to the
    // provider. A browser that still has a session is asked; one without is told it is signed out (which is also where
    // the provider sends it back after an RP-initiated logout, from its own origin).
    if (!sameOriginIntent(req, view)) {
      const page = { "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store", ...NOT_FRAMED };
      return {
        status: 200,
        headers: page,
        body: valid !== undefined ? confirmLogoutPage(logoutPath, home) : signedOutPage(home),
      };
    }
    const ours = valid?.credential.startsWith("oidc:") ? valid : undefined;
    const cleared = { "Set-Cookie": sessionCookie("", 0), "Cache-Control": "no-store" };
    if (ours !== undefined) logger.info({ kind: "auth", client: view.clientAddress, user: ours.user }, "logout");
    // Only a browser that still had a session is sent to the provider: it comes back here without one, and is shown
    // the page below instead of being sent round again.
    const end = ours !== undefined ? await oidc?.endSessionUrl() : undefined;
    if (end !== undefined) return { status: 303, headers: { Location: end.href, ...cleared }, body: "" };
    return {
      status: 200,
      headers: { "Content-Type": "text/html; charset=utf-8", ...cleared },
      body: signedOutPage(home),
    };
  }

  async function verifyAssertion(req: RequestHead, view: ClientView, token: string): Promise<Identity | Refusal> {
    const verdict = await (assertion as AssertionVerifier).verify(token);
    if ("failure" in verdict) {
      count(view, verdict.failure, verdict.refusal.message);
      return verdict.refusal;
    }
    return verdict;
  }

  /** Takes the assertion out of the request (it is consumed here, never forwarded). */
  function takeAssertion(req: RequestHead): string | undefined {
    if (assertion === undefined) return undefined;
    const value = req.headers[assertion.header];
    delete req.headers[assertion.header];
    if (value === undefined) return undefined;
    return Array.isArray(value) ? "" : value.trim(); // a repeated header is never a valid assertion
  }

  return {
    startsLogins: oidc !== undefined,
    assertionHeader: assertion?.header,

    checkRequest(req, view) {
      if (oidc !== undefined) {
        const path = pathOf(req);
        if (path === oidc.redirectPath && (req.method === "GET" || req.method === "HEAD")) return callback(req, view);
        if (path === logoutPath && (req.method === "GET" || req.method === "HEAD" || req.method === "POST"))
          return logout(req, view);
      }
      const token = takeAssertion(req);
      if (token === undefined) return undefined;
      return verifyAssertion(req, view, token).then((v) => ("status" in v ? answer(req, v) : v));
    },

    checkUpgrade(req, view) {
      const token = takeAssertion(req);
      if (token === undefined) return undefined;
      return verifyAssertion(req, view, token).then((v) =>
        "status" in v ? { result: "unauthenticated" as const, refusal: v } : v,
      );
    },

    ownsSession: (session) => session.credential.startsWith("oidc:"),
    sessionIdentity: (session) => oidc?.identityOf(session),

    isNavigation(req) {
      if (oidc === undefined || (req.method !== "GET" && req.method !== "HEAD") || !wantsHtml(req.headers))
        return false;
      const path = pathOf(req);
      return path !== oidc.redirectPath && path !== logoutPath && !/[?&]token=/.test(req.url);
    },

    async startLogin(req, view) {
      const result = await (oidc as OidcLogin).start(returnPath(req.url, home));
      if ("failure" in result) {
        count(view, result.failure, result.refusal.message);
        return answer(req, result.refusal);
      }
      return result;
    },
  };
}

/** Where to come back to: the request's own path and query, never another origin, bounded. */
function returnPath(target: string, home: string): string {
  const url = new URL(`http://sidecar${target.startsWith("/") ? target : "/"}`);
  const path = `${url.pathname.replace(/^[/\\]+/, "/")}${url.search}`;
  return path.length > 2000 ? home : path;
}

/** The confirmation page must never be framed: a frame on another site could trick its button into a click. */
const NOT_FRAMED = { "Content-Security-Policy": "frame-ancestors 'none'", "X-Frame-Options": "DENY" };

/** Asked instead of signing out on a request without same-origin evidence: its button posts from our own page. */
function confirmLogoutPage(logoutPath: string, home: string): string {
  return renderPage({
    heading: "Sign out?",
    next: "Press Sign out to end your session on the OpenClaw dashboard, or go back to the dashboard to stay signed in.",
    body: html`<div class="actions">
      <form method="post" action="${logoutPath}"><button class="button" type="submit">Sign out</button></form>
      <a href="${home}">Back to the dashboard</a>
    </div> `,
  });
}

function signedOutPage(home: string): string {
  return renderPage({
    heading: "Signed out",
    next: "You are signed out of the OpenClaw dashboard: press Sign in again to use it once more.",
    body: html`<p class="actions"><a class="button" href="${home}">Sign in again</a></p> `,
  });
}
