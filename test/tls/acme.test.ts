// Automatic HTTPS against Pebble, the real ACME test CA: issuance through HTTP-01 (on the redirect listener) and
// TLS-ALPN-01 (on the proxy's TLS port), validated by Pebble against the sidecar's own listeners on loopback; the
// served chain verified by `openssl s_client` against Pebble's root; a restart that serves the stored certificate
// without a new order; renewal of short-lived certificates under an open WebSocket; a CA that is down at start; a
// failed challenge; external account binding; and what doctor reports.
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import https from "node:https";
import { tmpdir } from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import tls from "node:tls";
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import WebSocket from "ws";
import { storeDir } from "../../src/tls/acme-store.ts";
import { loadConfig } from "../../src/options/config.ts";
import { runDoctor } from "../../src/commands/doctor.ts";
import { PLACEHOLDER_ISSUER } from "../../src/tls/placeholder-certificate.ts";
import { eventually, freePort } from "../helpers/net.ts";
import { type Pebble, pebbleMissing, startPebble } from "../helpers/pebble.ts";
import { startTestSidecar, type TestSidecar } from "../helpers/sidecar.ts";
import { describeTier } from "../helpers/tier.ts";
import { type FakeGateway, startFakeGateway } from "../helpers/upstream.ts";

let gw: FakeGateway;
let pebble: Pebble;
let httpPort: number;
let tlsPort: number;
let rootFile: string;
const running: TestSidecar[] = [];

const tmp = (name: string) => mkdtempSync(path.join(tmpdir(), `sidecar-acme-${name}-`));

async function sidecar(flags: Record<string, string>, ca: Pebble = pebble): Promise<TestSidecar> {
  const sc = await startTestSidecar({
    "--upstream": gw.url,
    "--listen": `127.0.0.1:${tlsPort}`,
    "--acme-directory": ca.directory,
    "--acme-directory-ca-file": ca.httpsCaFile,
    "--acme-retry-ms": "400",
    ...flags,
  });
  running.push(sc);
  return sc;
}
async function stop(sc: TestSidecar): Promise<void> {
  await sc.close();
  running.splice(running.indexOf(sc), 1);
}

interface Served {
  serial: string;
  issuer: string;
  subject: string;
  validTo: string;
}
function served(servername: string, port = tlsPort): Promise<Served> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: "127.0.0.1", port, servername, rejectUnauthorized: false }, () => {
      const c = s.getPeerCertificate();
      resolve({
        serial: c.serialNumber,
        issuer: String(c.issuer?.CN),
        subject: String(c.subject?.CN),
        validTo: c.valid_to,
      });
      s.end();
    });
    s.on("error", reject);
  });
}

/** `openssl s_client` with only Pebble's root trusted: exit 0 and "Verify return code: 0 (ok)" or a thrown error. */
function opensslVerify(servername: string, caFile = rootFile): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      "openssl",
      [
        "s_client",
        "-connect",
        `127.0.0.1:${tlsPort}`,
        "-servername",
        servername,
        "-CAfile",
        caFile,
        "-verify_return_error",
        "-verify_hostname",
        servername,
        "-showcerts",
      ],
      { timeout: 10_000 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`openssl s_client failed: ${err.message}\n${stdout}\n${stderr}`));
        else resolve(stdout);
      },
    );
    child.stdin?.end();
  });
}

function httpsGet(servername: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    https
      .get(
        { host: "127.0.0.1", port: tlsPort, path: "/via-acme", servername, ca, headers: { host: servername } },
        (res) => {
          let body = "";
          res.on("data", (d) => (body += d));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        },
      )
      .on("error", reject);
  });
}

const logged = (sc: TestSidecar, msg: string) => sc.logs.filter((l) => String(l.msg).startsWith(msg));
const orders = (sc: TestSidecar, result?: string) =>
  sc.metric("openclaw_sidecar_acme_orders_total", result ? { result } : {});
const mode = (file: string) => statSync(file).mode & 0o777;

