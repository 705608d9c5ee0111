// The parts of automatic HTTPS that need no CA: renewal time and retry backoff, the ClientHello reader of the
// TLS-ALPN-01 front (on real ClientHellos from node:tls), the store (0600/0700, what it refuses to serve), the
// placeholder, and a sidecar whose stored files are broken (it serves the placeholder; no crash).
import { X509Certificate } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import tls from "node:tls";
import { describe, expect, it } from "vitest";
import { renewalTime, retryDelay } from "../../src/tls/acme.ts";
import { openStore, storeDir } from "../../src/tls/acme-store.ts";
import { clientHelloAlpn } from "../../src/tls/acme-tls-alpn.ts";
import { PLACEHOLDER_ISSUER, createPlaceholderCertificate } from "../../src/tls/placeholder-certificate.ts";
import { createTestCa } from "../helpers/certs.ts";
import { eventually, freePort } from "../helpers/net.ts";
import { startTestSidecar } from "../helpers/sidecar.ts";

const tmp = () => mkdtempSync(path.join(tmpdir(), "sidecar-acme-units-"));

/** The first bytes a real node:tls client sends: its ClientHello. */
function clientHello(alpn: string[] | undefined): Promise<Buffer> {
  return new Promise((resolve) => {
    const server = net.createServer((s) => {
      s.once("data", (d) => {
        resolve(d);
        s.destroy();
        server.close();
      });
    });
    server.listen(0, "127.0.0.1", () => {
      const c = tls.connect({
        host: "127.0.0.1",
        port: (server.address() as net.AddressInfo).port,
        servername: "claw.test",
        ...(alpn ? { ALPNProtocols: alpn } : {}),
      });
      c.on("error", () => {});
    });
  });
}

describe("renewal and retry timing", () => {
  it("renews at two thirds of the lifetime", () => {
    const notBefore = new Date("2026-01-01T00:00:00Z");
    const notAfter = new Date("2026-04-01T00:00:00Z"); // 90 days
    expect(new Date(renewalTime({ notBefore, notAfter, names: [], serial: "", issuer: "" })).toISOString()).toBe(
      "2026-03-02T00:00:00.000Z",
    );
  });

  it("doubles the retry delay per failure, caps it at one hour, and jitters it into [½, 1]×", () => {
    expect([1, 2, 3, 4].map((n) => retryDelay(n, 60_000, () => 1))).toEqual([60_000, 120_000, 240_000, 480_000]);
    expect(retryDelay(1, 60_000, () => 0)).toBe(30_000);
    expect(retryDelay(30, 60_000, () => 1)).toBe(3_600_000);
    const samples = new Set(Array.from({ length: 50 }, () => retryDelay(2, 1000)));
    expect(samples.size).toBeGreaterThan(10);
    for (const d of samples) expect(d >= 1000 && d <= 2000).toBe(true);
  });
});

describe("the TLS-ALPN-01 front's ClientHello reader", () => {
  it("reads the ALPN list of real ClientHellos", async () => {
    expect(clientHelloAlpn(await clientHello(["acme-tls/1"]))).toEqual(["acme-tls/1"]);
    expect(clientHelloAlpn(await clientHello(["h2", "http/1.1"]))).toEqual(["h2", "http/1.1"]);
    expect(clientHelloAlpn(await clientHello(undefined))).toEqual([]);
  });

  it("waits for a split record, and passes on what is not TLS", async () => {
    const hello = await clientHello(["acme-tls/1"]);
    expect(clientHelloAlpn(hello.subarray(0, 3))).toBeUndefined();
    expect(clientHelloAlpn(hello.subarray(0, hello.length - 1))).toBeUndefined();
    expect(clientHelloAlpn(Buffer.from("GET / HTTP/1.1\r\n"))).toEqual([]);
    // A record claiming more than TLS allows is no challenge (the TLS server refuses it).
    expect(clientHelloAlpn(Buffer.from([0x16, 3, 1, 0xff, 0xff, 1]))).toEqual([]);
  });
});

