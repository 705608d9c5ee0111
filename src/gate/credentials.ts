// Credential primitives for the identity and local modes: token check, signed session cookie, failed-attempt limiter,
// and the two header parsers they need. No sockets and no HTTP here; src/gate/auth-gate.ts wires them to requests.
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import ipaddr from "ipaddr.js";

/**
 * A credential accepted in identity and local modes. `token` is the secret in clear; `tokenSha256` is its SHA-256 as
 * 64 hex digits (so the secret itself need not be stored). Exactly one of the two is set.
 */
export interface Credential {
  user: string;
  token?: string;
  tokenSha256?: string;
  scopes?: string[];
  /**
   * A machine credential (issue 16 §3): presented as the CF-Access-Client-Id / CF-Access-Client-Secret header pair
   * (what `openclaw connect` and nodes send to an identity-aware proxy), never as a token or a login.
   */
  clientId?: string;
  clientSecretSha256?: string;
}

const sha256 = (value: string): Buffer => createHash("sha256").update(value, "utf8").digest();

/**
 * Checks a presented token against every configured credential in constant time: the token is hashed first, so every
 * comparison is between two 32-byte digests (no length leak), and the loop never exits early, so the time taken does
 * not tell which credential matched or how many are configured before it.
 */
export class TokenVerifier {
  private readonly entries: ReadonlyArray<{ digest: Buffer; cred: Credential }>;
  private readonly byId: ReadonlyMap<string, Credential>;

  /** Throws on a credential without a usable secret, or two that share one (the identity would be ambiguous). */
  constructor(creds: readonly Credential[]) {
    const seen = new Set<string>();
    this.entries = creds.map((cred, i) => {
      const digest = credentialDigest(cred, i);
      const key = digest.toString("hex");
      if (seen.has(key))
        throw new Error(
          `credential ${i} (user ${JSON.stringify(cred.user)}): its token is already used by another credential`,
        );
      seen.add(key);
      return { digest, cred };
    });
    this.byId = new Map(this.entries.map((e) => [credentialId(e.digest), e.cred]));
  }

  /** The id a session issued for `cred` carries (see credentialId). */
  idOf(cred: Credential): string {
    for (const entry of this.entries) if (entry.cred === cred) return credentialId(entry.digest);
    throw new Error("not a configured credential");
  }

  /** The credential a session's id names, if it is still configured. */
  byCredentialId(id: string): Credential | undefined {
    return this.byId.get(id);
  }

  verify(presented: string): Credential | undefined {
    const digest = sha256(presented);
    let match: Credential | undefined;
    for (const entry of this.entries) {
      // Every entry is compared, even after a match.
      if (timingSafeEqual(digest, entry.digest) && match === undefined) match = entry.cred;
    }
    return match;
  }
}

/**
 * A session names the credential it was issued for, not only its user: scopes belong to a credential entry, and a
 * retired token must end the sessions it opened (issue 11, finding 4). The id is derived from the token's digest
 * (HMAC'd with a fixed label, so it reveals nothing usable about the token) and is stable across restarts and replicas.
 */
function credentialId(digest: Buffer): string {
  return createHmac("sha256", "openclaw-sidecar credential id").update(digest).digest("base64url").slice(0, 22);
}

function credentialDigest(cred: Credential, i: number): Buffer {
  const where = `credential ${i} (user ${JSON.stringify(cred.user)})`;
  if ((cred.token === undefined) === (cred.tokenSha256 === undefined))
    throw new Error(`${where}: set exactly one of token or tokenSha256`);
  if (cred.token !== undefined) {
    if (cred.token === "") throw new Error(`${where}: the token is empty`);
    return sha256(cred.token);
  }
  const hex = (cred.tokenSha256 as string).replace(/^sha256:/i, "").toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(hex))
    throw new Error(`${where}: tokenSha256 must be 64 hex digits, optionally prefixed "sha256:"`);
  return Buffer.from(hex, "hex");
}

// ---- session cookie ----

/** HMAC keys for session cookies. New cookies are signed with `current`; cookies signed with any key are accepted. */
export interface CookieKeys {
  current: Buffer;
  previous: Buffer[];
}

export type SessionError = "malformed" | "bad_signature" | "expired";

/**
 * Format version inside the payload: another format is rejected as malformed, never misread. Version 2 added the
 * credential id; a version-1 cookie (user only) asks its holder to log in again.
 */
const SESSION_VERSION = 2;
/** Far above any real value (a user name and two numbers); stops work on junk before any HMAC is computed. */
const MAX_SESSION_LENGTH = 4096;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

