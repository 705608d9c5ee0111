// The link `openclaw-sidecar link` prints, for every mode (setup/public-link.ts), and the command as a real process.
// The link opened in the real Control UI through the sidecar, and the gateway's own link it replaces:
// test/gateway/link.test.ts.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/options/config.ts";
import { publicBase, publicLink } from "../../src/setup/public-link.ts";

const TOKEN = "t0ken-with/slash+plus=0123456789abcdef";
const ENCODED = encodeURIComponent(TOKEN);
const config = (flags: Record<string, string>, env: Record<string, string> = {}) => loadConfig({ env, flags });
const tokensFile = (entries: unknown[]): string => {
  const file = path.join(mkdtempSync(path.join(tmpdir(), "ocs-link-")), "tokens.json");
  writeFileSync(file, JSON.stringify(entries));
  return file;
};
const ORIGIN = { "--public-origin": "https://claw.example.com" };

describe("publicLink", () => {
  it("identity, one user, token-field login: <public>/#token=<token>, no gatewayUrl", () => {
    const r = publicLink(config({ "--mode": "identity", "--token": TOKEN, ...ORIGIN }));
    expect(r).toMatchObject({ link: `https://claw.example.com/#token=${ENCODED}` });
    expect(JSON.stringify(r)).not.toContain("gatewayUrl");
  });

  it("identity with the token-field login off: <public>/?token=<token>", () => {
    const r = publicLink(
      config({ "--mode": "identity", "--token": TOKEN, "--control-ui-token-login": "false", ...ORIGIN }),
    );
    expect(r).toMatchObject({ link: `https://claw.example.com/?token=${ENCODED}` });
  });

  it("identity, several users (tokensFile): --user picks one (?token=); none or an unknown one is refused with the list", () => {
    const file = tokensFile([
      { user: "alice", token: "a".repeat(32) },
      { user: "bob", token: "b".repeat(32) },
      { user: "ci", clientId: "ci-id", clientSecretSha256: "c".repeat(64) },
    ]);
    const c = config({ "--mode": "identity", "--tokens-file": file, ...ORIGIN });
    expect(publicLink(c, { user: "bob" })).toMatchObject({ link: `https://claw.example.com/?token=${"b".repeat(32)}` });
    expect(publicLink(c)).toEqual({ error: "several users have tokens; pick one with --user <name>: alice, bob" });
    expect(publicLink(c, { user: "carol" })).toEqual({
      error: '--user: no token user "carol"; the users are: alice, bob',
    });
    // A machine credential is no user with a link.
    expect(publicLink(c, { user: "ci" })).toMatchObject({ error: expect.stringContaining('no token user "ci"') });
  });

  it("a hashed token (tokenSha256) cannot be printed: an error that says so, and no link", () => {
    const hash = createHash("sha256").update("h".repeat(32)).digest("hex");
    const r = publicLink(config({ "--mode": "identity", "--token": `sha256:${hash}`, ...ORIGIN }));
    expect(r).toEqual({ error: expect.stringContaining('the token of "operator" is stored hashed (tokenSha256)') });
    const file = tokensFile([
      { user: "alice", token: "a".repeat(32) },
      { user: "bob", tokenSha256: hash },
    ]);
    const several = config({ "--mode": "identity", "--tokens-file": file, ...ORIGIN });
    expect(publicLink(several, { user: "bob" })).toMatchObject({ error: expect.stringContaining("cannot be printed") });
    expect(publicLink(several, { user: "alice" })).toMatchObject({ link: expect.stringContaining("?token=aaaa") });
  });

  it("local: <public>/?token=<the gateway's token> (the sidecar hands it on in the fragment)", () => {
    const r = publicLink(config({ "--mode": "local", "--token": TOKEN, "--listen": "127.0.0.1:18789" }));
    expect(r).toMatchObject({ link: `http://127.0.0.1:18789/?token=${ENCODED}` });
    expect("notes" in r && r.notes.join(" ")).toContain("hands the gateway's token to the Control UI in the fragment");
  });

  it("single sign-on (OIDC, trustAssertion): <public>/ with no token; --user still gives a token user's link", () => {
    const oidc = config(
      {
        "--mode": "identity",
        "--oidc-issuer": "https://auth.example.com",
        "--oidc-client-id": "c",
        "--oidc-allowed-domains": "example.com",
        ...ORIGIN,
      },
      { OPENCLAW_SIDECAR_OIDC_CLIENT_SECRET: "s3cret" },
    );
    expect(publicLink(oidc)).toMatchObject({
      link: "https://claw.example.com/",
      notes: [expect.stringContaining("OpenID provider")],
    });
    const assertion = config({
      "--mode": "identity",
      "--trust-assertion": "cloudflare-access",
      "--assertion-team-domain": "myteam.cloudflareaccess.com",
      "--assertion-audience": "aud-tag",
      "--token": TOKEN,
      ...ORIGIN,
    });
    expect(publicLink(assertion)).toMatchObject({ link: "https://claw.example.com/" });
    expect(publicLink(assertion, { user: "operator" })).toMatchObject({
      link: `https://claw.example.com/?token=${ENCODED}`,
    });
  });

  it("attribution: <public>/ and a sentence that the gateway does its own login and pairing; no --user", () => {
    const r = publicLink(config(ORIGIN));
    expect(r).toMatchObject({
      link: "https://claw.example.com/",
      notes: [expect.stringContaining("the gateway does its own login and pairing")],
    });
    expect(publicLink(config(ORIGIN), { user: "alice" })).toMatchObject({
      error: expect.stringContaining("attribution"),
    });
  });

  it.each([
    ["", "https://claw.example.com/#token="],
    ["/claw", "https://claw.example.com/claw/#token="],
    ["/claw/", "https://claw.example.com/claw/#token="],
    ["/a/b/", "https://claw.example.com/a/b/#token="],
    ["/", "https://claw.example.com/#token="],
  ])("publicBasePath %j: %s…", (basePath, prefix) => {
    const r = publicLink(config({ "--mode": "identity", "--token": TOKEN, "--public-base-path": basePath, ...ORIGIN }));
    expect("link" in r && r.link).toBe(`${prefix}${ENCODED}`);
  });

  it("single sign-on under publicBasePath: the dashboard's root under the prefix", () => {
    const r = publicLink(
      config({
        "--mode": "identity",
        "--public-base-path": "/claw",
        "--trust-assertion": "generic",
        "--assertion-header": "x-test-assertion",
        "--assertion-jwks-url": "https://idp.example.com/jwks",
        "--assertion-audience": "claw",
        "--assertion-issuer": "https://idp.example.com",
        ...ORIGIN,
      }),
    );
    expect(r).toMatchObject({ link: "https://claw.example.com/claw/" });
  });
});

