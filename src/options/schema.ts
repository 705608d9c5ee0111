// The one list of options: for each its config-file key, flag, environment name, default (as shown), one-line
// description and group. Validation (config.ts) accepts exactly these names, and `--help`, `<command> --help`,
// check-config and docs/options.md (`npm run docs:options`) are written from it, so none of them can drift.
import { SSO_DEFAULTS } from "../gate/sso/sso-settings.ts";

/** Default values the validation falls back to (config.ts), also shown in the help and the docs. */
export const DEFAULTS = {
  listen: "0.0.0.0:18789",
  upstream: "http://openclaw-gateway:18789",
  adminListen: "127.0.0.1:9477",
  mode: "attribution",
  loopbackSubstitute: "192.0.2.1", // RFC 5737 TEST-NET-1: never a real client, never loopback
  upstreamTimeoutMs: 60_000,
  upgradeTimeoutMs: 10_000,
  headersTimeoutMs: 10_000,
  // The Control UI sends its connect right after the gateway's challenge; the gateway's own pre-auth deadline is 15 s.
  heldUpgradeTimeoutMs: 10_000,
  bodyTimeoutMs: 60_000,
  sendTimeoutMs: 60_000,
  maxConnections: 10_000, // two descriptors each: within the compose file's nofile 65536 with room to spare
  maxHeaderBytes: 16_384,
  drainTimeoutMs: 5_000, // Docker sends SIGKILL 10 s after SIGTERM
  hsts: false,
  identityHeader: "x-forwarded-user",
  user: "operator",
  cookieTtlSeconds: 12 * 3600,
  selfAuthenticatingRoutes: false,
  authMaxFailures: 10,
  authWindowMs: 60_000,
  authLockoutMs: 300_000,
  logLevel: "info",
  acmeDirectory: "letsencrypt",
  acmeChallenge: "http-01", // port 80 is published anyway for the redirect; docs/https.md says why
  acmeRetryMs: 60_000,
  oidcRedirectPath: SSO_DEFAULTS.oidcRedirectPath,
  oidcScopes: SSO_DEFAULTS.oidcScopes,
  oidcUserClaim: SSO_DEFAULTS.oidcUserClaim,
  oidcTimeoutMs: SSO_DEFAULTS.oidcTimeoutMs,
  assertionUserClaim: SSO_DEFAULTS.assertionUserClaim,
} as const;

/** The groups, in the order the help and the docs list them. */
export const GROUPS = [
  "Listeners and upstream",
  "Forwarding",
  "Timeouts and limits",
  "TLS",
  "Automatic HTTPS (ACME)",
  "Credentials and sessions",
  "Login limiter",
  "MCP Apps",
  "Logging",
  "Single sign-on: OIDC login",
  "Single sign-on: verified assertions",
] as const;
export type OptionGroup = (typeof GROUPS)[number];

interface Spec {
  readonly key: string;
  readonly group: OptionGroup;
  /** One line: what it is, its values. */
  readonly description: string;
  /** The default as shown, when it is not a plain value of DEFAULTS (derived, conditional, or none). */
  readonly shownDefault?: string;
}

/**
 * Every option, in the order the validation and the import from nginx have always used (OPTION_KEYS). The env name
 * and the flag are derived from the key (envName, flagName), so the three names cannot disagree.
 */
