import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, envName, flagName, loadConfig } from "../../src/options/config.ts";

const problems = (fn: () => unknown): string[] => {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error("expected a ConfigError");
};
const dir = mkdtempSync(join(tmpdir(), "sidecar-config-"));
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

describe("config", () => {
  it("has working defaults", () => {
    const c = loadConfig();
    expect(c.listen).toEqual({ host: "0.0.0.0", port: 18789 });
    expect(c.upstream.href).toBe("http://openclaw-gateway:18789/");
    expect(c.adminListen).toEqual({ host: "127.0.0.1", port: 9477 });
    expect(c.mode).toBe("attribution");
    expect(c.loopbackSubstitute).toBe("192.0.2.1");
  });

  it("names options the same way in file, env and flags; flags beat env beat file", () => {
    expect(envName("adminListen")).toBe("OPENCLAW_SIDECAR_ADMIN_LISTEN");
    expect(flagName("adminListen")).toBe("--admin-listen");
    const f = file(
      "layers.json",
      JSON.stringify({ listen: "127.0.0.1:1000", upstream: "http://a:1", mode: "attribution" }),
    );
    const c = loadConfig({
      file: f,
      env: { OPENCLAW_SIDECAR_LISTEN: "127.0.0.1:2000", OPENCLAW_SIDECAR_UPSTREAM: "http://b:2" },
      flags: { "--listen": "[::]:3000" },
    });
    expect(c.listen).toEqual({ host: "::", port: 3000 });
    expect(c.upstream.host).toBe("b:2");
  });

  it("reads the config file path from OPENCLAW_SIDECAR_CONFIG", () => {
    const f = file("env.json", JSON.stringify({ trustedHops: ["10.0.0.0/8", "fd00::/8"] }));
    expect(loadConfig({ env: { OPENCLAW_SIDECAR_CONFIG: f } }).trustedHops).toHaveLength(2);
  });

  it("reports every problem at once, each naming the option, the value and the rule", () => {
    expect(
      problems(() =>
        loadConfig({
          env: {
            OPENCLAW_SIDECAR_LISTEN: "0.0.0.0",
            OPENCLAW_SIDECAR_UPSTREAM: "openclaw-gateway:18789",
            OPENCLAW_SIDECAR_TRUSTED_HOPS: "10.0.0.0/8,10.0.0.300/32",
            OPENCLAW_SIDECAR_MODE: "trusting",
            OPENCLAW_SIDECAR_UPGRADE_TIMEOUT_MS: "-5",
            OPENCLAW_SIDECAR_LOOPBACK_SUBSTITUTE: "127.0.0.2",
            OPENCLAW_SIDECAR_HSTS: "maybe",
          },
        }),
      ),
    ).toEqual([
      'mode: "trusting" must be one of attribution, identity, local',
      'listen: "0.0.0.0" is not host:port (IPv6 as [::]:18789; port 0-65535)',
      'upstream: "openclaw-gateway:18789" must use http: or https:',
      'trustedHops: "10.0.0.300/32" is not an IP address or CIDR (examples: 10.0.0.5, 172.18.0.0/16, fd00::/8)',
      'loopbackSubstitute: "127.0.0.2" is loopback; the gateway refuses a loopback X-Forwarded-For',
      'upgradeTimeoutMs: "-5" must be an integer from 1 to 600000',
      'hsts: "maybe" must be true or false',
    ]);
  });

  it.each([
    [
      { "--upstream": "http://gw:18789/path" },
      'upstream: "http://gw:18789/path" must be scheme://host:port only (no path, query or credentials)',
    ],
    [{ "--upstream": "not a url" }, 'upstream: "not a url" is not a URL (example: http://openclaw-gateway:18789)'],
    [{ "--listen": "[zz::1]:80" }, 'listen: "zz::1" is not an IPv6 address'],
    [{ "--listen": "0.0.0.0:70000" }, 'listen: "0.0.0.0:70000" is not host:port (IPv6 as [::]:18789; port 0-65535)'],
    [{ "--bogus": "1" }, "unknown option --bogus"],
    [
      { "--mode": "identity" },
      'mode "identity" needs credentials: set token (or tokenFile) or tokensFile, or single sign-on (oidcIssuer, trustAssertion)',
    ],
    [{ "--tls-cert": "/nonexistent/cert.pem" }, 'tlsCert: cannot read "/nonexistent/cert.pem" (ENOENT)'],
    [{ "--cookie-secret": "short" }, "cookieSecret: each secret must be at least 32 characters"],
    [
      { "--public-origin": "http://x.example/path" },
      'publicOrigin: "http://x.example/path" must be an origin: scheme://host[:port], nothing else',
    ],
    [{ "--identity-header": "x user" }, 'identityHeader: "x user" is not a valid HTTP header name'],
  ])("rejects %j", (flags, message) => {
    expect(problems(() => loadConfig({ flags }))).toContain(message);
  });

  it("heldUpgradeTimeoutMs: 10 s by default, from env or flag; a bad value is refused with the option, the value and the rule", () => {
    expect(loadConfig().heldUpgradeTimeoutMs).toBe(10_000);
    expect(envName("heldUpgradeTimeoutMs")).toBe("OPENCLAW_SIDECAR_HELD_UPGRADE_TIMEOUT_MS");
    expect(flagName("heldUpgradeTimeoutMs")).toBe("--held-upgrade-timeout-ms");
    expect(loadConfig({ env: { OPENCLAW_SIDECAR_HELD_UPGRADE_TIMEOUT_MS: "2500" } }).heldUpgradeTimeoutMs).toBe(2500);
    expect(loadConfig({ flags: { "--held-upgrade-timeout-ms": "250" } }).heldUpgradeTimeoutMs).toBe(250);
    for (const bad of ["0", "-5", "1.5", "soon", "600001"]) {
      expect(problems(() => loadConfig({ flags: { "--held-upgrade-timeout-ms": bad } }))).toEqual([
        `heldUpgradeTimeoutMs: ${JSON.stringify(bad)} must be an integer from 1 to 600000`,
      ]);
    }
  });

  // Client addresses are matched in IPv4 form when they are IPv4-mapped, so a CIDR must mean the same addresses.
  // allowedClients is read by the same parser, so every entry means, and every refusal says, the same for both.
  describe.each(["trustedHops", "allowedClients"] as const)("%s", (option) => {
    const flag = flagName(option);
    const named = (message: string) => message.replace(/^trustedHops:/, `${option}:`);
    it.each([
      ["10.0.0.5", "10.0.0.5/32"],
      ["172.18.0.0/16", "172.18.0.0/16"],
      ["fd00::/8", "fd00::/8"],
      ["2001:db8::7", "2001:db8::7/128"],
      ["0.0.0.0/0", "0.0.0.0/0"],
      ["::ffff:10.0.0.0/104", "10.0.0.0/8"],
      ["::ffff:10.1.2.3", "10.1.2.3/32"],
      ["::ffff:10.1.2.3/128", "10.1.2.3/32"],
      ["::ffff:0:0/96", "0.0.0.0/0"],
      ["::ffff:127.0.0.0/104", "127.0.0.0/8"],
    ])("%s is read as %s", (entry, meant) => {
      const [range, bits] = loadConfig({ flags: { [flag]: entry } })[option][0]!;
      expect(`${range.toString()}/${bits}`).toBe(meant);
    });

    it.each([
      [
        "::ffff:10.0.0.0/8",
        'trustedHops: "::ffff:10.0.0.0/8" is an IPv4-mapped address with a prefix under /96: it means ::/8 (::1 included), not an IPv4 range; write the IPv4 range "10.0.0.0/8" (or its mapped form "::ffff:10.0.0.0/104")',
      ],
      [
        "::ffff:192.168.1.0/24",
        'trustedHops: "::ffff:192.168.1.0/24" is an IPv4-mapped address with a prefix under /96: it means ::/24 (::1 included), not an IPv4 range; write the IPv4 range "192.168.1.0/24" (or its mapped form "::ffff:192.168.1.0/120")',
      ],
      [
        "::ffff:10.0.0.0/88",
        'trustedHops: "::ffff:10.0.0.0/88" is an IPv4-mapped address with a prefix under /96: it means ::ff00:0:0/88, not an IPv4 range; write the IPv4 form ("10.0.0.0" for the one address, a prefix up to /32 for a range) or a mapped prefix from /96 to /128',
      ],
      [
        "::ffff:10.0.0.1/104",
        'trustedHops: "::ffff:10.0.0.1/104" has bits set past its /104 prefix; write "10.0.0.0/8" for the range, or "10.0.0.1" for the one address',
      ],
      [
        "10.0.0.1/8",
        'trustedHops: "10.0.0.1/8" has bits set past its /8 prefix; write "10.0.0.0/8" for the range, or "10.0.0.1" for the one address',
      ],
      [
        "fd00::1/8",
        'trustedHops: "fd00::1/8" has bits set past its /8 prefix; write "fd00::/8" for the range, or "fd00::1" for the one address',
      ],
      [
        "10.0.0.0/33",
        'trustedHops: "10.0.0.0/33" is not an IP address or CIDR (examples: 10.0.0.5, 172.18.0.0/16, fd00::/8)',
      ],
      [
        "fd00::/129",
        'trustedHops: "fd00::/129" is not an IP address or CIDR (examples: 10.0.0.5, 172.18.0.0/16, fd00::/8)',
      ],
      [
        "::ffff:10.0.0.0/129",
        'trustedHops: "::ffff:10.0.0.0/129" is not an IP address or CIDR (examples: 10.0.0.5, 172.18.0.0/16, fd00::/8)',
      ],
      [
        "10.0.0.0/-1",
        'trustedHops: "10.0.0.0/-1" is not an IP address or CIDR (examples: 10.0.0.5, 172.18.0.0/16, fd00::/8)',
      ],
      [
        "10.0.0.0/",
        'trustedHops: "10.0.0.0/" is not an IP address or CIDR (examples: 10.0.0.5, 172.18.0.0/16, fd00::/8)',
      ],
      ["10.1", 'trustedHops: "10.1" is not an IP address or CIDR (examples: 10.0.0.5, 172.18.0.0/16, fd00::/8)'],
      ["0x7f.1", 'trustedHops: "0x7f.1" is not an IP address or CIDR (examples: 10.0.0.5, 172.18.0.0/16, fd00::/8)'],
      [
        "10.0.0/8",
        'trustedHops: "10.0.0/8" is not an IP address or CIDR (examples: 10.0.0.5, 172.18.0.0/16, fd00::/8)',
      ],
      [
        "fe80::1%eth0",
        'trustedHops: "fe80::1%eth0" has a zone (%eth0), which is not matched (client addresses are compared without one); write "fe80::1"',
      ],
    ])("%s is refused", (entry, message) => {
      expect(problems(() => loadConfig({ flags: { [flag]: entry } }))).toEqual([named(message)]);
    });

    it("every bad entry is reported, beside the good ones", () => {
      expect(
        problems(() => loadConfig({ env: { [envName(option)]: "10.0.0.0/8, ::ffff:10.0.0.0/8, 10.0.0.1/8" } })),
      ).toEqual(
        [
          'trustedHops: "::ffff:10.0.0.0/8" is an IPv4-mapped address with a prefix under /96: it means ::/8 (::1 included), not an IPv4 range; write the IPv4 range "10.0.0.0/8" (or its mapped form "::ffff:10.0.0.0/104")',
          'trustedHops: "10.0.0.1/8" has bits set past its /8 prefix; write "10.0.0.0/8" for the range, or "10.0.0.1" for the one address',
        ].map(named),
      );
    });
  });

  it("allowedClients: empty by default (everyone); a config-file list is read like the others", () => {
    expect(loadConfig().allowedClients).toEqual([]);
    const f = file("allowed.json", JSON.stringify({ allowedClients: ["203.0.113.0/24", "2001:db8::1"] }));
    expect(loadConfig({ file: f }).allowedClients.map(([a, b]) => `${a.toString()}/${b}`)).toEqual([
      "203.0.113.0/24",
      "2001:db8::1/128",
    ]);
  });

  it("needs both halves of a TLS key pair", () => {
    const cert = file("cert.pem", "x");
    expect(problems(() => loadConfig({ flags: { "--tls-cert": cert } }))).toEqual([
      "tlsCert and tlsKey: set both or neither",
    ]);
  });

  it("rejects unreadable, non-JSON and unknown-key config files", () => {
    expect(problems(() => loadConfig({ file: join(dir, "missing.json") }))).toEqual([
      `config file ${join(dir, "missing.json")}: cannot read it (ENOENT)`,
    ]);
    expect(problems(() => loadConfig({ file: file("bad.json", "{listen:") }))[0]).toMatch(
      /^config file .*bad\.json: not valid JSON/,
    );
    expect(problems(() => loadConfig({ file: file("arr.json", "[]") }))[0]).toMatch(/must contain a JSON object$/);
    expect(problems(() => loadConfig({ file: file("unk.json", '{"listn":"x"}') }))).toEqual([
      `config file ${join(dir, "unk.json")}: unknown key "listn"; did you mean "listen"?`,
    ]);
  });

  it("loads credentials from a token, a token file and a tokens file", () => {
    const tokenFile = file("token", "s3cret-token-0123456789\n");
    const tokens = file(
      "tokens.json",
      JSON.stringify([
        { user: "alice", token: "alice-token-0123456789", scopes: ["operator.read"] },
        { user: "bob", tokenSha256: "sha256:" + "ab".repeat(32) },
      ]),
    );
    const c = loadConfig({
      flags: { "--mode": "identity", "--token-file": tokenFile, "--tokens-file": tokens, "--user": "owner" },
    });
    expect(c.credentials).toEqual([
      { user: "owner", token: "s3cret-token-0123456789" },
      { user: "alice", token: "alice-token-0123456789", scopes: ["operator.read"] },
      { user: "bob", tokenSha256: "ab".repeat(32) },
    ]);
    expect(problems(() => loadConfig({ flags: { "--token": "x", "--token-file": tokenFile } }))).toContain(
      "token and tokenFile: set one, not both",
    );
    const bad = file("bad-tokens.json", JSON.stringify([{ user: "x", token: "a", tokenSha256: "b" }]));
    expect(problems(() => loadConfig({ flags: { "--tokens-file": bad } }))).toEqual([
      'tokensFile: entry 0: set exactly one of "token" or "tokenSha256"',
    ]);
  });

  it("refuses a plaintext token shorter than 16 characters, wherever it is set; a tokenSha256 cannot be checked", () => {
    const how =
      "a token must be at least 16 characters (a short one can be guessed): make one with `openssl rand -hex 32`";
    for (const mode of ["identity", "local"]) {
      expect(problems(() => loadConfig({ flags: { "--mode": mode, "--token": "t0ken" } }))).toEqual([
        `token: the token is 5 characters; ${how}`,
      ]);
    }
    expect(
      problems(() => loadConfig({ flags: { "--mode": "identity", "--token-file": file("short-token", "secret\n") } })),
    ).toEqual([`tokenFile: the token is 6 characters; ${how}`]);
    const short = file(
      "short-tokens.json",
      JSON.stringify([
        { user: "alice", token: "alice-token-0123456789" },
        { user: "bob", token: "fifteen-chars-x" },
      ]),
    );
    expect(problems(() => loadConfig({ flags: { "--mode": "identity", "--tokens-file": short } }))).toContain(
      `tokensFile: entry 1 (user "bob"): the token is 15 characters; ${how}`,
    );
    // Exactly 16 passes; so do digests, whatever secret they were made from.
    expect(loadConfig({ flags: { "--mode": "identity", "--token": "sixteen-chars-xx" } }).credentials).toEqual([
      { user: "operator", token: "sixteen-chars-xx" },
    ]);
    expect(loadConfig({ flags: { "--mode": "identity", "--token": `sha256:${"ab".repeat(32)}` } }).credentials).toEqual(
      [{ user: "operator", tokenSha256: "ab".repeat(32) }],
    );
  });
});

