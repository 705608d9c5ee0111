// Configuration: defaults < config file (JSON) < environment (OPENCLAW_SIDECAR_*) < command-line flags.
// Everything is validated before anything listens, and every problem is reported at once, each message naming the
// option, the bad value and the rule. Of the rest of the sidecar it uses only the TLS key-pair check and the
// header classes of forwarded-headers.ts.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import ipaddr from "ipaddr.js";
import {
  ACME_CHALLENGES,
  acmeDirectoryUrl,
  acmeDomainList,
  acmeEmail,
  acmeStorageDir,
  eabHmacKey,
  pemCertificateFile,
} from "./acme-options.ts";
import { type Cidr, MODES, isCommonIdentityHeader, isGatewayTrustHeader } from "../forwarding/forwarded-headers.ts";
import type { GateOptions } from "../gate/auth-gate.ts";
import type { Credential } from "../gate/credentials.ts";
import { IDENTITY_RULE, identityProblem, scopeProblem } from "../gate/identity.ts";
import { validateSso } from "./sso-options.ts";
import { DEFAULTS, OPTION_KEYS, OTHER_ENV, type OptionKey, SERVICE_LINK_ENV, envName, flagName } from "./schema.ts";
import { didYouMean } from "./suggest.ts";
import type { AcmeSettings } from "../tls/acme-settings.ts";
import { readKeyPair } from "../tls/tls.ts";
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from "../ops/log.ts";

// The types the options are made of, declared by the parts that use them (each part owns its slice).
export { type Cidr, type Mode, MODES } from "../forwarding/forwarded-headers.ts";
export type { Credential } from "../gate/credentials.ts";
// The names and defaults live in the schema; these are re-exported for the callers that always imported them here.
export { DEFAULTS, OPTION_KEYS, type OptionKey, envName, flagName } from "./schema.ts";

export interface HostPort {
  host: string;
  port: number;
}

/**
 * The whole configuration. The parts below options/ declare what they read (GateOptions with single sign-on's
 * SsoGateOptions, AcmeSettings); Config is made of those slices and the rest, and each part receives only its own.
 */
export interface Config extends GateOptions, AcmeSettings {
  listen: HostPort;
  upstream: URL;
  adminListen: HostPort;
  /** Proxies in front of the sidecar whose X-Forwarded-For/-Proto/-Host are believed. */
  trustedHops: Cidr[];
  /** The only clients let in (after trustedHops), checked before authentication; empty: everyone. */
  allowedClients: Cidr[];
  /**
   * Sent as X-Forwarded-For when the client is loopback (docker-proxy, network_mode: host): the gateway refuses
   * loopback XFF.
   */
  loopbackSubstitute: string;
  upstreamTimeoutMs: number;
  upgradeTimeoutMs: number;
  /**
   * A held upgrade (controlUiTokenLogin) whose first message is not complete this long after the 101 is closed with
   * 1008: a client that never speaks must not pin a socket here and one at the gateway.
   */
  heldUpgradeTimeoutMs: number;
  /** A request body that sends no byte for this long is answered 408 (nginx's client_body_timeout). */
  bodyTimeoutMs: number;
  /** A client that reads nothing of its response for this long is disconnected (nginx's send_timeout). */
  sendTimeoutMs: number;
  /** Client connections open at once (HTTP and WebSocket); beyond it a new one is answered 503 and closed. */
  maxConnections: number;
  maxHeaderBytes: number;
  drainTimeoutMs: number;
  tlsKey: string | undefined;
  httpsRedirectListen: HostPort | undefined;
  hsts: boolean;
  identityHeader: string;
  /** Headers of the common identity/forwarding set that are passed on instead of stripped (lower case). */
  passHeaders: string[];
  /** A second listener for the MCP Apps sandbox origin (forwarded plainly to appsUpstream), or none. */
  appsListen: HostPort | undefined;
  /** The gateway's sandbox listener: by default the gateway's host at its port + 1. */
  appsUpstream: URL;
  /** The public origin users reach appsListen at (gateway mcp.apps.sandboxOrigin). */
  appsPublicOrigin: URL | undefined;
  logLevel: LogLevel;
  /** json or pretty; undefined: decided by the command line (pretty when stdout is a terminal). */
  logFormat: LogFormat | undefined;
  /**
   * The files this configuration was read from that a reload watches (proxy/reload.ts): the config file, tokenFile,
   * tokensFile, cookieSecretFile — whichever are set.
   */
  watchFiles: string[];
}

