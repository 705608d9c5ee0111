// The authentication point of identity and local modes. Nothing reaches the gateway until the client proved it holds
// a configured token: as a one-time `?token=` login (answered with a signed HttpOnly cookie and a redirect that drops
// the token from the URL), as `Authorization: Bearer`, or with that cookie on later requests and WebSocket upgrades.
// Failed attempts are limited per client address — in local mode the gateway exempts loopback from its own limiter,
// so this one is the only brake on guessing. A lockout refuses wrong tokens only: the right one always passes, because
// behind docker-proxy or NAT every client shares one address and a stranger's guesses must not lock its owner out;
// what keeps guessing infeasible is the token's length (config.ts MIN_TOKEN_LENGTH) and the late answer a locked
// address gets for each wrong one. What the gate consumed or refused is never forwarded (scrub()). update() swaps the
// credentials, cookie keys and single sign-on's allow-lists without a restart; each upgrade it admits carries a
// stillValid() check that answers by the ones in force (proxy/reload.ts closes the WebSockets whose check fails).
import { randomBytes } from "node:crypto";
import {
  type CookieKeys,
  FailureLimiter,
  TokenVerifier,
  bearerToken,
  limiterKey,
  parseCookies,
  signSession,
  verifySession,
} from "./credentials.ts";
import type { Mode } from "../forwarding/forwarded-headers.ts";
import type { Credential } from "./credentials.ts";
import type { ConnectRequest } from "../http/connect-frame.ts";
import type { ConnectDecision } from "../http/forward-upgrade.ts";
import type { ClientView, Identity } from "../forwarding/forwarded-headers.ts";
import type { RequestHead } from "../http/http1.ts";
import type { Logger } from "../ops/log.ts";
import type { AuthFailure, Metrics, UpgradeResult } from "../ops/metrics.ts";
import { loginPage } from "./login-page.ts";
import { CLIENT_ID_HEADER, CLIENT_SECRET_HEADER, MachineCredentials, sameScopes } from "./machine-credentials.ts";
import {
  CONTROL_UI_SHELL_PATHS,
  JOIN_LINK_PATHS,
  SELF_AUTHENTICATING_PATHS,
  createPublicPathMatcher,
} from "./public-paths.ts";
import { type Refusal, type Reply, refusalReply, wantsHtml } from "../http/responses.ts";
import { type SsoGate, type SsoGateOptions, createSsoGate } from "./sso/sso-gate.ts";

export const COOKIE_NAME = "openclaw_sidecar_session";

/** How late a wrong token from a locked-out address is answered (see throttle()). */
export const LOCKED_ANSWER_DELAY_MS = 1000;
/**
 * Late answers waiting at once, at most. Each holds a timer and a request its client already sent (within
 * maxConnections anyway); past the bound the answer goes at once — a fixed cost beats an unbounded queue, and the
 * bound is far above what one person's browser ever has waiting.
 */
const MAX_LATE_ANSWERS = 256;

/** An upgrade the gate refuses: the outcome to count and the response to write. */
export interface UpgradeRefusal {
  result: UpgradeResult;
  refusal: Refusal;
}

/**
 * An upgrade without a session, forwarded with `held`'s identity while its first message is held until `check`
 * finds a valid sidecar token in it (the Control UI's token field and `#token=` links: connect-frame.ts).
 */
export interface HeldUpgrade {
  held: Identity;
  check(request: ConnectRequest): ConnectDecision;
  /** Once `check` admitted it: whether the token its connect frame carried is still configured (see update()). */
  stillValid(): boolean;
}

/**
 * An upgrade admitted by a credential a reload can withdraw (a token, a machine credential, a session): forwarded
 * with `identity` (none in local mode), and closed when `stillValid()` fails after an update() (forward-upgrade.ts).
 */
export interface AdmittedUpgrade {
  identity: Identity | undefined;
  stillValid(): boolean;
}

/**
 * Decides, before anything is forwarded, whether a request may pass. Returns the identity to inject (identity mode),
 * undefined to pass without one (local mode, public paths), or the answer to send instead (login page, 401,
 * redirect, refused upgrade); failures are counted here. Consumed credentials are removed from `head.headers`.
 */