describeTier("automatic HTTPS against Pebble", pebbleMissing(), () => {
  beforeAll(async () => {
    [httpPort, tlsPort] = [await freePort(), await freePort()];
    gw = await startFakeGateway();
    pebble = await startPebble({ httpPort, tlsPort });
    rootFile = path.join(tmp("root"), "pebble-root.pem");
    writeFileSync(rootFile, await pebble.root());
  });
  // A failed test must not leave its sidecar on the fixed ports the next test (and Pebble's validation) uses.
  afterEach(async () => {
    for (const sc of running.splice(0)) await sc.close();
  });
  afterAll(async () => {
    await pebble?.stop();
    await gw?.close();
  });

  const storage = tmp("http01");
  let firstSerial: string;

  it("HTTP-01: a placeholder first, then a certificate Pebble validated on the redirect listener; openssl verifies the chain to Pebble's root", async () => {
    const sc = await sidecar({
      "--acme-domains": "claw.test,www.claw.test",
      "--acme-storage": storage,
      "--acme-email": "ops@claw.test",
      "--https-redirect-listen": `127.0.0.1:${httpPort}`,
    });
    expect(logged(sc, "ACME: no stored certificate").length).toBe(1);
    await eventually(async () => (await orders(sc, "issued")) === 1, 20_000, "the first certificate");
    const cert = await served("claw.test");
    expect(cert.issuer).toMatch(/^Pebble Intermediate CA/);
    firstSerial = cert.serial;

    const out = await opensslVerify("www.claw.test");
    expect(out).toMatch(/Verify return code: 0 \(ok\)/);
    expect(out).toMatch(/i:CN\s*=\s*Pebble Root CA/); // the intermediate, issued by the root, is in the served chain

    // Real HTTPS through the sidecar to the gateway, trusting only Pebble's root.
    const res = await httpsGet("claw.test", readFileSync(rootFile, "utf8"));
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body).headers["x-forwarded-proto"]).toBe("https");

    const line = logged(sc, "ACME order: certificate issued")[0] as Record<string, unknown>;
    expect(line).toMatchObject({
      result: "issued",
      challenge: "http-01",
      domains: ["claw.test", "www.claw.test"],
      serial: firstSerial,
    });
    const expiry = await sc.metric("openclaw_sidecar_certificate_expiry_timestamp_seconds", {
      domain: "www.claw.test",
    });
    expect(expiry).toBe(Math.floor(new Date(cert.validTo).getTime() / 1000));

    // Persisted: 0700 directory, 0600 files, one directory per CA.
    const dir = storeDir(storage, pebble.directory);
    expect(readdirSync(dir).sort()).toEqual(["account.key", "account.url", "cert.pem", "key.pem", "status.json"]);
    expect(mode(dir)).toBe(0o700);
    for (const f of readdirSync(dir)) expect(mode(path.join(dir, f))).toBe(0o600);
    expect(JSON.parse(readFileSync(path.join(dir, "status.json"), "utf8"))).toMatchObject({
      result: "issued",
      domains: ["claw.test", "www.claw.test"],
    });

    // The redirect listener still redirects everything that is not a challenge.
    const redirect = await fetch(`http://127.0.0.1:${httpPort}/chat`, {
      redirect: "manual",
      headers: { host: "claw.test" },
    });
    expect(redirect.status).toBe(308);
    expect((await fetch(`http://127.0.0.1:${httpPort}/.well-known/acme-challenge/unknown-token`)).status).toBe(404);
    await stop(sc);
  });

  it("restart: the stored certificate is served from the first handshake, and no new order is made", async () => {
    const sc = await sidecar({
      "--acme-domains": "claw.test,www.claw.test",
      "--acme-storage": storage,
      "--https-redirect-listen": `127.0.0.1:${httpPort}`,
    });
    expect((await served("claw.test")).serial).toBe(firstSerial);
    expect(logged(sc, "ACME: serving the stored certificate").length).toBe(1);
    await new Promise((r) => setTimeout(r, 2000));
    expect(await orders(sc)).toBe(0);
    expect(logged(sc, "ACME order").length).toBe(0);
    expect(await opensslVerify("claw.test")).toMatch(/Verify return code: 0 \(ok\)/);
    await stop(sc);
  });

  it("TLS-ALPN-01: Pebble validates on the proxy's own TLS port; ordinary handshakes on that port are untouched", async () => {
    const sc = await sidecar({
      "--acme-domains": "alpn.claw.test",
      "--acme-storage": tmp("alpn"),
      "--acme-challenge": "tls-alpn-01",
    });
    expect(logged(sc, "ACME: no stored certificate; serving a self-signed placeholder").length).toBe(1);
    await eventually(async () => (await orders(sc, "issued")) === 1, 20_000, "the TLS-ALPN-01 certificate");
    expect(logged(sc, "TLS-ALPN-01 challenge answered").length).toBeGreaterThanOrEqual(1);
    expect(await opensslVerify("alpn.claw.test")).toMatch(/Verify return code: 0 \(ok\)/);
    const res = await httpsGet("alpn.claw.test", readFileSync(rootFile, "utf8"));
    expect(res.status).toBe(200);
    await stop(sc);
  });

  it("a failed challenge: one clear log line with Pebble's problem document, no crash, the placeholder still served, and a later retry succeeds", async () => {
    // The name resolves to 127.0.0.2 in Pebble's DNS, where nothing listens: Pebble's validation is refused.
    await pebble.setAddress("broken.claw.test", "127.0.0.2");
    const dir = tmp("fail");
    const sc = await sidecar({
      "--acme-domains": "broken.claw.test",
      "--acme-storage": dir,
      "--https-redirect-listen": `127.0.0.1:${httpPort}`,
    });
    await eventually(async () => (await orders(sc, "challenge_failed")) >= 1, 20_000, "the failed challenge");
    const line = logged(sc, "ACME order failed (challenge_failed)")[0] as Record<string, unknown>;
    expect(line.level).toBe("error");
    const problem = line.problem as Record<string, unknown>;
    expect(problem.type).toBe("urn:ietf:params:acme:error:connection");
    expect(String(problem.detail)).toMatch(/127\.0\.0\.2/);
    expect(problem.identifier).toBe("broken.claw.test");
    expect(String(line.msg)).toMatch(/serving the placeholder certificate, retrying in/);
    expect((await served("broken.claw.test")).issuer).toBe(PLACEHOLDER_ISSUER);
    expect(JSON.parse(readFileSync(path.join(storeDir(dir, pebble.directory), "status.json"), "utf8"))).toMatchObject({
      result: "challenge_failed",
      problem: { type: "urn:ietf:params:acme:error:connection" },
    });

    // Fixed (DNS back to 127.0.0.1): a retry, with no restart, gets the certificate.
    await pebble.clearAddress("broken.claw.test");
    await eventually(async () => (await orders(sc, "issued")) === 1, 30_000, "the retry to succeed");
    expect((await served("broken.claw.test")).issuer).toMatch(/^Pebble Intermediate CA/);
    await stop(sc);
  }, 60000);

  it("a CA that is down at start: the sidecar serves the placeholder, reports it (log, metric, doctor), retries, and is issued once the CA is up", async () => {
    const caPort = await freePort();
    const dir = tmp("down");
    const later: Pebble = { ...pebble, directory: `https://127.0.0.1:${caPort}/dir` };
    const sc = await sidecar(
      { "--acme-domains": "down.claw.test", "--acme-storage": dir, "--https-redirect-listen": `127.0.0.1:${httpPort}` },
      later,
    );
    expect((await served("down.claw.test")).issuer).toBe(PLACEHOLDER_ISSUER);
    await eventually(async () => (await orders(sc, "ca_unreachable")) >= 2, 20_000, "two failed attempts");
    const line = logged(sc, "ACME order failed (ca_unreachable)")[0] as Record<string, unknown>;
    expect((line.problem as Record<string, unknown>).code).toBe("ECONNREFUSED");
    expect(await sc.metric("openclaw_sidecar_certificate_expiry_timestamp_seconds", { domain: "down.claw.test" })).toBe(
      0,
    );
    // Retries back off: the delays double (with jitter in [½, 1]×) from acmeRetryMs.
    const delays = logged(sc, "ACME order failed").map((l) => Number(l.retryInMs));
    expect(delays[0]).toBeGreaterThanOrEqual(200);
    expect(delays[0]).toBeLessThanOrEqual(400);
    expect(delays[1]).toBeGreaterThanOrEqual(400);
    expect(delays[1]).toBeLessThanOrEqual(800);

    const report = await doctorReport(sc);
    expect(report).toMatch(
      /\[FAIL\] certificate for down\.claw\.test: none issued yet \(the self-signed placeholder is served\)/,
    );
    expect(report).toMatch(/\[FAIL\] ACME: last order ca_unreachable .*ECONNREFUSED/);

    const ca = await startPebble({ httpPort, tlsPort, listenPort: caPort, testCa: pebble.testCa });
    try {
      await eventually(async () => (await orders(sc, "issued")) === 1, 60_000, "issuance once the CA is up");
      const root = path.join(dir, "root.pem");
      writeFileSync(root, await ca.root());
      expect(await opensslVerify("down.claw.test", root)).toMatch(/Verify return code: 0 \(ok\)/);
      expect(await doctorReport(sc)).toMatch(
        /\[ok\] certificate for down\.claw\.test: issued by Pebble Intermediate CA/,
      );
    } finally {
      await stop(sc);
      await ca.stop();
    }
  }, 90000);

  it("renewal at two thirds of a short lifetime: a new certificate is swapped in, an open WebSocket stays open", async () => {
    const ca = await startPebble({ httpPort, tlsPort, validitySeconds: 12 });
    try {
      const sc = await sidecar(
        {
          "--acme-domains": "renew.claw.test",
          "--acme-storage": tmp("renew"),
          "--https-redirect-listen": `127.0.0.1:${httpPort}`,
        },
        ca,
      );
      await eventually(async () => (await orders(sc, "issued")) === 1, 20_000, "the first short-lived certificate");
      const first = await served("renew.claw.test");
      const issuedLine = logged(sc, "ACME order: certificate issued")[0] as Record<string, unknown>;
      const lifetime = new Date(String(issuedLine.notAfter)).getTime() - Date.now();
      expect(lifetime).toBeLessThan(13_000);

      const ws = new WebSocket(`wss://127.0.0.1:${tlsPort}/echo`, {
        servername: "renew.claw.test",
        rejectUnauthorized: false,
      } as WebSocket.ClientOptions);
      await new Promise((r) => ws.once("message", r)); // connect.challenge
      let closed = false;
      ws.once("close", () => (closed = true));

      await eventually(async () => (await orders(sc, "issued")) === 2, 20_000, "the renewal");
      const second = await served("renew.claw.test");
      expect(second.serial).not.toBe(first.serial);
      expect(new Date(second.validTo).getTime()).toBeGreaterThan(new Date(first.validTo).getTime());
      // Renewed at 2/3 of the 12 s lifetime (4 s before expiry), not earlier and not at expiry.
      const renewAt = new Date(String(issuedLine.renewAt)).getTime();
      const firstNotAfter = new Date(String(issuedLine.notAfter)).getTime();
      expect(firstNotAfter - renewAt).toBeGreaterThan(3500);
      expect(firstNotAfter - renewAt).toBeLessThan(4500);
      const renewedAt = new Date(
        String((logged(sc, "ACME order: certificate issued")[1] as Record<string, unknown>).time),
      ).getTime();
      expect(renewedAt).toBeGreaterThanOrEqual(renewAt);
      expect(renewedAt).toBeLessThan(firstNotAfter);

      ws.send("still here");
      expect(await new Promise<string>((r) => ws.once("message", (d) => r(d.toString())))).toBe("still here");
      expect(closed).toBe(false);
      ws.close();
      await stop(sc);
    } finally {
      await ca.stop();
    }
  }, 60000);

  it("external account binding: refused without the right HMAC key (the CA's problem in the log), issued with it", async () => {
    const hmac = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W";
    const ca = await startPebble({ httpPort, tlsPort, eabKeys: { "kid-1": hmac } });
    try {
      const flags = { "--acme-domains": "eab.claw.test", "--https-redirect-listen": `127.0.0.1:${httpPort}` };
      const without = await sidecar({ ...flags, "--acme-storage": tmp("eab-none") }, ca);
      await eventually(async () => (await orders(without, "ca_error")) >= 1, 20_000, "the refusal");
      const problem = (logged(without, "ACME order failed (ca_error)")[0] as Record<string, unknown>).problem as Record<
        string,
        unknown
      >;
      expect(problem.type).toBe("urn:ietf:params:acme:error:externalAccountRequired");
      await stop(without);

      const withKey = await sidecar(
        { ...flags, "--acme-storage": tmp("eab"), "--acme-eab-kid": "kid-1", "--acme-eab-hmac-key": hmac },
        ca,
      );
      await eventually(async () => (await orders(withKey, "issued")) === 1, 20_000, "issuance with EAB");
      expect(withKey.rawLogs()).not.toContain(hmac);
      await stop(withKey);
    } finally {
      await ca.stop();
    }
  }, 60000);
});

async function doctorReport(sc: TestSidecar): Promise<string> {
  let out = "";
  const sink = new Writable({
    write(chunk: Buffer, _e, cb) {
      out += chunk.toString();
      cb();
    },
  });
  // The gateway part of the report is not under test here: the fake gateway answers what it answers.
  await runDoctor(loadConfig({ env: {}, flags: { ...flagsOf(sc) } }), sink, "127.0.0.1", { timeoutMs: 1000 });
  return out;
}

function flagsOf(sc: TestSidecar): Record<string, string> {
  const c = sc.config;
  return {
    "--upstream": c.upstream.origin,
    "--acme-domains": c.acmeDomains.join(","),
    "--acme-directory": c.acmeDirectory,
    ...(c.acmeDirectoryCaFile ? { "--acme-directory-ca-file": c.acmeDirectoryCaFile } : {}),
    "--acme-storage": c.acmeStorage as string,
    "--acme-challenge": c.acmeChallenge,
    ...(c.httpsRedirectListen
      ? { "--https-redirect-listen": `${c.httpsRedirectListen.host}:${c.httpsRedirectListen.port}` }
      : {}),
  };
}