/** Raised with every problem found; the CLI prints them and exits 78 (EX_CONFIG). */
export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join("\n  - ")}`);
    this.name = "ConfigError";
    this.problems = problems;
  }
}

type Raw = Record<string, unknown>;
type Parser<T> = (value: unknown, name: string) => T;

export interface Sources {
  file?: string;
  env?: NodeJS.ProcessEnv;
  flags?: Record<string, string>;
}

/**
 * Loads and validates the configuration. Throws ConfigError listing every problem. `origins`, when given, receives
 * where each option that was set came from (check-config shows it): the config file, the variable or the flag.
 */
export function loadConfig(sources: Sources = {}, origins?: Map<OptionKey, string>): Config {
  const problems: string[] = [];
  const raw: Raw = {};
  const env = sources.env ?? {};
  const file = sources.file ?? env.OPENCLAW_SIDECAR_CONFIG;
  if (file !== undefined) {
    Object.assign(raw, readConfigFile(file, problems));
    for (const key of OPTION_KEYS) if (raw[key] !== undefined) origins?.set(key, `config file ${file}`);
  }
  for (const key of OPTION_KEYS) {
    const fromEnv = env[envName(key)];
    if (fromEnv !== undefined && fromEnv !== "") {
      raw[key] = fromEnv;
      origins?.set(key, envName(key));
    }
  }
  problems.push(...unknownEnvironment(env));
  for (const [flag, value] of Object.entries(sources.flags ?? {})) {
    const key = OPTION_KEYS.find((k) => flagName(k) === flag || k === flag);
    if (key === undefined) problems.push(`unknown option ${flag}${didYouMean(flag, [...FLAGS, "--config"])}`);
    else {
      raw[key] = value;
      origins?.set(key, flagName(key));
    }
  }
  const config = validate(raw, problems);
  if (problems.length > 0) throw new ConfigError(problems);
  config.watchFiles = [file, raw.tokenFile, raw.tokensFile, raw.cookieSecretFile].filter(
    (f): f is string => typeof f === "string" && f !== "",
  );
  return config;
}

const FLAGS = OPTION_KEYS.map(flagName);
const ENV_NAMES = OPTION_KEYS.map(envName);
const KNOWN_ENV = new Set([...ENV_NAMES, ...OTHER_ENV.map((e) => e.name)]);

/**
 * OPENCLAW_SIDECAR_* variables that are neither an option nor one of the variables set beside them on purpose: a
 * misspelt option would otherwise be ignored without a word, and its default used instead.
 */
function unknownEnvironment(env: NodeJS.ProcessEnv): string[] {
  return Object.keys(env)
    .filter((name) => name.startsWith("OPENCLAW_SIDECAR_") && !KNOWN_ENV.has(name) && !SERVICE_LINK_ENV.test(name))
    .sort()
    .map((name) => `${name}: unknown environment variable${didYouMean(name, ENV_NAMES)}`);
}

function readConfigFile(path: string, problems: string[]): Raw {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    problems.push(`config file ${path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    return {};
  }
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
      problems.push(`config file ${path}: must contain a JSON object`);
      return {};
    }
    for (const key of Object.keys(parsed)) {
      if (!(OPTION_KEYS as readonly string[]).includes(key))
        problems.push(`config file ${path}: unknown key "${key}"${didYouMean(key, OPTION_KEYS, (k) => `"${k}"`)}`);
    }
    return parsed as Raw;
  } catch (err) {
    problems.push(`config file ${path}: not valid JSON (${(err as Error).message})`);
    return {};
  }
}