describe("the store", () => {
  it("writes 0600 files in a 0700 directory (also one that existed wider), one directory per CA", () => {
    const root = tmp();
    const dir = storeDir(root, "https://acme-v02.api.letsencrypt.org/directory");
    expect(path.basename(dir)).toBe("acme-v02.api.letsencrypt.org-directory");
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    const store = openStore(dir);
    store.writeAccountKey("key");
    store.writeCertificate("cert", "key");
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    for (const f of ["account.key", "cert.pem", "key.pem"])
      expect(statSync(path.join(dir, f)).mode & 0o777).toBe(0o600);
  });

  it("serves a stored certificate only when it is for exactly these names, with its own key, and not expired", () => {
    const ca = createTestCa(); // its certificates are for localhost and 127.0.0.1, valid two days
    const a = ca.issue("a");
    const b = ca.issue("b");
    const store = openStore(path.join(tmp(), "ca"));
    expect(store.readCertificate(["localhost"]).reason).toBe("no stored certificate");
    store.writeCertificate(readFileSync(a.cert, "utf8"), readFileSync(b.key, "utf8"));
    expect(store.readCertificate(["localhost"]).reason).toBe(
      "the stored key does not belong to the stored certificate",
    );
    store.writeCertificate(readFileSync(a.cert, "utf8"), readFileSync(a.key, "utf8"));
    expect(store.readCertificate(["claw.test"]).reason).toBe("the stored certificate is for localhost, not claw.test");
    expect(store.readCertificate(["localhost"], new Date(Date.now() + 3 * 86_400_000)).reason).toMatch(
      /^the stored certificate expired at /,
    );
    expect(store.readCertificate(["localhost"]).stored?.info.names).toEqual(["localhost"]);
    store.writeCertificate("garbage", "garbage");
    expect(store.readCertificate(["localhost"]).reason).toMatch(/^the stored certificate is unreadable/);
  });
});

describe("the placeholder", () => {
  it("is self-signed for every name, valid for a week", async () => {
    const pair = await createPlaceholderCertificate(["claw.test", "www.claw.test"]);
    const x = new X509Certificate(pair.cert);
    expect(x.subject).toBe(`CN=${PLACEHOLDER_ISSUER}`);
    expect(x.issuer).toBe(x.subject);
    expect(x.verify(x.publicKey)).toBe(true);
    expect(x.subjectAltName).toBe("DNS:claw.test, DNS:www.claw.test");
    const days = (new Date(x.validTo).getTime() - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(6.9);
    expect(days).toBeLessThan(7.1);
    expect(() => tls.createSecureContext(pair)).not.toThrow();
  });
});

describe("a sidecar whose stored certificate is broken", () => {
  it("starts, serves the placeholder, says why, and keeps retrying (no crash loop)", async () => {
    const storage = tmp();
    const directory = `https://127.0.0.1:${await freePort()}/directory`; // nothing listens there
    const dir = storeDir(storage, directory);
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, "cert.pem"), "-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n");
    writeFileSync(path.join(dir, "key.pem"), "broken");
    chmodSync(path.join(dir, "key.pem"), 0o644);
    const sc = await startTestSidecar({
      "--acme-domains": "claw.test",
      "--acme-storage": storage,
      "--acme-directory": directory,
      "--acme-challenge": "tls-alpn-01",
      "--acme-retry-ms": "100",
    });
    try {
      const issuer = await new Promise<string>((resolve, reject) => {
        const s = tls.connect(
          { host: "127.0.0.1", port: sc.sidecar.proxyAddress.port, servername: "claw.test", rejectUnauthorized: false },
          () => {
            resolve(String(s.getPeerCertificate().issuer.CN));
            s.end();
          },
        );
        s.on("error", reject);
      });
      expect(issuer).toBe(PLACEHOLDER_ISSUER);
      expect(sc.logs.some((l) => String(l.msg).startsWith("ACME: the stored certificate is unreadable"))).toBe(true);
      await eventually(
        async () => (await sc.metric("openclaw_sidecar_acme_orders_total", { result: "ca_unreachable" })) >= 3,
        10_000,
        "three attempts",
      );
    } finally {
      await sc.close();
    }
  });
});
