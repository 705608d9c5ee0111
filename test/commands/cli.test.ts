// The CLI's non-serving commands, run as a real process: print-gateway-config, print-client-config (with the pin of
// a self-signed certificate), check-config, healthcheck, help.
import { spawn, spawnSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { rootCertificates } from "node:tls";
import { describe, expect, it } from "vitest";
import { publiclyTrusted } from "../../src/setup/client-config.ts";
import { storeDir } from "../../src/tls/acme-store.ts";
import { createSelfSigned, createTestCa } from "../helpers/certs.ts";
import { startTestSidecar } from "../helpers/sidecar.ts";

const cli = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, ["src/cli.ts", ...args], {
    encoding: "utf8",
    env: { PATH: process.env.PATH ?? "", ...env },
    timeout: 20_000,
  });
const json5Body = (text: string) =>
  JSON.parse(
    text
      .split("\n")
      .filter((l) => !l.startsWith("//"))
      .join("\n"),
  ) as { gateway: Record<string, unknown> };

describe("print-gateway-config", () => {
  it("attribution: token auth, the sidecar's /32 in trustedProxies, explicit port and origins", () => {
    const r = cli([
      "print-gateway-config",
      "--mode",
      "attribution",
      "--sidecar-address",
      "10.119.0.10",
      "--upstream",
      "http://openclaw-gateway:18789",
    ]);
    expect(r.status).toBe(0);
    expect(json5Body(r.stdout).gateway).toEqual({
      bind: "lan",
      port: 18789,
      trustedProxies: ["10.119.0.10/32"],
      auth: { mode: "token", token: "<your gateway token>" },
      controlUi: { allowedOrigins: ["http://localhost:18789", "http://127.0.0.1:18789"] },
    });
  });

  it("--sidecar-address is one address: a mapped one is written as IPv4, IPv6 gets /128; a CIDR or shorthand is refused", () => {
    const proxies = (address: string) =>
      json5Body(cli(["print-gateway-config", "--mode", "attribution", "--sidecar-address", address]).stdout).gateway
        .trustedProxies;
    expect(proxies("::ffff:10.119.0.10")).toEqual(["10.119.0.10/32"]);
    expect(proxies("fd00::5")).toEqual(["fd00::5/128"]);
    for (const bad of ["10.119.0.0/24", "10.119.10", "sidecar.internal"]) {
      const r = cli(["print-gateway-config", "--mode", "attribution", "--sidecar-address", bad]);
      expect([bad, r.status, r.stdout]).toEqual([bad, 2, ""]);
      expect(r.stderr).toBe(
        `openclaw-sidecar: --sidecar-address: ${JSON.stringify(bad)} is not an IP address (the sidecar's own address as the gateway sees it, e.g. 10.119.0.10)\n`,
      );
    }
  });

  it("identity: trusted-proxy with the user header, required XFP, the configured users and deviceAutoApprove", () => {
    const r = cli(
      ["print-gateway-config", "--sidecar-address", "10.119.0.10", "--public-origin", "https://claw.example.com"],
      {
        OPENCLAW_SIDECAR_MODE: "identity",
        OPENCLAW_SIDECAR_TOKEN: "t".repeat(32),
        OPENCLAW_SIDECAR_USER: "alice@example.com",
      },
    );
    expect(r.status).toBe(0);
    const gw = json5Body(r.stdout).gateway;
    expect(gw.trustedProxies).toEqual(["10.119.0.10/32"]);
    expect(gw.auth).toMatchObject({
      mode: "trusted-proxy",
      trustedProxy: {
        userHeader: "x-forwarded-user",
        requiredHeaders: ["x-forwarded-proto"],
        allowUsers: ["alice@example.com"],
        deviceAutoApprove: { enabled: true },
      },
    });
    expect(gw.controlUi).toEqual({ allowedOrigins: ["https://claw.example.com"] });
    expect(r.stdout).not.toContain("t".repeat(32));
    expect((gw.auth as { trustedProxy: { allowLoopback?: boolean } }).trustedProxy.allowLoopback).toBeUndefined();
    expect(r.stdout).not.toContain("WARNING");
  });

  it("identity over loopback (same pod): the gateway's 127.0.0.1 in trustedProxies, and allowLoopback", () => {
    const env = { OPENCLAW_SIDECAR_MODE: "identity", OPENCLAW_SIDECAR_TOKEN: "t".repeat(32) };
    for (const upstream of ["http://127.0.0.1:18789", "http://localhost:18789", "http://[::1]:18789"]) {
      const r = cli(["print-gateway-config", "--upstream", upstream], env);
      expect(r.status, upstream).toBe(0);
      const gw = json5Body(r.stdout).gateway;
      expect(gw.trustedProxies, upstream).toEqual(["127.0.0.1/32"]);
      expect((gw.auth as { trustedProxy: { allowLoopback?: boolean } }).trustedProxy.allowLoopback, upstream).toBe(
        true,
      );
    }
  });

  it("identity for a gateway from 2026.8.1 to 2026.9.5: the block, with the update-rollback trap above it", () => {
    const env = { OPENCLAW_SIDECAR_MODE: "identity", OPENCLAW_SIDECAR_TOKEN: "t".repeat(32) };
    const old = cli(["print-gateway-config", "--sidecar-address", "10.0.0.5", "--gateway-version", "2026.9.5"], env);
    expect(old.status).toBe(0);
    expect(old.stdout).toMatch(/^\/\/ WARNING: gateway 2026\.9\.5 is older than 2026\.9\.6: .*openclaw#141046/);
    expect((json5Body(old.stdout).gateway.auth as { mode: string }).mode).toBe("trusted-proxy");
    const current = cli(
      ["print-gateway-config", "--sidecar-address", "10.0.0.5", "--gateway-version", "2026.9.6"],
      env,
    );
    expect(current.stdout).not.toContain("WARNING");
    const attribution = cli(["print-gateway-config", "--mode", "attribution", "--gateway-version", "2026.9.5"]);
    expect(attribution.stdout).not.toContain("WARNING");
  });

  it("local: loopback bind, token auth, and the warning in the header", () => {
    const r = cli(["print-gateway-config", "--mode", "local", "--token", "x".repeat(32)]);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("LOCAL MODE");
    expect(json5Body(r.stdout).gateway).toMatchObject({
      bind: "loopback",
      auth: { mode: "token" },
      controlUi: { allowedOrigins: ["http://localhost:18789", "http://127.0.0.1:18789", "http://[::1]:18789"] },
    });
  });

  it("prints what the other clients need: the pairing publicUrl, identityScopes for admins, the MCP Apps block", () => {
    const r = cli([
      "print-gateway-config",
      "--mode",
      "identity",
      "--token",
      "t".repeat(32),
      "--user",
      "alice",
      "--public-origin",
      "https://claw.example.com",
      "--apps-listen",
      "0.0.0.0:18790",
      "--apps-public-origin",
      "https://apps.claw.example.com",
    ]);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(
      'plugins: { entries: { "device-pair": { config: { publicUrl: "https://claw.example.com" } } } }',
    );
    expect(r.stdout).toContain('gateway.auth.identityScopes: { "alice": ["operator.admin"] }');
    expect(r.stdout).toContain('gateway.roles: { default: "viewer", definitions: { viewer: {');
    expect(r.stdout).toContain('openclaw gateway call users.setRole --params \'{"profileId": ');
    // A QR code alone does not get a phone past identity mode: the note says what does.
    expect(r.stdout).toContain("a QR code alone gets 401");
    expect(r.stdout).not.toContain("a setup code cannot work");
    const prefixed = cli([
      "print-gateway-config",
      "--mode",
      "attribution",
      "--public-origin",
      "https://c.example",
      "--public-base-path",
      "/claw",
    ]);
    expect(prefixed.stdout).toContain("under publicBasePath /claw a setup code cannot work");
    const attribution = cli(["print-gateway-config", "--mode", "attribution", "--public-origin", "https://c.example"]);
    expect(attribution.stdout).toContain(
      'config: { publicUrl: "https://c.example" } } } } (join links need an https:// one)\n',
    );
    expect(r.stdout).toContain(
      'mcp: { apps: { enabled: true, sandboxOrigin: "https://apps.claw.example.com", sandboxPort: 18790 } }',
    );
  });
});

describe("publicBasePath", () => {
  const address = ["--sidecar-address", "10.119.0.10"];
  it("print-gateway-config sets gateway.controlUi.basePath to it, in every mode", () => {
    for (const mode of ["attribution", "identity", "local"]) {
      const r = cli([
        "print-gateway-config",
        "--mode",
        mode,
        "--token",
        "t".repeat(32),
        ...address,
        "--public-origin",
        "https://tools.example.com",
        "--public-base-path",
        "/claw/",
      ]);
      expect(r.status, r.stderr).toBe(0);
      expect(json5Body(r.stdout).gateway.controlUi).toEqual({
        basePath: "/claw",
        allowedOrigins: ["https://tools.example.com"],
      });
    }
    const root = cli(["print-gateway-config", "--mode", "attribution", ...address]);
    expect(json5Body(root.stdout).gateway.controlUi).not.toHaveProperty("basePath");
  });

  it("refused on a release before 2026.2.21 (not measured there): a usage error naming the release", () => {
    const r = cli([
      "print-gateway-config",
      ...address,
      "--public-base-path",
      "/claw",
      "--gateway-version",
      "2026.1.29",
    ]);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("publicBasePath is not measured on gateways before 2026.2.21 (2026.1.29)");
  });

  it("check-config prints the dashboard URL and the OIDC redirect URI to register, under the prefix", () => {
    const r = cli([
      "check-config",
      "--mode",
      "identity",
      "--public-origin",
      "https://tools.example.com",
      "--public-base-path",
      "/claw",
      "--cookie-secret",
      "C".repeat(40),
      "--oidc-issuer",
      "https://login.example.com",
      "--oidc-client-id",
      "sidecar",
      "--oidc-allowed-domains",
      "example.com",
    ]);
    expect(r.status, r.stderr).toBe(0);
    const shown = JSON.parse(r.stdout) as { dashboardUrl: string; oidc: { redirectUri: string } };
    expect(shown.dashboardUrl).toBe("https://tools.example.com/claw/");
    expect(shown.oidc.redirectUri).toBe("https://tools.example.com/claw/oauth2/callback");
  });

  it("a bad value exits 78 with the rule", () => {
    for (const bad of ["claw", "/claw/../x", "/cl%61w"]) {
      const r = cli(["check-config", "--public-base-path", bad]);
      expect(r.status, bad).toBe(78);
      expect(r.stderr).toContain(`publicBasePath: ${JSON.stringify(bad)} must be a path prefix such as /claw`);
    }
  });
});

describe("print-client-config", () => {
  it("identity mode: the CLI's remote block with edgeAuth over wss://, the token from the environment", () => {
    const r = cli([
      "print-client-config",
      "--mode",
      "identity",
      "--token",
      "t".repeat(32),
      "--public-origin",
      "https://claw.example.com",
    ]);
    expect(r.status).toBe(0);
    expect(
      JSON.parse(
        r.stdout
          .split("\n")
          .filter((l) => !l.startsWith("//"))
          .join("\n"),
      ),
    ).toEqual({
      secrets: { providers: { default: { source: "env" } } },
      gateway: {
        mode: "remote",
        auth: { mode: "none" },
        remote: {
          url: "wss://claw.example.com",
          edgeAuth: { Authorization: { source: "env", provider: "default", id: "OPENCLAW_SIDECAR_BEARER" } },
        },
      },
    });
    expect(r.stdout).not.toContain("t".repeat(32));
  });

  const remoteOf = (stdout: string) =>
    (
      JSON.parse(
        stdout
          .split("\n")
          .filter((l) => !l.startsWith("//"))
          .join("\n"),
      ) as { gateway: { remote: Record<string, unknown> } }
    ).gateway.remote;
  /** The fingerprint as openssl prints it (AB:CD:…), in the form OpenClaw normalises pins to (64 lowercase hex). */
  const opensslFingerprint = (cert: string): string =>
    (
      /Fingerprint=([0-9A-F:]+)/i.exec(
        spawnSync("openssl", ["x509", "-in", cert, "-noout", "-fingerprint", "-sha256"], { encoding: "utf8" }).stdout,
      )?.[1] ?? ""
    )
      .replace(/:/g, "")
      .toLowerCase();
  const identity = ["print-client-config", "--mode", "identity", "--token", "t".repeat(32)];

  it("a self-signed tlsCert (the CLI would refuse it: self-signed certificate): gateway.remote.tlsFingerprint pins its SHA-256", () => {
    const cert = createSelfSigned("claw.example.com", "DNS:claw.example.com");
    const r = cli([
      ...identity,
      "--public-origin",
      "https://claw.example.com",
      "--tls-cert",
      cert.cert,
      "--tls-key",
      cert.key,
    ]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const fingerprint = opensslFingerprint(cert.cert);
    expect(fingerprint).toMatch(/^[0-9a-f]{64}$/);
    expect(remoteOf(r.stdout)).toMatchObject({ url: "wss://claw.example.com", tlsFingerprint: fingerprint });
    expect(r.stdout).toContain(
      `// tlsFingerprint: the SHA-256 of ${cert.cert} (self-signed; without the pin the CLI refuses it: "self-signed certificate").\n`,
    );
    expect(r.stdout).toContain("// Replace it whenever the certificate changes.\n");
  });

  it("a certificate from a private CA: its leaf is pinned", () => {
    const ca = createTestCa();
    const cert = ca.issue("claw", "DNS:claw.example.com");
    const r = cli([
      ...identity,
      "--public-origin",
      "https://claw.example.com",
      "--tls-cert",
      cert.cert,
      "--tls-key",
      cert.key,
    ]);
    expect(r.status).toBe(0);
    expect(remoteOf(r.stdout).tlsFingerprint).toBe(opensslFingerprint(cert.cert));
    expect(r.stdout).toContain("(not from a public CA;");
    expect(r.stdout).toContain("(NODE_EXTRA_CA_CERTS=<the CA's certificate>) and drop the pin");
  });

  it("TLS in front of the sidecar, or an ACME certificate not issued yet: no pin, and the comment says how to make one", () => {
    const front = cli([...identity, "--public-origin", "https://claw.example.com"]);
    expect(remoteOf(front.stdout).tlsFingerprint).toBeUndefined();
    expect(front.stdout).toContain("// TLS ends in front of the sidecar: if that certificate is self-signed, pin it");
    const storage = mkdtempSync(path.join(tmpdir(), "ocsc-acme-"));
    const acme = cli([
      ...identity,
      "--acme-domains",
      "claw.example.com",
      "--acme-email",
      "ops@example.com",
      "--acme-storage",
      storage,
      "--acme-challenge",
      "tls-alpn-01",
    ]);
    expect(acme.stderr).toBe("");
    expect(remoteOf(acme.stdout).tlsFingerprint).toBeUndefined();
    expect(acme.stdout).toContain(
      "// No certificate issued yet for claw.example.com: the sidecar serves a self-signed placeholder",
    );
  });

  it("an ACME certificate from a CA the CLI does not trust (a staging or private ACME CA): pinned, with the renewal caveat", () => {
    const storage = mkdtempSync(path.join(tmpdir(), "ocsc-acme-"));
    const cert = createSelfSigned("claw.example.com", "DNS:claw.example.com");
    const dir = storeDir(storage, "https://acme-staging-v02.api.letsencrypt.org/directory");
    mkdirSync(dir, { recursive: true });
    copyFileSync(cert.cert, path.join(dir, "cert.pem"));
    const r = cli([
      ...identity,
      "--acme-domains",
      "claw.example.com",
      "--acme-email",
      "ops@example.com",
      "--acme-storage",
      storage,
      "--acme-challenge",
      "tls-alpn-01",
      "--acme-directory",
      "letsencrypt-staging",
    ]);
    expect(r.stderr).toBe("");
    expect(remoteOf(r.stdout).tlsFingerprint).toBe(opensslFingerprint(cert.cert));
    expect(r.stdout).toContain("It changes at every renewal");
  });

  it("a certificate that chains to a root Node trusts needs no pin", () => {
    const root = new X509Certificate(rootCertificates[0] as string);
    expect(publiclyTrusted([root])).toBe(true);
    expect(publiclyTrusted([new X509Certificate(readFileSync(createSelfSigned().cert))])).toBe(false);
  });

  it("refuses what the CLI cannot do: another mode, a plain-http public origin", () => {
    const other = cli(["print-client-config", "--mode", "attribution"]);
    expect(other.status).toBe(2);
    expect(other.stderr).toContain('print-client-config is for identity mode (mode is "attribution")');
    const plain = cli([
      "print-client-config",
      "--mode",
      "identity",
      "--token",
      "t".repeat(32),
      "--public-origin",
      "http://claw.example.com",
    ]);
    expect(plain.status).toBe(2);
    expect(plain.stderr).toContain("the CLI sends edgeAuth headers only over wss://");
  });
});

describe("check-config and healthcheck", () => {
  it("check-config prints the validated config with secrets hidden", () => {
    const r = cli([
      "check-config",
      "--mode",
      "identity",
      "--token",
      "SUPER-SECRET-TOKEN",
      "--cookie-secret",
      "C".repeat(40),
      "--trusted-hops",
      "10.0.0.0/8",
    ]);
    expect(r.status).toBe(0);
    const shown = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(shown.trustedHops).toEqual(["10.0.0.0/8"]);
    expect(r.stdout).not.toContain("SUPER-SECRET-TOKEN");
    expect(r.stdout).not.toContain("C".repeat(40));
  });

  it("allowedClients: check-config shows the ranges as read; a bad entry exits 78 naming the option and the value", () => {
    const ok = cli(["check-config", "--allowed-clients", "203.0.113.0/24, ::ffff:10.0.0.0/104, 2001:db8::1"]);
    expect(ok.status).toBe(0);
    expect((JSON.parse(ok.stdout) as Record<string, unknown>).allowedClients).toEqual([
      "203.0.113.0/24",
      "10.0.0.0/8",
      "2001:db8::1/128",
    ]);
    const bad = cli(["check-config"], { OPENCLAW_SIDECAR_ALLOWED_CLIENTS: "203.0.113.0/24,10.1,::ffff:10.0.0.0/8" });
    expect(bad.status).toBe(78);
    expect(bad.stderr).toContain(
      'allowedClients: "10.1" is not an IP address or CIDR (examples: 10.0.0.5, 172.18.0.0/16, fd00::/8)',
    );
    expect(bad.stderr).toContain(
      'allowedClients: "::ffff:10.0.0.0/8" is an IPv4-mapped address with a prefix under /96: it means ::/8 (::1 included), not an IPv4 range',
    );
  });

  it("a token shorter than 16 characters is a config error: exit 78, the rule and how to make one", () => {
    const r = cli(["check-config", "--mode", "identity", "--token", "t0ken"]);
    expect(r.status).toBe(78);
    expect(r.stderr).toContain(
      "token: the token is 5 characters; a token must be at least 16 characters (a short one can be guessed): make one with `openssl rand -hex 32`",
    );
    expect(r.stderr).not.toContain("t0ken");
  });

  it("healthcheck exits 0 against a live admin listener and 1 when nothing listens", async () => {
    const sc = await startTestSidecar({ "--upstream": "http://127.0.0.1:9" });
    try {
      // Asynchronously: the sidecar answering it lives in this process's event loop.
      const code = await new Promise<number | null>((resolve) => {
        const child = spawn(
          process.execPath,
          ["src/cli.ts", "healthcheck", "--admin-listen", `127.0.0.1:${sc.sidecar.adminAddress.port}`],
          { stdio: "ignore" },
        );
        child.once("exit", resolve);
      });
      expect(code).toBe(0);
    } finally {
      await sc.close();
    }
    const down = cli(["healthcheck", "--admin-listen", "127.0.0.1:9"]);
    expect(down.status).toBe(1);
  });

  it("check-config says on stderr where each option was set, stdout stays the JSON", () => {
    const r = cli(["check-config", "--mode", "local", "--token", "t".repeat(32)], {
      OPENCLAW_SIDECAR_LISTEN: "127.0.0.1:18790",
    });
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ mode: "local" });
    expect(r.stderr).toBe(
      "check-config: set (the rest are defaults):\n" +
        `  ${"listen".padEnd(26)} OPENCLAW_SIDECAR_LISTEN\n` +
        `  ${"mode".padEnd(26)} --mode\n` +
        `  ${"token".padEnd(26)} --token\n`,
    );
    expect(r.stderr).not.toContain("t".repeat(32));
  });

  it("help and usage errors", () => {
    expect(cli(["--help"]).stdout).toMatch(/^usage: openclaw-sidecar/);
    const r = cli(["run", "--listen"]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("--listen needs a value");
  });
});

describe("print-gateway-config --gateway-version", () => {
  const address = ["--sidecar-address", "10.119.0.10"];
  it("2026.1.29 (exact-string trustedProxies): the sidecar's exact address, not a /32 that release ignores", () => {
    const r = cli(["print-gateway-config", "--mode", "attribution", ...address, "--gateway-version", "2026.1.29"]);
    expect(r.status, r.stderr).toBe(0);
    const gw = json5Body(r.stdout).gateway;
    expect(gw.trustedProxies).toEqual(["10.119.0.10"]);
    expect(gw.controlUi).toBeUndefined(); // an unknown key there: the gateway would refuse to start
    expect(gw.mode).toBe("local"); // without it, that release refuses to start
  });

  it.each(["2026.9.6", "2026.5.28"])("%s (CIDR-aware): the /32 and allowedOrigins, as without the flag", (version) => {
    const r = cli(["print-gateway-config", "--mode", "attribution", ...address, "--gateway-version", version]);
    const gw = json5Body(r.stdout).gateway;
    expect(gw.trustedProxies).toEqual(["10.119.0.10/32"]);
    expect(gw.controlUi).toEqual({ allowedOrigins: ["http://localhost:18789", "http://127.0.0.1:18789"] });
  });

  it("identity mode on a release before 2026.8.1 is refused with the reason, and a malformed version is a usage error", () => {
    const old = cli([
      "print-gateway-config",
      "--mode",
      "identity",
      "--token",
      "t".repeat(32),
      ...address,
      "--gateway-version",
      "2026.1.29",
    ]);
    expect(old.status).toBe(2);
    expect(old.stdout).toBe("");
    expect(old.stderr).toContain("identity mode needs gateway 2026.8.1 or later");
    const bad = cli(["print-gateway-config", ...address, "--gateway-version", "latest"]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('--gateway-version must be an OpenClaw release such as 2026.9.6 (got "latest")');
  });
});

describe("help from the option schema, and unknown names", () => {
  const commands =
    "commands: run, check-config, healthcheck, doctor, print-gateway-config, print-client-config, link, import-nginx, init, help";

  it("--help lists the commands and every option, grouped, with flag, env name and default", () => {
    const r = cli(["--help"]);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("  check-config           validate the configuration and print it");
    expect(r.stdout).toContain(
      "Listeners and upstream:\n  --listen                       OPENCLAW_SIDECAR_LISTEN  (default: 0.0.0.0:18789)\n      proxy address host:port; IPv6 as [::]:18789\n",
    );
    expect(r.stdout).toContain(
      "  --log-format                   OPENCLAW_SIDECAR_LOG_FORMAT  (default: pretty on a terminal, else json)\n",
    );
    expect(r.stdout).toContain("\nSingle sign-on: verified assertions:\n");
  });

  it("<command> --help: the command, its own flags and the options it reads", () => {
    const health = cli(["healthcheck", "--help"]);
    expect(health.status).toBe(0);
    expect(health.stdout).toContain("--admin-listen");
    expect(health.stdout).not.toContain("--listen ");
    const print = cli(["print-gateway-config", "--help"]).stdout;
    expect(print).toMatch(/^usage: openclaw-sidecar print-gateway-config/);
    expect(print).toContain("  --gateway-version              the gateway release");
    expect(print).toContain("  --oidc-issuer ");
  });

  it("an unknown command exits 2 with the list of commands and a suggestion when one is close", () => {
    const typo = cli(["chekc-config"]);
    expect([typo.status, typo.stdout]).toEqual([2, ""]);
    expect(typo.stderr).toBe(
      `openclaw-sidecar: unknown command "chekc-config"; did you mean check-config?\n${commands}\n`,
    );
    const far = cli(["frobnicate"]);
    expect(far.status).toBe(2);
    expect(far.stderr).toBe(`openclaw-sidecar: unknown command "frobnicate"\n${commands}\n`);
  });

  it("an unknown variable or flag exits 78 naming it; a command's own flag elsewhere and a stray argument exit 2", () => {
    const env = cli(["check-config"], { OPENCLAW_SIDECAR_MDOE: "identity" });
    expect(env.status).toBe(78);
    expect(env.stderr).toBe(
      "openclaw-sidecar: invalid configuration:\n  - OPENCLAW_SIDECAR_MDOE: unknown environment variable; did you mean OPENCLAW_SIDECAR_MODE?\n",
    );
    const flag = cli(["run", "--upstrem", "http://gw:1"]);
    expect(flag.status).toBe(78);
    expect(flag.stderr).toContain("  - unknown option --upstrem; did you mean --upstream?\n");
    const misplaced = cli(["check-config", "--gateway-version", "2026.9.6"]);
    expect(misplaced.status).toBe(2);
    expect(misplaced.stderr).toBe("openclaw-sidecar: --gateway-version is a flag of print-gateway-config\n");
    const stray = cli(["check-config", "extra"]);
    expect(stray.status).toBe(2);
    expect(stray.stderr).toBe('openclaw-sidecar: unexpected argument "extra" (check-config takes none)\n');
  });
});
