// The acme* options: names in the file, the environment and flags; shortcuts and defaults; every problem reported at
// once (and exit 78 from the CLI); the EAB key never printed.
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import YAML from "yaml";
import { describeConfig } from "../../src/cli.ts";
import { type ConfigError, loadConfig } from "../../src/options/config.ts";
import { createTestCa } from "../helpers/certs.ts";

const dir = mkdtempSync(path.join(tmpdir(), "sidecar-acme-config-"));
const problemsOf = (flags: Record<string, string>, env: NodeJS.ProcessEnv = {}): string[] => {
  try {
    loadConfig({ env, flags });
  } catch (err) {
    return (err as ConfigError).problems;
  }
  return [];
};

describe("acme options", () => {
  it("has one name in the file, the environment and the flags; letsencrypt production, http-01 and 60 s retries by default", () => {
    const file = path.join(dir, "config.json");
    writeFileSync(
      file,
      JSON.stringify({
        acmeDomains: ["Claw.Example.com", "www.claw.example.com", "claw.example.com"],
        acmeStorage: path.join(dir, "store"),
      }),
    );
    const c = loadConfig({
      file,
      env: { OPENCLAW_SIDECAR_ACME_EMAIL: "ops@example.com" },
      flags: { "--https-redirect-listen": "0.0.0.0:8080" },
    });
    expect(c.acmeDomains).toEqual(["claw.example.com", "www.claw.example.com"]);
    expect(c.acmeEmail).toBe("ops@example.com");
    expect(c.acmeDirectory).toBe("https://acme-v02.api.letsencrypt.org/directory");
    expect(c.acmeChallenge).toBe("http-01");
    expect(c.acmeRetryMs).toBe(60_000);
    expect(c.acmeStorage).toBe(path.join(dir, "store"));

    const staging = loadConfig({
      env: {
        OPENCLAW_SIDECAR_ACME_DOMAINS: "a.example.com",
        OPENCLAW_SIDECAR_ACME_STORAGE: dir,
        OPENCLAW_SIDECAR_ACME_DIRECTORY: "letsencrypt-staging",
        OPENCLAW_SIDECAR_ACME_CHALLENGE: "tls-alpn-01",
      },
    });
    expect(staging.acmeDirectory).toBe("https://acme-staging-v02.api.letsencrypt.org/directory");
    expect(staging.acmeChallenge).toBe("tls-alpn-01");
    expect(staging.httpsRedirectListen).toBeUndefined();
  });

  it("reports every bad acme value at once, each naming the option and the rule", () => {
    const notPem = path.join(dir, "not.pem");
    writeFileSync(notPem, "hello\n");
    expect(
      problemsOf({
        "--acme-domains": "*.claw.example.com",
        "--acme-email": "not-an-address",
        "--acme-directory": "http://ca.example.com/directory",
        "--acme-directory-ca-file": notPem,
        "--acme-challenge": "dns-01",
        "--acme-eab-kid": "kid-1",
        "--acme-retry-ms": "5",
      }),
    ).toEqual([
      'acmeDomains: "*.claw.example.com" is a wildcard; wildcards need the dns-01 challenge, which the sidecar does not do (list each name)',
      'acmeEmail: "not-an-address" is not an email address',
      'acmeDirectory: "http://ca.example.com/directory" must be an https: URL (ACME directories are served over HTTPS)',
      `acmeDirectoryCaFile: ${JSON.stringify(notPem)} is not a PEM certificate`,
      'acmeChallenge: "dns-01" must be one of http-01, tls-alpn-01',
      'acmeRetryMs: "5" must be an integer from 100 to 3600000',
      "acmeEabKid and acmeEabHmacKey: set both or neither",
      "acmeEmail, acmeDirectoryCaFile, acmeEabKid: set acmeDomains too (without it there is no ACME)",
    ]);
  });

  it("refuses names that are no DNS names", () => {
    expect(problemsOf({ "--acme-domains": "10.0.0.1" })[0]).toBe(
      'acmeDomains: "10.0.0.1" is an IP address; the sidecar obtains certificates for DNS names only',
    );
    expect(problemsOf({ "--acme-domains": "localhost" })[0]).toBe(
      'acmeDomains: "localhost" is not a DNS name with at least one dot (example: claw.example.com)',
    );
    expect(problemsOf({ "--acme-domains": "bad_name.example.com" })[0]).toMatch(/is not a DNS name/);
    expect(
      problemsOf({
        "--acme-directory": "not a url",
        "--acme-domains": "a.example.com",
        "--acme-storage": dir,
        "--acme-challenge": "tls-alpn-01",
      }),
    ).toEqual(['acmeDirectory: "not a url" is neither letsencrypt nor letsencrypt-staging nor a URL']);
  });

  it("checks what acmeDomains needs: storage, a redirect listener for http-01, and no tlsCert", () => {
    const ca = createTestCa();
    const pair = ca.issue("static");
    expect(problemsOf({ "--acme-domains": "a.example.com", "--tls-cert": pair.cert, "--tls-key": pair.key })).toEqual([
      "acmeDomains and tlsCert/tlsKey: set one or the other (with acmeDomains the sidecar obtains the certificate itself)",
      "acmeDomains needs acmeStorage: a directory that survives restarts (a volume), for the account key and certificates",
      "acmeChallenge http-01 needs httpsRedirectListen: the plain-HTTP listener the CA reaches on port 80 (or set acmeChallenge tls-alpn-01)",
    ]);
    // httpsRedirectListen is fine with acmeDomains instead of tlsCert.
    expect(
      problemsOf({
        "--acme-domains": "a.example.com",
        "--acme-storage": dir,
        "--https-redirect-listen": "127.0.0.1:0",
      }),
    ).toEqual([]);
  });

  it("refuses a storage path that is a file, and one under a directory this user cannot write", () => {
    const file = path.join(dir, "a-file");
    writeFileSync(file, "x");
    const flags = { "--acme-domains": "a.example.com", "--acme-challenge": "tls-alpn-01" };
    expect(problemsOf({ ...flags, "--acme-storage": path.join(file, "acme") })).toEqual([
      `acmeStorage: ${JSON.stringify(file)} is not a directory`,
    ]);
    // /proc is not writable even by root.
    expect(problemsOf({ ...flags, "--acme-storage": "/proc/acme-store" })[0]).toMatch(
      /^acmeStorage: "\/proc" is not writable by this user/,
    );
  });

  it("never prints the EAB HMAC key: check-config and JSON show [REDACTED]", () => {
    const hmac = "c2VjcmV0LWhtYWMta2V5LWZvci10aGUtY2E";
    const c = loadConfig({
      env: {},
      flags: {
        "--acme-domains": "a.example.com",
        "--acme-storage": dir,
        "--acme-challenge": "tls-alpn-01",
        "--acme-eab-kid": "kid-1",
        "--acme-eab-hmac-key": hmac,
      },
    });
    expect(c.acmeEabHmacKey?.value).toBe(hmac);
    const printed = JSON.stringify(describeConfig(c));
    expect(printed).not.toContain(hmac);
    expect(printed).toContain('"acmeEabHmacKey":"[REDACTED]"');
    expect(
      problemsOf({
        "--acme-domains": "a.example.com",
        "--acme-storage": dir,
        "--acme-challenge": "tls-alpn-01",
        "--acme-eab-kid": "k",
        "--acme-eab-hmac-key": "not base64!",
      }),
    ).toEqual(["acmeEabHmacKey: must be the base64url HMAC key your CA gave you"]);
  });

  it("the CLI exits 78 with every problem", async () => {
    const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = execFile(
        process.execPath,
        ["src/cli.ts", "check-config", "--acme-domains", "a.example.com"],
        { env: { PATH: process.env.PATH ?? "" } },
        (_err, _out, stderr) => resolve({ code: child.exitCode, stderr }),
      );
    });
    expect(code).toBe(78);
    expect(stderr).toContain("acmeDomains needs acmeStorage");
    expect(stderr).toContain("acmeChallenge http-01 needs httpsRedirectListen");
  });
});

