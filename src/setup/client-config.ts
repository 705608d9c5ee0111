// print-client-config (issue 16 §2): the block for the machine that runs the OpenClaw CLI or TUI against a gateway
// behind the sidecar in identity mode. The CLI sends `gateway.remote.edgeAuth` headers on its WebSocket upgrade —
// only over wss:// (the CLI refuses them on ws://) — and the sidecar takes them as a login: a Bearer with a sidecar
// token, or a machine credential's CF-Access-Client-Id / -Secret pair. Measured with the real CLI
// (test/gateway/clients.test.ts): `openclaw health` is answered as that user, with no pairing asked.
// A CLI refuses a certificate no public CA vouches for ("self-signed certificate"): for one of those the block pins it
// with gateway.remote.tlsFingerprint, which the CLI checks instead of a CA.
import { X509Certificate } from "node:crypto";
import { rootCertificates } from "node:tls";
import { readFileSync } from "node:fs";
import { readStoredCertificatePem, storeDir } from "../tls/acme-store.ts";
import type { Config } from "../options/config.ts";

/**
 * The SHA-256 fingerprint of a certificate as OpenClaw compares it (its normalizeTlsFingerprint of Node's
 * fingerprint256): 64 lowercase hex digits, no colons.
 */
export const tlsFingerprint = (cert: X509Certificate): string => cert.fingerprint256.replace(/:/g, "").toLowerCase();

const pemCertificates = (pem: string): X509Certificate[] =>
  (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((c) => new X509Certificate(c));

let roots: X509Certificate[] | undefined;
/**
 * Whether `chain[0]` chains, through the other certificates of its file, to a root Node trusts by default: a CLI
 * then connects without a pin (and a pin would only break at the next renewal).
 */
export function publiclyTrusted(chain: X509Certificate[]): boolean {
  roots ??= rootCertificates.map((r) => new X509Certificate(r));
  const trusted = roots;
  let current = chain[0];
  for (let depth = 0; current !== undefined && depth < 8; depth++) {
    const cert: X509Certificate = current;
    const signedBy = (issuer: X509Certificate): boolean => cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
    if (trusted.some(signedBy)) return true;
    current = chain.find((c) => c !== cert && c.fingerprint256 !== cert.fingerprint256 && signedBy(c));
  }
  return false;
}

interface Pin {
  /** Undefined: nothing to pin (a public CA's certificate, or one not known here). */
  fingerprint?: string;
  /** Comment lines for the printed block. */
  lines: string[];
}

/** The certificate the sidecar serves, and whether the CLI needs it pinned. */
export function certificatePin(config: Config): Pin {
  const trustCa =
    "or trust its CA on the CLI's machine instead (NODE_EXTRA_CA_CERTS=<the CA's certificate>) and drop the pin";
  if (config.tlsCert !== undefined) {
    const chain = pemCertificates(readFileSync(config.tlsCert, "utf8"));
    if (chain.length === 0) return { lines: [`${config.tlsCert} holds no certificate to pin.`] };
    if (publiclyTrusted(chain))
      return {
        lines: [`The certificate (${config.tlsCert}) chains to a public CA: the CLI trusts it, no pin needed.`],
      };
    const leaf = chain[0] as X509Certificate;
    const self = leaf.checkIssued(leaf) ? "self-signed" : "not from a public CA";
    return {
      fingerprint: tlsFingerprint(leaf),
      lines: [
        `tlsFingerprint: the SHA-256 of ${config.tlsCert} (${self}; without the pin the CLI refuses it: "self-signed certificate").`,
        self === "self-signed"
          ? "Replace it whenever the certificate changes."
          : `Replace it whenever the certificate changes, ${trustCa}.`,
      ],
    };
  }
  if (config.acmeDomains.length > 0) {
    const pem =
      config.acmeStorage === undefined
        ? undefined
        : readStoredCertificatePem(storeDir(config.acmeStorage, config.acmeDirectory));
    const chain = pem === undefined ? [] : pemCertificates(pem);
    if (chain.length === 0)
      return {
        lines: [
          `No certificate issued yet for ${config.acmeDomains.join(", ")}: the sidecar serves a self-signed placeholder, made anew at`,
          "each start, which cannot be pinned. Print this again once `openclaw-sidecar doctor` shows the certificate.",
        ],
      };
    if (publiclyTrusted(chain))
      return { lines: ["The ACME certificate chains to a public CA: the CLI trusts it, no pin needed."] };
    return {
      fingerprint: tlsFingerprint(chain[0] as X509Certificate),
      lines: [
        `tlsFingerprint: the SHA-256 of the current ACME certificate, from a CA the CLI does not trust (${config.acmeDirectory}).`,
        `It changes at every renewal: update it then, ${trustCa}.`,
      ],
    };
  }
  return {
    lines: [
      "TLS ends in front of the sidecar: if that certificate is self-signed, pin it with gateway.remote.tlsFingerprint,",
      "its SHA-256: openssl x509 -in cert.pem -noout -fingerprint -sha256 (colons are accepted).",
    ],
  };
}

export function clientConfigFor(config: Config): { text: string } | { error: string } {
  if (config.mode !== "identity") {
    return {
      error: `print-client-config is for identity mode (mode is "${config.mode}"): in ${config.mode} mode the CLI uses the gateway's own token (gateway.remote.token)`,
    };
  }
  const origin = config.publicOrigin;
  const url =
    origin === undefined
      ? "wss://<the sidecar's public host>"
      : origin.protocol === "https:"
        ? `wss://${origin.host}`
        : undefined;
  if (url === undefined)
    return {
      error: `the CLI sends edgeAuth headers only over wss://, and publicOrigin is ${origin?.origin}: terminate TLS at the sidecar (tlsCert/tlsKey, acmeDomains) or in front of it`,
    };
  const machine = config.credentials.some((c) => c.clientId !== undefined);
  const edgeAuth = machine
    ? {
        "CF-Access-Client-Id": { source: "env", provider: "default", id: "CF_ACCESS_CLIENT_ID" },
        "CF-Access-Client-Secret": { source: "env", provider: "default", id: "CF_ACCESS_CLIENT_SECRET" },
      }
    : { Authorization: { source: "env", provider: "default", id: "OPENCLAW_SIDECAR_BEARER" } };
  const pin = certificatePin(config);
  const block = {
    secrets: { providers: { default: { source: "env" } } },
    gateway: {
      mode: "remote",
      auth: { mode: "none" },
      remote: { url, ...(pin.fingerprint !== undefined ? { tlsFingerprint: pin.fingerprint } : {}), edgeAuth },
    },
  };
  const env = machine
    ? "export CF_ACCESS_CLIENT_ID=<clientId> CF_ACCESS_CLIENT_SECRET=<its secret>   # a tokensFile machine credential"
    : "export OPENCLAW_SIDECAR_BEARER='Bearer <your sidecar token>'";
  return {
    text:
      `// openclaw.json on the machine that runs the OpenClaw CLI / TUI, for a gateway behind openclaw-sidecar (identity mode).\n` +
      `// auth.mode "none": the sidecar, not a gateway token, authenticates this client (edgeAuth, sent only over wss://).\n` +
      pin.lines.map((l) => `// ${l}\n`).join("") +
      `${JSON.stringify(block, null, 2)}\n` +
      `// Then, in the CLI's environment:\n//   ${env}\n` +
      `// The connection reaches the gateway as that user (trusted-proxy); no device pairing is asked for.\n`,
  };
}