export const OPTIONS = [
  { key: "listen", group: "Listeners and upstream", description: "proxy address host:port; IPv6 as [::]:18789" },
  {
    key: "upstream",
    group: "Listeners and upstream",
    description: "the gateway, scheme://host:port only",
  },
  {
    key: "adminListen",
    group: "Listeners and upstream",
    description: "admin listener: /healthz, /readyz, /metrics",
  },
  {
    key: "publicBasePath",
    group: "Listeners and upstream",
    description: "serve the dashboard under this path prefix, e.g. /claw (the gateway's controlUi.basePath)",
    shownDefault: "none: the root",
  },
  { key: "mode", group: "Forwarding", description: "attribution, identity or local (docs/modes.md)" },
  {
    key: "trustedHops",
    group: "Forwarding",
    description: "CIDRs of proxies in front whose X-Forwarded-For/-Proto/-Host are believed (comma-separated)",
  },
  {
    key: "allowedClients",
    group: "Forwarding",
    description: "CIDRs or addresses of the only clients let in (the client after trustedHops); others get 403",
    shownDefault: "everyone",
  },
  {
    key: "loopbackSubstitute",
    group: "Forwarding",
    description: "sent as X-Forwarded-For when the client is loopback (the gateway refuses a loopback XFF)",
  },
  {
    key: "upstreamTimeoutMs",
    group: "Timeouts and limits",
    description: "time to the gateway's response headers, then 504",
  },
  { key: "upgradeTimeoutMs", group: "Timeouts and limits", description: "time to the gateway's 101, then 504" },
  {
    key: "headersTimeoutMs",
    group: "Timeouts and limits",
    description: "time for a client to send its request headers, then 408",
  },
  {
    key: "heldUpgradeTimeoutMs",
    group: "Timeouts and limits",
    description: "controlUiTokenLogin: time after the 101 for a held WebSocket's connect frame, then close 1008",
  },
  {
    key: "bodyTimeoutMs",
    group: "Timeouts and limits",
    description: "longest pause between two reads of a request body, then 408",
  },
  {
    key: "sendTimeoutMs",
    group: "Timeouts and limits",
    description: "a client that reads nothing of its response for this long is disconnected",
  },
  {
    key: "maxConnections",
    group: "Timeouts and limits",
    description: "client connections open at once (HTTP and WebSocket); beyond it 503",
  },
  { key: "maxHeaderBytes", group: "Timeouts and limits", description: "larger request headers get 431" },
  {
    key: "drainTimeoutMs",
    group: "Timeouts and limits",
    description: "on SIGTERM/SIGINT: grace for in-flight requests and WebSockets",
  },
  { key: "tlsCert", group: "TLS", description: "PEM certificate file to terminate TLS with (re-read on change)" },
  { key: "tlsKey", group: "TLS", description: "PEM key file for tlsCert" },
  {
    key: "httpsRedirectListen",
    group: "TLS",
    description: "a plain-HTTP listener answering 308 to HTTPS (and ACME http-01)",
  },
  { key: "hsts", group: "TLS", description: "send Strict-Transport-Security (TLS only): true or false" },
  {
    key: "identityHeader",
    group: "Forwarding",
    description: "the gateway's trustedProxy.userHeader; always stripped from clients",
  },
  {
    key: "passHeaders",
    group: "Forwarding",
    description: "headers of the common identity set to pass on instead of stripping (comma-separated)",
  },
  {
    key: "token",
    group: "Credentials and sessions",
    description: "the token (identity: the user's; local: the gateway's), at least 16 characters, or sha256:<hex>",
  },
  { key: "tokenFile", group: "Credentials and sessions", description: "a file holding token (instead of token)" },
  { key: "user", group: "Credentials and sessions", description: "the identity token maps to" },
  {
    key: "tokensFile",
    group: "Credentials and sessions",
    description: "JSON array of {user, token or tokenSha256, scopes?} or machine credentials",
  },
  {
    key: "cookieSecret",
    group: "Credentials and sessions",
    description: "session cookie secrets, at least 32 characters each; several (comma-separated) for rotation",
    shownDefault: "random per start",
  },
  {
    key: "cookieSecretFile",
    group: "Credentials and sessions",
    description: "a file of cookie secrets, one per line (instead of cookieSecret)",
  },
  { key: "cookieTtlSeconds", group: "Credentials and sessions", description: "session lifetime in seconds" },
  {
    key: "publicOrigin",
    group: "Credentials and sessions",
    description: "the origin users open, e.g. https://claw.example.com",
  },
  {
    key: "allowedOrigins",
    group: "Credentials and sessions",
    description: "Origins allowed to open WebSockets (identity, local; comma-separated)",
    shownDefault: "publicOrigin, else same-origin",
  },
  {
    key: "publicPaths",
    group: "Credentials and sessions",
    description: "HTTP paths that skip the sidecar's authentication: exact, or prefixes ending in /",
  },
  {
    key: "controlUiTokenLogin",
    group: "Credentials and sessions",
    description: "the Control UI's token field and #token= links (needs exactly one user)",
    shownDefault: "true in identity mode with one user and no single sign-on",
  },
  {
    key: "selfAuthenticatingRoutes",
    group: "Credentials and sessions",
    description: "identity mode: join links and worker routes pass without an identity, never inheriting one",
  },
  { key: "appsListen", group: "MCP Apps", description: "a second listener for the MCP Apps sandbox origin" },
  {
    key: "appsUpstream",
    group: "MCP Apps",
    description: "the gateway's MCP Apps sandbox listener",
    shownDefault: "the gateway's host, port + 1",
  },
  {
    key: "appsPublicOrigin",
    group: "MCP Apps",
    description: "the origin users reach appsListen at; must differ from publicOrigin",
  },
  { key: "authMaxFailures", group: "Login limiter", description: "failed logins per client address in the window" },
  { key: "authWindowMs", group: "Login limiter", description: "the window failed logins are counted in" },
  { key: "authLockoutMs", group: "Login limiter", description: "how long an address stays locked out" },
  { key: "logLevel", group: "Logging", description: "fatal, error, warn, info, debug, trace or silent" },
  {
    key: "logFormat",
    group: "Logging",
    description: "json (one JSON object a line) or pretty (time, level, message, key=value)",
    shownDefault: "pretty on a terminal, else json",
  },
  {
    key: "acmeDomains",
    group: "Automatic HTTPS (ACME)",
    description: "DNS names (comma-separated) to obtain one certificate for; instead of tlsCert/tlsKey",
  },
  { key: "acmeEmail", group: "Automatic HTTPS (ACME)", description: "contact address for the ACME account" },
  {
    key: "acmeDirectory",
    group: "Automatic HTTPS (ACME)",
    description: "the CA: letsencrypt, letsencrypt-staging, or an https: directory URL",
  },
  {
    key: "acmeDirectoryCaFile",
    group: "Automatic HTTPS (ACME)",
    description: "PEM CA certificates trusted for the directory's HTTPS (a private CA)",
  },
  {
    key: "acmeStorage",
    group: "Automatic HTTPS (ACME)",
    description: "directory for the account key and certificates; a volume that survives restarts",
    shownDefault: "none (required with acmeDomains)",
  },
  {
    key: "acmeChallenge",
    group: "Automatic HTTPS (ACME)",
    description: "http-01 (on httpsRedirectListen) or tls-alpn-01 (on the TLS listener)",
  },
  { key: "acmeEabKid", group: "Automatic HTTPS (ACME)", description: "external account binding: the key id" },
  {
    key: "acmeEabHmacKey",
    group: "Automatic HTTPS (ACME)",
    description: "external account binding: the base64url HMAC key (never printed)",
  },
  {
    key: "acmeRetryMs",
    group: "Automatic HTTPS (ACME)",
    description: "first retry after a failed order; doubled per failure up to 1 h",
  },
  {
    key: "oidcIssuer",
    group: "Single sign-on: OIDC login",
    description: "identity mode: sign in through this OpenID provider",
  },
  {
    key: "oidcClientId",
    group: "Single sign-on: OIDC login",
    description: "the client registered at the provider",
  },
  {
    key: "oidcClientSecret",
    group: "Single sign-on: OIDC login",
    description: "its secret (a public client has none)",
  },
  {
    key: "oidcClientSecretFile",
    group: "Single sign-on: OIDC login",
    description: "a file holding oidcClientSecret",
  },
  {
    key: "oidcRedirectPath",
    group: "Single sign-on: OIDC login",
    description: "the callback; the redirect URI to register is publicOrigin + publicBasePath + this path",
  },
  { key: "oidcScopes", group: "Single sign-on: OIDC login", description: "requested scopes (space or comma)" },
  {
    key: "oidcAllowedEmails",
    group: "Single sign-on: OIDC login",
    description: "who may sign in, by verified email address",
  },
  { key: "oidcAllowedDomains", group: "Single sign-on: OIDC login", description: "who may sign in, by email domain" },
  {
    key: "oidcUserClaim",
    group: "Single sign-on: OIDC login",
    description: "the claim that becomes the identity header",
  },
  {
    key: "oidcGroupsClaim",
    group: "Single sign-on: OIDC login",
    description: "the claim listing the user's groups",
    shownDefault: "groups with oidcScopesByGroup",
  },
  {
    key: "oidcScopesByGroup",
    group: "Single sign-on: OIDC login",
    description: 'JSON {"group": ["operator.read", …]} → x-openclaw-scopes',
  },
  {
    key: "oidcTimeoutMs",
    group: "Single sign-on: OIDC login",
    description: "deadline of each request to the provider (and of JWKS fetches)",
  },
  {
    key: "trustAssertion",
    group: "Single sign-on: verified assertions",
    description: "identity mode: verify a proxy's signed JWT: cloudflare-access, pomerium or generic",
  },
  {
    key: "assertionHeader",
    group: "Single sign-on: verified assertions",
    description: "the request header carrying the JWT",
    shownDefault: "per vendor",
  },
  {
    key: "assertionJwksUrl",
    group: "Single sign-on: verified assertions",
    description: "where the signing keys are",
    shownDefault: "per vendor",
  },
  {
    key: "assertionTeamDomain",
    group: "Single sign-on: verified assertions",
    description: "Cloudflare: <team>.cloudflareaccess.com (gives the JWKS URL and issuer)",
  },
  {
    key: "assertionAudience",
    group: "Single sign-on: verified assertions",
    description: "accepted aud values (Cloudflare's AUD tag, Pomerium's route domain)",
  },
  {
    key: "assertionIssuer",
    group: "Single sign-on: verified assertions",
    description: "accepted iss values",
    shownDefault: "per vendor",
  },
  {
    key: "assertionUserClaim",
    group: "Single sign-on: verified assertions",
    description: "the claim that becomes the identity header",
  },
] as const satisfies readonly Spec[];