describe("compose/acme.yml", () => {
  // Compose's ${VAR}, ${VAR:-default} and ${VAR:?error}, from `vars`.
  const substitute = (text: string, vars: Record<string, string>) =>
    text.replace(/\$\{(\w+)(?::([-?])([^}]*))?\}/g, (_m, name: string, op?: string, arg?: string) => {
      const value = vars[name];
      if (value !== undefined && value !== "") return value;
      if (op === "?") throw new Error(`compose would refuse: ${arg}`);
      return op === "-" ? (arg ?? "") : "";
    });
  const load = (vars: Record<string, string>) =>
    YAML.parse(substitute(readFileSync("compose/acme.yml", "utf8"), vars)) as {
      services: Record<string, { environment: Record<string, string>; ports?: string[]; volumes?: string[] }>;
    };

  it("is a configuration the sidecar accepts: ports 80 and 443 to its redirect and TLS listeners, the storage on the volume", () => {
    const compose = load({ ACME_DOMAIN: "claw.example.com", GATEWAY_AUTH_SECRET: "x" });
    const sidecar = compose.services["openclaw-sidecar"]!;
    const env = { ...sidecar.environment };
    // The container's paths, mapped to this machine: the bind-mounted storage and the secrets.
    const root = mkdtempSync(path.join(tmpdir(), "sidecar-acme-compose-"));
    mkdirSync(path.join(root, "secrets"));
    writeFileSync(path.join(root, "secrets", "token"), "t".repeat(32));
    writeFileSync(path.join(root, "secrets", "cookie-secret"), "c".repeat(32));
    // An empty substitution is YAML null; compose passes it as "".
    for (const [k, v] of Object.entries(env))
      env[k] = String(v ?? "")
        .replace("/run/secrets/openclaw-sidecar", path.join(root, "secrets"))
        .replace("/var/lib/openclaw-sidecar/acme", path.join(root, "acme"));
    const c = loadConfig({ env });
    expect(c.acmeDomains).toEqual(["claw.example.com"]);
    expect(c.acmeDirectory).toBe("https://acme-v02.api.letsencrypt.org/directory");
    expect(c.acmeChallenge).toBe("http-01");
    expect(c.acmeEmail).toBeUndefined(); // an empty ${ACME_EMAIL:-} is no email
    expect(c.publicOrigin?.origin).toBe("https://claw.example.com");
    expect(sidecar.ports).toEqual([`443:${c.listen.port}`, `80:${c.httpsRedirectListen?.port}`]);
    expect(sidecar.volumes).toContain(`./acme:${sidecar.environment.OPENCLAW_SIDECAR_ACME_STORAGE}`);
    // The gateway's allowed origin is the sidecar's public origin.
    expect(compose.services["openclaw-gateway"]!.environment.PUBLIC_ORIGIN).toBe(c.publicOrigin?.origin);
    expect(readFileSync("compose/gateway.acme.json5", "utf8")).toContain('allowedOrigins: ["${PUBLIC_ORIGIN}"]');

    const staging = load({
      ACME_DOMAIN: "claw.example.com",
      GATEWAY_AUTH_SECRET: "x",
      ACME_DIRECTORY: "letsencrypt-staging",
      ACME_CHALLENGE: "tls-alpn-01",
    });
    expect(
      loadConfig({
        env: {
          ...env,
          OPENCLAW_SIDECAR_ACME_DIRECTORY:
            staging.services["openclaw-sidecar"]!.environment.OPENCLAW_SIDECAR_ACME_DIRECTORY!,
          OPENCLAW_SIDECAR_ACME_CHALLENGE: "tls-alpn-01",
        },
      }).acmeDirectory,
    ).toBe("https://acme-staging-v02.api.letsencrypt.org/directory");
    expect(() => load({ GATEWAY_AUTH_SECRET: "x" })).toThrow(/set ACME_DOMAIN/);
  });
});