export interface AuthGate {
  checkRequest(
    head: RequestHead,
    view: ClientView,
  ): Identity | undefined | Reply | Promise<Identity | undefined | Reply>;
  checkUpgrade(
    head: RequestHead,
    view: ClientView,
  ): Identity | undefined | UpgradeRefusal | HeldUpgrade | AdmittedUpgrade | Promise<Identity | UpgradeRefusal>;
  /**
   * Takes the reloadable part of `options` (RELOADABLE_GATE_OPTIONS) in place of the current one: requests from now
   * on are judged by it, and every AdmittedUpgrade/HeldUpgrade's stillValid() answers by it. Throws, changing
   * nothing, when the new credentials cannot be used.
   */
  update(options: GateOptions): void;
}

/**
 * What update() takes from new options: the credentials, the cookie secrets, the token-field login (its default
 * follows the number of users), and single sign-on's allow-lists. Everything else needs a restart.
 */
export const RELOADABLE_GATE_OPTIONS = ["credentials", "cookieSecrets", "controlUiTokenLogin"] as const;
export const RELOADABLE_OIDC_OPTIONS = ["allowedEmails", "allowedDomains", "scopesByGroup"] as const;

/** The options the gate reads (validated in options/): its credentials, sessions, limiter and routes. */
export interface GateOptions extends SsoGateOptions {
  mode: Mode;
  credentials: Credential[];
  /** HMAC keys for session cookies, newest first; none: a random key per process. */
  cookieSecrets: string[];
  authMaxFailures: number;
  authWindowMs: number;
  authLockoutMs: number;
  /** Set when the sidecar serves TLS itself: session cookies are then Secure. */
  tlsCert: string | undefined;
  publicPaths: string[];
  /**
   * Identity mode, one user: the Control UI's shell loads without a session and a session-less WebSocket is held
   * until its connect frame carries the sidecar token (the UI's token field, `#token=` links).
   */
  controlUiTokenLogin: boolean;
  /**
   * Identity mode: the node and worker routes that carry their own short-lived credentials (join links /j/…, the
   * worker WebSocket, worker bootstrap artifacts) are forwarded without an identity, and never inherit one.
   */
  selfAuthenticatingRoutes: boolean;
  allowedOrigins: string[];
}

type Refused = { failure: AuthFailure; refusal: Refusal };
/** Admitted, and by what (for an upgrade's stillValid): a machine credential, a token, or a session cookie's value. */
type Admitted = { identity: Identity; machine?: Credential; token?: Credential; session?: string };
type Verdict = Admitted | Refused;

/** What update() swaps: everything built from the credentials and the cookie keys. */
interface Keyring {
  verifier: TokenVerifier;
  machines: MachineCredentials;
  keys: CookieKeys;
  sso: SsoGate | undefined;
  /** The token-field login's one user (controlUiTokenLogin), or none. */
  tokenFieldUser: Credential | undefined;
  isShell: (url: string) => boolean;
}