function mac(key: Buffer, payload: string): Buffer {
  if (key.length === 0) throw new Error("a cookie key is empty");
  return createHmac("sha256", key).update(payload, "ascii").digest();
}

/**
 * Who a session is: the user, and the id of the credential it was issued for (TokenVerifier.idOf). A session from a
 * single sign-on login (src/gate/sso/oidc-login.ts) also carries the provider's subject and the scopes it was granted,
 * and its credential id (prefixed "oidc:", which a token's id never is) is derived from both; token sessions carry
 * neither.
 */
export interface SessionSubject {
  user: string;
  credential: string;
  sub?: string;
  scopes?: string[];
  /** A single sign-on login's checked address (oidc-policy.ts), checked again against the allow-lists in force. */
  email?: string;
}

/**
 * A stateless session: base64url(JSON {v, user, cid, [sub, scopes, email,] exp}) + "." + base64url(HMAC-SHA256 of
 * the first part). `exp` is in milliseconds since the epoch. Any replica holding the same keys accepts it; nothing is
 * stored server-side, so a session ends when it expires, its key is retired, or its credential is no longer configured.
 */
export function signSession(keys: CookieKeys, subject: SessionSubject, nowMs: number, ttlMs: number): string {
  const extra = {
    ...(subject.sub !== undefined ? { sub: subject.sub } : {}),
    ...(subject.scopes !== undefined ? { scopes: subject.scopes } : {}),
    ...(subject.email !== undefined ? { email: subject.email } : {}),
  };
  const payload = Buffer.from(
    JSON.stringify({ v: SESSION_VERSION, user: subject.user, cid: subject.credential, ...extra, exp: nowMs + ttlMs }),
  ).toString("base64url");
  return `${payload}.${mac(keys.current, payload).toString("base64url")}`;
}

export function verifySession(
  keys: CookieKeys,
  value: string,
  nowMs: number,
): (SessionSubject & { expiresAt: number }) | { error: SessionError } {
  if (typeof value !== "string" || value.length > MAX_SESSION_LENGTH) return { error: "malformed" };
  const dot = value.indexOf(".");
  const payload = value.slice(0, dot);
  const signature = value.slice(dot + 1);
  if (dot < 0 || !BASE64URL.test(payload) || !BASE64URL.test(signature)) return { error: "malformed" };
  const presented = Buffer.from(signature, "base64url");
  // Canonical encoding only: otherwise the unused low bits of the last character give one MAC several spellings.
  if (presented.length !== 32 || presented.toString("base64url") !== signature) return { error: "malformed" };
  // The signature is checked before the payload is parsed: nothing unauthenticated is interpreted.
  let valid = false;
  for (const key of [keys.current, ...keys.previous]) {
    if (timingSafeEqual(presented, mac(key, payload))) valid = true;
  }
  if (!valid) return { error: "bad_signature" };
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
  } catch {
    return { error: "malformed" };
  }
  const { v, user, cid, exp, sub, scopes, email } = (parsed ?? {}) as Record<string, unknown>;
  if (
    v !== SESSION_VERSION ||
    typeof user !== "string" ||
    user === "" ||
    typeof cid !== "string" ||
    typeof exp !== "number" ||
    !Number.isFinite(exp)
  ) {
    return { error: "malformed" };
  }
  // The optional single sign-on fields (no version change: a sidecar that predates them finds no such credential id).
  if (sub !== undefined && (typeof sub !== "string" || sub === "")) return { error: "malformed" };
  if (email !== undefined && (typeof email !== "string" || email === "")) return { error: "malformed" };
  if (scopes !== undefined && (!Array.isArray(scopes) || !scopes.every((s) => typeof s === "string" && s !== "")))
    return { error: "malformed" };
  if (exp <= nowMs) return { error: "expired" };
  return {
    user,
    credential: cid,
    ...(sub !== undefined ? { sub } : {}),
    ...(scopes !== undefined ? { scopes: scopes as string[] } : {}),
    ...(email !== undefined ? { email } : {}),
    expiresAt: exp,
  };
}

// ---- failed-attempt limiter ----

export interface FailureLimiterOptions {
  /** Failures within one window that lock the key out. */
  maxFailures: number;
  /** Length of the window, in ms, counted from the first failure in it (a fixed window, not a sliding one). */
  windowMs: number;
  /** How long, in ms, a locked-out key stays locked. */
  lockoutMs: number;
  /** Most keys tracked at once; beyond it the least recently failed key is forgotten. */
  maxKeys: number;
}

interface Attempts {
  failures: number;
  windowStart: number;
  lockedUntil: number;
}

