// What automatic HTTPS is configured with — the challenge types, a secret that never prints, the settings ACME reads —
// declared apart from the ACME client (acme.ts), so that reading and checking the options (options/acme-options.ts)
// loads no ACME library: `healthcheck` and `check-config` start in a fraction of the time.

export type AcmeChallenge = "http-01" | "tls-alpn-01";
export const ACME_CHALLENGES: readonly AcmeChallenge[] = ["http-01", "tls-alpn-01"];

/** A secret in the config: JSON.stringify (check-config, a log line) prints it as [REDACTED]. */
export interface SecretValue {
  readonly value: string;
  toJSON(): string;
}

/** The options automatic HTTPS reads (validated in options/acme-options.ts). */
export interface AcmeSettings {
  /** The names to obtain a certificate for; empty means no ACME. */
  acmeDomains: string[];
  acmeEmail: string | undefined;
  /** The ACME directory URL (shortcuts resolved). */
  acmeDirectory: string;
  /** Extra CA certificates trusted for the directory's HTTPS (a private CA; Pebble in the tests). */
  acmeDirectoryCaFile: string | undefined;
  acmeStorage: string | undefined;
  acmeChallenge: AcmeChallenge;
  acmeEabKid: string | undefined;
  acmeEabHmacKey: SecretValue | undefined;
  /** First retry delay after a failed order; doubled per failure up to one hour, jittered. */
  acmeRetryMs: number;
  /** Deadline of a TLS-ALPN-01 front's ClientHello, as of any client head. */
  headersTimeoutMs: number;
}
