// The login in progress, between the redirect to the OpenID provider and its callback: state, nonce, PKCE verifier and
// where to return, kept in the browser itself as a short-lived cookie (nothing is stored server-side, so replicas
// sharing the cookie secret can each finish a login the other started). The cookie is encrypted and authenticated
// (AES-256-GCM, key derived from the cookie secret with HKDF): the PKCE verifier must not be readable by anything that
// sees the cookie, and a forged or altered transaction must not open.
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";
import type { CookieKeys } from "../credentials.ts";

export interface LoginTransaction {
  state: string;
  nonce: string;
  /** PKCE code_verifier (RFC 7636). */
  verifier: string;
  /** Path and query on our origin to return to after the login. */
  returnTo: string;
  /** Milliseconds since the epoch after which the transaction is refused as expired. */
  exp: number;
}

export type TransactionError = "malformed" | "expired";

const INFO = "openclaw-sidecar oidc login transaction v1";
const MAX_LENGTH = 4096;

function keyOf(secret: Buffer): Buffer {
  return Buffer.from(hkdfSync("sha256", secret, Buffer.alloc(0), INFO, 32));
}

/** base64url(iv[12] | ciphertext | tag[16]) of the JSON transaction, under the current key. */
export function sealTransaction(keys: CookieKeys, tx: LoginTransaction): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", keyOf(keys.current), iv);
  cipher.setAAD(Buffer.from(INFO));
  const body = Buffer.concat([cipher.update(JSON.stringify(tx), "utf8"), cipher.final()]);
  return Buffer.concat([iv, body, cipher.getAuthTag()]).toString("base64url");
}

/** Opens a transaction sealed under any of the keys (rotation); expiry is checked after authenticity. */
export function openTransaction(
  keys: CookieKeys,
  value: string,
  nowMs: number,
): LoginTransaction | { error: TransactionError } {
  if (typeof value !== "string" || value.length > MAX_LENGTH || !/^[A-Za-z0-9_-]+$/.test(value))
    return { error: "malformed" };
  const raw = Buffer.from(value, "base64url");
  if (raw.length < 12 + 16 + 2) return { error: "malformed" };
  const iv = raw.subarray(0, 12);
  const tag = raw.subarray(raw.length - 16);
  const body = raw.subarray(12, raw.length - 16);
  for (const key of [keys.current, ...keys.previous]) {
    let text: string;
    try {
      const decipher = createDecipheriv("aes-256-gcm", keyOf(key), iv);
      decipher.setAAD(Buffer.from(INFO));
      decipher.setAuthTag(tag);
      text = Buffer.concat([decipher.update(body), decipher.final()]).toString("utf8");
    } catch {
      continue; // another key, or not ours
    }
    const tx = parse(text);
    if (tx === undefined) return { error: "malformed" };
    if (tx.exp <= nowMs) return { error: "expired" };
    return tx;
  }
  return { error: "malformed" };
}

function parse(text: string): LoginTransaction | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  const t = (parsed ?? {}) as Record<string, unknown>;
  for (const k of ["state", "nonce", "verifier", "returnTo"])
    if (typeof t[k] !== "string" || t[k] === "") return undefined;
  if (typeof t.exp !== "number" || !Number.isFinite(t.exp)) return undefined;
  return t as unknown as LoginTransaction;
}