export type OptionKey = (typeof OPTIONS)[number]["key"];
export type OptionSpec = (typeof OPTIONS)[number];

export const OPTION_KEYS: readonly OptionKey[] = OPTIONS.map((o) => o.key);

type SsoGroup = "Single sign-on: OIDC login" | "Single sign-on: verified assertions";
export type SsoOptionKey = Extract<OptionSpec, { group: SsoGroup }>["key"];
export const SSO_OPTION_KEYS = OPTIONS.filter((o) => o.group.startsWith("Single sign-on")).map(
  (o) => o.key,
) as readonly SsoOptionKey[];

export const envName = (key: string): string =>
  `OPENCLAW_SIDECAR_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
export const flagName = (key: string): string => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

/** The default as the help and the docs show it. */
export function shownDefault(spec: OptionSpec): string {
  if ("shownDefault" in spec) return spec.shownDefault;
  const value = (DEFAULTS as Record<string, string | number | boolean>)[spec.key];
  return value === undefined ? "none" : String(value);
}

/**
 * OPENCLAW_SIDECAR_* variables that are not options and are still accepted in the sidecar's environment: a typo among
 * them cannot be told from a variable someone else set there on purpose.
 */
export const OTHER_ENV: readonly { name: string; why: string }[] = [
  { name: "OPENCLAW_SIDECAR_CONFIG", why: "the config file to read (like --config)" },
  { name: "OPENCLAW_SIDECAR_IMAGE", why: "the compose files' image to run" },
  {
    name: "OPENCLAW_SIDECAR_PORT",
    why: "the compose files' published host port (Kubernetes service links set it too)",
  },
  { name: "OPENCLAW_SIDECAR_BEARER", why: "the CLI's edgeAuth header, from print-client-config" },
];
/**
 * What Kubernetes injects for a Service named openclaw-sidecar unless enableServiceLinks is off (the manifests in
 * deploy/ turn it off; a hand-written Deployment may not): never options, and never an error.
 */
export const SERVICE_LINK_ENV =
  /^OPENCLAW_SIDECAR_(SERVICE_HOST|SERVICE_PORT(_[A-Z0-9_]+)?|PORT_\d+_(TCP|UDP|SCTP)(_[A-Z]+)?)$/;

/**
 * What docs/options.md says of an option beyond its one line (units, what happens at the limit, what is refused),
 * in Markdown. The help keeps to the one line; the docs page shows this instead where there is one.
 */
export const DETAILS: Partial<Record<OptionKey, string>> = {
  listen: "proxy address; IPv6 as `[::]:18789` (dual-stack)",
  upstream: "the gateway, `scheme://host:port` only",
  adminListen: "`/healthz`, `/readyz`, `/metrics`",
  mode: "`attribution`, `identity` or `local`",
  trustedHops:
    "CIDRs of proxies in front of the sidecar (a TLS load balancer); their `X-Forwarded-For` is walked right to left, their `X-Forwarded-Proto/-Host` believed; from anyone else all of it is discarded. An IPv4-mapped entry means its IPv4 range, as client addresses are matched in IPv4 form (`::ffff:10.0.0.0/104` is `10.0.0.0/8`); refused: a mapped prefix under /96 (`::ffff:10.0.0.0/8` would be `::/8`), bits set past the prefix (`10.0.0.1/8`), IPv4 shorthands (`10.1`) and IPv6 zones",
  allowedClients:
    "the only clients let in, as CIDRs or single addresses (comma-separated); matched against the client the sidecar resolves — the peer, or behind `trustedHops` the client their `X-Forwarded-For` names, not the hop — before any authentication, on the main origin and `appsListen`. Others get `403 client_not_allowed` (a page for a browser, JSON otherwise; an upgrade before the 101) and nothing reaches the gateway. Entries are read as `trustedHops` reads them (same rules, same refusals). Empty: everyone ([Allowing only some clients](security.md#allowing-only-some-clients))",
  loopbackSubstitute:
    "sent as `X-Forwarded-For` when the client is loopback (docker-proxy userland forwarding, `network_mode: host`): the gateway refuses a loopback XFF with 403",
  upstreamTimeoutMs: "time to the gateway's response headers, then 504",
  upgradeTimeoutMs: "time to the gateway's 101, then 504; an established WebSocket has no timeout",
  headersTimeoutMs: "time for a client to send its request headers (slowloris), then 408",
  heldUpgradeTimeoutMs:
    "`controlUiTokenLogin`: time after the 101 for a held WebSocket's first message (the `connect` with the token) to arrive whole; then the client gets close 1008 `handshake timeout: no connect frame within <ms> ms`, the gateway's socket is closed, and it counts as `websocket_upgrades_total{result=\"held_timeout\"}`",
  bodyTimeoutMs:
    "longest pause between two reads of a request body (nginx's `client_body_timeout`), then 408 `request_body_timeout` and both connections closed; not counted while the gateway is the one not reading",
  sendTimeoutMs:
    "a client that reads nothing of its response for this long is disconnected (nginx's `send_timeout`); pipelined requests wait until the previous answer has drained",
  maxConnections:
    "client connections open at once, HTTP and WebSocket (two descriptors each); beyond it a new connection is answered `503 too_many_connections` with `Retry-After: 1` and closed, and counted in `connections_refused_total`",
  maxHeaderBytes: "larger request headers get 431",
  drainTimeoutMs: "on SIGTERM/SIGINT: grace for in-flight requests and WebSockets, then 1001",
  tlsCert: "terminate TLS; the files are re-read on change without dropping connections",
  tlsKey: "terminate TLS; the files are re-read on change without dropping connections",
  httpsRedirectListen: "a plain-HTTP listener answering 308 to HTTPS",
  hsts: "send `Strict-Transport-Security` (TLS only)",
  identityHeader: "the gateway's `trustedProxy.userHeader`; always stripped from clients",
  passHeaders:
    "headers of the common identity set (below) to pass on instead of stripping, e.g. `cf-connecting-ip` behind Cloudflare; the gateway's own trust headers can never be listed",
  token:
    "the token (identity: the user's; local: the gateway's), at least 16 characters (`openssl rand -hex 32`); `sha256:<hex>` accepted (its length cannot be checked)",
  tokenFile:
    "the token (identity: the user's; local: the gateway's), at least 16 characters (`openssl rand -hex 32`); `sha256:<hex>` accepted (its length cannot be checked); re-read on change and SIGHUP ([without a restart](security.md#changing-credentials-without-a-restart))",
  user: "the identity `token` maps to",
  tokensFile:
    "JSON array of `{user, token \\| tokenSha256, scopes?}` (a `token` at least 16 characters); one user may have several tokens only with the same scopes; a session is bound to the entry it was issued for, so removing a token ends its sessions and closes its WebSockets; re-read on change and SIGHUP ([without a restart](security.md#changing-credentials-without-a-restart))",
  cookieSecret:
    "≥ 32 characters; several (comma or one per line) for rotation: the first signs, all verify; from the `--config` file, re-read on change and SIGHUP ([without a restart](security.md#changing-credentials-without-a-restart))",
  cookieSecretFile:
    "≥ 32 characters; several (comma or one per line) for rotation: the first signs, all verify; re-read on change and SIGHUP ([without a restart](security.md#changing-credentials-without-a-restart))",
  cookieTtlSeconds: "session lifetime",
  publicOrigin: "the origin users open, e.g. `https://claw.example.com`",
  publicBasePath:
    "serve everything under this path prefix of a shared host, e.g. `/claw`: the dashboard, its WebSocket and the sidecar's own routes (logins, `/logout`, the OIDC callback, session cookies with `Path=/claw`); nothing outside it is forwarded (`/` and `/claw` redirect to `/claw/`, the rest is a 404), in every mode. Set the gateway's `gateway.controlUi.basePath` to the same value (print-gateway-config does) and never strip the prefix in a proxy in front. Segments of `A-Z a-z 0-9 . _ ~ -`, no `.` or `..`; a trailing `/` is dropped. See [Serving under a path prefix](modes.md#serving-under-a-path-prefix)",
  allowedOrigins: "Origins allowed to open WebSockets (identity, local)",
  publicPaths:
    "HTTP paths that skip the sidecar's authentication, under `publicBasePath` when set (`/assets/` is then `/claw/assets/`): exact (`/healthz`; `/` alone is the root document only) or prefixes ending in `/` (`/assets/`), matched on the path the gateway resolves (dot segments, `%2e`, `\\`), never with an encoded `/` or `\\`; never for WebSocket upgrades",
  controlUiTokenLogin:
    "the Control UI's token field and `#token=` links: its shell loads without a session, and a session-less WebSocket is held until its first message, `connect`, carries a valid sidecar token (see [Clients](clients.md)); needs exactly one user",
  selfAuthenticatingRoutes:
    "identity mode: join links (`/j/…`), the worker WebSocket (`/__openclaw__/worker`) and worker artifacts (`/__openclaw__/worker-bootstrap/artifacts/…`) pass without an identity and never inherit one; they keep their own credentials",
  appsListen: "a second listener for the MCP Apps sandbox origin",
  appsUpstream: "the gateway's MCP Apps sandbox listener",
  appsPublicOrigin:
    "the origin users reach `appsListen` at (the gateway's `mcp.apps.sandboxOrigin`); must differ from `publicOrigin`",
  authMaxFailures:
    "failed-login limiter per client address: a locked-out address's wrong tokens are answered 429 after one second; the right token always passes",
  authWindowMs:
    "failed-login limiter per client address: a locked-out address's wrong tokens are answered 429 after one second; the right token always passes",
  authLockoutMs:
    "failed-login limiter per client address: a locked-out address's wrong tokens are answered 429 after one second; the right token always passes",
  logLevel: "pino level",
  acmeDomains:
    "[automatic HTTPS](https.md#automatic-https): DNS names (comma-separated) to obtain one certificate for; instead of `tlsCert`/`tlsKey`",
  acmeEmail: "contact address for the ACME account",
  acmeDirectory: "the CA: `letsencrypt` (production), `letsencrypt-staging`, or an `https:` directory URL",
  acmeDirectoryCaFile: "PEM CA certificates trusted (besides the system's) for the directory's HTTPS: a private CA",
  acmeStorage: "directory for the account key and certificates (0700/0600); a volume that survives restarts",
  acmeChallenge:
    "`http-01` (answered on `httpsRedirectListen`, which it requires) or `tls-alpn-01` (on the TLS listener)",
  acmeEabKid: "external account binding, for CAs that require it; the key is never printed",
  acmeEabHmacKey: "external account binding, for CAs that require it; the key is never printed",
  acmeRetryMs: "first retry after a failed order; doubled per failure up to 1 h, jittered",
  oidcIssuer:
    "identity mode: sign in through this OpenID provider ([Single sign-on](single-sign-on.md)); needs `oidcClientId`, `publicOrigin` and at least one of the three allow options below",
  oidcClientId: "the client registered at the provider (a public client without a secret works too)",
  oidcClientSecret: "the client registered at the provider (a public client without a secret works too)",
  oidcClientSecretFile: "the client registered at the provider (a public client without a secret works too)",
  oidcRedirectPath:
    "the callback, under `publicBasePath`; the redirect URI to register is `publicOrigin` + `publicBasePath` + this path (check-config prints it)",
  oidcScopes: "requested scopes (add `groups` for Authelia)",
  oidcAllowedEmails:
    "who may sign in, by the `email` claim (never an address the provider marks `email_verified: false`); from the `--config` file, re-read on change and SIGHUP: a removed address's sessions end ([without a restart](security.md#changing-credentials-without-a-restart))",
  oidcAllowedDomains:
    "who may sign in, by the `email` claim (never an address the provider marks `email_verified: false`); from the `--config` file, re-read on change and SIGHUP: a removed domain's sessions end ([without a restart](security.md#changing-credentials-without-a-restart))",
  oidcUserClaim: "the claim that becomes the identity header",
  oidcGroupsClaim: "the claim listing the user's groups",
  oidcScopesByGroup:
    'JSON `{"group": ["operator.read", …]}` → `x-openclaw-scopes` (union over the user\'s groups); a user in none of them is refused; from the `--config` file, re-read on change and SIGHUP: a change ends every single sign-on session ([without a restart](security.md#changing-credentials-without-a-restart))',
  oidcTimeoutMs: "deadline of each request to the provider (and of assertion JWKS fetches), then 503",
  trustAssertion:
    "identity mode: verify a proxy's signed JWT per request: `cloudflare-access`, `pomerium` or `generic`",
  assertionHeader: "`cf-access-jwt-assertion`, `x-pomerium-jwt-assertion`; required for `generic`",
  assertionJwksUrl:
    "keys, accepted `aud` (Cloudflare's AUD tag, Pomerium's route domain), accepted `iss`, the user claim",
  assertionTeamDomain: "Cloudflare: `<team>.cloudflareaccess.com` (gives the JWKS URL and the issuer)",
  assertionAudience:
    "keys, accepted `aud` (Cloudflare's AUD tag, Pomerium's route domain), accepted `iss`, the user claim",
  assertionIssuer:
    "keys, accepted `aud` (Cloudflare's AUD tag, Pomerium's route domain), accepted `iss`, the user claim",
  assertionUserClaim:
    "keys, accepted `aud` (Cloudflare's AUD tag, Pomerium's route domain), accepted `iss`, the user claim",
};
