// Persistence for automatic HTTPS: the ACME account key, the certificate with its key, and the outcome of the last
// order (read by `doctor`). One directory per CA under acmeStorage, so a staging certificate is never served once the
// directory is switched to production. Directories are 0700, files 0600, each written to a temporary name and renamed
// into place (a crash never leaves half a file).
import { X509Certificate, createPrivateKey } from "node:crypto";
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { AcmeOrderResult } from "../ops/metrics.ts";

export interface CertificateInfo {
  notBefore: Date;
  notAfter: Date;
  /** The DNS names of the subjectAltName, sorted. */
  names: string[];
  serial: string;
  issuer: string;
}

export interface StoredCertificate {
  cert: string;
  key: string;
  info: CertificateInfo;
}

/** The last order, as `doctor` reports it. */
export interface OrderStatus {
  at: string;
  result: AcmeOrderResult;
  domains: string[];
  notAfter?: string;
  /** The CA's problem document (RFC 8555 §6.7), or the local error as {detail}. */
  problem?: Record<string, unknown>;
  nextAttemptAt?: string;
}

/** The directory for one CA: e.g. acme-v02.api.letsencrypt.org-directory. */
export function storeDir(storage: string, directoryUrl: string): string {
  const url = new URL(directoryUrl);
  const slug = `${url.host}${url.pathname}`.replace(/[^A-Za-z0-9.]+/g, "-").replace(/^-+|-+$/g, "");
  return path.join(storage, slug);
}

export function describeCertificate(pem: string): CertificateInfo {
  const x = new X509Certificate(pem);
  const names = (x.subjectAltName ?? "")
    .split(", ")
    .filter((n) => n.startsWith("DNS:"))
    .map((n) => n.slice(4))
    .sort();
  return {
    notBefore: new Date(x.validFrom),
    notAfter: new Date(x.validTo),
    names,
    serial: x.serialNumber,
    issuer: x.issuer.replace(/\n/g, ", "),
  };
}

function writePrivate(file: string, data: string | Buffer): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, data, { mode: 0o600 });
  chmodSync(tmp, 0o600); // writeFileSync's mode applies only to a new file; a leftover tmp keeps its old mode
  renameSync(tmp, file);
}

function readIfPresent(file: string): string | undefined {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

export function openStore(dir: string) {
  const file = (name: string) => path.join(dir, name);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  return {
    dir,
    readAccountKey: (): string | undefined => readIfPresent(file("account.key")),
    writeAccountKey: (pem: string): void => writePrivate(file("account.key"), pem),
    /** The account's URL at the CA, once registered: later orders skip the registration request. */
    readAccountUrl: (): string | undefined => readIfPresent(file("account.url"))?.trim() || undefined,
    writeAccountUrl: (url: string | undefined): void => writePrivate(file("account.url"), url ?? ""),
    /**
     * The stored certificate when it is for exactly `domains`, its key matches and it has not expired; otherwise
     * undefined and the reason (for the log line).
     */
    readCertificate(domains: string[], now = new Date()): { stored?: StoredCertificate; reason: string } {
      const cert = readIfPresent(file("cert.pem"));
      const key = readIfPresent(file("key.pem"));
      if (cert === undefined || key === undefined) return { reason: "no stored certificate" };
      let info: CertificateInfo;
      try {
        info = describeCertificate(cert);
        if (!new X509Certificate(cert).checkPrivateKey(createPrivateKey(key)))
          return { reason: "the stored key does not belong to the stored certificate" };
      } catch (err) {
        return { reason: `the stored certificate is unreadable (${(err as Error).message})` };
      }
      if (info.names.join(",") !== [...domains].sort().join(","))
        return { reason: `the stored certificate is for ${info.names.join(", ")}, not ${domains.join(", ")}` };
      if (info.notAfter <= now) return { reason: `the stored certificate expired at ${info.notAfter.toISOString()}` };
      return { stored: { cert, key, info }, reason: "stored certificate valid" };
    },
    writeCertificate(cert: string, key: string): void {
      writePrivate(file("key.pem"), key);
      writePrivate(file("cert.pem"), cert);
    },
    readStatus: (): OrderStatus | undefined => readStatus(dir),
    writeStatus: (status: OrderStatus): void =>
      writePrivate(file("status.json"), `${JSON.stringify(status, null, 2)}\n`),
  };
}
export type AcmeStore = ReturnType<typeof openStore>;

/** Reads status.json without creating anything (doctor). */
export function readStatus(dir: string): OrderStatus | undefined {
  const text = readIfPresent(path.join(dir, "status.json"));
  return text === undefined ? undefined : (JSON.parse(text) as OrderStatus);
}

/** The stored certificate's PEM without creating anything (print-client-config pins it). */
export function readStoredCertificatePem(dir: string): string | undefined {
  return readIfPresent(path.join(dir, "cert.pem"));
}

/** Reads the stored certificate without creating anything (doctor). */
export function readStoredCertificateInfo(dir: string): CertificateInfo | undefined {
  const pem = readIfPresent(path.join(dir, "cert.pem"));
  return pem === undefined ? undefined : describeCertificate(pem);
}