export function createAuthGate(initial: GateOptions, logger: Logger, metrics: Metrics): AuthGate {
  // The options that update() never changes are read from here; the reloadable ones from `ring`.
  const config = initial;
  // Without a configured secret, one random key for the life of the process (a reload keeps it: sessions survive).
  const randomKey = randomBytes(32).toString("hex");
  if (config.cookieSecrets.length === 0) {
    logger.warn(
      "no cookieSecret configured: using a random one; sessions end when the sidecar restarts and replicas do not share them",
    );
  }
  const limiter = new FailureLimiter({
    maxFailures: config.authMaxFailures,
    windowMs: config.authWindowMs,
    lockoutMs: config.authLockoutMs,
    maxKeys: 100_000,
  });
  const ttlMs = config.cookieTtlSeconds * 1000;
  const local = config.mode === "local";
  const secureCookie = config.tlsCert !== undefined || config.publicOrigin?.protocol === "https:";
  // Under publicBasePath the session cookie is scoped to the prefix: "Path=/claw" (no trailing slash) matches the
  // bare prefix and everything below it — whichever of the two the Control UI opens its WebSocket at — and not /clawx.
  const base = config.publicBasePath;

  /** The keyring for `options`' credentials and secrets; throws on credentials that cannot be used. */
  function buildKeyring(options: GateOptions, first: boolean): Keyring {
    const verifier = new TokenVerifier(options.credentials.filter((c) => c.clientId === undefined));
    const machines = new MachineCredentials(options.credentials);
    const secrets = options.cookieSecrets.length > 0 ? options.cookieSecrets : [randomKey];
    const keys: CookieKeys = {
      current: Buffer.from(secrets[0] as string),
      previous: secrets.slice(1).map((s) => Buffer.from(s)),
    };
    // Single sign-on (issue 12): OIDC login and verified assertions from a proxy in front, when configured.
    const sso = createSsoGate(options, {
      keys,
      logger,
      metrics,
      cookieName: COOKIE_NAME,
      secureCookie,
      quiet: !first,
      tokenScopes: new Map(options.credentials.map((c) => [c.user, c.scopes])),
      // Same-origin is the scheme and host this client used (never allowedOrigins: those are other sites, trusted for
      // WebSockets only), or the configured publicOrigin, which is ours by definition.
      isSameOrigin: (origin, view) =>
        originAllowed(origin, view.proto, view.host, []) || origin === config.publicOrigin?.origin,
    });
    // The token-field login: the Control UI's shell loads without a session, and a session-less upgrade is held for
    // its connect frame. One user only: the identity goes on the upgrade, before the frame can say whose token it is.
    const tokenFieldUser = options.controlUiTokenLogin
      ? options.credentials.find((c) => c.clientId === undefined)
      : undefined;
    const isShell = createPublicPathMatcher(tokenFieldUser !== undefined ? CONTROL_UI_SHELL_PATHS : [], base);
    return { verifier, machines, keys, sso, tokenFieldUser, isShell };
  }
  let ring = buildKeyring(config, true);

  const identityOf = (cred: Credential): Identity => ({
    user: cred.user,
    ...(cred.scopes ? { scopes: cred.scopes } : {}),
  });
  const sameIdentity = (a: Identity | undefined, b: Identity): boolean =>
    a !== undefined && a.user === b.user && sameScopes(a.scopes, b.scopes);
  /** Whether the token credential `id` still names `identity` (its user and scopes) in the current keyring. */
  const tokenStands = (id: string, identity: Identity) => (): boolean => {
    const cred = ring.verifier.byCredentialId(id);
    return cred !== undefined && sameIdentity(identityOf(cred), identity);
  };
  /**
   * Whether a session cookie admitted at `at` would still be admitted as `identity`: its signature checked against the
   * current cookie keys, its credential (token or single sign-on policy) against the current credentials. Its expiry
   * is judged as of the admission: a WebSocket outliving its cookie is not ended by a reload (nor without one).
   */
  const sessionStands = (value: string, at: number, identity: Identity) => (): boolean => {
    const { keys, sso, verifier } = ring;
    const session = verifySession(keys, value, at);
    if ("error" in session) return false;
    if (sso?.ownsSession(session)) return sameIdentity(sso.sessionIdentity(session), identity);
    const cred = verifier.byCredentialId(session.credential);
    return cred !== undefined && cred.user === session.user && sameIdentity(identityOf(cred), identity);
  };
  /** What keeps an upgrade admitted by `verdict` open after a reload (see AuthGate.update). */
  function standing(verdict: Admitted): () => boolean {
    const { identity } = verdict;
    if (verdict.machine !== undefined) {
      const cred = verdict.machine;
      return () => ring.machines.holds(cred);
    }
    if (verdict.token !== undefined) return tokenStands(ring.verifier.idOf(verdict.token), identity);
    if (verdict.session !== undefined) return sessionStands(verdict.session, Date.now(), identity);
    return () => true;
  }
  const unauthorized = (message: string): Refusal => ({ status: 401, type: "unauthorized", message });

  function fail(view: ClientView, failure: AuthFailure, what: string): Refused {
    metrics.authFailures.inc({ reason: failure });
    // Only guessed tokens count towards the lockout. A stale cookie (expired, or signed with a retired secret) is
    // not a guess — an HMAC cannot be guessed — and a browser sends it with every asset it loads: counting those
    // would lock its user out of the very login page that replaces the cookie.
    if (failure === "bad_token") limiter.recordFailure(limiterKey(view.clientAddress), Date.now());
    logger.info({ kind: "auth", client: view.clientAddress, reason: failure }, `authentication failed: ${what}`);
    return { failure, refusal: unauthorized(what) };
  }

  /**
   * The refusal of a wrong token from a locked-out client. The token is always looked at first: behind docker-proxy
   * every client shares one address, and the right token — like a valid session cookie, an HMAC that cannot be
   * guessed (issue 11, finding 10) — must keep working while someone else's guesses hold the lockout. Counted as
   * rate_limited; the lockout itself is neither extended nor restarted by it.
   */
  function lockedOut(view: ClientView): Refusal | undefined {
    if (!limiter.isLocked(limiterKey(view.clientAddress), Date.now())) return undefined;
    metrics.authFailures.inc({ reason: "rate_limited" });
    logger.info(
      { kind: "auth", client: view.clientAddress, reason: "rate_limited" },
      "authentication failed: a wrong token from a locked-out address",
    );
    return {
      status: 429,
      type: "rate_limited",
      message: "too many failed attempts; try again later",
      headers: { "retry-after": String(Math.ceil(config.authLockoutMs / 1000)) },
    };
  }

  /** A wrong token: refused as rate-limited while the address is locked out, else counted towards the lockout. */
  function wrong(view: ClientView, what: string): Refused {
    const locked = lockedOut(view);
    return locked !== undefined ? { failure: "rate_limited", refusal: locked } : fail(view, "bad_token", what);
  }

  let lateAnswers = 0;
  /**
   * The wait before a locked-out address hears that its token was wrong, so that it cannot test guesses at full speed
   * (a client that waits for each answer gets one a second per connection). Only wrong tokens ever wait: the right
   * one has already passed. Undefined (answer now) when MAX_LATE_ANSWERS already wait.
   */
  function throttle(): Promise<void> | undefined {
    if (lateAnswers >= MAX_LATE_ANSWERS) return undefined;
    lateAnswers++;
    return new Promise((resolve) => {
      setTimeout(() => {
        lateAnswers--;
        resolve();
      }, LOCKED_ANSWER_DELAY_MS).unref();
    });
  }
  /** `value` as the answer to `verdict`: late when it refuses a locked-out address (see throttle()). */
  function answer<T>(verdict: Verdict, value: T): T | Promise<T> {
    const wait = "failure" in verdict && verdict.failure === "rate_limited" ? throttle() : undefined;
    return wait === undefined ? value : wait.then(() => value);
  }

  /** Checks machine, Bearer and cookie credentials; the caller handles ?token= logins. Strips what it consumed. */
  function verify(req: RequestHead, view: ClientView): Verdict {
    const { machines, verifier, keys, sso } = ring;
    const clientId = req.headers[CLIENT_ID_HEADER];
    const clientSecret = req.headers[CLIENT_SECRET_HEADER];
    if (machines.size > 0 && typeof clientId === "string" && typeof clientSecret === "string") {
      delete req.headers[CLIENT_ID_HEADER];
      delete req.headers[CLIENT_SECRET_HEADER];
      const cred = machines.verify(clientId, clientSecret);
      if (cred === undefined) return wrong(view, "the machine credential (CF-Access-Client-Id/-Secret) is not valid");
      limiter.recordSuccess(limiterKey(view.clientAddress));
      return { identity: identityOf(cred), machine: cred };
    }
    const bearer = bearerToken(req.headers.authorization);
    if (bearer !== undefined) {
      const cred = verifier.verify(bearer);
      if (cred === undefined) return wrong(view, "the bearer token is not valid");
      limiter.recordSuccess(limiterKey(view.clientAddress));
      // In local mode the token is the gateway's own: its HTTP routes want it too, and get it in one spelling —
      // exactly the token checked here, whatever whitespace or scheme case the client used ("Bearer \t<token>" was
      // forwarded as sent: found by the gate fuzzer). In identity mode it is ours alone.
      if (local) req.headers.authorization = `Bearer ${bearer}`;
      else delete req.headers.authorization;
      return { identity: identityOf(cred), token: cred };
    }
    const cookies = parseCookies(req.headers.cookie);
    const session = cookies.get(COOKIE_NAME);
    if (session !== undefined) {
      stripCookie(req, cookies);
      const result = verifySession(keys, session, Date.now());
      if ("error" in result)
        return fail(
          view,
          result.error === "expired" ? "expired_cookie" : "bad_cookie",
          `the session cookie is ${result.error === "expired" ? "expired" : "not valid"}`,
        );
      if (sso?.ownsSession(result)) {
        const identity = sso.sessionIdentity(result);
        return identity !== undefined
          ? { identity, session }
          : fail(view, "bad_cookie", "the single sign-on settings changed since this session began: sign in again");
      }
      // The credential the session was issued for, with its own scopes; a retired token has ended its sessions.
      const cred = verifier.byCredentialId(result.credential);
      if (cred === undefined || cred.user !== result.user)
        return fail(view, "bad_cookie", "the session's credential is no longer configured");
      return { identity: identityOf(cred), session };
    }
    metrics.authFailures.inc({ reason: "missing" });
    return {
      failure: "missing",
      refusal: unauthorized(
        "authentication required: open the dashboard link with ?token=…, or send Authorization: Bearer",
      ),
    };
  }

  /** A Bearer (checked later), or a session cookie that verifies and names a credential still configured. */
  function hasUsableSession(req: RequestHead): boolean {
    const { keys, sso, verifier } = ring;
    if (bearerToken(req.headers.authorization) !== undefined) return true;
    const value = parseCookies(req.headers.cookie).get(COOKIE_NAME);
    const session = value === undefined ? undefined : verifySession(keys, value, Date.now());
    if (session === undefined || "error" in session) return false;
    return sso?.ownsSession(session)
      ? sso.sessionIdentity(session) !== undefined
      : verifier.byCredentialId(session.credential)?.user === session.user;
  }

  // Paths the gateway moved under the prefix follow it: the Control UI's shell, join links (the gateway finds
  // `/j/<code>` anywhere in the path: /claw/j/… is its join route, measured on 2026.9.6) and the configured public
  // paths (written relative to the prefix). The worker routes stay at the root (/claw/__openclaw__/worker is the UI's
  // fallback page), outside the prefix, where nothing is forwarded (router.ts).
  const isPublic = createPublicPathMatcher(config.publicPaths, base);
  // Join links, the worker WebSocket and worker artifacts carry credentials of their own (selfAuthenticatingRoutes).
  const isSelfAuthenticating = createPublicPathMatcher(
    !config.selfAuthenticatingRoutes ? [] : base === "" ? SELF_AUTHENTICATING_PATHS : JOIN_LINK_PATHS,
    base,
  );

  /**
   * Judges a held upgrade's first message, with the same limiter and counters as every other token attempt;
   * `admitted` learns the credential that passed.
   */
  function checkConnect(
    request: ConnectRequest,
    view: ClientView,
    admitted: (cred: Credential) => void,
  ): ConnectDecision {
    const { verifier, tokenFieldUser } = ring;
    const refuse = (
      result: "unauthenticated" | "rate_limited",
      message: string,
      detailCode: string,
      authReason: string,
    ): ConnectDecision => ({ ok: false, result, message, detailCode, authReason });
    if (!request.isConnect || request.token === undefined) {
      metrics.authFailures.inc({ reason: "missing" });
      logger.info(
        { kind: "auth", client: view.clientAddress, reason: "missing" },
        "authentication failed: the first WebSocket message carried no token",
      );
      return refuse(
        "unauthenticated",
        "unauthorized: gateway token missing (open the dashboard link with #token=<the sidecar's token>, or paste the sidecar's token in Control UI settings)",
        "AUTH_TOKEN_MISSING",
        "token_missing",
      );
    }
    const cred = verifier.verify(request.token);
    if (cred === undefined || cred.user !== tokenFieldUser?.user) {
      const verdict = wrong(view, "the token in the connect frame is not valid");
      if (verdict.failure === "rate_limited") {
        const after = throttle();
        return {
          ...refuse(
            "rate_limited",
            "unauthorized: too many failed authentication attempts (retry later)",
            "AUTH_RATE_LIMITED",
            "rate_limited",
          ),
          ...(after !== undefined ? { after } : {}),
        };
      }
      return refuse(
        "unauthenticated",
        "unauthorized: gateway token mismatch (open the dashboard URL and paste the sidecar's token in Control UI settings)",
        "AUTH_TOKEN_MISMATCH",
        "token_mismatch",
      );
    }
    limiter.recordSuccess(limiterKey(view.clientAddress));
    logger.info({ kind: "auth", client: view.clientAddress, user: cred.user }, "login (connect frame)");
    admitted(cred);
    return { ok: true };
  }
  /** A session-less upgrade held for the token-field user's connect frame; it stands while that token does. */
  function hold(user: Credential, view: ClientView): HeldUpgrade {
    let stands: (() => boolean) | undefined;
    return {
      held: identityOf(user),
      check: (request) =>
        checkConnect(request, view, (cred) => (stands = tokenStands(ring.verifier.idOf(cred), identityOf(cred)))),
      stillValid: () => stands?.() ?? true,
    };
  }
  const pass = (identity: Identity): Identity | undefined => (local ? undefined : identity);

  /**
   * What the gateway must not receive once the gate let a request through (issue "Identity is data, never syntax"):
   * the sidecar's session cookie, the proxy's assertion and a machine credential's pair — the sidecar's own
   * credentials, on every route — and, in identity mode, Authorization except where the sidecar never looks at it
   * (public paths, self-authenticating routes: the gateway checks it there). Elsewhere it was consumed (a valid
   * Bearer), refused (a wrong one on the Control UI shell), or ignored because another credential decided (a cookie,
   * an assertion, a machine credential — possibly someone else's token riding along). Local mode keeps it: its
   * Bearer is the gateway's own token, checked here first. The table: docs/security.md (credentials).
   */
  function scrub(req: RequestHead, keepAuthorization: boolean): void {
    const { sso, machines } = ring;
    const cookies = parseCookies(req.headers.cookie);
    if (cookies.has(COOKIE_NAME)) stripCookie(req, cookies);
    if (sso?.assertionHeader !== undefined) delete req.headers[sso.assertionHeader];
    if (machines.size > 0) {
      delete req.headers[CLIENT_ID_HEADER];
      delete req.headers[CLIENT_SECRET_HEADER];
    }
    if (!local && !keepAuthorization) delete req.headers.authorization;
  }
  /** Scrubs `req` when `verdict` forwards it (an identity, none, or a held upgrade), once the verdict is known. */
  function scrubbed<Now, Later>(
    req: RequestHead,
    keepAuthorization: boolean,
    verdict: Now | Promise<Later>,
  ): Now | Promise<Later> {
    const then = <T>(v: T): T => {
      if (v === undefined || (typeof v === "object" && v !== null && !("status" in v) && !("refusal" in v)))
        scrub(req, keepAuthorization);
      return v;
    };
    return verdict instanceof Promise ? verdict.then(then) : then(verdict);
  }

  function checkRequest(
    req: RequestHead,
    view: ClientView,
  ): Identity | undefined | Reply | Promise<Identity | undefined | Reply> {
    const { sso, isShell, verifier, keys } = ring;
    if (isPublic(req.url)) return undefined;
    if (isSelfAuthenticating(req.url)) return undefined;
    const single = sso?.checkRequest(req, view);
    if (single !== undefined) return single;
    // A browser's navigation without a usable session goes to the provider's login page.
    if (sso?.isNavigation(req) && !hasUsableSession(req)) return sso.startLogin(req, view);
    if (isShell(req.url) && (req.method === "GET" || req.method === "HEAD") && !req.url.includes("token=")) {
      // The gateway serves its Control UI shell to anyone; with the token-field login it must load before a token
      // exists. A credential that comes along is still checked (its user then reaches the gateway), but a stale one
      // never keeps the page from loading — and is not forwarded either (scrub()).
      if (bearerToken(req.headers.authorization) === undefined && !parseCookies(req.headers.cookie).has(COOKIE_NAME))
        return undefined;
      const verdict = verify(req, view);
      return "identity" in verdict ? pass(verdict.identity) : undefined;
    }
    // Parsed as a path on our own origin: a target such as "//evil.com/" is never read as an authority here.
    const url = new URL(`http://sidecar${req.url.startsWith("/") ? req.url : "/"}`);
    const login = url.searchParams.get("token");
    if (login !== null && (req.method === "GET" || req.method === "HEAD")) {
      const cred = verifier.verify(login);
      if (cred === undefined) {
        const verdict = wrong(view, "the token in the link is not valid");
        return answer(
          verdict,
          verdict.failure === "rate_limited"
            ? refusalReply({ ...verdict.refusal, home: `${base}/` }, wantsHtml(req.headers))
            : respond(req, verdict),
        );
      }
      limiter.recordSuccess(limiterKey(view.clientAddress));
      url.searchParams.delete("token");
      // Local mode: hand the token on in the fragment, where the Control UI reads it for its connect frame and
      // where it never travels to a server again.
      const fragment = local ? `#token=${encodeURIComponent(login)}` : "";
      const session = signSession(keys, { user: cred.user, credential: verifier.idOf(cred) }, Date.now(), ttlMs);
      const cookie = `${COOKIE_NAME}=${session}; Path=${base || "/"}; HttpOnly; SameSite=Lax; Max-Age=${config.cookieTtlSeconds}${secureCookie ? "; Secure" : ""}`;
      logger.info({ kind: "auth", client: view.clientAddress, user: cred.user }, "login");
      return {
        status: 303,
        headers: {
          Location: `${sameOriginPath(url.pathname)}${url.search}${fragment}`,
          "Set-Cookie": cookie,
          "Cache-Control": "no-store",
        },
        body: "",
      };
    }
    const verdict = verify(req, view);
    if ("identity" in verdict) return pass(verdict.identity);
    return answer(verdict, respond(req, verdict));
  }

  function checkUpgrade(
    req: RequestHead,
    view: ClientView,
  ): Identity | undefined | UpgradeRefusal | HeldUpgrade | AdmittedUpgrade | Promise<Identity | UpgradeRefusal> {
    const { sso, tokenFieldUser } = ring;
    // Cross-site WebSocket hijacking: a page elsewhere must not ride the user's cookie into the gateway.
    const origin = req.headers.origin;
    if (origin !== undefined && !originAllowed(origin, view.proto, view.host, config.allowedOrigins)) {
      return {
        result: "origin_not_allowed",
        refusal: {
          status: 403,
          type: "origin_not_allowed",
          message: `origin ${origin} is not allowed (allowedOrigins)`,
        },
      };
    }
    // A self-authenticating route never inherits an identity, whatever else the client holds — an assertion
    // included (it is scrubbed, never verified there), as for HTTP requests.
    if (isSelfAuthenticating(req.url)) return undefined;
    // A proxy's assertion decides alone when it comes along; an upgrade never starts a login.
    const asserted = sso?.checkUpgrade(req, view);
    if (asserted !== undefined) return asserted;
    // Public paths never apply to upgrades: the gateway serves its control WebSocket on almost any path, so a
    // public /healthz would be an unauthenticated tunnel (issue 11, finding 2).
    const presented =
      bearerToken(req.headers.authorization) !== undefined ||
      parseCookies(req.headers.cookie).has(COOKIE_NAME) ||
      req.headers[CLIENT_ID_HEADER] !== undefined;
    if (!presented && tokenFieldUser !== undefined) return hold(tokenFieldUser, view);
    const verdict = verify(req, view);
    // A stale session (rotated secret, expired) falls back to the token field rather than locking the page out.
    if (
      "failure" in verdict &&
      tokenFieldUser !== undefined &&
      (verdict.failure === "bad_cookie" || verdict.failure === "expired_cookie")
    ) {
      return hold(tokenFieldUser, view);
    }
    if ("identity" in verdict) return { identity: pass(verdict.identity), stillValid: standing(verdict) };
    return answer<UpgradeRefusal>(verdict, {
      result: verdict.failure === "rate_limited" ? "rate_limited" : "unauthenticated",
      refusal: verdict.refusal,
    });
  }

  return {
    // Authorization is the gateway's business only where the sidecar never reads it (scrub()).
    checkRequest: (req, view) =>
      scrubbed(req, isPublic(req.url) || isSelfAuthenticating(req.url), checkRequest(req, view)),
    // Public paths never apply to upgrades (checkUpgrade); self-authenticating ones do, whatever decided.
    checkUpgrade: (req, view) => scrubbed(req, isSelfAuthenticating(req.url), checkUpgrade(req, view)),
    update(options) {
      const next = buildKeyring(
        {
          ...config,
          credentials: options.credentials,
          cookieSecrets: options.cookieSecrets,
          controlUiTokenLogin: options.controlUiTokenLogin,
          oidc:
            config.oidc && options.oidc
              ? {
                  ...config.oidc,
                  allowedEmails: options.oidc.allowedEmails,
                  allowedDomains: options.oidc.allowedDomains,
                  scopesByGroup: options.oidc.scopesByGroup,
                }
              : config.oidc,
        },
        false,
      );
      ring = next;
    },
  };
}

