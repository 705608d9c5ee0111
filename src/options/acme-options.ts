// Parsers for the acme* options (config.ts calls them from validate(), like its own parsers): each throws one sentence
// naming the option, the value and the rule.
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmdirSync, statSync } from "node:fs";
import path from "node:path";

import { ACME_CHALLENGES, type AcmeChallenge, type SecretValue } from "../tls/acme-settings.ts";

export { ACME_CHALLENGES, type AcmeChallenge, type SecretValue };

/** Named shortcuts for acmeDirectory. */
export const ACME_DIRECTORIES: Readonly<Record<string, string>> = {
  letsencrypt: "https://acme-v02.api.letsencrypt.org/directory",
  "letsencrypt-staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
};

export const secretValue = (value: string): SecretValue => ({ value, toJSON: () => "[REDACTED]" });

const show = (v: unknown): string => JSON.stringify(v);
const text = (v: unknown, name: string): string => {
  if (typeof v === "string") return v.trim();
  throw new Error(`${name}: expected a string, got ${show(v)}`);
};

const DNS_NAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/;

/** acmeDomains: one or more DNS names (comma-separated or a JSON array), lower-cased, duplicates dropped. */
export function acmeDomainList(v: unknown, name: string): string[] {
  const items = Array.isArray(v) ? v.map((x) => text(x, name)) : text(v, name).split(",");
  const names = items.map((x) => x.trim().toLowerCase().replace(/\.$/, "")).filter((x) => x !== "");
  for (const n of names) {
    if (n.startsWith("*."))
      throw new Error(
        `${name}: ${show(n)} is a wildcard; wildcards need the dns-01 challenge, which the sidecar does not do (list each name)`,
      );
    if (/^[\d.]+$/.test(n) || n.includes(":"))
      throw new Error(`${name}: ${show(n)} is an IP address; the sidecar obtains certificates for DNS names only`);
    if (!DNS_NAME.test(n))
      throw new Error(`${name}: ${show(n)} is not a DNS name with at least one dot (example: claw.example.com)`);
  }
  return [...new Set(names)];
}

export function acmeEmail(v: unknown, name: string): string {
  const s = text(v, name);
  if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(s)) throw new Error(`${name}: ${show(s)} is not an email address`);
  return s;
}

/** acmeDirectory: a named shortcut or an https URL. Returns the URL. */
export function acmeDirectoryUrl(v: unknown, name: string): string {
  const s = text(v, name);
  const named = ACME_DIRECTORIES[s];
  if (named !== undefined) return named;
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    throw new Error(`${name}: ${show(s)} is neither ${Object.keys(ACME_DIRECTORIES).join(" nor ")} nor a URL`);
  }
  if (url.protocol !== "https:")
    throw new Error(`${name}: ${show(s)} must be an https: URL (ACME directories are served over HTTPS)`);
  return url.href;
}

/** acmeDirectoryCaFile: a PEM file of CA certificates trusted for the directory's HTTPS (a private CA, Pebble). */
export function pemCertificateFile(v: unknown, name: string): string {
  const file = text(v, name);
  let pem: Buffer;
  try {
    pem = readFileSync(file);
  } catch (err) {
    throw new Error(`${name}: cannot read ${show(file)} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  try {
    new X509Certificate(pem);
  } catch {
    throw new Error(`${name}: ${show(file)} is not a PEM certificate`);
  }
  return file;
}

/** acmeStorage: a directory the sidecar can write, or one it can create (its nearest existing parent is writable). */
export function acmeStorageDir(v: unknown, name: string): string {
  const dir = path.resolve(text(v, name));
  let existing = dir;
  for (;;) {
    let isDirectory: boolean;
    try {
      isDirectory = statSync(existing).isDirectory();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== "ENOENT" && code !== "ENOTDIR")
        throw new Error(`${name}: cannot use ${show(existing)} (${code ?? String(err)})`);
      existing = path.dirname(existing);
      continue;
    }
    if (!isDirectory) throw new Error(`${name}: ${show(existing)} is not a directory`);
    break;
  }
  // A real write, not access(2): that says yes to root on read-only mounts and pseudo file systems.
  try {
    rmdirSync(mkdtempSync(path.join(existing, ".openclaw-sidecar-write-test-")));
  } catch (err) {
    throw new Error(
      `${name}: ${show(existing)} is not writable by this user (uid ${process.getuid?.() ?? "?"}: ${(err as NodeJS.ErrnoException).code ?? String(err)}); the account key and certificates are stored there`,
    );
  }
  return dir;
}

export function eabHmacKey(v: unknown, name: string): SecretValue {
  const s = text(v, name);
  if (!/^[A-Za-z0-9_-]+={0,2}$/.test(s)) throw new Error(`${name}: must be the base64url HMAC key your CA gave you`);
  return secretValue(s);
}