describe("unknown names", () => {
  it("an unknown OPENCLAW_SIDECAR_* variable is a problem, with a suggestion when one is close", () => {
    expect(
      problems(() =>
        loadConfig({
          env: { OPENCLAW_SIDECAR_MDOE: "identity", OPENCLAW_SIDECAR_FROBNICATE: "1", OPENCLAW_GATEWAY_TOKEN: "x" },
        }),
      ),
    ).toEqual([
      "OPENCLAW_SIDECAR_FROBNICATE: unknown environment variable",
      "OPENCLAW_SIDECAR_MDOE: unknown environment variable; did you mean OPENCLAW_SIDECAR_MODE?",
    ]);
  });

  it("the variables that are not options are accepted: the config file, the compose files' and the CLI's", () => {
    const f = file("other.json", "{}");
    expect(
      loadConfig({
        env: {
          OPENCLAW_SIDECAR_CONFIG: f,
          OPENCLAW_SIDECAR_IMAGE: "openclaw-sidecar:local",
          OPENCLAW_SIDECAR_PORT: "18789",
          OPENCLAW_SIDECAR_BEARER: "Bearer x",
          OPENCLAW_SIDECAR_TOKEN_FILE: "",
        },
      }).mode,
    ).toBe("attribution");
  });

  it("an unknown flag or config-file key names it, with a suggestion when one is close", () => {
    expect(problems(() => loadConfig({ flags: { "--lisen": "1:2", "--bogus": "1" } }))).toEqual([
      "unknown option --lisen; did you mean --listen?",
      "unknown option --bogus",
    ]);
    expect(problems(() => loadConfig({ file: file("typo.json", '{"upstreamTimeoutMS":1,"zzz":2}') }))).toEqual([
      `config file ${join(dir, "typo.json")}: unknown key "upstreamTimeoutMS"; did you mean "upstreamTimeoutMs"?`,
      `config file ${join(dir, "typo.json")}: unknown key "zzz"`,
    ]);
  });
});