describe("publicBase", () => {
  it.each([
    [{ "--public-origin": "https://claw.example.com:8443" }, "https://claw.example.com:8443", false],
    [{ "--listen": "0.0.0.0:18789" }, "http://localhost:18789", true],
    [{ "--listen": "[::]:80" }, "http://localhost", true],
    [{ "--listen": "192.0.2.7:8080" }, "http://192.0.2.7:8080", true],
    [{ "--listen": "[2001:db8::1]:8080" }, "http://[2001:db8::1]:8080", true],
  ])("%o → %s (a guess: %s)", (flags, origin, guess) => {
    const base = publicBase(config(flags));
    expect(base.origin).toBe(origin);
    expect(base.note !== undefined).toBe(guess);
  });

  it("0.0.0.0 is named as no address a browser can open, with the fix", () => {
    expect(publicBase(config({ "--listen": "0.0.0.0:18789" })).note).toMatch(
      /is a guess: listen is 0\.0\.0\.0:18789, which is no address a browser can open.*Set publicOrigin/,
    );
  });

  it("automatic HTTPS: https://<first acme domain>", () => {
    const c = config({
      "--listen": "0.0.0.0:443",
      "--acme-domains": "claw.example.com",
      "--acme-email": "a@example.com",
      "--acme-storage": mkdtempSync(path.join(tmpdir(), "ocs-link-acme-")),
      "--acme-challenge": "tls-alpn-01",
    });
    expect(publicBase(c).origin).toBe("https://claw.example.com");
  });
});

describe("openclaw-sidecar link (the process)", () => {
  const cli = (args: string[]) =>
    spawnSync(process.execPath, ["src/cli.ts", "link", ...args], {
      encoding: "utf8",
      env: { PATH: process.env.PATH ?? "" },
      timeout: 20_000,
    });

  it("stdout is the link alone; the notes (and why not the gateway's own link) are on stderr; exit 0", () => {
    const r = cli(["--mode", "identity", "--token", TOKEN, "--public-origin", "https://claw.example.com"]);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`https://claw.example.com/#token=${ENCODED}\n`);
    expect(r.stderr).toContain("gatewayUrl=ws://127.0.0.1");
    expect(r.stderr).not.toContain(TOKEN);
    expect(r.stderr).not.toContain(ENCODED);
  });

  it("several users without --user: exit 2, the users listed, nothing on stdout; --user picks one", () => {
    const file = tokensFile([
      { user: "alice", token: "a".repeat(32) },
      { user: "bob", token: "b".repeat(32) },
    ]);
    const base = ["--mode", "identity", "--tokens-file", file, "--listen", "0.0.0.0:18789"];
    const none = cli(base);
    expect(none.status).toBe(2);
    expect(none.stdout).toBe("");
    expect(none.stderr).toContain("pick one with --user <name>: alice, bob");
    const bob = cli([...base, "--user", "bob"]);
    expect(bob.status).toBe(0);
    expect(bob.stdout).toBe(`http://localhost:18789/?token=${"b".repeat(32)}\n`);
    expect(bob.stderr).toContain("Set publicOrigin");
  });

  it("a hashed token: exit 2 and the reason, no link", () => {
    const hash = createHash("sha256").update("h".repeat(32)).digest("hex");
    const r = cli(["--mode", "identity", "--token", `sha256:${hash}`]);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("stored hashed (tokenSha256): it cannot be printed");
  });

  it("link --help: the command, --user, and the options from the schema", () => {
    const r = cli(["--help"]);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("usage: openclaw-sidecar link");
    expect(r.stdout).toMatch(/--user +with several token users/);
    expect(r.stdout).toContain("--public-origin");
  });
});