/** A refused request's answer: the sign-in page for a browser's navigation, else the refusal as JSON. */
function respond(req: RequestHead, { failure, refusal }: Refused): Reply {
  if (refusal.status === 401 && wantsHtml(req.headers) && (req.method === "GET" || req.method === "HEAD")) {
    return {
      status: 401,
      headers: { "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store" },
      body: loginPage(LOGIN_PROBLEMS[failure]),
    };
  }
  return refusalReply(refusal, false);
}

/** What the sign-in page says went wrong, in a person's words (the log keeps the cause); nothing on a first visit. */
const LOGIN_PROBLEMS: Partial<Record<AuthFailure, string>> = {
  bad_token: "That access token is not valid.",
  expired_cookie: "Your session has expired.",
  bad_cookie: "Your session is no longer valid.",
};

/**
 * The configured origins; with none configured, same-origin only: Origin equals the scheme and host the client used
 * to reach the sidecar (ours, or a trusted hop's X-Forwarded-Proto/-Host), default ports folded.
 */
export function originAllowed(origin: string, proto: string, host: string | undefined, allowed: string[]): boolean {
  if (allowed.length > 0) return allowed.includes(origin) || allowed.includes("*");
  if (host === undefined) return false;
  try {
    return new URL(origin).origin === new URL(`${proto}://${host}`).origin;
  } catch {
    return false;
  }
}

/**
 * A login redirect's path, never read as another origin: "//evil.com/" (or "/\evil.com", which URL parsers read
 * the same way) would be a protocol-relative Location (issue 11, finding 5). Leading slashes collapse into one.
 */
export function sameOriginPath(pathname: string): string {
  return pathname.replace(/^[/\\]+/, "/");
}

/** Removes the sidecar's session cookie from what the gateway receives; other cookies pass. */
function stripCookie(req: RequestHead, cookies: Map<string, string>): void {
  cookies.delete(COOKIE_NAME);
  if (cookies.size === 0) delete req.headers.cookie;
  else req.headers.cookie = [...cookies].map(([k, v]) => `${k}=${v}`).join("; ");
}
