// The self-signed certificate served until the first ACME issuance: the TLS listener is up from the first second
// (browsers warn instead of failing to connect, the CA's TLS-ALPN-01 connection has a server to reach), and the
// sidecar never exits for want of a certificate. Made in memory at each start, never stored.
import { randomBytes, webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";
import type { KeyPair } from "./tls.ts";

// @types/node's webcrypto and the Web Crypto types @peculiar/x509 is written against differ only in newer key usages.
type X509Keys = Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[0]["keys"];
x509.cryptoProvider.set(webcrypto as unknown as Crypto);

export const PLACEHOLDER_ISSUER = "openclaw-sidecar placeholder";

export async function createPlaceholderCertificate(domains: string[], validDays = 7): Promise<KeyPair> {
  const algorithm = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
  const keys = await webcrypto.subtle.generateKey(algorithm, true, ["sign", "verify"]);
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomBytes(8).toString("hex"),
    name: `CN=${PLACEHOLDER_ISSUER}`,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + validDays * 86_400_000),
    keys: keys as unknown as X509Keys,
    signingAlgorithm: algorithm,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.SubjectAlternativeNameExtension(domains.map((value) => ({ type: "dns" as const, value }))),
    ],
  });
  const pkcs8 = await webcrypto.subtle.exportKey("pkcs8", keys.privateKey);
  const key = x509.PemConverter.encode([{ type: "PRIVATE KEY", rawData: pkcs8 }]);
  return { key: Buffer.from(key), cert: Buffer.from(cert.toString("pem")) };
}