function validate(raw: Raw, problems: string[]): Config {
  // Each parser throws a message; opt() records it and falls back so that every problem is reported in one run.
  const opt = <T>(key: OptionKey, parse: Parser<T>, fallback: T): T => {
    const value = raw[key];
    if (value === undefined) return fallback;
    try {
      return parse(value, key);
    } catch (err) {
      if (err instanceof AggregateError) problems.push(...err.errors.map((e: Error) => e.message));
      else problems.push((err as Error).message);
      return fallback;
    }
  };
  const d = DEFAULTS;
  const mode = opt("mode", oneOf(MODES), d.mode);
  const identityHeader = opt("identityHeader", headerName, d.identityHeader);
  const credentials = loadCredentials(raw, opt, problems);
  if (
    mode !== "attribution" &&
    credentials.length === 0 &&
    (mode !== "identity" || (raw.oidcIssuer === undefined && raw.trustAssertion === undefined))
  ) {
    problems.push(
      `mode "${mode}" needs credentials: set token (or tokenFile) or tokensFile${mode === "identity" ? ", or single sign-on (oidcIssuer, trustAssertion)" : ""}`,
    );
  }
  const cookieSecrets = opt("cookieSecret", list, []).concat(opt("cookieSecretFile", secretFileList, []));
  for (const secret of cookieSecrets) {
    if (secret.length < 32) problems.push("cookieSecret: each secret must be at least 32 characters");
  }
  const publicOrigin = opt("publicOrigin", origin, undefined);
  const publicBasePath = opt("publicBasePath", basePath, "");
  const tlsCert = opt("tlsCert", readableFile, undefined);
  const tlsKey = opt("tlsKey", readableFile, undefined);
  if ((tlsCert === undefined) !== (tlsKey === undefined)) problems.push("tlsCert and tlsKey: set both or neither");
  if (tlsCert !== undefined && tlsKey !== undefined) {
    try {
      readKeyPair(tlsCert, tlsKey);
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  // The token-field login puts one identity on the upgrade before the frame names its token: one user only.
  const users = new Set(credentials.filter((c) => c.clientId === undefined).map((c) => c.user));
  // Not by default beside single sign-on: there a session-less WebSocket is refused, never held for a token.
  const sso = raw.oidcIssuer !== undefined || raw.trustAssertion !== undefined;
  const controlUiTokenLogin = opt("controlUiTokenLogin", bool, mode === "identity" && users.size === 1 && !sso);
  if (controlUiTokenLogin && mode !== "identity")
    problems.push(`controlUiTokenLogin: only identity mode has it (mode is "${mode}")`);
  else if (controlUiTokenLogin && users.size > 1)
    problems.push(
      `controlUiTokenLogin: needs exactly one user, and the credentials name ${users.size}; with several users, log in with ?token= or a Bearer header instead`,
    );
  const selfAuthenticatingRoutes = opt("selfAuthenticatingRoutes", bool, d.selfAuthenticatingRoutes);
  // In local mode everything the sidecar forwards is the gateway's loopback: a node joining that way would be paired
  // as a local client. Identity mode only.
  if (selfAuthenticatingRoutes && mode !== "identity")
    problems.push(
      `selfAuthenticatingRoutes: only identity mode has it (mode is "${mode}"; in local mode a join through the sidecar would be paired as a local client)`,
    );
  const listen = opt("listen", hostPort, hostPort(d.listen, "listen"));
  const upstream = opt("upstream", upstreamUrl, new URL(d.upstream));
  const appsListen = opt("appsListen", hostPort, undefined);
  const appsUpstream = opt(
    "appsUpstream",
    upstreamUrl,
    new URL(
      `${upstream.protocol}//${upstream.hostname}:${(Number(upstream.port) || (upstream.protocol === "https:" ? 443 : 80)) + 1}`,
    ),
  );
  const appsPublicOrigin = opt("appsPublicOrigin", origin, undefined);
  if (appsPublicOrigin !== undefined && publicOrigin !== undefined && appsPublicOrigin.origin === publicOrigin.origin) {
    problems.push("appsPublicOrigin: must differ from publicOrigin (the MCP Apps sandbox needs an origin of its own)");
  }
  const httpsRedirectListen = opt("httpsRedirectListen", hostPort, undefined);
  const acme = validateAcme(opt, problems, (k) => raw[k] !== undefined, {
    tls: tlsCert !== undefined || tlsKey !== undefined,
    redirect: httpsRedirectListen !== undefined,
  });
  if (httpsRedirectListen !== undefined && tlsCert === undefined && acme.acmeDomains.length === 0)
    problems.push("httpsRedirectListen needs tlsCert and tlsKey (or acmeDomains)");
  return {
    listen,
    upstream,
    adminListen: opt("adminListen", hostPort, hostPort(d.adminListen, "adminListen")),
    mode,
    trustedHops: opt("trustedHops", cidrList, []),
    allowedClients: opt("allowedClients", cidrList, []),
    loopbackSubstitute: opt("loopbackSubstitute", nonLoopbackIp, d.loopbackSubstitute),
    upstreamTimeoutMs: opt("upstreamTimeoutMs", int(1, 86_400_000), d.upstreamTimeoutMs),
    upgradeTimeoutMs: opt("upgradeTimeoutMs", int(1, 600_000), d.upgradeTimeoutMs),
    headersTimeoutMs: opt("headersTimeoutMs", int(1, 600_000), d.headersTimeoutMs),
    heldUpgradeTimeoutMs: opt("heldUpgradeTimeoutMs", int(1, 600_000), d.heldUpgradeTimeoutMs),
    bodyTimeoutMs: opt("bodyTimeoutMs", int(1, 3_600_000), d.bodyTimeoutMs),
    sendTimeoutMs: opt("sendTimeoutMs", int(1, 3_600_000), d.sendTimeoutMs),
    maxConnections: opt("maxConnections", int(1, 1_000_000), d.maxConnections),
    maxHeaderBytes: opt("maxHeaderBytes", int(1024, 1_048_576), d.maxHeaderBytes),
    drainTimeoutMs: opt("drainTimeoutMs", int(0, 600_000), d.drainTimeoutMs),
    tlsCert,
    tlsKey,
    httpsRedirectListen,
    hsts: opt("hsts", bool, d.hsts),
    ...acme,
    identityHeader,
    passHeaders: opt("passHeaders", passHeaderList(identityHeader), []),
    credentials,
    cookieSecrets,
    cookieTtlSeconds: opt("cookieTtlSeconds", int(60, 31_536_000), d.cookieTtlSeconds),
    publicOrigin,
    publicBasePath,
    allowedOrigins: opt("allowedOrigins", originList, publicOrigin ? [publicOrigin.origin] : []),
    publicPaths: opt("publicPaths", pathList, []),
    controlUiTokenLogin,
    selfAuthenticatingRoutes,
    appsListen,
    appsUpstream,
    appsPublicOrigin,
    authMaxFailures: opt("authMaxFailures", int(1, 1_000_000), d.authMaxFailures),
    authWindowMs: opt("authWindowMs", int(1000, 86_400_000), d.authWindowMs),
    authLockoutMs: opt("authLockoutMs", int(1000, 86_400_000), d.authLockoutMs),
    logLevel: opt("logLevel", oneOf(LOG_LEVELS), d.logLevel),
    logFormat: opt("logFormat", oneOf(LOG_FORMATS), undefined),
    watchFiles: [],
    ...validateSso(raw, opt, problems, { mode, publicOrigin, identityHeader }),
  };
}

type AcmeOptions = Pick<
  Config,
  | "acmeDomains"
  | "acmeEmail"
  | "acmeDirectory"
  | "acmeDirectoryCaFile"
  | "acmeStorage"
  | "acmeChallenge"
  | "acmeEabKid"
  | "acmeEabHmacKey"
  | "acmeRetryMs"
>;

// Cross-checks look at which options were given (`given`), so a bad value is reported once, not again as missing.
function validateAcme(
  opt: <T>(k: OptionKey, p: Parser<T>, f: T) => T,
  problems: string[],
  given: (k: OptionKey) => boolean,
  has: { tls: boolean; redirect: boolean },
): AcmeOptions {
  const acme: AcmeOptions = {
    acmeDomains: opt("acmeDomains", acmeDomainList, []),
    acmeEmail: opt("acmeEmail", acmeEmail, undefined),
    acmeDirectory: opt("acmeDirectory", acmeDirectoryUrl, acmeDirectoryUrl(DEFAULTS.acmeDirectory, "acmeDirectory")),
    acmeDirectoryCaFile: opt("acmeDirectoryCaFile", pemCertificateFile, undefined),
    acmeStorage: opt("acmeStorage", acmeStorageDir, undefined),
    acmeChallenge: opt("acmeChallenge", oneOf(ACME_CHALLENGES), DEFAULTS.acmeChallenge),
    acmeEabKid: opt("acmeEabKid", nonEmpty, undefined),
    acmeEabHmacKey: opt("acmeEabHmacKey", eabHmacKey, undefined),
    acmeRetryMs: opt("acmeRetryMs", int(100, 3_600_000), DEFAULTS.acmeRetryMs),
  };
  if (given("acmeEabKid") !== given("acmeEabHmacKey"))
    problems.push("acmeEabKid and acmeEabHmacKey: set both or neither");
  if (acme.acmeDomains.length === 0) {
    const stray = (["acmeEmail", "acmeDirectoryCaFile", "acmeStorage", "acmeEabKid", "acmeEabHmacKey"] as const).filter(
      given,
    );
    if (stray.length > 0) problems.push(`${stray.join(", ")}: set acmeDomains too (without it there is no ACME)`);
    return acme;
  }
  if (has.tls)
    problems.push(
      "acmeDomains and tlsCert/tlsKey: set one or the other (with acmeDomains the sidecar obtains the certificate itself)",
    );
  if (!given("acmeStorage"))
    problems.push(
      "acmeDomains needs acmeStorage: a directory that survives restarts (a volume), for the account key and certificates",
    );
  if (acme.acmeChallenge === "http-01" && !has.redirect)
    problems.push(
      "acmeChallenge http-01 needs httpsRedirectListen: the plain-HTTP listener the CA reaches on port 80 (or set acmeChallenge tls-alpn-01)",
    );
  return acme;
}

// Secrets come from a value or a file, exactly one (a file keeps them out of `docker inspect` and the process list).
function loadCredentials(raw: Raw, opt: <T>(k: OptionKey, p: Parser<T>, f: T) => T, problems: string[]): Credential[] {
  const creds: Credential[] = [];
  const user = opt("user", userName, DEFAULTS.user);
  if (raw.token !== undefined && raw.tokenFile !== undefined) problems.push("token and tokenFile: set one, not both");
  const token = opt("token", nonEmpty, undefined) ?? opt("tokenFile", secretFile, undefined);
  if (token !== undefined && !token.startsWith("sha256:")) {
    const problem = weakToken(token, raw.token !== undefined ? "token" : "tokenFile");
    if (problem !== undefined) problems.push(problem);
  }
  if (token !== undefined)
    creds.push(token.startsWith("sha256:") ? { user, tokenSha256: sha256Hex(token, "token") } : { user, token });
  creds.push(...opt("tokensFile", credentialsFile, []));
  // Two users with one token would make the token's owner ambiguous.
  const seen = new Set<string>();
  for (const c of creds) {
    if (c.clientId !== undefined) continue; // machine credentials: checked by clientId below
    const digest =
      c.tokenSha256 ??
      createHash("sha256")
        .update(c.token ?? "")
        .digest("hex");
    if (seen.has(digest)) problems.push(`credentials: two entries share one token (user "${c.user}")`);
    seen.add(digest);
  }
  const clientIds = new Set<string>();
  for (const c of creds) {
    if (c.clientId === undefined) continue;
    if (clientIds.has(c.clientId))
      problems.push(`tokensFile: two machine credentials share the clientId "${c.clientId}"`);
    clientIds.add(c.clientId);
  }
  // One user with two scope sets: whatever only knows the user (a log line, the gateway's identityScopes) could not
  // tell which applies. Several tokens for one user are fine when they grant the same.
  const fromFile = token === undefined ? 0 : 1; // creds[0] is the token option when it is set
  const scopeKey = (c: Credential) => (c.scopes === undefined ? "" : [...c.scopes].sort().join(","));
  const firstOf = new Map<string, number>();
  creds.forEach((c, i) => {
    const first = firstOf.get(c.user);
    if (first === undefined) firstOf.set(c.user, i);
    else if (scopeKey(creds[first] as Credential) !== scopeKey(c)) {
      const inFile = first >= fromFile;
      const which = inFile
        ? `entries ${first - fromFile} and ${i - fromFile}`
        : `the token option and entry ${i - fromFile}`;
      problems.push(
        `${inFile ? "tokensFile" : "credentials"}: user "${c.user}" has entries with different scopes (${which}): a session could not tell which applies; give each scope set its own user name`,
      );
    }
  });
  return creds;
}

/**
 * The shortest plaintext token accepted. A right token passes even while its client address is locked out (behind
 * docker-proxy or NAT every client shares that address, and someone else's guesses must not lock the owner out), so
 * the lockout is no longer what stops guessing: the token's own length is. 16 characters is the floor, not the
 * advice — `openssl rand -hex 32` gives 64 random hex digits. The same rule holds for local mode's token, which is the
 * gateway's own: the sidecar is the only brake on guessing it there too.
 */
export const MIN_TOKEN_LENGTH = 16;

/**
 * The problem with a plaintext token that is too short, or undefined. The message names where the token is and its
 * length, never the token itself (the message is printed and logged). A tokenSha256 entry cannot be checked: a digest
 * hides how long, or how random, its secret was — whoever computed it must have made the secret with the same care.
 */
export function weakToken(token: string, where: string): string | undefined {
  if (token.length >= MIN_TOKEN_LENGTH) return undefined;
  return `${where}: the token is ${token.length} characters; a token must be at least ${MIN_TOKEN_LENGTH} characters (a short one can be guessed): make one with \`openssl rand -hex 32\``;
}

/**
 * The public URL of the dashboard's root, the link users open: publicOrigin + publicBasePath + "/"
 * (`https://host.example/claw/`); undefined without publicOrigin (the sidecar then answers on any origin).
 */
export function dashboardUrl(config: Pick<Config, "publicOrigin" | "publicBasePath">): string | undefined {
  return config.publicOrigin === undefined ? undefined : `${config.publicOrigin.origin}${config.publicBasePath}/`;
}

/** The OIDC redirect URI to register at the provider: publicOrigin + publicBasePath + oidcRedirectPath. */
export function oidcRedirectUri(config: Pick<Config, "publicOrigin" | "publicBasePath" | "oidc">): string | undefined {
  if (config.publicOrigin === undefined || config.oidc === undefined) return undefined;
  return `${config.publicOrigin.origin}${config.publicBasePath}${config.oidc.redirectPath}`;
}

// ---- value parsers: each throws one sentence naming the option, the value and the rule ----

const show = (v: unknown): string => JSON.stringify(v);
const asString = (v: unknown, name: string): string => {
  if (typeof v === "string") return v.trim();
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  throw new Error(`${name}: expected a string, got ${show(v)}`);
};
const nonEmpty: Parser<string> = (v, name) => {
  const s = asString(v, name);
  if (s === "") throw new Error(`${name}: must not be empty`);
  return s;
};

export function hostPort(v: unknown, name: string): HostPort {
  const s = asString(v, name);
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(s);
  const port = Number(m?.[3]);
  if (!m || port > 65535) throw new Error(`${name}: ${show(s)} is not host:port (IPv6 as [::]:18789; port 0-65535)`);
  const host = m[1] ?? (m[2] || "0.0.0.0");
  if (m[1] !== undefined && !ipaddr.IPv6.isValid(host))
    throw new Error(`${name}: ${show(host)} is not an IPv6 address`);
  return { host, port };
}

function upstreamUrl(v: unknown, name: string): URL {
  const s = asString(v, name);
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    throw new Error(`${name}: ${show(s)} is not a URL (example: http://openclaw-gateway:18789)`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    throw new Error(`${name}: ${show(s)} must use http: or https:`);
  if (url.pathname !== "/" || url.search || url.hash || url.username) {
    throw new Error(`${name}: ${show(s)} must be scheme://host:port only (no path, query or credentials)`);
  }
  return url;
}

function origin(v: unknown, name: string): URL {
  const s = asString(v, name);
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    throw new Error(`${name}: ${show(s)} is not an origin (example: https://openclaw.example.com)`);
  }
  if ((url.protocol !== "http:" && url.protocol !== "https:") || url.origin !== s.replace(/\/$/, "")) {
    throw new Error(`${name}: ${show(s)} must be an origin: scheme://host[:port], nothing else`);
  }
  return url;
}

const list = (v: unknown, name: string): string[] => {
  if (Array.isArray(v)) return v.map((x) => asString(x, name)).filter((x) => x !== "");
  return asString(v, name)
    .split(",")
    .map((x) => x.trim())
    .filter((x) => x !== "");
};
/**
 * A user name the sidecar writes as the gateway's user header: a valid identity (identity.ts), refused at start
 * otherwise — `--user $'bob\r\nx-openclaw-scopes: operator.admin'` is a config error, never a header (issue 21).
 */
const userName: Parser<string> = (v, name) => {
  const s = nonEmpty(v, name);
  const problem = identityProblem(s);
  if (problem !== undefined) throw new Error(`${name}: ${show(s)} ${problem}; a user name is ${IDENTITY_RULE}`);
  return s;
};
/** Scopes written as x-openclaw-scopes: each one a scope name, so the list cannot carry anything else. */
const scopeList: Parser<string[]> = (v, name) =>
  list(v, name).map((scope) => {
    const problem = scopeProblem(scope);
    if (problem !== undefined) throw new Error(`${name}: ${show(scope)} ${problem}`);
    return scope;
  });
const originList: Parser<string[]> = (v, name) => list(v, name).map((o) => origin(o, name).origin);
/** passHeaders: only headers of the common identity set; the gateway's own trust headers are never a client's. */
const passHeaderList =
  (identityHeader: string): Parser<string[]> =>
  (v, name) =>
    list(v, name).map((raw) => {
      const h = headerName(raw, name);
      const canonical = h.replaceAll("_", "-");
      if (isGatewayTrustHeader(canonical, identityHeader.replaceAll("_", "-")) || h === identityHeader) {
        throw new Error(
          `${name}: ${show(h)} is a header the gateway trusts; the sidecar always writes or strips it itself`,
        );
      }
      if (!isCommonIdentityHeader(canonical))
        throw new Error(
          `${name}: ${show(h)} is not stripped in the first place (only the common identity headers listed in docs/security.md are)`,
        );
      return h;
    });
/**
 * publicBasePath: "" (the root) or "/seg[/seg…]" of unreserved characters, no dot segments; one trailing "/" is
 * dropped ("/claw/" is "/claw", "/" is the root). Nothing that a decoder could read two ways: no %, ?, #, \.
 */
export function basePath(v: unknown, name: string): string {
  const s = asString(v, name);
  const trimmed = s.endsWith("/") ? s.slice(0, -1) : s;
  if (trimmed === "") return "";
  const segments = trimmed.split("/").slice(1);
  if (
    !trimmed.startsWith("/") ||
    segments.some((seg) => !/^[A-Za-z0-9._~-]+$/.test(seg) || seg === "." || seg === "..")
  )
    throw new Error(
      `${name}: ${show(s)} must be a path prefix such as /claw: starting with /, segments of A-Z a-z 0-9 . _ ~ - only (no empty, . or .. segment, no %, ?, #)`,
    );
  return trimmed;
}
const pathList: Parser<string[]> = (v, name) =>
  list(v, name).map((p) => {
    if (!p.startsWith("/")) throw new Error(`${name}: ${show(p)} must start with /`);
    return p;
  });

/** Every bad entry is reported, not just the first (an AggregateError, which opt() unpacks). */
export function cidrList(v: unknown, name: string): Cidr[] {
  const errors: Error[] = [];
  const cidrs: Cidr[] = [];
  for (const entry of list(v, name)) {
    try {
      cidrs.push(parseCidr(entry, name));
    } catch (err) {
      errors.push(err as Error);
    }
  }
  if (errors.length === 1) throw errors[0] as Error;
  if (errors.length > 1) throw new AggregateError(errors, errors.map((e) => e.message).join("; "));
  return cidrs;
}

/**
 * One address or CIDR, read as what it says. Client addresses are matched in IPv4 form when they are IPv4-mapped
 * (forwarded-headers.ts parseAddress), so a mapped range is turned into its IPv4 range (::ffff:10.0.0.0/104 is
 * 10.0.0.0/8); a mapped prefix under /96 is refused, since it reaches past ::ffff:0:0/96 (ipaddr.js reads
 * ::ffff:10.0.0.0/8 as ::/8, which holds ::1). Also refused: bits set past the prefix, which make the entry look
 * narrower than it is, IPv4 shorthands ("10.1" is 10.0.0.1) that name an address nobody meant, and IPv6 zones.
 */
export function parseCidr(entry: string, name: string): Cidr {
  const notCidr = () =>
    new Error(`${name}: ${show(entry)} is not an IP address or CIDR (examples: 10.0.0.5, 172.18.0.0/16, fd00::/8)`);
  const slash = entry.indexOf("/");
  const text = slash === -1 ? entry : entry.slice(0, slash);
  const prefix = slash === -1 ? undefined : entry.slice(slash + 1);
  let addr: ipaddr.IPv4 | ipaddr.IPv6;
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) addr = ipaddr.IPv4.parse(text);
  else if (ipaddr.IPv6.isValid(text)) addr = ipaddr.IPv6.parse(text);
  else throw notCidr();
  // Client addresses are compared without their zone, so a zone here would be silently ignored.
  const zone = addr instanceof ipaddr.IPv6 ? addr.zoneId : undefined;
  if (zone !== undefined)
    throw new Error(
      `${name}: ${show(entry)} has a zone (%${zone}), which is not matched (client addresses are compared without one); write ${show(entry.replace(`%${zone}`, ""))}`,
    );
  const max = addr.kind() === "ipv4" ? 32 : 128;
  if (prefix !== undefined && !/^\d{1,3}$/.test(prefix)) throw notCidr();
  let bits = prefix === undefined ? max : Number(prefix);
  if (bits > max) throw notCidr();
  if (addr instanceof ipaddr.IPv6 && addr.isIPv4MappedAddress()) {
    const v4 = addr.toIPv4Address();
    if (bits < 96) {
      const network = maskAddress(addr, bits);
      const holdsLoopback = ipaddr.IPv6.parse("::1").match(network, bits);
      const instead =
        bits <= 32
          ? `write the IPv4 range "${maskAddress(v4, bits).toString()}/${bits}" (or its mapped form "::ffff:${maskAddress(v4, bits).toString()}/${bits + 96}")`
          : `write the IPv4 form ("${v4.toString()}" for the one address, a prefix up to /32 for a range) or a mapped prefix from /96 to /128`;
      throw new Error(
        `${name}: ${show(entry)} is an IPv4-mapped address with a prefix under /96: it means ${network.toString()}/${bits}${holdsLoopback ? " (::1 included)" : ""}, not an IPv4 range; ${instead}`,
      );
    }
    addr = v4;
    bits -= 96;
  }
  const network = maskAddress(addr, bits);
  if (network.toByteArray().join() !== addr.toByteArray().join()) {
    throw new Error(
      `${name}: ${show(entry)} has bits set past its /${prefix ?? max} prefix; write "${network.toString()}/${bits}" for the range, or "${addr.toString()}" for the one address`,
    );
  }
  return [addr, bits];
}

/**
 * The --sidecar-address of doctor and print-gateway-config: one address, as the gateway will see the sidecar. An
 * IPv4-mapped one is written in IPv4 form (the gateway normalises its peers so too); shorthands and CIDRs are refused.
 */
export function sidecarAddress(text: string): string {
  const s = text.trim();
  if (ipaddr.IPv4.isValidFourPartDecimal(s)) return s;
  if (!ipaddr.IPv6.isValid(s) || s.includes("%"))
    throw new Error(
      `--sidecar-address: ${show(text)} is not an IP address (the sidecar's own address as the gateway sees it, e.g. 10.119.0.10)`,
    );
  const addr = ipaddr.IPv6.parse(s);
  return addr.isIPv4MappedAddress() ? addr.toIPv4Address().toString() : addr.toString();
}

/**
 * The gateway.trustedProxies entry for exactly one address: /32 for IPv4, /128 for IPv6 (a /32 there is a 2^96 range).
 */
export function trustedProxyEntry(address: string): string {
  return ipaddr.IPv6.isValid(address) ? `${address}/128` : `${address}/32`;
}

/** `addr` with every bit past the first `bits` cleared. */
function maskAddress<A extends ipaddr.IPv4 | ipaddr.IPv6>(addr: A, bits: number): A {
  const bytes = addr
    .toByteArray()
    .map((b, i) => (i * 8 >= bits ? 0 : i * 8 + 8 <= bits ? b : b & (0xff << (8 - (bits - i * 8))) & 0xff));
  return ipaddr.fromByteArray(bytes) as A;
}

function nonLoopbackIp(v: unknown, name: string): string {
  const s = asString(v, name);
  if (!ipaddr.isValid(s)) throw new Error(`${name}: ${show(s)} is not an IP address`);
  const addr = ipaddr.process(s);
  if (addr.range() === "loopback")
    throw new Error(`${name}: ${show(s)} is loopback; the gateway refuses a loopback X-Forwarded-For`);
  return addr.toString();
}

const int =
  (min: number, max: number): Parser<number> =>
  (v, name) => {
    const n = typeof v === "number" ? v : Number(asString(v, name));
    if (!Number.isInteger(n) || n < min || n > max)
      throw new Error(`${name}: ${show(v)} must be an integer from ${min} to ${max}`);
    return n;
  };

const bool: Parser<boolean> = (v, name) => {
  if (typeof v === "boolean") return v;
  const s = asString(v, name).toLowerCase();
  if (["1", "true", "yes", "on"].includes(s)) return true;
  if (["0", "false", "no", "off"].includes(s)) return false;
  throw new Error(`${name}: ${show(v)} must be true or false`);
};

const oneOf =
  <T extends string>(values: readonly T[]): Parser<T> =>
  (v, name) => {
    const s = asString(v, name);
    if (!(values as readonly string[]).includes(s))
      throw new Error(`${name}: ${show(s)} must be one of ${values.join(", ")}`);
    return s as T;
  };

const headerName: Parser<string> = (v, name) => {
  const s = asString(v, name).toLowerCase();
  if (!/^[a-z0-9!#$%&'*+.^_`|~-]+$/.test(s)) throw new Error(`${name}: ${show(s)} is not a valid HTTP header name`);
  return s;
};

function readText(path: string, name: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    throw new Error(`${name}: cannot read ${show(path)} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
}
const readableFile: Parser<string> = (v, name) => {
  const path = nonEmpty(v, name);
  readText(path, name);
  return path;
};
const secretFile: Parser<string> = (v, name) => nonEmpty(readText(nonEmpty(v, name), name), name);
const secretFileList: Parser<string[]> = (v, name) => list(readText(nonEmpty(v, name), name).split("\n"), name);

function sha256Hex(token: string, name: string): string {
  const hex = token.slice("sha256:".length).toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new Error(`${name}: "sha256:" must be followed by 64 hex digits`);
  return hex;
}

/** A tokensFile entry {user, clientId, clientSecretSha256, scopes?}: a machine credential, nothing else in it. */
function machineCredential(e: Record<string, unknown>, where: string): Credential {
  if (typeof e.clientId !== "string" || e.clientId.trim() === "")
    throw new Error(`${where}: "clientId" must be a non-empty string`);
  if (typeof e.clientSecretSha256 !== "string")
    throw new Error(
      `${where}: a machine credential needs "clientSecretSha256" (the SHA-256 of its client secret, 64 hex digits)`,
    );
  if (e.token !== undefined || e.tokenSha256 !== undefined)
    throw new Error(`${where}: a machine credential (clientId) cannot also have a token`);
  const scopes = e.scopes === undefined ? undefined : scopeList(e.scopes, `${where} scopes`);
  const hash = sha256Hex(`sha256:${e.clientSecretSha256.replace(/^sha256:/, "")}`, where);
  return {
    user: userName(e.user, `${where} user`),
    clientId: e.clientId.trim(),
    clientSecretSha256: hash,
    ...(scopes ? { scopes } : {}),
  };
}

/**
 * tokensFile: a JSON array of {user, token | tokenSha256: "sha256:<hex>" | "<hex>", scopes?} or machine credentials.
 */
function credentialsFile(v: unknown, name: string): Credential[] {
  const path = nonEmpty(v, name);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readText(path, name));
  } catch (err) {
    throw new Error(`${name}: ${show(path)} is not valid JSON (${(err as Error).message})`);
  }
  if (!Array.isArray(parsed))
    throw new Error(`${name}: ${show(path)} must hold a JSON array of {user, token | tokenSha256, scopes?}`);
  return parsed.map((entry: unknown, i): Credential => {
    const e = (entry ?? {}) as Record<string, unknown>;
    const where = `${name}: entry ${i}`;
    if (typeof e.user !== "string" || e.user.trim() === "")
      throw new Error(`${where}: "user" must be a non-empty string`);
    if (e.clientId !== undefined || e.clientSecretSha256 !== undefined) return machineCredential(e, where);
    const hasToken = typeof e.token === "string" && e.token !== "";
    const hasHash = typeof e.tokenSha256 === "string";
    if (hasToken === hasHash) throw new Error(`${where}: set exactly one of "token" or "tokenSha256"`);
    const scopes = e.scopes === undefined ? undefined : scopeList(e.scopes, `${where} scopes`);
    const weak = hasToken ? weakToken(String(e.token), `${where} (user ${show(e.user.trim())})`) : undefined;
    if (weak !== undefined) throw new Error(weak);
    const hash = hasHash ? sha256Hex(`sha256:${String(e.tokenSha256).replace(/^sha256:/, "")}`, where) : undefined;
    return {
      user: userName(e.user, `${where} user`),
      ...(hasToken ? { token: String(e.token) } : { tokenSha256: hash }),
      ...(scopes ? { scopes } : {}),
    };
  });
}