/**
 * Per-key (client address) failure counting with lockout, like the gateway's own (10 failures in 60 s → 5 minutes).
 * Memory is bounded by maxKeys: the Map keeps insertion order, every failure re-inserts its key, so the first key is
 * the least recently failed one and is evicted first. Expiry is lazy: nothing runs on a timer.
 *
 * Eviction can forget a lockout when more than maxKeys addresses fail within one lockout; an attacker with that many
 * addresses can spread guesses over them anyway, so the bound costs nothing the address count did not already give.
 */
export class FailureLimiter {
  private readonly opts: FailureLimiterOptions;
  private readonly keys = new Map<string, Attempts>();

  constructor(opts: FailureLimiterOptions) {
    for (const name of ["maxFailures", "windowMs", "lockoutMs", "maxKeys"] as const) {
      if (!Number.isInteger(opts[name]) || opts[name] < 1)
        throw new Error(`FailureLimiter: ${name} must be a positive integer, got ${opts[name]}`);
    }
    this.opts = { ...opts };
  }

  /** Keys currently tracked (for tests and a gauge). */
  get size(): number {
    return this.keys.size;
  }

  isLocked(key: string, nowMs: number): boolean {
    const entry = this.keys.get(key);
    if (entry === undefined) return false;
    if (entry.lockedUntil > nowMs) return true;
    if (entry.lockedUntil !== 0 || nowMs - entry.windowStart >= this.opts.windowMs) this.keys.delete(key); // lapsed
    return false;
  }

  recordFailure(key: string, nowMs: number): void {
    let entry = this.keys.get(key);
    // A failure while locked (the caller skipped isLocked) neither extends the lockout nor counts toward the next one.
    if (entry !== undefined && entry.lockedUntil > nowMs) return;
    if (entry === undefined || entry.lockedUntil !== 0 || nowMs - entry.windowStart >= this.opts.windowMs) {
      entry = { failures: 0, windowStart: nowMs, lockedUntil: 0 };
    }
    entry.failures++;
    if (entry.failures >= this.opts.maxFailures) entry.lockedUntil = nowMs + this.opts.lockoutMs;
    this.keys.delete(key); // re-insert at the end: most recently failed
    if (this.keys.size >= this.opts.maxKeys) this.keys.delete(this.keys.keys().next().value as string);
    this.keys.set(key, entry);
  }

  /** Forgets the key's failures; an active lockout stands until it expires (as the gateway's does). */
  recordSuccess(key: string): void {
    const entry = this.keys.get(key);
    if (entry !== undefined && entry.lockedUntil === 0) this.keys.delete(key);
  }
}

/**
 * The limiter's key for a client address: the address itself for IPv4, its /64 for IPv6 — one host usually holds a
 * whole /64, so per-address keys would give it 2^64 fresh buckets.
 */
export function limiterKey(address: string): string {
  let parsed: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    parsed = ipaddr.process(address);
  } catch {
    return address;
  }
  if (parsed.kind() === "ipv4") return parsed.toString();
  const parts = (parsed as ipaddr.IPv6).parts.slice(0, 4).map((p) => p.toString(16));
  return `${parts.join(":")}::/64`;
}

// ---- header parsers ----

/**
 * Cookie header → name/value map (RFC 6265 §5.4 syntax, tolerated loosely): pairs split on ";", name and value
 * trimmed, the first of a repeated name wins (browsers send the most specific path first), pairs without "=" or with
 * an empty name are skipped. Values are returned as sent (no quote stripping or percent-decoding), so a header
 * rebuilt from the map forwards other cookies unchanged. Never throws.
 */
export function parseCookies(header: string | undefined): Map<string, string> {
  const cookies = new Map<string, string>();
  if (typeof header !== "string") return cookies;
  for (const pair of header.split(";")) {
    const eq = pair.indexOf("=");
    if (eq < 0) continue;
    const name = pair.slice(0, eq).trim();
    if (name === "" || cookies.has(name)) continue;
    cookies.set(name, pair.slice(eq + 1).trim());
  }
  return cookies;
}

/**
 * The token of `Authorization: Bearer <token>` (RFC 6750 §2.1; the scheme is case-insensitive, RFC 9110 §11.1), or
 * undefined for another scheme, an empty token, or one containing whitespace.
 */
export function bearerToken(authorization: string | undefined): string | undefined {
  if (typeof authorization !== "string") return undefined;
  const match = /^[ \t]*bearer[ \t]+([^\s]+)[ \t]*$/i.exec(authorization);
  return match?.[1];
}
