// Pebble, Let's Encrypt's ACME test server (Debian package pebble), with pebble-challtestsrv from the same package as
// its DNS server: every name resolves to 127.0.0.1 unless a test points it elsewhere, so the CA validates HTTP-01 and
// TLS-ALPN-01 against the sidecar's own listeners on loopback (Pebble's httpPort/tlsPort are the sidecar's ports).
// Pebble's HTTPS certificate comes from a throwaway test CA (helpers/certs.ts); its issuing root is new at every start.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import path from "node:path";
import { type TestCa, createTestCa } from "./certs.ts";
import { freePort } from "./net.ts";

export function pebbleMissing(): string[] {
  const missing: string[] = [];
  for (const bin of ["/usr/bin/pebble", "/usr/bin/pebble-challtestsrv"])
    if (!existsSync(bin)) missing.push(`${bin} (Debian package pebble)`);
  try {
    execFileSync("openssl", ["version"], { stdio: "pipe" });
  } catch {
    missing.push("openssl (Debian package openssl)");
  }
  return missing;
}

export interface PebbleOptions {
  /** The sidecar's plain-HTTP (redirect) port, where Pebble sends HTTP-01 validation. */
  httpPort: number;
  /** The sidecar's TLS port, where Pebble sends TLS-ALPN-01 validation. */
  tlsPort: number;
  /** Pebble's own port (to start a CA later on a port the sidecar already dials); default: a free one. */
  listenPort?: number;
  /** Lifetime of issued certificates, seconds (Pebble's default: 5 years). */
  validitySeconds?: number;
  /** External account binding keys (kid → base64url HMAC key); when set, EAB is required. */
  eabKeys?: Record<string, string>;
  /** The test CA for Pebble's own HTTPS certificate (a CA started later on a port must be trusted the same way). */
  testCa?: TestCa;
}

export interface Pebble {
  directory: string;
  testCa: TestCa;
  /** The CA that signed Pebble's own HTTPS certificate (for acmeDirectoryCaFile). */
  httpsCaFile: string;
  /** Pebble's issuing root, PEM. */
  root(): Promise<string>;
  /** Points a name at another address in the DNS Pebble uses (challtestsrv's management API). */
  setAddress(host: string, ip: string): Promise<void>;
  clearAddress(host: string): Promise<void>;
  output(): string;
  stop(): Promise<void>;
}

function get(url: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca }, (res) => {
        let body = "";
        res.on("data", (d) => (body += d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on("error", reject);
  });
}

function post(port: number, route: string, body: unknown): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, path: route, method: "POST" }, (res) => {
      res.resume();
      res.on("end", () =>
        res.statusCode === 200 ? resolve() : reject(new Error(`challtestsrv ${route}: HTTP ${res.statusCode}`)),
      );
    });
    req.on("error", reject);
    req.end(JSON.stringify(body));
  });
}

export async function startPebble(opts: PebbleOptions): Promise<Pebble> {
  const ca = opts.testCa ?? createTestCa(); // its server certificates are for localhost and 127.0.0.1
  const { cert, key } = ca.issue(`pebble-${process.hrtime.bigint()}`);
  const [listen, management, dns, dnsManagement] = [
    opts.listenPort ?? (await freePort()),
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  const configFile = path.join(ca.dir, `pebble-config-${listen}.json`);
  writeFileSync(
    configFile,
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${listen}`,
        managementListenAddress: `127.0.0.1:${management}`,
        certificate: cert,
        privateKey: key,
        httpPort: opts.httpPort,
        tlsPort: opts.tlsPort,
        ocspResponderURL: "",
        externalAccountBindingRequired: opts.eabKeys !== undefined,
        externalAccountMACKeys: opts.eabKeys ?? {},
        ...(opts.validitySeconds !== undefined ? { certificateValidityPeriod: opts.validitySeconds } : {}),
      },
    }),
  );
  let out = "";
  const children: ChildProcess[] = [];
  const run = (bin: string, args: string[], env: Record<string, string> = {}) => {
    const child = spawn(bin, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr?.on("data", (d: Buffer) => (out += d.toString()));
    children.push(child);
  };
  run("/usr/bin/pebble-challtestsrv", [
    "-dns01",
    `127.0.0.1:${dns}`,
    "-http01",
    "",
    "-https01",
    "",
    "-tlsalpn01",
    "",
    "-management",
    `127.0.0.1:${dnsManagement}`,
    "-defaultIPv4",
    "127.0.0.1",
    "-defaultIPv6",
    "",
  ]);
  // No random validation sleeps, no rejected nonces, and every order validates afresh (no authorization reuse).
  run("/usr/bin/pebble", ["-config", configFile, "-dnsserver", `127.0.0.1:${dns}`], {
    PEBBLE_VA_NOSLEEP: "1",
    PEBBLE_WFE_NONCEREJECT: "0",
    PEBBLE_AUTHZREUSE: "0",
  });
  const caPem = readFileSync(ca.caCert, "utf8");
  const directory = `https://127.0.0.1:${listen}/dir`;
  const stop = async () => {
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            c.once("exit", () => resolve());
            c.kill("SIGTERM");
          }),
      ),
    );
  };
  const deadline = Date.now() + 15_000;
  for (;;) {
    const up = await get(directory, caPem).then(
      (r) => r.status === 200,
      () => false,
    );
    const dnsUp = await post(dnsManagement, "/clear-a", { host: "probe.test" }).then(
      () => true,
      () => false,
    );
    if (up && dnsUp) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`Pebble did not start:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    directory,
    testCa: ca,
    httpsCaFile: ca.caCert,
    root: async () => (await get(`https://127.0.0.1:${management}/roots/0`, caPem)).body,
    setAddress: (host, ip) => post(dnsManagement, "/add-a", { host, addresses: [ip] }),
    clearAddress: (host) => post(dnsManagement, "/clear-a", { host }),
    output: () => out,
    stop,
  };
}
